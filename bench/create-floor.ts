/**
 * The floor under the CREATE cycle (docs/benchmarks.md, "Session 9"): what one small file costs at
 * each layer, with no ring and no front-end process. The calls are the ones the daemon makes for a
 * file (create + O_PATH fd + statx + handle, a 4 KiB write, the two closes, the unlink):
 *
 *  - `sync`: Node's fs on this thread, one call after another (the Rust daemon's pool-0 model: its
 *    queue thread makes every call itself). The create, write, close and unlink only.
 *  - `pool, window W`: the daemon's own pool jobs (openStat, pwritev, closeMany, unlinkat), W files
 *    in flight, each file's calls one after another as a guest's are.
 *  - `PassthroughFs`: the same file through the filesystem layer (inode store, handles), and
 *    `FuseServer.handle`: through the FUSE layer too (request decoding, reply encoding), 16 in flight.
 *
 * Wall time and CPU time of the whole process (every thread) per file; best of 3 runs.
 * Run: `node dist/bench/create-floor.js [files] [dir]` (defaults 20000; a new directory under $TMPDIR;
 * give a tmpfs directory to take the filesystem's own cost out). POOL_THREADS=n and POOL_SPIN=µs set
 * the pool's size and busy-poll window (the daemon's --thread-pool-size and --poll-us; default 4, 0).
 */
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as f from '../src/native/fs.js';
import { threadCpuSeconds } from './proc-stats.js';
import { fuseRequest, windowed } from './micro.js';
import { PassthroughFs } from '../src/passthrough/index.js';
import { FuseServer } from '../src/fuse/server.js';
import * as S from '../protocol/fuse-structs.js';
import { FuseOpcode } from '../protocol/fuse-opcodes.js';

const N = Number(process.argv[2] ?? 20_000);
if (!Number.isInteger(N) || N < 1) throw new Error(`create-floor: files must be a positive integer, got ${process.argv[2]}`);
const base = process.argv[3] ?? os.tmpdir();
const dir = nodefs.mkdtempSync(path.join(base, 'vfs-create-floor-'));
const dfd = f.openatSync(f.AT_FDCWD, dir, f.O_PATH | f.O_DIRECTORY);
const procFd = f.openatSync(f.AT_FDCWD, '/proc/self/fd', f.O_PATH | f.O_DIRECTORY);
const page = Buffer.alloc(4096, 0x5a);
const RESOLVE = f.RESOLVE_BENEATH | f.RESOLVE_NO_MAGICLINKS | f.RESOLVE_NO_SYMLINKS;
let serial = 0;
const nextName = (): Buffer => Buffer.from(`q${serial++}`);
if (process.env.POOL_THREADS) f.setThreadPoolSize(Number(process.env.POOL_THREADS));
if (process.env.POOL_SPIN) f.setPoolSpin(Number(process.env.POOL_SPIN));

interface Cost {
  us: number;
  cpuUs: number;
  /** Of cpuUs: the JS thread's and the pool's (clock ticks: coarse on short runs). */
  mainUs: number;
  poolUs: number;
}

async function best(run: () => Promise<unknown> | void): Promise<Cost> {
  let best: Cost | undefined;
  for (let r = 0; r < 3; r++) {
    const th0 = threadCpuSeconds([process.pid]);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run();
    const us = Number(process.hrtime.bigint() - t0) / 1000 / N;
    const c = process.cpuUsage(c0);
    const th = threadCpuSeconds([process.pid]);
    const of = (name: string) => (((th.get(name) ?? 0) - (th0.get(name) ?? 0)) * 1e6) / N;
    const cost = { us, cpuUs: (c.user + c.system) / N, mainUs: of('main'), poolUs: of('vfs-fs-pool') };
    if (best === undefined || cost.cpuUs < best.cpuUs) best = cost;
  }
  return best!;
}

function syncCycle(): void {
  for (let i = 0; i < N; i++) {
    const p = path.join(dir, `s${serial++}`);
    const fd = nodefs.openSync(p, nodefs.constants.O_RDWR | nodefs.constants.O_CREAT | nodefs.constants.O_EXCL, 0o644);
    nodefs.writeSync(fd, page, 0, page.length, 0);
    nodefs.closeSync(fd);
    nodefs.unlinkSync(p);
  }
}

