/**
 * Entry of the CRC worker thread (see CrcWorker): stamps the records of each
 * buffer it is sent, then hands the buffer back with the job id. Buffers are
 * transferred, not shared: copying message bodies into a SharedArrayBuffer
 * costs the main thread several times a plain memcpy.
 */
import { parentPort } from 'worker_threads';
import { stampRecords } from './message-codec';

export interface StampJob {
  id: number;
  buffer: ArrayBuffer;
  length: number;
  wholeCrc: boolean;
}

export interface StampDone {
  id: number;
  buffer: ArrayBuffer;
}

parentPort!.on('message', (job: StampJob) => {
  stampRecords(Buffer.from(job.buffer, 0, job.length), 0, job.length, job.wholeCrc);
  const done: StampDone = { id: job.id, buffer: job.buffer };
  parentPort!.postMessage(done, [job.buffer]);
});
