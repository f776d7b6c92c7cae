/**
 * FUSE flag bits, named and valued verbatim after include/uapi/linux/fuse.h (7.43).
 * INIT flags are 64-bit `bigint`s: bits 0..31 travel in fuse_init_{in,out}.flags and bits 32..63 in
 * flags2 (valid only with FUSE_INIT_EXT). Every other flag set is a 32-bit `number`.
 */

// ---- INIT request/reply flags -------------------------------------------------------------------

/** Asynchronous read requests. */
export const FUSE_ASYNC_READ = 1n << 0n;
/** Remote locking for POSIX file locks. */
export const FUSE_POSIX_LOCKS = 1n << 1n;
/** Kernel sends file handle for fstat, etc. (not yet supported). */
export const FUSE_FILE_OPS = 1n << 2n;
/** The file system handles the O_TRUNC open flag. */
export const FUSE_ATOMIC_O_TRUNC = 1n << 3n;
/** The file system handles lookups of "." and "..". */
export const FUSE_EXPORT_SUPPORT = 1n << 4n;
/** The file system can handle writes larger than 4 KiB. */
export const FUSE_BIG_WRITES = 1n << 5n;
/** Don't apply umask to file mode on create operations. */
export const FUSE_DONT_MASK = 1n << 6n;
/** Kernel supports splice write on the device. */
export const FUSE_SPLICE_WRITE = 1n << 7n;
/** Kernel supports splice move on the device. */
export const FUSE_SPLICE_MOVE = 1n << 8n;
/** Kernel supports splice read on the device. */
export const FUSE_SPLICE_READ = 1n << 9n;
/** Remote locking for BSD style file locks. */
export const FUSE_FLOCK_LOCKS = 1n << 10n;
/** Kernel supports ioctl on directories. */
export const FUSE_HAS_IOCTL_DIR = 1n << 11n;
/** Automatically invalidate cached pages. */
export const FUSE_AUTO_INVAL_DATA = 1n << 12n;
/** Do READDIRPLUS (READDIR + LOOKUP in one). */
export const FUSE_DO_READDIRPLUS = 1n << 13n;
/** Adaptive readdirplus. */
export const FUSE_READDIRPLUS_AUTO = 1n << 14n;
/** Asynchronous direct I/O submission. */
export const FUSE_ASYNC_DIO = 1n << 15n;
/** Use writeback cache for buffered writes. */
export const FUSE_WRITEBACK_CACHE = 1n << 16n;
/** Kernel supports zero-message opens. */
export const FUSE_NO_OPEN_SUPPORT = 1n << 17n;
/** Allow parallel lookups and readdir. */
export const FUSE_PARALLEL_DIROPS = 1n << 18n;
/** The file system handles killing suid/sgid/cap on write/chown/trunc. */
export const FUSE_HANDLE_KILLPRIV = 1n << 19n;
/** The file system supports POSIX ACLs. */
export const FUSE_POSIX_ACL = 1n << 20n;
/** Reading the device after abort returns ECONNABORTED. */
export const FUSE_ABORT_ERROR = 1n << 21n;
/** init_out.max_pages contains the max number of request pages. */
export const FUSE_MAX_PAGES = 1n << 22n;
/** Cache READLINK responses. */
export const FUSE_CACHE_SYMLINKS = 1n << 23n;
/** Kernel supports zero-message opendir. */
export const FUSE_NO_OPENDIR_SUPPORT = 1n << 24n;
/** Only invalidate cached pages on explicit request. */
export const FUSE_EXPLICIT_INVAL_DATA = 1n << 25n;
/** init_out.map_alignment contains log2(byte alignment) for DAX mapping offsets. */
export const FUSE_MAP_ALIGNMENT = 1n << 26n;
/** Kernel supports auto-mounting directory submounts. */
export const FUSE_SUBMOUNTS = 1n << 27n;
/** The file system handles killing suid/sgid/cap, v2. */
export const FUSE_HANDLE_KILLPRIV_V2 = 1n << 28n;
/** The server supports the extended struct fuse_setxattr_in. */
export const FUSE_SETXATTR_EXT = 1n << 29n;
/** Extended fuse_init_in request (flags2 is valid). */
export const FUSE_INIT_EXT = 1n << 30n;
/** Reserved, do not use. */
export const FUSE_INIT_RESERVED = 1n << 31n;
/** Add a security context to create, mkdir, symlink and mknod. */
export const FUSE_SECURITY_CTX = 1n << 32n;
/** Use per-inode DAX. */
export const FUSE_HAS_INODE_DAX = 1n << 33n;
/** Add supplementary group info to create, mkdir, symlink and mknod. */
export const FUSE_CREATE_SUPP_GROUP = 1n << 34n;
/** Kernel supports expiry-only entry invalidation. */
export const FUSE_HAS_EXPIRE_ONLY = 1n << 35n;
/** Allow shared mmap in FOPEN_DIRECT_IO mode. */
export const FUSE_DIRECT_IO_ALLOW_MMAP = 1n << 36n;
/** Passthrough mode. */
export const FUSE_PASSTHROUGH = 1n << 37n;
/** Explicitly disable export support. */
export const FUSE_NO_EXPORT_SUPPORT = 1n << 38n;
/** Kernel supports resending pending requests. */
export const FUSE_HAS_RESEND = 1n << 39n;
/** Obsolete alias for FUSE_DIRECT_IO_ALLOW_MMAP. */
export const FUSE_DIRECT_IO_RELAX = FUSE_DIRECT_IO_ALLOW_MMAP;
/** Allow creation of idmapped mounts. */
export const FUSE_ALLOW_IDMAP = 1n << 40n;
/** The client supports io-uring. */
export const FUSE_OVER_IO_URING = 1n << 41n;
/** Kernel supports timing out requests. */
export const FUSE_REQUEST_TIMEOUT = 1n << 42n;

