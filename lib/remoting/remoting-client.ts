/**
 * A RocketMQ remoting client (`NettyRemotingClient`): one connection per address, opened on first
 * use and again on the next call after it closed; sync, async and oneway calls with timeouts;
 * processors for the requests a broker sends to clients (NOTIFY_CONSUMER_IDS_CHANGED, ...).
 */
import * as net from 'node:net';
import { Clock, systemClock } from '../common/clock';
import { KeelError } from '../common/errors';
import { DEFAULT_MAX_FRAME_BYTES } from './frame-codec';
import { consoleLogger, Logger } from './logger';
import { RemotingCommand } from './remoting-command';
import {
  DEFAULT_HIGH_WATER_BYTES, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_IN_FLIGHT_REQUESTS, parseAddress,
  RemotingChannel, RequestProcessor,
} from './remoting-channel';
import { notSupported } from './remoting-server';

export interface RemotingClientOptions {
  logger?: Logger;
  clock?: Clock;
  /** Default 3 s (Java `connectTimeoutMillis`). */
  connectTimeoutMs?: number;
  /** Default 120 s, as Java's client. */
  idleTimeoutMs?: number;
  maxFrameBytes?: number;
  highWaterBytes?: number;
  maxInFlightRequests?: number;
  /** invokeAsync calls in flight at once, all addresses together (Java `clientAsyncSemaphoreValue`). Default 65535. */
  maxAsyncInFlight?: number;
  /** invokeOneway calls not yet written, all addresses together (Java `clientOnewaySemaphoreValue`). Default 65535. */
  maxOnewayInFlight?: number;
}

export type InvokeCallback = (error: KeelError | null, response?: RemotingCommand) => void;

export class RemotingClient {
  private readonly channels = new Map<string, Promise<RemotingChannel>>();
  /** The channels of `channels` that are connected and not closed. */
  private readonly open = new Map<string, RemotingChannel>();
  private readonly processors = new Map<number, RequestProcessor>();
  private readonly options: Required<RemotingClientOptions>;
  private asyncInFlight = 0;
  private onewayInFlight = 0;
  private closed = false;

  constructor(options: RemotingClientOptions = {}) {
    this.options = {
      logger: consoleLogger,
      clock: systemClock,
      connectTimeoutMs: 3000,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      highWaterBytes: DEFAULT_HIGH_WATER_BYTES,
      maxInFlightRequests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
      maxAsyncInFlight: 65535,
      maxOnewayInFlight: 65535,
      ...options,
    };
  }

  registerProcessor(code: number, processor: RequestProcessor): void {
    this.processors.set(code, processor);
  }

  /** Sends `request` to `addr` ("ip:port") and waits for the response; the timeout covers connecting too. */
  invokeSync(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    // Connected: straight to the channel, without waiting on the connection's promise (a promise and a turn of microtasks per call).
    const ch = this.open.get(addr);
    if (ch !== undefined && !this.closed) return ch.invoke(request, timeoutMs);
    return this.connectAndInvoke(addr, request, timeoutMs);
  }

  private async connectAndInvoke(addr: string, request: RemotingCommand, timeoutMs: number): Promise<RemotingCommand> {
    const start = this.options.clock.now();
    const ch = await this.channel(addr, timeoutMs);
    const left = timeoutMs - (this.options.clock.now() - start);
    if (left <= 0) throw new KeelError('REMOTING_TIMEOUT', `connecting to ${addr} used up the ${timeoutMs} ms timeout`);
    return ch.invoke(request, left);
  }

  /**
   * Like invokeSync, with the result delivered to `callback` (never thrown), and bounded: past
   * `maxAsyncInFlight` calls the callback gets REMOTING_TOO_MANY_REQUESTS at once.
   */
  invokeAsync(addr: string, request: RemotingCommand, timeoutMs: number, callback: InvokeCallback): void {
    if (this.asyncInFlight >= this.options.maxAsyncInFlight) {
      queueMicrotask(() => callback(new KeelError('REMOTING_TOO_MANY_REQUESTS', `${this.asyncInFlight} async requests in flight`)));
      return;
    }
    this.asyncInFlight++;
    this.invokeSync(addr, request, timeoutMs).then(
      (r) => { this.asyncInFlight--; callback(null, r); },
      (e) => { this.asyncInFlight--; callback(asKeelError(e)); },
    );
  }

