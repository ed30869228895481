/**
 * A `keelmq` server command (namesrv, broker, dev) as a child process of the built CLI, read up
 * to its `ready …` line: for the CLI tests and for the client suites run against `keelmq dev`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

export const KEELMQ_MAIN = path.resolve(__dirname, '../../lib/cli/main.js');

export interface Server { child: ChildProcess; ready: RegExpExecArray; output(): string; exited: Promise<number | null> }

/** Starts `keelmq ARGS` in `cwd`; resolves once it printed its `ready ...` line. */
export async function startServer(cwd: string, args: string[], nodeArgs: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [...nodeArgs, KEELMQ_MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`keelmq ${args[0]!} not ready within 15 s: ${out}`));
    }, 15_000);
    const check = (c: Buffer) => {
      out += c.toString();
      const m = /^ready (.*)$/m.exec(out);
      if (m) { clearTimeout(timer); resolve(m); }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`keelmq ${args[0]!} exited with ${code}: ${out}`)); });
  });
  return { child, ready, output: () => out, exited };
}

/** SIGKILL for a server still running (a test's cleanup after a failure). */
export function stopped(s: Server | undefined): void {
  if (s && s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
}

export interface Dev extends Server { namesrv: string; broker: string }

/** `keelmq dev` on OS-chosen ports, data in `dataDir`, with `more` flags. */
export async function startDev(cwd: string, dataDir: string, more: string[] = []): Promise<Dev> {
  const s = await startServer(cwd, ['dev', '--port', '0', '--namesrv-port', '0', '--dir', dataDir, ...more]);
  const m = /^namesrv=(\S+) broker=(\S+)$/.exec(s.ready[1]!);
  if (!m) {
    stopped(s);
    throw new Error(`unexpected ready line ${s.ready[0]}`);
  }
  return { ...s, namesrv: m[1]!, broker: m[2]! };
}
