/**
 * Linux constants for the fs shims (src/native/fs.ts re-exports them), named as in the kernel's
 * headers. Values are the generic ABI's, shared by x86_64 and aarch64 (not by e.g. alpha or sparc).
 */

/** openat: resolve relative names against the current directory. */
export const AT_FDCWD = -100;
/** Do not follow a final symlink (statx, fchownat, utimensat, linkat's opposite). */
export const AT_SYMLINK_NOFOLLOW = 0x100;
/** unlinkat: remove a directory. */
export const AT_REMOVEDIR = 0x200;
/** faccessat2: check with the effective ids (the default checks the real ids, which stay 0). */
export const AT_EACCESS = 0x200;
/** linkat: follow a final symlink. */
export const AT_SYMLINK_FOLLOW = 0x400;
/** Do not trigger an automount on the final component. */
export const AT_NO_AUTOMOUNT = 0x800;
/** Operate on dirfd itself when the name is empty (O_PATH fds). */
export const AT_EMPTY_PATH = 0x1000;
/** statx: do what stat does about syncing remote attributes. */
export const AT_STATX_SYNC_AS_STAT = 0;
/** statx: force a sync with the server. */
export const AT_STATX_FORCE_SYNC = 0x2000;
/** statx: use cached attributes. */
export const AT_STATX_DONT_SYNC = 0x4000;
/** name_to_handle_at: the mount id is the 64-bit unique id (Linux 6.12). */
export const AT_HANDLE_MNT_ID_UNIQUE = 0x001;
/** name_to_handle_at: a handle for identification only, not for open_by_handle_at (Linux 6.5). */
export const AT_HANDLE_FID = 0x200;

/** Open for reading only. */
export const O_RDONLY = 0;
/** Open for writing only. */
export const O_WRONLY = 1;
/** Open for reading and writing. */
export const O_RDWR = 2;
/** Mask of the access mode bits. */
export const O_ACCMODE = 3;
/** Create if missing. */
export const O_CREAT = 0o100;
/** With O_CREAT: fail EEXIST if it exists. */
export const O_EXCL = 0o200;
/** Do not make a tty the controlling terminal. */
export const O_NOCTTY = 0o400;
/** Truncate to length 0. */
export const O_TRUNC = 0o1000;
/** Writes go to the end. */
export const O_APPEND = 0o2000;
/** Non-blocking (FIFOs, locks on some filesystems). */
export const O_NONBLOCK = 0o4000;
/** Data-integrity synchronized writes. */
export const O_DSYNC = 0o10000;
/** Bypass the page cache. */
export const O_DIRECT = 0o40000;
/** Allow files larger than 2 GiB (implied on 64-bit). */
export const O_LARGEFILE = 0o100000;
/** Fail ENOTDIR unless a directory. */
export const O_DIRECTORY = 0o200000;
/** Fail ELOOP if the final component is a symlink (with O_PATH: open the symlink itself). */
export const O_NOFOLLOW = 0o400000;
/** Do not update atime. */
export const O_NOATIME = 0o1000000;
/** Close on exec (always added by these shims). */
export const O_CLOEXEC = 0o2000000;
/** File-integrity synchronized writes. */
export const O_SYNC = 0o4010000;
/** A location-only fd: no I/O, no permission needed on the file itself. */
export const O_PATH = 0o10000000;
/** Create an unnamed file in the given directory. */
export const O_TMPFILE = 0o20200000;

/** openat2: no mount-point crossings. */
export const RESOLVE_NO_XDEV = 0x01;
/** openat2: no /proc/PID/fd-style magic links. */
export const RESOLVE_NO_MAGICLINKS = 0x02;
/** openat2: no symlinks at all (implies RESOLVE_NO_MAGICLINKS). */
export const RESOLVE_NO_SYMLINKS = 0x04;
/** openat2: fail EXDEV if resolution would leave dirfd (no "..", absolute names or symlinks out). */
export const RESOLVE_BENEATH = 0x08;
/** openat2: treat dirfd as the root ("/" and ".." stay inside). */
export const RESOLVE_IN_ROOT = 0x10;
/** openat2: only from the dcache, else EAGAIN. */
export const RESOLVE_CACHED = 0x20;

/** renameat2: fail EEXIST if the new name exists. */
export const RENAME_NOREPLACE = 1;
/** renameat2: swap the two names atomically. */
export const RENAME_EXCHANGE = 2;
/** renameat2: leave a whiteout at the old name (overlayfs). */
export const RENAME_WHITEOUT = 4;

/** Mask of the file type bits of a mode. */
export const S_IFMT = 0o170000;
/** Socket. */
export const S_IFSOCK = 0o140000;
/** Symbolic link. */
export const S_IFLNK = 0o120000;
/** Regular file. */
export const S_IFREG = 0o100000;
/** Block device. */
export const S_IFBLK = 0o60000;
/** Directory. */
export const S_IFDIR = 0o40000;
/** Character device. */
export const S_IFCHR = 0o20000;
/** FIFO. */
export const S_IFIFO = 0o10000;
/** Set-user-id bit. */
export const S_ISUID = 0o4000;
/** Set-group-id bit. */
export const S_ISGID = 0o2000;
/** Sticky bit. */
export const S_ISVTX = 0o1000;

