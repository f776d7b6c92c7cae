/**
 * The workloads: each is a closed loop run by `depth` workers on one daemon's FUSE session, so
 * `depth` requests (or request sequences) are in flight on the request queue at any time. A
 * worker's step() does one unit of work and says how many units it completed.
 *
 * Requests are those a Linux guest sends for the same job; what each unit costs in requests is
 * in `requests` and in docs/benchmarks.md.
 */
import { constants as C } from 'node:fs';
import type { FuseClient } from '../src/frontend/fuse-client.js';
import { FuseOpcode } from '../protocol/fuse-opcodes.js';
import { fuse_read_in } from '../protocol/fuse-structs.js';
import type { Dataset } from './dataset.js';
import { patternWord, scratchDir } from './dataset.js';
import type { DaemonSession } from './daemons.js';
import { UsageError } from './options.js';

const MiB = 1 << 20;

export interface Worker {
  /** One unit of work; resolves with the units completed (0 is allowed, e.g. the end of a listing). */
  step(): Promise<number>;
  /** Untimed clean-up after the loop (close handles, FORGET what was looked up). */
  end?(): Promise<void>;
}

export interface Workload {
  /** Name for --workloads. */
  id: string;
  /** Table label. */
  title: string;
  /** What one unit is ("op", "MiB", "file", "entry"). */
  unit: string;
  /** FUSE requests per unit. */
  requests: string;
  /** Depths run by default (--depths overrides). */
  depths: number[];
  worker(env: Env, index: number, depth: number): Worker;
}

/** Everything a workload needs on one daemon, looked up once per session (untimed). */
export interface Env {
  s: DaemonSession;
  fuse: FuseClient;
  ds: Dataset;
  metaDir: bigint;
  metaIds: bigint[];
  big: { nodeid: bigint; fh: bigint };
  dir10k: bigint;
  scratch: bigint;
  seq: { nodeid: bigint; fh: bigint };
  mixed: { nodeid: bigint; fh: bigint };
  /** READ/WRITE size of the 1 MiB workloads (smaller if the daemon's max_write/max_pages say so). */
  ioSize: number;
  /** Shared sequential cursors and a name counter that never repeats within a session. */
  cursor: { read: number; write: number; name: number };
  /** Lookup references READDIRPLUS handed out, forgotten after each cell. */
  refs: Map<bigint, bigint>;
}

/** Window of the sequential-write file (kept small so it stays in the host's page cache). */
const SEQ_WRITE_WINDOW = 256 * MiB;
const MIXED_WINDOW = 64 * MiB;

export async function prepareEnv(s: DaemonSession, ds: Dataset): Promise<Env> {
  const fuse = s.fuse;
  const metaDir = (await fuse.lookup(1n, 'meta')).nodeid;
  const metaIds: bigint[] = [];
  for (const n of ds.metaNames) metaIds.push((await fuse.lookup(metaDir, n)).nodeid);
  const bigId = (await fuse.lookup(1n, 'big.bin')).nodeid;
  const big = { nodeid: bigId, fh: (await fuse.open(bigId, C.O_RDONLY)).fh };
  const dir10k = (await fuse.lookup(1n, 'dir10k')).nodeid;
  const scratch = (await fuse.lookup(1n, scratchDir(ds, s.spec.name))).nodeid;
  const mk = async (name: string) => {
    const r = await fuse.create(scratch, name, 0o644, C.O_RDWR | C.O_CREAT);
    return { nodeid: r.entry.nodeid, fh: r.open.fh };
  };
  const seq = await mk('seq.bin');
  const mixed = await mk('mixed.bin');
  // Pre-fill the mixed file so its reads are not of a hole.
  const fill = Buffer.alloc(Math.min(MiB, s.maxIo), 0x5a);
  for (let off = 0; off < MIXED_WINDOW; off += fill.length) await fuse.write(mixed.nodeid, mixed.fh, BigInt(off), fill);
  return { s, fuse, ds, metaDir, metaIds, big, dir10k, scratch, seq, mixed, ioSize: Math.min(MiB, s.maxIo), cursor: { read: 0, write: 0, name: 0 }, refs: new Map() };
}

/** Deterministic per-worker random numbers (xorshift32), so every daemon gets the same sequence. */
export class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = (seed * 0x9e3779b1) >>> 0 || 1;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

/**
 * READ through FuseClient.raw: the reply body is a view of the front-end's copy, without the
 * extra copy FuseClient.read makes (at 1 MiB, the driver's copies would otherwise cost more CPU
 * than a fast daemon's whole request).
 */
