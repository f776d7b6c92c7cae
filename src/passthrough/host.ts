/**
 * Confinement: the only ways PassthroughFs reaches the host namespace. The guest can never name a path,
 * only (an inode it was given, one component) pairs, and every such pair goes through here:
 *
 *  - A component is checked first: never empty, never containing '/' or NUL, and "." / ".." only
 *    where the caller allows them (lookup; ".." is resolved by the caller, never by the kernel from
 *    the root).
 *  - Opening a component never follows a symlink: O_NOFOLLOW always, and openat2 with
 *    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS where the kernel has it, so even a
 *    bug that let a '/' through could not leave the directory.
 *  - A path from elsewhere (a migration state, from another process) is resolved beneath the shared
 *    directory only: plain components (no "." or "..", not absolute), never a symlink on the way,
 *    RESOLVE_BENEATH where the kernel has openat2, one component at a time otherwise (openBeneath).
 *  - Re-opening an inode for I/O goes through /proc/self/fd/N of its O_PATH fd, and only for regular
 *    files and directories: that lands on the very inode the fd holds (never a path lookup), and a
 *    symlink's O_PATH fd is refused (ELOOP), as are devices, FIFOs and sockets (EBADF).
 *
 * Everything here takes fds the caller keeps alive for the duration of the call.
 */
import * as native from '../native/fs.js';
import { FuseError } from '../fuse/errors.js';

/** The native fs module, injectable so tests can wrap it (latency, failures); production passes the real one. */
export type Sys = typeof native;

const DOT = 0x2e;
const SLASH = 0x2f;

/** How a name may look. */
export type NameRule = 'lookup' | 'entry';

/** Throw EINVAL unless `name` is one path component ("." and ".." only with rule 'lookup'). */
export function checkName(name: Uint8Array, rule: NameRule): void {
  if (name.length === 0) throw new FuseError('EINVAL', 'empty name');
  if (name.includes(SLASH) || name.includes(0)) throw new FuseError('EINVAL', 'name is not a single component');
  if (rule === 'entry' && isDotOrDotDot(name)) throw new FuseError('EINVAL', `"${Buffer.from(name).toString()}" is not a name to create or remove`);
}

export function isDot(name: Uint8Array): boolean {
  return name.length === 1 && name[0] === DOT;
}
export function isDotDot(name: Uint8Array): boolean {
  return name.length === 2 && name[0] === DOT && name[1] === DOT;
}
export function isDotOrDotDot(name: Uint8Array): boolean {
  return isDot(name) || isDotDot(name);
}

/** Regular files and directories: the only inodes the daemon ever opens for I/O. */
export function isSafeToOpen(mode: number): boolean {
  const t = mode & native.S_IFMT;
  return t === native.S_IFREG || t === native.S_IFDIR;
}

/** __O_TMPFILE: the bit O_TMPFILE adds to O_DIRECTORY. */
const O_TMPFILE_BIT = native.O_TMPFILE & ~native.O_DIRECTORY;

/** Flags that make no sense when re-opening an existing inode through /proc (or would break it). */
const REOPEN_STRIP = native.O_CREAT | native.O_EXCL | native.O_NOCTTY | native.O_NOFOLLOW | native.O_PATH | O_TMPFILE_BIT;

const RESOLVE = native.RESOLVE_BENEATH | native.RESOLVE_NO_MAGICLINKS | native.RESOLVE_NO_SYMLINKS;

export class Host {
  /** openat2 works here (false after the first ENOSYS: old kernel or a filter). */
  private openat2 = true;

  constructor(
    readonly sys: Sys,
    /** An O_PATH fd of /proc/self/fd, opened at startup (the daemon owns it). */
    readonly procSelfFd: number,
  ) {}

  /**
   * Open the component `name` of the directory `dirfd`, never following a symlink (an O_PATH open of a
   * symlink gives the link itself; any other open of one fails ELOOP). `creds` for creating opens.
   */
  async openChild(dirfd: number, name: Uint8Array, flags: number, mode = 0, ctx?: native.CallContext): Promise<number> {
    const f = flags | native.O_NOFOLLOW;
    const creating = (f & native.O_CREAT) !== 0 || (f & native.O_TMPFILE) === native.O_TMPFILE;
    if (this.openat2) {
      try {
        // openat2 refuses mode bits outside 07777 (openat ignores them): FUSE's mode carries the file type.
        return await this.sys.openat2(dirfd, name, { flags: f, mode: creating ? mode & 0o7777 : 0, resolve: RESOLVE }, ctx);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOSYS') throw e;
        this.openat2 = false;
      }
    }
    return this.sys.openat(dirfd, name, f, creating ? mode & 0o7777 : 0, ctx);
  }