/** Combine fuse_init_in.flags and flags2 into one 64-bit set. */
export function joinInitFlags(flags: number, flags2: number): bigint {
  return (BigInt(flags2 >>> 0) << 32n) | BigInt(flags >>> 0);
}

/** Split a 64-bit INIT flag set into the `flags` and `flags2` words. */
export function splitInitFlags(all: bigint): { flags: number; flags2: number } {
  return { flags: Number(all & 0xffffffffn), flags2: Number((all >> 32n) & 0xffffffffn) };
}

// ---- CUSE INIT flags ----------------------------------------------------------------------------

/** Use unrestricted ioctl. */
export const CUSE_UNRESTRICTED_IOCTL = 1 << 0;

// ---- fuse_setattr_in.valid ----------------------------------------------------------------------

/** Set mode. */
export const FATTR_MODE = 1 << 0;
/** Set user ID. */
export const FATTR_UID = 1 << 1;
/** Set group ID. */
export const FATTR_GID = 1 << 2;
/** Set size. */
export const FATTR_SIZE = 1 << 3;
/** Set access time. */
export const FATTR_ATIME = 1 << 4;
/** Set modification time. */
export const FATTR_MTIME = 1 << 5;
/** fuse_setattr_in.fh is valid. */
export const FATTR_FH = 1 << 6;
/** Set access time to now. */
export const FATTR_ATIME_NOW = 1 << 7;
/** Set modification time to now. */
export const FATTR_MTIME_NOW = 1 << 8;
/** fuse_setattr_in.lock_owner is valid. */
export const FATTR_LOCKOWNER = 1 << 9;
/** Set change time. */
export const FATTR_CTIME = 1 << 10;
/** Kill suid/sgid bits. */
export const FATTR_KILL_SUIDGID = 1 << 11;

// ---- fuse_open_out.open_flags (FOPEN_*) ---------------------------------------------------------

