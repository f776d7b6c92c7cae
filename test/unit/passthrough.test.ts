/**
 * PassthroughFs driven directly on a temporary directory: every operation, its effect on the host, and
 * the host errors it passes back.
 */
import test from 'ava';
import fs from 'node:fs';
import {
  FATTR_ATIME,
  FATTR_ATIME_NOW,
  FATTR_FH,
  FATTR_GID,
  FATTR_KILL_SUIDGID,
  FATTR_MODE,
  FATTR_MTIME,
  FATTR_SIZE,
  FATTR_UID,
  FOPEN_DIRECT_IO,
  FOPEN_KEEP_CACHE,
  FUSE_ATOMIC_O_TRUNC,
  FUSE_CREATE_SUPP_GROUP,
  FUSE_DO_READDIRPLUS,
  FUSE_DONT_MASK,
  FUSE_EXPORT_SUPPORT,
  FUSE_FLOCK_LOCKS,
  FUSE_HANDLE_KILLPRIV_V2,
  FUSE_OPEN_KILL_SUIDGID,
  FUSE_POSIX_ACL,
  FUSE_POSIX_LOCKS,
  FUSE_SUBMOUNTS,
  FUSE_WRITE_KILL_SUIDGID,
  FUSE_WRITEBACK_CACHE,
} from '../../protocol/fuse-flags.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../protocol/fuse-opcodes.js';
import type { FuseSetattrIn } from '../../src/fuse/filesystem.js';
import * as n from '../../src/native/fs.js';
import { PassthroughFs, cachePolicy } from '../../src/passthrough/index.js';
import { ALL_CAPABLE, b, concat, ctx, mount, views, walk } from '../helpers/passthrough.js';

const c = ctx;
const user = (uid = 1000, gid = 1000) => ctx({ uid, gid });

function setattrIn(over: Partial<FuseSetattrIn>): FuseSetattrIn {
  return { valid: 0, fh: 0n, size: 0n, lock_owner: 0n, atime: 0n, mtime: 0n, ctime: 0n, atimensec: 0, mtimensec: 0, ctimensec: 0, mode: 0, uid: 0, gid: 0, ...over };
}

test('constructor: a missing shared directory throws ENOENT, a file ENOTDIR', (t) => {
  t.throws(() => new PassthroughFs({ sharedDir: '/nonexistent/vfs-pt' }), { code: 'ENOENT' });
  t.throws(() => new PassthroughFs({ sharedDir: '/etc/hostname' }), { code: 'ENOTDIR' });
});

test('init: asks for locks, readdirplus, export support, atomic O_TRUNC; optional flags only when offered and enabled', async (t) => {
  const m = await mount(t);
  const want = await m.fs.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 });
  for (const f of [FUSE_POSIX_LOCKS, FUSE_FLOCK_LOCKS, FUSE_DO_READDIRPLUS, FUSE_EXPORT_SUPPORT, FUSE_ATOMIC_O_TRUNC, FUSE_HANDLE_KILLPRIV_V2]) t.not(want & f, 0n);
  t.is(want & (FUSE_WRITEBACK_CACHE | FUSE_POSIX_ACL | FUSE_DONT_MASK | FUSE_SUBMOUNTS), 0n);

  const m2 = await mount(t, { writeback: true, posixAcl: true, announceSubmounts: true, readdirplus: false, killprivV2: false });
  const w2 = await m2.fs.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 });
  for (const f of [FUSE_WRITEBACK_CACHE, FUSE_POSIX_ACL, FUSE_DONT_MASK, FUSE_SUBMOUNTS]) t.not(w2 & f, 0n);
  t.is(w2 & (FUSE_DO_READDIRPLUS | FUSE_HANDLE_KILLPRIV_V2), 0n);
  // POSIX ACLs without the kernel's support: INIT fails rather than silently ignoring ACLs.
  await t.throwsAsync(m2.fs.init({ minor: 38, capable: ALL_CAPABLE & ~FUSE_DONT_MASK, maxReadahead: 0 }), { code: 'EPROTO' });
});