function read(env: Env, nodeid: bigint, fh: bigint, offset: number, size: number): Promise<Uint8Array> {
  const args = fuse_read_in.toBytes({ fh, offset: BigInt(offset), size, read_flags: 0, lock_owner: 0n, flags: 0 });
  return env.fuse.raw(FuseOpcode.FUSE_READ, nodeid, [args], size);
}

function checkLength(got: number, want: number, what: string): void {
  if (got !== want) throw new Error(`${what}: ${got} bytes, expected ${want}`);
}

async function read4k(env: Env, rng: Rng): Promise<void> {
  const page = rng.below(env.ds.bigFileBytes / 4096);
  const off = page * 4096;
  const data = await read(env, env.big.nodeid, env.big.fh, off, 4096);
  checkLength(data.length, 4096, 'READ 4 KiB');
  // Check the content too: a daemon that returns the wrong page is not faster, it is broken.
  const word = data[8]! | (data[9]! << 8) | (data[10]! << 16) | (data[11]! << 24);
  if (word >>> 0 !== patternWord((off % (4 * MiB)) + 8)) throw new Error(`READ 4 KiB at ${off}: wrong data`);
}

async function smallFileCycle(env: Env, w: number, payload: Uint8Array): Promise<void> {
  const f = env.fuse;
  const name = `c${w}-${env.cursor.name++}`;
  const { entry, open } = await f.create(env.scratch, name, 0o644, C.O_WRONLY | C.O_CREAT | C.O_EXCL);
  checkLength(await f.write(entry.nodeid, open.fh, 0n, payload), payload.length, 'WRITE 4 KiB');
  await f.release(entry.nodeid, open.fh, C.O_WRONLY);
  await f.unlink(env.scratch, name);
  // The guest drops its inode once the file is gone: FORGET on the hiprio queue, as the kernel does.
  await f.forget(entry.nodeid, 1n);
}

