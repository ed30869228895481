import { expect } from 'chai';
import { SCENARIOS } from './scenarios';
import { stopChildren } from './kill';
import { DATA_DIR, EPOCH, judge, makePlan, replayLine, runPlan, simOptions, type Scenario, type ScenarioResult } from './harness';
import { VirtualClock } from '../../lib/common/clock';
import { makeBitFlipScenario } from './tail-damage';

// A new seed each run explores new cases; a failure prints the command that replays it.
const SEED = process.env['FAULT_SEED'] !== undefined ? Number(process.env['FAULT_SEED']) : Math.floor(Math.random() * 2 ** 31);

function scenario(name: string): Scenario {
  return SCENARIOS.find((s) => s.name === name)!;
}

async function fastSlice(name: string): Promise<ScenarioResult> {
  const sc = scenario(name);
  const r = await sc.run(sc.fast, SEED, () => undefined);
  const shown = r.failures.slice(0, 5).map((f) => `${replayLine(name, f.replay)}\n    ${f.violations.slice(0, 8).join('\n    ')}`);
  expect(r.failures, `${r.failures.length} of ${r.cases} cases failed (seed ${SEED}):\n${shown.join('\n')}`).to.have.length(0);
  return r;
}

describe('faults (fast slice; npm run test:faults for the full run)', function () {
  this.timeout(180_000);
  after(() => stopChildren());

  it('sigkill - a SYNC writer process killed at random moments >= 20 times: every acknowledged message is there', async () => {
    const r = await fastSlice('sigkill');
    expect(r.metrics!['syncKillsWhileWriting']).to.be.at.least(20);
    expect(r.metrics!['asyncKills']).to.be.at.least(1);
  });

  it('power-cut - >= 200 random SYNC crash points and every step of a workload: nothing acknowledged lost, nothing corrupt, log a prefix', async () => {
    const r = await fastSlice('power-cut');
    expect(r.metrics!['syncRandom']).to.be.at.least(200);
    expect(r.metrics!['syncAcked']).to.be.greaterThan(1000);
    // The oracle sees what a power cut may take in ASYNC mode, and unacknowledged puts that made it: the checks are not vacuous.
    expect(r.metrics!['asyncLostAllowed']).to.be.greaterThan(0);
    expect(r.metrics!['unackedPresent']).to.be.greaterThan(0);
    // The index survives a power cut once flushed: most recoveries are incremental (issue 10 item 2; all were full rebuilds).
    expect(r.metrics!['incremental']).to.be.greaterThan(2 * r.metrics!['full']);
  });

  it('power-cut - a later ConsumeQueue write that survived while the first entries did not does not hide those entries (regression)', async () => {
    // Found once incremental index recovery was reachable: the queue started at the surviving entry, entries 0..2 lost.
    expect(await scenario('power-cut').replay({ seed: 584651285, mode: 'SYNC', point: 89, crash: 3766117525, steps: 10 })).to.deep.equal([]);
    expect(await scenario('roll-and-checkpoint').replay({ seed: 3189914465, mode: 'SYNC', point: 91, crash: 1096941043, keep: 'random', steps: 16 })).to.deep.equal([]);
  });

  it('kill-power-cut - kill, reopen, puts or none, power cut, tails over several segments, SYNC and ASYNC: nothing acknowledged or served is lost, nothing damaged served, audit clean', async () => {
    const r = await fastSlice('kill-power-cut');
    expect(r.metrics!['states']).to.equal(scenario('kill-power-cut').fast);
    expect(r.metrics!['multiSegment']).to.be.at.least(5);
    expect(r.metrics!['incremental']).to.be.greaterThan(2 * r.metrics!['full']);
  });

  it('kill-power-cut - a segment the killed process created but never synced the name of survives the power cut after recovery wrote into it (regression)', async () => {
    expect(await scenario('kill-power-cut').replay({ seed: 2212179381, mode: 'ASYNC', kill: 114, cut: 75, crash: 1064381835, puts: false })).to.deep.equal([]);
  });

  it('kill-power-cut - a first open killed between making the data directory and syncing its parent: the next open syncs it (regression)', async () => {
    expect(await scenario('kill-power-cut').replay({ seed: 1832385252, mode: 'ASYNC', kill: 2, cut: 84, crash: 1828678523, puts: true })).to.deep.equal([]);
  });

  it('torn-tail - the last 3 records cut at every byte (zeros, garbage): recovery ends at the last whole record', async () => {
    const r = await fastSlice('torn-tail');
    expect(r.metrics!['cases']).to.be.greaterThan(300);
  });

  it('roll-and-checkpoint - power cut at each step of a segment roll and of a checkpoint write', async () => {
    const r = await fastSlice('roll-and-checkpoint');
    expect(r.metrics!['rolls']).to.be.greaterThan(10);
    expect(r.metrics!['checkpoints']).to.be.greaterThan(3);
  });

  it('fsync-eio - the k-th fsync fails: waiting puts reject FLUSH_FAILED, nothing acknowledged after it, store reopens clean', async () => {
    const r = await fastSlice('fsync-eio');
    expect(r.metrics!['fired']).to.be.at.least(scenario('fsync-eio').fast / 2);
    expect(r.metrics!['flushFailed']).to.be.greaterThan(0);
  });

  it('nth-io-fails - the N-th I/O fails once or for good: typed errors, reopen succeeds, audit clean', async () => {
    await fastSlice('nth-io-fails');
  });

  it('nth-io-fails - a failed creation of a precreated segment leaves no hole in the files (regression: reopen refused CORRUPT_STORE)', async () => {
    const run = await runPlan(makePlan(5, 'ASYNC', 16), (d) => d.fail({ kinds: ['open'], match: (op) => op.path.endsWith('/commitlog/00000000000000008192') }));
    expect(run.store!.stats().state).to.equal('read-only');
    await run.store!.close();
    run.disk.killProcess();
    run.disk.clearFaults();
    const v = await judge(DATA_DIR, simOptions(run.disk, new VirtualClock(EPOCH + 3_600_000), 'ASYNC'), run.oracle, { prefix: false });
    expect(v.violations).to.deep.equal([]);
  });

  it('bit-flip - one bit flipped in a random record: audit detects 100 %, and no read serves the record', async () => {
    const r = await fastSlice('bit-flip');
    expect(r.metrics!['detected']).to.equal(r.metrics!['trials']);
    expect(r.metrics!['servedCorrupt'] + r.metrics!['servedIntact']).to.equal(0);
  });

  it('bit-flip - a damaged record a read serves is a failure of the run, not a note (regression)', async () => {
    // With read verification off the store serves damaged records: the scenario must fail on each of them.
    const r = await makeBitFlipScenario({ verifyReads: false }).run(40, SEED, () => undefined);
    const served = r.metrics!['servedCorrupt']! + r.metrics!['servedIntact']!;
    expect(served).to.be.greaterThan(0);
    expect(r.metrics!['detected']).to.equal(40);
    expect(r.failures).to.have.length(served);
    expect(r.failures[0]!.violations.join('\n')).to.match(/a read served the record/);
  });

  it('enospc - ENOSPC in the middle of a CommitLog write: WRITE_FAILED, no partial record', async () => {
    const r = await fastSlice('enospc');
    expect(r.metrics!['writeFailed']).to.be.greaterThan(0);
  });

  it('enospc - close() on a full disk does not throw the raw error of a failed ConsumeQueue write (regression)', async () => {
    // The case the full run found: the disk fills up while the ConsumeQueues are written in the background.
    expect(await scenario('enospc').replay({ seed: 3909712128, mode: 'SYNC', k: 0, partial: 0, capacityPages: 9 })).to.deep.equal([]);
  });
});
