import { expect } from 'chai';
import { OrderlyProcessQueue, processOrderlyResult, type OrderlyMessage } from '../../lib/client/orderly-process-queue';
import { ManualClock } from './support';

const msg = (queueOffset: number, size = 10): OrderlyMessage => ({ queueOffset, body: Buffer.alloc(size), reconsumeTimes: 0 });
const offsets = (ms: readonly OrderlyMessage[]): number[] => ms.map((m) => m.queueOffset);

describe('orderly process queue (lib/client/orderly-process-queue)', () => {
  it('orderly - batches come out in offset order; commit returns one past the last message taken', () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    expect(pq.putMessage([msg(5), msg(6), msg(7)]), 'first messages start a consume task').to.equal(true);
    expect(pq.putMessage([msg(8)]), 'a task is running already').to.equal(false);
    expect(offsets(pq.takeMessages(2))).to.deep.equal([5, 6]);
    expect(pq.commit()).to.equal(7);
    expect(pq.commit(), 'nothing taken since').to.equal(-1);
    expect(offsets(pq.takeMessages(10))).to.deep.equal([7, 8]);
    expect(pq.msgCount, 'taken but not committed still counts').to.equal(2);
    expect(pq.commit()).to.equal(9);
    expect(pq.msgCount).to.equal(0);
    expect(pq.msgSize).to.equal(0);
    expect(pq.takeMessages(1)).to.deep.equal([]);
    expect(pq.putMessage([msg(9)]), 'an empty take ended the task: the next put starts one').to.equal(true);
  });

  it('orderly - a suspended batch goes back in front and comes out again first, the commit point unmoved', () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    pq.putMessage([msg(0), msg(1), msg(2), msg(3)]);
    const batch = pq.takeMessages(2);
    pq.putMessage([msg(4)]);
    pq.makeMessageToConsumeAgain(batch);
    expect(pq.commit(), 'nothing finished').to.equal(-1);
    expect(offsets(pq.takeMessages(3))).to.deep.equal([0, 1, 2]);
    expect(pq.commit()).to.equal(3);
    pq.takeMessages(1);
    pq.rollback();
    expect(offsets(pq.takeMessages(5))).to.deep.equal([3, 4]);
  });

  it('orderly - a repeated offset replaces the cached message without counting twice; sizes add up', () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    pq.putMessage([msg(1, 100), msg(2, 50)]);
    pq.putMessage([msg(2, 50), msg(0, 7)]);
    expect(pq.msgCount).to.equal(3);
    expect(pq.msgSize).to.equal(157);
    expect(offsets(pq.takeMessages(3))).to.deep.equal([0, 1, 2]);
    expect(pq.getMaxSpan()).to.equal(0);
  });

  it('orderly - the broker lock is trusted for 30 s after it was granted', () => {
    const clock = new ManualClock();
    const pq = new OrderlyProcessQueue(clock);
    pq.lockGranted();
    clock.time += 30_000;
    expect(pq.isLockExpired()).to.equal(false);
    clock.time += 1;
    expect(pq.isLockExpired()).to.equal(true);
    pq.lockGranted();
    expect(pq.isLockExpired()).to.equal(false);
  });

  it('result - SUCCESS commits; SUSPEND under the limit puts the batch back, counts a reconsume and stops the queue', async () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    pq.putMessage([msg(0), msg(1), msg(2)]);
    let b = pq.takeMessages(1);
    expect(await processOrderlyResult(pq, b, 'SUCCESS', true, 16, async () => true)).to.deep.equal({ continueConsume: true, commitOffset: 1 });
    b = pq.takeMessages(2);
    const sentBack: number[] = [];
    const r = await processOrderlyResult(pq, b, 'SUSPEND_CURRENT_QUEUE_A_MOMENT', true, 16, async (m) => { sentBack.push(m.queueOffset); return true; });
    expect(r).to.deep.equal({ continueConsume: false, commitOffset: -1 });
    expect(sentBack).to.deep.equal([]);
    const again = pq.takeMessages(2);
    expect(offsets(again)).to.deep.equal([1, 2]);
    expect(again.map((m) => m.reconsumeTimes)).to.deep.equal([1, 1]);
  });

  it('result - SUSPEND at the limit sends the batch back and commits past it; a failed send-back keeps it local', async () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    pq.putMessage([msg(0), msg(1)]);
    let b = pq.takeMessages(1);
    b[0]!.reconsumeTimes = 3;
    expect(await processOrderlyResult(pq, b, 'SUSPEND_CURRENT_QUEUE_A_MOMENT', true, 3, async () => true))
      .to.deep.equal({ continueConsume: true, commitOffset: 1 });
    b = pq.takeMessages(1);
    b[0]!.reconsumeTimes = 3;
    expect(await processOrderlyResult(pq, b, 'SUSPEND_CURRENT_QUEUE_A_MOMENT', true, 3, async () => false))
      .to.deep.equal({ continueConsume: false, commitOffset: -1 });
    expect(pq.takeMessages(1)[0]!.reconsumeTimes).to.equal(4);
  });

  it('result - without auto-commit only COMMIT moves the offset; ROLLBACK returns the batch; a dropped queue commits nothing', async () => {
    const pq = new OrderlyProcessQueue(new ManualClock());
    pq.putMessage([msg(0), msg(1), msg(2)]);
    let b = pq.takeMessages(1);
    expect(await processOrderlyResult(pq, b, 'SUCCESS', false, 16, async () => true)).to.deep.equal({ continueConsume: true, commitOffset: -1 });
    b = pq.takeMessages(1);
    expect(await processOrderlyResult(pq, b, 'COMMIT', false, 16, async () => true)).to.deep.equal({ continueConsume: true, commitOffset: 2 });
    b = pq.takeMessages(1);
    expect(await processOrderlyResult(pq, b, 'ROLLBACK', false, 16, async () => true)).to.deep.equal({ continueConsume: false, commitOffset: -1 });
    b = pq.takeMessages(1);
    expect(offsets(b)).to.deep.equal([2]);
    pq.dropped = true;
    expect(await processOrderlyResult(pq, b, 'SUCCESS', true, 16, async () => true)).to.deep.equal({ continueConsume: true, commitOffset: -1 });
  });
});
