/**
 * O_PATH fds kept for handle-backed inodes, least recently used first out.
 *
 * A handle-backed inode holds no fd (that is the point: millions of inodes on CephFS must not need
 * millions of fds), so every operation on it would cost an open_by_handle_at and a close. This cache
 * keeps the fds of the inodes used most recently, so the common case costs nothing extra, within a
 * bound scaled to RLIMIT_NOFILE.
 *
 * Rules:
 *  - An entry's fd is only used while its inode is pinned (InodeStore.fdOf), so eviction skips
 *    pinned inodes; the cache may exceed its capacity while more inodes than that are in use at once,
 *    and shrinks back as they are unpinned (trim()).
 *  - While an fd is cached the inode is alive, so its (dev, mount id, ino) names it alone: the store
 *    finds a cached inode by those ids and saves a name_to_handle_at per lookup (byIds()).
 *  - The cache owns its fds: drop() (inode disposed) and eviction close them.
 *  - Recency is approximate, to keep a hit cheap: a hit moves the entry to the young end only if at
 *    least capacity/2 entries were put or moved after it (re-inserting into a Map on every hit was
 *    10% of the JS thread in LOOKUP at QD 16). So an entry used at least once per capacity/2 puts or
 *    moves is never evicted; with a capacity of 3 or less this is exact LRU.
 */
import type { Sys } from './host.js';
import { closeLogged, type Inode } from './inode-store.js';
import { IdsMap, type InodeIds } from './ids-map.js';
import * as native from '../native/fs.js';

/** Fraction of RLIMIT_NOFILE the cache may take by default, and its bounds. */
const SHARE_OF_NOFILE = 4;
const MIN_CAPACITY = 16;
const MAX_CAPACITY = 1 << 16;

/** The default capacity: a quarter of the soft RLIMIT_NOFILE, between 16 and 65536. */
export function defaultFdCacheCapacity(sys: Pick<Sys, 'getrlimit'> = native): number {
  let soft: number;
  try {
    soft = Number(sys.getrlimit(native.RLIMIT_NOFILE).soft);
  } catch {
    soft = 1024;
  }
  if (!Number.isFinite(soft) || soft <= 0) soft = MAX_CAPACITY * SHARE_OF_NOFILE;
  return Math.max(MIN_CAPACITY, Math.min(MAX_CAPACITY, Math.floor(soft / SHARE_OF_NOFILE)));
}

interface Slot {
  fd: number;
  /** `appended` when the entry was put or last moved to the young end. */
  stamp: number;
}

export class HandleFdCache {
  /** inode -> fd; Map order is recency (oldest first). */
  private readonly lru = new Map<Inode, Slot>();
  /** Entries put or moved so far. */
  private appended = 0;
  private readonly ids = new IdsMap<Inode>();
  /** Hits and misses since construction (diagnostics, benchmarks). */
  hits = 0;
  misses = 0;

  constructor(
    private readonly sys: Sys,
    /** 0 disables the cache. */
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.lru.size;
  }

  /** The cached fd of `inode` (now the most recent), or undefined. */
  get(inode: Inode): number | undefined {
    const slot = this.lru.get(inode);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (this.appended - slot.stamp >= this.capacity >> 1) {
      this.lru.delete(inode);
      slot.stamp = ++this.appended;
      this.lru.set(inode, slot);
    }
    return slot.fd;
  }

  has(inode: Inode): boolean {
    return this.lru.has(inode);
  }

  /** A cached inode with these ids (alive: its fd holds it), or undefined. */
  byIds(ids: InodeIds): Inode | undefined {
    return this.ids.get(ids);
  }

  /**
   * Give `fd` (an O_PATH fd of `inode`, which the caller has pinned) to the cache; returns the fd to
   * use, which is the one already cached if another call got there first (then `fd` is closed). With
   * capacity 0 nothing is kept: the caller gets `fd` back and must close it (see `keeps`).
   */
  put(inode: Inode, fd: number): number {
    if (this.capacity === 0) return fd;
    const have = this.lru.get(inode)?.fd;
    if (have !== undefined) {
      if (have !== fd) closeLogged(this.sys, fd);
      return have;
    }
    this.lru.set(inode, { fd, stamp: ++this.appended });
    this.ids.add(inode);
    this.trim();
    return fd;
  }

  /** Whether put() keeps fds (capacity > 0). */
  get keeps(): boolean {
    return this.capacity > 0;
  }

  /** Forget `inode`'s fd and close it (the inode is disposed). */
  drop(inode: Inode): void {
    const fd = this.lru.get(inode)?.fd;
    if (fd === undefined) return;
    this.lru.delete(inode);
    this.ids.delete(inode);
    closeLogged(this.sys, fd);
  }

  /** Evict the least recently used unpinned entries while over capacity. */
  trim(): void {
    if (this.lru.size <= this.capacity) return;
    for (const inode of this.lru.keys()) {
      if (this.lru.size <= this.capacity) return;
      if (inode.pins === 0) this.drop(inode);
    }
  }
}
