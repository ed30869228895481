import { audit, type AuditProgress, type AuditReport } from '../store/audit';
import { isKeelError } from '../common/errors';
import { UsageError, parseCommandArgs } from './args';

const USAGE = `usage: keelmq audit <data-dir> [--json] [--no-record-crc]

Checks every CommitLog record (sizes, magic, body and record CRCs, offsets)
and every ConsumeQueue entry of a data directory, without writing to it and
without taking its lock: audit a closed store.

  --json            print the report as JSON
  --no-record-crc   do not require the __CRC32# whole-record CRC (stores opened with wholeRecordCrc: false)

exit status: 0 no damage, 1 damage found, 2 not a store, usage or I/O error`;

export interface CommandStreams {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown; isTTY?: boolean };
}

/** `keelmq audit`: returns the exit code (0 clean, 1 damage, 2 not a store, usage or I/O error). */
export async function auditCommand(args: string[], streams: CommandStreams = { out: process.stdout, err: process.stderr }): Promise<number> {
  const { out, err } = streams;
  let parsed;
  try {
    parsed = parseCommandArgs(args, { json: { type: 'boolean' }, 'no-record-crc': { type: 'boolean' } }, { min: 1, max: 1, what: 'one data directory' });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`keelmq audit: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values['help']) { out.write(USAGE + '\n'); return 0; }
  const json = values['json'] === true;
  const requireRecordCrc = values['no-record-crc'] !== true;
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
    report = await audit(positionals[0]!, { requireRecordCrc, onProgress });
  } catch (e) {
    if (onProgress) err.write('\r');
    err.write(`keelmq audit: ${(e as Error).message}\n`);
    // A layout too broken to walk is damage; not a store, or a failing disk, is not.
    return isKeelError(e, 'CORRUPT_STORE') ? 1 : 2;
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