/** The daemon's pool jobs for one file, as PassthroughFs makes them (the create with umask 0). */
async function poolJobs(name: Buffer): Promise<void> {
  const o = await f.openStat(dfd, name, { flags: f.O_RDWR | f.O_CREAT | f.O_EXCL | f.O_NOFOLLOW, mode: 0o644, resolve: RESOLVE }, { procFd, handleFlags: 0 }, { umask: 0 });
  await f.pwritev(o.fd, [page], 0);
  await f.closeMany([o.fd, o.pathFd]);
  await f.unlinkat(dfd, name);
}

const rows: [string, Cost][] = [];
try {
  rows.push(['sync, this thread (create, write, close, unlink)', await best(syncCycle)]);
  for (const w of [1, 16]) rows.push([`pool, window ${w} (openStat, pwritev, closeMany, unlinkat)`, await best(() => windowed(N, w, () => poolJobs(nextName())))]);
  const pfs = new PassthroughFs({ sharedDir: dir }, {});
  const server = new FuseServer(pfs);
  const init = S.fuse_init_in.toBytes({ major: 7, minor: 38, max_readahead: 131072, flags: 0xffffffff, flags2: 0xffffffff });
  await server.handle(fuseRequest(FuseOpcode.FUSE_INIT, 0n, init), [new Uint8Array(4096)]);
  const ctx = { unique: 1n, opcode: FuseOpcode.FUSE_CREATE, uid: 0, gid: 0, pid: 1 };
  const O_WRONLY_CREAT_EXCL = f.O_WRONLY | f.O_CREAT | f.O_EXCL;
  rows.push([
    'PassthroughFs, window 16 (CREATE, WRITE, RELEASE, UNLINK, FORGET)',
    await best(() =>
      windowed(N, 16, async () => {
        const name = nextName();
        const c = await pfs.create(ctx, 1n, name, 0o100644, O_WRONLY_CREAT_EXCL, 0);
        await pfs.write(ctx, c.entry.nodeid, c.fh, 0n, [page], f.O_WRONLY, 0);
        await pfs.release(ctx, c.entry.nodeid, c.fh, f.O_WRONLY, 0);
        await pfs.unlink(ctx, 1n, name);
        await pfs.forget(ctx, c.entry.nodeid, 1n);
      }),
    ),
  ]);
  rows.push([
    'FuseServer.handle, window 16 (the same requests)',
    await best(() =>
      windowed(N, 16, async () => {
        const name = nextName();
        const out = [new Uint8Array(512)];
        const z = Buffer.from([0]);
        await server.handle(fuseRequest(FuseOpcode.FUSE_CREATE, 1n, S.fuse_create_in.toBytes({ flags: O_WRONLY_CREAT_EXCL, mode: 0o100644, umask: 0, open_flags: 0 }), name, z), out);
        const e = S.fuse_entry_out.decode(out[0]!, S.fuse_out_header.size);
        const o = S.fuse_open_out.decode(out[0]!, S.fuse_out_header.size + S.fuse_entry_out.size);
        const w = S.fuse_write_in.toBytes({ fh: o.fh, offset: 0n, size: page.length, write_flags: 0, lock_owner: 0n, flags: f.O_WRONLY });
        await server.handle(fuseRequest(FuseOpcode.FUSE_WRITE, e.nodeid, w, page), out);
        await server.handle(fuseRequest(FuseOpcode.FUSE_RELEASE, e.nodeid, S.fuse_release_in.toBytes({ fh: o.fh, flags: f.O_WRONLY, release_flags: 0, lock_owner: 0n })), out);
        await server.handle(fuseRequest(FuseOpcode.FUSE_UNLINK, 1n, name, z), out);
        await server.handle(fuseRequest(FuseOpcode.FUSE_FORGET, e.nodeid, S.fuse_forget_in.toBytes({ nlookup: 1n })), []);
      }),
    ),
  ]);
  await pfs.close();
} finally {
  nodefs.rmSync(dir, { recursive: true, force: true });
}
console.log(`${N} files per run, best of 3, in ${dir.replace(/\/[^/]*$/, '')}, ${os.cpus().length} cores, pool ${process.env.POOL_THREADS ?? 4} threads, spin ${process.env.POOL_SPIN ?? 0} µs`);
console.log(`${'calls'.padEnd(64)} ${'wall µs/file'.padStart(12)} ${'CPU µs/file'.padStart(12)} ${'JS thread'.padStart(10)} ${'pool'.padStart(7)}`);
const col = (n: number, w: number) => n.toFixed(1).padStart(w);
for (const [name, c] of rows) console.log(`${name.padEnd(64)} ${col(c.us, 12)} ${col(c.cpuUs, 12)} ${col(c.mainUs, 10)} ${col(c.poolUs, 7)}`);
