import { KeelError } from './errors';

/**
 * The one validator of option objects (store, broker, consumers): unknown
 * names, wrong types and out-of-range values are OPTION_INVALID before
 * anything is opened or written. A rule returns what it expects when a value
 * does not pass, null when it does.
 */
export type OptionRule = (v: unknown) => string | null;

/** Every option of T has a rule, so an option added to the interface without one fails to compile. */
export type OptionRules<T> = { readonly [K in keyof T]-?: OptionRule };

/** Node's timers take at most 2^31 - 1 ms; beyond, they fire after 1 ms (a busy loop, not a long wait). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const integer = (min: number, max = Number.MAX_SAFE_INTEGER): OptionRule => (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
    ? null : max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`;

/** A delay handed to a timer. */
export const timerMs = (min = 1): OptionRule => integer(min, MAX_TIMER_MS);

export const boolean: OptionRule = (v) => (typeof v === 'boolean' ? null : 'true or false');

export const string: OptionRule = (v) => (typeof v === 'string' ? null : 'a string');

export const oneOf = (...values: readonly string[]): OptionRule => (v) =>
  typeof v === 'string' && values.includes(v) ? null : `one of ${values.join(', ')}`;

export const fn: OptionRule = (v) => (typeof v === 'function' ? null : 'a function');

/** An object with these methods (an injected FileIO, Clock...). */
export const implementing = (...methods: readonly string[]): OptionRule => (v) =>
  typeof v === 'object' && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function')
    ? null : `an object with ${methods.join(', ')}()`;

/** A point in time in ms since the epoch (a Date's getTime()). */
export const epochMs: OptionRule = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'a finite number of ms since the epoch');

/**
 * The options `given` sets, checked against `rules`; `undefined` values are
 * left out (they mean "the default"). `what` names the object in messages.
 */
export function checkOptions<T>(what: string, given: unknown, rules: OptionRules<T>): Partial<T> {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new KeelError('OPTION_INVALID', `${what} options must be an object, got ${describe(given)}`);
  }
  const known = Object.keys(rules);
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(given)) {
    if (!Object.prototype.hasOwnProperty.call(rules, name)) {
      const near = known.find((k) => k.toLowerCase() === name.toLowerCase());
      throw new KeelError('OPTION_INVALID', `unknown ${what} option ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (v === undefined) continue;
    const expected = (rules as Record<string, OptionRule>)[name](v);
    if (expected !== null) throw new KeelError('OPTION_INVALID', `${what} option ${name} must be ${expected}, got ${describe(v)}`);
    out[name] = v;
  }
  return out as Partial<T>;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}
