/**
 * Busy polling on the pool side (--poll-us): a worker out of work keeps looking for the next batch
 * for a while, so a guest waiting on each request costs no futex wake per request. Its own file:
 * the spin setting is process-wide.
 */
import test from 'ava';
import os from 'node:os';
import * as f from '../../src/native/fs.js';

async function sequentialStats(dfd: number, n: number): Promise<number> {
  const before = f.poolStats().wakes;
  for (let i = 0; i < n; i++) await f.statx(dfd, '', f.AT_EMPTY_PATH);
  return f.poolStats().wakes - before;
}

test.serial('one call at a time: a worker is woken for each without spin, hardly ever with it; the spin can be turned off again', async (t) => {
  const dfd = f.openatSync(f.AT_FDCWD, os.tmpdir(), f.O_PATH | f.O_DIRECTORY);
  await sequentialStats(dfd, 50); // the pool exists and its average is measured
  const plain = await sequentialStats(dfd, 200);
  t.true(plain >= 150, `without spin: ${plain} wakes for 200 calls made one at a time`);

  f.setPoolSpin(500_000); // half a second: longer than any gap between two awaited calls here
  await sequentialStats(dfd, 5);
  const spun = await sequentialStats(dfd, 200);
  t.true(spun <= 5, `with spin: ${spun} wakes for 200 calls`);

  f.setPoolSpin(0);
  await new Promise((r) => setTimeout(r, 600)); // the spinning worker gives up and sleeps
  const after = await sequentialStats(dfd, 200);
  t.true(after >= 150, `spin off again: ${after} wakes for 200 calls`);
  t.throws(() => f.setPoolSpin(2_000_000), { code: 'ERR_INVALID_ARG' });
  await f.close(dfd);
});
