/**
 * PassthroughFs: the FileSystem that serves a host directory, as the Rust virtiofsd's passthrough does.
 *
 * How it reaches the host (see host.ts for the confinement rules, inode-store.ts for lifetimes,
 * lookup.ts for lookups and READDIRPLUS, open-stat.ts for the one-job open + stat):
 *  - each inode the guest holds is an O_PATH fd (or a file handle), never a path;
 *  - names are single components resolved against such an fd without following symlinks;
 *  - file I/O goes through fds opened again from /proc/self/fd/N (handles.ts);
 *  - every syscall runs on the native worker pool (src/native/fs.ts), waits for locks on threads of
 *    their own, so neither a slow filesystem nor a held lock stalls the event loop.
 *
 * Who acts: creating ops (MKNOD, MKDIR, SYMLINK, CREATE, TMPFILE) run as the guest caller — uid, gid,
 * and the supplementary group FUSE_CREATE_SUPP_GROUP sends — so ownership, setgid directories and the
 * host's permission checks come out as on a local filesystem; ACCESS checks as the caller too. The
 * other ops run as the daemon, as virtiofsd's do: the guest kernel mounts virtio-fs with
 * default_permissions and has already checked them with the caller's full group list, which the host
 * never sees.
 *
 * umask: without FUSE_DONT_MASK the guest kernel has already masked `mode`, so the host must add
 * nothing (each creating call runs with umask 0, whatever the daemon's own is). FUSE_DONT_MASK is asked
 * for only with POSIX ACLs, where whether the umask applies depends on the parent's default ACL, which
 * only the host sees: then the caller's umask goes to the host call, and the host kernel decides.
 */
import {
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_GID,
  FATTR_KILL_SUIDGID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_MTIME_NOW,
  FATTR_SIZE,
  FATTR_UID,
  FUSE_ASYNC_READ,
  FUSE_ATOMIC_O_TRUNC,
  FUSE_CREATE_SUPP_GROUP,
  FUSE_DO_READDIRPLUS,
  FUSE_DONT_MASK,
  FUSE_EXPORT_SUPPORT,
  FUSE_FLOCK_LOCKS,
  FUSE_HANDLE_KILLPRIV_V2,
  FUSE_LK_FLOCK,
  FUSE_OPEN_KILL_SUIDGID,
  FUSE_PARALLEL_DIROPS,
  FUSE_POSIX_ACL,
  FUSE_POSIX_LOCKS,
  FUSE_READDIRPLUS_AUTO,
  FUSE_RELEASE_FLOCK_UNLOCK,
  FUSE_RELEASE_FLUSH,
  FUSE_SETXATTR_EXT,
  FUSE_SUBMOUNTS,
  FUSE_WRITE_CACHE,
  FUSE_WRITE_KILL_SUIDGID,
  FUSE_WRITEBACK_CACHE,
} from '../../protocol/fuse-flags.js';
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { FuseError } from '../fuse/errors.js';
import type {
  AttrReply,
  Context,
  CreateReply,
  DirentPlusSink,
  DirentSink,
  Entry,
  FuseFileLock,
  FuseKstatfs,
  FuseSetattrIn,
  InitInfo,
  IoctlReply,
  OpenReply,
  StatxReply,
} from '../fuse/filesystem.js';
import { NullFileSystem } from '../fuse/null-filesystem.js';
import { logger } from '../log.js';
import * as native from '../native/fs.js';
import { toFuseAttr, toFuseStatfs, toFuseStatx } from './attr.js';
import { HandleTable, type Handle } from './handles.js';
import { Limit } from './limits.js';
import { Host, checkName, isDotDot, type Sys } from './host.js';
import { InodeStore, closeLogged, type Inode } from './inode-store.js';
import { readCached, readInto, writeFrom } from './io.js';
import { InlinePolicy } from './inline.js';
import type { InodeIds } from './ids-map.js';
import { Locks } from './locks.js';
import { cachePolicy, resolveOptions, type CachePolicy, type PassthroughOptions, type ResolvedOptions } from './options.js';
import { readDir } from './readdir.js';
import { Lookups } from './lookup.js';
import { ChildOpener, type OpenedChild } from './open-stat.js';
import { exportState, importState, type MigrationContext } from './migration.js';
import type { MigratableFileSystem, MigrationOptions } from '../migration/migratable.js';
import { Xattrs } from './xattr.js';

const log = logger('passthrough');

/** statx flags for an fd (O_PATH or not) itself, never a symlink's target. */
const AT_FD = native.AT_EMPTY_PATH | native.AT_SYMLINK_NOFOLLOW;
/** copy_file_range replies carry a u32; stay below it, page-aligned, as the kernel does. */
const COPY_MAX = 0xfffff000;
/** O_TMPFILE without its O_DIRECTORY part. */
const O_TMPFILE_BIT = native.O_TMPFILE & ~native.O_DIRECTORY;
/** readCached's answer when it is not tried. */
const NOT_READ = { done: 0, complete: false } as const;

/** What INIT settled, beyond the options. */
interface Session {
  writeback: boolean;
  submounts: boolean;
  killpriv: boolean;
  posixAcl: boolean;
  dontMask: boolean;
  suppGroups: boolean;
}
const NO_SESSION: Session = { writeback: false, submounts: false, killpriv: false, posixAcl: false, dontMask: false, suppGroups: false };

