/**
 * The coverage-guided fuzzer (test/fuzz/coverage; `npm run fuzz:coverage` for real runs) in a short,
 * fixed-seed run per target: no decoder crashes or breaks its round trip, and the coverage feedback
 * pays: with the same seed and number of executions, the guided run reaches more of the decoders'
 * blocks than a blind run that only ever mutates the seeds. Each run is its own process: V8 recompiles
 * with block counters when coverage starts, so two runs in one process would not start even.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { TARGETS } from './coverage/targets.js';
import { CUSTOM_BUDGET, SEED, runs } from './helpers/fuzz.js';

const main = path.join(path.dirname(fileURLToPath(import.meta.url)), 'coverage/main.js');

interface Run {
  execs: number;
  ms: number;
  corpus: number;
  seedFeatures: number;
  features: number;
  crashes: { signature: string; input: string }[];
}

function run(target: string, execs: number, blind: boolean): Run {
  const out = execFileSync(process.execPath, [main, '--target', target, '--seed', String(SEED), '--execs', String(execs), '--time', '3600', '--json', ...(blind ? ['--blind'] : [])], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
}

for (const target of TARGETS) {
  test.serial(`coverage-guided fuzz of the ${target.name} decoders: no crash, no broken round trip, more coverage than blind mutation`, (t) => {
    const execs = CUSTOM_BUDGET ? Math.max(runs(0), 15_000) : 2500;
    let r: Run;
    try {
      r = run(target.name, execs, false);
    } catch (e) {
      // main.js exits 1 when something crashed; its JSON line says what.
      r = JSON.parse(String((e as { stdout?: string }).stdout ?? '{}').trim().split('\n').pop() ?? '{}') as Run;
    }
    const blind = run(target.name, r.execs, true);
    t.log(`${target.name}: ${r.execs} execs in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.execs / (r.ms / 1000))}/s), corpus ${r.corpus}, features ${r.seedFeatures} -> ${r.features}; blind: ${blind.features}; seed ${SEED}`);
    for (const c of r.crashes ?? []) t.log(`crash: ${c.signature}\ninput ${c.input}`);
    t.deepEqual(r.crashes, []);
    // At this budget the margin is real but small for the FUSE target (a few %; ~30% for vhost-user at
    // 15,000 executions), so it is asserted for the fixed seed only, where the result is reproducible.
    if (!CUSTOM_BUDGET) t.true(r.features > blind.features, `guided ${r.features} features, blind ${blind.features}`);
  });
}
