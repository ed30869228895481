/** What the request processors of a Broker share. */
import type { Clock } from '../common/clock';
import type { EmbeddedBroker } from '../consumer/embedded-broker';
import type { Logger } from '../remoting/logger';
import type { MessageStore } from '../store/message-store';
import type { BrokerConfig } from './broker-config';
import type { ConsumerManager } from './consumer-manager';
import type { BrokerReplication } from './broker-replication';

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly store: MessageStore;
  /** The broker-side services (topics, offsets, schedule, retry/DLQ, key query), shared with embedded use. */
  readonly services: EmbeddedBroker;
  readonly consumers: ConsumerManager;
  readonly logger: Logger;
  readonly clock: Clock;
  /** "ip:port" in routes and offset msgIds. */
  readonly brokerAddr: string;
  /** Master or slave, and the HA service of that role. */
  readonly replication: BrokerReplication;
}