export const WORKLOADS: Workload[] = [
  {
    id: 'lookup',
    title: 'LOOKUP (cached inode)',
    unit: 'op',
    requests: '1 LOOKUP of a name the daemon already has an inode for',
    depths: [1, 16, 64],
    worker: (env, w, depth) => {
      const n = env.ds.metaNames.length;
      let k = Math.floor((w * n) / depth);
      return {
        step: async () => {
          await env.fuse.lookup(env.metaDir, env.ds.metaNames[k++ % n]!);
          return 1;
        },
      };
    },
  },
  {
    id: 'getattr',
    title: 'GETATTR (cached inode)',
    unit: 'op',
    requests: '1 GETATTR',
    depths: [1, 16, 64],
    worker: (env, w, depth) => {
      const n = env.metaIds.length;
      let k = Math.floor((w * n) / depth);
      return {
        step: async () => {
          await env.fuse.getattr(env.metaIds[k++ % n]!);
          return 1;
        },
      };
    },
  },
  {
    id: 'read4k',
    title: 'READ 4 KiB random, 1 GiB file',
    unit: 'op',
    requests: '1 READ of 4 KiB at a random page of a pre-written, page-cache-hot 1 GiB file',
    depths: [1, 16, 64],
    worker: (env, w) => {
      const rng = new Rng(1000 + w);
      return {
        step: async () => {
          await read4k(env, rng);
          return 1;
        },
      };
    },
  },
  {
    id: 'seqread',
    title: 'READ 1 MiB sequential',
    unit: 'MiB',
    requests: '1 READ of 1 MiB (256 page descriptors); the workers share one cursor through the 1 GiB file',
    depths: [1, 16],
    worker: (env) => ({
      step: async () => {
        const size = env.ioSize;
        const off = env.cursor.read;
        env.cursor.read = (off + size) % (env.ds.bigFileBytes - (env.ds.bigFileBytes % size));
        const data = await read(env, env.big.nodeid, env.big.fh, off, size);
        checkLength(data.length, size, 'READ 1 MiB');
        return size / MiB;
      },
    }),
  },
  {
    id: 'seqwrite',
    title: 'WRITE 1 MiB sequential',
    unit: 'MiB',
    requests: '1 WRITE of 1 MiB (256 page descriptors); one cursor through a 256 MiB window of a file',
    depths: [1, 16],
    worker: (env) => {
      const buf = Buffer.alloc(env.ioSize, 0xa5);
      return {
        step: async () => {
          const off = env.cursor.write;
          env.cursor.write = (off + buf.length) % SEQ_WRITE_WINDOW;
          checkLength(await env.fuse.write(env.seq.nodeid, env.seq.fh, BigInt(off), buf), buf.length, 'WRITE 1 MiB');
          return buf.length / MiB;
        },
      };
    },
  },
  {
    id: 'create',
    title: 'CREATE+WRITE 4K+RELEASE+UNLINK',
    unit: 'file',
    requests: 'CREATE, WRITE 4 KiB, RELEASE, UNLINK, then FORGET on the hiprio queue (5 requests)',
    depths: [1, 16],
    worker: (env, w) => {
      const payload = Buffer.alloc(4096, 0x33);
      return {
        step: async () => {
          await smallFileCycle(env, w, payload);
          return 1;
        },
      };
    },
  },
  {
    id: 'readdirplus',
    title: 'READDIRPLUS 10k-entry dir',
    unit: 'entry',
    requests: 'OPENDIR, READDIRPLUS with a 4 KiB buffer (as Linux 6.1) until the end, RELEASEDIR; each worker lists the whole directory over and over',
    depths: [1, 16],
    worker: (env) => {
      let fh: bigint | null = null;
      let off = 0n;
      let seen = 0;
      return {
        step: async () => {
          if (fh === null) {
            fh = (await env.fuse.opendir(env.dir10k)).fh;
            off = 0n;
            seen = 0;
          }
          const r = await env.fuse.readdirplus(env.dir10k, fh, off, 4096);
          if (r.length === 0) {
            await env.fuse.releasedir(env.dir10k, fh);
            fh = null;
            // Every name plus . and .. (some daemons leave those out): a short listing is a bug.
            if (seen < env.ds.dirEntries) throw new Error(`READDIRPLUS: a full listing gave ${seen} entries, the directory has ${env.ds.dirEntries}`);
            return 0;
          }
          seen += r.length;
          for (const e of r) if (e.entry.nodeid !== 0n) env.refs.set(e.entry.nodeid, (env.refs.get(e.entry.nodeid) ?? 0n) + 1n);
          off = r[r.length - 1]!.dirent.off;
          return r.length;
        },
        end: async () => {
          if (fh !== null) await env.fuse.releasedir(env.dir10k, fh);
          fh = null;
          await forgetRefs(env);
        },
      };
    },
  },
  {
    id: 'mixed',
    title: 'mixed (metadata + 4K I/O)',
    unit: 'op',
    requests: '35% GETATTR, 20% LOOKUP, 25% READ 4 KiB random, 10% WRITE 4 KiB random (64 MiB file), 10% the 5-request small-file cycle',
    depths: [1, 16],
    worker: (env, w) => {
      const rng = new Rng(5000 + w);
      const payload = Buffer.alloc(4096, 0x77);
      const n = env.metaIds.length;
      return {
        step: async () => {
          const r = rng.below(100);
          if (r < 35) await env.fuse.getattr(env.metaIds[rng.below(n)]!);
          else if (r < 55) await env.fuse.lookup(env.metaDir, env.ds.metaNames[rng.below(n)]!);
          else if (r < 80) await read4k(env, rng);
          else if (r < 90) {
            const off = rng.below(MIXED_WINDOW / 4096) * 4096;
            checkLength(await env.fuse.write(env.mixed.nodeid, env.mixed.fh, BigInt(off), payload), 4096, 'WRITE 4 KiB');
          } else await smallFileCycle(env, w, payload);
          return 1;
        },
      };
    },
  },
];

/** BATCH_FORGET of every reference READDIRPLUS handed out (what the guest does when it evicts them). */
async function forgetRefs(env: Env): Promise<void> {
  if (env.refs.size === 0) return;
  const items = [...env.refs].map(([nodeid, nlookup]) => ({ nodeid, nlookup }));
  env.refs.clear();
  for (let i = 0; i < items.length; i += 256) await env.fuse.batchForget(items.slice(i, i + 256));
}

export function selectWorkloads(ids: string[] | undefined): Workload[] {
  if (ids === undefined || ids.length === 0) return WORKLOADS;
  const unknown = ids.filter((id) => !WORKLOADS.some((w) => w.id === id));
  if (unknown.length > 0) throw new UsageError(`--workloads: unknown ${unknown.join(', ')} (have ${WORKLOADS.map((w) => w.id).join(', ')})`);
  return WORKLOADS.filter((w) => ids.includes(w.id));
}
