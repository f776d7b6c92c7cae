/**
 * Filesystem syscalls for the passthrough, run off the event loop.
 *
 * Every function returns a Promise; its syscall runs on the addon's own worker pool (not libuv's),
 * so a slow filesystem never blocks the JS thread nor Node's own fs work. Calls that may wait
 * forever (F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB) run on a thread of their own and can be
 * ended with an AbortSignal, so waits never use up the pool.
 *
 * Contracts:
 *  - A syscall failure rejects with a NativeError whose `code` is the errno name. A wrong argument
 *    type (a programming error) throws synchronously with code ERR_INVALID_ARG.
 *  - Names are `string` (UTF-8) or bytes (`Uint8Array`, any byte but NUL: guest names are not
 *    UTF-8). They are copied at the call. A name of PATH_MAX bytes or more rejects ENAMETOOLONG.
 *  - Data buffers (pread, pwrite, getdents64, xattr values) are used in place, zero copy, and kept
 *    alive until the call settles. Do not unmap guest memory under a call in flight.
 *  - Every fd these calls create is O_CLOEXEC and owned by the caller.
 *  - The trailing `ctx` runs the call as a guest user and/or with a umask: see CallContext.
 *  - Workers start at the first call and keep what they inherit from the JS thread then: root and
 *    cwd (unshare(CLONE_FS) snapshots them) and capabilities (capset is per thread). So set up the
 *    sandbox (chroot/pivot_root, dropping capabilities) before the first call, and use dirfds,
 *    not AT_FDCWD-relative names. Threads for lock waits are created per wait, from the JS thread.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import './index.js'; // the addon's loader: a clear ERR_NATIVE_NOT_BUILT if it is missing
import { STATX_DEFAULT } from './fs-constants.js';

export { isErrno, type NativeError } from './index.js';

/** A file name: a UTF-8 string or raw bytes (without NUL). */
export type Name = string | Uint8Array;
type Bytes = ArrayBufferView | ArrayBuffer;

/**
 * Who a call runs as, for the one call only, on the worker thread only (raw setresuid/setresgid/
 * setgroups; the process and the other threads keep their ids).
 */
export interface Creds {
  /** Effective uid: permission checks and new files' owner. */
  uid: number;
  /** Effective gid: permission checks and new files' group (unless the directory is setgid). */
  gid: number;
  /** Supplementary groups. Omitted means none (never the daemon's own). */
  groups?: readonly number[];
  /**
   * umask for this call (create, mkdir, mknod; FUSE passes it with FUSE_DONT_MASK). The kernel
   * applies it, so a default POSIX ACL on the parent replaces it as it should; masking the mode in
   * the caller would get ACL inheritance wrong. Omitted: the process umask when the workers started.
   */
  umask?: number;
}
/** The trailing context argument: creds (and umask), or a umask alone. */
export type CallContext = Creds | { umask: number };

/** statx(2) result. Fields not in `mask` are zero. */
export interface Statx {
  /** STATX_* bits of the fields the filesystem filled in. */
  mask: number;
  blksize: number;
  /** STATX_ATTR_* bits. */
  attributes: bigint;
  nlink: number;
  uid: number;
  gid: number;
  /** File type and permission bits (S_IF* | mode). */
  mode: number;
  ino: bigint;
  size: bigint;
  /** 512-byte blocks. */
  blocks: bigint;
  attributesMask: bigint;
  atimeSec: number;
  atimeNsec: number;
  btimeSec: number;
  btimeNsec: number;
  ctimeSec: number;
  ctimeNsec: number;
  mtimeSec: number;
  mtimeNsec: number;
  rdevMajor: number;
  rdevMinor: number;
  /** rdev in the kernel's 32-bit encoding (what FUSE's attr.rdev carries): makedev(major, minor). */
  rdev: number;
  devMajor: number;
  devMinor: number;
  /** st_dev: makedev(devMajor, devMinor). */
  dev: number;
  /** Mount id (STATX_MNT_ID, or the 64-bit unique id with STATX_MNT_ID_UNIQUE). */
  mntId: bigint;
}

/** fstatfs(2) result; `flags` is f_flags (ST_* bits, what fstatvfs reports). */
export interface StatFs {
  type: number;
  bsize: number;
  blocks: bigint;
  bfree: bigint;
  bavail: bigint;
  files: bigint;
  ffree: bigint;
  fsid: bigint;
  namelen: number;
  frsize: number;
  flags: number;
}

/** struct flock. For OFD commands pid must be 0 (and is 0 unless F_OFD_GETLK finds a lock: -1). */
export interface Flock {
  /** F_RDLCK, F_WRLCK or F_UNLCK. */
  type: number;
  /** SEEK_SET, SEEK_CUR or SEEK_END. */
  whence: number;
  start: number | bigint;
  /** 0 means to the end of the file. */
  len: number | bigint;
}
/** struct flock after the call: for F_GETLK/F_OFD_GETLK the conflicting lock, or type F_UNLCK. */
export interface FlockResult {
  type: number;
  whence: number;
  start: bigint;
  len: bigint;
  pid: number;
}

/** A file handle from name_to_handle_at: an opaque blob (struct file_handle) and its mount. */
export interface FileHandle {
  /** handle_bytes (u32), handle_type (i32), f_handle: pass it back to openByHandleAt as is. */
  handle: Buffer;
  mountId: bigint;
}

export interface OpenHow {
  /** O_* flags; O_CLOEXEC is always added. */
  flags: number;
  /** Only with O_CREAT or O_TMPFILE (otherwise openat2 rejects EINVAL). */
  mode?: number;
  /** RESOLVE_* flags. */
  resolve?: number;
}

/** A time for utimensat: nsec may be UTIME_NOW or UTIME_OMIT (sec is then ignored). */
export interface Timespec {
  sec: number | bigint;
  nsec: number;
}

