/**
 * Which calls may run on the event-loop thread instead of the worker pool (--no-inline-calls turns
 * all of it off). The rule stays: nothing that can wait for a disk or a network runs there. Two
 * kinds of call pass it, and each saves the two thread hand-offs of a pool call (about half the
 * daemon's CPU time of a cached GETATTR or 4 KiB READ, see docs/benchmarks.md):
 *
 *  - READ with RWF_NOWAIT (io.ts readCached): the kernel itself promises to answer from the page
 *    cache or say EAGAIN, on any filesystem that supports it, and says EOPNOTSUPP on the others.
 *  - statx of an inode we hold open, on a filesystem whose attributes live in the in-memory inode:
 *    ext2/3/4, XFS, Btrfs, F2FS, tmpfs. That is a copy out of kernel memory; there is nothing to
 *    wait for. LOOKUP reaches the name by openat2 with RESOLVE_CACHED (lookup.ts), which the kernel
 *    answers from the dentry cache or with EAGAIN. READ's RWF_NOWAIT is only tried on these too.
 *    Network and FUSE filesystems (CephFS, NFS, SMB, ceph-fuse) may ask a server for fresh
 *    attributes, so theirs always go to the pool. The filesystem is learnt per mount, by one fstatfs
 *    on the pool the first time an inode of that mount is asked about.
 *
 * The same knowledge of the mount also spares FLUSH its pool call where the host's close(2) of a
 * duplicate fd would do nothing (NO_FLUSH_FS, flushIsNoop).
 */
import type { Sys } from './host.js';
import type { InodeIds } from './ids-map.js';

/** statfs f_type of the filesystems whose statx of an open inode reads only kernel memory. */
export const IN_MEMORY_ATTR_FS: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0xf2f52010, 'f2fs'],
  [0x01021994, 'tmpfs'],
]);

/**
 * statfs f_type of the filesystems whose regular files have no ->flush file operation: there, closing
 * a duplicate of an fd (FLUSH) does nothing but drop the closing process's POSIX locks, and the guest's
 * locks are OFD locks on fds of their own (locks.ts). f2fs (f2fs_file_flush) and the network and FUSE
 * filesystems (which write back and report errors there) have one; btrfs is left out as unverified.
 */
export const NO_FLUSH_FS: ReadonlyMap<number, string> = new Map([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x01021994, 'tmpfs'],
]);

interface MountKind {
  /** The device the mount id was seen with: a mount id freed and reused for another mount is relearnt. */
  dev: number;
  local: boolean | Promise<boolean>;
  /** statfs f_type, once learnt (undefined: not yet, or the fstatfs failed). */
  type?: number;
}

export class InlinePolicy {
  private readonly mounts = new Map<bigint, MountKind>();

  constructor(
    private readonly sys: Sys,
    /** false: every call goes to the pool. */
    readonly enabled: boolean,
  ) {}

  /**
   * statInline's answer when it is already known, without learning it: a lookup or read does not
   * wait for an fstatfs (INIT learns the shared directory's mount; GETATTR any other).
   */
  knownInline(ids: InodeIds): boolean {
    const m = this.mounts.get(ids.mntId);
    return m !== undefined && m.dev === ids.dev && m.local === true;
  }

  /**
   * Is FLUSH of a file on this inode's mount known to be a no-op on the host (NO_FLUSH_FS)? Only when
   * the mount is already learnt, and only while inline calls are on (--no-inline-calls keeps every
   * call as it was).
   */
  flushIsNoop(ids: InodeIds): boolean {
    if (!this.enabled) return false;
    const m = this.mounts.get(ids.mntId);
    return m !== undefined && m.dev === ids.dev && m.type !== undefined && NO_FLUSH_FS.has(m.type);
  }

  /**
   * May a statx of this inode (open as `fd`, which the caller keeps open until the promise settles)
   * run on this thread? A boolean when the mount is known, else a promise of the answer (one fstatfs
   * on the pool per mount; a failure means no).
   */
  statInline(ids: InodeIds, fd: number): boolean | Promise<boolean> {
    if (!this.enabled) return false;
    const m = this.mounts.get(ids.mntId);
    if (m !== undefined && m.dev === ids.dev) return m.local;
    const type = this.sys.fstatfs(fd).then(
      (s) => s.type,
      () => undefined,
    );
    const local = type.then((t) => t !== undefined && IN_MEMORY_ATTR_FS.has(t));
    const kind: MountKind = { dev: ids.dev, local };
    this.mounts.set(ids.mntId, kind);
    void type.then((t) => {
      if (this.mounts.get(ids.mntId) !== kind) return;
      kind.local = t !== undefined && IN_MEMORY_ATTR_FS.has(t);
      kind.type = t;
    });
    return local;
  }
}
