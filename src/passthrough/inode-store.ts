/**
 * The inode store: every inode the guest holds a reference to, by nodeid, with how to reach it on the
 * host and its lookup count.
 *
 * Nodeids are handed out from a counter that only grows (the root is FUSE_ROOT_ID = 1), so a nodeid is
 * never reused and every entry's generation is 0. One host inode has one nodeid while the guest holds
 * it: an O_PATH-backed inode is found again by (st_dev, mount id, st_ino) — safe, because the open fd
 * keeps the inode (and so its number) alive; a handle-backed inode by its file handle, whose generation
 * tells a reused inode number apart. So hard links share a nodeid.
 *
 * A handle-backed inode costs an open_by_handle_at per operation unless its fd is in the bounded LRU
 * cache (fd-cache.ts), which also lets a lookup find a cached inode by its ids.
 *
 * Migration (migration.ts) installs inodes under the nodeids the guest already holds (adopt()), and
 * may install a *stale* one: a nodeid whose inode could not be found again, on which every operation
 * answers ESTALE until the guest forgets it.
 *
 * Lifetimes. The lookup count is the kernel's (see the contract in src/fuse/filesystem.ts). At zero the
 * inode leaves the maps at once (a new lookup makes a new nodeid), but its fd is closed only when no
 * operation still uses it: every operation pins the inode it works on (acquire/release), so a FORGET
 * racing a request — or a hostile guest forgetting early — can never make an fd number be reused under
 * a call in flight. The root is never forgotten.
 *
 * Bounded: a new nodeid beyond `limit` (--max-inodes, root included) answers ENFILE (limits.ts); a
 * lookup that finds a known inode does not count. Migration's adopt() is not limited: those nodeids
 * are already the guest's.
 */
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { FuseError } from '../fuse/errors.js';
import { logger } from '../log.js';
import * as native from '../native/fs.js';
import { HandleFdCache, defaultFdCacheCapacity } from './fd-cache.js';
import { IdsMap, sameIds, type InodeIds } from './ids-map.js';
import type { Host, Sys } from './host.js';
import { Limit } from './limits.js';
import type { InodeFileHandles } from './options.js';

const log = logger('passthrough');

/** What identifies a host inode while an fd keeps it alive. */
export type { InodeIds } from './ids-map.js';

/** name_to_handle_at's outcome, when the caller already asked for it (native.openStat). */
export interface MadeHandle {
  handle?: native.FileHandle;
  /** The errno name when it failed. */
  handleError?: string;
  /** The original error, rethrown as is when the failure is not "no handles here". */
  cause?: unknown;
}

/**
 * A file handle (struct file_handle as name_to_handle_at returned it) and the mount it belongs to.
 * The bytes live only in `key` (hex): a Buffer per inode cost ~450 bytes (its own ArrayBuffer and
 * backing store) — half the daemon's heap at 100,000 inodes; handleBytes() decodes them on an fd-cache
 * miss, the only place they are needed.
 */
export interface HostHandle {
  mountId: bigint;
  /**
   * Map key: mount id and handle bytes, `${mountId}:${bytes as latin1}` (one char per byte: half
   * the memory of hex, and quicker to build and hash per look-up).
   */
  key: string;
}

/** The struct file_handle bytes of `h`, for open_by_handle_at. */
export function handleBytes(h: HostHandle): Buffer {
  return Buffer.from(h.key.slice(h.key.indexOf(':') + 1), 'latin1');
}

export class Inode {
  /**
   * The kernel's references (lookup count). A number, not a bigint: each LOOKUP and READDIRPLUS
   * entry adds one, and a bigint increment allocates. Counts past 2^53 saturate there.
   */
  refcount: number;
  /** Operations in flight on this inode. */
  pins = 0;
  /** Out of the maps (forgotten or store cleared): close the fd at the last unpin. */
  removed = false;
  /** Lost in a migration: known to the guest, but every operation on it answers ESTALE. */
  stale = false;

  constructor(
    readonly nodeid: bigint,
    readonly ids: InodeIds,
    /** st_mode at lookup; only the file type (which never changes) is relied on. */
    readonly mode: number,
    /** An O_PATH fd, or -1 when the inode is held by `handle`. */
    readonly fd: number,
    readonly handle: HostHandle | undefined,
    refcount: bigint,
  ) {
    this.refcount = toCount(refcount);
  }

