/**
 * What remembering inodes by file handle costs per FUSE request: PassthroughFs behind the real
 * FuseServer, driven in-process by FuseClient (no virtqueue, no VM), in three configurations:
 * --inode-file-handles=never (an O_PATH fd per inode), prefer with the fd cache off (handleFdCacheSize
 * 0: an open_by_handle_at + close per operation, the behaviour before the cache) and prefer with the
 * default cache. Besides times (noisy on a shared machine), the handle syscalls per operation are
 * counted, which do not depend on load.
 * Per round, on a fresh directory on the tmp filesystem:
 *   create    N x CREATE + RELEASE in one directory
 *   lookup    N x LOOKUP + GETATTR of those names (inodes already known)
 *   open-read N x OPEN + READ + RELEASE
 *   setattr   N x SETATTR(mtime)
 * Best of `rounds` per row. Prints a table. Run: `node dist/bench/passthrough-handles.js [N] [rounds]`
 * (default 3000 3).
 */
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FUSE_ROOT_ID } from '../protocol/fuse-opcodes.js';
import { FATTR_MTIME } from '../protocol/fuse-flags.js';
import { FuseClient, type FuseTransport } from '../src/frontend/fuse-client.js';
import { FuseServer } from '../src/fuse/server.js';
import * as f from '../src/native/fs.js';
import { PassthroughFs, type PassthroughOptions, type Sys } from '../src/passthrough/index.js';

const N = Number(process.argv[2] ?? 3000);
const ROUNDS = Number(process.argv[3] ?? 3);

class InProcess implements FuseTransport {
  constructor(readonly server: FuseServer) {}
  async request(queue: number, readable: Uint8Array | Uint8Array[], writableLen: number) {
    const segs = Array.isArray(readable) ? readable : [readable];
    const w = writableLen > 0 ? [new Uint8Array(writableLen)] : [];
    const usedLen = await this.server.handle(segs, w, queue);
    return { usedLen, data: (w[0] ?? new Uint8Array(0)).subarray(0, usedLen) };
  }
}

type Phase = 'create' | 'lookup' | 'open-read' | 'setattr';
const PHASES: Phase[] = ['create', 'lookup', 'open-read', 'setattr'];

const CONFIGS: { name: string; opts: Partial<PassthroughOptions> }[] = [
  { name: 'never', opts: { inodeFileHandles: 'never' } },
  { name: 'prefer, no fd cache', opts: { inodeFileHandles: 'prefer', handleFdCacheSize: 0 } },
  { name: 'prefer + fd cache', opts: { inodeFileHandles: 'prefer' } },
];

/** The handle syscalls, counted. */
const COUNTED = ['openByHandleAt', 'nameToHandleAt'];
let handleCalls = 0;
const countingSys = new Proxy(f, {
  get(target, prop, recv) {
    const v = Reflect.get(target, prop, recv) as unknown;
    if (typeof prop !== 'string' || !COUNTED.includes(prop) || typeof v !== 'function') return v;
    return (...args: unknown[]) => {
      handleCalls++;
      return (v as (...a: unknown[]) => unknown)(...args);
    };
  },
}) as Sys;

interface Sample {
  ms: number;
  handleCalls: number;
}

async function round(opts: Partial<PassthroughOptions>): Promise<Map<Phase, Sample>> {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-bench-fh-'));
  const pfs = new PassthroughFs({ ...opts, sharedDir: dir }, { sys: countingSys });
  const c = new FuseClient(new InProcess(new FuseServer(pfs)));
  await c.init();
  const times = new Map<Phase, Sample>();
  const time = async (p: Phase, body: () => Promise<void>) => {
    const calls0 = handleCalls;
    const t0 = process.hrtime.bigint();
    await body();
    times.set(p, { ms: Number(process.hrtime.bigint() - t0) / 1e6, handleCalls: handleCalls - calls0 });
  };
  try {
    const d = await c.mkdir(FUSE_ROOT_ID, 'd', 0o755);
    const ids: bigint[] = [];
    await time('create', async () => {
      for (let i = 0; i < N; i++) {
        const r = await c.create(d.nodeid, `f${i}`, 0o100644, f.O_RDWR | f.O_CREAT);
        await c.release(r.entry.nodeid, r.open.fh);
        ids.push(r.entry.nodeid);
      }
    });
    await time('lookup', async () => {
      for (let i = 0; i < N; i++) {
        const e = await c.lookup(d.nodeid, `f${i}`);
        await c.getattr(e.nodeid);
      }
    });
    await time('open-read', async () => {
      for (const id of ids) {
        const o = await c.open(id, f.O_RDONLY);
        await c.read(id, o.fh, 0n, 4096);
        await c.release(id, o.fh);
      }
    });
    await time('setattr', async () => {
      for (const id of ids) await c.setattr(id, { valid: FATTR_MTIME, mtime: 1_000_000n });
    });
  } finally {
    await pfs.close();
    nodefs.rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

const best = new Map<string, Sample>();
for (let r = 0; r < ROUNDS; r++) {
  for (const cfg of CONFIGS) {
    for (const [p, smp] of await round(cfg.opts)) {
      const k = `${p}\t${cfg.name}`;
      const prev = best.get(k);
      if (prev === undefined || smp.ms < prev.ms) best.set(k, smp);
    }
  }
}
const fsType = nodefs.statfsSync(os.tmpdir()).type.toString(16);
console.log(`PassthroughFs + FuseServer in-process, N=${N}, best of ${ROUNDS}, ${os.tmpdir()} (statfs type 0x${fsType}), RLIMIT_NOFILE ${f.getrlimit(f.RLIMIT_NOFILE).soft}, load ${os.loadavg()[0]!.toFixed(1)}`);
console.log(`| phase | ${CONFIGS.map((c) => `${c.name}: µs/op (handle calls/op)`).join(' | ')} |`);
console.log(`| --- | ${CONFIGS.map(() => '---:').join(' | ')} |`);
for (const p of PHASES) {
  const cells = CONFIGS.map((c) => {
    const s = best.get(`${p}\t${c.name}`)!;
    return `${((s.ms * 1000) / N).toFixed(1)} (${(s.handleCalls / N).toFixed(2)})`;
  });
  console.log(`| ${p} | ${cells.join(' | ')} |`);
}
