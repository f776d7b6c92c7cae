/**
 * `npm run fuzz`: the fuzz properties of test/fuzz with a random seed and a bigger budget.
 *
 *   npm run fuzz -- [--runs N] [--seed S] [--match 'ava title pattern'] [--timeout 60m]
 *
 * Prints the seed first (a failure replays with `VFS_FUZZ_SEED=S VFS_FUZZ_RUNS=N`, plus the
 * VFS_FUZZ_PATH fast-check reports), runs ava on dist/test/fuzz with VFS_FUZZ_SEED / VFS_FUZZ_RUNS
 * set, then prints cases and cases per second for every property. Exits with ava's status.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PropertyStats } from './helpers/fuzz.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = process.argv[i + 1];
  if (v === undefined) {
    console.error(`--${name} needs a value`);
    process.exit(2);
  }
  return v;
}

const seed = arg('seed') !== undefined ? Number(arg('seed')) | 0 : crypto.randomInt(1, 2 ** 31 - 1);
const runs = Number(arg('runs') ?? 2000);
const match = arg('match');
const timeout = arg('timeout') ?? '60m';
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, got ${arg('runs')}`);
  process.exit(2);
}

const statsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-fuzz-')), 'stats.jsonl');
console.log(`fuzz: seed ${seed}, ${runs} cases per property${match ? `, matching ${match}` : ''}`);
const ava = path.join(root, 'node_modules/ava/entrypoints/cli.mjs');
const start = Date.now();
const r = spawnSync(process.execPath, [ava, '--timeout', timeout, 'dist/test/fuzz/**/*.test.js', ...(match ? ['--match', match] : [])], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, VFS_FUZZ_SEED: String(seed), VFS_FUZZ_RUNS: String(runs), VFS_FUZZ_STATS: statsFile },
});

const stats: PropertyStats[] = fs.existsSync(statsFile)
  ? fs.readFileSync(statsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as PropertyStats)
  : [];
fs.rmSync(path.dirname(statsFile), { recursive: true, force: true });
const pad = (s: string, n: number) => s.padEnd(n);
console.log(`\n${pad('property', 32)} ${'cases'.padStart(8)} ${'seconds'.padStart(8)} ${'cases/s'.padStart(8)}`);
let total = 0;
for (const s of stats.sort((a, b) => a.name.localeCompare(b.name))) {
  total += s.cases;
  console.log(`${pad(s.name, 32)} ${String(s.cases).padStart(8)} ${(s.ms / 1000).toFixed(1).padStart(8)} ${String(Math.round(s.cases / (s.ms / 1000))).padStart(8)}`);
}
console.log(`\n${total} cases in ${((Date.now() - start) / 1000).toFixed(0)} s, seed ${seed}. Replay: VFS_FUZZ_SEED=${seed} VFS_FUZZ_RUNS=${runs} npx ava 'dist/test/fuzz/**/*.test.js'`);
process.exit(r.status ?? 1);
