/**
 * FUSE protocol version, opcodes, notification codes and extension types, named and numbered verbatim
 * after include/uapi/linux/fuse.h (read at protocol 7.43). Flag bits live in fuse-flags.ts.
 */

/** FUSE_KERNEL_VERSION: the major protocol version this server speaks. */
export const FUSE_KERNEL_VERSION = 7;
/**
 * FUSE_KERNEL_MINOR_VERSION: the minor version this server implements and replies with in INIT
 * (7.38 adds total_extlen, extension headers and FUSE_EXT_GROUPS; the kernel uses min(its, ours)).
 */
export const FUSE_KERNEL_MINOR_VERSION = 38;
/** The oldest minor accepted in INIT (7.27: the first with every struct layout used here). */
export const FUSE_MIN_KERNEL_MINOR_VERSION = 27;
/** FUSE_ROOT_ID: the node ID of the root inode. */
export const FUSE_ROOT_ID = 1n;
/** FUSE_MIN_READ_BUFFER: the read buffer is required to be at least 8k. */
export const FUSE_MIN_READ_BUFFER = 8192;
/** FUSE_UNIQUE_RESEND: set in fuse_in_header.unique when the kernel resends a request. */
export const FUSE_UNIQUE_RESEND = 1n << 63n;
/** FUSE_INVALID_UIDGID: uid/gid the kernel sends when an idmapping cannot map the caller. */
export const FUSE_INVALID_UIDGID = 0xffffffff;

/** enum fuse_opcode. */
export enum FuseOpcode {
  /** Look up a directory entry by name. */
  FUSE_LOOKUP = 1,
  /** Drop lookup references to an inode; no reply. */
  FUSE_FORGET = 2,
  /** Get file attributes. */
  FUSE_GETATTR = 3,
  /** Set file attributes. */
  FUSE_SETATTR = 4,
  /** Read the target of a symbolic link. */
  FUSE_READLINK = 5,
  /** Create a symbolic link. */
  FUSE_SYMLINK = 6,
  /** Create a file node (regular, device, fifo, socket). */
  FUSE_MKNOD = 8,
  /** Create a directory. */
  FUSE_MKDIR = 9,
  /** Remove a file. */
  FUSE_UNLINK = 10,
  /** Remove a directory. */
  FUSE_RMDIR = 11,
  /** Rename a directory entry. */
  FUSE_RENAME = 12,
  /** Create a hard link. */
  FUSE_LINK = 13,
  /** Open a file. */
  FUSE_OPEN = 14,
  /** Read from an open file. */
  FUSE_READ = 15,
  /** Write to an open file. */
  FUSE_WRITE = 16,
  /** Get file system statistics. */
  FUSE_STATFS = 17,
  /** Release an open file. */
  FUSE_RELEASE = 18,
  /** Synchronize file contents. */
  FUSE_FSYNC = 20,
  /** Set an extended attribute. */
  FUSE_SETXATTR = 21,
  /** Get an extended attribute. */
  FUSE_GETXATTR = 22,
  /** List extended attribute names. */
  FUSE_LISTXATTR = 23,
  /** Remove an extended attribute. */
  FUSE_REMOVEXATTR = 24,
  /** Flush on close of a file descriptor. */
  FUSE_FLUSH = 25,
  /** Initialize the session (version and feature negotiation). */
  FUSE_INIT = 26,
  /** Open a directory. */
  FUSE_OPENDIR = 27,
  /** Read directory entries. */
  FUSE_READDIR = 28,
  /** Release an open directory. */
  FUSE_RELEASEDIR = 29,
  /** Synchronize directory contents. */
  FUSE_FSYNCDIR = 30,
  /** Test for a POSIX lock. */
  FUSE_GETLK = 31,
  /** Acquire or release a POSIX (or flock) lock without waiting. */
  FUSE_SETLK = 32,
  /** Acquire a POSIX (or flock) lock, waiting for it. */
  FUSE_SETLKW = 33,
  /** Check file access permissions. */
  FUSE_ACCESS = 34,
  /** Create and open a file. */
  FUSE_CREATE = 35,
  /** Interrupt a pending request; no reply. */
  FUSE_INTERRUPT = 36,
  /** Map a file block to a device block. */
  FUSE_BMAP = 37,
  /** Tear down the session. */
  FUSE_DESTROY = 38,
  /** ioctl on a file. */
  FUSE_IOCTL = 39,
  /** Poll a file for events. */
  FUSE_POLL = 40,
  /** The kernel's answer to a FUSE_NOTIFY_RETRIEVE; no reply. */
  FUSE_NOTIFY_REPLY = 41,
  /** Batched FUSE_FORGET; no reply. */
  FUSE_BATCH_FORGET = 42,
  /** Allocate or punch file space. */
  FUSE_FALLOCATE = 43,
  /** Read directory entries with their attributes (READDIR + LOOKUP). */
  FUSE_READDIRPLUS = 44,
  /** Rename with RENAME_* flags. */
  FUSE_RENAME2 = 45,
  /** Reposition the file offset (SEEK_DATA/SEEK_HOLE). */
  FUSE_LSEEK = 46,
  /** Copy a range between two open files. */
  FUSE_COPY_FILE_RANGE = 47,
  /** Map a file range into the DAX window. */
  FUSE_SETUPMAPPING = 48,
  /** Remove DAX window mappings. */
  FUSE_REMOVEMAPPING = 49,
  /** Synchronize the whole file system. */
  FUSE_SYNCFS = 50,
  /** Create an unnamed temporary file (O_TMPFILE). */
  FUSE_TMPFILE = 51,
  /** Get extended attributes (statx). */
  FUSE_STATX = 52,
  /** CUSE session initialization. */
  CUSE_INIT = 4096,
  /** Reserved: CUSE_INIT byte-swapped, to detect endianness. */
  CUSE_INIT_BSWAP_RESERVED = 1048576,
  /** Reserved: FUSE_INIT byte-swapped, to detect endianness. */
  FUSE_INIT_BSWAP_RESERVED = 436207616,
}

