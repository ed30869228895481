/**
 * Progress on stderr: one line per workload, and while a workload runs a
 * progress line (rewritten in place on a terminal, every 5 s otherwise) so a
 * long phase never looks hung. stdout stays reserved for the result table.
 */
export class Progress {
  private label = '';
  private startedAt = 0;
  private lastPrint = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly interval = this.tty ? 250 : 5000;

  private index = 0;

  constructor(private readonly total: number) {}

  begin(label: string): void {
    this.index++;
    this.label = `[${this.index}/${this.total}] ${label}`;
    this.startedAt = Date.now();
    this.lastPrint = this.startedAt;
    if (this.tty) process.stderr.write(`\r\x1b[K${this.label} …`);
  }

  /** Cheap enough to call on every operation; prints only when due. */
  update(done: number, total?: number, unit = 'msgs'): void {
    const t = Date.now();
    if (t - this.lastPrint < this.interval) return;
    this.lastPrint = t;
    const of = total === undefined ? '' : ` of ${total.toLocaleString('en-US')}`;
    const text = `${this.label} … ${done.toLocaleString('en-US')}${of} ${unit}, ${((t - this.startedAt) / 1000).toFixed(1)} s`;
    process.stderr.write(this.tty ? `\r\x1b[K${text}` : `${text}\n`);
  }

  end(result: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${this.label} → ${result}\n`);
  }

  /** A line outside the workload count (setup, cleanup, warnings). */
  note(text: string): void {
    process.stderr.write(`${this.tty ? '\r\x1b[K' : ''}${text}\n`);
  }
}
