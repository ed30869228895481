import { parseArgs } from 'node:util';

/** Bad usage of the command line: reported with a pointer to --help, exit status 2. */
export class UsageError extends Error {}

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>;

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * node:util parseArgs in strict mode (unknown options, missing values and
 * `--dir --other` where a value belongs are errors), with its errors turned
 * into UsageErrors. `-h`/`--help` is known to every command.
 */
export function parseCommandArgs(args: string[], options: OptionSpec, positionals: { min: number; max: number; what: string }): ParsedArgs {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (e) {
    // parseArgs messages name the option and say what is wrong; its codes are ERR_PARSE_ARGS_*.
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((e as Error).message);
    throw e;
  }
  if (parsed.values['help']) return parsed;
  const n = parsed.positionals.length;
  if (n < positionals.min) throw new UsageError(`expected ${positionals.what}`);
  if (n > positionals.max) throw new UsageError(`unexpected argument ${parsed.positionals[positionals.max]!}`);
  return parsed;
}

/** A positive integer option, or `dflt` when absent. */
export function intOption(values: ParsedArgs['values'], name: string, dflt: number): number {
  const v = values[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** A TCP port option (0: the OS chooses), or `dflt` when absent. */
export function portOption(values: ParsedArgs['values'], name: string, dflt: number): number {
  const v = values[name];
  if (v === undefined) return dflt;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d{1,5}$/.test(v) || n > 65535) throw new UsageError(`--${name} must be a port number 0..65535 (0: any free port), got ${JSON.stringify(v)}`);
  return n;
}

/** A string option, or undefined when absent. */
export function stringOption(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
