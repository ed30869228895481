/**
 * Entry of the CRC worker thread (see CrcWorker): stamps the records of each
 * shared buffer it is sent, then answers with the job id.
 */
import { parentPort } from 'worker_threads';
import { stampRecords } from './message-codec';

export interface StampJob {
  id: number;
  buffer: SharedArrayBuffer;
  byteOffset: number;
  length: number;
  wholeCrc: boolean;
}

parentPort!.on('message', (job: StampJob) => {
  stampRecords(Buffer.from(job.buffer, job.byteOffset, job.length), 0, job.length, job.wholeCrc);
  parentPort!.postMessage(job.id);
});