test('lookup + getattr: attributes are the host file\'s; ENOENT for a missing name', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'hello');
  fs.chmodSync(m.p('f'), 0o640);
  const e = await m.fs.lookup(c(), 1n, b('f'));
  const st = fs.statSync(m.p('f'), { bigint: true });
  t.true(e.nodeid > 1n);
  t.is(e.attr.ino, st.ino);
  t.is(e.attr.size, 5n);
  t.is(e.attr.mode, 0o100640);
  t.is(e.attr.nlink, 1);
  t.is(e.entryTimeout, 1);
  const a = await m.fs.getattr(c(), e.nodeid, undefined);
  t.deepEqual(a.attr, e.attr);
  await t.throwsAsync(m.fs.lookup(c(), 1n, b('missing')), { code: 'ENOENT' });
  await t.throwsAsync(m.fs.getattr(c(), 1n << 60n, undefined), { code: 'EBADF' });
});

test('cache policies: timeouts and open flags as virtiofsd', async (t) => {
  t.deepEqual(cachePolicy('never'), { entryTimeout: 0, attrTimeout: 0, fileOpenFlags: FOPEN_DIRECT_IO, dirOpenFlags: 0 });
  t.is(cachePolicy('auto').attrTimeout, 1);
  t.is(cachePolicy('always').fileOpenFlags, FOPEN_KEEP_CACHE);
  t.is(cachePolicy('metadata').fileOpenFlags, FOPEN_DIRECT_IO);
  const m = await mount(t, { cache: 'always' });
  fs.writeFileSync(m.p('f'), '');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  t.is(e.entryTimeout, 86400);
  const o = await m.fs.open(c(), e.nodeid, n.O_RDONLY, 0);
  t.is(o.openFlags, FOPEN_KEEP_CACHE);
});

test('create, write, read, release: data reaches the host file, read views are filled in place', async (t) => {
  const m = await mount(t);
  const r = await m.fs.create(c(), 1n, b('new'), 0o100644, n.O_RDWR | n.O_CREAT, 0);
  t.is(r.entry.attr.mode, 0o100644);
  const data = Buffer.from('0123456789'.repeat(1000));
  // Written from three segments, as guest memory would be split.
  const segs = [data.subarray(0, 1), data.subarray(1, 4097), data.subarray(4097)];
  t.is(await m.fs.write(c(), r.entry.nodeid, r.fh, 0n, segs, n.O_RDWR, 0), data.length);
  t.deepEqual(fs.readFileSync(m.p('new')), data);
  const dest = views(12000, 1000);
  const got = await m.fs.read(c(), r.entry.nodeid, r.fh, 5n, 12000, 0, dest);
  t.is(got, data.length - 5);
  t.deepEqual(concat(dest, got), data.subarray(5));
  t.is(await m.fs.read(c(), r.entry.nodeid, r.fh, 20000n, 10, 0, views(10, 10)), 0);
  await m.fs.flush(c(), r.entry.nodeid, r.fh, 1n);
  await m.fs.release(c(), r.entry.nodeid, r.fh, 0, 0);
  await t.throwsAsync(m.fs.read(c(), r.entry.nodeid, r.fh, 0n, 1, 0, views(1, 1)), { code: 'EBADF' });
});

test('read and write with more segments than one preadv/pwritev takes (IOV_MAX)', async (t) => {
  const m = await mount(t);
  const r = await m.fs.create(c(), 1n, b('many'), 0o644, n.O_RDWR | n.O_CREAT, 0);
  const src = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
  const segs = Array.from({ length: 3000 }, (_, i) => src.subarray(i, i + 1));
  t.is(await m.fs.write(c(), r.entry.nodeid, r.fh, 0n, segs, n.O_RDWR, 0), 3000);
  const dest = views(3000, 1);
  t.is(await m.fs.read(c(), r.entry.nodeid, r.fh, 0n, 3000, 0, dest), 3000);
  t.deepEqual(concat(dest, 3000), src);
});

test('create: EEXIST with O_EXCL; without it the existing file is opened (and O_TRUNC truncates)', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'old data');
  await t.throwsAsync(m.fs.create(c(), 1n, b('f'), 0o644, n.O_RDWR | n.O_CREAT | n.O_EXCL, 0), { code: 'EEXIST' });
  const r = await m.fs.create(c(), 1n, b('f'), 0o644, n.O_RDWR | n.O_CREAT | n.O_TRUNC, 0);
  t.is(fs.statSync(m.p('f')).size, 0);
  t.is(r.entry.nodeid, (await m.fs.lookup(c(), 1n, b('f'))).nodeid);
});

