/**
 * Escape attempts: each test is one way a guest might try to reach outside the shared directory, and
 * checks both the answer and that nothing outside changed. The "outside" is a sibling directory of the
 * share holding a file with known content.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FATTR_MODE } from '../../protocol/fuse-flags.js';
import type { FuseSetattrIn } from '../../src/fuse/filesystem.js';
import * as n from '../../src/native/fs.js';
import { b, ctx, mount, tmpDir } from '../helpers/passthrough.js';

const c = ctx;

/** A share and, next to it, an outside directory with a file `secret`. */
async function setup(t: ExecutionContext, opts = {}) {
  const base = tmpDir(t, 'vfs-conf-');
  const share = path.join(base, 'share');
  const outside = path.join(base, 'outside');
  fs.mkdirSync(share);
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'secret'), 'SECRET');
  const m = await mount(t, { ...opts, sharedDir: share });
  const untouched = () => {
    t.deepEqual(fs.readdirSync(outside), ['secret'], 'nothing appeared outside');
    t.is(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'SECRET', 'the outside file is unchanged');
  };
  return { m, share, outside, untouched };
}

test('symlink to a directory outside: lookup gives the link itself, and open/create/mkdir/lookup through it fail', async (t) => {
  const { m, outside, untouched } = await setup(t);
  fs.symlinkSync(outside, path.join(m.dir, 'esc'));
  const esc = await m.fs.lookup(c(), 1n, b('esc'));
  t.is(esc.attr.mode & n.S_IFMT, n.S_IFLNK, 'the entry is the symlink, not the directory it names');
  await t.throwsAsync(m.fs.lookup(c(), esc.nodeid, b('secret')), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.create(c(), esc.nodeid, b('planted'), 0o644, n.O_WRONLY | n.O_CREAT, 0), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.mkdir(c(), esc.nodeid, b('planted'), 0o755), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.mknod(c(), esc.nodeid, b('planted'), n.S_IFREG | 0o644, 0), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.symlink(c(), esc.nodeid, b('planted'), b('x')), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.opendir(c(), esc.nodeid, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.open(c(), esc.nodeid, n.O_RDONLY, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.unlink(c(), esc.nodeid, b('secret')), { code: 'ENOTDIR' });
  untouched();
});

test('symlink to a file outside: open, truncate and create-over refuse to follow it', async (t) => {
  const { m, outside, untouched } = await setup(t);
  fs.symlinkSync(path.join(outside, 'secret'), path.join(m.dir, 'link'));
  const link = await m.fs.lookup(c(), 1n, b('link'));
  await t.throwsAsync(m.fs.open(c(), link.nodeid, n.O_RDWR | n.O_TRUNC, 0), { code: 'ELOOP' });
  // CREATE without O_EXCL of an existing name opens it: never through a symlink.
  await t.throwsAsync(m.fs.create(c(), 1n, b('link'), 0o644, n.O_WRONLY | n.O_CREAT | n.O_TRUNC, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.setattr(c(), link.nodeid, { valid: 1 << 3, size: 0n } as FuseSetattrIn, undefined), { code: 'ELOOP' });
  untouched();
});

test('a dangling symlink to a path outside: CREATE does not create the target', async (t) => {
  const { m, outside, untouched } = await setup(t);
  fs.symlinkSync(path.join(outside, 'created-through-link'), path.join(m.dir, 'dangling'));
  await t.throwsAsync(m.fs.create(c(), 1n, b('dangling'), 0o644, n.O_WRONLY | n.O_CREAT, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.create(c(), 1n, b('dangling'), 0o644, n.O_WRONLY | n.O_CREAT | n.O_EXCL, 0), { code: 'EEXIST' });
  untouched();
});

test('".." at the root is the root itself; "." is the directory', async (t) => {
  const { m } = await setup(t);
  const up = await m.fs.lookup(c(), 1n, b('..'));
  t.is(up.nodeid, 1n);
  const root = await m.fs.getattr(c(), 1n, undefined);
  t.is(up.attr.ino, root.attr.ino);
  t.is((await m.fs.lookup(c(), 1n, b('.'))).nodeid, 1n);
  fs.mkdirSync(path.join(m.dir, 'd'));
  const d = await m.fs.lookup(c(), 1n, b('d'));
  t.is((await m.fs.lookup(c(), d.nodeid, b('..'))).nodeid, 1n, '".." of a child of the root is the root');
  t.is((await m.fs.lookup(c(), d.nodeid, b('.'))).nodeid, d.nodeid);
});

test('".." of a directory the host moved outside the share is refused', async (t) => {
  const { m, share, outside } = await setup(t);
  fs.mkdirSync(path.join(share, 'a', 'b'), { recursive: true });
  const a = await m.fs.lookup(c(), 1n, b('a'));
  const bb = await m.fs.lookup(c(), a.nodeid, b('b'));
  t.is((await m.fs.lookup(c(), bb.nodeid, b('..'))).nodeid, a.nodeid);
  fs.renameSync(path.join(share, 'a'), path.join(outside, 'a'));
  // b's parent is now outside/a: the guest must not get it.
  await t.throwsAsync(m.fs.lookup(c(), bb.nodeid, b('..')), { code: 'ENOENT' });
});

test('the readdir ".." entry of the root does not reveal the host parent\'s inode', async (t) => {
  const { m, share } = await setup(t);
  const { readAll } = await import('../helpers/passthrough.js');
  const all = await readAll(m.fs, 1n);
  const dotdot = all.entries.find((e) => Buffer.from(e.name).toString() === '..');
  t.is(dotdot?.ino, fs.statSync(share, { bigint: true }).ino);
});

test('a name with "/" (or NUL, or empty) is refused for every op', async (t) => {
  const { m, untouched } = await setup(t);
  const bad = [b('../outside/secret'), b('a/b'), b('/etc/passwd'), Buffer.from('x\0y'), Buffer.alloc(0)];
  for (const name of bad) {
    await t.throwsAsync(m.fs.lookup(c(), 1n, name), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.mkdir(c(), 1n, name, 0o755), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.create(c(), 1n, name, 0o644, n.O_CREAT | n.O_WRONLY, 0), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.unlink(c(), 1n, name), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.symlink(c(), 1n, name, b('x')), { code: 'EINVAL' });
  }
  for (const name of [b('.'), b('..')]) {
    await t.throwsAsync(m.fs.mkdir(c(), 1n, name, 0o755), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.rmdir(c(), 1n, name), { code: 'EINVAL' });
    await t.throwsAsync(m.fs.rename(c(), 1n, name, 1n, b('x'), 0), { code: 'EINVAL' });
  }
  untouched();
});

test('rename out of the share: the target directory can only be a nodeid, and names cannot climb', async (t) => {
  const { m, untouched } = await setup(t);
  fs.writeFileSync(path.join(m.dir, 'f'), 'mine');
  await t.throwsAsync(m.fs.rename(c(), 1n, b('f'), 1n, b('../outside/f'), 0), { code: 'EINVAL' });
  await t.throwsAsync(m.fs.rename(c(), 1n, b('f'), 424242n, b('f'), 0), { code: 'EBADF' });
  await t.throwsAsync(m.fs.rename(c(), 1n, b('../outside/secret'), 1n, b('stolen'), 0), { code: 'EINVAL' });
  t.true(fs.existsSync(path.join(m.dir, 'f')));
  untouched();
});

test('a hard link to a file outside cannot be made: the source is a nodeid the guest was given', async (t) => {
  const { m, untouched } = await setup(t);
  // The only files the guest can name are ones it looked up inside the share; a made-up nodeid is refused.
  await t.throwsAsync(m.fs.link(c(), 999999n, 1n, b('stolen')), { code: 'EBADF' });
  t.false(fs.existsSync(path.join(m.dir, 'stolen')));
  untouched();
});

test('bogus nodeids and fhs: EBADF, never another file', async (t) => {
  const { m } = await setup(t);
  fs.writeFileSync(path.join(m.dir, 'a'), 'AAAA');
  fs.writeFileSync(path.join(m.dir, 'b'), 'BBBB');
  const a = await m.fs.lookup(c(), 1n, b('a'));
  const bb = await m.fs.lookup(c(), 1n, b('b'));
  const ha = await m.fs.open(c(), a.nodeid, n.O_RDWR, 0);
  for (const id of [0n, 2n ** 64n - 1n, a.nodeid + 1000n]) {
    await t.throwsAsync(m.fs.getattr(c(), id, undefined), { code: 'EBADF' });
    await t.throwsAsync(m.fs.lookup(c(), id, b('a')), { code: 'EBADF' });
    await t.throwsAsync(m.fs.open(c(), id, n.O_RDONLY, 0), { code: 'EBADF' });
  }
  // A real fh with the wrong nodeid: refused, not served from the other file.
  const dest = [new Uint8Array(4)];
  await t.throwsAsync(m.fs.read(c(), bb.nodeid, ha.fh, 0n, 4, 0, dest), { code: 'EBADF' });
  await t.throwsAsync(m.fs.write(c(), bb.nodeid, ha.fh, 0n, [b('XX')], 0, 0), { code: 'EBADF' });
  for (const fh of [0n, ha.fh + 77n, 2n ** 64n - 1n]) {
    await t.throwsAsync(m.fs.read(c(), a.nodeid, fh, 0n, 4, 0, dest), { code: 'EBADF' });
    await t.throwsAsync(m.fs.release(c(), a.nodeid, fh, 0, 0), { code: 'EBADF' });
  }
  // After FORGET the nodeid is dead, and a new lookup gets a new nodeid.
  await m.fs.forget(c(), bb.nodeid, 1n);
  await t.throwsAsync(m.fs.getattr(c(), bb.nodeid, undefined), { code: 'EBADF' });
  t.not((await m.fs.lookup(c(), 1n, b('b'))).nodeid, bb.nodeid);
  t.is(fs.readFileSync(path.join(m.dir, 'b'), 'utf8'), 'BBBB');
});

test('setxattr on a symlink to a file outside lands on the link, never the target', async (t) => {
  const { m, outside, untouched } = await setup(t, { xattr: true });
  const secret = path.join(outside, 'secret');
  fs.symlinkSync(secret, path.join(m.dir, 'link'));
  const link = await m.fs.lookup(c(), 1n, b('link'));
  // trusted.* is allowed on symlinks (user.* is not: EPERM from the host, also fine).
  await m.fs.setxattr(c(), link.nodeid, b('trusted.planted'), b('x'), 0, 0);
  await t.throwsAsync(m.fs.setxattr(c(), link.nodeid, b('user.planted'), b('x'), 0, 0), { code: 'EPERM' });
  await t.throwsAsync(n.getxattr(secret, 'trusted.planted', null), { code: 'ENODATA' });
  t.is(await n.lgetxattr(path.join(m.dir, 'link'), 'trusted.planted', null), 1);
  t.deepEqual(Buffer.from(await m.fs.getxattr(c(), link.nodeid, b('trusted.planted'), 0)), b('x'));
  await t.throwsAsync(m.fs.getxattr(c(), link.nodeid, b('user.none'), 0), { code: 'ENODATA' });
  // chmod of a symlink is not a chmod of its target.
  await t.throwsAsync(m.fs.setattr(c(), link.nodeid, { valid: FATTR_MODE, mode: 0o777 } as FuseSetattrIn, undefined), { code: 'EOPNOTSUPP' });
  t.is(fs.statSync(secret).mode & 0o777, 0o644);
  untouched();
});

test('readlink of an absolute symlink returns its text; nothing follows it', async (t) => {
  const { m, outside, untouched } = await setup(t);
  fs.symlinkSync('/etc/passwd', path.join(m.dir, 'abs'));
  fs.symlinkSync(path.join(outside, 'secret'), path.join(m.dir, 'abs2'));
  const abs = await m.fs.lookup(c(), 1n, b('abs'));
  t.deepEqual(Buffer.from(await m.fs.readlink(c(), abs.nodeid)), b('/etc/passwd'));
  t.is(abs.attr.size, BigInt('/etc/passwd'.length), 'the attributes are the link\'s');
  const abs2 = await m.fs.lookup(c(), 1n, b('abs2'));
  await t.throwsAsync(m.fs.open(c(), abs2.nodeid, n.O_RDONLY, 0), { code: 'ELOOP' });
  await t.throwsAsync(m.fs.readlink(c(), 1n), { code: 'ENOENT' });
  untouched();
});

test('a symlink in the middle: lookups go one component at a time, so "dir/link/.." never escapes', async (t) => {
  const { m, outside, untouched } = await setup(t);
  fs.mkdirSync(path.join(m.dir, 'd'));
  fs.symlinkSync(path.join(outside), path.join(m.dir, 'd', 'up'));
  const d = await m.fs.lookup(c(), 1n, b('d'));
  const up = await m.fs.lookup(c(), d.nodeid, b('up'));
  await t.throwsAsync(m.fs.lookup(c(), up.nodeid, b('..')), { code: 'ENOTDIR' });
  await t.throwsAsync(m.fs.lookup(c(), up.nodeid, b('.')), { code: 'ENOTDIR' });
  untouched();
});
