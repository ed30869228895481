/**
 * When a send is retried, where, and within what time: RocketMQ 4.9.7's
 * `DefaultMQProducerImpl.sendDefaultImpl` (sync and oneway) and `MQClientAPIImpl.onExceptionImpl`
 * (async), with the reply mapping of `MQClientAPIImpl.processSendResponse`.
 *
 * - sync: 1 + retryTimesWhenSendFailed (2) attempts. A reply code in `retryResponseCodes`
 *   (17, 14, 1, 16, 204, 205) and any failure without a reply (connect, timeout, closed channel,
 *   bad reply: REMOTING_* errors) try again at once on a queue the selector picks avoiding the previous broker; any
 *   other code is thrown at once. FLUSH_DISK_TIMEOUT / FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE
 *   are results, not errors, retried only with retryAnotherBrokerWhenNotStoreOK.
 * - async: 1 + retryTimesWhenSendAsyncFailed (2) attempts, retried only when no reply came;
 *   a reply with an error code is final (Java passes needRetry=false for it).
 * - oneway: one attempt.
 * One timeout (sendMsgTimeout, 3 s) covers the whole send: each attempt gets what is left, and an
 * attempt that would start after it ran out ends the send with REMOTING_TIMEOUT.
 *
 * Deliberate differences: an async retry goes to the queue the selector picks (Java re-sends the
 * same request, whose queueId belongs to the first broker, to the new broker's address); the
 * async retries use the same budget check as sync sends.
 */
import { systemClock, type Clock } from '../common/clock';
import { isKeelError, KeelError } from '../common/errors';
import type { PutStatus } from '../common/message';
import type { MessageQueue } from './message-queue';

export type SendStatus = 'SEND_OK' | 'FLUSH_DISK_TIMEOUT' | 'FLUSH_SLAVE_TIMEOUT' | 'SLAVE_NOT_AVAILABLE';
export type CommunicationMode = 'sync' | 'async' | 'oneway';

/** DefaultMQProducer.retryResponseCodes: TOPIC_NOT_EXIST, SERVICE_NOT_AVAILABLE, SYSTEM_ERROR, NO_PERMISSION, NO_BUYER_ID, NOT_IN_CURRENT_UNIT. */
export const RETRY_RESPONSE_CODES: ReadonlySet<number> = new Set([17, 14, 1, 16, 204, 205]);

export interface SendRetryOptions {
  sendMsgTimeout: number;
  retryTimesWhenSendFailed: number;
  retryTimesWhenSendAsyncFailed: number;
  retryAnotherBrokerWhenNotStoreOK: boolean;
  retryResponseCodes: ReadonlySet<number>;
}

export const DEFAULT_SEND_RETRY_OPTIONS: Readonly<SendRetryOptions> = Object.freeze({
  sendMsgTimeout: 3000,
  retryTimesWhenSendFailed: 2,
  retryTimesWhenSendAsyncFailed: 2,
  retryAnotherBrokerWhenNotStoreOK: false,
  retryResponseCodes: RETRY_RESPONSE_CODES,
});

/** processSendResponse: the status a reply code stands for; undefined = the broker's error, thrown. */
export function sendStatusOfResponseCode(code: number): SendStatus | undefined {
  switch (code) {
    case 0: return 'SEND_OK';
    case 10: return 'FLUSH_DISK_TIMEOUT';
    case 12: return 'FLUSH_SLAVE_TIMEOUT';
    case 11: return 'SLAVE_NOT_AVAILABLE';
    default: return undefined;
  }
}

/** The same statuses for a message an in-process store took: PUT_OK is SEND_OK, the others keep their names. */
export function sendStatusOfPutStatus(status: PutStatus): SendStatus {
  return status === 'PUT_OK' ? 'SEND_OK' : status;
}

/** How many attempts a send may make in all. */
export function sendTimesTotal(mode: CommunicationMode, options: SendRetryOptions = DEFAULT_SEND_RETRY_OPTIONS): number {
  if (mode === 'sync') return 1 + options.retryTimesWhenSendFailed;
  if (mode === 'async') return 1 + options.retryTimesWhenSendAsyncFailed;
  return 1;
}

