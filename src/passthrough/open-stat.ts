/**
 * Opening a child and learning what it is, in one pool job: the confined open (the same rules as
 * Host.openChild: O_NOFOLLOW always, openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_SYMLINKS where the kernel has it), then statx and the file handle of what was opened
 * (native openStat). LOOKUP of a new name and CREATE each used to be three or four pool round trips.
 */
import * as native from '../native/fs.js';
import type { Sys } from './host.js';

const RESOLVE = native.RESOLVE_BENEATH | native.RESOLVE_NO_MAGICLINKS | native.RESOLVE_NO_SYMLINKS;

/** The attributes a lookup needs (what PassthroughFs.stat asks for). */
export const LOOKUP_MASK = native.STATX_BASIC_STATS | native.STATX_MNT_ID;

export interface OpenedChild {
  /** The fd opened with the caller's flags (owned by the caller). */
  fd: number;
  /** With `viaProc`: an O_PATH fd of the same inode (owned by the caller); otherwise -1. */
  pathFd: number;
  st: native.Statx;
  /** With `handle`: the handle, or why there is none. */
  handle?: native.FileHandle;
  handleError?: string;
}

export class ChildOpener {
  /** openat2 works here (false after the first ENOSYS: old kernel or a filter). */
  private openat2 = true;

  constructor(
    private readonly sys: Sys,
    /** An O_PATH fd of /proc/self/fd (not owned). */
    private readonly procSelfFd: number,
  ) {}

  /**
   * Open the component `name` of `dirfd` with `flags` (never following a symlink; `mode` for a
   * creating open, under `ctx`), stat it, and with `handle` get its file handle. With `viaProc`
   * an O_PATH fd of the opened inode is made too (as the process) and stat and handle are of it.
   */
  async open(dirfd: number, name: Uint8Array, flags: number, o: { mode?: number; viaProc?: boolean; handle?: boolean } = {}, ctx?: native.CallContext): Promise<OpenedChild> {
    const f = flags | native.O_NOFOLLOW;
    const creating = (f & native.O_CREAT) !== 0 || (f & native.O_TMPFILE) === native.O_TMPFILE;
    // openat2 refuses mode bits outside 07777 (openat ignores them): FUSE's mode carries the file type.
    const mode = creating ? (o.mode ?? 0) & 0o7777 : 0;
    const opts = { procFd: o.viaProc ? this.procSelfFd : undefined, mask: LOOKUP_MASK, handleFlags: o.handle ? 0 : undefined };
    let r: native.OpenStat;
    try {
      r = await this.sys.openStat(dirfd, name, { flags: f, mode, resolve: this.openat2 ? RESOLVE : -1 }, opts, ctx);
    } catch (e) {
      if (!this.openat2 || (e as { code?: string }).code !== 'ENOSYS') throw e;
      this.openat2 = false;
      r = await this.sys.openStat(dirfd, name, { flags: f, mode, resolve: -1 }, opts, ctx);
    }
    return { fd: r.fd, pathFd: r.pathFd, st: r.statx, handle: r.handle, handleError: r.handleError };
  }

  /**
   * open() of several components of `dirfd` (as the process, no viaProc) in one pool job. Each result
   * is the opened child or the error its open or statx failed with.
   */
  async openMany(dirfd: number, names: readonly Uint8Array[], flags: number, o: { handle?: boolean } = {}): Promise<Array<OpenedChild | Error>> {
    const f = flags | native.O_NOFOLLOW;
    const opts = { mask: LOOKUP_MASK, handleFlags: o.handle ? 0 : undefined };
    let rs = await this.sys.openStatNames(dirfd, names, { flags: f, resolve: this.openat2 ? RESOLVE : -1 }, opts);
    if (this.openat2 && rs.some((r) => 'error' in r && r.error === 'ENOSYS')) {
      this.openat2 = false;
      const again = rs.map((r, i) => ('error' in r && r.error === 'ENOSYS' ? i : -1)).filter((i) => i >= 0);
      const redo = await this.sys.openStatNames(dirfd, again.map((i) => names[i]!), { flags: f, resolve: -1 }, opts);
      rs = rs.slice();
      again.forEach((i, k) => (rs[i] = redo[k]!));
    }
    return rs.map((r) =>
      'error' in r
        ? Object.assign(new Error(`openat2: ${r.error}`), { code: r.error, syscall: 'openat2' })
        : { fd: r.fd, pathFd: -1, st: r.statx, handle: r.handle, handleError: r.handleError },
    );
  }
}
