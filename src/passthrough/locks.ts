/**
 * Guest file locks, held on the host so that every host process and every other daemon sharing the
 * directory sees them.
 *
 * POSIX record locks (GETLK/SETLK/SETLKW). In the guest they belong to a lock owner — the FUSE
 * lock_owner, one per process (its files table) — not to an fd: a process never conflicts with
 * itself, any of its fds may unlock, and closing ANY of its fds on the file drops ALL its locks there
 * (FLUSH carries that owner). On the host, classic POSIX locks would all belong to the daemon (one
 * process: nothing would ever conflict), and OFD locks belong to an open file description. So each
 * (nodeid, lock owner) gets an open file description of its own, opened again from the handle's fd,
 * and the owner's locks are OFD locks on it (F_OFD_*): owners conflict with each other and with
 * everyone else on the host exactly as processes would. FLUSH(owner) closes that description, which
 * drops the owner's locks. The guest's own OFD locks (F_OFD_SETLK) reach us the same way, with the
 * guest's open file as the owner; the guest sends no unlock when that file is closed, only RELEASE of
 * its fh, so RELEASE of an fh drops the owners that ever locked through it (a process owner's locks
 * are gone by then anyway: closing the fd sent FLUSH first). Limits: OFD locks have no deadlock
 * detection (no EDEADLK), and GETLK reports the holder's pid as 0.
 *
 * BSD flock (SETLK with FUSE_LK_FLOCK). flock locks belong to the open file description, i.e. to the
 * guest's open file, i.e. to the fh: flock(2) on the handle's own fd.
 *
 * Waiting (SETLKW, blocking flock) happens on a native thread of its own, never on the worker pool
 * nor the event loop. A wait ends early with EINTR on FUSE_INTERRUPT for its request, on FLUSH of its
 * owner, on RELEASE of its handle and on DESTROY.
 */
import type { FuseFileLock } from '../fuse/filesystem.js';
import { FuseError } from '../fuse/errors.js';
import * as native from '../native/fs.js';
import { fromFlock, lockRange } from './attr.js';
import type { Handle } from './handles.js';
import { closeLogged } from './inode-store.js';
import type { Host, Sys } from './host.js';

/** One owner's open file description on one inode. */
class OwnerOfd {
  pins = 0;
  closed = false;
  readonly waits = new Set<AbortController>();
  /** Resolves once the fd is closed (its locks gone). */
  readonly gone: Promise<void>;
  private markGone!: () => void;
  constructor(readonly fd: number) {
    this.gone = new Promise((r) => (this.markGone = r));
  }
  /** Close the fd (now, or when the last user unpins). */
  finish(sys: Sys): void {
    void closeLogged(sys, this.fd).then(this.markGone);
  }
}

/** How many interrupted-but-unseen request ids to remember (an INTERRUPT may overtake its request). */
const EARLY_INTERRUPTS = 256;

export class Locks {
  private readonly ofds = new Map<string, Promise<OwnerOfd>>();
  /** The fhs each owner (key as in ofds) has locked through. */
  private readonly usedVia = new Map<string, Set<bigint>>();
  /** The owners with a description on each nodeid (RELEASE looks there, not through every owner). */
  private readonly owners = new Map<bigint, Set<bigint>>();
  /** Waiting requests by unique, for FUSE_INTERRUPT. */
  private readonly waiting = new Map<bigint, AbortController>();
  private readonly early: bigint[] = [];

  constructor(private readonly host: Host) {}

  /** Owner descriptions open now (tests: no leaks). */
  get size(): number {
    // The two maps hold the same owners: a leak in either shows.
    let indexed = 0;
    for (const set of this.owners.values()) indexed += set.size;
    return Math.max(this.ofds.size, indexed);
  }

  async getlk(nodeid: bigint, h: Handle, owner: bigint, lk: FuseFileLock): Promise<FuseFileLock> {
    const range = lockRange(lk);
    return this.withOfd(nodeid, h, owner, true, async (o) => {
      const r = await this.host.sys.fcntlLock(o!.fd, native.F_OFD_GETLK, { type: lk.type, whence: native.SEEK_SET, ...range });
      return fromFlock(r);
    });
  }

  /** SETLK / SETLKW for a POSIX lock. `unique` identifies the request for FUSE_INTERRUPT. */
  async setlk(nodeid: bigint, h: Handle, owner: bigint, lk: FuseFileLock, sleep: boolean, unique: bigint): Promise<void> {
    const range = lockRange(lk);
    if (lk.type !== native.F_RDLCK && lk.type !== native.F_WRLCK && lk.type !== native.F_UNLCK) throw new FuseError('EINVAL', `lock type ${lk.type}`);
    const create = lk.type !== native.F_UNLCK;
    await this.withOfd(nodeid, h, owner, create, async (o) => {
      if (o === undefined) return; // unlocking what was never locked
      const cmd = sleep ? native.F_OFD_SETLKW : native.F_OFD_SETLK;
      const lock = { type: lk.type, whence: native.SEEK_SET, ...range };
      if (!sleep) return void (await this.host.sys.fcntlLock(o.fd, cmd, lock));
      await this.wait(unique, [o.waits], (signal) => this.host.sys.fcntlLock(o.fd, cmd, lock, signal));
    });
  }