  /** Sends `request` marked oneway: no response comes. Resolves once written; bounded like invokeAsync. */
  async invokeOneway(addr: string, request: RemotingCommand, timeoutMs: number): Promise<void> {
    if (this.onewayInFlight >= this.options.maxOnewayInFlight) {
      throw new KeelError('REMOTING_TOO_MANY_REQUESTS', `${this.onewayInFlight} oneway requests not yet written`);
    }
    this.onewayInFlight++;
    try {
      const ch = await this.channel(addr, timeoutMs);
      await ch.oneway(request);
    } finally {
      this.onewayInFlight--;
    }
  }

  /** Closes the connection to `addr`, if any; the next call opens a new one. */
  closeChannel(addr: string): void {
    const p = this.channels.get(addr);
    this.channels.delete(addr);
    this.open.delete(addr);
    p?.then((ch) => ch.close(), () => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.channels.values()];
    this.channels.clear();
    this.open.clear();
    await Promise.all(all.map((p) => p.then((ch) => {
      if (ch.closed) return;
      return new Promise<void>((resolve) => { ch.onClose(() => resolve()); ch.close(); });
    }, () => {})));
  }

  private channel(addr: string, timeoutMs: number): Promise<RemotingChannel> {
    if (this.closed) return Promise.reject(new KeelError('REMOTING_CONNECTION_CLOSED', 'the remoting client is closed'));
    let p = this.channels.get(addr);
    if (!p) {
      p = this.connect(addr, Math.min(timeoutMs, this.options.connectTimeoutMs));
      this.channels.set(addr, p);
      // A failed connect is forgotten so that the next call tries again.
      p.catch(() => { if (this.channels.get(addr) === p) this.channels.delete(addr); });
    }
    return p;
  }

  private connect(addr: string, timeoutMs: number): Promise<RemotingChannel> {
    return new Promise<RemotingChannel>((resolve, reject) => {
      let target: { host: string; port: number };
      try {
        target = parseAddress(addr);
      } catch (e) {
        reject(e);
        return;
      }
      const socket = net.connect(target);
      const fail = (e: Error) => {
        timer.cancel();
        socket.destroy();
        reject(new KeelError('REMOTING_CONNECT_FAILED', `cannot connect to ${addr}: ${e.message}`, { cause: e }));
      };
      const timer = this.options.clock.setTimeout(() => fail(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', fail);
      socket.once('connect', () => {
        timer.cancel();
        socket.off('error', fail);
        // The client's options hold every channel option (and more, which the channel ignores).
        const ch = new RemotingChannel(socket, { ...this.options, processorFor: (code) => this.processors.get(code) ?? notSupported });
        const mine = this.channels.get(addr);
        ch.onClose(() => {
          if (this.channels.get(addr) === mine) this.channels.delete(addr);
          if (this.open.get(addr) === ch) this.open.delete(addr);
        });
        if (this.closed) ch.close();
        else if (mine !== undefined) this.open.set(addr, ch);
        resolve(ch);
      });
    });
  }
}

/** A response whose code is not SUCCESS, where the caller needed SUCCESS. */
export class RemotingResponseError extends KeelError {
  constructor(readonly responseCode: number, readonly remark: string | undefined, what: string) {
    super('REMOTING_ERROR_RESPONSE', `${what} failed with code ${responseCode}${remark ? `: ${remark}` : ''}`);
  }
}

/** Throws RemotingResponseError unless `res` is SUCCESS (0). */
export function expectSuccess(res: RemotingCommand, what: string): RemotingCommand {
  if (res.code !== 0) throw new RemotingResponseError(res.code, res.remark, what);
  return res;
}

function asKeelError(e: unknown): KeelError {
  return e instanceof KeelError ? e : new KeelError('REMOTING_CONNECTION_CLOSED', String((e as Error)?.message ?? e), { cause: e });
}
