/**
 * The FileSystem interface the FUSE server drives: one async method per FUSE operation, already decoded
 * and validated (names are single path components unless stated otherwise). Extend NullFileSystem,
 * which answers every operation with ENOSYS, and override what you implement.
 *
 * Errors: throw a FuseError(errno) or any Error whose `code` is an errno name ('ENOENT'); the server
 * turns it into the reply. Anything else becomes EIO.
 *
 * THE LOOKUP-COUNT CONTRACT (the kernel's, which every implementation must keep exactly):
 * every successful lookup, mknod, mkdir, symlink, link, create, tmpfile — and every READDIRPLUS entry
 * the sink accepted with a non-zero nodeid — hands the kernel one reference to the returned nodeid, so
 * the file system increments that node's lookup count by one. forget(nodeid, n) and each batchForget item
 * decrement it by n; when it reaches zero the kernel holds no reference and the nodeid may be released
 * (and later reused with a different generation). A reply carrying nodeid 0 (a negative lookup) hands no
 * reference. The root (FUSE_ROOT_ID) is never forgotten for good. The server delivers every READDIRPLUS
 * entry the sink accepted, even when the file system throws afterwards (the reply then carries the
 * entries so far), so accepted references always reach the kernel.
 *
 * Ids are bigint: nodeid, fh, generation, offsets and lock owners can use all 64 bits.
 */
import type { SecurityContext } from '../../protocol/fuse-records.js';
import type { FuseAttr, FuseFileLock, FuseKstatfs, FuseSetattrIn, FuseStatx } from '../../protocol/fuse-structs.js';

export type { FuseAttr, FuseFileLock, FuseKstatfs, FuseSetattrIn, FuseStatx, SecurityContext };

/** Who asks, for every request. */
export interface Context {
  /** fuse_in_header.unique of the request (the id FUSE_INTERRUPT refers to). */
  readonly unique: bigint;
  /** fuse_in_header.opcode. */
  readonly opcode: number;
  /** The caller's fsuid, fsgid and tgid as the kernel sent them. */
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Supplementary group (FUSE_EXT_GROUPS), sent on create-type ops when FUSE_CREATE_SUPP_GROUP is on. */
  readonly supplementaryGroups?: readonly number[];
  /** The caller's umask, on mknod/mkdir/create/tmpfile. The mode argument is already masked unless FUSE_DONT_MASK. */
  readonly umask?: number;
  /** Security context for the new inode (FUSE_SECURITY_CTX); null when the kernel said there is none. */
  readonly securityContext?: SecurityContext | null;
  /** Which request queue the request came from (virtio-fs), if the transport said. */
  readonly queue?: number;
}

/** A directory entry handed to the kernel: one lookup reference to `nodeid` (see the contract). */
export interface Entry {
  /** 0 means a negative entry: "does not exist", cached for entryTimeout; carries no reference. */
  nodeid: bigint;
  generation: bigint;
  attr: FuseAttr;
  /** Seconds the kernel may cache the name (fractions allowed; Infinity = forever). */
  entryTimeout: number;
  /** Seconds the kernel may cache the attributes. */
  attrTimeout: number;
}

/** Attributes and how long they may be cached (seconds). */
export interface AttrReply {
  attr: FuseAttr;
  timeout: number;
}

/** An open file or directory. */
export interface OpenReply {
  fh: bigint;
  /** FOPEN_* bits. */
  openFlags?: number;
}

/** CREATE and TMPFILE: the new entry (one lookup reference) and its open handle. */
export interface CreateReply extends OpenReply {
  entry: Entry;
}

export interface StatxReply {
  statx: FuseStatx;
  timeout: number;
  /** fuse_statx_out.flags. */
  flags?: number;
}

export interface IoctlReply {
  /** The ioctl's return value (>= 0) — errors are thrown instead. */
  result: number;
  /** Output data, at most the request's out_size bytes. */
  data?: Uint8Array;
}

/** One READDIR record. */
export interface DirEntry {
  ino: bigint;
  /** The offset of the NEXT entry: what the kernel sends back as the readdir offset to resume after this one. */
  off: bigint;
  /** DT_* type (d_type), i.e. (mode & S_IFMT) >> 12. */
  type: number;
  /** A single component; a string is encoded as UTF-8. */
  name: Uint8Array | string;
}

/** Where readdir() puts its entries: straight into the reply buffer. */
export interface DirentSink {
  /** True when a record with a name of `nameLen` bytes still fits. */
  fits(nameLen: number): boolean;
  /** Append one record. Returns false, writing nothing, when it does not fit: stop there. */
  add(d: DirEntry): boolean;
  /** Records added so far. */
  readonly count: number;
}

