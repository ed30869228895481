import { expect } from 'chai';
import { hasTopicChars, isBrokerName, isGroupName, isTopicName, MAX_TOPIC_LENGTH } from '../../lib/common/names';
import { dlqTopic, retryTopic } from '../../lib/common/message-const';

describe('name rules (lib/common/names)', () => {
  it('names - topics are 1..127 of [%|a-zA-Z0-9_-], as RocketMQ has them', () => {
    expect(isTopicName('a'.repeat(MAX_TOPIC_LENGTH))).to.equal(true);
    expect(isTopicName('a'.repeat(MAX_TOPIC_LENGTH + 1))).to.equal(false);
    expect(isTopicName('%RETRY%g|x_y-Z9')).to.equal(true);
    for (const bad of ['', 'a b', 'a/b', 'a.b', 'ä', '..', 'a\n']) expect(isTopicName(bad), JSON.stringify(bad)).to.equal(false);
    expect(isTopicName(12)).to.equal(false);
    expect(hasTopicChars('a'.repeat(300))).to.equal(true);
    expect(hasTopicChars('')).to.equal(false);
    expect(hasTopicChars('a.b')).to.equal(false);
  });

  it('names - every valid group makes valid retry and dead-letter topics; groups carry no %', () => {
    const longest = 'g'.repeat(120);
    expect(isGroupName(longest)).to.equal(true);
    expect(isTopicName(retryTopic(longest))).to.equal(true);
    expect(isTopicName(dlqTopic(longest))).to.equal(true);
    expect(isGroupName('g'.repeat(121))).to.equal(false);
    for (const bad of ['', '%RETRY%g', 'a b', 'a.b', 7]) expect(isGroupName(bad), JSON.stringify(bad)).to.equal(false);
  });

  it('names - broker and cluster names are 1..64 of [a-zA-Z0-9_-]', () => {
    expect(isBrokerName('broker-a_1')).to.equal(true);
    expect(isBrokerName('b'.repeat(64))).to.equal(true);
    for (const bad of ['', 'b'.repeat(65), 'a|b', '%b', 'a.b', 1]) expect(isBrokerName(bad), JSON.stringify(bad)).to.equal(false);
  });
});
