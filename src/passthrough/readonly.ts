/**
 * ReadonlyFs: any FileSystem, with every operation that would change the filesystem refused with EROFS
 * (--readonly), as a decorator rather than checks sprinkled through the passthrough (virtiofsd's
 * PassthroughFsRo). Reads, lookups, locks and syncs pass through.
 *
 * Opens: only O_RDONLY, without O_TRUNC; O_CREAT opens an existing file (a missing one is EROFS,
 * O_EXCL on an existing one EEXIST). Like virtiofsd, EROFS comes before other checks (mkdir of an
 * existing name is EROFS, not EEXIST).
 */
import { FUSE_SETUPMAPPING_FLAG_WRITE, FUSE_WRITEBACK_CACHE } from '../../protocol/fuse-flags.js';
import { FuseError } from '../fuse/errors.js';
import type {
  AttrReply,
  Context,
  CreateReply,
  DirentPlusSink,
  DirentSink,
  Entry,
  FileSystem,
  FuseFileLock,
  FuseKstatfs,
  FuseSetattrIn,
  InitInfo,
  IoctlReply,
  OpenReply,
  StatxReply,
} from '../fuse/filesystem.js';
import { O_ACCMODE, O_CREAT, O_EXCL, O_RDONLY, O_TRUNC, W_OK } from '../native/fs.js';
import { isMigratable, type MigrationOptions } from '../migration/migratable.js';

function erofs(what: string): never {
  throw new FuseError('EROFS', `${what}: read-only export`);
}

function readOnlyOpen(flags: number): number {
  if ((flags & O_ACCMODE) !== O_RDONLY) erofs('open for writing');
  if (flags & O_TRUNC) erofs('open with O_TRUNC');
  return flags & ~(O_CREAT | O_EXCL);
}

export class ReadonlyFs implements FileSystem {
  /** Present when the inner file system migrates: its state is the same with or without --readonly. */
  readonly exportState?: (o: MigrationOptions) => Promise<unknown>;
  readonly importState?: (state: unknown, o: MigrationOptions) => Promise<void>;

  constructor(readonly inner: FileSystem) {
    if (isMigratable(inner)) {
      this.exportState = (o) => inner.exportState(o);
      this.importState = (state, o) => inner.importState(state, o);
    }
  }

  async init(info: InitInfo): Promise<bigint> {
    return (await this.inner.init(info)) & ~FUSE_WRITEBACK_CACHE;
  }
  abortBlocking(): void {
    this.inner.abortBlocking?.();
  }
  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  // ---- refused ----
  async setattr(_c: Context, _n: bigint, _a: FuseSetattrIn, _fh: bigint | undefined): Promise<AttrReply> {
    erofs('setattr');
  }
  async symlink(_c: Context, _p: bigint, _n: Buffer, _t: Buffer): Promise<Entry> {
    erofs('symlink');
  }
  async mknod(_c: Context, _p: bigint, _n: Buffer, _m: number, _r: number): Promise<Entry> {
    erofs('mknod');
  }
  async mkdir(_c: Context, _p: bigint, _n: Buffer, _m: number): Promise<Entry> {
    erofs('mkdir');
  }
  async unlink(_c: Context, _p: bigint, _n: Buffer): Promise<void> {
    erofs('unlink');
  }
  async rmdir(_c: Context, _p: bigint, _n: Buffer): Promise<void> {
    erofs('rmdir');
  }
  async rename(_c: Context, _p: bigint, _n: Buffer, _np: bigint, _nn: Buffer, _f: number): Promise<void> {
    erofs('rename');
  }
  async link(_c: Context, _n: bigint, _np: bigint, _nn: Buffer): Promise<Entry> {
    erofs('link');
  }
  async tmpfile(_c: Context, _p: bigint, _m: number, _f: number, _o: number): Promise<CreateReply> {
    erofs('tmpfile');
  }
  async write(_c: Context, _n: bigint, _fh: bigint, _o: bigint, _d: Uint8Array[], _f: number, _wf: number, _lo?: bigint): Promise<number> {
    erofs('write');
  }
  async setxattr(_c: Context, _n: bigint, _name: Buffer, _v: Buffer, _f: number, _sf: number): Promise<void> {
    erofs('setxattr');
  }
  async removexattr(_c: Context, _n: bigint, _name: Buffer): Promise<void> {
    erofs('removexattr');
  }
  async fallocate(_c: Context, _n: bigint, _fh: bigint, _o: bigint, _l: bigint, _m: number): Promise<void> {
    erofs('fallocate');
  }
  async copyFileRange(_c: Context, _ni: bigint, _fi: bigint, _oi: bigint, _no: bigint, _fo: bigint, _oo: bigint, _l: bigint, _f: bigint): Promise<number> {
    erofs('copy_file_range');
  }

