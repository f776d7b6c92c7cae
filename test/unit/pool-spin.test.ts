/**
 * Busy polling on the pool side (--poll-us): a worker out of work keeps looking for the next batch
 * for a while, so a guest waiting on each request costs no futex wake per request. Its own file:
 * the spin setting is process-wide.
 *
 * The counts do not depend on scheduling: without spin each call is made once every worker sleeps
 * (so it must wake one); with spin the next call comes while the spinning worker is still awake.
 */
import test from 'ava';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import * as f from '../../src/native/fs.js';

/** Resolves once every pool worker sleeps; false if that did not happen within `ms`. */
async function allAsleep(ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    const s = f.poolStats();
    if (s.threads > 0 && s.idle === s.threads) return true;
    if (Date.now() > until) return false;
    await sleep(1);
  }
}

/** `n` calls one at a time, each once the pool is asleep (or, with `waitAsleep` false, right away); the wakes they cost. */
async function calls(dfd: number, n: number, waitAsleep: boolean): Promise<number> {
  let wakes = 0;
  for (let i = 0; i < n; i++) {
    if (waitAsleep && !(await allAsleep(5_000))) throw new Error('the pool did not go to sleep between calls');
    const before = f.poolStats().wakes;
    await f.statx(dfd, '', f.AT_EMPTY_PATH);
    wakes += f.poolStats().wakes - before;
  }
  return wakes;
}

test.serial('without spin a call to a sleeping pool wakes a worker; with it the spin grows while calls follow each other and then none is woken; pauses shrink it; turned off, the pool sleeps again', async (t) => {
  const dfd = f.openatSync(f.AT_FDCWD, os.tmpdir(), f.O_PATH | f.O_DIRECTORY);
  await calls(dfd, 5, false); // the pool exists
  t.is(await calls(dfd, 20, true), 20, 'without spin: one wake per call to a sleeping pool');

  f.setPoolSpin(500_000); // at most half a second: longer than any gap between two calls here
  t.is(f.poolStats().spinNs, 0, 'the spin starts at nothing');
  // Each batch released after the spin (but within the longest) doubles it from 4 µs: a few dozen
  // calls in a row make it cover the gap between two of them.
  await calls(dfd, 40, false);
  t.true(f.poolStats().spinNs > 0, `the spin grew: ${f.poolStats().spinNs} ns`);
  t.true((await calls(dfd, 200, false)) <= 4, 'with spin: 200 calls in a row wake (almost) no worker');

  // Pauses longer than the longest spin halve it, down to nothing.
  f.setPoolSpin(1_000); // at most 1 ms
  await calls(dfd, 40, false);
  const grown = f.poolStats().spinNs;
  t.true(grown > 0 && grown <= 1_000_000, `grown again, within 1 ms: ${grown} ns`);
  for (let i = 0; i < 12; i++) {
    await sleep(20);
    await calls(dfd, 1, false);
  }
  t.is(f.poolStats().spinNs, 0, `calls 20 ms apart get no spin (it was ${grown} ns)`);

  f.setPoolSpin(0);
  t.true(await allAsleep(5_000), 'spin off: the spinning worker gives up and sleeps');
  t.is(await calls(dfd, 20, true), 20, 'spin off again: one wake per call');
  t.throws(() => f.setPoolSpin(2_000_000), { code: 'ERR_INVALID_ARG' });
  await f.close(dfd);
});
