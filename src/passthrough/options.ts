/**
 * PassthroughFs options, their defaults, and what a cache policy means for the guest: how long it may
 * cache names and attributes, and the FOPEN_* bits its open files and directories get. The values are
 * the Rust virtiofsd's (main.rs and passthrough/mod.rs), so a guest sees the same behaviour from both.
 */
import { FOPEN_CACHE_DIR, FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE } from '../../protocol/fuse-flags.js';

/** --cache: how much the guest may cache (see cachePolicy()). */
export type CacheMode = 'auto' | 'always' | 'never' | 'metadata';
/** --inode-file-handles: how an inode is remembered while the guest holds it. */
export type InodeFileHandles = 'never' | 'prefer' | 'mandatory';

export interface PassthroughOptions {
  /** The directory to share. Opened once, at construction; the guest never reaches above it. */
  sharedDir: string;
  /** Default 'auto'. */
  cache?: CacheMode;
  /** Extended attributes (otherwise every xattr op answers ENOSYS, and the guest stops asking). Default false. */
  xattr?: boolean;
  /** POSIX ACLs (needs xattr; negotiates FUSE_POSIX_ACL, FUSE_DONT_MASK, FUSE_SETXATTR_EXT). Default false. */
  posixAcl?: boolean;
  /** Ask for FUSE_WRITEBACK_CACHE. Only safe when nobody else changes the shared directory. Default false. */
  writeback?: boolean;
  /** Flag directories on another mount with FUSE_ATTR_SUBMOUNT (needs FUSE_SUBMOUNTS). Default false. */
  announceSubmounts?: boolean;
  /** Pass the guest's O_DIRECT to the host (otherwise it is dropped). Default false. */
  allowDirectIo?: boolean;
  /** Offer READDIRPLUS (FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO). Default true. */
  readdirplus?: boolean;
  /** Negotiate FUSE_HANDLE_KILLPRIV_V2: we clear setuid/setgid on write, truncate and chown. Default true. */
  killprivV2?: boolean;
  /**
   * 'never': every known inode holds an O_PATH fd. 'prefer': hold a file handle (name_to_handle_at)
   * where the filesystem gives one, an O_PATH fd elsewhere. 'mandatory': a lookup fails when there is
   * no handle. Default 'never' (as virtiofsd: an O_PATH fd costs one syscall less per operation).
   */
  inodeFileHandles?: InodeFileHandles;
  /**
   * Run the calls that cannot wait for I/O on the event-loop thread instead of the worker pool:
   * page-cache reads (RWF_NOWAIT) and statx of open inodes on local filesystems (inline.ts).
   * Default true.
   */
  inlineCalls?: boolean;
  /** Grow the native worker pool to this many threads (it never shrinks; process-wide). */
  threadPoolSize?: number;
  /**
   * Busy polling on the pool side (the CLI's --poll-us): a worker out of work waits this many µs for
   * the next calls before it sleeps, while they come one or two at a time (process-wide). Default: off.
   */
  poolSpinUs?: number;
  /**
   * Most O_PATH fds kept for handle-backed inodes (fd-cache.ts), so that an operation on a recently
   * used inode needs no open_by_handle_at. Default: a quarter of RLIMIT_NOFILE, 16..65536. 0: none
   * (every operation opens the handle; a host-deleted file is ESTALE at once).
   */
  handleFdCacheSize?: number;
  /**
   * Most nodeids the guest may hold at once, the root included (--max-inodes). A lookup or create that
   * would make a new one answers ENFILE; known inodes still resolve. Default DEFAULT_MAX_INODES.
   */
  maxInodes?: number;
  /** Most open files and directories at once (--max-handles); OPEN/CREATE/OPENDIR past it: ENFILE. Default DEFAULT_MAX_HANDLES. */
  maxHandles?: number;
}

/** Default --max-inodes: about 200 MB of inode-store memory and, with O_PATH fds, as many fds. */
export const DEFAULT_MAX_INODES = 1_000_000;
/** Default --max-handles. */
export const DEFAULT_MAX_HANDLES = 100_000;

export type ResolvedOptions = Required<Omit<PassthroughOptions, 'threadPoolSize' | 'poolSpinUs' | 'handleFdCacheSize'>> & { threadPoolSize?: number; poolSpinUs?: number; handleFdCacheSize?: number };

export function resolveOptions(o: PassthroughOptions): ResolvedOptions {
  const posixAcl = o.posixAcl ?? false;
  const r: ResolvedOptions = {
    sharedDir: o.sharedDir,
    cache: o.cache ?? 'auto',
    xattr: (o.xattr ?? false) || posixAcl,
    posixAcl,
    writeback: o.writeback ?? false,
    announceSubmounts: o.announceSubmounts ?? false,
    allowDirectIo: o.allowDirectIo ?? false,
    readdirplus: o.readdirplus ?? true,
    killprivV2: o.killprivV2 ?? true,
    inlineCalls: o.inlineCalls ?? true,
    inodeFileHandles: o.inodeFileHandles ?? 'never',
    maxInodes: count('maxInodes', o.maxInodes ?? DEFAULT_MAX_INODES, 2),
    maxHandles: count('maxHandles', o.maxHandles ?? DEFAULT_MAX_HANDLES, 1),
  };
  if (o.threadPoolSize !== undefined) r.threadPoolSize = o.threadPoolSize;
  if (o.poolSpinUs !== undefined) r.poolSpinUs = o.poolSpinUs;
  if (o.handleFdCacheSize !== undefined) {
    if (!Number.isInteger(o.handleFdCacheSize) || o.handleFdCacheSize < 0) throw new RangeError(`handleFdCacheSize ${o.handleFdCacheSize}: a count >= 0`);
    r.handleFdCacheSize = o.handleFdCacheSize;
  }
  return r;
}

function count(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${name} ${v}: an integer >= ${min}`);
  return v;
}

/** What a cache mode lets the guest keep. Timeouts in seconds. */
export interface CachePolicy {
  entryTimeout: number;
  attrTimeout: number;
  /** FOPEN_* for OPEN and CREATE replies. */
  fileOpenFlags: number;
  /** FOPEN_* for OPENDIR replies. */
  dirOpenFlags: number;
}

const DAY = 86400;

/**
 * never: nothing is cached, file I/O bypasses the page cache (FOPEN_DIRECT_IO).
 * auto: names and attributes for 1 s, data until the next open (close-to-open).
 * metadata: names, attributes and directory contents for a day; file data never (FOPEN_DIRECT_IO).
 * always: everything for a day, and data survives re-opens (FOPEN_KEEP_CACHE).
 */
export function cachePolicy(mode: CacheMode): CachePolicy {
  switch (mode) {
    case 'never':
      return { entryTimeout: 0, attrTimeout: 0, fileOpenFlags: FOPEN_DIRECT_IO, dirOpenFlags: 0 };
    case 'auto':
      return { entryTimeout: 1, attrTimeout: 1, fileOpenFlags: 0, dirOpenFlags: 0 };
    case 'metadata':
      return { entryTimeout: DAY, attrTimeout: DAY, fileOpenFlags: FOPEN_DIRECT_IO, dirOpenFlags: FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE };
    case 'always':
      return { entryTimeout: DAY, attrTimeout: DAY, fileOpenFlags: FOPEN_KEEP_CACHE, dirOpenFlags: FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE };
  }
}
