/**
 * One remoting connection, either side (`NettyRemotingAbstract`): it sends requests and matches
 * their responses by opaque, and it hands incoming requests to processors and writes their replies.
 *
 * Protection of the process against the peer:
 * - a malformed or oversized frame closes this connection with a log line, nothing else;
 * - reading pauses while the socket's unsent bytes exceed `highWaterBytes` (a peer that does not
 *   read its replies stops being read, and TCP pushes back on it) or while `maxInFlightRequests`
 *   of its requests are being processed, and resumes when both fall back;
 * - a connection with no traffic either way for `idleTimeoutMs` is closed (Java: 120 s both sides).
 */
import * as net from 'node:net';
import { Clock, TimerHandle } from '../common/clock';
import { isKeelError, KeelError } from '../common/errors';
import { encodeFrame, FrameDecoder } from './frame-codec';
import { Logger } from './logger';
import { FLAG_ONEWAY, FLAG_RESPONSE, RemotingCommand } from './remoting-command';
import { ResponseCode } from './response-code';

/**
 * Answers one request. Returning nothing sends nothing (the Java name server does this for codes it
 * does not know); a promise may stay pending as long as the processor likes (long polling).
 * A thrown error becomes SYSTEM_ERROR with the error's message, as in Java.
 */
export type RequestProcessor = (request: RemotingCommand, channel: RemotingChannel) =>
  RemotingCommand | null | undefined | void | Promise<RemotingCommand | null | undefined | void>;

export interface ChannelOptions {
  logger: Logger;
  clock: Clock;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  highWaterBytes: number;
  maxInFlightRequests: number;
  processorFor(code: number): RequestProcessor;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
export const DEFAULT_HIGH_WATER_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT_REQUESTS = 4096;
/** Frames up to this size are copied together into one write per turn; larger ones are written as they are. */
const COPY_MAX_BYTES = 16 * 1024;

interface Pending {
  resolve(c: RemotingCommand): void;
  reject(e: Error): void;
  /** clock.now() after which it fails with REMOTING_TIMEOUT. */
  deadline: number;
  timeoutMs: number;
  code: number;
}

let nextChannelId = 1;

export class RemotingChannel {
  readonly id = nextChannelId++;
  /** "ip:port" of the peer, as Java's `RemotingHelper.parseChannelRemoteAddr`. */
  readonly remoteAddress: string;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  /**
   * One timer for all pending requests, due at the earliest deadline (RocketMQ scans its response
   * table instead of a timer per request): a timer per request was a large part of a send's cost.
   */
  private sweepTimer: TimerHandle | null = null;
  private sweepAt = Infinity;
  private readonly closeListeners: ((ch: RemotingChannel) => void)[] = [];
  private nextOpaque = 0;
  private inFlight = 0;
  private paused = false;
  private isClosed = false;
  /** Frames of this event-loop turn not yet given to the socket, their bytes, and their callbacks (see send). */
  private outFrames: Buffer[] = [];
  private outBytes = 0;
  private outCallbacks: ((e?: Error | null) => void)[] = [];