test('open: fh belongs to its nodeid; a file opened O_WRONLY cannot be read; O_APPEND writes append', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('a'), 'abc');
  fs.writeFileSync(m.p('other'), '');
  const a = await m.fs.lookup(c(), 1n, b('a'));
  const other = await m.fs.lookup(c(), 1n, b('other'));
  const w = await m.fs.open(c(), a.nodeid, n.O_WRONLY | n.O_APPEND, 0);
  await t.throwsAsync(m.fs.read(c(), a.nodeid, w.fh, 0n, 1, 0, views(1, 1)), { code: 'EBADF' });
  await t.throwsAsync(m.fs.write(c(), other.nodeid, w.fh, 0n, [b('x')], 0, 0), { code: 'EBADF' });
  // The guest sends offset 0 but the file is in append mode: the data must land at the end.
  t.is(await m.fs.write(c(), a.nodeid, w.fh, 0n, [b('def')], n.O_WRONLY | n.O_APPEND, 0), 3);
  t.is(fs.readFileSync(m.p('a'), 'utf8'), 'abcdef');
});

test('open with writeback: O_WRONLY becomes O_RDWR so the guest page cache can read', async (t) => {
  const m = await mount(t, { writeback: true });
  fs.writeFileSync(m.p('a'), 'abc');
  const a = await m.fs.lookup(c(), 1n, b('a'));
  const w = await m.fs.open(c(), a.nodeid, n.O_WRONLY, 0);
  const dest = views(3, 3);
  t.is(await m.fs.read(c(), a.nodeid, w.fh, 0n, 3, 0, dest), 3);
});

test('mkdir, rmdir: ENOTEMPTY, EEXIST, ENOENT from the host', async (t) => {
  const m = await mount(t);
  const d = await m.fs.mkdir(c(), 1n, b('d'), 0o755);
  t.is(d.attr.mode, 0o40755);
  t.true(fs.statSync(m.p('d')).isDirectory());
  await t.throwsAsync(m.fs.mkdir(c(), 1n, b('d'), 0o755), { code: 'EEXIST' });
  await m.fs.create(c(), d.nodeid, b('x'), 0o644, n.O_WRONLY | n.O_CREAT, 0);
  await t.throwsAsync(m.fs.rmdir(c(), 1n, b('d')), { code: 'ENOTEMPTY' });
  await m.fs.unlink(c(), d.nodeid, b('x'));
  await m.fs.rmdir(c(), 1n, b('d'));
  t.false(fs.existsSync(m.p('d')));
  await t.throwsAsync(m.fs.rmdir(c(), 1n, b('d')), { code: 'ENOENT' });
  await t.throwsAsync(m.fs.unlink(c(), 1n, b('d')), { code: 'ENOENT' });
});

test('symlink + readlink; mknod makes a FIFO; link shares the nodeid', async (t) => {
  const m = await mount(t);
  const s = await m.fs.symlink(c(), 1n, b('s'), b('some/where/../else'));
  t.is(s.attr.mode & n.S_IFMT, n.S_IFLNK);
  t.deepEqual(Buffer.from(await m.fs.readlink(c(), s.nodeid)), b('some/where/../else'));
  t.is(fs.readlinkSync(m.p('s')), 'some/where/../else');

  const f = await m.fs.mknod(c(), 1n, b('fifo'), n.S_IFIFO | 0o600, 0);
  t.true(fs.statSync(m.p('fifo')).isFIFO());
  t.is(f.attr.mode, n.S_IFIFO | 0o600);
  // A FIFO is never opened on the host side (the guest opens it locally).
  await t.throwsAsync(m.fs.open(c(), f.nodeid, n.O_RDONLY | n.O_NONBLOCK, 0), { code: 'EBADF' });

  fs.writeFileSync(m.p('orig'), 'x');
  const orig = await m.fs.lookup(c(), 1n, b('orig'));
  const l = await m.fs.link(c(), orig.nodeid, 1n, b('hard'));
  t.is(l.nodeid, orig.nodeid);
  t.is(l.attr.nlink, 2);
  t.is(fs.statSync(m.p('hard')).ino, fs.statSync(m.p('orig')).ino);
  await t.throwsAsync(m.fs.link(c(), orig.nodeid, 1n, b('hard')), { code: 'EEXIST' });
});

