/**
 * What one LOOKUP of a cached name costs at each layer of the daemon, on this thread, no ring:
 * the N-API call that does the syscalls (openat2 RESOLVE_CACHED + statx + close), PassthroughFs.lookup
 * on top (inode store, reply entry), and FuseServer.handle on top of that (header, name, reply
 * encoding, the promise chain). The difference between rows is that layer's cost. Best of 3 runs of
 * N look-ups of 1000 names each. Run: `node dist/bench/lookup-layers.js [N]` (default 200000).
 */
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as f from '../src/native/fs.js';
import { PassthroughFs } from '../src/passthrough/index.js';
import { FuseServer } from '../src/fuse/server.js';
import * as S from '../protocol/fuse-structs.js';
import { FuseOpcode } from '../protocol/fuse-opcodes.js';
import { fuseRequest } from './micro.js';

const { FUSE_INIT, FUSE_LOOKUP } = FuseOpcode;

const N = Number(process.argv[2] ?? 200_000);
const NAMES = 1000;
const root = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-lookup-layers-'));
nodefs.mkdirSync(path.join(root, 'd'));
const names = Array.from({ length: NAMES }, (_, i) => `f${i}`);
for (const n of names) nodefs.writeFileSync(path.join(root, 'd', n), '');

async function best(run: () => Promise<void> | void): Promise<{ ns: number; cpu: number }> {
  let ns = Infinity;
  let cpu = Infinity;
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run();
    const t = Number(process.hrtime.bigint() - t0) / N;
    const c = process.cpuUsage(c0);
    ns = Math.min(ns, t);
    cpu = Math.min(cpu, ((c.user + c.system) * 1000) / N);
  }
  return { ns, cpu };
}

const rows: [string, { ns: number; cpu: number }][] = [];
try {
  const dfd = f.openatSync(f.AT_FDCWD, path.join(root, 'd'), f.O_PATH | f.O_DIRECTORY);
  const resolve = f.RESOLVE_CACHED | f.RESOLVE_BENEATH | f.RESOLVE_NO_XDEV;
  const bufs = names.map((n) => Buffer.from(n));
  rows.push([
    'statxOpenedSync (openat2 + statx + close)',
    await best(() => {
      for (let i = 0; i < N; i++) if (typeof f.statxOpenedSync(dfd, bufs[i % NAMES]!, f.O_PATH | f.O_NOFOLLOW, resolve) === 'number') throw new Error('not cached');
    }),
  ]);

  const pfs = new PassthroughFs({ sharedDir: root }, {});
  const server = new FuseServer(pfs);
  const out = [new Uint8Array(4096)];
  const init = S.fuse_init_in.toBytes({ major: 7, minor: 38, max_readahead: 131072, flags: 0xffffffff, flags2: 0xffffffff });
  await server.handle(fuseRequest(FUSE_INIT, 0n, init), out);
  const ctx = { unique: 1n, opcode: FUSE_LOOKUP, uid: 0, gid: 0, pid: 1 };
  const d = await pfs.lookup(ctx, 1n, Buffer.from('d'));
  for (const b of bufs) await pfs.lookup(ctx, d.nodeid, b);
  rows.push([
    '+ PassthroughFs.lookup',
    await best(async () => {
      for (let i = 0; i < N; i++) await pfs.lookup(ctx, d.nodeid, bufs[i % NAMES]!);
    }),
  ]);
  const reqs = names.map((n) => fuseRequest(FUSE_LOOKUP, d.nodeid, Buffer.from(`${n}\0`)));
  rows.push([
    '+ FuseServer.handle',
    await best(async () => {
      for (let i = 0; i < N; i++) if ((await server.handle(reqs[i % NAMES]!, out)) === 0) throw new Error('no reply');
    }),
  ]);
  await pfs.close();
  nodefs.closeSync(dfd);
} finally {
  nodefs.rmSync(root, { recursive: true, force: true });
}

console.log(`LOOKUP of a cached name, ${N} calls, best of 3 (${os.cpus().length} CPUs, Node ${process.version})`);
console.log('layer                                       µs/call  CPU µs/call');
for (const [name, r] of rows) console.log(`${name.padEnd(42)} ${(r.ns / 1000).toFixed(2).padStart(8)} ${(r.cpu / 1000).toFixed(2).padStart(11)}`);