  get type(): number {
    return this.mode & native.S_IFMT;
  }
  get isDir(): boolean {
    return this.type === native.S_IFDIR;
  }
}

/** An O_PATH fd for an inode, valid until release(). */
export interface InodeFd {
  readonly inode: Inode;
  readonly fd: number;
  release(): void;
}

/**
 * One fd per mount for open_by_handle_at. It must be a real open (not O_PATH), so it is a read-only
 * open of the first directory or regular file met on that mount (in practice the mount's root, met
 * first on the way in); reference-counted by the handle-backed inodes that need it.
 */
class MountFds {
  private readonly m = new Map<bigint, { fd: number; refs: number }>();

  constructor(private readonly host: Host) {}

  fd(mountId: bigint): number {
    const e = this.m.get(mountId);
    if (e === undefined) throw new FuseError('ESTALE', `no mount fd for mount ${mountId}`);
    return e.fd;
  }

  /** Take a reference on mountId's fd, opening one from `pathFd` (an O_PATH fd on that mount) if needed. */
  async acquire(mountId: bigint, pathFd: number, mode: number): Promise<void> {
    const e = this.m.get(mountId);
    if (e !== undefined) {
      e.refs++;
      return;
    }
    const dir = (mode & native.S_IFMT) === native.S_IFDIR;
    const fd = await this.host.reopen(pathFd, mode, native.O_RDONLY | native.O_NONBLOCK | (dir ? native.O_DIRECTORY : 0));
    const again = this.m.get(mountId);
    if (again !== undefined) {
      again.refs++;
      void closeLogged(this.host.sys, fd);
      return;
    }
    this.m.set(mountId, { fd, refs: 1 });
  }

  release(mountId: bigint): void {
    const e = this.m.get(mountId);
    if (e === undefined || --e.refs > 0) return;
    this.m.delete(mountId);
    closeLogged(this.host.sys, e.fd);
  }

  clear(): void {
    for (const e of this.m.values()) closeLogged(this.host.sys, e.fd);
    this.m.clear();
  }
}

/** fds given to closeLogged in this turn of the event loop, per Sys: closed together, in one pool job. */
const closing = new Map<Sys, { fds: number[]; done: Promise<void> }>();

/**
 * Close an fd we own; a failure (EIO from a flush on close) is logged, never thrown. Resolves when
 * closed. The fds given in one turn of the event loop are closed by one closeMany job at its end
 * (a READDIRPLUS page or a burst of FORGETs can give dozens), so the caller must not use `fd` any more.
 */
export function closeLogged(sys: Sys, fd: number): Promise<void> {
  let batch = closing.get(sys);
  if (batch === undefined) {
    const fds: number[] = [];
    const done = new Promise<void>((resolve) =>
      setImmediate(() => {
        closing.delete(sys);
        sys
          .closeMany(fds)
          .then(
            (failed) => void (failed > 0 && log.warn(`${failed} of the closes of fds ${fds.join(', ')} failed`)),
            (e: unknown) => log.warn(`closing fds ${fds.join(', ')} failed: ${(e as Error).message}`),
          )
          .finally(resolve);
      }),
    );
    batch = { fds, done };
    closing.set(sys, batch);
  }
  batch.fds.push(fd);
  return batch.done;
}

export class InodeStore {
  private readonly byNodeid = new Map<bigint, Inode>();
  /** O_PATH-backed inodes only (see the file comment). */
  private readonly byIds = new IdsMap<Inode>();
  private readonly byHandle = new Map<string, Inode>();
  /**
   * The inodes of byHandle again, by ids: only a candidate (ids alone may name a reused inode number),
   * confirmed by comparing its handle with the one a lookup just read (knownInRecords).
   */
  private readonly handleIds = new IdsMap<Inode>();
  /** Handle-backed inodes in the store. */
  private handleBacked = 0;
  private nextNodeid = FUSE_ROOT_ID + 1n;
  private readonly mounts: MountFds;
  /** Mount ids we already warned about (no file handles there). */
  private readonly warned = new Set<bigint>();
  /** O_PATH fds of recently used handle-backed inodes. */
  readonly fdCache: HandleFdCache;

