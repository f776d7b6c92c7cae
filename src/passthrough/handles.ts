/**
 * Open files and directories: fh -> an fd opened for I/O, the nodeid it was opened for, and for a
 * directory its read position. An fh is only valid with the nodeid it was opened on (a request naming
 * another nodeid gets EBADF), and, like inodes, a handle is pinned by every operation on it, so RELEASE
 * racing a READ (or a hostile guest releasing early) closes the fd only after the READ is done.
 *
 * fh values come from a counter that only grows; 0 is never used. Migration installs handles under
 * the fhs the guest already holds (adopt()), or stale ones whose file could not be opened again: every
 * operation on those answers ESTALE but RELEASE, which forgets them.
 *
 * Bounded: past `limit` (--max-handles) add() answers ENFILE (limits.ts); RELEASE makes room again.
 * Migration's adopt() is not limited.
 */
import { FuseError } from '../fuse/errors.js';
import { O_DIRECT } from '../native/fs-constants.js';
import { closeLogged } from './inode-store.js';
import type { Sys } from './host.js';
import { Limit } from './limits.js';

/** A directory's getdents64 stream: where the fd is, and records read ahead of that. */
export class DirStream {
  /** The d_off of the last record handed out (0 = the start): the fd's position as the guest knows it. */
  pos = 0n;
  /**
   * READDIRPLUS: most names of the last reply were inodes not held yet (a first listing), so the
   * next reply opens its names at once instead of first looking for held ones (lookup.ts many()).
   */
  mostlyNew = false;
  /**
   * The last getdents64 answer: records from `at` to `len` are read from the fd but not handed out
   * yet. A new buffer per read, never written again, so the names handed out can be views of it.
   */
  chunk: Uint8Array | undefined;
  at = 0;
  len = 0;
  private tail: Promise<unknown> = Promise.resolve();

  /** Run fn after every earlier call on this stream (the fd position is shared state). */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }
}

export class Handle {
  pins = 0;
  released = false;
  /** Lost in a migration: no fd (-1); every operation but RELEASE answers ESTALE. */
  stale = false;
  /**
   * READ may try the page cache first (io.ts readCached): not with O_DIRECT (RWF_NOWAIT would still
   * wait for the device), and no more once the filesystem said it cannot.
   */
  cachedReads: boolean;
  /** Waits in progress on this handle (flock), aborted when it is released. */
  readonly waits = new Set<AbortController>();

  constructor(
    readonly fh: bigint,
    readonly nodeid: bigint,
    /** The fd I/O goes to (owned by the handle); -1 when stale. */
    readonly fd: number,
    /** The flags the host fd was opened with. */
    readonly hostFlags: number,
    /** Set for directories. */
    readonly dir: DirStream | undefined,
  ) {
    this.cachedReads = (hostFlags & O_DIRECT) === 0;
  }
}

export class HandleTable {
  private readonly m = new Map<bigint, Handle>();
  /** How many handles each nodeid has open (RELEASE asks after every close: no scan of `m`). */
  private readonly perNode = new Map<bigint, number>();
  private next = 1n;

  constructor(
    private readonly sys: Sys,
    /** Most handles open at once. */
    readonly limit = new Limit('open handles', Number.MAX_SAFE_INTEGER, '--max-handles'),
  ) {}

  get size(): number {
    return this.m.size;
  }

  /** ENFILE now if add() would be refused (callers check before opening anything on the host). */
  admit(): void {
    this.limit.admit(this.m.size);
  }

  /** A new handle owning fd. At the limit: ENFILE, and fd is closed (ownership is taken either way). */
  add(nodeid: bigint, fd: number, hostFlags: number, isDir: boolean): Handle {
    if (this.m.size >= this.limit.max) {
      void closeLogged(this.sys, fd);
      throw this.limit.refuse();
    }
    const h = new Handle(this.next++, nodeid, fd, hostFlags, isDir ? new DirStream() : undefined);
    this.insert(h);
    return h;
  }