test('rename: plain, NOREPLACE (EEXIST), EXCHANGE, and an unknown flag is the host\'s EINVAL', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('a'), 'A');
  fs.writeFileSync(m.p('b'), 'B');
  fs.mkdirSync(m.p('d'));
  const d = await m.fs.lookup(c(), 1n, b('d'));
  await t.throwsAsync(m.fs.rename(c(), 1n, b('a'), 1n, b('b'), RENAME_NOREPLACE), { code: 'EEXIST' });
  await m.fs.rename(c(), 1n, b('a'), 1n, b('b'), RENAME_EXCHANGE);
  t.is(fs.readFileSync(m.p('a'), 'utf8'), 'B');
  await m.fs.rename(c(), 1n, b('a'), d.nodeid, b('moved'), 0);
  t.is(fs.readFileSync(m.p('d', 'moved'), 'utf8'), 'B');
  await t.throwsAsync(m.fs.rename(c(), 1n, b('b'), 1n, b('c'), 1 << 7), { code: 'EINVAL' });
  await t.throwsAsync(m.fs.rename(c(), 1n, b('nope'), 1n, b('c'), 0), { code: 'ENOENT' });
});

test('setattr: mode, owner, size (by handle and by inode), times with NOW and OMIT', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), '0123456789');
  const f = await m.fs.lookup(c(), 1n, b('f'));
  let r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_MODE, mode: 0o100600 }), undefined);
  t.is(r.attr.mode, 0o100600);
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_UID | FATTR_GID, uid: 1234, gid: 5678 }), undefined);
  t.is(fs.statSync(m.p('f')).uid, 1234);
  t.is(r.attr.gid, 5678);
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_SIZE, size: 4n }), undefined);
  t.is(fs.readFileSync(m.p('f'), 'utf8'), '0123');
  const o = await m.fs.open(c(), f.nodeid, n.O_RDWR, 0);
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_SIZE | FATTR_FH, size: 2n, fh: o.fh }), o.fh);
  t.is(r.attr.size, 2n);
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_ATIME | FATTR_MTIME, atime: 1000n, atimensec: 5, mtime: 2000n, mtimensec: 7 }), undefined);
  t.is(r.attr.atime, 1000n);
  t.is(r.attr.mtimensec, 7);
  // ATIME_NOW, mtime omitted: mtime stays.
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_ATIME | FATTR_ATIME_NOW }), undefined);
  t.true(r.attr.atime > 1_600_000_000n);
  t.is(r.attr.mtime, 2000n);
  // A negative time (before 1970) survives the u64 wire encoding.
  r = await m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_MTIME, mtime: BigInt.asUintN(64, -100n) }), undefined);
  t.is(fs.statSync(m.p('f')).mtimeMs, -100_000);
  await t.throwsAsync(m.fs.setattr(c(), f.nodeid, setattrIn({ valid: FATTR_SIZE | FATTR_FH, size: 0n, fh: 999n }), 999n), { code: 'EBADF' });
});

test('setattr on a symlink changes the link, not its target', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('target'), 'x');
  fs.symlinkSync('target', m.p('s'));
  const before = fs.statSync(m.p('target'));
  const s = await m.fs.lookup(c(), 1n, b('s'));
  await m.fs.setattr(c(), s.nodeid, setattrIn({ valid: FATTR_MTIME, mtime: 5000n }), undefined);
  await m.fs.setattr(c(), s.nodeid, setattrIn({ valid: FATTR_UID, uid: 4242 }), undefined);
  t.is(fs.lstatSync(m.p('s')).mtimeMs, 5_000_000);
  t.is(fs.lstatSync(m.p('s')).uid, 4242);
  t.is(fs.statSync(m.p('target')).mtimeMs, before.mtimeMs);
  t.is(fs.statSync(m.p('target')).uid, 0);
});