  constructor(
    private readonly host: Host,
    /** May change to 'never' at init() when handles turn out not to work. */
    public handles: InodeFileHandles,
    /** Most fds the handle-backed inode cache keeps (default: scaled to RLIMIT_NOFILE; 0: none). */
    fdCacheCapacity = defaultFdCacheCapacity(host.sys),
    /** Most nodeids held at once, the root included. */
    readonly limit = new Limit('inodes', Number.MAX_SAFE_INTEGER, '--max-inodes'),
  ) {
    this.mounts = new MountFds(host);
    this.fdCache = new HandleFdCache(host.sys, fdCacheCapacity);
  }

  private get sys(): Sys {
    return this.host.sys;
  }

  /** Inodes known (the root included). */
  get size(): number {
    return this.byNodeid.size;
  }

  /** At --max-inodes: a new nodeid would be refused (creating calls check this before touching the host). */
  get full(): boolean {
    return this.byNodeid.size >= this.limit.max;
  }

  /** ENFILE now if a new nodeid would be refused. */
  admitNew(): void {
    this.limit.admit(this.byNodeid.size);
  }

  get(nodeid: bigint): Inode | undefined {
    return this.byNodeid.get(nodeid);
  }

  /** Every inode known, the root included (migration). */
  all(): Inode[] {
    return [...this.byNodeid.values()];
  }

  /** The nodeid the next new inode gets. */
  get nextId(): bigint {
    return this.nextNodeid;
  }

  /** Never hand out a nodeid below `next` (migration: ids the guest holds stay unique). */
  reserveIds(next: bigint): void {
    if (next > this.nextNodeid) this.nextNodeid = next;
  }

  /** The inode for nodeid, pinned: release() it when done. EBADF for a nodeid we never gave out (or forgot). */
  pin(nodeid: bigint): Inode {
    const inode = this.byNodeid.get(nodeid);
    if (inode === undefined) throw new FuseError('EBADF', `unknown nodeid ${nodeid}`);
    inode.pins++;
    return inode;
  }

  unpin(inode: Inode): void {
    if (--inode.pins !== 0) return;
    if (inode.removed) this.dispose(inode);
    else if (inode.fd < 0) this.fdCache.trim();
  }

  /** Pin nodeid and get an O_PATH fd for it (opened from its handle if it has no fd). */
  async acquire(nodeid: bigint): Promise<InodeFd> {
    return this.fdOf(this.pin(nodeid));
  }

  /**
   * An O_PATH fd for an inode the caller has pinned; release() unpins it. A handle-backed inode's fd
   * comes from the cache, or is opened from its handle and given to the cache. A stale inode: ESTALE.
   */
  async fdOf(inode: Inode): Promise<InodeFd> {
    const at = this.fdAtHand(inode);
    if (at !== undefined) return { inode, fd: at, release: this.unpinOnce(inode) };
    return this.openFd(inode);
  }

  /** A pinned inode's fd when no call is needed for it: its own, or the cache's. */
  private fdAtHand(inode: Inode): number | undefined {
    if (inode.fd >= 0) return inode.fd;
    return inode.stale ? undefined : this.fdCache.get(inode);
  }

