/**
 * The operation table: opcode -> (decode and validate the arguments, call the FileSystem, encode the
 * success reply). One flat entry per opcode, in opcode order; no entry writes an error (they throw, and
 * the server's replyError answers). INIT and DESTROY change session state and live in server.ts.
 */
import { check } from '../../protocol/errors.js';
import {
  FATTR_FH,
  FUSE_GETATTR_FH,
  FUSE_IOCTL_UNRESTRICTED,
  FUSE_FSYNC_FDATASYNC,
  FUSE_READ_LOCKOWNER,
  FUSE_RELEASE_FLOCK_UNLOCK,
  FUSE_RELEASE_FLUSH,
  FUSE_SETXATTR_EXT,
  FUSE_WRITE_LOCKOWNER,
} from '../../protocol/fuse-flags.js';
import {
  FuseOpcode as Op,
  PATH_MAX,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  RENAME_WHITEOUT,
  XATTR_LIST_MAX,
  XATTR_NAME_MAX,
  XATTR_SIZE_MAX,
} from '../../protocol/fuse-opcodes.js';
import * as S from '../../protocol/fuse-structs.js';
import { FuseError } from './errors.js';
import type { FileSystem } from './filesystem.js';
import { WriterDirentPlusSink, WriterDirentSink } from './dirent-sink.js';
import { checkComponent, entryOut, part, soleCString, splitAtNul, timeout, type Request } from './request.js';

export type OpHandler = (q: Request, fs: FileSystem) => Promise<void>;

/** Requests the kernel expects no reply to. */
export const NO_REPLY: ReadonlySet<number> = new Set([Op.FUSE_FORGET, Op.FUSE_BATCH_FORGET, Op.FUSE_INTERRUPT, Op.FUSE_NOTIFY_REPLY]);

const attrOut = (attr: S.FuseAttr, t: number): S.FuseAttrOut => {
  const v = timeout(t);
  return { attr_valid: v.secs, attr_valid_nsec: v.nsecs, attr };
};
const openOut = (fh: bigint, openFlags = 0): S.FuseOpenOut => ({ fh, open_flags: openFlags, backing_id: 0 });
const u32 = (n: number, what: string): number => {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new FuseError('EIO', `${what}: ${n} is not a u32`);
  return n;
};

/** Read: the data lands in guest memory first, then the header is filled in before it. */
async function read(q: Request, fs: FileSystem): Promise<void> {
  const a = q.arg(S.fuse_read_in);
  const hdr = q.w.reserve(S.fuse_out_header.size, 'fuse_out_header');
  check(a.size <= q.w.available, 'FUSE_NO_ROOM', () => `READ of ${a.size} bytes, ${q.w.available} writable`);
  const dest = q.w.views(a.size);
  const owner = a.read_flags & FUSE_READ_LOCKOWNER ? a.lock_owner : undefined;
  const n = await fs.read(q.ctx, q.h.nodeid, a.fh, a.offset, a.size, a.flags, dest, owner);
  if (!Number.isInteger(n) || n < 0 || n > a.size) throw new FuseError('EIO', `read returned ${n} for ${a.size} bytes`);
  q.w.advance(n);
  q.w.writeStructAt(hdr, S.fuse_out_header, { len: S.fuse_out_header.size + n, error: 0, unique: q.h.unique });
}

async function readdirCommon(q: Request, fs: FileSystem, plus: boolean): Promise<void> {
  const a = q.arg(S.fuse_read_in);
  const hdr = q.w.reserve(S.fuse_out_header.size, 'fuse_out_header');
  // A shorter buffer only means fewer entries per call: cap rather than fail.
  const limit = Math.min(a.size, q.w.available);
  const plain = new WriterDirentSink(q.w, limit);
  const withEntries = new WriterDirentPlusSink(q.w, limit);
  const sink = plus ? withEntries : plain;
  try {
    if (plus) await fs.readdirplus(q.ctx, q.h.nodeid, a.fh, a.offset, withEntries);
    else await fs.readdir(q.ctx, q.h.nodeid, a.fh, a.offset, plain);
  } catch (e) {
    // Entries already accepted carry lookup references (readdirplus): deliver them, and let the error
    // surface on the next call, as virtiofsd does.
    if (sink.count === 0) throw e;
  }
  q.w.writeStructAt(hdr, S.fuse_out_header, { len: S.fuse_out_header.size + sink.bytes, error: 0, unique: q.h.unique });
}

