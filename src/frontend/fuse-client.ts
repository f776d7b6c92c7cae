/**
 * FuseClient: the FUSE side of the test/bench driver — what the guest kernel's fuse module does, as
 * typed async calls. Each call builds a request with the protocol/ encoders, sends it through a
 * FuseTransport (the virtio-fs front-end's request queues, or an in-process server), checks the reply
 * header (used length, len, unique) and decodes the body. An error reply throws FuseReplyError.
 *
 * Queue use follows virtio-fs: FORGET/BATCH_FORGET/INTERRUPT go to the hiprio queue (0) with no
 * writable buffer; everything else to a request queue (1 by default).
 */
import { errnoName } from '../../protocol/errno.js';
import { check } from '../../protocol/errors.js';
import type { StructDef } from '../../protocol/fuse-layout.js';
import {
  FUSE_CREATE_SUPP_GROUP,
  FUSE_GETATTR_FH,
  FUSE_INIT_EXT,
  FUSE_LK_FLOCK,
  FUSE_SETXATTR_EXT,
  joinInitFlags,
  splitInitFlags,
} from '../../protocol/fuse-flags.js';
import * as F from '../../protocol/fuse-flags.js';
import { FUSE_KERNEL_MINOR_VERSION, FUSE_KERNEL_VERSION, FUSE_ROOT_ID, FuseOpcode as Op, fuseOpcodeName } from '../../protocol/fuse-opcodes.js';
import { decodeDirentplus, decodeDirents, encodeSuppGroupsExt, type DirentRecord, type DirentplusRecord } from '../../protocol/fuse-records.js';
import * as S from '../../protocol/fuse-structs.js';

/** How FUSE requests reach the daemon (src/frontend/device.ts provides one). */
export interface FuseTransport {
  request(queueIndex: number, readable: Uint8Array | Uint8Array[], writableLen: number): Promise<{ usedLen: number; data: Uint8Array }>;
}

/** The daemon answered with an error (fuse_out_header.error < 0). */
export class FuseReplyError extends Error {
  /** Positive errno. */
  readonly errno: number;
  /** Errno name, e.g. 'ENOENT'. */
  readonly code: string;
  readonly opcode: number;
  readonly unique: bigint;
  constructor(errno: number, opcode: number, unique: bigint) {
    super(`${fuseOpcodeName(opcode)} (unique ${unique}): ${errnoName(errno)}`);
    this.name = 'FuseReplyError';
    this.errno = errno;
    this.code = errnoName(errno);
    this.opcode = opcode;
    this.unique = unique;
  }
}

/** What a Linux 6.x kernel offers in INIT (minus DAX, security contexts and passthrough). */
export const KERNEL_INIT_FLAGS =
  F.FUSE_ASYNC_READ | F.FUSE_POSIX_LOCKS | F.FUSE_ATOMIC_O_TRUNC | F.FUSE_EXPORT_SUPPORT | F.FUSE_BIG_WRITES |
  F.FUSE_DONT_MASK | F.FUSE_FLOCK_LOCKS | F.FUSE_HAS_IOCTL_DIR | F.FUSE_AUTO_INVAL_DATA | F.FUSE_DO_READDIRPLUS |
  F.FUSE_READDIRPLUS_AUTO | F.FUSE_ASYNC_DIO | F.FUSE_WRITEBACK_CACHE | F.FUSE_NO_OPEN_SUPPORT |
  F.FUSE_PARALLEL_DIROPS | F.FUSE_HANDLE_KILLPRIV | F.FUSE_POSIX_ACL | F.FUSE_ABORT_ERROR | F.FUSE_MAX_PAGES |
  F.FUSE_CACHE_SYMLINKS | F.FUSE_NO_OPENDIR_SUPPORT | F.FUSE_EXPLICIT_INVAL_DATA | F.FUSE_SUBMOUNTS |
  F.FUSE_HANDLE_KILLPRIV_V2 | F.FUSE_SETXATTR_EXT | F.FUSE_INIT_EXT | F.FUSE_CREATE_SUPP_GROUP | F.FUSE_HAS_EXPIRE_ONLY;

