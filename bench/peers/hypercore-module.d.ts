// hypercore ships no types; only what bench/peers/hypercore.ts uses.
declare module 'hypercore' {
  import type { Readable } from 'node:stream';
  class Hypercore {
    constructor(storage: string, options?: Record<string, unknown>);
    ready(): Promise<void>;
    append(block: Buffer | Buffer[]): Promise<{ length: number; byteLength: number }>;
    createReadStream(options?: { start?: number; end?: number }): Readable & AsyncIterable<unknown>;
    close(): Promise<void>;
  }
  export = Hypercore;
}