/** Where readdirplus() puts its entries. */
export interface DirentPlusSink {
  fits(nameLen: number): boolean;
  /**
   * Append one record with its entry. `entry` null (for "." and "..") sends nodeid 0: no reference.
   * Returns false, writing nothing, when it does not fit (and throws EIO for an invalid name): either
   * way the entry was not accepted and the file system must undo the lookup reference it took for
   * `entry` (check fits() before looking up to avoid that).
   */
  add(d: DirEntry, entry: Entry | null): boolean;
  readonly count: number;
  /** Bytes still free for records (so a file system can size a batch of lookups to what fits). */
  readonly room: number;
}

/** The negotiated session, as the file system sees it in init(). */
export interface InitInfo {
  /** Protocol minor version in use: min(kernel's, ours). */
  minor: number;
  /** Every flag the kernel offered (64-bit: flags | flags2 << 32). */
  capable: bigint;
  maxReadahead: number;
}

export interface FileSystem {
  /** INIT: return the INIT flags the file system wants on top of the server's own (kept only if capable). */
  init(info: InitInfo): Promise<bigint>;
  /** DESTROY or device reset: drop every inode and handle. */
  destroy(): Promise<void>;

  lookup(ctx: Context, parent: bigint, name: Buffer): Promise<Entry>;
  /** Decrement the lookup count (no reply is sent; errors are logged). */
  forget(ctx: Context, nodeid: bigint, nlookup: bigint): Promise<void>;
  batchForget(ctx: Context, items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void>;
  /** `fh` is set when the kernel asked by handle (FUSE_GETATTR_FH). */
  getattr(ctx: Context, nodeid: bigint, fh: bigint | undefined): Promise<AttrReply>;
  /** `attr.valid` holds the FATTR_* bits saying which fields apply; `fh` set when FATTR_FH. */
  setattr(ctx: Context, nodeid: bigint, attr: FuseSetattrIn, fh: bigint | undefined): Promise<AttrReply>;
  readlink(ctx: Context, nodeid: bigint): Promise<Uint8Array>;
  /** Create `name` in `parent` as a symlink to `target` (a path: may contain '/'). */
  symlink(ctx: Context, parent: bigint, name: Buffer, target: Buffer): Promise<Entry>;
  mknod(ctx: Context, parent: bigint, name: Buffer, mode: number, rdev: number): Promise<Entry>;
  mkdir(ctx: Context, parent: bigint, name: Buffer, mode: number): Promise<Entry>;
  unlink(ctx: Context, parent: bigint, name: Buffer): Promise<void>;
  rmdir(ctx: Context, parent: bigint, name: Buffer): Promise<void>;
  /** RENAME (flags 0) and RENAME2 (RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT). */
  rename(ctx: Context, parent: bigint, name: Buffer, newParent: bigint, newName: Buffer, flags: number): Promise<void>;
  /** Make `newName` in `newParent` a hard link to `nodeid`. */
  link(ctx: Context, nodeid: bigint, newParent: bigint, newName: Buffer): Promise<Entry>;

  /** `flags` are the open(2) flags; `openFlags` FUSE_OPEN_* (FUSE_OPEN_KILL_SUIDGID). */
  open(ctx: Context, nodeid: bigint, flags: number, openFlags: number): Promise<OpenReply>;
  create(ctx: Context, parent: bigint, name: Buffer, mode: number, flags: number, openFlags: number): Promise<CreateReply>;
  /** O_TMPFILE in directory `parent`: an unnamed file. */
  tmpfile(ctx: Context, parent: bigint, mode: number, flags: number, openFlags: number): Promise<CreateReply>;
  /**
   * Read up to `size` bytes at `offset` straight into `dest` (views of guest memory, `size` bytes in
   * all, filled in order). Returns the byte count; fewer than `size` means end of file.
   * `flags` are the open flags; `lockOwner` is set when FUSE_READ_LOCKOWNER.
   */
  read(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, size: number, flags: number, dest: Uint8Array[], lockOwner?: bigint): Promise<number>;
  /**
   * Write `data` (views of guest memory, in order) at `offset`. Returns the bytes written.
   * `writeFlags` are FUSE_WRITE_* (FUSE_WRITE_CACHE, FUSE_WRITE_KILL_SUIDGID); `lockOwner` is set when FUSE_WRITE_LOCKOWNER.
   */
  write(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, data: Uint8Array[], flags: number, writeFlags: number, lockOwner?: bigint): Promise<number>;
  flush(ctx: Context, nodeid: bigint, fh: bigint, lockOwner: bigint): Promise<void>;
  /** `releaseFlags` FUSE_RELEASE_*; `lockOwner` set with FUSE_RELEASE_FLUSH or FUSE_RELEASE_FLOCK_UNLOCK. */
  release(ctx: Context, nodeid: bigint, fh: bigint, flags: number, releaseFlags: number, lockOwner?: bigint): Promise<void>;
  fsync(ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void>;

  opendir(ctx: Context, nodeid: bigint, flags: number): Promise<OpenReply>;
  /** Add entries after `offset` (0 = from the start) until the sink is full or the directory ends. */
  readdir(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentSink): Promise<void>;
  /** As readdir, each entry with a lookup reference (see the contract and DirentPlusSink.add). */
  readdirplus(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, sink: DirentPlusSink): Promise<void>;
  releasedir(ctx: Context, nodeid: bigint, fh: bigint, flags: number): Promise<void>;
  fsyncdir(ctx: Context, nodeid: bigint, fh: bigint, datasync: boolean): Promise<void>;

  statfs(ctx: Context, nodeid: bigint): Promise<FuseKstatfs>;
  /** `mask` is R_OK|W_OK|X_OK or F_OK. */
  access(ctx: Context, nodeid: bigint, mask: number): Promise<void>;
  /** `flags` XATTR_CREATE/XATTR_REPLACE; `setxattrFlags` FUSE_SETXATTR_* (0 unless FUSE_SETXATTR_EXT). Name may contain '/'. */
  setxattr(ctx: Context, nodeid: bigint, name: Buffer, value: Buffer, flags: number, setxattrFlags: number): Promise<void>;
  /** Return the whole value; the server answers the size probe (size 0) and ERANGE itself. */
  getxattr(ctx: Context, nodeid: bigint, name: Buffer, size: number): Promise<Uint8Array>;
  /** Return the NUL-terminated names, concatenated; the server handles size 0 and ERANGE. */
  listxattr(ctx: Context, nodeid: bigint, size: number): Promise<Uint8Array>;
  removexattr(ctx: Context, nodeid: bigint, name: Buffer): Promise<void>;

  /** Return the conflicting lock, or one with type F_UNLCK if none. */
  getlk(ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, lkFlags: number): Promise<FuseFileLock>;
  /**
   * SETLK (sleep false) and SETLKW (sleep true). With FUSE_LK_FLOCK in `lkFlags` it is a BSD flock()
   * on the whole file (lock.type F_RDLCK/F_WRLCK/F_UNLCK); otherwise a POSIX record lock.
   */
  setlk(ctx: Context, nodeid: bigint, fh: bigint, owner: bigint, lock: FuseFileLock, lkFlags: number, sleep: boolean): Promise<void>;
  bmap(ctx: Context, nodeid: bigint, block: bigint, blocksize: number): Promise<bigint>;
  /** Restricted ioctl: `input` is in_size bytes; reply with at most `outSize` bytes. */
  ioctl(ctx: Context, nodeid: bigint, fh: bigint, flags: number, cmd: number, arg: bigint, input: Buffer, outSize: number): Promise<IoctlReply>;
  /** Returns revents. */
  poll(ctx: Context, nodeid: bigint, fh: bigint, kh: bigint, flags: number, events: number): Promise<number>;
  fallocate(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, length: bigint, mode: number): Promise<void>;
  /** Returns the resulting offset. */
  lseek(ctx: Context, nodeid: bigint, fh: bigint, offset: bigint, whence: number): Promise<bigint>;
  /** Returns bytes copied (the reply carries at most 2^32 - 1). */
  copyFileRange(
    ctx: Context,
    nodeidIn: bigint,
    fhIn: bigint,
    offIn: bigint,
    nodeidOut: bigint,
    fhOut: bigint,
    offOut: bigint,
    len: bigint,
    flags: bigint,
  ): Promise<number>;
  syncfs(ctx: Context, nodeid: bigint): Promise<void>;
  statx(ctx: Context, nodeid: bigint, fh: bigint | undefined, sxFlags: number, sxMask: number): Promise<StatxReply>;
  /** DAX: map [foffset, foffset+len) of `fh` at `moffset` in the cache window. */
  setupMapping(ctx: Context, nodeid: bigint, fh: bigint, foffset: bigint, len: bigint, flags: bigint, moffset: bigint): Promise<void>;
  removeMapping(ctx: Context, mappings: ReadonlyArray<{ moffset: bigint; len: bigint }>): Promise<void>;
  /** FUSE_INTERRUPT for request `unique` (no reply is sent; best effort). */
  interrupt(ctx: Context, unique: bigint): Promise<void>;
  /**
   * Optional: end every request that may wait indefinitely (SETLKW, blocking flock) with EINTR. The
   * device calls it before waiting for in-flight requests (ring stop, reset, migration, hand-over).
   */
  abortBlocking?(): void;
}