  private unpinOnce(inode: Inode): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.unpin(inode);
    };
  }

  /** fdOf() for a pinned inode with no fd at hand: opened from its handle (ESTALE for a stale one). */
  private async openFd(inode: Inode): Promise<InodeFd> {
    if (inode.stale) {
      this.unpin(inode);
      throw new FuseError('ESTALE', `nodeid ${inode.nodeid} was not found again after migration`);
    }
    const unpinOnce = this.unpinOnce(inode);
    const h = inode.handle!;
    let fd: number;
    try {
      fd = await this.sys.openByHandleAt(this.mounts.fd(h.mountId), handleBytes(h), native.O_PATH);
    } catch (e) {
      this.unpin(inode);
      throw e;
    }
    if (this.fdCache.keeps) return { inode, fd: this.fdCache.put(inode, fd), release: unpinOnce };
    let closed = false;
    return {
      inode,
      fd,
      release: () => {
        if (closed) return;
        closed = true;
        closeLogged(this.sys, fd);
        unpinOnce();
      },
    };
  }

  /** Run fn with an O_PATH fd of nodeid. */
  async with<T>(nodeid: bigint, fn: (fd: number, inode: Inode) => Promise<T>): Promise<T> {
    // The common case, an fd at hand, without fdOf()'s promise, closure and handle object: those
    // were a measurable share of a GETATTR on the event-loop thread.
    const inode = this.pin(nodeid);
    const at = this.fdAtHand(inode);
    if (at !== undefined) {
      try {
        return await fn(at, inode);
      } finally {
        this.unpin(inode);
      }
    }
    const h = await this.openFd(inode);
    try {
      return await fn(h.fd, h.inode);
    } finally {
      h.release();
    }
  }

  /** Install the root (the shared directory): O_PATH-backed always, never forgotten. Takes ownership of fd. */
  setRoot(fd: number, st: native.Statx): Inode {
    const root = new Inode(FUSE_ROOT_ID, idsOf(st), st.mode, fd, undefined, 2n);
    this.byNodeid.set(FUSE_ROOT_ID, root);
    this.byIds.add(root);
    return root;
  }

  get root(): Inode | undefined {
    return this.byNodeid.get(FUSE_ROOT_ID);
  }

  /** One more lookup reference on an inode the caller holds (pinned). */
  ref(inode: Inode): Inode {
    if (inode.removed) throw new FuseError('ESTALE', `nodeid ${inode.nodeid} was forgotten meanwhile`);
    inode.refcount++;
    return inode;
  }

  /**
   * The inode `pathFd` (an O_PATH fd just opened, never a symlink followed) refers to, with one more
   * lookup reference: the known one, or a new one. Consumes pathFd (kept by a new fd-backed inode,
   * closed otherwise), also on failure.
   */
  async resolve(pathFd: number, st: native.Statx, made?: MadeHandle): Promise<Inode> {
    let owned = true;
    try {
      const ids = idsOf(st);
      const alive = this.known(st);
      if (alive !== undefined) return this.ref(alive);
      const handle = this.handles === 'never' ? undefined : made !== undefined ? this.takeHandle(made, st) : await this.makeHandle(pathFd, st);
      if (handle !== undefined) {
        const known = this.byHandle.get(handle.key);
        if (known !== undefined) return this.ref(this.donate(known, pathFd, () => (owned = false)));
        const usable = await this.mountFor(handle, pathFd, st.mode);
        if (usable) {
          const again = this.byHandle.get(handle.key);
          if (again !== undefined) {
            this.mounts.release(handle.mountId);
            return this.ref(this.donate(again, pathFd, () => (owned = false)));
          }
          if (this.full) {
            this.mounts.release(handle.mountId);
            throw this.limit.refuse();
          }
          const inode = this.add(new Inode(this.nextNodeid++, ids, st.mode, -1, handle, 1n));
          return this.donate(inode, pathFd, () => (owned = false));
        }
      }
      const known = this.byIds.get(ids);
      if (known !== undefined && !known.removed) return this.ref(known);
      this.limit.admit(this.byNodeid.size);
      owned = false;
      return this.add(new Inode(this.nextNodeid++, ids, st.mode, pathFd, undefined, 1n));
    } finally {
      if (owned) closeLogged(this.sys, pathFd);
    }
  }

  /**
   * The inode with the ids `st` reports, if one is held alive (so those ids cannot name another file):
   * an O_PATH-backed inode (the root always is), whatever the handle mode, or a handle-backed one
   * whose fd is cached. A handle-backed inode without a cached fd is found by `handle` (taken from
   * the same name just after the statx), and only if its ids agree with `st` (so the name was not
   * switched to another file in between). Undefined means "maybe unknown": resolve() decides.
   */
  known(st: native.Statx, handle?: native.FileHandle): Inode | undefined {
    const held = this.byIds.get(st);
    if (held !== undefined && !held.removed) return held;
    const cached = this.fdCache.byIds(st);
    if (cached !== undefined && !cached.removed) return cached;
    return handle !== undefined ? this.knownByHandle(st, handle) : undefined;
  }

  /**
   * known() for record `k` of a statxNames answer (`st` is its attributes), without decoding its
   * handle where it matches the one of the handle-backed inode with those ids (READDIRPLUS asks this
   * for every record). Otherwise the handle is decoded and looked up as known() would.
   */
  knownInRecords(st: native.Statx, recs: native.StatxRecords, k: number): Inode | undefined {
    const alive = this.known(st);
    if (alive !== undefined || this.handles === 'never') return alive;
    const c = this.handleIds.get(st);
    const h = c?.handle;
    if (h !== undefined && !c!.removed && recs.handleIs(k, h.mountId, h.key, h.key.indexOf(':') + 1)) return c;
    return this.knownByHandle(st, recs.handle(k).handle);
  }

  /**
   * Whether every handle-backed inode probably has its fd cached, so known(st) finds any held inode
   * by its ids alone and a statx of a name needs no file handle beside it. A hint for saving that
   * name_to_handle_at, never for correctness: a held inode missed this way is opened again and
   * resolve() finds it by its handle.
   */
  get handlesCached(): boolean {
    return this.fdCache.size >= this.handleBacked;
  }

  /** known()'s last step alone: the handle-backed inode `handle` names, if its ids agree with `st`. */
  knownByHandle(st: native.Statx, handle: native.FileHandle | undefined): Inode | undefined {
    if (handle === undefined || this.handles === 'never') return undefined;
    const byHandle = this.byHandle.get(handleKey(handle.mountId, handle.handle));
    if (byHandle === undefined || byHandle.removed || !sameIds(byHandle.ids, st)) return undefined;
    return byHandle;
  }

  /**
   * Migration: install the host inode `pathFd` (an O_PATH fd, never a symlink followed) under a nodeid
   * the guest already holds, with its lookup count. Held as a new lookup would hold it (file handle or
   * fd). If another nodeid already holds the same host inode, both stay valid (only the first is found
   * by later lookups). Consumes pathFd, also on failure.
   */
  async adopt(nodeid: bigint, refcount: bigint, pathFd: number, st: native.Statx): Promise<Inode> {
    let owned = true;
    try {
      if (this.byNodeid.has(nodeid)) throw new FuseError('EEXIST', `nodeid ${nodeid} is already in use`);
      const ids = idsOf(st);
      const handle = this.handles === 'never' ? undefined : await this.makeHandle(pathFd, st);
      if (handle !== undefined && (await this.mountFor(handle, pathFd, st.mode))) {
        const inode = this.add(new Inode(nodeid, ids, st.mode, -1, handle, refcount));
        return this.donate(inode, pathFd, () => (owned = false));
      }
      owned = false;
      return this.add(new Inode(nodeid, ids, st.mode, pathFd, undefined, refcount));
    } finally {
      if (owned) closeLogged(this.sys, pathFd);
    }
  }

  /** Migration: a nodeid the guest holds whose inode was not found again; every operation on it is ESTALE. */
  adoptStale(nodeid: bigint, refcount: bigint, mode: number): Inode {
    if (this.byNodeid.has(nodeid)) throw new FuseError('EEXIST', `nodeid ${nodeid} is already in use`);
    const inode = new Inode(nodeid, { dev: 0, mntId: 0n, ino: 0n }, mode, -1, undefined, refcount);
    inode.stale = true;
    this.byNodeid.set(nodeid, inode);
    return inode;
  }

  /** Migration rollback: drop an adopted inode whatever its count. */
  discard(inode: Inode): void {
    if (this.byNodeid.get(inode.nodeid) === inode) this.remove(inode);
  }

  /**
   * Drop n lookup references (saturating, as the kernel may over-forget after a failed delivery).
   * At zero the inode is forgotten; the root never is. Unknown nodeids are ignored.
   */
  forget(nodeid: bigint, n: bigint): void {
    const inode = this.byNodeid.get(nodeid);
    if (inode === undefined) return;
    const k = toCount(n);
    if (nodeid === FUSE_ROOT_ID) {
      inode.refcount = inode.refcount > k ? inode.refcount - k : 1;
      return;
    }
    inode.refcount = inode.refcount > k ? inode.refcount - k : 0;
    if (inode.refcount === 0) this.remove(inode);
  }

  /** Forget everything (DESTROY). Inodes in use are closed when their last operation ends. */
  clear(): void {
    for (const inode of [...this.byNodeid.values()]) this.remove(inode);
    this.mounts.clear();
  }

  /**
   * Decide whether file handles work here (init): 'prefer' falls back to 'never', 'mandatory' throws.
   * When they work, the root directory becomes the mount fd of its own mount (held by the root).
   */
  async checkHandles(rootFd: number, st: native.Statx): Promise<void> {
    if (this.handles === 'never') return;
    let why: string;
    try {
      const h = await this.sys.nameToHandleAt(rootFd, '', native.AT_EMPTY_PATH);
      await this.mounts.acquire(h.mountId, rootFd, st.mode);
      try {
        closeLogged(this.sys, await this.sys.openByHandleAt(this.mounts.fd(h.mountId), h.handle, native.O_PATH));
        return;
      } catch (e) {
        this.mounts.release(h.mountId);
        throw e;
      }
    } catch (e) {
      why = `${(e as { code?: string }).code ?? ''} ${(e as Error).message}`;
    }
    if (this.handles === 'mandatory') throw new FuseError('EOPNOTSUPP', `--inode-file-handles=mandatory, but file handles do not work on the shared directory: ${why}`);
    log.warn(`file handles do not work on the shared directory (${why}): using O_PATH fds`);
    this.handles = 'never';
  }

  private add(inode: Inode): Inode {
    this.byNodeid.set(inode.nodeid, inode);
    if (inode.handle !== undefined) {
      this.handleBacked++;
      if (!this.byHandle.has(inode.handle.key)) {
        this.byHandle.set(inode.handle.key, inode);
        this.handleIds.add(inode);
      }
    } else {
      this.byIds.add(inode);
    }
    return inode;
  }

  /**
   * A lookup just opened `pathFd` for the handle-backed `inode`: keep it in the fd cache if the inode
   * has none there (the next operation then needs no open_by_handle_at). `taken` is called when the
   * cache took the fd. Returns inode.
   */
  private donate(inode: Inode, pathFd: number, taken: () => void): Inode {
    if (!this.fdCache.keeps || inode.removed) return inode;
    inode.pins++; // pinned while put() trims, so the fd just given is not the one evicted
    try {
      if (!this.fdCache.has(inode)) {
        this.fdCache.put(inode, pathFd);
        taken();
      }
    } finally {
      this.unpin(inode);
    }
    return inode;
  }

  private remove(inode: Inode): void {
    if (inode.removed) return;
    inode.removed = true;
    this.byNodeid.delete(inode.nodeid);
    if (inode.handle !== undefined) {
      this.handleBacked--;
      if (this.byHandle.get(inode.handle.key) === inode) this.byHandle.delete(inode.handle.key);
      this.handleIds.delete(inode);
    } else {
      this.byIds.delete(inode);
    }
    if (inode.pins === 0) this.dispose(inode);
  }

  private dispose(inode: Inode): void {
    if (inode.fd >= 0) closeLogged(this.sys, inode.fd);
    this.fdCache.drop(inode);
    if (inode.handle !== undefined) this.mounts.release(inode.handle.mountId);
  }

  /** A file handle for pathFd, or undefined where the filesystem has none ('prefer'). */
  private async makeHandle(pathFd: number, st: native.Statx): Promise<HostHandle | undefined> {
    let h: native.FileHandle;
    try {
      h = await this.sys.nameToHandleAt(pathFd, '', native.AT_EMPTY_PATH);
    } catch (e) {
      return this.takeHandle({ handleError: (e as { code?: string }).code ?? 'EIO', cause: e }, st);
    }
    return this.takeHandle({ handle: h }, st);
  }

  /** What name_to_handle_at gave (here or in a compound call), under the handle mode's rules. */
  private takeHandle(made: MadeHandle, st: native.Statx): HostHandle | undefined {
    const h = made.handle;
    if (h !== undefined) return { mountId: h.mountId, key: handleKey(h.mountId, h.handle) };
    const code = made.handleError;
    if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EOVERFLOW') {
      throw made.cause ?? Object.assign(new Error(`name_to_handle_at: ${code}`), { code, syscall: 'name_to_handle_at' });
    }
    if (this.handles === 'mandatory') throw new FuseError('EOPNOTSUPP', `no file handle for an inode on mount ${st.mntId} (${code})`);
    if (!this.warned.has(st.mntId)) {
      this.warned.add(st.mntId);
      log.warn(`no file handles on mount ${st.mntId} (${code}): using O_PATH fds there`);
    }
    return undefined;
  }

  /** Make sure the handle's mount has an fd; false ('prefer') when none can be opened. */
  private async mountFor(handle: HostHandle, pathFd: number, mode: number): Promise<boolean> {
    try {
      await this.mounts.acquire(handle.mountId, pathFd, mode);
      return true;
    } catch (e) {
      if (this.handles === 'mandatory') throw e;
      return false;
    }
  }
}

const handleKey = (mountId: bigint, bytes: Buffer): string => `${mountId}:${bytes.toString('latin1')}`;

/** A lookup count (a u64 on the wire and in migration state) as a number, saturating at 2^53 - 1. */
function toCount(n: bigint): number {
  return n >= BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : n <= 0n ? 0 : Number(n);
}

export function idsOf(st: native.Statx): InodeIds {
  return { dev: st.dev, mntId: st.mntId, ino: st.ino };
}