/** Optional collaborators; production passes none. */
export interface PassthroughDeps {
  /** The native fs module (tests wrap it to inject latency or failures). */
  sys?: Sys;
}

/** Counts of what the file system holds, for tests and diagnostics. */
export interface PassthroughStats {
  inodes: number;
  handles: number;
  lockOwners: number;
}

/** The handle-backed inodes' fd cache (fd-cache.ts): fds held, capacity, hits and misses so far. */
export interface FdCacheStats {
  size: number;
  capacity: number;
  hits: number;
  misses: number;
}

export class PassthroughFs extends NullFileSystem implements MigratableFileSystem {
  readonly options: ResolvedOptions;
  private readonly sys: Sys;
  private readonly host: Host;
  private readonly opener: ChildOpener;
  private readonly lookups: Lookups;
  /** O_PATH fd of the shared directory, opened at construction (startup errors surface there). */
  private readonly sharedFd: number;
  private readonly inodes: InodeStore;
  private readonly handles: HandleTable;
  /** Which calls may run on this thread (inline.ts). */
  private readonly inline: InlinePolicy;
  private readonly locks: Locks;
  private readonly xattrs: Xattrs;
  private readonly cache: CachePolicy;
  private session: Session = NO_SESSION;
  private closed = false;

  /** Opens the shared directory and /proc/self/fd now: a missing directory throws here (ENOENT, ENOTDIR). */
  constructor(options: PassthroughOptions, deps: PassthroughDeps = {}) {
    super();
    this.options = resolveOptions(options);
    this.sys = deps.sys ?? native;
    if (this.options.threadPoolSize !== undefined) this.sys.setThreadPoolSize(this.options.threadPoolSize);
    if (this.options.poolSpinUs !== undefined) this.sys.setPoolSpin(this.options.poolSpinUs);
    this.sharedFd = this.sys.openatSync(native.AT_FDCWD, this.options.sharedDir, native.O_PATH | native.O_DIRECTORY, 0);
    let procFd: number;
    try {
      procFd = this.sys.openatSync(native.AT_FDCWD, '/proc/self/fd', native.O_PATH | native.O_DIRECTORY, 0);
    } catch (e) {
      closeLogged(this.sys, this.sharedFd);
      throw e;
    }
    this.host = new Host(this.sys, procFd);
    this.opener = new ChildOpener(this.sys, procFd);
    this.inodes = new InodeStore(this.host, this.options.inodeFileHandles, this.options.handleFdCacheSize, new Limit('inodes', this.options.maxInodes, '--max-inodes'));
    this.inline = new InlinePolicy(this.sys, this.options.inlineCalls);
    this.lookups = new Lookups({
      sys: this.sys,
      inline: this.inline,
      host: this.host,
      inodes: this.inodes,
      opener: this.opener,
      submounts: () => this.session.submounts,
      entry: (inode, st, flags) => this.entry(inode, st, flags),
    });
    this.handles = new HandleTable(this.sys, new Limit('open handles', this.options.maxHandles, '--max-handles'));
    this.locks = new Locks(this.host);
    this.xattrs = new Xattrs(this.host, () => this.session.posixAcl);
    this.cache = cachePolicy(this.options.cache);
  }

  /** The fds held on host paths: the shared directory and /proc/self/fd (the sandbox re-points them with dup3). */
  hostFds(): { shared: number; proc: number } {
    return { shared: this.sharedFd, proc: this.host.procSelfFd };
  }

  /** The device is stopping (GET_VRING_BASE, reset, hand-over): waits that could last forever end with EINTR. */
  abortBlocking(): void {
    this.locks.abortWaits();
  }

  stats(): PassthroughStats {
    return { inodes: this.inodes.size, handles: this.handles.size, lockOwners: this.locks.size };
  }

  fdCacheStats(): FdCacheStats {
    const c = this.inodes.fdCache;
    return { size: c.size, capacity: c.capacity, hits: c.hits, misses: c.misses };
  }

  /** Drop everything and close the shared directory and /proc fds: the object is done. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.destroy();
    this.closed = true;
    await Promise.all([closeLogged(this.sys, this.sharedFd), closeLogged(this.sys, this.host.procSelfFd)]);
  }

  // ---- migration (migration.ts) ------------------------------------------------------------------

  /** What the guest holds, as JSON (layout: migration-state.ts). Called with every ring stopped. */
  async exportState(o: MigrationOptions): Promise<unknown> {
    return exportState(this.migration(), o);
  }

  /** Install a state from another daemon; after init() (the restored session), before any request. */
  async importState(state: unknown, o: MigrationOptions): Promise<void> {
    return importState(this.migration(), state, o);
  }

  private migration(): MigrationContext {
    return { sys: this.sys, host: this.host, inodes: this.inodes, handles: this.handles, allowDirectIo: this.options.allowDirectIo };
  }

  // ---- session ----------------------------------------------------------------------------------

