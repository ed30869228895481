import { expect } from 'chai';
import { KeelError } from '../../lib/common/errors';
import { MQFaultStrategy } from '../../lib/client/latency-fault-tolerance';
import type { MessageQueue } from '../../lib/client/message-queue';
import {
  DEFAULT_SEND_RETRY_OPTIONS, isRetriableSendError, runSendAttempts, SendFailedError, sendStatusOfResponseCode, sendTimesTotal,
  type CommunicationMode, type SendStatus,
} from '../../lib/client/send-retry-policy';
import { topicRouteToPublishInfo } from '../../lib/client/topic-publish-info';
import { fixedStart, ManualClock, routeOf } from './support';

/** What the remoting client throws for an error reply (RemotingResponseError's shape). */
function replyError(code: number): KeelError {
  return Object.assign(new KeelError('REMOTING_ERROR_RESPONSE', `failed with code ${code}`), { responseCode: code });
}

interface Result { status: SendStatus; broker: string }

/** A send over brokers a and b; `behave(broker, attempt)` says what each attempt does and how long it takes. */
async function send(
  mode: CommunicationMode,
  behave: (broker: string, n: number) => { ms: number; result?: SendStatus; error?: unknown },
  opts: { options?: typeof DEFAULT_SEND_RETRY_OPTIONS; timeoutMs?: number; faults?: MQFaultStrategy } = {},
): Promise<{ outcome: Result | undefined | Error; attempts: { broker: string; timeoutMs: number }[] }> {
  const clock = new ManualClock();
  const info = topicRouteToPublishInfo('T', routeOf({ a: 2, b: 2 }), fixedStart(0)); // first pick: position 1 = a:1
  const faults = opts.faults ?? new MQFaultStrategy({ clock });
  const attempts: { broker: string; timeoutMs: number }[] = [];
  try {
    const outcome = await runSendAttempts<Result>({
      topic: 'T', mode, clock, options: opts.options, timeoutMs: opts.timeoutMs,
      select: (last) => faults.selectOneMessageQueue(info, last),
      attempt: async (mq: MessageQueue, timeoutMs: number) => {
        attempts.push({ broker: mq.brokerName, timeoutMs });
        const b = behave(mq.brokerName, attempts.length);
        clock.time += b.ms;
        if (b.error) throw b.error;
        return mode === 'oneway' ? undefined : { status: b.result ?? 'SEND_OK', broker: mq.brokerName };
      },
      updateFaultItem: (broker, latency, isolation) => faults.updateFaultItem(broker, latency, isolation),
    });
    return { outcome, attempts };
  } catch (e) {
    return { outcome: e as Error, attempts };
  }
}