test('killpriv_v2: write, truncate and O_TRUNC open with KILL_SUIDGID clear setuid, and setgid when group-executable', async (t) => {
  const m = await mount(t);
  for (const name of ['w', 'tr', 'op']) {
    fs.writeFileSync(m.p(name), 'data');
    fs.chmodSync(m.p(name), 0o6755);
  }
  const w = await m.fs.lookup(c(), 1n, b('w'));
  const h = await m.fs.open(c(), w.nodeid, n.O_WRONLY, 0);
  await m.fs.write(c(), w.nodeid, h.fh, 0n, [b('x')], n.O_WRONLY, 0);
  t.is(fs.statSync(m.p('w')).mode & 0o7777, 0o6755, 'no KILL_SUIDGID: bits stay (the writer had CAP_FSETID)');
  await m.fs.write(c(), w.nodeid, h.fh, 0n, [b('x')], n.O_WRONLY, FUSE_WRITE_KILL_SUIDGID);
  t.is(fs.statSync(m.p('w')).mode & 0o7777, 0o755);

  const tr = await m.fs.lookup(c(), 1n, b('tr'));
  await m.fs.setattr(c(), tr.nodeid, setattrIn({ valid: FATTR_SIZE | FATTR_KILL_SUIDGID, size: 1n }), undefined);
  t.is(fs.statSync(m.p('tr')).mode & 0o7777, 0o755);

  fs.chmodSync(m.p('op'), 0o6745); // setgid without group exec is a mandatory-lock marker: it stays
  const op = await m.fs.lookup(c(), 1n, b('op'));
  await m.fs.open(c(), op.nodeid, n.O_WRONLY | n.O_TRUNC, FUSE_OPEN_KILL_SUIDGID);
  t.is(fs.statSync(m.p('op')).mode & 0o7777, 0o2745);
  t.is(fs.statSync(m.p('op')).size, 0);
});

test('credentials: new files belong to the caller; a non-root caller gets EACCES where the host says so', async (t) => {
  const m = await mount(t);
  fs.chmodSync(m.dir, 0o755);
  await t.throwsAsync(m.fs.mkdir(user(), 1n, b('nope'), 0o755), { code: 'EACCES' });
  await t.throwsAsync(m.fs.create(user(), 1n, b('nope'), 0o644, n.O_WRONLY | n.O_CREAT, 0), { code: 'EACCES' });
  await t.throwsAsync(m.fs.symlink(user(), 1n, b('nope'), b('x')), { code: 'EACCES' });
  fs.mkdirSync(m.p('pub'));
  fs.chmodSync(m.p('pub'), 0o777);
  const pub = await m.fs.lookup(c(), 1n, b('pub'));
  const made = await m.fs.mkdir(user(1000, 1001), pub.nodeid, b('mine'), 0o750);
  t.is(made.attr.uid, 1000);
  t.is(made.attr.gid, 1001);
  const f = await m.fs.create(user(1000, 1001), pub.nodeid, b('file'), 0o640, n.O_WRONLY | n.O_CREAT, 0);
  t.is(fs.statSync(m.p('pub', 'file')).uid, 1000);
  t.is(f.entry.attr.mode, 0o100640);
  const s = await m.fs.symlink(user(1000, 1001), pub.nodeid, b('link'), b('file'));
  t.is(fs.lstatSync(m.p('pub', 'link')).uid, s.attr.uid);
  t.is(s.attr.uid, 1000);
  // Devices need CAP_MKNOD, which a non-root caller does not have on the host either.
  await t.throwsAsync(m.fs.mknod(user(), pub.nodeid, b('dev'), n.S_IFCHR | 0o600, n.makedev(1, 3)), { code: 'EPERM' });
  const dev = await m.fs.mknod(c(), pub.nodeid, b('null'), n.S_IFCHR | 0o600, n.makedev(1, 3));
  t.is(dev.attr.rdev, n.makedev(1, 3));
});