  override async init(info: InitInfo): Promise<bigint> {
    if (this.closed) throw new FuseError('ENODEV', 'file system closed');
    await this.destroy(); // a new session starts from nothing, DESTROY or not
    const o = this.options;
    const c = info.capable;
    const has = (f: bigint) => (c & f) === f;

    const rootFd = await this.sys.dup(this.sharedFd);
    let st: native.Statx;
    try {
      st = await this.sys.statx(rootFd, '', AT_FD);
      this.inodes.handles = o.inodeFileHandles;
      await this.inodes.checkHandles(rootFd, st);
    } catch (e) {
      closeLogged(this.sys, rootFd);
      throw e;
    }
    const root = this.inodes.setRoot(rootFd, st);
    // Learn the shared directory's filesystem now, while nothing waits on it (inline.ts).
    await this.inline.statInline(root.ids, root.fd);

    let want = FUSE_ASYNC_READ | FUSE_PARALLEL_DIROPS | FUSE_ATOMIC_O_TRUNC | FUSE_EXPORT_SUPPORT;
    want |= FUSE_POSIX_LOCKS | FUSE_FLOCK_LOCKS | FUSE_CREATE_SUPP_GROUP | FUSE_SETXATTR_EXT;
    if (o.readdirplus) want |= FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO;
    const s: Session = { ...NO_SESSION, suppGroups: has(FUSE_CREATE_SUPP_GROUP) && info.minor >= 38 };
    if (o.writeback && has(FUSE_WRITEBACK_CACHE)) {
      want |= FUSE_WRITEBACK_CACHE;
      s.writeback = true;
    }
    if (o.announceSubmounts) {
      if (has(FUSE_SUBMOUNTS)) {
        want |= FUSE_SUBMOUNTS;
        s.submounts = true;
      } else log.warn('cannot announce submounts: the guest does not support FUSE_SUBMOUNTS');
    }
    if (o.killprivV2) {
      if (has(FUSE_HANDLE_KILLPRIV_V2)) {
        want |= FUSE_HANDLE_KILLPRIV_V2;
        s.killpriv = true;
      } else log.warn('cannot enable killpriv_v2: the guest does not support FUSE_HANDLE_KILLPRIV_V2');
    }
    if (o.posixAcl) {
      const acl = FUSE_POSIX_ACL | FUSE_DONT_MASK | FUSE_SETXATTR_EXT;
      if (!has(acl)) throw new FuseError('EPROTO', 'POSIX ACLs need FUSE_POSIX_ACL, FUSE_DONT_MASK and FUSE_SETXATTR_EXT from the guest');
      want |= acl;
      s.posixAcl = true;
      s.dontMask = true;
    }
    this.session = s;
    return want;
  }

  override async destroy(): Promise<void> {
    this.locks.clear();
    this.handles.clear();
    this.inodes.clear();
    this.session = NO_SESSION;
  }

  // ---- names ------------------------------------------------------------------------------------

  override async lookup(_ctx: Context, parent: bigint, name: Buffer): Promise<Entry> {
    checkName(name, 'lookup');
    return this.inodes.with(parent, (fd, p) => this.lookupAt(p, fd, name));
  }

  override async forget(_ctx: Context, nodeid: bigint, nlookup: bigint): Promise<void> {
    this.inodes.forget(nodeid, nlookup);
  }

