import { expect } from 'chai';
import { allocateAveragely, allocateAveragelyByCircle, allocateQueues, type AllocateMessageQueueStrategy } from '../../lib/client/allocate-strategy';
import { messageQueueKey, type MessageQueue } from '../../lib/client/message-queue';

function queues(n: number, brokers = ['broker-a', 'broker-b']): MessageQueue[] {
  const per = Math.ceil(n / brokers.length);
  const out: MessageQueue[] = [];
  for (let i = 0; i < n; i++) out.push({ topic: 'T', brokerName: brokers[Math.floor(i / per)]!, queueId: i % per });
  return out;
}
const cids = (c: number): string[] => Array.from({ length: c }, (_, i) => `10.0.0.${i}@${100 + i}`);

/** Each consumer's share, as indexes into the sorted queue list. */
function table(s: AllocateMessageQueueStrategy, n: number, c: number): number[][] {
  const mqAll = queues(n);
  const keys = mqAll.map(messageQueueKey);
  return cids(c).map((cid) => s.allocate('G', cid, mqAll, cids(c)).map((mq) => keys.indexOf(messageQueueKey(mq))));
}

describe('allocate strategies (lib/client/allocate-strategy)', () => {
  it('averagely - contiguous blocks, the first n % c consumers one more, as RocketMQ', () => {
    expect(table(allocateAveragely, 8, 3)).to.deep.equal([[0, 1, 2], [3, 4, 5], [6, 7]]);
    expect(table(allocateAveragely, 10, 4)).to.deep.equal([[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]);
    expect(table(allocateAveragely, 4, 4)).to.deep.equal([[0], [1], [2], [3]]);
    expect(table(allocateAveragely, 3, 5)).to.deep.equal([[0], [1], [2], [], []]);
    expect(table(allocateAveragely, 16, 5)).to.deep.equal([[0, 1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15]]);
    expect(table(allocateAveragely, 5, 1)).to.deep.equal([[0, 1, 2, 3, 4]]);
  });

  it('averagely by circle - dealt round the consumers', () => {
    expect(table(allocateAveragelyByCircle, 8, 3)).to.deep.equal([[0, 3, 6], [1, 4, 7], [2, 5]]);
    expect(table(allocateAveragelyByCircle, 3, 5)).to.deep.equal([[0], [1], [2], [], []]);
  });

  it('both - every queue owned by exactly one consumer and shares differ by at most one, for n, c up to 20', () => {
    for (const s of [allocateAveragely, allocateAveragelyByCircle]) {
      for (let n = 1; n <= 20; n++) {
        for (let c = 1; c <= 20; c++) {
          const t = table(s, n, c);
          const all = t.flat().sort((a, b) => a - b);
          expect(all, `${s.name} ${n}/${c}`).to.deep.equal(Array.from({ length: n }, (_, i) => i));
          const sizes = t.map((x) => x.length);
          expect(Math.max(...sizes) - Math.min(...sizes), `${s.name} ${n}/${c}`).to.be.at.most(1);
        }
      }
    }
  });

  it('allocateQueues - sorts queues (topic, broker, id) and ids (Java String order) first, so input order does not matter', () => {
    const mqs = queues(8);
    const ids = ['c10', 'c2', 'c1'];
    const reference = ids.map((id) => allocateQueues(allocateAveragely, 'G', id, mqs, ids).map(messageQueueKey));
    const shuffled = [...mqs].reverse();
    const shuffledIds = ['c2', 'c1', 'c10'];
    expect(ids.map((id) => allocateQueues(allocateAveragely, 'G', id, shuffled, shuffledIds).map(messageQueueKey))).to.deep.equal(reference);
    // sorted ids: c1, c10, c2 ("c10" < "c2" as strings) -> c10 is second and takes the middle block
    expect(reference[0], 'c10').to.deep.equal(['T@broker-a#3', 'T@broker-b#0', 'T@broker-b#1']);
    expect(reference[1], 'c2').to.deep.equal(['T@broker-b#2', 'T@broker-b#3']);
    expect(reference[2], 'c1').to.deep.equal(['T@broker-a#0', 'T@broker-a#1', 'T@broker-a#2']);
    // queue ids compare as numbers: 10 after 9
    const many = Array.from({ length: 11 }, (_, i) => ({ topic: 'T', brokerName: 'b', queueId: 10 - i }));
    expect(allocateQueues(allocateAveragely, 'G', 'x', many, ['x']).map((m) => m.queueId)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('both - a consumer not in the list takes nothing; empty arguments are a misuse', () => {
    expect(allocateAveragely.allocate('G', 'stranger', queues(4), cids(2))).to.deep.equal([]);
    expect(allocateAveragelyByCircle.allocate('G', 'stranger', queues(4), cids(2))).to.deep.equal([]);
    expect(() => allocateAveragely.allocate('G', '', queues(4), cids(2))).to.throw(/currentCID/);
    expect(() => allocateAveragely.allocate('G', 'a', [], ['a'])).to.throw(/mqAll/);
    expect(() => allocateAveragely.allocate('G', 'a', queues(1), [])).to.throw(/cidAll/);
  });
});