  /** SETLK / SETLKW with FUSE_LK_FLOCK: flock(2) on the handle's fd. */
  async flock(h: Handle, type: number, sleep: boolean, unique: bigint): Promise<void> {
    let op: number;
    if (type === native.F_RDLCK) op = native.LOCK_SH;
    else if (type === native.F_WRLCK) op = native.LOCK_EX;
    else if (type === native.F_UNLCK) op = native.LOCK_UN;
    else throw new FuseError('EINVAL', `flock type ${type}`);
    if (!sleep || op === native.LOCK_UN) return this.host.sys.flock(h.fd, op | (op === native.LOCK_UN ? 0 : native.LOCK_NB));
    await this.wait(unique, [h.waits], (signal) => this.host.sys.flock(h.fd, op, signal));
  }

  /**
   * FLUSH / RELEASE with a lock owner: the owner's POSIX locks on nodeid go (its description closes).
   * Resolves when they are gone (waits of that owner are ended first).
   */
  async releaseOwner(nodeid: bigint, owner: bigint): Promise<void> {
    const key = `${nodeid}:${owner}`;
    const p = this.ofds.get(key);
    if (p === undefined) return;
    this.ofds.delete(key);
    this.usedVia.delete(key);
    this.untrack(nodeid, owner);
    let o: OwnerOfd;
    try {
      o = await p;
    } catch {
      return; // it never opened
    }
    this.close(o);
    await o.gone;
  }

  /** RELEASE of fh: the owners that locked through it let go (see the file comment). */
  async releaseHandle(nodeid: bigint, fh: bigint): Promise<void> {
    const owners = this.owners.get(nodeid);
    if (owners === undefined) return;
    const via = [...owners].filter((o) => this.usedVia.get(`${nodeid}:${o}`)?.has(fh));
    await Promise.all(via.map((o) => this.releaseOwner(nodeid, o)));
  }

  /** The last handle on nodeid is gone: no owner can hold a lock there any more. */
  async releaseInode(nodeid: bigint): Promise<void> {
    const owners = this.owners.get(nodeid);
    if (owners === undefined) return;
    await Promise.all([...owners].map((o) => this.releaseOwner(nodeid, o)));
  }

  /** FUSE_INTERRUPT: end the wait of request `unique` with EINTR (now, or as soon as it starts). */
  interrupt(unique: bigint): void {
    const c = this.waiting.get(unique);
    if (c !== undefined) return void c.abort();
    this.early.push(unique);
    if (this.early.length > EARLY_INTERRUPTS) this.early.shift();
  }

  /** End every lock wait in progress with EINTR, keeping the locks held (a ring is stopping). */
  abortWaits(): void {
    for (const c of this.waiting.values()) c.abort();
  }

  clear(): void {
    for (const key of [...this.ofds.keys()]) {
      const i = key.indexOf(':');
      void this.releaseOwner(BigInt(key.slice(0, i)), BigInt(key.slice(i + 1)));
    }
    for (const c of this.waiting.values()) c.abort();
    this.early.length = 0;
  }

  /** Run a waiting lock call, abortable by FUSE_INTERRUPT for `unique` and by each set's owner. */
  private async wait<T>(unique: bigint, sets: Set<AbortController>[], call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const i = this.early.indexOf(unique);
    if (i >= 0) {
      this.early.splice(i, 1);
      throw new FuseError('EINTR', `request ${unique} was interrupted`);
    }
    const c = new AbortController();
    this.waiting.set(unique, c);
    for (const s of sets) s.add(c);
    try {
      return await call(c.signal);
    } finally {
      this.waiting.delete(unique);
      for (const s of sets) s.delete(c);
    }
  }

  private async withOfd<T>(nodeid: bigint, h: Handle, owner: bigint, create: boolean, fn: (o: OwnerOfd | undefined) => Promise<T>): Promise<T> {
    const key = `${nodeid}:${owner}`;
    let p = this.ofds.get(key);
    if (p === undefined) {
      if (!create) return fn(undefined);
      p = this.open(h);
      this.ofds.set(key, p);
      this.usedVia.set(key, new Set());
      this.track(nodeid, owner);
      p.catch(() => {
        if (this.ofds.get(key) === p) {
          this.ofds.delete(key);
          this.usedVia.delete(key);
          this.untrack(nodeid, owner);
        }
      });
    }
    this.usedVia.get(key)?.add(h.fh);
    const o = await p;
    o.pins++;
    try {
      if (o.closed) throw new FuseError('EINTR', 'the lock owner closed the file meanwhile');
      return await fn(o);
    } finally {
      if (--o.pins === 0 && o.closed) o.finish(this.host.sys);
    }
  }

  /**
   * A new description of the handle's file, read-write if the host allows (a read lock needs read
   * access and a write lock write access; the guest already checked its own fd's mode).
   */
  private async open(h: Handle): Promise<OwnerOfd> {
    const name = this.host.procName(h.fd);
    const tryOpen = (flags: number) => this.host.sys.openat(this.host.procSelfFd, name, flags, 0);
    try {
      return new OwnerOfd(await tryOpen(native.O_RDWR));
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'EACCES' && code !== 'EROFS' && code !== 'ETXTBSY' && code !== 'EISDIR' && code !== 'EPERM') throw e;
      return new OwnerOfd(await tryOpen(h.hostFlags & native.O_ACCMODE));
    }
  }

  private track(nodeid: bigint, owner: bigint): void {
    const set = this.owners.get(nodeid);
    if (set === undefined) this.owners.set(nodeid, new Set([owner]));
    else set.add(owner);
  }

  private untrack(nodeid: bigint, owner: bigint): void {
    const set = this.owners.get(nodeid);
    if (set !== undefined && set.delete(owner) && set.size === 0) this.owners.delete(nodeid);
  }

  private close(o: OwnerOfd): void {
    if (o.closed) return;
    o.closed = true;
    for (const c of o.waits) c.abort();
    if (o.pins === 0) o.finish(this.host.sys);
  }
}