test('without FUSE_CREATE_SUPP_GROUP, a create the host refuses is retried with the directory\'s group (the guest already allowed it)', async (t) => {
  const old = await mount(t, {}, {}, ALL_CAPABLE & ~FUSE_CREATE_SUPP_GROUP);
  fs.chmodSync(old.dir, 0o755);
  fs.mkdirSync(old.p('team'));
  fs.chownSync(old.p('team'), 0, 3000);
  fs.chmodSync(old.p('team'), 0o2775);
  const team = await old.fs.lookup(c(), 1n, b('team'));
  const f = await old.fs.create(user(1000, 1000), team.nodeid, b('f'), 0o644, n.O_WRONLY | n.O_CREAT, 0);
  t.is(f.entry.attr.uid, 1000);
  t.is(f.entry.attr.gid, 3000);
  await old.fs.mkdir(user(1000, 1000), team.nodeid, b('d'), 0o755);
  // Only the directory's own group is added: a directory the group may not write stays closed.
  fs.mkdirSync(old.p('closed'));
  fs.chownSync(old.p('closed'), 0, 3000);
  fs.chmodSync(old.p('closed'), 0o755);
  const closed = await old.fs.lookup(c(), 1n, b('closed'));
  await t.throwsAsync(old.fs.mkdir(user(1000, 1000), closed.nodeid, b('d'), 0o755), { code: 'EACCES' });
  // With the flag negotiated, a missing group means "not a member": no retry.
  const now = await mount(t);
  fs.mkdirSync(now.p('team'));
  fs.chownSync(now.p('team'), 0, 3000);
  fs.chmodSync(now.p('team'), 0o2775);
  const team2 = await now.fs.lookup(c(), 1n, b('team'));
  await t.throwsAsync(now.fs.create(user(1000, 1000), team2.nodeid, b('f'), 0o644, n.O_WRONLY | n.O_CREAT, 0), { code: 'EACCES' });
  const ok = await now.fs.create(ctx({ uid: 1000, gid: 1000, supplementaryGroups: [3000] }), team2.nodeid, b('f'), 0o644, n.O_WRONLY | n.O_CREAT, 0);
  t.is(ok.entry.attr.gid, 3000);
});

test('setgid directory: new entries take the directory\'s group; a subdirectory inherits the bit', async (t) => {
  const m = await mount(t);
  fs.mkdirSync(m.p('shared'));
  fs.chownSync(m.p('shared'), 0, 2000);
  fs.chmodSync(m.p('shared'), 0o2777);
  const sh = await m.fs.lookup(c(), 1n, b('shared'));
  const d = await m.fs.mkdir(user(1000, 1000), sh.nodeid, b('sub'), 0o755);
  t.is(d.attr.gid, 2000);
  t.is(d.attr.mode & 0o7777, 0o2755);
  const f = await m.fs.create(user(1000, 1000), sh.nodeid, b('f'), 0o2755, n.O_WRONLY | n.O_CREAT, 0);
  t.is(f.entry.attr.gid, 2000);
  // The caller is not in group 2000: the host strips setgid from the new file, as a local fs would.
  t.is(f.entry.attr.mode & 0o7777, 0o755);
});

test('umask: without DONT_MASK the mode is used as sent (no second umask); with POSIX ACLs the caller\'s umask is applied by the host', async (t) => {
  const m = await mount(t);
  const d = await m.fs.mkdir(ctx({ umask: 0o077 }), 1n, b('d'), 0o777);
  t.is(d.attr.mode & 0o777, 0o777);
  const f = await m.fs.create(ctx({ umask: 0o077 }), 1n, b('f'), 0o666, n.O_WRONLY | n.O_CREAT, 0);
  t.is(f.entry.attr.mode & 0o777, 0o666);
  const acl = await mount(t, { posixAcl: true });
  const d2 = await acl.fs.mkdir(ctx({ umask: 0o027 }), 1n, b('d'), 0o777);
  t.is(d2.attr.mode & 0o777, 0o750);
});

test('tmpfile: an unnamed file that can be linked in later (unless O_EXCL)', async (t) => {
  const m = await mount(t);
  const r = await m.fs.tmpfile(c(), 1n, 0o100600, n.O_RDWR, 0);
  t.is(r.entry.attr.nlink, 0);
  t.is(await m.fs.write(c(), r.entry.nodeid, r.fh, 0n, [b('tmp')], n.O_RDWR, 0), 3);
  t.deepEqual(fs.readdirSync(m.dir), []);
  const l = await m.fs.link(c(), r.entry.nodeid, 1n, b('named'));
  t.is(l.nodeid, r.entry.nodeid);
  t.is(fs.readFileSync(m.p('named'), 'utf8'), 'tmp');
  const x = await m.fs.tmpfile(c(), 1n, 0o100600, n.O_RDWR | n.O_EXCL, 0);
  await t.throwsAsync(m.fs.link(c(), x.entry.nodeid, 1n, b('never')), { code: 'ENOENT' });
});