  constructor(private readonly socket: net.Socket, private readonly options: ChannelOptions) {
    this.remoteAddress = formatAddress(socket.remoteAddress, socket.remotePort);
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs, () => this.close(`idle for ${options.idleTimeoutMs} ms`));
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.updateFlow());
    // Resets and the like are routine for a server; the close handler cleans up.
    socket.on('error', (e) => this.options.logger.info(`remoting: connection ${this.remoteAddress}: ${e.message}`));
    socket.on('close', () => this.onClosed());
  }

  get closed(): boolean { return this.isClosed; }

  onClose(listener: (ch: RemotingChannel) => void): void {
    if (this.isClosed) queueMicrotask(() => listener(this));
    else this.closeListeners.push(listener);
  }

  /** Sends a request and waits for its response; rejects REMOTING_TIMEOUT or REMOTING_CONNECTION_CLOSED. */
  invoke(request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    if (this.isClosed) return Promise.reject(closedError(this.remoteAddress));
    const opaque = this.takeOpaque();
    request.opaque = opaque;
    request.flag &= ~FLAG_ONEWAY;
    let frame: Buffer;
    try {
      frame = encodeFrame(request);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<RemotingCommand>((resolve, reject) => {
      const deadline = this.options.clock.now() + timeoutMs;
      this.pending.set(opaque, { resolve, reject, deadline, timeoutMs, code: request.code });
      if (deadline < this.sweepAt) this.armSweep(deadline);
      this.send(frame);
    });
  }

  /** Sends a request marked oneway; the peer never answers it. Resolves once the bytes are handed to the OS. */
  oneway(request: RemotingCommand): Promise<void> {
    if (this.isClosed) return Promise.reject(closedError(this.remoteAddress));
    request.opaque = this.takeOpaque();
    request.flag |= FLAG_ONEWAY;
    return new Promise<void>((resolve, reject) => {
      this.send(encodeFrame(request), (e) => (e ? reject(closedError(this.remoteAddress, e)) : resolve()));
    });
  }

  close(reason?: string): void {
    if (this.isClosed) return;
    if (reason) this.options.logger.info(`remoting: closing ${this.remoteAddress}: ${reason}`);
    this.socket.destroy();
  }

  private armSweep(at: number): void {
    this.sweepTimer?.cancel();
    this.sweepAt = at;
    this.sweepTimer = this.options.clock.setTimeout(() => this.sweep(), Math.max(0, at - this.options.clock.now()));
  }

  /** Fails the requests past their deadline and waits for the next deadline, if any. */
  private sweep(): void {
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    const now = this.options.clock.now();
    let next = Infinity;
    for (const [opaque, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(opaque);
        p.reject(new KeelError('REMOTING_TIMEOUT', `no response from ${this.remoteAddress} within ${p.timeoutMs} ms (code ${p.code}, opaque ${opaque})`));
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    if (next !== Infinity && !this.isClosed) this.armSweep(next);
  }

  private takeOpaque(): number {
    const o = this.nextOpaque;
    this.nextOpaque = (o + 1) | 0;
    return o;
  }

  /**
   * Queues a frame; the frames of one event-loop turn leave together (flushOut). `done` is called
   * once the socket has taken the bytes, or with an error when it cannot.
   */
  private send(frame: Buffer, done?: (e?: Error | null) => void): void {
    if (this.isClosed) return;
    if (this.outFrames.length === 0) process.nextTick(this.flushOut);
    this.outFrames.push(frame);
    this.outBytes += frame.length;
    if (done) this.outCallbacks.push(done);
    this.updateFlow();
  }

  /**
   * Small frames of one turn are copied into one buffer and written once: a stream chunk per frame
   * (its bookkeeping, its iovec) cost more than the copy, and a syscall per frame more than
   * everything else on the path. A large frame (a pull reply, a batch) is written as it is, not
   * copied; the writes of a turn still leave in one writev (cork).
   */
  private readonly flushOut = (): void => {
    const frames = this.outFrames;
    const callbacks = this.outCallbacks;
    this.outFrames = [];
    this.outCallbacks = [];
    this.outBytes = 0;
    const done = callbacks.length === 0 ? undefined : (e?: Error | null) => { for (const cb of callbacks) cb(e); };
    if (this.isClosed) {
      done?.(closedError(this.remoteAddress));
      return;
    }
    this.socket.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const last = i === frames.length - 1;
      const small = f.length < COPY_MAX_BYTES;
      if (small) {
        run.push(f);
        runBytes += f.length;
      }
      // Callbacks go with the last write: writes complete in order.
      if (run.length > 0 && (last || !small)) {
        this.socket.write(run.length === 1 ? run[0]! : Buffer.concat(run, runBytes), last && small ? done : undefined);
        run = [];
        runBytes = 0;
      }
      if (!small) this.socket.write(f, last ? done : undefined);
    }
    this.socket.uncork();
  };

  private onData(chunk: Buffer): void {
    this.decoder.append(chunk);
    this.pump();
  }

  /** Handles buffered frames until none is left or reading is paused (the rest waits for resume). */
  private pump(): void {
    while (!this.paused && !this.isClosed) {
      let cmd: RemotingCommand | undefined;
      try {
        cmd = this.decoder.next();
      } catch (e) {
        this.options.logger.warn(`remoting: closing ${this.remoteAddress}: ${(e as Error).message}`);
        this.socket.destroy();
        return;
      }
      if (!cmd) return;
      if (cmd.isResponse) this.onResponse(cmd);
      else this.onRequest(cmd);
    }
  }

  private onResponse(cmd: RemotingCommand): void {
    const p = this.pending.get(cmd.opaque);
    // A response nobody waits for any more (timed out) is dropped, as Java does.
    if (!p) return;
    this.pending.delete(cmd.opaque);
    p.resolve(cmd);
  }

  private onRequest(cmd: RemotingCommand): void {
    this.inFlight++;
    this.updateFlow();
    let result: ReturnType<RequestProcessor>;
    try {
      result = this.options.processorFor(cmd.code)(cmd, this);
    } catch (e) {
      this.finishRequest(cmd, undefined, e);
      return;
    }
    if (result instanceof Promise) result.then((r) => this.finishRequest(cmd, r, undefined), (e) => this.finishRequest(cmd, undefined, e));
    else this.finishRequest(cmd, result, undefined);
  }

  private finishRequest(request: RemotingCommand, response: RemotingCommand | null | undefined | void, error: unknown): void {
    this.inFlight--;
    if (error !== undefined) {
      // A header the peer got wrong is the peer's problem; anything else is ours and worth a warning.
      const line = `remoting: processor for code ${request.code} from ${this.remoteAddress} failed: ${(error as Error)?.message ?? String(error)}`;
      if (isKeelError(error, 'REMOTING_REQUEST_INVALID')) this.options.logger.info(line);
      else this.options.logger.warn(line);
      response = RemotingCommand.response(ResponseCode.SYSTEM_ERROR, String((error as Error)?.message ?? error));
    }
    // A oneway request is never answered, not even with an error.
    if (response && !request.isOneway) {
      response.opaque = request.opaque;
      response.flag |= FLAG_RESPONSE;
      let frame: Buffer;
      try {
        frame = encodeFrame(response);
      } catch (e) {
        // A response that cannot be framed (a header over 16 MiB) still answers the request.
        this.options.logger.warn(`remoting: cannot encode the response to code ${request.code}: ${(e as Error).message}`);
        const error = RemotingCommand.response(ResponseCode.SYSTEM_ERROR, (e as Error).message);
        error.opaque = request.opaque;
        frame = encodeFrame(error);
      }
      this.send(frame);
    }
    this.updateFlow();
  }

  private updateFlow(): void {
    if (this.isClosed) return;
    const backlog = this.socket.writableLength + this.outBytes > this.options.highWaterBytes;
    const busy = this.inFlight >= this.options.maxInFlightRequests;
    if ((backlog || busy) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!backlog && !busy && this.paused) {
      this.paused = false;
      this.socket.resume();
      // Not from inside a request's own handling: let the current call stack unwind first.
      queueMicrotask(() => this.pump());
    }
  }

  private onClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
    for (const [, p] of this.pending) p.reject(closedError(this.remoteAddress));
    this.pending.clear();
    for (const l of this.closeListeners.splice(0)) {
      try {
        l(this);
      } catch (e) {
        this.options.logger.warn(`remoting: close listener failed: ${(e as Error).message}`);
      }
    }
  }
}

function closedError(addr: string, cause?: unknown): KeelError {
  return new KeelError('REMOTING_CONNECTION_CLOSED', `connection to ${addr} closed`, { cause });
}

export function formatAddress(host: string | undefined, port: number | undefined): string {
  const h = host ?? 'unknown';
  const bare = h.startsWith('::ffff:') ? h.slice(7) : h;
  return `${bare.includes(':') ? `[${bare}]` : bare}:${port ?? 0}`;
}

/** "host:port" or "[v6]:port" into its parts. */
export function parseAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new KeelError('REMOTING_CONNECT_FAILED', `bad address ${JSON.stringify(addr)} (expected host:port)`);
  return { host: (m[1] ?? m[2])!, port };
}