  // ---- restricted ----
  async open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): Promise<OpenReply> {
    return this.inner.open(ctx, nodeid, readOnlyOpen(flags), openFlags);
  }
  async create(ctx: Context, parent: bigint, name: Buffer, _mode: number, flags: number, openFlags: number): Promise<CreateReply> {
    let entry: Entry;
    try {
      entry = await this.inner.lookup(ctx, parent, name);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') erofs('create');
      throw e;
    }
    try {
      if (flags & O_EXCL) throw new FuseError('EEXIST');
      const r = await this.inner.open(ctx, entry.nodeid, readOnlyOpen(flags), openFlags);
      return { ...r, entry };
    } catch (e) {
      await this.inner.forget(ctx, entry.nodeid, 1n);
      throw e;
    }
  }
  async setupMapping(ctx: Context, nodeid: bigint, fh: bigint, foffset: bigint, len: bigint, flags: bigint, moffset: bigint): Promise<void> {
    if (flags & FUSE_SETUPMAPPING_FLAG_WRITE) erofs('writable DAX mapping');
    return this.inner.setupMapping(ctx, nodeid, fh, foffset, len, flags, moffset);
  }
  async access(ctx: Context, nodeid: bigint, mask: number): Promise<void> {
    if (mask & W_OK) erofs('access for writing');
    return this.inner.access(ctx, nodeid, mask);
  }

  // ---- passed through ----
  lookup(ctx: Context, parent: bigint, name: Buffer): Promise<Entry> {
    return this.inner.lookup(ctx, parent, name);
  }
  forget(ctx: Context, nodeid: bigint, nlookup: bigint): Promise<void> {
    return this.inner.forget(ctx, nodeid, nlookup);
  }
  batchForget(ctx: Context, items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void> {
    return this.inner.batchForget(ctx, items);
  }
  getattr(ctx: Context, nodeid: bigint, fh: bigint | undefined): Promise<AttrReply> {
    return this.inner.getattr(ctx, nodeid, fh);
  }
  readlink(ctx: Context, nodeid: bigint): Promise<Uint8Array> {
    return this.inner.readlink(ctx, nodeid);
  }
  read(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, size: number, flags: number, dest: Uint8Array[], lockOwner?: bigint): Promise<number> {
    return this.inner.read(ctx, nodeid, fh, offset, size, flags, dest, lockOwner);
  }
  flush(ctx: Context, nodeid: bigint, fh: bigint, lockOwner: bigint): Promise<void> {
    return this.inner.flush(ctx, nodeid, fh, lockOwner);
  }
  release(ctx: Context, nodeid: bigint, fh: bigint, flags: number, releaseFlags: number, lockOwner?: bigint): Promise<void> {
    return this.inner.release(ctx, nodeid, fh, flags, releaseFlags, lockOwner);
  }
  fsync(ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void> {
    return this.inner.fsync(ctx, nodeid, fh, datasync);
  }
  opendir(ctx: Context, nodeid: bigint, flags: number): Promise<OpenReply> {
    return this.inner.opendir(ctx, nodeid, flags);
  }
  readdir(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentSink): Promise<void> {
    return this.inner.readdir(ctx, nodeid, fh, offset, sink);
  }
  readdirplus(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentPlusSink): Promise<void> {
    return this.inner.readdirplus(ctx, nodeid, fh, offset, sink);
  }
  releasedir(ctx: Context, nodeid: bigint, fh: bigint, flags: number): Promise<void> {
    return this.inner.releasedir(ctx, nodeid, fh, flags);
  }
  fsyncdir(ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void> {
    return this.inner.fsyncdir(ctx, nodeid, fh, datasync);
  }
  statfs(ctx: Context, nodeid: bigint): Promise<FuseKstatfs> {
    return this.inner.statfs(ctx, nodeid);
  }
  getxattr(ctx: Context, nodeid: bigint, name: Buffer, size: number): Promise<Uint8Array> {
    return this.inner.getxattr(ctx, nodeid, name, size);
  }
  listxattr(ctx: Context, nodeid: bigint, size: number): Promise<Uint8Array> {
    return this.inner.listxattr(ctx, nodeid, size);
  }
  getlk(ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, lkFlags: number): Promise<FuseFileLock> {
    return this.inner.getlk(ctx, nodeid, fh, owner, lock, lkFlags);
  }
  setlk(ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, lkFlags: number, sleep: boolean): Promise<void> {
    return this.inner.setlk(ctx, nodeid, fh, owner, lock, lkFlags, sleep);
  }
  bmap(ctx: Context, nodeid: bigint, block: bigint, blocksize: number): Promise<bigint> {
    return this.inner.bmap(ctx, nodeid, block, blocksize);
  }
  ioctl(ctx: Context, nodeid: bigint, fh: bigint, flags: number, cmd: number, arg: bigint, input: Buffer, outSize: number): Promise<IoctlReply> {
    return this.inner.ioctl(ctx, nodeid, fh, flags, cmd, arg, input, outSize);
  }
  poll(ctx: Context, nodeid: bigint, fh: bigint, kh: bigint, flags: number, events: number): Promise<number> {
    return this.inner.poll(ctx, nodeid, fh, kh, flags, events);
  }
  lseek(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, whence: number): Promise<bigint> {
    return this.inner.lseek(ctx, nodeid, fh, offset, whence);
  }
  syncfs(ctx: Context, nodeid: bigint): Promise<void> {
    return this.inner.syncfs(ctx, nodeid);
  }
  statx(ctx: Context, nodeid: bigint, fh: bigint | undefined, sxFlags: number, sxMask: number): Promise<StatxReply> {
    return this.inner.statx(ctx, nodeid, fh, sxFlags, sxMask);
  }
  removeMapping(ctx: Context, mappings: ReadonlyArray<{ moffset: bigint; len: bigint }>): Promise<void> {
    return this.inner.removeMapping(ctx, mappings);
  }
  interrupt(ctx: Context, unique: bigint): Promise<void> {
    return this.inner.interrupt(ctx, unique);
  }
}