/** One getdents64 record. */
export interface Dirent64 {
  ino: bigint;
  /** Opaque position after this entry (for lseek on the directory fd). */
  off: bigint;
  /** DT_* */
  type: number;
  /** The name's bytes (a copy, or a view of a buffer never written again: parseDirentsAt). */
  name: Buffer;
}

export interface PoolStats {
  threads: number;
  idle: number;
  queued: number;
  /** Blocking waits in progress, each on its own thread. */
  waiters: number;
  /** Idle workers woken for queued calls so far (process-wide). */
  wakes: number;
  /** Calls an idle worker took on its own because every awake worker was stuck for 1 ms. */
  rescues: number;
  /** Moving average of how long a call takes on a worker, in ns (what decides how many are woken). */
  avgNs: number;
  /** How long a worker out of work spins now, in ns (adapted up to setPoolSpin's; 0: it sleeps at once). */
  spinNs: number;
}

/** What openStat resolves to (see there). */
export interface OpenStat {
  /** The fd the open made (owned by the caller). */
  fd: number;
  /** With `procFd`: the O_PATH fd opened through it (owned by the caller); otherwise -1. */
  pathFd: number;
  statx: Statx;
  /** With `handleFlags`: the file handle, when name_to_handle_at worked. */
  handle?: FileHandle;
  /** With `handleFlags`: name_to_handle_at's errno name when it failed (e.g. EOPNOTSUPP). */
  handleError?: string;
}
interface RawOpenStat {
  fd: number;
  pathFd: number;
  statx: Buffer;
  handleErrno: number;
  handle?: Buffer;
  mountId?: bigint;
}