export interface FuseClientOptions {
  /** Request queue index. Default 1 (virtio-fs: queue 0 is hiprio). */
  queue?: number;
  /** Queue for FORGET/BATCH_FORGET/INTERRUPT. Default 0. */
  hiprioQueue?: number;
  /** Caller identity put in every fuse_in_header. Default 0/0/1. */
  uid?: number;
  gid?: number;
  pid?: number;
}

export interface InitOptions {
  major?: number;
  minor?: number;
  maxReadahead?: number;
  /** 64-bit INIT flags to offer. Default KERNEL_INIT_FLAGS. */
  flags?: bigint;
}

export interface CreateResult {
  entry: S.FuseEntryOut;
  open: S.FuseOpenOut;
}

/** A READDIR record with its name decoded. */
export interface DirEntryInfo {
  ino: bigint;
  off: bigint;
  type: number;
  name: string;
}

type Name = string | Uint8Array;

function cstr(s: Name): Uint8Array {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

const OUT = S.fuse_out_header.size;
/** Ops whose extension area can carry supplementary groups. */
const CREATE_OPS = new Set<number>([Op.FUSE_MKNOD, Op.FUSE_MKDIR, Op.FUSE_SYMLINK, Op.FUSE_CREATE, Op.FUSE_TMPFILE]);

export class FuseClient {
  /** Caller identity for subsequent requests. */
  uid: number;
  gid: number;
  pid: number;
  /** Supplementary group to send with create-type requests when FUSE_CREATE_SUPP_GROUP is negotiated. */
  suppGroup: number | undefined;
  /** The INIT reply, once init() succeeded. */
  initOut: S.FuseInitOut | undefined;
  private nextUnique = 2n;
  private readonly queue: number;
  private readonly hiprio: number;

  constructor(
    readonly transport: FuseTransport,
    opts: FuseClientOptions = {},
  ) {
    this.queue = opts.queue ?? 1;
    this.hiprio = opts.hiprioQueue ?? 0;
    this.uid = opts.uid ?? 0;
    this.gid = opts.gid ?? 0;
    this.pid = opts.pid ?? 1;
  }

  /** Negotiated 64-bit INIT flags (0 before init). */
  get flags(): bigint {
    const o = this.initOut;
    if (o === undefined) return 0n;
    return joinInitFlags(o.flags, (BigInt(o.flags) & FUSE_INIT_EXT) !== 0n ? o.flags2 : 0);
  }

  /**
   * Send one request and return the reply body (after fuse_out_header). `replyMax` is the writable
   * length offered for the body; null sends no writable buffer and expects no reply.
   */
  async raw(opcode: number, nodeid: bigint, parts: Uint8Array[], replyMax: number | null, queue = this.queue, replyOptional = false): Promise<Uint8Array> {
    const unique = this.nextUnique;
    this.nextUnique += 2n;
    let ext: Uint8Array | undefined;
    if (CREATE_OPS.has(opcode) && this.suppGroup !== undefined && (this.flags & FUSE_CREATE_SUPP_GROUP) !== 0n) {
      ext = encodeSuppGroupsExt([this.suppGroup]);
    }
    const body = [...parts, ...(ext ? [ext] : [])];
    const len = S.fuse_in_header.size + body.reduce((a, p) => a + p.byteLength, 0);
    const header = S.fuse_in_header.toBytes({
      len,
      opcode,
      unique,
      nodeid,
      uid: this.uid,
      gid: this.gid,
      pid: this.pid,
      total_extlen: ext ? ext.length / 8 : 0,
    });
    const { usedLen, data } = await this.transport.request(queue, [header, ...body], replyMax === null ? 0 : OUT + replyMax);
    if (replyOptional && usedLen === 0) return new Uint8Array(0);
    if (replyMax === null) {
      check(usedLen === 0, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: ${usedLen} bytes written, no reply expected`);
      return new Uint8Array(0);
    }
    check(usedLen >= OUT && usedLen <= data.byteLength, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: used length ${usedLen}`);
    const h = S.fuse_out_header.decode(data);
    check(h.unique === unique, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: reply unique ${h.unique} for ${unique}`);
    check(h.len === usedLen, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: out len ${h.len}, used length ${usedLen}`);
    if (h.error !== 0) {
      check(h.error < 0 && h.len === OUT, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: error ${h.error} with len ${h.len}`);
      throw new FuseReplyError(-h.error, opcode, unique);
    }
    return data.subarray(OUT, usedLen);
  }

  private async call<T>(opcode: number, nodeid: bigint, parts: Uint8Array[], out: StructDef<T>): Promise<T> {
    const body = await this.raw(opcode, nodeid, parts, out.size);
    check(body.length === out.size, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: ${body.length}-byte reply, ${out.name} is ${out.size}`);
    return out.decode(body);
  }

  private async empty(opcode: number, nodeid: bigint, parts: Uint8Array[]): Promise<void> {
    const body = await this.raw(opcode, nodeid, parts, 0);
    check(body.length === 0, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: unexpected ${body.length}-byte body`);
  }

  // ---- session ----------------------------------------------------------------------------------

  async init(o: InitOptions = {}): Promise<S.FuseInitOut> {
    const { flags, flags2 } = splitInitFlags(o.flags ?? KERNEL_INIT_FLAGS);
    const args = S.fuse_init_in.toBytes({
      major: o.major ?? FUSE_KERNEL_VERSION,
      minor: o.minor ?? FUSE_KERNEL_MINOR_VERSION,
      max_readahead: o.maxReadahead ?? 1 << 17,
      flags,
      flags2,
    });
    const out = await this.call(Op.FUSE_INIT, 0n, [args], S.fuse_init_out);
    this.initOut = out;
    return out;
  }

  /** DESTROY. Daemons differ: ours replies, the Rust virtiofsd completes the chain with no reply; both are accepted. */
  async destroy(): Promise<void> {
    await this.raw(Op.FUSE_DESTROY, 0n, [], 0, this.queue, true);
    this.initOut = undefined;
  }

  // ---- names and attributes ---------------------------------------------------------------------

  lookup(parent: bigint, name: Name): Promise<S.FuseEntryOut> {
    return this.call(Op.FUSE_LOOKUP, parent, [cstr(name)], S.fuse_entry_out);
  }
  async forget(nodeid: bigint, nlookup: bigint): Promise<void> {
    await this.raw(Op.FUSE_FORGET, nodeid, [S.fuse_forget_in.toBytes({ nlookup })], null, this.hiprio);
  }
  async batchForget(items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void> {
    const parts = [S.fuse_batch_forget_in.toBytes({ count: items.length }), ...items.map((i) => S.fuse_forget_one.toBytes(i))];
    await this.raw(Op.FUSE_BATCH_FORGET, 0n, parts, null, this.hiprio);
  }
  async interrupt(unique: bigint): Promise<void> {
    await this.raw(Op.FUSE_INTERRUPT, 0n, [S.fuse_interrupt_in.toBytes({ unique })], null, this.hiprio);
  }
  getattr(nodeid: bigint, fh?: bigint): Promise<S.FuseAttrOut> {
    const args = S.fuse_getattr_in.toBytes({ getattr_flags: fh === undefined ? 0 : FUSE_GETATTR_FH, fh: fh ?? 0n });
    return this.call(Op.FUSE_GETATTR, nodeid, [args], S.fuse_attr_out);
  }
  /** `attr.valid` says which fields apply (FATTR_*); missing fields are 0. */
  setattr(nodeid: bigint, attr: Partial<S.FuseSetattrIn> & { valid: number }): Promise<S.FuseAttrOut> {
    const z = { fh: 0n, size: 0n, lock_owner: 0n, atime: 0n, mtime: 0n, ctime: 0n, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0, uid: 0, gid: 0 };
    return this.call(Op.FUSE_SETATTR, nodeid, [S.fuse_setattr_in.toBytes({ ...z, ...attr })], S.fuse_attr_out);
  }
  async readlink(nodeid: bigint): Promise<Buffer> {
    return Buffer.from(await this.raw(Op.FUSE_READLINK, nodeid, [], 4095));
  }
  symlink(parent: bigint, name: Name, target: Name): Promise<S.FuseEntryOut> {
    return this.call(Op.FUSE_SYMLINK, parent, [cstr(name), cstr(target)], S.fuse_entry_out);
  }
  mknod(parent: bigint, name: Name, mode: number, rdev = 0, umask = 0): Promise<S.FuseEntryOut> {
    return this.call(Op.FUSE_MKNOD, parent, [S.fuse_mknod_in.toBytes({ mode, rdev, umask }), cstr(name)], S.fuse_entry_out);
  }
  mkdir(parent: bigint, name: Name, mode: number, umask = 0): Promise<S.FuseEntryOut> {
    return this.call(Op.FUSE_MKDIR, parent, [S.fuse_mkdir_in.toBytes({ mode, umask }), cstr(name)], S.fuse_entry_out);
  }
  unlink(parent: bigint, name: Name): Promise<void> {
    return this.empty(Op.FUSE_UNLINK, parent, [cstr(name)]);
  }
  rmdir(parent: bigint, name: Name): Promise<void> {
    return this.empty(Op.FUSE_RMDIR, parent, [cstr(name)]);
  }
  /** RENAME when flags is 0, else RENAME2 with RENAME_* flags. */
  rename(parent: bigint, name: Name, newParent: bigint, newName: Name, flags = 0): Promise<void> {
    const names = [cstr(name), cstr(newName)];
    if (flags === 0) return this.empty(Op.FUSE_RENAME, parent, [S.fuse_rename_in.toBytes({ newdir: newParent }), ...names]);
    return this.empty(Op.FUSE_RENAME2, parent, [S.fuse_rename2_in.toBytes({ newdir: newParent, flags }), ...names]);
  }
  link(nodeid: bigint, newParent: bigint, newName: Name): Promise<S.FuseEntryOut> {
    return this.call(Op.FUSE_LINK, newParent, [S.fuse_link_in.toBytes({ oldnodeid: nodeid }), cstr(newName)], S.fuse_entry_out);
  }
  access(nodeid: bigint, mask: number): Promise<void> {
    return this.empty(Op.FUSE_ACCESS, nodeid, [S.fuse_access_in.toBytes({ mask })]);
  }
  statfs(nodeid: bigint = FUSE_ROOT_ID): Promise<S.FuseKstatfs> {
    return this.call(Op.FUSE_STATFS, nodeid, [], S.fuse_statfs_out).then((o) => o.st);
  }
  statx(nodeid: bigint, sxMask: number, sxFlags = 0, fh?: bigint): Promise<S.FuseStatxOut> {
    const args = S.fuse_statx_in.toBytes({ getattr_flags: fh === undefined ? 0 : FUSE_GETATTR_FH, fh: fh ?? 0n, sx_flags: sxFlags, sx_mask: sxMask });
    return this.call(Op.FUSE_STATX, nodeid, [args], S.fuse_statx_out);
  }
  async syncfs(nodeid: bigint = FUSE_ROOT_ID): Promise<void> {
    return this.empty(Op.FUSE_SYNCFS, nodeid, [S.fuse_syncfs_in.toBytes({})]);
  }

  // ---- files --------------------------------------------------------------------------------------

  open(nodeid: bigint, flags: number, openFlags = 0): Promise<S.FuseOpenOut> {
    return this.call(Op.FUSE_OPEN, nodeid, [S.fuse_open_in.toBytes({ flags, open_flags: openFlags })], S.fuse_open_out);
  }
  private async createLike(opcode: number, parent: bigint, name: Name, mode: number, flags: number, umask: number): Promise<CreateResult> {
    const body = await this.raw(opcode, parent, [S.fuse_create_in.toBytes({ flags, mode, umask, open_flags: 0 }), cstr(name)], S.fuse_entry_out.size + S.fuse_open_out.size);
    check(body.length === S.fuse_entry_out.size + S.fuse_open_out.size, 'FUSE_BAD_REPLY', () => `${fuseOpcodeName(opcode)}: ${body.length}-byte reply`);
    return { entry: S.fuse_entry_out.decode(body), open: S.fuse_open_out.decode(body, S.fuse_entry_out.size) };
  }
  create(parent: bigint, name: Name, mode: number, flags: number, umask = 0): Promise<CreateResult> {
    return this.createLike(Op.FUSE_CREATE, parent, name, mode, flags, umask);
  }
  /** O_TMPFILE in `parent` (the kernel names the dentry "/"). */
  tmpfile(parent: bigint, mode: number, flags: number, umask = 0): Promise<CreateResult> {
    return this.createLike(Op.FUSE_TMPFILE, parent, '/', mode, flags, umask);
  }
  async read(nodeid: bigint, fh: bigint, offset: bigint, size: number, flags = 0): Promise<Buffer> {
    const args = S.fuse_read_in.toBytes({ fh, offset, size, read_flags: 0, lock_owner: 0n, flags });
    return Buffer.from(await this.raw(Op.FUSE_READ, nodeid, [args], size));
  }
  /** `data` may be several segments: they are sent as separate readable buffers. */
  async write(nodeid: bigint, fh: bigint, offset: bigint, data: Uint8Array | Uint8Array[], flags = 0, writeFlags = 0): Promise<number> {
    const segs = data instanceof Uint8Array ? [data] : data;
    const size = segs.reduce((a, s) => a + s.byteLength, 0);
    const args = S.fuse_write_in.toBytes({ fh, offset, size, write_flags: writeFlags, lock_owner: 0n, flags });
    return (await this.call(Op.FUSE_WRITE, nodeid, [args, ...segs], S.fuse_write_out)).size;
  }
  flush(nodeid: bigint, fh: bigint, lockOwner = 0n): Promise<void> {
    return this.empty(Op.FUSE_FLUSH, nodeid, [S.fuse_flush_in.toBytes({ fh, lock_owner: lockOwner })]);
  }
  release(nodeid: bigint, fh: bigint, flags = 0, releaseFlags = 0, lockOwner = 0n): Promise<void> {
    return this.empty(Op.FUSE_RELEASE, nodeid, [S.fuse_release_in.toBytes({ fh, flags, release_flags: releaseFlags, lock_owner: lockOwner })]);
  }
  fsync(nodeid: bigint, fh: bigint, datasync = false): Promise<void> {
    return this.empty(Op.FUSE_FSYNC, nodeid, [S.fuse_fsync_in.toBytes({ fh, fsync_flags: datasync ? F.FUSE_FSYNC_FDATASYNC : 0 })]);
  }
  fallocate(nodeid: bigint, fh: bigint, offset: bigint, length: bigint, mode = 0): Promise<void> {
    return this.empty(Op.FUSE_FALLOCATE, nodeid, [S.fuse_fallocate_in.toBytes({ fh, offset, length, mode })]);
  }
  async lseek(nodeid: bigint, fh: bigint, offset: bigint, whence: number): Promise<bigint> {
    return (await this.call(Op.FUSE_LSEEK, nodeid, [S.fuse_lseek_in.toBytes({ fh, offset, whence })], S.fuse_lseek_out)).offset;
  }
  async copyFileRange(nodeidIn: bigint, fhIn: bigint, offIn: bigint, nodeidOut: bigint, fhOut: bigint, offOut: bigint, len: bigint, flags = 0n): Promise<number> {
    const args = S.fuse_copy_file_range_in.toBytes({ fh_in: fhIn, off_in: offIn, nodeid_out: nodeidOut, fh_out: fhOut, off_out: offOut, len, flags });
    return (await this.call(Op.FUSE_COPY_FILE_RANGE, nodeidIn, [args], S.fuse_write_out)).size;
  }
  async getlk(nodeid: bigint, fh: bigint, owner: bigint, lk: S.FuseFileLock, lkFlags = 0): Promise<S.FuseFileLock> {
    return (await this.call(Op.FUSE_GETLK, nodeid, [S.fuse_lk_in.toBytes({ fh, owner, lk, lk_flags: lkFlags })], S.fuse_lk_out)).lk;
  }
  /** SETLK, or SETLKW with `sleep`; `flock` sets FUSE_LK_FLOCK. */
  setlk(nodeid: bigint, fh: bigint, owner: bigint, lk: S.FuseFileLock, o: { sleep?: boolean; flock?: boolean } = {}): Promise<void> {
    const args = S.fuse_lk_in.toBytes({ fh, owner, lk, lk_flags: o.flock ? FUSE_LK_FLOCK : 0 });
    return this.empty(o.sleep ? Op.FUSE_SETLKW : Op.FUSE_SETLK, nodeid, [args]);
  }

  // ---- directories ------------------------------------------------------------------------------

  opendir(nodeid: bigint, flags = 0): Promise<S.FuseOpenOut> {
    return this.call(Op.FUSE_OPENDIR, nodeid, [S.fuse_open_in.toBytes({ flags, open_flags: 0 })], S.fuse_open_out);
  }
  async readdir(nodeid: bigint, fh: bigint, offset = 0n, size = 4096): Promise<DirEntryInfo[]> {
    const args = S.fuse_read_in.toBytes({ fh, offset, size, read_flags: 0, lock_owner: 0n, flags: 0 });
    return decodeDirents(await this.raw(Op.FUSE_READDIR, nodeid, [args], size)).map(named);
  }
  /** Each returned entry with nodeid != 0 holds one lookup reference: forget it when done. */
  async readdirplus(nodeid: bigint, fh: bigint, offset = 0n, size = 4096): Promise<Array<{ entry: S.FuseEntryOut; dirent: DirEntryInfo }>> {
    const args = S.fuse_read_in.toBytes({ fh, offset, size, read_flags: 0, lock_owner: 0n, flags: 0 });
    return decodeDirentplus(await this.raw(Op.FUSE_READDIRPLUS, nodeid, [args], size)).map((r: DirentplusRecord) => ({
      entry: r.entry_out,
      dirent: named(r.dirent),
    }));
  }
  releasedir(nodeid: bigint, fh: bigint, flags = 0): Promise<void> {
    return this.empty(Op.FUSE_RELEASEDIR, nodeid, [S.fuse_release_in.toBytes({ fh, flags, release_flags: 0, lock_owner: 0n })]);
  }
  fsyncdir(nodeid: bigint, fh: bigint, datasync = false): Promise<void> {
    return this.empty(Op.FUSE_FSYNCDIR, nodeid, [S.fuse_fsync_in.toBytes({ fh, fsync_flags: datasync ? F.FUSE_FSYNC_FDATASYNC : 0 })]);
  }

  // ---- xattrs -----------------------------------------------------------------------------------

  /** Uses the FUSE_SETXATTR_EXT layout when that was negotiated, like the kernel. */
  setxattr(nodeid: bigint, name: Name, value: Uint8Array | string, flags = 0, setxattrFlags = 0): Promise<void> {
    const v = typeof value === 'string' ? Buffer.from(value) : value;
    const args =
      (this.flags & FUSE_SETXATTR_EXT) !== 0n
        ? S.fuse_setxattr_in.toBytes({ size: v.length, flags, setxattr_flags: setxattrFlags })
        : S.fuse_setxattr_in_compat.toBytes({ size: v.length, flags });
    return this.empty(Op.FUSE_SETXATTR, nodeid, [args, cstr(name), v]);
  }
  /** The value, offering a buffer of `size` bytes (ERANGE if it is bigger). */
  async getxattr(nodeid: bigint, name: Name, size = 65536): Promise<Buffer> {
    check(size > 0, 'FUSE_BAD_ARG', 'getxattr size must be > 0 (use getxattrSize)');
    return Buffer.from(await this.raw(Op.FUSE_GETXATTR, nodeid, [S.fuse_getxattr_in.toBytes({ size }), cstr(name)], size));
  }
  /** The value's size (a size-0 probe). */
  async getxattrSize(nodeid: bigint, name: Name): Promise<number> {
    return (await this.call(Op.FUSE_GETXATTR, nodeid, [S.fuse_getxattr_in.toBytes({ size: 0 }), cstr(name)], S.fuse_getxattr_out)).size;
  }
  /** The attribute names. */
  async listxattr(nodeid: bigint, size = 65536): Promise<string[]> {
    check(size > 0, 'FUSE_BAD_ARG', 'listxattr size must be > 0 (use listxattrSize)');
    const body = Buffer.from(await this.raw(Op.FUSE_LISTXATTR, nodeid, [S.fuse_getxattr_in.toBytes({ size })], size));
    if (body.length === 0) return [];
    check(body[body.length - 1] === 0, 'FUSE_BAD_REPLY', 'LISTXATTR: list not NUL-terminated');
    return body.subarray(0, body.length - 1).toString('latin1').split('\0');
  }
  async listxattrSize(nodeid: bigint): Promise<number> {
    return (await this.call(Op.FUSE_LISTXATTR, nodeid, [S.fuse_getxattr_in.toBytes({ size: 0 })], S.fuse_getxattr_out)).size;
  }
  removexattr(nodeid: bigint, name: Name): Promise<void> {
    return this.empty(Op.FUSE_REMOVEXATTR, nodeid, [cstr(name)]);
  }
}

function named(d: DirentRecord): DirEntryInfo {
  return { ino: d.ino, off: d.off, type: d.type, name: Buffer.from(d.name).toString('utf8') };
}
