/**
 * How every fuzz property runs: a fixed seed and a small budget under `npm test` (reproducible, under a
 * minute for all fuzz files together), a random seed and `--runs N` under `npm run fuzz` (run.ts sets
 * the environment variables below). A failure message carries the seed and the counterexample path, so
 * `VFS_FUZZ_SEED=<seed> VFS_FUZZ_PATH=<path>` replays exactly the failing case.
 *
 *   VFS_FUZZ_SEED   base seed (default FIXED_SEED)
 *   VFS_FUZZ_RUNS   cases per property (default: the property's own budget)
 *   VFS_FUZZ_PATH   replay one counterexample path (with its seed)
 *   VFS_FUZZ_STATS  append one JSON line per property (name, cases, ms) to this file: run.ts sums them
 */
import fs from 'node:fs';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';

/** The seed `npm test` uses: fixed, so a red run is the same red run on every machine. */
export const FIXED_SEED = 0x5eedf5;

export const SEED: number = process.env.VFS_FUZZ_SEED !== undefined ? Number(process.env.VFS_FUZZ_SEED) | 0 : FIXED_SEED;
const RUNS: number | undefined = process.env.VFS_FUZZ_RUNS !== undefined ? Math.max(1, Number(process.env.VFS_FUZZ_RUNS)) : undefined;
const PATH: string | undefined = process.env.VFS_FUZZ_PATH;

/** Whether the budget comes from `npm run fuzz` rather than the fixed `npm test` one. */
export const CUSTOM_BUDGET = RUNS !== undefined;

/** Cases to run for a property whose `npm test` budget is `defaultRuns`. */
export function runs(defaultRuns: number): number {
  return RUNS ?? defaultRuns;
}

export interface PropertyStats {
  name: string;
  cases: number;
  ms: number;
  seed: number;
}

/**
 * Check `prop` with the configured seed and budget; on failure fail the test with fast-check's report
 * (seed, path, shrunk counterexample). Logs cases and cases/s, and appends them to VFS_FUZZ_STATS.
 */
export async function checkProperty<Ts>(
  t: ExecutionContext,
  name: string,
  prop: fc.IAsyncProperty<Ts> | fc.IProperty<Ts>,
  defaultRuns: number,
  extra: Partial<fc.Parameters<Ts>> = {},
): Promise<PropertyStats> {
  const numRuns = runs(defaultRuns);
  const params: fc.Parameters<Ts> = { seed: SEED, numRuns, ...(PATH !== undefined ? { path: PATH } : {}), ...extra };
  const start = performance.now();
  const details = await fc.check(prop as fc.IAsyncProperty<Ts>, params);
  const ms = performance.now() - start;
  const stats: PropertyStats = { name, cases: details.numRuns + details.numShrinks, ms, seed: SEED };
  t.log(`${name}: ${details.numRuns} cases in ${(ms / 1000).toFixed(1)} s (${Math.round(details.numRuns / (ms / 1000))}/s), seed ${SEED}`);
  if (process.env.VFS_FUZZ_STATS) fs.appendFileSync(process.env.VFS_FUZZ_STATS, JSON.stringify(stats) + '\n');
  if (details.failed) {
    const err = details.errorInstance as Error | undefined;
    t.fail(`${name}\n${await fc.asyncDefaultReportMessage(details)}\nerror: ${err?.stack ?? String(err)}\nreplay: VFS_FUZZ_SEED=${SEED} VFS_FUZZ_PATH=${details.counterexamplePath ?? ''}`);
  }
  else t.pass();
  return stats;
}

/** Resolve after `ms`. Not unref'd: a test awaiting it must keep the event loop alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `cond` every millisecond or so until true; throws `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let spins = 0;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    // A few event-loop turns first (cheap), then real sleeps.
    if (spins++ < 20) await new Promise((r) => setImmediate(r));
    else await sleep(1);
  }
}

/** Race `p` against a timeout that throws `what` (a hang in the code under test). */
export async function within<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