/** Bypass page cache for this open file. */
export const FOPEN_DIRECT_IO = 1 << 0;
/** Don't invalidate the data cache on open. */
export const FOPEN_KEEP_CACHE = 1 << 1;
/** The file is not seekable. */
export const FOPEN_NONSEEKABLE = 1 << 2;
/** Allow caching this directory. */
export const FOPEN_CACHE_DIR = 1 << 3;
/** The file is stream-like (no file position at all). */
export const FOPEN_STREAM = 1 << 4;
/** Don't flush data cache on close (unless FUSE_WRITEBACK_CACHE). */
export const FOPEN_NOFLUSH = 1 << 5;
/** Allow concurrent direct writes on the same inode. */
export const FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;
/** Passthrough read/write I/O for this open file. */
export const FOPEN_PASSTHROUGH = 1 << 7;

// ---- per-request flags ----------------------------------------------------------------------------

/** fuse_open_in/fuse_create_in.open_flags: kill suid and sgid if executable. */
export const FUSE_OPEN_KILL_SUIDGID = 1 << 0;
/** fuse_release_in.release_flags: flush data. */
export const FUSE_RELEASE_FLUSH = 1 << 0;
/** fuse_release_in.release_flags: release the flock lock. */
export const FUSE_RELEASE_FLOCK_UNLOCK = 1 << 1;
/** fuse_getattr_in.getattr_flags: fh is valid. */
export const FUSE_GETATTR_FH = 1 << 0;
/** fuse_lk_in.lk_flags: a BSD flock lock rather than a POSIX lock. */
export const FUSE_LK_FLOCK = 1 << 0;
/** fuse_write_in.write_flags: delayed write from page cache, file handle is guessed. */
export const FUSE_WRITE_CACHE = 1 << 0;
/** fuse_write_in.write_flags: lock_owner field is valid. */
export const FUSE_WRITE_LOCKOWNER = 1 << 1;
/** fuse_write_in.write_flags: kill suid and sgid bits. */
export const FUSE_WRITE_KILL_SUIDGID = 1 << 2;
/** Obsolete alias of FUSE_WRITE_KILL_SUIDGID. */
export const FUSE_WRITE_KILL_PRIV = FUSE_WRITE_KILL_SUIDGID;
/** fuse_read_in.read_flags: lock_owner field is valid. */
export const FUSE_READ_LOCKOWNER = 1 << 1;
/** fuse_fsync_in.fsync_flags: sync data only, not metadata. */
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
/** fuse_poll_in.flags: request poll notify. */
export const FUSE_POLL_SCHEDULE_NOTIFY = 1 << 0;
/** fuse_setxattr_in.setxattr_flags: clear SGID when system.posix_acl_access is set. */
export const FUSE_SETXATTR_ACL_KILL_SGID = 1 << 0;
/** fuse_notify_inval_entry_out.flags: expire only. */
export const FUSE_EXPIRE_ONLY = 1 << 0;
/** fuse_setupmapping_in.flags: map for writing. */
export const FUSE_SETUPMAPPING_FLAG_WRITE = 1n << 0n;
/** fuse_setupmapping_in.flags: map for reading. */
export const FUSE_SETUPMAPPING_FLAG_READ = 1n << 1n;

// ---- fuse_attr.flags ------------------------------------------------------------------------------

/** The object is a submount root. */
export const FUSE_ATTR_SUBMOUNT = 1 << 0;
/** Enable DAX for this file in per-inode DAX mode. */
export const FUSE_ATTR_DAX = 1 << 1;

// ---- ioctl ----------------------------------------------------------------------------------------

/** 32-bit compat ioctl on a 64-bit machine. */
export const FUSE_IOCTL_COMPAT = 1 << 0;
/** Not restricted to well-formed ioctls, retry allowed. */
export const FUSE_IOCTL_UNRESTRICTED = 1 << 1;
/** Retry with new iovecs. */
export const FUSE_IOCTL_RETRY = 1 << 2;
/** 32-bit ioctl. */
export const FUSE_IOCTL_32BIT = 1 << 3;
/** The ioctl is on a directory. */
export const FUSE_IOCTL_DIR = 1 << 4;
/** x32 compat ioctl on a 64-bit machine (64-bit time_t). */
export const FUSE_IOCTL_COMPAT_X32 = 1 << 5;
/** Maximum of in_iovecs + out_iovecs. */
export const FUSE_IOCTL_MAX_IOV = 256;
