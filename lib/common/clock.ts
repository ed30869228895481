/**
 * Time is injected so that tests can run delay levels, flush intervals and
 * retention in virtual time instead of sleeping.
 */
export interface TimerHandle { cancel(): void }

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    // Background services must never keep a process alive on their own.
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A clock that only moves when told to; due timers run in time order on advance(). */
export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void; live: boolean }[] = [];

  constructor(start = 0) { this.time = start; }

  now(): number { return this.time; }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.timers.push(t);
    return { cancel: () => { t.live = false; } };
  }

  /** Moves time forward by `ms`, running every timer that falls due, with pauses for I/O between them. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      this.timers = this.timers.filter((t) => t.live);
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = Math.max(this.time, next.at);
      next.live = false;
      next.fn();
      await settle();
    }
    this.time = end;
    await settle();
  }

  pendingTimers(): number { return this.timers.filter((t) => t.live).length; }
}

/** Lets promise chains and pending I/O callbacks run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