test('statfs, access, fsync, fsyncdir, syncfs, statx, ioctl', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'x');
  fs.chmodSync(m.p('f'), 0o600);
  const f = await m.fs.lookup(c(), 1n, b('f'));
  const sfs = await m.fs.statfs(c(), 1n);
  const host = fs.statfsSync(m.dir, { bigint: true });
  t.is(sfs.blocks, host.blocks);
  t.is(BigInt(sfs.bsize), host.bsize);
  t.is(sfs.namelen, 255);
  await m.fs.access(c(), f.nodeid, n.R_OK | n.W_OK);
  await m.fs.access(user(), f.nodeid, n.F_OK);
  await t.throwsAsync(m.fs.access(user(), f.nodeid, n.R_OK), { code: 'EACCES' });
  await t.throwsAsync(m.fs.access(c(), f.nodeid, n.X_OK), { code: 'EACCES' });
  const o = await m.fs.open(c(), f.nodeid, n.O_RDWR, 0);
  await m.fs.fsync(c(), f.nodeid, o.fh, false);
  await m.fs.fsync(c(), f.nodeid, o.fh, true);
  const dh = await m.fs.opendir(c(), 1n, 0);
  await m.fs.fsyncdir(c(), 1n, dh.fh, false);
  await t.throwsAsync(m.fs.fsync(c(), 1n, dh.fh, false), { code: 'EISDIR' });
  await m.fs.syncfs(c(), 1n);
  const sx = await m.fs.statx(c(), f.nodeid, undefined, 0, n.STATX_BASIC_STATS | n.STATX_BTIME);
  t.is(sx.statx.ino, f.attr.ino);
  t.is(sx.statx.mode, 0o100600);
  t.not(sx.statx.mask & n.STATX_INO, 0);
  await t.throwsAsync(m.fs.ioctl(c(), f.nodeid, o.fh, 0, 0x5401, 0n, Buffer.alloc(0), 0), { code: 'ENOTTY' });
});

test('fallocate, lseek SEEK_DATA/SEEK_HOLE (ENXIO past the end), copy_file_range', async (t) => {
  const m = await mount(t);
  const r = await m.fs.create(c(), 1n, b('sparse'), 0o644, n.O_RDWR | n.O_CREAT, 0);
  const id = r.entry.nodeid;
  await m.fs.fallocate(c(), id, r.fh, 0n, 1n << 20n, 0);
  t.is(fs.statSync(m.p('sparse')).size, 1 << 20);
  await m.fs.fallocate(c(), id, r.fh, 0n, 1n << 20n, n.FALLOC_FL_PUNCH_HOLE | n.FALLOC_FL_KEEP_SIZE);
  await m.fs.write(c(), id, r.fh, 512n * 1024n, [Buffer.alloc(4096, 1)], n.O_RDWR, 0);
  const data = await m.fs.lseek(c(), id, r.fh, 0n, n.SEEK_DATA);
  t.true(data > 0n && data <= 512n * 1024n);
  t.is(await m.fs.lseek(c(), id, r.fh, data, n.SEEK_HOLE) > data, true);
  await t.throwsAsync(m.fs.lseek(c(), id, r.fh, 2n << 20n, n.SEEK_DATA), { code: 'ENXIO' });

  const out = await m.fs.create(c(), 1n, b('copy'), 0o644, n.O_RDWR | n.O_CREAT, 0);
  const copied = await m.fs.copyFileRange(c(), id, r.fh, 512n * 1024n, out.entry.nodeid, out.fh, 10n, 4096n, 0n);
  t.is(copied, 4096);
  t.deepEqual(fs.readFileSync(m.p('copy')).subarray(10), Buffer.alloc(4096, 1));
  await t.throwsAsync(m.fs.copyFileRange(c(), id, r.fh, 0n, out.entry.nodeid, r.fh, 0n, 1n, 0n), { code: 'EBADF' });
});

