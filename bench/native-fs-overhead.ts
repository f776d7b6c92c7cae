/**
 * Per-call overhead of the async fs shims: N fstatat-style statx calls on one tmp file, with a
 * window of calls in flight, against Node's own fs on the JS thread and on libuv's pool.
 * `napi_async_work` rows run the same statx op through libuv's pool (Node-API's async work), the
 * design the private pool replaced; with creds it must switch back after every call, as libuv's
 * threads also run Node's own work. Best of 3 runs per row.
 * Prints a table. Run: `node dist/bench/native-fs-overhead.js [calls]` (default 100000).
 */
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as f from '../src/native/fs.js';
import { windowed } from './micro.js';

const N = Number(process.argv[2] ?? 100_000);
const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-bench-'));
const file = path.join(dir, 'target');
nodefs.writeFileSync(file, 'x');
nodefs.chmodSync(dir, 0o755); // searchable for the creds rows
const dfd = f.openatSync(f.AT_FDCWD, dir, f.O_RDONLY | f.O_DIRECTORY);
const raw = (createRequire(import.meta.url)(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../build/Release/vfsnative.node')) as {
  fs: Record<string, (...a: unknown[]) => Promise<unknown>>;
}).fs;

function sync(call: () => unknown): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) call();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const A = { uid: 1234, gid: 5678 };
const B = { uid: 4321, gid: 8765 };
let flip = 0;
const rows: [string, string, () => Promise<number>][] = [
  ['node fs.statSync', 'JS thread', async () => sync(() => nodefs.statSync(file))],
  ['statxSync (ours)', 'JS thread', async () => sync(() => f.statxSync(dfd, 'target', 0))],
  ['node fs.promises.stat', 'w=1', () => windowed(N, 1, () => nodefs.promises.stat(file))],
  ['node fs.promises.stat', 'w=64', () => windowed(N, 64, () => nodefs.promises.stat(file))],
  ['napi_async_work statx (raw Buffer)', 'w=1', () => windowed(N, 1, () => raw.benchStatxAsyncWork!(dfd, 'target', 0, f.STATX_DEFAULT))],
  ['napi_async_work statx (raw Buffer)', 'w=64', () => windowed(N, 64, () => raw.benchStatxAsyncWork!(dfd, 'target', 0, f.STATX_DEFAULT))],
  ['pool statx (raw Buffer)', 'w=1', () => windowed(N, 1, () => raw.statx!(dfd, 'target', 0, f.STATX_DEFAULT))],
  ['pool statx (raw Buffer)', 'w=64', () => windowed(N, 64, () => raw.statx!(dfd, 'target', 0, f.STATX_DEFAULT))],
  ['pool statx (decoded)', 'w=1', () => windowed(N, 1, () => f.statx(dfd, 'target', 0))],
  ['pool statx (decoded)', 'w=64', () => windowed(N, 64, () => f.statx(dfd, 'target', 0))],
  ['pool statx, same creds', 'w=64', () => windowed(N, 64, () => f.statx(dfd, 'target', 0, undefined, A))],
  ['pool statx, alternating creds', 'w=64', () => windowed(N, 64, () => f.statx(dfd, 'target', 0, undefined, flip++ % 2 ? A : B))],
  ['napi_async_work statx, same creds', 'w=64', () => windowed(N, 64, () => raw.benchStatxAsyncWork!(dfd, 'target', 0, f.STATX_DEFAULT, A))],
];

const root = process.getuid?.() === 0;
console.log(`${N} calls each, ${os.cpus().length} cores, pool ${f.poolStats().threads || 4} threads, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`);
console.log(`${'call'.padEnd(38)} ${'in flight'.padEnd(10)} ${'ops/s'.padStart(10)} ${'us/call'.padStart(9)}`);
for (const [name, mode, run] of rows) {
  if (name.includes('creds') && !root) continue;
  await run(); // warm-up pass of the same size: JIT, threads, dentry cache
  const s = Math.min(await run(), await run(), await run()); // best of 3: the machine is shared
  console.log(`${name.padEnd(38)} ${mode.padEnd(10)} ${Math.round(N / s).toString().padStart(10)} ${((s * 1e6) / N).toFixed(2).padStart(9)}`);
}
nodefs.closeSync(dfd);
nodefs.rmSync(dir, { recursive: true, force: true });
