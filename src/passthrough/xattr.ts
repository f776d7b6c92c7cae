/**
 * Extended attributes on the inode an O_PATH fd holds. fd-based xattr calls refuse O_PATH fds, so these
 * use the *xattrat calls on (the /proc/self/fd dirfd, "N"), or the path calls on /proc/self/fd/N on
 * kernels before 6.13 (Host.xattrCall): the magic link lands on the inode itself — for a
 * symlink, the link, never its target (the test "setxattr on a symlink to a file outside" pins that).
 * Host errors (ENODATA, ERANGE, ENOTSUP, EPERM...) go back as they are.
 *
 * Without POSIX ACLs negotiated, the ACL attributes are hidden: the guest would otherwise apply ACLs
 * it believes are off, so system.posix_acl_{access,default} answer ENOTSUP and are left out of lists.
 */
import { FUSE_SETXATTR_ACL_KILL_SGID } from '../../protocol/fuse-flags.js';
import { XATTR_SIZE_MAX } from '../../protocol/fuse-opcodes.js';
import { FuseError } from '../fuse/errors.js';
import * as native from '../native/fs.js';
import type { Host } from './host.js';

const ACL_ACCESS = Buffer.from('system.posix_acl_access');
const ACL_DEFAULT = Buffer.from('system.posix_acl_default');
const isAcl = (name: Uint8Array): boolean => ACL_ACCESS.equals(name) || ACL_DEFAULT.equals(name);

/** First guess for a value's size; larger values cost one more call (size probe). */
const FIRST_TRY = 4096;

export class Xattrs {
  constructor(
    private readonly host: Host,
    /** Whether POSIX ACLs are negotiated (checked per call: it changes at INIT). */
    private readonly acls: () => boolean,
  ) {}

  private blocked(name: Uint8Array): boolean {
    return !this.acls() && isAcl(name);
  }

  async get(fd: number, name: Buffer): Promise<Uint8Array> {
    if (this.blocked(name)) throw new FuseError('ENOTSUP', 'POSIX ACLs are off');
    const sys = this.host.sys;
    return this.fetch((buf) => this.host.xattrCall(fd, (d, n) => sys.getxattrat(d, n, 0, name, buf), (p) => sys.getxattr(p, name, buf)));
  }

  async list(fd: number): Promise<Uint8Array> {
    const sys = this.host.sys;
    const all = await this.fetch((buf) => this.host.xattrCall(fd, (d, n) => sys.listxattrat(d, n, 0, buf), (p) => sys.listxattr(p, buf)));
    if (this.acls()) return all;
    const keep: Uint8Array[] = [];
    let start = 0;
    for (let i = 0; i < all.length; i++) {
      if (all[i] !== 0) continue;
      const name = all.subarray(start, i);
      if (!isAcl(name)) keep.push(all.subarray(start, i + 1));
      start = i + 1;
    }
    return Buffer.concat(keep);
  }

  async set(fd: number, name: Buffer, value: Buffer, flags: number, setxattrFlags: number): Promise<void> {
    if (this.blocked(name)) throw new FuseError('ENOTSUP', 'POSIX ACLs are off');
    if (setxattrFlags & FUSE_SETXATTR_ACL_KILL_SGID && ACL_ACCESS.equals(name)) {
      // The guest's chmod-like ACL change must drop setgid as chmod would (the caller is not in the group).
      const st = await this.host.sys.statx(fd, '', native.AT_EMPTY_PATH | native.AT_SYMLINK_NOFOLLOW, native.STATX_MODE);
      if (st.mode & native.S_ISGID) await this.host.sys.fchmodat(this.host.procSelfFd, this.host.procName(fd), st.mode & 0o7777 & ~native.S_ISGID);
    }
    const sys = this.host.sys;
    await this.host.xattrCall(fd, (d, n) => sys.setxattrat(d, n, 0, name, value, flags), (p) => sys.setxattr(p, name, value, flags));
  }

  async remove(fd: number, name: Buffer): Promise<void> {
    if (this.blocked(name)) throw new FuseError('ENOTSUP', 'POSIX ACLs are off');
    const sys = this.host.sys;
    await this.host.xattrCall(fd, (d, n) => sys.removexattrat(d, n, 0, name), (p) => sys.removexattr(p, name));
  }

  /** Read a value of unknown size: a first guess, then probe and retry while it keeps growing. */
  private async fetch(call: (buf: Uint8Array | null) => Promise<number>): Promise<Uint8Array> {
    let size = FIRST_TRY;
    for (let attempt = 0; attempt < 4; attempt++) {
      const buf = Buffer.allocUnsafe(size);
      try {
        return buf.subarray(0, await call(buf));
      } catch (e) {
        if ((e as { code?: string }).code !== 'ERANGE') throw e;
      }
      size = Math.max(await call(null), 1);
      if (size > 16 * XATTR_SIZE_MAX) throw new FuseError('E2BIG', `xattr of ${size} bytes`);
    }
    throw new FuseError('ERANGE', 'xattr kept growing while being read');
  }
}
