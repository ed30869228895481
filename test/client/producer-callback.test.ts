/**
 * The async send (`send(msg, callback)`) reports every outcome through its callback, on both
 * transports: refusals before the send, a queue that cannot be chosen (first send of a topic, and
 * with its route cached), a shut-down producer; a callback that throws is not reported again and
 * leaves no unhandled rejection. The retry loop tells the callback itself (SendLoop.done), so
 * these paths are checked here rather than through a promise.
 */
import { expect } from 'chai';
import { Producer, type ProducerMessage, type SendResult } from '../../lib/client/producer';
import { isKeelError, type KeelErrorCode } from '../../lib/common/errors';
import { CLIENT_ENVS, sleep, useClientEnv } from './client-envs';

interface Outcome { ok: boolean; value: SendResult | Error; synchronous: boolean }

/** Sends with a callback; resolves with what the callback was told, and whether it was told inside send(). */
function sendWithCallback(producer: Producer, msg: ProducerMessage): Promise<Outcome> {
  return new Promise((resolve) => {
    let returned = false;
    producer.send(msg, {
      onSuccess: (r) => resolve({ ok: true, value: r, synchronous: !returned }),
      onException: (e) => resolve({ ok: false, value: e, synchronous: !returned }),
    });
    returned = true;
  });
}

function expectError(o: Outcome, code: KeelErrorCode): void {
  expect(o.ok, `expected ${code}, got a result`).to.equal(false);
  expect(isKeelError(o.value, code), `expected ${code}, got ${(o.value as Error).message}`).to.equal(true);
  expect(o.synchronous, 'onException called from inside send()').to.equal(false);
}

for (const envDef of CLIENT_ENVS) {
  describe(`producer callback sends over ${envDef.name}`, function () {
    this.timeout(30_000);
    const env = useClientEnv(envDef);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
    beforeEach(() => { unhandled.length = 0; process.on('unhandledRejection', onUnhandled); });
    afterEach(() => { process.off('unhandledRejection', onUnhandled); });

    it(`producer callback (${envDef.name}) - a refused message, a queue outside the route (first send and with the route cached) and a shut-down producer reach onException, later`, async () => {
      await env.createTopic('CB', 2);
      const producer = new Producer(env.target(), { group: 'CBG' });
      expectError(await sendWithCallback(producer, { topic: 'CB', body: 'x', tags: 'a b' }), 'PROPERTY_INVALID');
      expectError(await sendWithCallback(producer, { topic: 'CB', body: 'x', queueId: 5 }), 'QUEUE_INVALID');
      const ok = await sendWithCallback(producer, { topic: 'CB', body: 'fine' });
      expect(ok.ok).to.equal(true);
      expect((ok.value as SendResult).status).to.equal('SEND_OK');
      expectError(await sendWithCallback(producer, { topic: 'CB', body: 'x', queueId: 2 }), 'QUEUE_INVALID');
      await producer.shutdown();
      expectError(await sendWithCallback(producer, { topic: 'CB', body: 'x' }), 'CLIENT_STATE');
      await sleep(20);
      expect(unhandled).to.deep.equal([]);
    });

    it(`producer callback (${envDef.name}) - a callback that throws is not told again through onException and leaves no unhandled rejection`, async () => {
      await env.createTopic('CB2', 2);
      const producer = new Producer(env.target(), { group: 'CBG2' });
      const told: string[] = [];
      for (const msg of [{ topic: 'CB2', body: 'ok' }, { topic: 'CB2', body: 'bad', tags: 'a|b' }]) {
        producer.send(msg, {
          onSuccess: () => { told.push('success'); throw new Error('application bug in onSuccess'); },
          onException: () => { told.push('exception'); throw new Error('application bug in onException'); },
        });
      }
      for (let i = 0; i < 200 && told.length < 2; i++) await sleep(10);
      await sleep(20);
      expect(told.sort()).to.deep.equal(['exception', 'success']);
      expect(unhandled).to.deep.equal([]);
      expect((await producer.send({ topic: 'CB2', body: 'after' })).status).to.equal('SEND_OK');
      await producer.shutdown();
    });
  });
}
