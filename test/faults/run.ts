/**
 * The full crash and fault run:
 *
 *   npm run test:faults -- [--iterations N] [--seed S] [--scenario a,b] [--fast]
 *   npm run test:faults -- --replay '<json a failure printed>'
 *
 * Without --iterations each scenario runs its full count (--fast: the slice
 * npm test runs). Prints progress and a summary; exits 1 on any failure, each
 * printed with the command that replays it.
 */
import { SCENARIOS } from './scenarios';
import { stopChildren } from './kill';
import { replayLine, type Failure } from './harness';

function usage(msg: string): never {
  console.error(`${msg}\nusage: run.js [--iterations N] [--seed S] [--scenario ${SCENARIOS.map((s) => s.name).join(',')}] [--fast] | --replay JSON`);
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const opt: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) usage(`unexpected ${a}`);
    if (a === '--fast') opt['fast'] = true;
    else if (argv[i + 1] === undefined) usage(`${a} needs a value`);
    else opt[a.slice(2)] = argv[++i]!;
  }
  if (typeof opt['replay'] === 'string') {
    const p = JSON.parse(opt['replay']) as Record<string, unknown>;
    const sc = SCENARIOS.find((s) => s.name === p['scenario']) ?? usage(`no scenario ${String(p['scenario'])}`);
    const violations = await sc.replay(p);
    for (const v of violations) console.log(`  ${v}`);
    console.log(violations.length ? `FAILED: ${violations.length} violations` : 'passed');
    return violations.length ? 1 : 0;
  }
  const seed = opt['seed'] !== undefined ? Number(opt['seed']) : Math.floor(Math.random() * 2 ** 31);
  const only = typeof opt['scenario'] === 'string' ? opt['scenario'].split(',') : null;
  const iterations = opt['iterations'] !== undefined ? Number(opt['iterations']) : null;
  if (!Number.isSafeInteger(seed) || (iterations !== null && !(iterations >= 1))) usage('--seed and --iterations take integers (iterations >= 1)');
  const chosen = SCENARIOS.filter((s) => !only || only.includes(s.name));
  if (only && chosen.length !== only.length) usage(`unknown scenario in ${only.join(',')}`);
  console.log(`keelmq crash and fault run, seed ${seed}`);
  const summary: string[] = [];
  let failed = 0;
  for (const sc of chosen) {
    const n = iterations ?? (opt['fast'] ? sc.fast : sc.full);
    console.log(`\n== ${sc.name}: ${n} ${sc.unit}`);
    const t0 = Date.now();
    let lastPrint = 0;
    const r = await sc.run(n, seed, (done, total) => {
      const now = Date.now();
      if (now - lastPrint < 2000 && done < total) return;
      lastPrint = now;
      console.log(`   ${sc.name} ${done}/${total} (${Math.round((now - t0) / 1000)} s)`);
    });
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    for (const note of r.notes) console.log(`   ${note}`);
    printFailures(sc.name, r.failures);
    failed += r.failures.length;
    summary.push(`${r.failures.length ? 'FAIL' : 'ok  '} ${sc.name}: ${r.cases} cases, ${r.failures.length} failed, ${secs} s`);
  }
  console.log(`\nsummary (seed ${seed}):\n${summary.map((s) => `  ${s}`).join('\n')}`);
  return failed ? 1 : 0;
}

function printFailures(name: string, failures: Failure[]): void {
  for (const f of failures.slice(0, 20)) {
    console.log(`   FAILED: ${replayLine(name, f.replay)}`);
    for (const v of f.violations.slice(0, 12)) console.log(`     ${v}`);
    if (f.violations.length > 12) console.log(`     ... ${f.violations.length - 12} more`);
  }
  if (failures.length > 20) console.log(`   ... ${failures.length - 20} more failures`);
}

main(process.argv.slice(2)).then(
  (code) => { stopChildren(); process.exit(code); },
  (e: unknown) => { stopChildren(); console.error(e); process.exit(1); },
);
