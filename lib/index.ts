/**
 * keelmq — a durable message store for TypeScript on the storage design of Apache RocketMQ.
 * This file is the public API; everything else is internal.
 */
export { MessageStore } from './store/message-store';
export type { MessageFilter, StoreStats } from './store/message-store';
export type { Message, MessageExt, PutResult, PutStatus, GetMessagesResult, GetStatus, QueueEntry } from './store/message';
export { defaultOptions, DEFAULT_COMMITLOG_SEGMENT_SIZE, DEFAULT_CONSUMEQUEUE_ENTRIES, DEFAULT_MAX_BODY_SIZE } from './store/options';
export type { StoreOptions, FlushMode, RecoveryProgress } from './store/options';
export type { RecoveryReport } from './store/recovery';
export { KeelError, isKeelError } from './errors';
export type { KeelErrorCode } from './errors';
export type { Clock, TimerHandle } from './clock';
export { systemClock, VirtualClock } from './clock';
export type { FileIO, FileHandle, FileStat, DiskSpace, FileLock } from './io/file-io';
export { NodeFileIO, nodeFileIO } from './io/node-file-io';
export { SimDisk } from './io/sim-disk';