/** The spec name of an opcode, or `OPCODE_<n>` for unknown values (for logs). */
export function fuseOpcodeName(opcode: number): string {
  return FuseOpcode[opcode] ?? `OPCODE_${opcode}`;
}

/** enum fuse_notify_code: unsolicited messages from the server to the kernel (unique = 0). */
export enum FuseNotifyCode {
  /** Wake up a poller (fuse_notify_poll_wakeup_out). */
  FUSE_NOTIFY_POLL = 1,
  /** Invalidate an inode's cached attributes and data range. */
  FUSE_NOTIFY_INVAL_INODE = 2,
  /** Invalidate a cached directory entry. */
  FUSE_NOTIFY_INVAL_ENTRY = 3,
  /** Store data into the kernel's page cache. */
  FUSE_NOTIFY_STORE = 4,
  /** Ask the kernel for cached data (answered with FUSE_NOTIFY_REPLY). */
  FUSE_NOTIFY_RETRIEVE = 5,
  /** A directory entry was deleted. */
  FUSE_NOTIFY_DELETE = 6,
  /** Ask the kernel to resend pending requests. */
  FUSE_NOTIFY_RESEND = 7,
}

/** enum fuse_ext_type: the `type` of a fuse_ext_header in a request's extension area. */
export enum FuseExtType {
  /** Types 0..31 are a fuse_secctx_header whose type is nr_secctx; this is the largest. */
  FUSE_MAX_NR_SECCTX = 31,
  /** struct fuse_supp_groups: the caller's supplementary group (sent with FUSE_CREATE_SUPP_GROUP). */
  FUSE_EXT_GROUPS = 32,
}

/** RENAME_NOREPLACE: fail with EEXIST if the target exists (FUSE_RENAME2 flags, from linux/fs.h). */
export const RENAME_NOREPLACE = 1 << 0;
/** RENAME_EXCHANGE: atomically exchange source and target. */
export const RENAME_EXCHANGE = 1 << 1;
/** RENAME_WHITEOUT: leave a whiteout at the source (overlayfs). */
export const RENAME_WHITEOUT = 1 << 2;

/** Linux NAME_MAX: the longest single path component, in bytes, without the NUL. */
export const NAME_MAX = 255;
/** Linux PATH_MAX: the longest path including the NUL (bounds a symlink target). */
export const PATH_MAX = 4096;
/** Linux XATTR_NAME_MAX: the longest xattr name without the NUL. */
export const XATTR_NAME_MAX = 255;
/** Linux XATTR_SIZE_MAX: the largest xattr value. */
export const XATTR_SIZE_MAX = 65536;
/** Linux XATTR_LIST_MAX: the largest listxattr result. */
export const XATTR_LIST_MAX = 65536;
/** Linux NGROUPS_MAX: bounds fuse_supp_groups.nr_groups. */
export const NGROUPS_MAX = 65536;