function getxattrLike(q: Request, size: number, value: Uint8Array, max: number): void {
  if (value.length > max) throw new FuseError('E2BIG', `xattr value/list of ${value.length} bytes`);
  if (size === 0) return q.ok(part(S.fuse_getxattr_out, { size: value.length }));
  if (value.length > size) throw new FuseError('ERANGE');
  q.ok(value);
}

async function rename(q: Request, fs: FileSystem, newdir: bigint, flags: number): Promise<void> {
  const [oldName, rest] = splitAtNul(q.rest(2 * 256, 'names'), 'oldname');
  const newName = soleCString(rest, 'newname');
  await fs.rename(q.ctx, q.h.nodeid, checkComponent(oldName, 'entry', 'oldname'), newdir, checkComponent(newName, 'entry', 'newname'), flags);
  q.ok();
}

async function setlk(q: Request, fs: FileSystem, sleep: boolean): Promise<void> {
  const a = q.arg(S.fuse_lk_in);
  await fs.setlk(q.ctx, q.h.nodeid, a.fh, a.owner, a.lk, a.lk_flags, sleep);
  q.ok();
}

export const OPS: Readonly<Partial<Record<number, OpHandler>>> = {
  [Op.FUSE_LOOKUP]: async (q, fs) => {
    const e = await fs.lookup(q.ctx, q.h.nodeid, q.name('lookup'));
    q.ok(part(S.fuse_entry_out, entryOut(e)));
  },
  [Op.FUSE_FORGET]: async (q, fs) => {
    q.noReply = true;
    const a = q.arg(S.fuse_forget_in);
    await fs.forget(q.ctx, q.h.nodeid, a.nlookup);
  },
  [Op.FUSE_GETATTR]: async (q, fs) => {
    const a = q.arg(S.fuse_getattr_in);
    const r = await fs.getattr(q.ctx, q.h.nodeid, a.getattr_flags & FUSE_GETATTR_FH ? a.fh : undefined);
    q.ok(part(S.fuse_attr_out, attrOut(r.attr, r.timeout)));
  },
  [Op.FUSE_SETATTR]: async (q, fs) => {
    const a = q.arg(S.fuse_setattr_in);
    const r = await fs.setattr(q.ctx, q.h.nodeid, a, a.valid & FATTR_FH ? a.fh : undefined);
    q.ok(part(S.fuse_attr_out, attrOut(r.attr, r.timeout)));
  },
  [Op.FUSE_READLINK]: async (q, fs) => {
    const target = await fs.readlink(q.ctx, q.h.nodeid);
    q.ok(target);
  },
  [Op.FUSE_SYMLINK]: async (q, fs) => {
    const [name, rest] = splitAtNul(q.rest(256 + PATH_MAX, 'symlink'), 'name');
    const target = soleCString(rest, 'linkname');
    check(target.length > 0, 'FUSE_BAD_NAME', 'linkname: empty');
    if (target.length >= PATH_MAX) throw new FuseError('ENAMETOOLONG', `linkname: ${target.length} bytes`);
    q.applyExtensions();
    const e = await fs.symlink(q.ctx, q.h.nodeid, checkComponent(name, 'entry'), target);
    q.ok(part(S.fuse_entry_out, entryOut(e)));
  },
  [Op.FUSE_MKNOD]: async (q, fs) => {
    const a = q.arg(S.fuse_mknod_in);
    const name = q.name('entry');
    q.ctx.umask = a.umask;
    q.applyExtensions();
    const e = await fs.mknod(q.ctx, q.h.nodeid, name, a.mode, a.rdev);
    q.ok(part(S.fuse_entry_out, entryOut(e)));
  },
  [Op.FUSE_MKDIR]: async (q, fs) => {
    const a = q.arg(S.fuse_mkdir_in);
    const name = q.name('entry');
    q.ctx.umask = a.umask;
    q.applyExtensions();
    const e = await fs.mkdir(q.ctx, q.h.nodeid, name, a.mode);
    q.ok(part(S.fuse_entry_out, entryOut(e)));
  },
  [Op.FUSE_UNLINK]: async (q, fs) => {
    await fs.unlink(q.ctx, q.h.nodeid, q.name('entry'));
    q.ok();
  },
  [Op.FUSE_RMDIR]: async (q, fs) => {
    await fs.rmdir(q.ctx, q.h.nodeid, q.name('entry'));
    q.ok();
  },
  [Op.FUSE_RENAME]: async (q, fs) => rename(q, fs, q.arg(S.fuse_rename_in).newdir, 0),
  [Op.FUSE_LINK]: async (q, fs) => {
    const a = q.arg(S.fuse_link_in);
    const e = await fs.link(q.ctx, a.oldnodeid, q.h.nodeid, q.name('entry'));
    q.ok(part(S.fuse_entry_out, entryOut(e)));
  },
  [Op.FUSE_OPEN]: async (q, fs) => {
    const a = q.arg(S.fuse_open_in);
    const r = await fs.open(q.ctx, q.h.nodeid, a.flags, a.open_flags);
    q.ok(part(S.fuse_open_out, openOut(r.fh, r.openFlags)));
  },
  [Op.FUSE_READ]: read,
  [Op.FUSE_WRITE]: async (q, fs) => {
    const a = q.arg(S.fuse_write_in);
    check(a.size <= q.r.remaining, 'FUSE_TRUNCATED', () => `WRITE of ${a.size} bytes carries ${q.r.remaining}`);
    check(a.size <= q.session.maxWrite, 'FUSE_TOO_LARGE', () => `WRITE of ${a.size} bytes > max_write ${q.session.maxWrite}`);
    const data = q.r.takeViews(a.size);
    const owner = a.write_flags & FUSE_WRITE_LOCKOWNER ? a.lock_owner : undefined;
    const n = await fs.write(q.ctx, q.h.nodeid, a.fh, a.offset, data, a.flags, a.write_flags, owner);
    if (!Number.isInteger(n) || n < 0 || n > a.size) throw new FuseError('EIO', `write returned ${n} for ${a.size} bytes`);
    q.ok(part(S.fuse_write_out, { size: n }));
  },
  [Op.FUSE_STATFS]: async (q, fs) => {
    const st = await fs.statfs(q.ctx, q.h.nodeid);
    q.ok(part(S.fuse_statfs_out, { st }));
  },
  [Op.FUSE_RELEASE]: async (q, fs) => {
    const a = q.arg(S.fuse_release_in);
    const owner = a.release_flags & (FUSE_RELEASE_FLUSH | FUSE_RELEASE_FLOCK_UNLOCK) ? a.lock_owner : undefined;
    await fs.release(q.ctx, q.h.nodeid, a.fh, a.flags, a.release_flags, owner);
    q.ok();
  },
  [Op.FUSE_FSYNC]: async (q, fs) => {
    const a = q.arg(S.fuse_fsync_in);
    await fs.fsync(q.ctx, q.h.nodeid, a.fh, (a.fsync_flags & FUSE_FSYNC_FDATASYNC) !== 0);
    q.ok();
  },
  [Op.FUSE_SETXATTR]: async (q, fs) => {
    const ext = (q.session.flags & FUSE_SETXATTR_EXT) !== 0n;
    const a = ext ? q.arg(S.fuse_setxattr_in) : { ...q.arg(S.fuse_setxattr_in_compat), setxattr_flags: 0 };
    const [name, value] = splitAtNul(q.rest(XATTR_NAME_MAX + 1 + XATTR_SIZE_MAX, 'setxattr', 'E2BIG'), 'xattr name');
    check(value.length === a.size, 'FUSE_BAD_SIZE', () => `setxattr: size ${a.size} but ${value.length} value bytes`);
    if (name.length === 0 || name.length > XATTR_NAME_MAX) throw new FuseError('ERANGE', `xattr name of ${name.length} bytes`);
    await fs.setxattr(q.ctx, q.h.nodeid, name, value, a.flags, a.setxattr_flags);
    q.ok();
  },
  [Op.FUSE_GETXATTR]: async (q, fs) => {
    const a = q.arg(S.fuse_getxattr_in);
    const name = soleCString(q.rest(XATTR_NAME_MAX + 1, 'getxattr', 'ERANGE'), 'xattr name');
    if (name.length === 0) throw new FuseError('ERANGE', 'empty xattr name');
    const value = await fs.getxattr(q.ctx, q.h.nodeid, name, a.size);
    getxattrLike(q, a.size, value, XATTR_SIZE_MAX);
  },
  [Op.FUSE_LISTXATTR]: async (q, fs) => {
    const a = q.arg(S.fuse_getxattr_in);
    const list = await fs.listxattr(q.ctx, q.h.nodeid, a.size);
    getxattrLike(q, a.size, list, XATTR_LIST_MAX);
  },
  [Op.FUSE_REMOVEXATTR]: async (q, fs) => {
    const name = soleCString(q.rest(XATTR_NAME_MAX + 1, 'removexattr', 'ERANGE'), 'xattr name');
    if (name.length === 0) throw new FuseError('ERANGE', 'empty xattr name');
    await fs.removexattr(q.ctx, q.h.nodeid, name);
    q.ok();
  },
  [Op.FUSE_FLUSH]: async (q, fs) => {
    const a = q.arg(S.fuse_flush_in);
    await fs.flush(q.ctx, q.h.nodeid, a.fh, a.lock_owner);
    q.ok();
  },
  [Op.FUSE_OPENDIR]: async (q, fs) => {
    const a = q.arg(S.fuse_open_in);
    const r = await fs.opendir(q.ctx, q.h.nodeid, a.flags);
    q.ok(part(S.fuse_open_out, openOut(r.fh, r.openFlags)));
  },
  [Op.FUSE_READDIR]: (q, fs) => readdirCommon(q, fs, false),
  [Op.FUSE_RELEASEDIR]: async (q, fs) => {
    const a = q.arg(S.fuse_release_in);
    await fs.releasedir(q.ctx, q.h.nodeid, a.fh, a.flags);
    q.ok();
  },
  [Op.FUSE_FSYNCDIR]: async (q, fs) => {
    const a = q.arg(S.fuse_fsync_in);
    await fs.fsyncdir(q.ctx, q.h.nodeid, a.fh, (a.fsync_flags & FUSE_FSYNC_FDATASYNC) !== 0);
    q.ok();
  },
  [Op.FUSE_GETLK]: async (q, fs) => {
    const a = q.arg(S.fuse_lk_in);
    const lk = await fs.getlk(q.ctx, q.h.nodeid, a.fh, a.owner, a.lk, a.lk_flags);
    q.ok(part(S.fuse_lk_out, { lk }));
  },
  [Op.FUSE_SETLK]: (q, fs) => setlk(q, fs, false),
  [Op.FUSE_SETLKW]: (q, fs) => setlk(q, fs, true),
  [Op.FUSE_ACCESS]: async (q, fs) => {
    const a = q.arg(S.fuse_access_in);
    await fs.access(q.ctx, q.h.nodeid, a.mask);
    q.ok();
  },
  [Op.FUSE_CREATE]: async (q, fs) => {
    const a = q.arg(S.fuse_create_in);
    const name = q.name('entry');
    q.ctx.umask = a.umask;
    q.applyExtensions();
    const r = await fs.create(q.ctx, q.h.nodeid, name, a.mode, a.flags, a.open_flags);
    q.ok(part(S.fuse_entry_out, entryOut(r.entry)), part(S.fuse_open_out, openOut(r.fh, r.openFlags)));
  },
  [Op.FUSE_INTERRUPT]: async (q, fs) => {
    q.noReply = true;
    const a = q.arg(S.fuse_interrupt_in);
    await fs.interrupt(q.ctx, a.unique);
  },
  [Op.FUSE_BMAP]: async (q, fs) => {
    const a = q.arg(S.fuse_bmap_in);
    const block = await fs.bmap(q.ctx, q.h.nodeid, a.block, a.blocksize);
    q.ok(part(S.fuse_bmap_out, { block }));
  },
  [Op.FUSE_IOCTL]: async (q, fs) => {
    const a = q.arg(S.fuse_ioctl_in);
    // Unrestricted ioctls need the retry protocol with guest addresses: CUSE only.
    if (a.flags & FUSE_IOCTL_UNRESTRICTED) throw new FuseError('ENOSYS', 'unrestricted ioctl');
    check(a.in_size === q.r.remaining, 'FUSE_BAD_SIZE', () => `ioctl in_size ${a.in_size}, ${q.r.remaining} bytes sent`);
    const input = q.r.readCopy(a.in_size, 'ioctl input');
    const r = await fs.ioctl(q.ctx, q.h.nodeid, a.fh, a.flags, a.cmd, a.arg, input, a.out_size);
    const data = r.data ?? new Uint8Array(0);
    if (data.length > a.out_size) throw new FuseError('EIO', `ioctl returned ${data.length} bytes > out_size ${a.out_size}`);
    q.ok(part(S.fuse_ioctl_out, { result: r.result, flags: 0, in_iovs: 0, out_iovs: 0 }), data);
  },
  [Op.FUSE_POLL]: async (q, fs) => {
    const a = q.arg(S.fuse_poll_in);
    const revents = await fs.poll(q.ctx, q.h.nodeid, a.fh, a.kh, a.flags, a.events);
    q.ok(part(S.fuse_poll_out, { revents }));
  },
  [Op.FUSE_NOTIFY_REPLY]: async (q) => {
    // We never send FUSE_NOTIFY_RETRIEVE, so there is nothing to match it to.
    q.noReply = true;
  },
  [Op.FUSE_BATCH_FORGET]: async (q, fs) => {
    q.noReply = true;
    const { count } = q.arg(S.fuse_batch_forget_in);
    check(count * S.fuse_forget_one.size <= q.r.remaining, 'FUSE_TRUNCATED', () => `BATCH_FORGET count ${count}, ${q.r.remaining} bytes`);
    const items: { nodeid: bigint; nlookup: bigint }[] = [];
    for (let i = 0; i < count; i++) items.push(q.arg(S.fuse_forget_one));
    await fs.batchForget(q.ctx, items);
  },
  [Op.FUSE_FALLOCATE]: async (q, fs) => {
    const a = q.arg(S.fuse_fallocate_in);
    await fs.fallocate(q.ctx, q.h.nodeid, a.fh, a.offset, a.length, a.mode);
    q.ok();
  },
  [Op.FUSE_READDIRPLUS]: (q, fs) => readdirCommon(q, fs, true),
  [Op.FUSE_RENAME2]: async (q, fs) => {
    const a = q.arg(S.fuse_rename2_in);
    const known = RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT;
    if (a.flags & ~known) throw new FuseError('EINVAL', `RENAME2 flags 0x${a.flags.toString(16)}`);
    return rename(q, fs, a.newdir, a.flags);
  },
  [Op.FUSE_LSEEK]: async (q, fs) => {
    const a = q.arg(S.fuse_lseek_in);
    const offset = await fs.lseek(q.ctx, q.h.nodeid, a.fh, a.offset, a.whence);
    q.ok(part(S.fuse_lseek_out, { offset }));
  },
  [Op.FUSE_COPY_FILE_RANGE]: async (q, fs) => {
    const a = q.arg(S.fuse_copy_file_range_in);
    const n = await fs.copyFileRange(q.ctx, q.h.nodeid, a.fh_in, a.off_in, a.nodeid_out, a.fh_out, a.off_out, a.len, a.flags);
    q.ok(part(S.fuse_write_out, { size: u32(n, 'copy_file_range') }));
  },
  [Op.FUSE_SETUPMAPPING]: async (q, fs) => {
    const a = q.arg(S.fuse_setupmapping_in);
    await fs.setupMapping(q.ctx, q.h.nodeid, a.fh, a.foffset, a.len, a.flags, a.moffset);
    q.ok();
  },
  [Op.FUSE_REMOVEMAPPING]: async (q, fs) => {
    const { count } = q.arg(S.fuse_removemapping_in);
    check(count * S.fuse_removemapping_one.size <= q.r.remaining, 'FUSE_TRUNCATED', () => `REMOVEMAPPING count ${count}, ${q.r.remaining} bytes`);
    const items: { moffset: bigint; len: bigint }[] = [];
    for (let i = 0; i < count; i++) items.push(q.arg(S.fuse_removemapping_one));
    await fs.removeMapping(q.ctx, items);
    q.ok();
  },
  [Op.FUSE_SYNCFS]: async (q, fs) => {
    q.arg(S.fuse_syncfs_in);
    await fs.syncfs(q.ctx, q.h.nodeid);
    q.ok();
  },
  [Op.FUSE_TMPFILE]: async (q, fs) => {
    const a = q.arg(S.fuse_create_in);
    // The VFS names the unnamed dentry "/": the name is sent but means nothing, so it is not checked.
    q.r.skip(q.r.remaining);
    q.ctx.umask = a.umask;
    q.applyExtensions();
    const r = await fs.tmpfile(q.ctx, q.h.nodeid, a.mode, a.flags, a.open_flags);
    q.ok(part(S.fuse_entry_out, entryOut(r.entry)), part(S.fuse_open_out, openOut(r.fh, r.openFlags)));
  },
  [Op.FUSE_STATX]: async (q, fs) => {
    const a = q.arg(S.fuse_statx_in);
    const r = await fs.statx(q.ctx, q.h.nodeid, a.getattr_flags & FUSE_GETATTR_FH ? a.fh : undefined, a.sx_flags, a.sx_mask);
    const v = timeout(r.timeout);
    q.ok(part(S.fuse_statx_out, { attr_valid: v.secs, attr_valid_nsec: v.nsecs, flags: r.flags ?? 0, stat: r.statx }));
  },
};
