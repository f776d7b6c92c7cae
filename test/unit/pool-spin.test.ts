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

test.serial('without spin a call to a sleeping pool wakes a worker; with it a worker stays awake between calls and none is woken; turned off, the pool sleeps again', async (t) => {
  const dfd = f.openatSync(f.AT_FDCWD, os.tmpdir(), f.O_PATH | f.O_DIRECTORY);
  await calls(dfd, 5, false); // the pool exists
  t.is(await calls(dfd, 20, true), 20, 'without spin: one wake per call to a sleeping pool');

  f.setPoolSpin(500_000); // half a second: longer than any gap between two calls here
  await calls(dfd, 1, true); // this one wakes a worker, which then spins
  t.false(await allAsleep(50), 'with spin: a worker stays awake after its call');
  t.true((await calls(dfd, 200, false)) <= 2, 'with spin: 200 calls in a row wake (almost) no worker');

  f.setPoolSpin(0);
  t.true(await allAsleep(5_000), 'spin off: the spinning worker gives up and sleeps');
  t.is(await calls(dfd, 20, true), 20, 'spin off again: one wake per call');
  t.throws(() => f.setPoolSpin(2_000_000), { code: 'ERR_INVALID_ARG' });
  await f.close(dfd);
});
