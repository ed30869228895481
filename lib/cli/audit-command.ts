import { audit, type AuditProgress, type AuditReport } from '../store/audit';

const USAGE = `usage: keelmq audit <data-dir> [--json] [--no-record-crc]

Checks every CommitLog record (sizes, magic, body and record CRCs, offsets)
and every ConsumeQueue entry of a data directory, without writing to it and
without taking its lock: audit a closed store.

  --json            print the report as JSON
  --no-record-crc   do not require the __CRC32# whole-record CRC (stores opened with wholeRecordCrc: false)

exit status: 0 no damage, 1 damage found, 2 usage or I/O error`;

export interface CommandStreams {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
}

/** `keelmq audit`: returns the exit code (0 clean, 1 damage, 2 usage or I/O error). */
export async function auditCommand(args: string[], streams: CommandStreams = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { out, err } = streams;
  let json = false;
  let requireRecordCrc = true;
  const dirs: string[] = [];
  for (const a of args) {
    if (a === '--help' || a === '-h') { out.write(USAGE + '\n'); return 0; }
    if (a === '--json') json = true;
    else if (a === '--no-record-crc') requireRecordCrc = false;
    else if (a.startsWith('-')) { err.write(`keelmq audit: unknown option ${a}\n${USAGE}\n`); return 2; }
    else dirs.push(a);
  }
  if (dirs.length !== 1) { err.write(`keelmq audit: expected one data directory\n${USAGE}\n`); return 2; }
  // Progress only for a person watching: on a terminal, at most every 250 ms, on stderr.
  let last = 0;
  const onProgress = err.isTTY ? (p: AuditProgress) => {
    const now = Date.now();
    if (now - last < 250) return;
    last = now;
    err.write(`\r${p.phase} ${p.total ? Math.floor((100 * p.done) / p.total) : 100} %   `);
  } : undefined;
  let report: AuditReport;
  try {
    report = await audit(dirs[0]!, { requireRecordCrc, onProgress });
  } catch (e) {
    if (onProgress) err.write('\r');
    err.write(`keelmq audit: ${(e as Error).message}\n`);
    return 2;
  }
  if (onProgress) err.write('\r                         \r');
  if (json) {
    out.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    out.write(`${report.ok ? 'ok' : 'DAMAGED'}: ${report.records} records in ${report.segments} CommitLog segments (log ${report.minOffset}..${report.logEnd}), ${report.entries} entries in ${report.queues} queues, ${report.damageCount} damage\n`);
    for (const d of report.damage) out.write(`${d.file} @${d.offset} ${d.kind}: ${d.detail}\n`);
    if (report.damageCount > report.damage.length) out.write(`... and ${report.damageCount - report.damage.length} more\n`);
    if (!report.ok && !report.cleanShutdown) out.write('note: the store was not closed cleanly; opening it once lets recovery repair a damaged tail\n');
  }
  return report.ok ? 0 : 1;
}
