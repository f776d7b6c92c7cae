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

interface MountKind {
  /** The device the mount id was seen with: a mount id freed and reused for another mount is relearnt. */
  dev: number;
  local: boolean | Promise<boolean>;
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
   * May a statx of this inode (open as `fd`, which the caller keeps open until the promise settles)
   * run on this thread? A boolean when the mount is known, else a promise of the answer (one fstatfs
   * on the pool per mount; a failure means no).
   */
  statInline(ids: InodeIds, fd: number): boolean | Promise<boolean> {
    if (!this.enabled) return false;
    const m = this.mounts.get(ids.mntId);
    if (m !== undefined && m.dev === ids.dev) return m.local;
    const local = this.sys.fstatfs(fd).then(
      (s) => IN_MEMORY_ATTR_FS.has(s.type),
      () => false,
    );
    const kind: MountKind = { dev: ids.dev, local };
    this.mounts.set(ids.mntId, kind);
    void local.then((v) => {
      if (this.mounts.get(ids.mntId) === kind) kind.local = v;
    });
    return local;
  }
}
