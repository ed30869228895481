/**
 * Every error keelmq raises on purpose is a KeelError with a stable `code`.
 * Messages may change between versions; codes do not (they are listed in the README).
 */
export type KeelErrorCode =
  | 'STORE_LOCKED'          // another process (or handle) holds the data directory
  | 'STORE_CLOSED'          // the store was closed
  | 'STORE_READ_ONLY'       // a write or fsync failed earlier; reopen to recover
  | 'BODY_TOO_LARGE'
  | 'TOPIC_INVALID'         // empty, too long, or with forbidden characters
  | 'PROPERTIES_TOO_LONG'
  | 'PROPERTY_INVALID'      // a property name or value containing the 0x01 / 0x02 separators
  | 'QUEUE_INVALID'         // queue id out of range, or unknown
  | 'TOPIC_NOT_FOUND'
  | 'TOPIC_RESERVED'        // a user send to an internal topic (SCHEDULE_TOPIC_XXXX, %RETRY%..., %DLQ%...)
  | 'BATCH_TOO_LARGE'       // a batch that cannot fit in one CommitLog segment
  | 'DISK_FULL'             // disk usage above the warning ratio: puts rejected until it falls
  | 'WRITE_FAILED'          // a write to the CommitLog failed (ENOSPC, EIO): the puts of that write are rejected
  | 'FLUSH_FAILED'          // fdatasync failed: nothing it covered is acknowledged; the store turns read-only
  | 'CORRUPT_STORE'         // a structural invariant of the files does not hold
  | 'OPTION_INVALID'
  | 'IO_ERROR'              // the disk failed an operation while opening the store (the errno is the cause)
  | 'NOT_FOUND'
  | 'OFFSET_INVALID'
  | 'SUBSCRIPTION_INVALID'  // a tag expression that does not parse
  | 'DELAY_LEVEL_INVALID'   // a delay level outside 1..number of configured levels
  | 'DEAD_LETTER_RESENT'    // resendDeadLetter of a dead letter that was resent already
  | 'GROUP_IN_USE'          // a second push consumer of a group with the same client id started in the same broker
  | 'OFFSET_FILE_INVALID'   // a broadcasting consumer's local offset file does not parse
  | 'BROKER_IN_USE'         // a second EmbeddedBroker opened on a store that already has one
  | 'CLIENT_STATE'          // a producer or consumer used before start() or after shutdown()
  | 'REMOTING_FRAME_INVALID'      // a remoting frame that is malformed or over the size limit
  | 'REMOTING_REQUEST_INVALID'    // a request whose header field or body is missing or does not parse
  | 'REMOTING_TIMEOUT'            // no response within the invoke timeout
  | 'REMOTING_CONNECT_FAILED'
  | 'REMOTING_LISTEN_FAILED'      // a server cannot listen on its address (in use, not local); the errno is the cause
  | 'REMOTING_CONNECTION_CLOSED'  // the connection closed before the response arrived
  | 'REMOTING_ERROR_RESPONSE'     // the peer answered with an error code (RemotingResponseError.responseCode)
  | 'REMOTING_TOO_MANY_REQUESTS'  // too many async or oneway requests in flight
  | 'REPLICA_INVALID'             // bytes offered to a replica that are not whole, valid, contiguous records at its end
  | 'REPLICA_DIVERGED'            // a slave's log differs from its master's: it serves nothing until truncated
  | 'NOT_MASTER'                  // a write or a promotion refused by a broker in the wrong role
  | 'SEND_FAILED';                // every attempt of a send (the first and its retries) failed; the last failure is the cause

export class KeelError extends Error {
  readonly code: KeelErrorCode;
  constructor(code: KeelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeelError';
    this.code = code;
  }
}

export function isKeelError(e: unknown, code?: KeelErrorCode): e is KeelError {
  return e instanceof KeelError && (code === undefined || e.code === code);
}