  override async batchForget(_ctx: Context, items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void> {
    for (const i of items) this.inodes.forget(i.nodeid, i.nlookup);
  }

  override async mkdir(ctx: Context, parent: bigint, name: Buffer, mode: number): Promise<Entry> {
    checkName(name, 'entry');
    return this.inodes.with(parent, async (fd, p) => {
      this.inodes.admitNew(); // a new name is a new inode: refuse before creating it on the host
      await this.asCaller(ctx, fd, true, (cr) => this.sys.mkdirat(fd, name, mode, cr));
      return this.lookups.created(p, fd, name);
    });
  }

  override async mknod(ctx: Context, parent: bigint, name: Buffer, mode: number, rdev: number): Promise<Entry> {
    checkName(name, 'entry');
    return this.inodes.with(parent, async (fd, p) => {
      this.inodes.admitNew(); // a new name is a new inode: refuse before creating it on the host
      // FUSE's rdev is the kernel's 32-bit encoding, which equals glibc's dev_t for every value it can hold.
      await this.asCaller(ctx, fd, true, (cr) => this.sys.mknodat(fd, name, mode, rdev, cr));
      return this.lookups.created(p, fd, name);
    });
  }

  override async symlink(ctx: Context, parent: bigint, name: Buffer, target: Buffer): Promise<Entry> {
    checkName(name, 'entry');
    return this.inodes.with(parent, async (fd, p) => {
      this.inodes.admitNew(); // a new name is a new inode: refuse before creating it on the host
      await this.asCaller(ctx, fd, false, (cr) => this.sys.symlinkat(target, fd, name, cr));
      return this.lookups.created(p, fd, name);
    });
  }

  override async link(_ctx: Context, nodeid: bigint, newParent: bigint, newName: Buffer): Promise<Entry> {
    checkName(newName, 'entry');
    return this.inodes.with(nodeid, (fd) =>
      this.inodes.with(newParent, async (pfd, p) => {
        try {
          await this.sys.linkat(fd, '', pfd, newName, native.AT_EMPTY_PATH);
        } catch (e) {
          // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the /proc form does not.
          if ((e as { code?: string }).code !== 'ENOENT') throw e;
          await this.sys.linkat(this.host.procSelfFd, this.host.procName(fd), pfd, newName, native.AT_SYMLINK_FOLLOW);
        }
        return this.lookupAt(p, pfd, newName);
      }),
    );
  }

  override async unlink(_ctx: Context, parent: bigint, name: Buffer): Promise<void> {
    checkName(name, 'entry');
    await this.inodes.with(parent, (fd) => this.sys.unlinkat(fd, name, 0));
  }

  override async rmdir(_ctx: Context, parent: bigint, name: Buffer): Promise<void> {
    checkName(name, 'entry');
    await this.inodes.with(parent, (fd) => this.sys.unlinkat(fd, name, native.AT_REMOVEDIR));
  }

  /** Unsupported flags on the host (EINVAL on ceph-fuse for NOREPLACE/EXCHANGE) go back as they are. */
  override async rename(_ctx: Context, parent: bigint, name: Buffer, newParent: bigint, newName: Buffer, flags: number): Promise<void> {
    checkName(name, 'entry');
    checkName(newName, 'entry');
    await this.inodes.with(parent, (fd) => this.inodes.with(newParent, (nfd) => this.sys.renameat2(fd, name, nfd, newName, flags)));
  }

  override async readlink(_ctx: Context, nodeid: bigint): Promise<Uint8Array> {
    return this.inodes.with(nodeid, (fd) => this.sys.readlinkat(fd, ''));
  }

  // ---- attributes -------------------------------------------------------------------------------

  override async getattr(_ctx: Context, nodeid: bigint, fh: bigint | undefined): Promise<AttrReply> {
    const st =
      fh !== undefined
        ? await this.handles.with(fh, nodeid, undefined, (h) => this.stat(h.fd, this.inodes.get(nodeid)?.ids))
        : await this.inodes.with(nodeid, (fd, inode) => this.stat(fd, inode.ids));
    return { attr: toFuseAttr(st), timeout: this.cache.attrTimeout };
  }

  override async statx(_ctx: Context, nodeid: bigint, fh: bigint | undefined, sxFlags: number, sxMask: number): Promise<StatxReply> {
    const flags = AT_FD | (sxFlags & (native.AT_STATX_FORCE_SYNC | native.AT_STATX_DONT_SYNC));
    const mask = sxMask === 0 ? native.STATX_BASIC_STATS : sxMask;
    const call = (fd: number, ids: InodeIds | undefined) => this.statWith(fd, ids, flags, mask);
    const st =
      fh !== undefined
        ? await this.handles.with(fh, nodeid, undefined, (h) => call(h.fd, this.inodes.get(nodeid)?.ids))
        : await this.inodes.with(nodeid, (fd, inode) => call(fd, inode.ids));
    return { statx: toFuseStatx(st), timeout: this.cache.attrTimeout };
  }

  /**
   * In the order virtiofsd uses: mode, owner, size, times. Through the open handle when the guest gave
   * one; otherwise through the inode (truncation opens it for writing, only a regular file).
   */
  override async setattr(_ctx: Context, nodeid: bigint, a: FuseSetattrIn, fh: bigint | undefined): Promise<AttrReply> {
    const h = fh !== undefined ? this.handles.pin(fh, nodeid) : undefined;
    try {
      const st = await this.inodes.with(nodeid, async (pathFd, inode) => {
        const fd = h?.fd ?? pathFd;
        const v = a.valid;
        if (v & FATTR_MODE) await this.chmod(fd, a.mode & 0o7777);
        if (v & (FATTR_UID | FATTR_GID)) {
          await this.sys.fchownat(fd, '', v & FATTR_UID ? a.uid : -1, v & FATTR_GID ? a.gid : -1, AT_FD);
        }
        if (v & FATTR_SIZE) {
          if (h !== undefined) await this.sys.ftruncate(h.fd, a.size);
          else {
            const wfd = await this.host.reopen(pathFd, inode.mode, native.O_WRONLY | native.O_NONBLOCK);
            try {
              await this.sys.ftruncate(wfd, a.size);
            } finally {
              await closeLogged(this.sys, wfd);
            }
          }
        }
        if (v & (FATTR_ATIME | FATTR_MTIME | FATTR_ATIME_NOW | FATTR_MTIME_NOW)) {
          const omit = { sec: 0, nsec: native.UTIME_OMIT };
          const now = { sec: 0, nsec: native.UTIME_NOW };
          const at = v & FATTR_ATIME_NOW ? now : v & FATTR_ATIME ? { sec: BigInt.asIntN(64, a.atime), nsec: a.atimensec } : omit;
          const mt = v & FATTR_MTIME_NOW ? now : v & FATTR_MTIME ? { sec: BigInt.asIntN(64, a.mtime), nsec: a.mtimensec } : omit;
          // Through /proc: utimensat on the magic link changes the inode itself (a symlink included).
          await this.sys.utimensat(this.host.procSelfFd, this.host.procName(fd), at, mt, 0);
        }
        if (this.session.killpriv && v & FATTR_KILL_SUIDGID && !(v & FATTR_MODE) && !inode.isDir) await this.killSuidgid(fd);
        return this.stat(fd);
      });
      return { attr: toFuseAttr(st), timeout: this.cache.attrTimeout };
    } finally {
      if (h !== undefined) this.handles.unpin(h);
    }
  }

  override async access(ctx: Context, nodeid: bigint, mask: number): Promise<void> {
    await this.inodes.with(nodeid, (fd) => this.sys.faccessat2(fd, '', mask, native.AT_EACCESS | native.AT_EMPTY_PATH, this.creds(ctx, false)));
  }

  override async statfs(_ctx: Context, nodeid: bigint): Promise<FuseKstatfs> {
    return toFuseStatfs(await this.inodes.with(nodeid, (fd) => this.sys.fstatfs(fd)));
  }

  // ---- open files -------------------------------------------------------------------------------

  override async open(_ctx: Context, nodeid: bigint, flags: number, openFlags: number): Promise<OpenReply> {
    this.handles.admit();
    return this.inodes.with(nodeid, async (fd, inode) => {
      const h = await this.openHandle(inode, fd, flags, openFlags);
      return { fh: h.fh, openFlags: this.cache.fileOpenFlags };
    });
  }

  override async create(ctx: Context, parent: bigint, name: Buffer, mode: number, flags: number, openFlags: number): Promise<CreateReply> {
    checkName(name, 'entry');
    this.handles.admit();
    return this.inodes.with(parent, async (pfd, p) => {
      const hostFlags = this.hostOpenFlags(flags);
      if (this.inodes.full) {
        // Only an existing name can be served: a file created now could get no nodeid and would be left behind.
        if (!(flags & native.O_EXCL)) {
          try {
            return await this.openExisting(p, pfd, name, flags, openFlags);
          } catch (e) {
            if ((e as { code?: string }).code !== 'ENOENT') throw e;
          }
        }
        throw this.inodes.limit.refuse();
      }
      let c: OpenedChild;
      try {
        // One pool job: the create (as the caller), an O_PATH fd of the new file (as the daemon), statx, handle.
        const o = { mode, viaProc: true, handle: this.inodes.handles !== 'never' };
        c = await this.asCaller(ctx, pfd, true, (cr) => this.opener.open(pfd, name, hostFlags | native.O_CREAT | native.O_EXCL, o, cr));
      } catch (e) {
        if ((e as { code?: string }).code !== 'EEXIST' || flags & native.O_EXCL) throw e;
        return this.openExisting(p, pfd, name, flags, openFlags);
      }
      return this.adoptOpened(c, hostFlags);
    });
  }

  override async tmpfile(ctx: Context, parent: bigint, mode: number, flags: number, openFlags: number): Promise<CreateReply> {
    void openFlags;
    this.handles.admit();
    this.inodes.admitNew();
    return this.inodes.with(parent, async (pfd) => {
      // O_EXCL stays: with O_TMPFILE it means "never to be linked".
      const hostFlags = ((this.hostOpenFlags(flags) | (flags & native.O_EXCL)) & ~(native.O_CREAT | native.O_TMPFILE)) | native.O_TMPFILE;
      // O_TMPFILE unsupported by the host filesystem (EOPNOTSUPP, e.g. ceph-fuse) goes back as it is.
      const fd = await this.asCaller(ctx, pfd, true, (cr) => this.host.openChild(pfd, Buffer.from('.'), hostFlags, mode, cr));
      return this.adoptCreated(fd, hostFlags & ~O_TMPFILE_BIT & ~native.O_DIRECTORY);
    });
  }

  override async read(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, _size: number, _flags: number, dest: Uint8Array[]): Promise<number> {
    const h = this.handles.pin(fh, nodeid, 'file');
    try {
      // Only where the filesystem is known to be local too: RWF_NOWAIT is the kernel's promise, and a
      // network filesystem that took it lightly would stall every guest request behind it.
      const ids = this.inodes.get(nodeid)?.ids;
      const fast = ids !== undefined && this.inline.knownInline(ids) ? readCached(this.sys, h, dest, offset) : NOT_READ;
      return fast.complete ? fast.done : await readInto(this.sys, h.fd, dest, offset, fast.done);
    } finally {
      this.handles.unpin(h);
    }
  }

  /**
   * O_APPEND was taken off the host fd at open (the guest may turn it on and off with fcntl, and
   * writeback writes must land at their offset): a write the guest issued with O_APPEND set, and not
   * from its page cache (FUSE_WRITE_CACHE), appends with RWF_APPEND, so appends from several guests stay atomic.
   */
  override async write(
    _ctx: Context,
    nodeid: bigint,
    fh: bigint,
    offset: bigint,
    data: Uint8Array[],
    flags: number,
    writeFlags: number,
  ): Promise<number> {
    return this.handles.with(fh, nodeid, 'file', async (h) => {
      const append = flags & native.O_APPEND && !(writeFlags & FUSE_WRITE_CACHE) ? native.RWF_APPEND : 0;
      // A guest sends KILL_SUIDGID with every write of a writer without CAP_FSETID: one pool job, not two.
      return writeFrom(this.sys, h.fd, data, offset, append, this.session.killpriv && (writeFlags & FUSE_WRITE_KILL_SUIDGID) !== 0);
    });
  }

  /**
   * The guest closed an fd of this file: close a duplicate of ours (what close(2) would do on the host:
   * NFS flushes and reports write errors there), and drop the POSIX locks of the closing owner.
   */
  override async flush(_ctx: Context, nodeid: bigint, fh: bigint, lockOwner: bigint): Promise<void> {
    await this.handles.with(fh, nodeid, 'file', async (h) => {
      await this.locks.releaseOwner(nodeid, lockOwner);
      // Where the host's close(2) of a duplicate would do nothing more (inline.ts NO_FLUSH_FS), no pool job.
      const ids = this.inodes.get(nodeid)?.ids;
      if (ids === undefined || !this.inline.flushIsNoop(ids)) await this.sys.closeDup(h.fd);
    });
  }

  override async release(_ctx: Context, nodeid: bigint, fh: bigint, _flags: number, releaseFlags: number, lockOwner?: bigint): Promise<void> {
    const h = this.handles.pin(fh, nodeid, 'file', 'allow');
    try {
      if (releaseFlags & FUSE_RELEASE_FLOCK_UNLOCK && !h.stale) await this.sys.flock(h.fd, native.LOCK_UN).catch(() => undefined);
      if (releaseFlags & FUSE_RELEASE_FLUSH && lockOwner !== undefined) await this.locks.releaseOwner(nodeid, lockOwner);
      // The reply does not wait for the close (batched onto the pool by closeLogged, which logs a
      // failure): the guest ignores RELEASE's errors, waits for its reply in close(2) (virtiofs sends
      // it synchronously), and nothing it can see depends on the fd being gone. flock locks were
      // dropped above.
      void this.handles.remove(fh, nodeid);
    } finally {
      this.handles.unpin(h);
    }
    await this.locks.releaseHandle(nodeid, fh);
    if (!this.handles.anyOn(nodeid)) await this.locks.releaseInode(nodeid);
  }

  override async fsync(_ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void> {
    await this.handles.with(fh, nodeid, 'file', (h) => (datasync ? this.sys.fdatasync(h.fd) : this.sys.fsync(h.fd)));
  }

  override async fallocate(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, length: bigint, mode: number): Promise<void> {
    await this.handles.with(fh, nodeid, 'file', (h) => this.sys.fallocate(h.fd, mode, offset, length));
  }

  /** SEEK_DATA / SEEK_HOLE (the guest answers SEEK_SET/CUR/END itself); ENXIO past the end as on the host. */
  override async lseek(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, whence: number): Promise<bigint> {
    return this.handles.with(fh, nodeid, 'file', (h) => this.sys.lseek(h.fd, offset, whence));
  }

  override async copyFileRange(
    _ctx: Context,
    nodeidIn: bigint,
    fhIn: bigint,
    offIn: bigint,
    nodeidOut: bigint,
    fhOut: bigint,
    offOut: bigint,
    len: bigint,
    flags: bigint,
  ): Promise<number> {
    if (flags !== 0n) throw new FuseError('EINVAL', `copy_file_range flags ${flags}`);
    const n = len > BigInt(COPY_MAX) ? COPY_MAX : Number(len);
    return this.handles.with(fhIn, nodeidIn, 'file', (hi) =>
      this.handles.with(fhOut, nodeidOut, 'file', (ho) => this.sys.copyFileRange(hi.fd, offIn, ho.fd, offOut, n, 0)),
    );
  }

  override async ioctl(_ctx: Context, _nodeid: bigint, _fh: bigint, _flags: number, _cmd: number, _arg: bigint, _input: Buffer, _outSize: number): Promise<IoctlReply> {
    throw new FuseError('ENOTTY', 'no ioctls are passed through');
  }

  // ---- directories ------------------------------------------------------------------------------

  override async opendir(_ctx: Context, nodeid: bigint, _flags: number): Promise<OpenReply> {
    this.handles.admit();
    return this.inodes.with(nodeid, async (fd, inode) => {
      const dfd = await this.host.reopen(fd, inode.mode, native.O_RDONLY | native.O_DIRECTORY);
      const h = this.handles.add(nodeid, dfd, native.O_RDONLY | native.O_DIRECTORY, true);
      return { fh: h.fh, openFlags: this.cache.dirOpenFlags };
    });
  }

  override async readdir(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentSink): Promise<void> {
    const rootIno = nodeid === FUSE_ROOT_ID ? this.inodes.root?.ids.ino : undefined;
    await this.handles.with(fh, nodeid, 'dir', (h) =>
      readDir(this.sys, h, offset, async (d) => {
        if (!sink.fits(d.name.length)) return 'full';
        const ino = rootIno !== undefined && isDotDot(d.name) ? rootIno : d.ino;
        return sink.add({ ino, off: d.off, type: d.type, name: d.name }) ? 'added' : 'full';
      }),
    );
  }

  /** See Lookups.readdirPlus (lookup.ts). */
  override async readdirplus(_ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentPlusSink): Promise<void> {
    const parent = this.inodes.pin(nodeid);
    try {
      await this.handles.with(fh, nodeid, 'dir', (h) => this.lookups.readdirPlus(parent, h, offset, sink));
    } finally {
      this.inodes.unpin(parent);
    }
  }

  override async releasedir(_ctx: Context, nodeid: bigint, fh: bigint, _flags: number): Promise<void> {
    const h = this.handles.pin(fh, nodeid, 'dir', 'allow');
    let closed: Promise<void>;
    try {
      closed = this.handles.remove(fh, nodeid);
    } finally {
      this.handles.unpin(h);
    }
    await closed;
  }

  override async fsyncdir(_ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void> {
    await this.handles.with(fh, nodeid, 'dir', (h) => (datasync ? this.sys.fdatasync(h.fd) : this.sys.fsync(h.fd)));
  }

  /** syncfs(2) needs a real open: the inode (the root, or a submount's root) is opened read-only for it. */
  override async syncfs(_ctx: Context, nodeid: bigint): Promise<void> {
    await this.inodes.with(nodeid, async (fd, inode) => {
      const rfd = await this.host.reopen(fd, inode.mode, native.O_RDONLY | native.O_NONBLOCK);
      try {
        await this.sys.syncfs(rfd);
      } finally {
        await closeLogged(this.sys, rfd);
      }
    });
  }

  // ---- xattrs -----------------------------------------------------------------------------------

  override async setxattr(_ctx: Context, nodeid: bigint, name: Buffer, value: Buffer, flags: number, setxattrFlags: number): Promise<void> {
    this.needXattr();
    await this.inodes.with(nodeid, (fd) => this.xattrs.set(fd, name, value, flags, setxattrFlags));
  }

  override async getxattr(_ctx: Context, nodeid: bigint, name: Buffer, _size: number): Promise<Uint8Array> {
    this.needXattr();
    return this.inodes.with(nodeid, (fd) => this.xattrs.get(fd, name));
  }

  override async listxattr(_ctx: Context, nodeid: bigint, _size: number): Promise<Uint8Array> {
    this.needXattr();
    return this.inodes.with(nodeid, (fd) => this.xattrs.list(fd));
  }

  override async removexattr(_ctx: Context, nodeid: bigint, name: Buffer): Promise<void> {
    this.needXattr();
    await this.inodes.with(nodeid, (fd) => this.xattrs.remove(fd, name));
  }

  // ---- locks (see locks.ts for the semantics) -----------------------------------------------------

  override async getlk(_ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, _lkFlags: number): Promise<FuseFileLock> {
    return this.handles.with(fh, nodeid, undefined, (h) => this.locks.getlk(nodeid, h, owner, lock));
  }

  override async setlk(ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, lkFlags: number, sleep: boolean): Promise<void> {
    await this.handles.with(fh, nodeid, undefined, (h) =>
      lkFlags & FUSE_LK_FLOCK ? this.locks.flock(h, lock.type, sleep, ctx.unique) : this.locks.setlk(nodeid, h, owner, lock, sleep, ctx.unique),
    );
  }

  override async interrupt(_ctx: Context, unique: bigint): Promise<void> {
    this.locks.interrupt(unique);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  /** Look `name` up in `parent` (whose O_PATH or directory fd is `parentFd`): one new lookup reference (lookup.ts). */
  private lookupAt(parent: Inode, parentFd: number, name: Uint8Array): Promise<Entry> {
    return this.lookups.at(parent, parentFd, name);
  }

  private entry(inode: Inode, st: native.Statx, flags = 0): Entry {
    return {
      nodeid: inode.nodeid,
      generation: 0n,
      attr: toFuseAttr(st, flags),
      entryTimeout: this.cache.entryTimeout,
      attrTimeout: this.cache.attrTimeout,
    };
  }

  /** The attributes of what fd holds; `ids` (the inode's, when known) lets it run inline (inline.ts). */
  private stat(fd: number, ids?: InodeIds): Promise<native.Statx> {
    return this.statWith(fd, ids, AT_FD, native.STATX_BASIC_STATS | native.STATX_MNT_ID);
  }

  private async statWith(fd: number, ids: InodeIds | undefined, flags: number, mask: number): Promise<native.Statx> {
    if (ids !== undefined) {
      const inline = this.inline.statInline(ids, fd);
      if (inline === true || (inline !== false && (await inline))) return this.sys.statxSync(fd, '', flags, mask);
    }
    return this.sys.statx(fd, '', flags, mask);
  }

  /** chmod the inode any fd (O_PATH included) holds, through /proc (fchmod refuses O_PATH fds). */
  private chmod(fd: number, mode: number): Promise<void> {
    return this.sys.fchmodat(this.host.procSelfFd, this.host.procName(fd), mode, 0);
  }

  /** What FUSE_*_KILL_SUIDGID asks: setuid goes, setgid too if group-executable (as the kernel's should_remove_suid). */
  private async killSuidgid(fd: number): Promise<void> {
    const { mode } = await this.sys.statx(fd, '', AT_FD, native.STATX_MODE | native.STATX_TYPE);
    if ((mode & native.S_IFMT) === native.S_IFDIR) return;
    let kill = mode & native.S_ISUID;
    if (mode & native.S_ISGID && mode & 0o010) kill |= native.S_ISGID;
    if (kill !== 0) await this.chmod(fd, mode & 0o7777 & ~kill);
  }

  /**
   * Run a creating call in directory `dirFd` as the caller. When the guest did not say which
   * supplementary groups the caller has (no FUSE_CREATE_SUPP_GROUP: kernels before 6.7) and the host
   * refuses, the call is tried once more with the directory's group added: the guest kernel, which
   * knows all the caller's groups, has already allowed the create (virtio-fs mounts use
   * default_permissions), and group-write on the directory is the only way it can have done so that
   * the host did not see. That is exactly the group FUSE_CREATE_SUPP_GROUP would have sent. (This
   * changes no ownership: new files still get the caller's gid, or the directory's if setgid.)
   */
  private async asCaller<T>(ctx: Context, dirFd: number, umask: boolean, call: (creds: native.Creds) => Promise<T>): Promise<T> {
    const creds = this.creds(ctx, umask);
    try {
      return await call(creds);
    } catch (e) {
      // With FUSE_CREATE_SUPP_GROUP negotiated, no group sent means the caller is not in the directory's group.
      if ((e as { code?: string }).code !== 'EACCES' || this.session.suppGroups || ctx.uid === 0) throw e;
      const { gid } = await this.sys.statx(dirFd, '', AT_FD, native.STATX_GID);
      if (gid === ctx.gid || creds.groups?.includes(gid)) throw e;
      return call({ ...creds, groups: [...(creds.groups ?? []), gid] });
    }
  }

  /** The caller's identity for a host call; with `umask` for creating calls (see the file comment). */
  private creds(ctx: Context, umask: boolean): native.Creds {
    const c: native.Creds = { uid: ctx.uid, gid: ctx.gid, groups: this.session.suppGroups ? (ctx.supplementaryGroups ?? []) : [] };
    if (umask) c.umask = this.session.dontMask ? (ctx.umask ?? 0) & 0o777 : 0;
    return c;
  }

  /**
   * The guest's open flags as the host fd gets them (virtiofsd's rules): no O_APPEND (see write()), no
   * O_NOATIME (EPERM for a daemon that does not own the file), O_DIRECT only if allowed, and with
   * writeback caching O_WRONLY becomes O_RDWR (the guest's page cache reads partial pages).
   */
  private hostOpenFlags(flags: number): number {
    let f = flags & ~(native.O_APPEND | native.O_NOATIME | native.O_CREAT | native.O_EXCL | native.O_NOCTTY);
    if (!this.options.allowDirectIo) f &= ~native.O_DIRECT;
    if (this.session.writeback && (f & native.O_ACCMODE) === native.O_WRONLY) f = (f & ~native.O_ACCMODE) | native.O_RDWR;
    return f;
  }

  private async openHandle(inode: Inode, pathFd: number, flags: number, openFlags: number): Promise<Handle> {
    const hostFlags = this.hostOpenFlags(flags);
    const fd = await this.host.reopen(pathFd, inode.mode, hostFlags);
    try {
      if (this.session.killpriv && openFlags & FUSE_OPEN_KILL_SUIDGID && flags & native.O_TRUNC) await this.killSuidgid(fd);
    } catch (e) {
      closeLogged(this.sys, fd);
      throw e;
    }
    return this.handles.add(inode.nodeid, fd, hostFlags, inode.isDir);
  }

  /** CREATE of an existing name without O_EXCL: a lookup and an open; the lookup's reference is undone if the open fails. */
  private async openExisting(parent: Inode, pfd: number, name: Buffer, flags: number, openFlags: number): Promise<CreateReply> {
    const entry = await this.lookupAt(parent, pfd, name);
    try {
      const h = await this.inodes.with(entry.nodeid, (fd, inode) => this.openHandle(inode, fd, flags, openFlags));
      return { entry, fh: h.fh, openFlags: this.cache.fileOpenFlags };
    } catch (e) {
      this.inodes.forget(entry.nodeid, 1n);
      throw e;
    }
  }

  /** A file just created by openStat (CREATE): its inode (one reference) and a handle on its fd (both fds consumed). */
  private async adoptOpened(c: OpenedChild, hostFlags: number): Promise<CreateReply> {
    let inode: Inode;
    try {
      inode = await this.inodes.resolve(c.pathFd, c.st, this.inodes.handles !== 'never' ? c : undefined);
    } catch (e) {
      closeLogged(this.sys, c.fd);
      throw e;
    }
    let h: Handle;
    try {
      h = this.handles.add(inode.nodeid, c.fd, hostFlags, false); // closes fd when refused
    } catch (e) {
      this.inodes.forget(inode.nodeid, 1n);
      throw e;
    }
    return { entry: this.entry(inode, c.st), fh: h.fh, openFlags: this.cache.fileOpenFlags };
  }

  /** A file just created and opened (TMPFILE): its inode (one reference) and a handle on `fd` (consumed). */
  private async adoptCreated(fd: number, hostFlags: number): Promise<CreateReply> {
    let inode: Inode;
    let st: native.Statx;
    try {
      const pathFd = await this.host.pathFdOf(fd);
      try {
        st = await this.stat(pathFd);
      } catch (e) {
        closeLogged(this.sys, pathFd);
        throw e;
      }
      inode = await this.inodes.resolve(pathFd, st);
    } catch (e) {
      closeLogged(this.sys, fd);
      throw e;
    }
    let h: Handle;
    try {
      h = this.handles.add(inode.nodeid, fd, hostFlags, false); // closes fd when refused
    } catch (e) {
      this.inodes.forget(inode.nodeid, 1n);
      throw e;
    }
    return { entry: this.entry(inode, st), fh: h.fh, openFlags: this.cache.fileOpenFlags };
  }

  private needXattr(): void {
    if (!this.options.xattr) throw new FuseError('ENOSYS', 'xattrs are off (--xattr)');
  }
}
