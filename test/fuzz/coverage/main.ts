/**
 * `npm run fuzz:coverage`: coverage-guided fuzzing of the pure decoders (see engine.ts for how and why).
 *
 *   npm run fuzz:coverage -- [--target vhost-user|fuse|all] [--time SECONDS] [--execs N] [--seed N]
 *                            [--corpus DIR] [--max-len N] [--blind] [--json]
 *
 * --blind ignores coverage (mutates the seeds only): the baseline that shows what the feedback buys.
 * --json prints one JSON line per target instead of the text report (tests read it).
 *
 * With --corpus, each target's corpus is read from and saved to DIR/<target>/ (one file per input,
 * named by hash), and crashing inputs to DIR/<target>/crash-<hash>. Prints, per target: executions,
 * executions per second, corpus size, coverage features (seeds alone vs. at the end), crashes with their
 * input in hex. Exits 1 if anything crashed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fuzz } from './engine.js';
import { TARGETS } from './targets.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const which = arg('target') ?? 'all';
const seconds = Number(arg('time') ?? 60);
const seed = arg('seed') !== undefined ? Number(arg('seed')) | 0 : crypto.randomInt(1, 2 ** 31 - 1);
const corpusDir = arg('corpus');
const maxLen = Number(arg('max-len') ?? 4096);
const maxExecs = arg('execs') !== undefined ? Number(arg('execs')) : undefined;
const blind = process.argv.includes('--blind');
const json = process.argv.includes('--json');
const targets = TARGETS.filter((t) => which === 'all' || t.name === which);
if (targets.length === 0) {
  console.error(`unknown target ${which}; targets: ${TARGETS.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

const hash = (b: Uint8Array) => crypto.createHash('sha1').update(b).digest('hex').slice(0, 16);
let crashed = false;
if (!json) console.log(`fuzz:coverage: seed ${seed}, ${seconds} s${maxExecs !== undefined ? ` or ${maxExecs} executions` : ''} per target${blind ? ', blind' : ''}`);
for (const t of targets) {
  const dir = corpusDir !== undefined ? path.join(corpusDir, t.name) : undefined;
  const saved = dir !== undefined && fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('crash-')).map((f) => new Uint8Array(fs.readFileSync(path.join(dir, f)))) : [];
  let last = 0;
  const r = fuzz(t, {
    seed,
    timeMs: seconds * 1000,
    maxExecs,
    maxLen,
    blind,
    onEvent: (what) => {
      if (json) return;
      if (what.startsWith('crash') || Date.now() - last > 2000) {
        last = Date.now();
        console.log(`  ${t.name}: ${what}`);
      }
    },
  }, saved);
  if (json) console.log(JSON.stringify({ target: t.name, seed, execs: r.execs, ms: r.ms, corpus: r.corpus.length, seedFeatures: r.seedFeatures, features: r.features, crashes: r.crashes.map((c) => ({ signature: c.signature, input: Buffer.from(c.input).toString('hex') })) }));
  else console.log(`${t.name}: ${r.execs} execs in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.execs / (r.ms / 1000))}/s), corpus ${r.corpus.length} (${saved.length} loaded), features ${r.seedFeatures} from the seeds -> ${r.features}, slowest input ${r.slowest.ms.toFixed(1)} ms, crashes ${r.crashes.length}`);
  if (dir !== undefined) {
    fs.mkdirSync(dir, { recursive: true });
    for (const c of r.corpus) fs.writeFileSync(path.join(dir, hash(c)), c);
    for (const c of r.crashes) fs.writeFileSync(path.join(dir, `crash-${hash(c.input)}`), c.input);
  }
  // A decoder is linear in its input: a slow one is worth a look (it may also be a GC pause).
  if (!json && r.slowest.ms > 50) console.log(`  slowest input (${r.slowest.ms.toFixed(0)} ms, hex): ${Buffer.from(r.slowest.input).toString('hex')}`);
  for (const c of r.crashes) {
    crashed = true;
    console.log(`\nCRASH in ${t.name}: ${c.signature}\ninput (hex): ${Buffer.from(c.input).toString('hex')}\n${c.error}\n`);
  }
}
process.exit(crashed ? 1 : 0);
