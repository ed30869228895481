/**
 * A RocketMQ remoting server (`NettyRemotingServer`): processors registered per request code, a
 * default processor answering REQUEST_CODE_NOT_SUPPORTED (3) as the Java broker does, and a
 * close listener per connection (the name server drops a broker at once when its channel closes).
 */
import * as net from 'node:net';
import { Clock, systemClock } from '../common/clock';
import { KeelError } from '../common/errors';
import { DEFAULT_MAX_FRAME_BYTES } from './frame-codec';
import { consoleLogger, Logger } from './logger';
import { RemotingCommand } from './remoting-command';
import {
  DEFAULT_HIGH_WATER_BYTES, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_IN_FLIGHT_REQUESTS, formatAddress,
  RemotingChannel, RequestProcessor,
} from './remoting-channel';
import { ResponseCode } from './response-code';

export interface RemotingServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: the OS picks a port. */
  port?: number;
  logger?: Logger;
  clock?: Clock;
  /** Close a connection after this long without traffic; 0 disables. Default 120 s. */
  idleTimeoutMs?: number;
  /** Largest frame accepted, length field included. Default 16 MiB. */
  maxFrameBytes?: number;
  /** Pause reading a connection while more than this many reply bytes wait to be sent. Default 4 MiB. */
  highWaterBytes?: number;
  /** Pause reading a connection while this many of its requests are being processed. Default 4096. */
  maxInFlightRequests?: number;
}

/** Java's answer to an unknown code, remark included (`NettyRemotingAbstract.processRequestCommand`). */
export const notSupported: RequestProcessor = (req) =>
  RemotingCommand.response(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, ` request type ${req.code} not supported`);

export class RemotingServer {
  private readonly processors = new Map<number, RequestProcessor>();
  private defaultProcessor: RequestProcessor = notSupported;
  private readonly channelSet = new Set<RemotingChannel>();
  private readonly closeListeners: ((ch: RemotingChannel) => void)[] = [];
  private server?: net.Server;
  private readonly options: Required<RemotingServerOptions>;

  constructor(options: RemotingServerOptions = {}) {
    this.options = {
      host: '127.0.0.1',
      port: 0,
      logger: consoleLogger,
      clock: systemClock,
      idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      highWaterBytes: DEFAULT_HIGH_WATER_BYTES,
      maxInFlightRequests: DEFAULT_MAX_IN_FLIGHT_REQUESTS,
      ...options,
    };
  }

  registerProcessor(code: number, processor: RequestProcessor): void {
    this.processors.set(code, processor);
  }

  setDefaultProcessor(processor: RequestProcessor): void {
    this.defaultProcessor = processor;
  }

  /** Called once for every connection that closes, whoever closed it. */
  onChannelClose(listener: (ch: RemotingChannel) => void): void {
    this.closeListeners.push(listener);
  }

  channels(): RemotingChannel[] {
    return [...this.channelSet];
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => {
        this.server = undefined;
        reject(new KeelError('REMOTING_LISTEN_FAILED', `cannot listen on ${this.options.host}:${this.options.port}: ${e.message}`, { cause: e }));
      };
      server.once('error', fail);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', fail);
        resolve();
      });
    });
    server.on('error', (e) => this.options.logger.warn(`remoting: server error: ${e.message}`));
  }

  /** "ip:port" the server listens on. */
  address(): string {
    const a = this.server?.address();
    if (!a || typeof a === 'string') throw new KeelError('CLIENT_STATE', 'the server is not listening (start() it first)');
    return formatAddress(a.address, a.port);
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a !== 'string' ? a.port : 0;
  }

  /** Stops listening and closes every connection; resolves when the listener is closed. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const ch of this.channelSet) ch.close();
    await closed;
  }

  private accept(socket: net.Socket): void {
    // The server's options hold every channel option (and more, which the channel ignores).
    const ch = new RemotingChannel(socket, { ...this.options, processorFor: (code) => this.processors.get(code) ?? this.defaultProcessor });
    this.channelSet.add(ch);
    ch.onClose(() => {
      this.channelSet.delete(ch);
      for (const l of this.closeListeners) l(ch);
    });
  }
}
