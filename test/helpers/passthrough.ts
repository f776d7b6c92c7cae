/**
 * Test context for PassthroughFs driven directly (no FUSE server): a fresh shared directory per test,
 * request contexts, directory sinks that record what they are given, and fd counting. Built for the
 * tests, independent of the code under test (sizes come from the protocol's direntSize, not the sinks
 * the server uses).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { direntSize, direntplusSize } from '../../protocol/fuse-records.js';
import type { Context, DirEntry, DirentPlusSink, DirentSink, Entry } from '../../src/fuse/filesystem.js';
import { PassthroughFs, type PassthroughDeps, type PassthroughOptions } from '../../src/passthrough/index.js';

/** Every INIT flag a 7.38+ kernel may offer (64 bits set). */
export const ALL_CAPABLE = (1n << 64n) - 1n;

let unique = 1000n;

/** A request context: root unless told otherwise. */
export function ctx(over: Partial<Context> = {}): Context {
  return { unique: unique++, opcode: 0, uid: 0, gid: 0, pid: process.pid, umask: 0o022, ...over };
}

/** A new empty directory under the system tmp dir, removed when the test ends. */
export function tmpDir(t: ExecutionContext, prefix = 'vfs-pt-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Mounted {
  fs: PassthroughFs;
  /** The shared directory on the host. */
  dir: string;
  /** Host path of a name inside the share. */
  p(...parts: string[]): string;
}

/** A PassthroughFs on a fresh directory, INIT done with every flag offered; closed when the test ends. */
export async function mount(
  t: ExecutionContext,
  opts: Partial<PassthroughOptions> = {},
  deps: PassthroughDeps = {},
  capable = ALL_CAPABLE,
): Promise<Mounted> {
  const dir = opts.sharedDir ?? tmpDir(t);
  const pfs = new PassthroughFs({ ...opts, sharedDir: dir }, deps);
  t.teardown(() => pfs.close());
  await pfs.init({ minor: 38, capable, maxReadahead: 128 * 1024 });
  return { fs: pfs, dir, p: (...parts) => path.join(dir, ...parts) };
}

export const b = (s: string): Buffer => Buffer.from(s);

/** Look up a '/'-separated path from the root, one component at a time. */
export async function walk(pfs: PassthroughFs, rel: string, c: Context = ctx()): Promise<Entry> {
  let e: Entry | undefined;
  let parent = 1n;
  for (const part of rel.split('/').filter((x) => x !== '')) {
    e = await pfs.lookup(c, parent, b(part));
    parent = e.nodeid;
  }
  if (e === undefined) throw new Error('empty path');
  return e;
}

/** Open files of this process. */
export function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** Wait for the fds closed in the background (fire-and-forget closes) to be gone. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
}

/** A DirentSink that keeps the records, with the byte budget the kernel would give. */
export class ListSink implements DirentSink {
  readonly entries: DirEntry[] = [];
  private used = 0;
  constructor(private readonly limit = 4096) {}
  fits(nameLen: number): boolean {
    return this.used + direntSize(nameLen) <= this.limit;
  }
  add(d: DirEntry): boolean {
    const n = typeof d.name === 'string' ? Buffer.byteLength(d.name) : d.name.length;
    if (!this.fits(n)) return false;
    this.used += direntSize(n);
    this.entries.push({ ...d, name: Buffer.from(d.name) });
    return true;
  }
  get count(): number {
    return this.entries.length;
  }
  names(): string[] {
    return this.entries.map((e) => Buffer.from(e.name).toString());
  }
}

/** A DirentPlusSink that keeps records and entries. */
export class ListPlusSink implements DirentPlusSink {
  readonly entries: { d: DirEntry; e: Entry | null }[] = [];
  private used = 0;
  constructor(private readonly limit = 4096) {}
  fits(nameLen: number): boolean {
    return this.used + direntplusSize(nameLen) <= this.limit;
  }
  add(d: DirEntry, e: Entry | null): boolean {
    const n = typeof d.name === 'string' ? Buffer.byteLength(d.name) : d.name.length;
    if (!this.fits(n)) return false;
    this.used += direntplusSize(n);
    this.entries.push({ d: { ...d, name: Buffer.from(d.name) }, e });
    return true;
  }
  get count(): number {
    return this.entries.length;
  }
  get room(): number {
    return this.limit - this.used;
  }
}

/** Read a whole directory through opendir/readdir, `limit` bytes per call; returns names and the calls made. */
export async function readAll(pfs: PassthroughFs, nodeid: bigint, limit = 4096): Promise<{ names: string[]; calls: number; entries: DirEntry[] }> {
  const c = ctx();
  const { fh } = await pfs.opendir(c, nodeid, 0);
  const entries: DirEntry[] = [];
  let offset = 0n;
  let calls = 0;
  for (;;) {
    const sink = new ListSink(limit);
    await pfs.readdir(c, nodeid, fh, offset, sink);
    calls++;
    if (sink.count === 0) break;
    entries.push(...sink.entries);
    offset = sink.entries[sink.entries.length - 1]!.off;
  }
  await pfs.releasedir(c, nodeid, fh, 0);
  return { names: entries.map((e) => Buffer.from(e.name).toString()), calls, entries };
}

/** Can this process mount (root with CAP_SYS_ADMIN in this namespace)? */
export function canMount(): boolean {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'none', dir], { stdio: 'ignore' });
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Mount a small tmpfs at `dir` (which must exist) until the test ends. */
export function mountTmpfs(t: ExecutionContext, dir: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'none', dir], { stdio: 'ignore' });
  t.teardown(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
  });
}

/** A view set of `total` bytes split into chunks of `chunk` (like guest memory segments). */
export function views(total: number, chunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(total);
  for (let o = 0; o < total; o += chunk) out.push(buf.subarray(o, Math.min(total, o + chunk)));
  return out;
}

export const concat = (vs: Uint8Array[], n: number): Buffer => Buffer.concat(vs).subarray(0, n);