  /** Every open handle (migration). */
  all(): Handle[] {
    return [...this.m.values()];
  }

  /** The fh the next new handle gets. */
  get nextFh(): bigint {
    return this.next;
  }

  /** Never hand out an fh below `next` (migration). */
  reserve(next: bigint): void {
    if (next > this.next) this.next = next;
  }

  /** Migration: install a handle under an fh the guest holds; fd -1 makes it stale. Takes ownership of fd. */
  adopt(fh: bigint, nodeid: bigint, fd: number, hostFlags: number, isDir: boolean): Handle {
    if (this.m.has(fh)) throw new FuseError('EEXIST', `fh ${fh} is already in use`);
    const h = new Handle(fh, nodeid, fd, hostFlags, isDir ? new DirStream() : undefined);
    h.stale = fd < 0;
    this.insert(h);
    return h;
  }

  /** Migration rollback: forget an adopted handle (its fd closes). */
  discard(h: Handle): void {
    if (this.m.get(h.fh) === h) void this.drop(h);
  }

  /**
   * The handle, pinned: unpin() it when done. EBADF unless fh is open and belongs to nodeid; ESTALE for
   * a stale handle unless `stale` allows it (RELEASE).
   */
  pin(fh: bigint, nodeid: bigint, want?: 'file' | 'dir', stale: 'refuse' | 'allow' = 'refuse'): Handle {
    const h = this.m.get(fh);
    if (h === undefined || h.nodeid !== nodeid) throw new FuseError('EBADF', `no fh ${fh} on nodeid ${nodeid}`);
    if (want === 'dir' && h.dir === undefined) throw new FuseError('ENOTDIR', `fh ${fh} is not a directory`);
    if (want === 'file' && h.dir !== undefined) throw new FuseError('EISDIR', `fh ${fh} is a directory`);
    if (h.stale && stale === 'refuse') throw new FuseError('ESTALE', `fh ${fh} was not opened again after migration`);
    h.pins++;
    return h;
  }

  unpin(h: Handle): void {
    if (--h.pins === 0 && h.released && h.fd >= 0) void closeLogged(this.sys, h.fd);
  }

  async with<T>(fh: bigint, nodeid: bigint, want: 'file' | 'dir' | undefined, fn: (h: Handle) => Promise<T>): Promise<T> {
    const h = this.pin(fh, nodeid, want);
    try {
      return await fn(h);
    } finally {
      this.unpin(h);
    }
  }

  /**
   * RELEASE: forget fh (EBADF as pin()). The fd closes once no operation uses it; the promise resolves
   * when it is closed now, or at once when an operation still holds it (it closes after that one).
   */
  remove(fh: bigint, nodeid: bigint): Promise<void> {
    const h = this.m.get(fh);
    if (h === undefined || h.nodeid !== nodeid) throw new FuseError('EBADF', `no fh ${fh} on nodeid ${nodeid}`);
    return this.drop(h);
  }

  /** Is any handle still open on nodeid? */
  anyOn(nodeid: bigint): boolean {
    return this.perNode.has(nodeid);
  }

  clear(): void {
    for (const h of [...this.m.values()]) void this.drop(h);
  }

  private insert(h: Handle): void {
    this.m.set(h.fh, h);
    this.perNode.set(h.nodeid, (this.perNode.get(h.nodeid) ?? 0) + 1);
  }

  private async drop(h: Handle): Promise<void> {
    this.m.delete(h.fh);
    const n = this.perNode.get(h.nodeid)! - 1;
    if (n === 0) this.perNode.delete(h.nodeid);
    else this.perNode.set(h.nodeid, n);
    h.released = true;
    for (const w of h.waits) w.abort();
    if (h.pins === 0 && h.fd >= 0) await closeLogged(this.sys, h.fd);
  }
}
