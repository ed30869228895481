import * as net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../lib/remoting/frame-codec';
import { Logger } from '../../lib/remoting/logger';
import { RemotingCommand } from '../../lib/remoting/remoting-command';
import { parseAddress } from '../../lib/remoting/remoting-channel';

/** A logger that keeps its lines for assertions. */
export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  info(m: string): void { this.lines.push(`info ${m}`); }
  warn(m: string): void { this.lines.push(`warn ${m}`); }
}

/** A bare TCP peer that sends raw bytes and collects the frames it receives. */
export class RawPeer {
  readonly received: RemotingCommand[] = [];
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (b: Buffer) => {
      this.received.push(...this.decoder.push(b));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static connect(addr: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(parseAddress(addr));
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new RawPeer(s)); });
    });
  }

  send(cmd: RemotingCommand): void { this.socket.write(encodeFrame(cmd)); }
  write(bytes: Buffer): void { this.socket.write(bytes); }

  /** Resolves once `n` frames have arrived, or rejects after `ms`. */
  async waitFor(n: number, ms = 2000): Promise<RemotingCommand[]> {
    const deadline = Date.now() + ms;
    while (this.received.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} frames, got ${this.received.length}`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.received;
  }

  destroy(): Promise<void> { this.socket.destroy(); return this.closed; }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 5 ms until it holds or `ms` passes. */
export async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