describe('send retry policy (lib/client/send-retry-policy)', () => {
  it('policy - 1 + 2 attempts for sync, 1 + 2 for async, 1 for oneway; reply codes map to statuses as processSendResponse', () => {
    expect(sendTimesTotal('sync')).to.equal(3);
    expect(sendTimesTotal('async')).to.equal(3);
    expect(sendTimesTotal('oneway')).to.equal(1);
    expect(sendTimesTotal('sync', { ...DEFAULT_SEND_RETRY_OPTIONS, retryTimesWhenSendFailed: 5 })).to.equal(6);
    expect([0, 10, 11, 12, 1, 17].map(sendStatusOfResponseCode)).to.deep.equal(
      ['SEND_OK', 'FLUSH_DISK_TIMEOUT', 'SLAVE_NOT_AVAILABLE', 'FLUSH_SLAVE_TIMEOUT', undefined, undefined]);
  });

  it('policy - sync retries exactly codes 17, 14, 1, 16, 204, 205 and every failure without a reply; async only the latter', () => {
    for (let code = 0; code < 300; code++) {
      expect(isRetriableSendError(replyError(code), 'sync'), `code ${code}`).to.equal([17, 14, 1, 16, 204, 205].includes(code));
      expect(isRetriableSendError(replyError(code), 'async'), `async code ${code}`).to.equal(false);
    }
    for (const c of ['REMOTING_TIMEOUT', 'REMOTING_CONNECT_FAILED', 'REMOTING_CONNECTION_CLOSED', 'REMOTING_TOO_MANY_REQUESTS'] as const) {
      expect(isRetriableSendError(new KeelError(c, 'x'), 'sync'), c).to.equal(true);
      expect(isRetriableSendError(new KeelError(c, 'x'), 'async'), c).to.equal(true);
      expect(isRetriableSendError(new KeelError(c, 'x'), 'oneway'), c).to.equal(false);
    }
    // a reply that does not parse: a RemotingCommandException, retried by the sync loop, final for async (a reply came)
    expect(isRetriableSendError(new KeelError('REMOTING_REQUEST_INVALID', 'x'), 'sync')).to.equal(true);
    expect(isRetriableSendError(new KeelError('REMOTING_REQUEST_INVALID', 'x'), 'async')).to.equal(false);
    expect(isRetriableSendError(new TypeError('bug'), 'sync')).to.equal(false);
  });

  it('sync - a retriable failure is retried at once on the other broker, and the send succeeds there', async () => {
    const r = await send('sync', (broker) => (broker === 'a' ? { ms: 5, error: replyError(14) } : { ms: 5 }));
    expect(r.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b']);
    expect((r.outcome as Result).broker).to.equal('b');
    const t = await send('sync', (broker) => (broker === 'a' ? { ms: 5, error: new KeelError('REMOTING_CONNECT_FAILED', 'refused') } : { ms: 5 }));
    expect(t.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b']);
  });

  it('sync - a code RocketMQ does not retry (e.g. 13 MESSAGE_ILLEGAL) is thrown after one attempt', async () => {
    const r = await send('sync', () => ({ ms: 5, error: replyError(13) }));
    expect(r.attempts).to.have.length(1);
    expect((r.outcome as KeelError).code).to.equal('REMOTING_ERROR_RESPONSE');
  });

  it('sync - three failures end in SEND_FAILED naming the brokers, with the last reply code', async () => {
    const r = await send('sync', () => ({ ms: 5, error: replyError(17) }));
    expect(r.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b', 'a']);
    expect(r.outcome).to.be.instanceOf(SendFailedError);
    expect((r.outcome as SendFailedError).code).to.equal('SEND_FAILED');
    expect((r.outcome as SendFailedError).responseCode).to.equal(17);
    expect((r.outcome as SendFailedError).brokersSent).to.deep.equal(['a', 'b', 'a']);
  });

  it('sync - a non-OK status is the result, unless retryAnotherBrokerWhenNotStoreOK; then the last non-OK one if none is OK', async () => {
    const flushTimeout = (): { ms: number; result: SendStatus } => ({ ms: 5, result: 'FLUSH_DISK_TIMEOUT' });
    const plain = await send('sync', flushTimeout);
    expect(plain.attempts).to.have.length(1);
    expect((plain.outcome as Result).status).to.equal('FLUSH_DISK_TIMEOUT');
    const options = { ...DEFAULT_SEND_RETRY_OPTIONS, retryAnotherBrokerWhenNotStoreOK: true };
    const retried = await send('sync', (broker) => (broker === 'a' ? flushTimeout() : { ms: 5 }), { options });
    expect(retried.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b']);
    expect((retried.outcome as Result).status).to.equal('SEND_OK');
    const never = await send('sync', (_b, n) => (n === 1 ? flushTimeout() : { ms: 5, error: replyError(1) }), { options });
    expect(never.attempts).to.have.length(3);
    expect((never.outcome as Result).status, 'the non-OK result beats the later errors').to.equal('FLUSH_DISK_TIMEOUT');
  });

  it('sync - one 3 s budget: each attempt gets what is left, and none starts after it is spent', async () => {
    const r = await send('sync', () => ({ ms: 1200, error: new KeelError('REMOTING_TIMEOUT', 'slow') }));
    expect(r.attempts.map((a) => a.timeoutMs)).to.deep.equal([3000, 1800, 600]);
    expect((r.outcome as KeelError).code).to.equal('SEND_FAILED');
    const over = await send('sync', () => ({ ms: 3001, error: new KeelError('REMOTING_TIMEOUT', 'slow') }));
    expect(over.attempts).to.have.length(1);
    expect((over.outcome as KeelError).code).to.equal('REMOTING_TIMEOUT');
    const exact = await send('sync', () => ({ ms: 1500, error: new KeelError('REMOTING_TIMEOUT', 'slow') }));
    expect(exact.attempts.map((a) => a.timeoutMs), 'cost == timeout still starts an attempt, as Java').to.deep.equal([3000, 1500, 0]);
  });

  it('async - retried only without a reply: a broker error is final, a timeout is tried on the other broker', async () => {
    const refused = await send('async', () => ({ ms: 5, error: replyError(14) }));
    expect(refused.attempts).to.have.length(1);
    expect((refused.outcome as KeelError).code).to.equal('REMOTING_ERROR_RESPONSE');
    const timedOut = await send('async', (broker) => (broker === 'a' ? { ms: 5, error: new KeelError('REMOTING_TIMEOUT', 't') } : { ms: 5 }));
    expect(timedOut.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b']);
    const never = await send('async', () => ({ ms: 5, error: new KeelError('REMOTING_CONNECTION_CLOSED', 'c') }),
      { options: { ...DEFAULT_SEND_RETRY_OPTIONS, retryTimesWhenSendAsyncFailed: 4 } });
    expect(never.attempts).to.have.length(5);
  });

  it('oneway - one attempt, no retry', async () => {
    const r = await send('oneway', () => ({ ms: 5, error: new KeelError('REMOTING_CONNECT_FAILED', 'x') }));
    expect(r.attempts).to.have.length(1);
    expect((r.outcome as KeelError).code).to.equal('REMOTING_CONNECT_FAILED');
    const ok = await send('oneway', () => ({ ms: 5 }));
    expect(ok.outcome).to.equal(undefined);
  });

  it('sync with latency avoidance - a failed broker is isolated, so later sends go to the other one', async () => {
    const clock = new ManualClock();
    const faults = new MQFaultStrategy({ sendLatencyFaultEnable: true, clock });
    const first = await send('sync', (broker) => (broker === 'a' ? { ms: 5, error: new KeelError('REMOTING_CONNECT_FAILED', 'down') } : { ms: 5 }), { faults });
    expect(first.attempts.map((a) => a.broker)).to.deep.equal(['a', 'b']);
    for (let i = 0; i < 5; i++) {
      const next = await send('sync', () => ({ ms: 5 }), { faults });
      expect(next.attempts.map((a) => a.broker)).to.deep.equal(['b']);
    }
  });
});