type Ctx = CallContext | undefined;
interface FsAddon {
  openat(dirfd: number, name: Name, flags: number, mode: number, ctx: Ctx): Promise<number>;
  openatSync(dirfd: number, name: Name, flags: number, mode: number): number;
  openat2(dirfd: number, name: Name, flags: number, mode: number, resolve: number | bigint, ctx: Ctx): Promise<number>;
  openByHandleAt(mountFd: number, handle: Bytes, flags: number, ctx: Ctx): Promise<number>;
  nameToHandleAt(dirfd: number, name: Name, flags: number, ctx: Ctx): Promise<FileHandle>;
  close(fd: number): Promise<void>;
  openStat(dirfd: number, name: Name, flags: number, mode: number, resolve: number | bigint, procFd: number, mask: number, handleFlags: number, ctx: Ctx): Promise<RawOpenStat>;
  openStatSync(dirfd: number, name: Name, flags: number, mode: number, resolve: number | bigint, procFd: number, mask: number, handleFlags: number): RawOpenStat | number;
  statxNames(dirfd: number, names: Bytes, count: number, flags: number, mask: number, handleFlags: number): Promise<Buffer>;
  statxOpenedSync(dirfd: number, name: Name, flags: number, resolve: number, mask: number, out: Bytes): number;
  openStatNames(dirfd: number, names: Bytes, count: number, flags: number, resolve: number, mask: number, handleFlags: number): Promise<Buffer>;
  closeMany(fds: Int32Array): Promise<number>;
  dup(fd: number): Promise<number>;
  closeDup(fd: number): Promise<void>;
  fcntlGetfl(fd: number): Promise<number>;
  fcntlSetfl(fd: number, flags: number): Promise<void>;
  statx(dirfd: number, name: Name, flags: number, mask: number, ctx: Ctx): Promise<Buffer>;
  statxSync(dirfd: number, name: Name, flags: number, mask: number): Buffer;
  fstatfs(fd: number, ctx: Ctx): Promise<Buffer>;
  fchmod(fd: number, mode: number, ctx: Ctx): Promise<void>;
  fchmodat(dirfd: number, name: Name, mode: number, flags: number, ctx: Ctx): Promise<void>;
  fchownat(dirfd: number, name: Name, uid: number, gid: number, flags: number, ctx: Ctx): Promise<void>;
  utimensat(dirfd: number, name: Name, as: number | bigint, ans: number, ms: number | bigint, mns: number, flags: number, ctx: Ctx): Promise<void>;
  faccessat(dirfd: number, name: Name, mode: number, ctx: Ctx): Promise<void>;
  faccessat2(dirfd: number, name: Name, mode: number, flags: number, ctx: Ctx): Promise<void>;
  mkdirat(dirfd: number, name: Name, mode: number, ctx: Ctx): Promise<void>;
  mknodat(dirfd: number, name: Name, mode: number, dev: number | bigint, ctx: Ctx): Promise<void>;
  symlinkat(target: Name, dirfd: number, name: Name, ctx: Ctx): Promise<void>;
  readlinkat(dirfd: number, name: Name, ctx: Ctx): Promise<Buffer>;
  unlinkat(dirfd: number, name: Name, flags: number, ctx: Ctx): Promise<void>;
  renameat2(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number, ctx: Ctx): Promise<void>;
  linkat(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number, ctx: Ctx): Promise<void>;
  getdents64(fd: number, buf: Bytes): Promise<number>;
  pread(fd: number, buf: Bytes, offset: number | bigint): Promise<number>;
  pwrite(fd: number, buf: Bytes, offset: number | bigint): Promise<number>;
  preadv(fd: number, bufs: readonly Bytes[], offset: number | bigint, flags: number): Promise<number>;
  preadvSync(fd: number, bufs: readonly Bytes[], offset: number | bigint, flags: number): number;
  pwritev(fd: number, bufs: readonly Bytes[], offset: number | bigint, flags: number): Promise<number>;
  pwritevKillSuidgid(fd: number, bufs: readonly Bytes[], offset: number | bigint, flags: number): Promise<number>;
  copyFileRange(fdIn: number, offIn: number | bigint | null, fdOut: number, offOut: number | bigint | null, len: number | bigint, flags: number): Promise<number>;
  ftruncate(fd: number, length: number | bigint): Promise<void>;
  fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): Promise<void>;
  lseek(fd: number, offset: number | bigint, whence: number): Promise<bigint>;
  fsync(fd: number): Promise<void>;
  fdatasync(fd: number): Promise<void>;
  syncfs(fd: number): Promise<void>;
  fgetxattr(fd: number, name: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  fsetxattr(fd: number, name: Name, value: Bytes, flags: number, ctx: Ctx): Promise<void>;
  flistxattr(fd: number, buf: Bytes | null, ctx: Ctx): Promise<number>;
  fremovexattr(fd: number, name: Name, ctx: Ctx): Promise<void>;
  getxattr(path: Name, name: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  setxattr(path: Name, name: Name, value: Bytes, flags: number, ctx: Ctx): Promise<void>;
  listxattr(path: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  removexattr(path: Name, name: Name, ctx: Ctx): Promise<void>;
  lgetxattr(path: Name, name: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  lsetxattr(path: Name, name: Name, value: Bytes, flags: number, ctx: Ctx): Promise<void>;
  llistxattr(path: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  lremovexattr(path: Name, name: Name, ctx: Ctx): Promise<void>;
  getxattrat(dirfd: number, path: Name, atFlags: number, name: Name, buf: Bytes | null, ctx: Ctx): Promise<number>;
  setxattrat(dirfd: number, path: Name, atFlags: number, name: Name, value: Bytes, flags: number, ctx: Ctx): Promise<void>;
  listxattrat(dirfd: number, path: Name, atFlags: number, buf: Bytes | null, ctx: Ctx): Promise<number>;
  removexattrat(dirfd: number, path: Name, atFlags: number, name: Name, ctx: Ctx): Promise<void>;
  fcntlLock(fd: number, cmd: number, type: number, whence: number, start: number | bigint, len: number | bigint, waitId: number, ctx: Ctx): Promise<FlockResult>;
  flock(fd: number, op: number, waitId: number, ctx: Ctx): Promise<void>;
  fsSetThreads(n: number): number;
  fsSetSpin(us: number): void;
  fsDropCaps(keep: bigint): void;
  fsPoolStats(): PoolStats;
  cancelBlocking(waitId: number): boolean;
  getrlimit(resource: number): [bigint, bigint];
  setrlimit(resource: number, soft: number | bigint, hard: number | bigint): void;
}

function load(): FsAddon {
  // The same file index.ts loaded: require() returns the cached module, no second dlopen.
  const require = createRequire(import.meta.url);
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  let lastError: unknown;
  for (const c of ['build/Release/vfsnative.node', 'build/Debug/vfsnative.node']) {
    try {
      return (require(path.join(root, c)) as { fs: FsAddon }).fs;
    } catch (e) {
      lastError = e;
    }
  }
  throw lastError;
}

const fs = load();

export * from './fs-constants.js';

// ---- device numbers ----

/** The kernel's 32-bit dev encoding (new_encode_dev; equal to glibc's for major < 4096). */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + major * 0x100 + Math.floor(minor / 0x100) * 0x100000;
}
export function major(dev: number): number {
  return Math.floor(dev / 0x100) & 0xfff;
}
export function minor(dev: number): number {
  return (dev & 0xff) | (Math.floor(dev / 0x100000) * 0x100);
}

// ---- result decoders ----

const LE = os.endianness() === 'LE';

/** Decode a raw struct statx (the kernel's layout, 256 bytes). */
export function decodeStatx(b: Uint8Array): Statx {
  return statxAt(new DataView(b.buffer, b.byteOffset, b.byteLength), 0);
}

/** Seconds as a number without a BigInt per field (exact below 2^53, as Number(bigint) would be). */
function secondsAt(v: DataView, o: number): number {
  return LE ? v.getInt32(o + 4, true) * 0x100000000 + v.getUint32(o, true) : v.getInt32(o, false) * 0x100000000 + v.getUint32(o + 4, false);
}

/** A u64 as a bigint, without allocating one for 0 (attributes, and size and blocks of empty files, mostly are). */
function u64At(v: DataView, o: number): bigint {
  return v.getUint32(o, LE) === 0 && v.getUint32(o + 4, LE) === 0 ? 0n : v.getBigUint64(o, LE);
}

/**
 * The struct statx at byte `o` of `v`. No closure, view or copy per call: a GETATTR, and each record
 * of a READDIRPLUS, decodes one of these on the event-loop thread.
 */
function statxAt(v: DataView, o: number): Statx {
  const rdevMajor = v.getUint32(o + 128, LE);
  const rdevMinor = v.getUint32(o + 132, LE);
  const devMajor = v.getUint32(o + 136, LE);
  const devMinor = v.getUint32(o + 140, LE);
  return {
    mask: v.getUint32(o, LE),
    blksize: v.getUint32(o + 4, LE),
    attributes: u64At(v, o + 8),
    nlink: v.getUint32(o + 16, LE),
    uid: v.getUint32(o + 20, LE),
    gid: v.getUint32(o + 24, LE),
    mode: v.getUint16(o + 28, LE),
    ino: v.getBigUint64(o + 32, LE),
    size: u64At(v, o + 40),
    blocks: u64At(v, o + 48),
    attributesMask: u64At(v, o + 56),
    atimeSec: secondsAt(v, o + 64),
    atimeNsec: v.getUint32(o + 72, LE),
    btimeSec: secondsAt(v, o + 80),
    btimeNsec: v.getUint32(o + 88, LE),
    ctimeSec: secondsAt(v, o + 96),
    ctimeNsec: v.getUint32(o + 104, LE),
    mtimeSec: secondsAt(v, o + 112),
    mtimeNsec: v.getUint32(o + 120, LE),
    rdevMajor,
    rdevMinor,
    rdev: makedev(rdevMajor, rdevMinor),
    devMajor,
    devMinor,
    dev: makedev(devMajor, devMinor),
    mntId: v.getBigUint64(o + 144, LE),
  };
}

function decodeStatFs(b: Uint8Array): StatFs {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u64 = (i: number) => v.getBigUint64(i * 8, LE);
  const num = (i: number) => Number(u64(i));
  return {
    type: num(0),
    bsize: num(1),
    blocks: u64(2),
    bfree: u64(3),
    bavail: u64(4),
    files: u64(5),
    ffree: u64(6),
    fsid: u64(7),
    namelen: num(8),
    frsize: num(9),
    flags: num(10),
  };
}

/** Size of the fixed part of struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8. */
export const DIRENT64_HEADER = 19;

/**
 * Parse the first `length` bytes of a getdents64 buffer. The kernel only returns whole records, so
 * a record that does not fit, or a name without its NUL, throws (code ERR_DIRENT_MALFORMED).
 * Names are copied out of `buf`.
 */
export function parseDirents(buf: Uint8Array, length: number): Dirent64[] {
  const out: Dirent64[] = [];
  parseDirentsAt(buf, length, 0, Infinity, out, true);
  return out;
}

/**
 * parseDirents one piece at a time: up to `max` records of buf[at, length) appended to `out`, with
 * the same checks. Returns where the next record starts (`length` at the end). Names are copies with
 * `copy`, otherwise views of `buf` (only for a buffer that is never written again).
 */
export function parseDirentsAt(buf: Uint8Array, length: number, at: number, max: number, out: Dirent64[], copy: boolean): number {
  if (length < 0 || length > buf.byteLength) throw direntError(`length ${length} outside the buffer`);
  const v = new DataView(buf.buffer, buf.byteOffset, length);
  let p = at;
  for (let k = 0; k < max && p < length; k++) {
    if (length - p < DIRENT64_HEADER) throw direntError(`truncated record header at ${p}`);
    const reclen = v.getUint16(p + 16, LE);
    if (reclen < DIRENT64_HEADER + 1 || reclen > length - p) throw direntError(`bad d_reclen ${reclen} at ${p}`);
    const nameStart = p + DIRENT64_HEADER;
    const nul = buf.indexOf(0, nameStart);
    if (nul < 0 || nul >= p + reclen) throw direntError(`unterminated name at ${p}`);
    const name = Buffer.from(buf.buffer, buf.byteOffset + nameStart, nul - nameStart);
    out.push({
      ino: v.getBigUint64(p, LE),
      off: v.getBigInt64(p + 8, LE),
      type: v.getUint8(p + 18),
      name: copy ? Buffer.from(name) : name,
    });
    p += reclen;
  }
  return p;
}

/** The start of the record after the one at `at` in a buffer parseDirentsAt has checked. */
export function direntEnd(buf: Uint8Array, at: number): number {
  const lo = buf[at + 16]!;
  const hi = buf[at + 17]!;
  return at + (LE ? lo | (hi << 8) : (lo << 8) | hi);
}

function direntError(msg: string): Error {
  return Object.assign(new Error(`getdents64: ${msg}`), { code: 'ERR_DIRENT_MALFORMED' });
}

// ---- open, close, handles ----

/** openat(dirfd, name, flags | O_CLOEXEC, mode) -> a new fd. */
export function openat(dirfd: number, name: Name, flags: number, mode = 0, ctx?: CallContext): Promise<number> {
  return fs.openat(dirfd, name, flags, mode, ctx);
}
/** openat on the JS thread, as the process: for startup (the shared directory). */
export function openatSync(dirfd: number, name: Name, flags: number, mode = 0): number {
  return fs.openatSync(dirfd, name, flags, mode);
}
/**
 * openat2 (Linux 5.6): `how.resolve` confines the lookup (RESOLVE_BENEATH: EXDEV on escape;
 * RESOLVE_NO_SYMLINKS / RESOLVE_NO_MAGICLINKS: ELOOP). Rejects ENOSYS on older kernels (and in
 * sandboxes that filter it): the caller then falls back to its own confinement.
 */
export function openat2(dirfd: number, name: Name, how: OpenHow, ctx?: CallContext): Promise<number> {
  return fs.openat2(dirfd, name, how.flags, how.mode ?? 0, how.resolve ?? 0, ctx);
}
/** name_to_handle_at(dirfd, name, flags): AT_EMPTY_PATH for the fd itself, AT_SYMLINK_FOLLOW. */
export function nameToHandleAt(dirfd: number, name: Name, flags = 0, ctx?: CallContext): Promise<FileHandle> {
  return fs.nameToHandleAt(dirfd, name, flags, ctx);
}
/** open_by_handle_at(mountFd, handle, flags | O_CLOEXEC): needs CAP_DAC_READ_SEARCH. ESTALE if gone. */
export function openByHandleAt(mountFd: number, handle: Uint8Array, flags: number, ctx?: CallContext): Promise<number> {
  return fs.openByHandleAt(mountFd, handle, flags, ctx);
}
/** close(fd). The fd is gone even when this rejects (EINTR, EIO from a flush). */
export function close(fd: number): Promise<void> {
  return fs.close(fd);
}

const errnoName = new Map<number, string>(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
const nameOfErrno = (e: number): string => errnoName.get(e) ?? `E${e}`;

/**
 * Open and stat in one pool job (one round trip instead of three or four): open `name` in `dirfd`
 * (openat2 with `how.resolve`, or plain openat when resolve is -1), under `ctx`; then, if `procFd`
 * (an fd of /proc/self/fd) is given, open the new fd again O_PATH through it — as the process, not
 * `ctx`; then statx (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, `mask`) of that O_PATH fd (or of the
 * opened fd itself), and, if `handleFlags` is given, name_to_handle_at(AT_EMPTY_PATH | handleFlags)
 * of it. A failed open or statx rejects (with the errno's code; no fd is left open); a failed
 * name_to_handle_at is reported in `handleError`. Both fds are the caller's.
 */
export async function openStat(
  dirfd: number,
  name: Name,
  how: { flags: number; mode?: number; resolve: number },
  o: { procFd?: number; mask?: number; handleFlags?: number } = {},
  ctx?: CallContext,
): Promise<OpenStat> {
  const handleFlags = o.handleFlags ?? -1;
  return fromRawOpenStat(await fs.openStat(dirfd, name, how.flags, how.mode ?? 0, how.resolve, o.procFd ?? -1, o.mask ?? STATX_DEFAULT, handleFlags, ctx), handleFlags);
}

/**
 * openStat on the calling thread, as the process (no creds, no procFd): for an open that cannot wait
 * (O_PATH with RESOLVE_CACHED). -> the result, or -errno (never throws for a syscall's failure).
 */
export function openStatSync(dirfd: number, name: Name, how: { flags: number; resolve: number }, o: { mask?: number; handleFlags?: number } = {}): OpenStat | number {
  const handleFlags = o.handleFlags ?? -1;
  const r = fs.openStatSync(dirfd, name, how.flags, 0, how.resolve, -1, o.mask ?? STATX_DEFAULT, handleFlags);
  return typeof r === 'number' ? r : fromRawOpenStat(r, handleFlags);
}

function fromRawOpenStat(r: RawOpenStat, handleFlags: number): OpenStat {
  const out: OpenStat = { fd: r.fd, pathFd: r.pathFd, statx: decodeStatx(r.statx) };
  if (r.handle !== undefined) out.handle = { handle: r.handle, mountId: r.mountId! };
  else if (handleFlags >= 0) out.handleError = nameOfErrno(r.handleErrno);
  return out;
}

/** Pack names as NUL-terminated strings, back to back (what the *Names calls take). */
function packNames(names: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (const n of names) size += n.length + 1;
  const packed = Buffer.allocUnsafe(size);
  let p = 0;
  for (const n of names) {
    if (n.includes(0)) throw Object.assign(new TypeError('name contains a NUL byte'), { code: 'ERR_INVALID_ARG' });
    packed.set(n, p);
    packed[p + n.length] = 0;
    p += n.length + 1;
  }
  return packed;
}

/** Bytes per openStatNames record: fd (i32), errno (i32), then statx (256), path fd, handle errno, mount id, struct file_handle. */
const OPEN_NAMES_REC = 8 + 256 + 16 + 8 + 128;

/** One openStatNames result: what openStat gives (pathFd is -1), or {error: errno name}. */
export type OpenStatOrError = OpenStat | { error: string };

/**
 * openStat(dirfd, name, how, {mask, handleFlags}) for each of `names`, as the process, in one pool job
 * (at most 4096 names). Every fd in the results is the caller's; a failed name has no fd.
 */
export async function openStatNames(dirfd: number, names: readonly Uint8Array[], how: { flags: number; resolve: number }, o: { mask?: number; handleFlags?: number } = {}): Promise<OpenStatOrError[]> {
  const handleFlags = o.handleFlags ?? -1;
  const raw = await fs.openStatNames(dirfd, packNames(names), names.length, how.flags, how.resolve, o.mask ?? STATX_DEFAULT, handleFlags);
  const out: OpenStatOrError[] = [];
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0, o = 0; i < names.length; i++, o += OPEN_NAMES_REC) {
    const fd = v.getInt32(o, LE);
    if (fd < 0) {
      out.push({ error: nameOfErrno(v.getInt32(o + 4, LE)) });
      continue;
    }
    const r: OpenStat = { fd, pathFd: -1, statx: statxAt(v, o + 8) };
    if (handleFlags >= 0) {
      const he = v.getInt32(o + 268, LE);
      if (he !== 0) r.handleError = nameOfErrno(he);
      else r.handle = handleAt(raw, v, o + 280, v.getBigUint64(o + 272, LE));
    }
    out.push(r);
  }
  return out;
}

/** close(2) every fd in one pool job; resolves to how many closes failed (the fds are gone anyway). */
export function closeMany(fds: readonly number[]): Promise<number> {
  return fs.closeMany(Int32Array.from(fds));
}

/** Room for f_handle in a result record (MAX_HANDLE_SZ). */
const HANDLE_MAX = 128;

/** A copy of the struct file_handle at byte `o` of a result record (handle_bytes, then the rest). */
function handleAt(raw: Buffer, v: DataView, o: number, mountId: bigint): FileHandle {
  return { handle: Buffer.from(raw.subarray(o, o + 8 + Math.min(HANDLE_MAX, v.getUint32(o, LE)))), mountId };
}

/** Bytes per statxNames record: struct statx, statx's errno (i32), the handle's errno (i32), mount id (u64), struct file_handle (8 + 128). */
const STATX_NAMES_REC = 256 + 16 + 8 + 128;

/**
 * statx(dirfd, name, flags, mask) for each of `names` in one pool job (at most 4096 names, none with
 * a NUL), and with `handleFlags` name_to_handle_at(dirfd, name, handleFlags) of each name statx
 * found. Each record is read on demand: the attributes (and handle) or the errno of that name;
 * the call itself rejects only when it could not run (EINVAL, ENOMEM). No fd is opened.
 */
export async function statxNamesRecords(dirfd: number, names: readonly Uint8Array[], flags: number, mask = STATX_DEFAULT, handleFlags?: number): Promise<StatxRecords> {
  const raw = await fs.statxNames(dirfd, packNames(names), names.length, flags, mask, handleFlags ?? -1);
  return new StatxRecords(raw, handleFlags !== undefined && handleFlags >= 0);
}

export class StatxRecords {
  private readonly v: DataView;

  constructor(
    private readonly raw: Buffer,
    /** Handles were asked for. */
    private readonly handles: boolean,
  ) {
    this.v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  }

  /** The errno name statx of name i failed with, or undefined. */
  error(i: number): string | undefined {
    const e = this.v.getInt32(i * STATX_NAMES_REC + 256, LE);
    return e !== 0 ? nameOfErrno(e) : undefined;
  }

  /** The attributes of name i (when error(i) is undefined). */
  st(i: number): Statx {
    return statxAt(this.v, i * STATX_NAMES_REC);
  }

  /**
   * Whether name i's handle is `mountId` and the bytes `bytes` holds one per char (latin1) from
   * `from` on, compared in place: READDIRPLUS checks a held inode's handle this way for every record,
   * where decoding it would cost a Buffer and a string each.
   */
  handleIs(i: number, mountId: bigint, bytes: string, from: number): boolean {
    if (!this.handles) return false;
    const o = i * STATX_NAMES_REC;
    const v = this.v;
    if (v.getInt32(o + 260, LE) !== 0) return false;
    const mnt = v.getUint32(o + 264 + (LE ? 4 : 0), LE) * 0x100000000 + v.getUint32(o + 264 + (LE ? 0 : 4), LE);
    if (mnt !== Number(mountId)) return false;
    const n = 8 + Math.min(HANDLE_MAX, v.getUint32(o + 272, LE));
    if (bytes.length - from !== n) return false;
    const raw = this.raw;
    for (let k = 0; k < n; k++) if (raw[o + 272 + k] !== bytes.charCodeAt(from + k)) return false;
    return true;
  }

  /** The handle of name i, or why there is none; {} when handles were not asked for. */
  handle(i: number): { handle?: FileHandle; handleError?: string } {
    if (!this.handles) return {};
    const o = i * STATX_NAMES_REC;
    const he = this.v.getInt32(o + 260, LE);
    return he !== 0 ? { handleError: nameOfErrno(he) } : { handle: handleAt(this.raw, this.v, o + 272, this.v.getBigUint64(o + 264, LE)) };
  }
}

/** Where statxOpenedSync's struct statx lands: one per thread, read before the next call. */
const OPENED_STATX = new Uint8Array(256);
const OPENED_VIEW = new DataView(OPENED_STATX.buffer);

/**
 * statx of `name` on the calling thread, through an fd: openat2(dirfd, name, flags, resolve), statx
 * of that fd, close. With O_PATH and RESOLVE_CACHED the open never waits for I/O. -> the attributes,
 * or -errno (EAGAIN: not all in the dentry cache). Never throws for a syscall's failure.
 */
export function statxOpenedSync(dirfd: number, name: Name, flags: number, resolve: number, mask = STATX_DEFAULT): Statx | number {
  const e = fs.statxOpenedSync(dirfd, name, flags, resolve, mask, OPENED_STATX);
  return e < 0 ? e : statxAt(OPENED_VIEW, 0);
}

/** fcntl(fd, F_DUPFD_CLOEXEC, 0) */
export function dup(fd: number): Promise<number> {
  return fs.dup(fd);
}
/**
 * close(dup(fd)) in one pool job: what closing one more fd of the open file does (a network
 * filesystem flushes there and reports write errors), fd itself staying open. FUSE_FLUSH.
 */
export function closeDup(fd: number): Promise<void> {
  return fs.closeDup(fd);
}
export function fcntlGetfl(fd: number): Promise<number> {
  return fs.fcntlGetfl(fd);
}
export function fcntlSetfl(fd: number, flags: number): Promise<void> {
  return fs.fcntlSetfl(fd, flags);
}

// ---- attributes ----

/** statx(dirfd, name, flags, mask): flags AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, AT_STATX_*. */
export async function statx(dirfd: number, name: Name, flags: number, mask = STATX_DEFAULT, ctx?: CallContext): Promise<Statx> {
  return decodeStatx(await fs.statx(dirfd, name, flags, mask, ctx));
}
/** statx on the JS thread, as the process: for startup checks. */
export function statxSync(dirfd: number, name: Name, flags: number, mask = STATX_DEFAULT): Statx {
  return decodeStatx(fs.statxSync(dirfd, name, flags, mask));
}
/** fstatfs(fd) (O_PATH fds work). */
export async function fstatfs(fd: number): Promise<StatFs> {
  return decodeStatFs(await fs.fstatfs(fd, undefined));
}
export function fchmod(fd: number, mode: number, ctx?: CallContext): Promise<void> {
  return fs.fchmod(fd, mode, ctx);
}
/** fchmodat; any flag (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) uses fchmodat2: ENOSYS before Linux 6.6. */
export function fchmodat(dirfd: number, name: Name, mode: number, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.fchmodat(dirfd, name, mode, flags, ctx);
}
/** fchownat; uid or gid -1 leaves it unchanged. AT_EMPTY_PATH works on O_PATH fds. */
export function fchownat(dirfd: number, name: Name, uid: number, gid: number, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.fchownat(dirfd, name, uid, gid, flags, ctx);
}
/** utimensat; nsec UTIME_NOW / UTIME_OMIT; AT_EMPTY_PATH with name "" for an (O_PATH) fd. */
export function utimensat(dirfd: number, name: Name, atime: Timespec, mtime: Timespec, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.utimensat(dirfd, name, atime.sec, atime.nsec, mtime.sec, mtime.nsec, flags, ctx);
}
/** faccessat(2): checks with the REAL ids, which creds do not change (they stay root): see faccessat2. */
export function faccessat(dirfd: number, name: Name, mode: number, ctx?: CallContext): Promise<void> {
  return fs.faccessat(dirfd, name, mode, ctx);
}
/** faccessat2 (Linux 5.8): with AT_EACCESS it checks as the creds' effective ids. */
export function faccessat2(dirfd: number, name: Name, mode: number, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.faccessat2(dirfd, name, mode, flags, ctx);
}

// ---- namespace ----

export function mkdirat(dirfd: number, name: Name, mode: number, ctx?: CallContext): Promise<void> {
  return fs.mkdirat(dirfd, name, mode, ctx);
}
/** mknodat; mode includes the type (S_IFIFO, S_IFCHR, ...); dev from makedev(). */
export function mknodat(dirfd: number, name: Name, mode: number, dev: number | bigint = 0, ctx?: CallContext): Promise<void> {
  return fs.mknodat(dirfd, name, mode, dev, ctx);
}
export function symlinkat(target: Name, dirfd: number, name: Name, ctx?: CallContext): Promise<void> {
  return fs.symlinkat(target, dirfd, name, ctx);
}
/** readlinkat: the target's bytes. AT_EMPTY_PATH-style: name "" reads an O_PATH fd of the link. */
export function readlinkat(dirfd: number, name: Name, ctx?: CallContext): Promise<Buffer> {
  return fs.readlinkat(dirfd, name, ctx);
}
/** unlinkat; AT_REMOVEDIR for directories. */
export function unlinkat(dirfd: number, name: Name, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.unlinkat(dirfd, name, flags, ctx);
}
/** renameat2; RENAME_NOREPLACE / RENAME_EXCHANGE (EINVAL on filesystems without them, e.g. ceph-fuse). */
export function renameat2(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.renameat2(olddirfd, oldname, newdirfd, newname, flags, ctx);
}
/** linkat; AT_EMPTY_PATH with oldname "" links an (O_PATH) fd (needs CAP_DAC_READ_SEARCH). */
export function linkat(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.linkat(olddirfd, oldname, newdirfd, newname, flags, ctx);
}
/**
 * getdents64 into buf -> bytes filled (0 at the end); parse with parseDirents. Reads from the fd's
 * position, shared by every user of the open file description: serialize per directory handle.
 */
export function getdents64(fd: number, buf: Uint8Array): Promise<number> {
  return fs.getdents64(fd, buf);
}

// ---- data ----

/** pread into buf (e.g. a view of guest memory) -> bytes read. */
export function pread(fd: number, buf: ArrayBufferView, offset: number | bigint): Promise<number> {
  return fs.pread(fd, buf, offset);
}
export function pwrite(fd: number, buf: ArrayBufferView, offset: number | bigint): Promise<number> {
  return fs.pwrite(fd, buf, offset);
}
/** preadv2 into several buffers; offset -1 uses the file position; flags RWF_*. */
export function preadv(fd: number, bufs: readonly ArrayBufferView[], offset: number | bigint, flags = 0): Promise<number> {
  return fs.preadv(fd, bufs, offset, flags);
}
/**
 * preadv2 on the calling thread -> bytes read, or -errno (never throws: made for RWF_NOWAIT, where
 * EAGAIN is an expected answer and an exception per miss would cost more than the call).
 */
export function preadvSync(fd: number, bufs: readonly ArrayBufferView[], offset: number | bigint, flags: number): number {
  return fs.preadvSync(fd, bufs, offset, flags);
}
/** pwritev2 from several buffers; offset -1 uses the file position; flags RWF_*. */
export function pwritev(fd: number, bufs: readonly ArrayBufferView[], offset: number | bigint, flags = 0): Promise<number> {
  return fs.pwritev(fd, bufs, offset, flags);
}
/**
 * pwritev, after clearing what an unprivileged writer's write clears (setuid; setgid when
 * group-executable; not on directories) by fchmod of fd, in one pool job: FUSE_WRITE_KILL_SUIDGID.
 * Fails before writing when the statx or fchmod does.
 */
export function pwritevKillSuidgid(fd: number, bufs: readonly ArrayBufferView[], offset: number | bigint, flags = 0): Promise<number> {
  return fs.pwritevKillSuidgid(fd, bufs, offset, flags);
}
/** copy_file_range; a null offset uses (and advances) that fd's position. -> bytes copied. */
export function copyFileRange(fdIn: number, offIn: number | bigint | null, fdOut: number, offOut: number | bigint | null, len: number | bigint, flags = 0): Promise<number> {
  return fs.copyFileRange(fdIn, offIn, fdOut, offOut, len, flags);
}
export function ftruncate(fd: number, length: number | bigint): Promise<void> {
  return fs.ftruncate(fd, length);
}
/** fallocate; mode FALLOC_FL_* (0 allocates and extends). */
export function fallocate(fd: number, mode: number, offset: number | bigint, length: number | bigint): Promise<void> {
  return fs.fallocate(fd, mode, offset, length);
}
/** lseek -> the new offset; SEEK_DATA/SEEK_HOLE reject ENXIO past the end. */
export function lseek(fd: number, offset: number | bigint, whence: number): Promise<bigint> {
  return fs.lseek(fd, offset, whence);
}
export function fsync(fd: number): Promise<void> {
  return fs.fsync(fd);
}
export function fdatasync(fd: number): Promise<void> {
  return fs.fdatasync(fd);
}
export function syncfs(fd: number): Promise<void> {
  return fs.syncfs(fd);
}

// ---- xattrs ----
// Reads take a destination buffer, or null to ask for the size; they resolve to the byte count
// (ERANGE when the buffer is too small). O_PATH fds have no fd-based xattr access: use the
// path-following forms on `/proc/self/fd/N` (the magic link lands on the file itself, even a
// symlink); the l* forms would act on the /proc link.

export function fgetxattr(fd: number, name: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.fgetxattr(fd, name, buf, ctx);
}
/** fsetxattr; flags XATTR_CREATE / XATTR_REPLACE. */
export function fsetxattr(fd: number, name: Name, value: Uint8Array, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.fsetxattr(fd, name, value, flags, ctx);
}
/** flistxattr: NUL-separated names. */
export function flistxattr(fd: number, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.flistxattr(fd, buf, ctx);
}
export function fremovexattr(fd: number, name: Name, ctx?: CallContext): Promise<void> {
  return fs.fremovexattr(fd, name, ctx);
}
export function getxattr(path: Name, name: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.getxattr(path, name, buf, ctx);
}
export function setxattr(path: Name, name: Name, value: Uint8Array, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.setxattr(path, name, value, flags, ctx);
}
export function listxattr(path: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.listxattr(path, buf, ctx);
}
export function removexattr(path: Name, name: Name, ctx?: CallContext): Promise<void> {
  return fs.removexattr(path, name, ctx);
}
/**
 * The *xattrat calls (Linux 6.13+): the inode `path` names relative to `dirfd` (AT_SYMLINK_NOFOLLOW
 * in atFlags: a final symlink itself). ENOSYS on older kernels: callers fall back to the path forms.
 */
export function getxattrat(dirfd: number, path: Name, atFlags: number, name: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.getxattrat(dirfd, path, atFlags, name, buf, ctx);
}
export function setxattrat(dirfd: number, path: Name, atFlags: number, name: Name, value: Uint8Array, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.setxattrat(dirfd, path, atFlags, name, value, flags, ctx);
}
export function listxattrat(dirfd: number, path: Name, atFlags: number, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.listxattrat(dirfd, path, atFlags, buf, ctx);
}
export function removexattrat(dirfd: number, path: Name, atFlags: number, name: Name, ctx?: CallContext): Promise<void> {
  return fs.removexattrat(dirfd, path, atFlags, name, ctx);
}
export function lgetxattr(path: Name, name: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.lgetxattr(path, name, buf, ctx);
}
export function lsetxattr(path: Name, name: Name, value: Uint8Array, flags = 0, ctx?: CallContext): Promise<void> {
  return fs.lsetxattr(path, name, value, flags, ctx);
}
export function llistxattr(path: Name, buf: Uint8Array | null, ctx?: CallContext): Promise<number> {
  return fs.llistxattr(path, buf, ctx);
}
export function lremovexattr(path: Name, name: Name, ctx?: CallContext): Promise<void> {
  return fs.lremovexattr(path, name, ctx);
}

// ---- locks ----

let lastWaitId = 0;
function nextWaitId(): number {
  lastWaitId = lastWaitId >= 0xfffffffe ? 1 : lastWaitId + 1;
  return lastWaitId;
}

/**
 * Run a possibly waiting call; aborting `signal` ends a wait still in progress with EINTR (a call
 * that already completed keeps its result). An already aborted signal rejects EINTR at once.
 */
function cancellable<T>(syscall: string, signal: AbortSignal | undefined, call: (waitId: number) => Promise<T>): Promise<T> {
  if (signal === undefined) return call(0);
  if (signal.aborted) {
    const e = Object.assign(new Error(`${syscall}: Interrupted system call (EINTR)`), { code: 'EINTR', errno: os.constants.errno.EINTR, syscall });
    return Promise.reject(e);
  }
  const id = nextWaitId();
  const onAbort = () => fs.cancelBlocking(id);
  const p = call(id);
  signal.addEventListener('abort', onAbort, { once: true });
  const done = () => signal.removeEventListener('abort', onAbort);
  p.then(done, done);
  return p;
}

/**
 * fcntl lock commands: F_GETLK/F_SETLK/F_SETLKW (POSIX, owned by the process) and F_OFD_GETLK/
 * F_OFD_SETLK/F_OFD_SETLKW (owned by the open file description: what a server acting for many
 * guest processes wants). The W forms wait on a thread of their own, never a pool worker; aborting
 * `signal` ends the wait with EINTR (FUSE_INTERRUPT). Resolves to struct flock after the call.
 */
export function fcntlLock(fd: number, cmd: number, lock: Flock, signal?: AbortSignal, ctx?: CallContext): Promise<FlockResult> {
  return cancellable('fcntl', signal, (id) => fs.fcntlLock(fd, cmd, lock.type, lock.whence, lock.start, lock.len, id, ctx));
}
/**
 * flock(fd, op): without LOCK_NB it waits on a thread of its own; aborting `signal` ends the wait
 * with EINTR. (flock is no cancellation point in glibc, so it runs with asynchronous cancellation:
 * a cancel landing just as the lock is granted can report EINTR with the lock held; LOCK_UN or
 * closing the fd releases it.)
 */
export function flock(fd: number, op: number, signal?: AbortSignal, ctx?: CallContext): Promise<void> {
  return cancellable('flock', signal, (id) => fs.flock(fd, op, id, ctx));
}

// ---- process limits and the pool ----

export interface Rlimit {
  /** Infinity for RLIM_INFINITY. */
  soft: number;
  hard: number;
}
const RLIM_INFINITY = 2n ** 64n - 1n;
const fromRlim = (v: bigint): number => (v === RLIM_INFINITY ? Infinity : Number(v));
const toRlim = (v: number): bigint => (v === Infinity ? RLIM_INFINITY : BigInt(v));

/** getrlimit (synchronous: for startup). */
export function getrlimit(resource: number): Rlimit {
  const [soft, hard] = fs.getrlimit(resource);
  return { soft: fromRlim(soft), hard: fromRlim(hard) };
}
/** setrlimit (synchronous: for startup), e.g. raise RLIMIT_NOFILE's soft limit to the hard one. */
export function setrlimit(resource: number, limit: Rlimit): void {
  fs.setrlimit(resource, toRlim(limit.soft), toRlim(limit.hard));
}

/**
 * The worker pool's size: exactly n before its first call (default 4), and at least n after (a started
 * pool never shrinks). Workers start at the first call. Returns the pool's target size.
 */
export function setThreadPoolSize(n: number): number {
  return fs.fsSetThreads(n);
}
/**
 * Keep only the capabilities in `keep`: the calling thread at once (bounding, effective and permitted
 * sets; inheritable emptied), and every pool worker and lock-wait thread from its next call on, so
 * workers started earlier follow too. Throws (capset's errno) when the calling thread's change fails.
 */
export function dropCapabilities(keep: bigint): void {
  fs.fsDropCaps(keep);
}
/** Busy polling: a pool worker out of work keeps looking for more for `us` µs before it sleeps (0: off). */
export function setPoolSpin(us: number): void {
  fs.fsSetSpin(us);
}
/** Pool occupancy, for tests and diagnostics. */
export function poolStats(): PoolStats {
  return fs.fsPoolStats();
}
