/**
 * --thread-pool-size is the worker pool's size: exactly that many workers once calls start (below the
 * default of 4 too), and a started pool only grows. The pool is process-wide, so each case runs in a
 * fresh node process.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FS = new URL('../../src/native/fs.js', import.meta.url).href;

/** Set the size to each of `sizes` in turn, with calls made after the first; the worker count after each. */
async function threadsAfter(sizes: number[]): Promise<number[]> {
  const script = `
    import * as f from ${JSON.stringify(FS)};
    const out = [];
    for (const n of ${JSON.stringify(sizes)}) {
      f.setThreadPoolSize(n);
      await Promise.all(Array.from({ length: 32 }, () => f.statx(f.AT_FDCWD, '/', 0)));
      out.push(f.poolStats().threads);
    }
    console.log(JSON.stringify(out));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  return JSON.parse(stdout) as number[];
}

test('the size set before the first call is the number of workers, 1 and 2 included', async (t) => {
  t.deepEqual(await threadsAfter([1]), [1]);
  t.deepEqual(await threadsAfter([2]), [2]);
  t.deepEqual(await threadsAfter([16]), [16]);
});

test('a started pool grows to a larger size and keeps its workers when asked for fewer', async (t) => {
  t.deepEqual(await threadsAfter([1, 3, 2]), [1, 3, 3]);
});