/** statx mask: stx_mode & S_IFMT. */
export const STATX_TYPE = 0x1;
/** statx mask: stx_mode & ~S_IFMT. */
export const STATX_MODE = 0x2;
/** statx mask: stx_nlink. */
export const STATX_NLINK = 0x4;
/** statx mask: stx_uid. */
export const STATX_UID = 0x8;
/** statx mask: stx_gid. */
export const STATX_GID = 0x10;
/** statx mask: stx_atime. */
export const STATX_ATIME = 0x20;
/** statx mask: stx_mtime. */
export const STATX_MTIME = 0x40;
/** statx mask: stx_ctime. */
export const STATX_CTIME = 0x80;
/** statx mask: stx_ino. */
export const STATX_INO = 0x100;
/** statx mask: stx_size. */
export const STATX_SIZE = 0x200;
/** statx mask: stx_blocks. */
export const STATX_BLOCKS = 0x400;
/** Everything struct stat has. */
export const STATX_BASIC_STATS = 0x7ff;
/** statx mask: stx_btime (creation time). */
export const STATX_BTIME = 0x800;
/** mntId is the (reusable) mount id. */
export const STATX_MNT_ID = 0x1000;
/** statx mask: O_DIRECT alignment fields. */
export const STATX_DIOALIGN = 0x2000;
/** mntId is the 64-bit unique mount id (Linux 6.8). */
export const STATX_MNT_ID_UNIQUE = 0x4000;
/** The default statx mask here: basic stats, birth time and mount id. */
export const STATX_DEFAULT = STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID;

/** fcntl: get the file status flags. */
export const F_GETFL = 3;
/** fcntl: set O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, O_ASYNC. */
export const F_SETFL = 4;
/** fcntl: test a process-associated (POSIX) lock. */
export const F_GETLK = 5;
/** fcntl: set a POSIX lock, EAGAIN on conflict. */
export const F_SETLK = 6;
/** fcntl: set a POSIX lock, waiting for conflicts (on a dedicated thread). */
export const F_SETLKW = 7;
/** fcntl: test an open-file-description lock. */
export const F_OFD_GETLK = 36;
/** fcntl: set an OFD lock, EAGAIN on conflict. */
export const F_OFD_SETLK = 37;
/** fcntl: set an OFD lock, waiting for conflicts (on a dedicated thread). */
export const F_OFD_SETLKW = 38;
/** Lock type: shared. */
export const F_RDLCK = 0;
/** Lock type: exclusive. */
export const F_WRLCK = 1;
/** Lock type: unlock (or "no conflicting lock" from GETLK). */
export const F_UNLCK = 2;

/** flock: shared. */
export const LOCK_SH = 1;
/** flock: exclusive. */
export const LOCK_EX = 2;
/** flock: do not wait (EWOULDBLOCK). */
export const LOCK_NB = 4;
/** flock: unlock. */
export const LOCK_UN = 8;

/** lseek: from the start. */
export const SEEK_SET = 0;
/** lseek: from the current position. */
export const SEEK_CUR = 1;
/** lseek: from the end. */
export const SEEK_END = 2;
/** The next offset >= offset holding data (ENXIO past the end). */
export const SEEK_DATA = 3;
/** The next hole at or after offset (EOF counts as a hole). */
export const SEEK_HOLE = 4;

/** fallocate: do not change the file size. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** fallocate: deallocate (with KEEP_SIZE). */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
/** fallocate: remove a range, shifting the rest down. */
export const FALLOC_FL_COLLAPSE_RANGE = 0x08;
/** fallocate: zero a range. */
export const FALLOC_FL_ZERO_RANGE = 0x10;
/** fallocate: insert a hole, shifting the rest up. */
export const FALLOC_FL_INSERT_RANGE = 0x20;
/** fallocate: unshare shared (reflinked) blocks. */
export const FALLOC_FL_UNSHARE_RANGE = 0x40;

/** setxattr: fail EEXIST if it exists. */
export const XATTR_CREATE = 1;
/** setxattr: fail ENODATA if it does not exist. */
export const XATTR_REPLACE = 2;

/** utimensat: set this time to now. */
export const UTIME_NOW = (1 << 30) - 1;
/** utimensat: leave this time unchanged. */
export const UTIME_OMIT = (1 << 30) - 2;

/** faccessat: the file exists. */
export const F_OK = 0;
/** faccessat: executable / searchable. */
export const X_OK = 1;
/** faccessat: writable. */
export const W_OK = 2;
/** faccessat: readable. */
export const R_OK = 4;

/** preadv/pwritev: high-priority (polled) I/O. */
export const RWF_HIPRI = 0x01;
/** pwritev: per-write O_DSYNC. */
export const RWF_DSYNC = 0x02;
/** pwritev: per-write O_SYNC. */
export const RWF_SYNC = 0x04;
/** preadv: fail EAGAIN instead of blocking on I/O. */
export const RWF_NOWAIT = 0x08;
/** pwritev: per-write O_APPEND. */
export const RWF_APPEND = 0x10;

/** d_type: unknown (ask statx). */
export const DT_UNKNOWN = 0;
/** d_type: FIFO. */
export const DT_FIFO = 1;
/** d_type: character device. */
export const DT_CHR = 2;
/** d_type: directory. */
export const DT_DIR = 4;
/** d_type: block device. */
export const DT_BLK = 6;
/** d_type: regular file. */
export const DT_REG = 8;
/** d_type: symbolic link. */
export const DT_LNK = 10;
/** d_type: socket. */
export const DT_SOCK = 12;

/** statfs flags: mounted read-only. */
export const ST_RDONLY = 0x1;
/** statfs flags: setuid bits ignored. */
export const ST_NOSUID = 0x2;
/** statfs flags: device files ignored. */
export const ST_NODEV = 0x4;
/** statfs flags: no execution. */
export const ST_NOEXEC = 0x8;

/** getrlimit/setrlimit: open file descriptors. */
export const RLIMIT_NOFILE = 7;