  /**
   * An O_PATH fd for the relative path `rel` beneath the directory `dirfd`: every component must be a
   * plain name, none may be a symlink but the last (which is then opened itself, as lookups do).
   * EINVAL for a path that is not plain components; ELOOP, ENOTDIR, ENOENT from the host.
   */
  async openBeneath(dirfd: number, rel: Uint8Array): Promise<number> {
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = 0; i <= rel.length; i++) {
      if (i < rel.length && rel[i] !== SLASH) continue;
      const c = Buffer.from(rel.subarray(start, i));
      checkName(c, 'entry');
      parts.push(c);
      start = i + 1;
    }
    if (this.openat2) {
      try {
        return await this.sys.openat2(dirfd, rel, { flags: native.O_PATH | native.O_NOFOLLOW, resolve: RESOLVE });
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOSYS') throw e;
        this.openat2 = false;
      }
    }
    let fd = dirfd;
    try {
      for (const c of parts) {
        // O_PATH | O_NOFOLLOW opens a symlink itself; the next component below it then fails ENOTDIR.
        const next = await this.openChild(fd, c, native.O_PATH);
        if (fd !== dirfd) await this.sys.close(fd).catch(() => undefined);
        fd = next;
      }
    } catch (e) {
      if (fd !== dirfd) await this.sys.close(fd).catch(() => undefined);
      throw e;
    }
    return fd;
  }

  /** "/proc/self/fd/N" relative to procSelfFd: the name of the inode `fd` holds, for *at calls that follow it. */
  procName(fd: number): string {
    return String(fd);
  }

  /** Whether the kernel has the *xattrat calls (Linux 6.13); undefined until the first call says. */
  private xattrAt: boolean | undefined;

  /**
   * An xattr call on the inode the O_PATH fd `fd` holds: the *xattrat form on (procSelfFd, "N") where
   * the kernel has it — no absolute /proc path, so it works in a chroot too — else the path form on
   * /proc/self/fd/N. Both follow the magic link to the inode itself (a symlink stays the symlink).
   */
  async xattrCall<T>(fd: number, at: (dirfd: number, name: string) => Promise<T>, byPath: (path: string) => Promise<T>): Promise<T> {
    if (this.xattrAt !== false) {
      try {
        const r = await at(this.procSelfFd, this.procName(fd));
        this.xattrAt = true;
        return r;
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOSYS' || this.xattrAt === true) throw e;
        this.xattrAt = false;
      }
    }
    return byPath(this.procPath(fd));
  }

  /** The absolute /proc path of `fd`, for the path-only xattr calls. */
  procPath(fd: number): string {
    return `/proc/self/fd/${fd}`;
  }

  /**
   * Open the inode held by the O_PATH fd `pathFd` (of file type `mode`) again, for I/O with `flags`.
   * Symlinks: ELOOP. Devices, FIFOs, sockets: EBADF (the guest opens those on its own side).
   */
  async reopen(pathFd: number, mode: number, flags: number): Promise<number> {
    if (!isSafeToOpen(mode)) {
      throw new FuseError((mode & native.S_IFMT) === native.S_IFLNK ? 'ELOOP' : 'EBADF', 'only regular files and directories are opened');
    }
    return this.sys.openat(this.procSelfFd, this.procName(pathFd), flags & ~REOPEN_STRIP, 0);
  }

  /** An O_PATH fd for the inode an open fd refers to (after create and tmpfile). */
  async pathFdOf(fd: number): Promise<number> {
    return this.sys.openat(this.procSelfFd, this.procName(fd), native.O_PATH, 0);
  }

  /** Where the kernel says `fd` is (readlink of /proc/self/fd/N), for the ".." confinement check. */
  async whereIs(fd: number): Promise<Buffer> {
    return this.sys.readlinkat(this.procSelfFd, this.procName(fd));
  }
}