/** The reply code of a failed attempt, when the broker answered one (RemotingResponseError). */
export function responseCodeOf(e: unknown): number | undefined {
  if (!isKeelError(e, 'REMOTING_ERROR_RESPONSE')) return undefined;
  const code = (e as { responseCode?: unknown }).responseCode;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Whether a failed attempt is tried again (if attempts and time are left). Errors that are not
 * KeelErrors are bugs, never retried. Every retried failure also isolates the broker in the fault
 * strategy (`updateFaultItem(broker, latency, true)`).
 */
export function isRetriableSendError(e: unknown, mode: CommunicationMode, options: SendRetryOptions = DEFAULT_SEND_RETRY_OPTIONS): boolean {
  if (mode === 'oneway' || !(e instanceof KeelError)) return false;
  const code = responseCodeOf(e);
  if (code !== undefined) return mode === 'sync' && options.retryResponseCodes.has(code);
  // Only a request that got no answer is tried again; other errors (an in-process store refusing
  // the message) are the broker's final word, as an error code outside retryResponseCodes is.
  if (!e.code.startsWith('REMOTING_')) return false;
  if (isKeelError(e, 'REMOTING_ERROR_RESPONSE')) return false;
  // async: only when no reply came at all (Java: send failed or timed out); a reply that does not
  // parse is final there, as processSendResponse's exception is.
  return mode === 'sync' || !isKeelError(e, 'REMOTING_REQUEST_INVALID');
}

/** Whether a result with this status ends the send (true) or a sync send tries another broker. */
export function acceptsSendStatus(status: SendStatus, mode: CommunicationMode, options: SendRetryOptions = DEFAULT_SEND_RETRY_OPTIONS): boolean {
  return status === 'SEND_OK' || mode !== 'sync' || !options.retryAnotherBrokerWhenNotStoreOK;
}

/** What the send has left for its next attempt; undefined when the budget is spent (Java: `timeout < costTime`). */
export function remainingSendTimeout(timeoutMs: number, startedAt: number, now: number): number | undefined {
  const cost = now - startedAt;
  return timeoutMs < cost ? undefined : timeoutMs - cost;
}

/** Every attempt failed; `responseCode` is the broker's code when the last failure was a reply. */
export class SendFailedError extends KeelError {
  readonly responseCode: number | undefined;
  constructor(readonly brokersSent: readonly string[], cause: unknown, elapsedMs: number, topic: string) {
    super('SEND_FAILED', `send to ${topic} failed after ${brokersSent.length} attempt(s) in ${elapsedMs} ms on [${brokersSent.join(', ')}]: ${(cause as Error)?.message ?? cause}`, { cause });
    this.responseCode = responseCodeOf(cause);
  }
}

/** `T`: what an attempt answers; `R`: the send's result made of it (by default the answer itself). */
export interface SendLoop<R extends { status: SendStatus }, T = R> {
  topic: string;
  mode: CommunicationMode;
  options?: SendRetryOptions;
  /** The budget of the whole send; default options.sendMsgTimeout. */
  timeoutMs?: number;
  clock?: Clock;
  /** The queue for an attempt (MQFaultStrategy.selectOneMessageQueue); undefined ends the send. */
  select(lastBrokerName: string | undefined): MessageQueue | undefined;
  /** One attempt; undefined for oneway (nothing comes back). */
  attempt(mq: MessageQueue, timeoutMs: number): Promise<T | undefined>;
  /** The result of an attempt's answer and the queue it went to (undefined: oneway); without it, the answer. */
  result?(mq: MessageQueue, answer: T | undefined): R | undefined;
  /** Told of every failed attempt, before the policy decides on it. */
  failed?(mq: MessageQueue, error: unknown): void;
  /** MQFaultStrategy.updateFaultItem; read after each attempt (absent: the latency is not even measured). */
  updateFaultItem?(brokerName: string, latencyMs: number, isolation: boolean): void;
  /**
   * The send's outcome, for a send reported by callback (RocketMQ's async send): given, it is told
   * the result (`ok`) or the error, and the promise of runSendAttempts resolves undefined, never
   * rejects. It must not throw.
   */
  done?(error: unknown, result: R | undefined, ok: boolean): void;
}

/**
 * The attempt loop of a send. Resolves with the accepted result (undefined for oneway), or with
 * the last non-OK result when retries on other brokers did not do better; rejects with
 * REMOTING_TIMEOUT when the budget ran out before an attempt, with a non-retriable error as is,
 * and with SendFailedError when every attempt failed.
 */
export function runSendAttempts<R extends { status: SendStatus }, T = R>(loop: SendLoop<R, T>): Promise<R | undefined> {
  try {
    return Promise.resolve(new SendAttempts(loop).next());
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * The loop's state between attempts, continued from each attempt's outcome: one object while a
 * send is in flight, where an async function kept a suspended frame (thousands of sends in flight
 * made that frame a measurable part of a send's garbage-collection cost).
 */
class SendAttempts<R extends { status: SendStatus }, T> {
  private readonly options: SendRetryOptions;
  private readonly clock: Clock;
  /** When the first attempt began: the budget's start. */
  private startedAt = 0;
  /** Made at the first attempt: an array literal of one is a fraction of an empty array grown by push. */
  private brokersSent: string[] | undefined;
  private times = 0;
  private begin = 0;
  private mq: MessageQueue | undefined;
  private lastResult: R | undefined;
  private lastError: unknown;

  constructor(private readonly loop: SendLoop<R, T>) {
    this.options = loop.options ?? DEFAULT_SEND_RETRY_OPTIONS;
    this.clock = loop.clock ?? systemClock;
  }

  /** The next attempt, or the end of the send (a value, or thrown: what a `done` loop is told instead). */
  next(): R | undefined | Promise<R | undefined> {
    let outcome: R | undefined | Promise<R | undefined>;
    try {
      outcome = this.step();
    } catch (e) {
      return this.fail(e);
    }
    return outcome instanceof Promise ? outcome : this.succeed(outcome);
  }

  private step(): R | undefined | Promise<R | undefined> {
    const loop = this.loop;
    const timeoutMs = loop.timeoutMs ?? this.options.sendMsgTimeout;
    if (this.times < sendTimesTotal(loop.mode, this.options)) {
      const selected = loop.select(this.mq?.brokerName);
      if (selected) {
        const mq = (this.mq = selected);
        if (this.brokersSent) this.brokersSent.push(mq.brokerName);
        else this.brokersSent = [mq.brokerName];
        // The clock is read once per attempt (a read costs ~0.2 µs on a VM): the first is the budget's start.
        const begin = (this.begin = this.clock.now());
        if (this.times === 0) this.startedAt = begin;
        const left = remainingSendTimeout(timeoutMs, this.startedAt, begin);
        if (left === undefined) {
          if (this.lastResult) return this.lastResult;
          throw new KeelError('REMOTING_TIMEOUT', `send to ${loop.topic} used up its ${timeoutMs} ms timeout after ${this.times} attempt(s)`, { cause: this.lastError });
        }
        this.times++;
        let attempt: Promise<T | undefined>;
        try {
          attempt = loop.attempt(mq, left);
        } catch (e) {
          attempt = Promise.reject(e);
        }
        return attempt.then((r) => this.onResult(r), (e: unknown) => this.onError(e));
      }
    }
    if (this.lastResult) return this.lastResult;
    throw new SendFailedError(this.brokersSent ?? [], this.lastError ?? new KeelError('NOT_FOUND', `no queue to send ${loop.topic} to`), this.clock.now() - this.startedAt, loop.topic);
  }

  private onResult(answer: T | undefined): R | undefined | Promise<R | undefined> {
    const loop = this.loop;
    let result: R | undefined;
    try {
      loop.updateFaultItem?.(this.mq!.brokerName, this.clock.now() - this.begin, false);
      result = loop.result ? loop.result(this.mq!, answer) : (answer as R | undefined);
    } catch (e) {
      return this.fail(e);
    }
    if (!result || acceptsSendStatus(result.status, loop.mode, this.options)) return this.succeed(result);
    this.lastResult = result;
    return this.next();
  }

  private onError(e: unknown): R | undefined | Promise<R | undefined> {
    const loop = this.loop;
    try {
      loop.failed?.(this.mq!, e);
      if (!(e instanceof KeelError)) return this.fail(e);
      loop.updateFaultItem?.(this.mq!.brokerName, this.clock.now() - this.begin, true);
    } catch (hookError) {
      return this.fail(hookError);
    }
    this.lastError = e;
    if (!isRetriableSendError(e, loop.mode, this.options)) return this.lastResult ? this.succeed(this.lastResult) : this.fail(e);
    return this.next();
  }

  private succeed(result: R | undefined): R | undefined {
    if (this.loop.done === undefined) return result;
    this.loop.done(undefined, result, true);
    return undefined;
  }

  private fail(error: unknown): undefined {
    if (this.loop.done === undefined) throw error;
    this.loop.done(error, undefined, false);
    return undefined;
  }
}
