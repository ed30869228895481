/**
 * keelmq — a durable message store for TypeScript on the storage design of Apache RocketMQ.
 * This file is the public API; everything else is internal.
 */
export { MessageStore } from './store/message-store';
export type { MessageFilter, StoreStats } from './store/message-store';
export type { Message, MessageExt, PutResult, PutStatus, GetMessagesResult, GetStatus, QueueEntry } from './common/message';
export { defaultOptions, DEFAULT_COMMITLOG_SEGMENT_SIZE, DEFAULT_CONSUMEQUEUE_ENTRIES, DEFAULT_MAX_BODY_SIZE } from './store/options';
export type { StoreOptions, FlushMode, RecoveryProgress } from './store/options';
export type { RecoveryReport } from './store/recovery';
export { KeelError, isKeelError } from './common/errors';
export type { KeelErrorCode } from './common/errors';
export type { Clock, TimerHandle } from './common/clock';
export { systemClock, VirtualClock } from './common/clock';
export type { FileIO, FileHandle, FileStat, DiskSpace, FileLock } from './io/file-io';
export { NodeFileIO, nodeFileIO } from './io/node-file-io';
export { SimDisk } from './io/sim-disk';
export { EmbeddedBroker, defaultBrokerOptions, DEFAULT_TOPIC_QUEUES } from './consumer/embedded-broker';
export type { BrokerOptions, QueryByKeyOptions } from './consumer/embedded-broker';
export type { TopicConfig } from './consumer/topic-config';
export { Producer } from './client/producer';
export type { ProducerMessage, ProducerOptions, QueueSelector, SendResult, SendCallback, SendStatus, MessageQueueSelector } from './client/producer';
export { DEFAULT_PRODUCER_GROUP } from './client/producer';
export { PushConsumer, ConsumeStatus, CORRUPT_STORE_ATTEMPTS } from './client/push-consumer';
export type { ConsumeFromWhere, ConsumeContext, MessageListener, PushConsumerOptions, PushConsumerStats, ReadErrorEvent, SkippedRecord } from './client/push-consumer';
export { ConsumeOrderlyStatus } from './client/push-consumer';
export type { ConsumeOrderlyContext, MessageModel, OrderlyMessageListener } from './client/push-consumer';
export { allocateAveragely, allocateAveragelyByCircle } from './client/allocate-strategy';
export type { AllocateMessageQueueStrategy } from './client/allocate-strategy';
export { DEFAULT_LOCAL_OFFSET_DIR } from './client/local-offset-store';
export { PullConsumer } from './client/pull-consumer';
export type { PullConsumerOptions, PullOptions } from './client/pull-consumer';
export type { ClientTransport, ConsumerRegistration, MessageQueue, OutgoingMessage, PullRequest, SendBackRequest, TopicRoute } from './client/transport';
export type { SendReply } from './client/transport';
export { InProcessTransport } from './client/in-process-transport';
export { RemotingTransport } from './client/remoting-transport';
export type { RemotingTransportOptions } from './client/remoting-transport';
export { DEFAULT_DELAY_LEVELS, parseDelayLevels } from './consumer/schedule-service';
export { DEFAULT_MAX_RECONSUME_TIMES } from './common/retry';
export {
  SCHEDULE_TOPIC, SCHEDULE_DLQ_TOPIC, retryTopic, dlqTopic, SYSTEM_PROPERTIES, PROPERTY_DELAY, PROPERTY_REAL_TOPIC, PROPERTY_REAL_QID, PROPERTY_RETRY_TOPIC,
  PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_ORIGIN_QUEUE_ID, PROPERTY_ORIGIN_QUEUE_OFFSET, PROPERTY_DLQ_MESSAGE_ID, PROPERTY_DLQ_REASON,
} from './common/message-const';
export { audit } from './store/audit';
export type { AuditReport, AuditDamage, AuditOptions, AuditProgress, AuditIO, DamageKind } from './store/audit';
export { NameServer, DEFAULT_NAMESRV_PORT } from './namesrv/name-server';
export type { NameServerOptions } from './namesrv/name-server';
export { NameServerClient } from './client/namesrv-client';
export type { BrokerRegistration, RegisterBrokerResponse } from './client/namesrv-client';
export { RemotingServer } from './remoting/remoting-server';
export type { RemotingServerOptions } from './remoting/remoting-server';
export { RemotingClient, RemotingResponseError } from './remoting/remoting-client';
export type { RemotingClientOptions } from './remoting/remoting-client';
export { RemotingCommand } from './remoting/remoting-command';
export type { RemotingChannel, RequestProcessor } from './remoting/remoting-channel';
export { RequestCode } from './remoting/request-code';
export { ResponseCode } from './remoting/response-code';
export type { Logger } from './remoting/logger';
export { Broker } from './broker/broker';
export type { BrokerStartConfig } from './broker/broker';
export { defaultBrokerConfig, resolveBrokerConfig, parseNamesrvAddr, DEFAULT_BROKER_PORT } from './broker/broker-config';
export type { BrokerConfig } from './broker/broker-config';
export type { ReplicationHook, ReplicationStatus } from './store/replication';
export { HAMaster, defaultMasterOptions } from './ha/ha-master';
export type { HAMasterOptions, HAMasterStats, MasterRole } from './ha/ha-master';
export { HASlave, defaultSlaveOptions } from './ha/ha-slave';
export type { HASlaveOptions, HASlaveStats, Divergence } from './ha/ha-slave';
export type { SlaveLinkStats } from './ha/ha-connection';
export { LitePullConsumer } from './client/lite-pull-consumer';
export type { LitePullConsumerOptions } from './client/lite-pull-consumer';
export { Admin } from './client/admin';
export type { ConsumerProgress, CreateTopicOptions, QueueProgress, QueryByKeyOptions as AdminQueryByKeyOptions } from './client/admin';
export type { BrokerAddress, BrokerInfo, ConsumerQueueProgress, QueueOffset, TopicQueueStats } from './client/transport';