test('xattrs: set/get/list/remove with host errors; ENOSYS when off; ACL names hidden without POSIX ACLs', async (t) => {
  const off = await mount(t);
  await t.throwsAsync(off.fs.getxattr(c(), 1n, b('user.x'), 0), { code: 'ENOSYS' });
  await t.throwsAsync(off.fs.listxattr(c(), 1n, 0), { code: 'ENOSYS' });

  // tmpfs takes user xattrs larger than a block (ext4 does not), to exercise the size retry.
  const shm = fs.mkdtempSync('/dev/shm/vfs-pt-');
  t.teardown(() => fs.rmSync(shm, { recursive: true, force: true }));
  const m = await mount(t, { xattr: true, sharedDir: shm });
  fs.writeFileSync(m.p('f'), '');
  const f = await m.fs.lookup(c(), 1n, b('f'));
  const big = Buffer.alloc(10000, 7);
  await m.fs.setxattr(c(), f.nodeid, b('user.small'), b('v1'), 0, 0);
  await m.fs.setxattr(c(), f.nodeid, b('user.big'), big, 0, 0);
  t.deepEqual(Buffer.from(await m.fs.getxattr(c(), f.nodeid, b('user.small'), 0)), b('v1'));
  t.deepEqual(Buffer.from(await m.fs.getxattr(c(), f.nodeid, b('user.big'), 100)), big);
  t.deepEqual(Buffer.from(await m.fs.listxattr(c(), f.nodeid, 0)).toString().split('\0').filter(Boolean).sort(), ['user.big', 'user.small']);
  await t.throwsAsync(m.fs.setxattr(c(), f.nodeid, b('user.small'), b('v2'), n.XATTR_CREATE, 0), { code: 'EEXIST' });
  await t.throwsAsync(m.fs.setxattr(c(), f.nodeid, b('user.none'), b('v2'), n.XATTR_REPLACE, 0), { code: 'ENODATA' });
  await m.fs.removexattr(c(), f.nodeid, b('user.small'));
  await t.throwsAsync(m.fs.getxattr(c(), f.nodeid, b('user.small'), 0), { code: 'ENODATA' });
  await t.throwsAsync(m.fs.removexattr(c(), f.nodeid, b('user.small')), { code: 'ENODATA' });
  await t.throwsAsync(m.fs.setxattr(c(), f.nodeid, b('bogus.ns'), b('v'), 0, 0), { code: 'EOPNOTSUPP' });
  // Directories work through the same path.
  await m.fs.setxattr(c(), 1n, b('user.dir'), b('d'), 0, 0);
  t.is(fs.existsSync(m.dir), true);
  // A default ACL on the host is invisible while POSIX ACLs are off.
  await t.throwsAsync(m.fs.getxattr(c(), 1n, b('system.posix_acl_default'), 0), { code: 'EOPNOTSUPP' });
  await t.throwsAsync(m.fs.setxattr(c(), 1n, b('system.posix_acl_access'), Buffer.alloc(4), 0, 0), { code: 'EOPNOTSUPP' });
});

test('ELOOP and ENAMETOOLONG come from the host', async (t) => {
  const m = await mount(t);
  fs.symlinkSync('x', m.p('s'));
  const s = await m.fs.lookup(c(), 1n, b('s'));
  await t.throwsAsync(m.fs.open(c(), s.nodeid, n.O_RDONLY, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.lookup(c(), 1n, Buffer.alloc(256, 0x61)), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(m.fs.mkdir(c(), 1n, Buffer.alloc(300, 0x61), 0o755), { code: 'ENAMETOOLONG' });
});

test('EXDEV: rename and link across a mount inside the share', async (t) => {
  const { canMount, mountTmpfs } = await import('../helpers/passthrough.js');
  if (!canMount()) return t.pass('cannot mount here');
  const m = await mount(t);
  fs.mkdirSync(m.p('mnt'));
  mountTmpfs(t, m.p('mnt'));
  fs.writeFileSync(m.p('f'), 'x');
  const mnt = await m.fs.lookup(c(), 1n, b('mnt'));
  await t.throwsAsync(m.fs.rename(c(), 1n, b('f'), mnt.nodeid, b('f'), 0), { code: 'EXDEV' });
  const f = await m.fs.lookup(c(), 1n, b('f'));
  await t.throwsAsync(m.fs.link(c(), f.nodeid, mnt.nodeid, b('f')), { code: 'EXDEV' });
});

test('announced submounts: a directory on another mount carries FUSE_ATTR_SUBMOUNT', async (t) => {
  const { canMount, mountTmpfs } = await import('../helpers/passthrough.js');
  if (!canMount()) return t.pass('cannot mount here');
  const m = await mount(t, { announceSubmounts: true });
  fs.mkdirSync(m.p('mnt'));
  fs.mkdirSync(m.p('plain'));
  mountTmpfs(t, m.p('mnt'));
  t.is((await m.fs.lookup(c(), 1n, b('mnt'))).attr.flags & 1, 1);
  t.is((await m.fs.lookup(c(), 1n, b('plain'))).attr.flags & 1, 0);
  await walk(m.fs, 'mnt');
});
