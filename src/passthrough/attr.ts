/**
 * Host statx/statfs results as the FUSE structs the guest gets, and FUSE lock ranges as struct flock.
 * Pure functions.
 */
import type { FuseAttr, FuseFileLock, FuseKstatfs, FuseStatx } from '../fuse/filesystem.js';
import { FuseError } from '../fuse/errors.js';
import type { FlockResult, StatFs, Statx } from '../native/fs.js';
import { F_UNLCK } from '../native/fs.js';

/** A signed seconds value as the u64 the wire carries (the kernel reads it back as signed). */
const u64 = (n: number | bigint): bigint => (n >= 0 ? BigInt(n) : BigInt.asUintN(64, BigInt(n)));

export function toFuseAttr(st: Statx, flags = 0): FuseAttr {
  return {
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    atime: u64(st.atimeSec),
    mtime: u64(st.mtimeSec),
    ctime: u64(st.ctimeSec),
    atimensec: st.atimeNsec,
    mtimensec: st.mtimeNsec,
    ctimensec: st.ctimeNsec,
    mode: st.mode,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    rdev: st.rdev >>> 0,
    blksize: st.blksize,
    flags,
  };
}

export function toFuseStatx(st: Statx): FuseStatx {
  const t = (sec: number, nsec: number) => ({ tv_sec: BigInt(sec), tv_nsec: nsec });
  return {
    mask: st.mask,
    blksize: st.blksize,
    attributes: st.attributes,
    nlink: st.nlink,
    uid: st.uid,
    gid: st.gid,
    mode: st.mode,
    ino: st.ino,
    size: st.size,
    blocks: st.blocks,
    attributes_mask: st.attributesMask,
    atime: t(st.atimeSec, st.atimeNsec),
    btime: t(st.btimeSec, st.btimeNsec),
    ctime: t(st.ctimeSec, st.ctimeNsec),
    mtime: t(st.mtimeSec, st.mtimeNsec),
    rdev_major: st.rdevMajor,
    rdev_minor: st.rdevMinor,
    dev_major: st.devMajor,
    dev_minor: st.devMinor,
  };
}

const u32 = (n: number): number => Math.min(n, 0xffffffff);

export function toFuseStatfs(s: StatFs): FuseKstatfs {
  return {
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
    bsize: u32(s.bsize),
    namelen: u32(s.namelen),
    frsize: u32(s.frsize),
  };
}

/** OFFSET_MAX: fuse_file_lock.end for "to the end of the file". */
export const OFFSET_MAX = (1n << 63n) - 1n;

/** A FUSE lock range (start, inclusive end) as struct flock's (start, len; len 0 = to the end). EINVAL if inverted. */
export function lockRange(lk: FuseFileLock): { start: bigint; len: bigint } {
  if (lk.start > OFFSET_MAX || lk.end < lk.start) throw new FuseError('EINVAL', `lock range ${lk.start}..${lk.end}`);
  return { start: lk.start, len: lk.end >= OFFSET_MAX ? 0n : lk.end - lk.start + 1n };
}

/**
 * A struct flock from F_OFD_GETLK as the FUSE reply. The holder's pid is the host's (or -1 for an
 * OFD lock) and means nothing in the guest, so it is sent as 0 ("unknown").
 */
export function fromFlock(r: FlockResult): FuseFileLock {
  if (r.type === F_UNLCK) return { start: 0n, end: 0n, type: F_UNLCK, pid: 0 };
  const end = r.len === 0n ? OFFSET_MAX : r.start + r.len - 1n;
  return { start: r.start, end, type: r.type, pid: 0 };
}
