/**
 * ReadonlyFs around a PassthroughFs: everything that would change the share is EROFS, reads and
 * lookups work, and no writeback caching is negotiated.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { FUSE_WRITEBACK_CACHE, FUSE_SETUPMAPPING_FLAG_WRITE } from '../../protocol/fuse-flags.js';
import type { FuseSetattrIn } from '../../src/fuse/filesystem.js';
import * as n from '../../src/native/fs.js';
import { PassthroughFs, ReadonlyFs } from '../../src/passthrough/index.js';
import { ALL_CAPABLE, b, ctx, tmpDir, views } from '../helpers/passthrough.js';

const c = ctx;

async function ro(t: ExecutionContext) {
  const dir = tmpDir(t);
  fs.writeFileSync(`${dir}/f`, 'content');
  fs.mkdirSync(`${dir}/d`);
  const inner = new PassthroughFs({ sharedDir: dir, writeback: true, xattr: true });
  t.teardown(() => inner.close());
  const rofs = new ReadonlyFs(inner);
  const want = await rofs.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 });
  return { rofs, inner, dir, want };
}

test('read-only: reads, lookups, readdir, getattr and xattr reads work', async (t) => {
  const { rofs, want } = await ro(t);
  t.is(want & FUSE_WRITEBACK_CACHE, 0n);
  const f = await rofs.lookup(c(), 1n, b('f'));
  const o = await rofs.open(c(), f.nodeid, n.O_RDONLY, 0);
  const dest = views(16, 16);
  t.is(await rofs.read(c(), f.nodeid, o.fh, 0n, 16, 0, dest), 7);
  await rofs.flush(c(), f.nodeid, o.fh, 1n);
  await rofs.release(c(), f.nodeid, o.fh, 0, 0);
  const dh = await rofs.opendir(c(), 1n, 0);
  await rofs.releasedir(c(), 1n, dh.fh, 0);
  await rofs.getattr(c(), 1n, undefined);
  await rofs.statfs(c(), 1n);
  await rofs.access(c(), f.nodeid, n.R_OK);
  await t.throwsAsync(rofs.getxattr(c(), f.nodeid, b('user.none'), 0), { code: 'ENODATA' });
});

test('read-only: every change is EROFS and the host is untouched', async (t) => {
  const { rofs, dir } = await ro(t);
  const f = await rofs.lookup(c(), 1n, b('f'));
  const before = fs.readdirSync(dir).sort();
  const refused: [string, () => Promise<unknown>][] = [
    ['open O_WRONLY', () => rofs.open(c(), f.nodeid, n.O_WRONLY, 0)],
    ['open O_RDWR', () => rofs.open(c(), f.nodeid, n.O_RDWR, 0)],
    ['open O_TRUNC', () => rofs.open(c(), f.nodeid, n.O_RDONLY | n.O_TRUNC, 0)],
    ['create new', () => rofs.create(c(), 1n, b('new'), 0o644, n.O_CREAT | n.O_RDONLY, 0)],
    ['mkdir', () => rofs.mkdir(c(), 1n, b('x'), 0o755)],
    ['mknod', () => rofs.mknod(c(), 1n, b('x'), n.S_IFIFO | 0o644, 0)],
    ['symlink', () => rofs.symlink(c(), 1n, b('x'), b('f'))],
    ['link', () => rofs.link(c(), f.nodeid, 1n, b('x'))],
    ['unlink', () => rofs.unlink(c(), 1n, b('f'))],
    ['rmdir', () => rofs.rmdir(c(), 1n, b('d'))],
    ['rename', () => rofs.rename(c(), 1n, b('f'), 1n, b('g'), 0)],
    ['setattr', () => rofs.setattr(c(), f.nodeid, { valid: 1 } as FuseSetattrIn, undefined)],
    ['tmpfile', () => rofs.tmpfile(c(), 1n, 0o600, n.O_RDWR, 0)],
    ['setxattr', () => rofs.setxattr(c(), f.nodeid, b('user.a'), b('v'), 0, 0)],
    ['removexattr', () => rofs.removexattr(c(), f.nodeid, b('user.a'))],
    ['write', () => rofs.write(c(), f.nodeid, 1n, 0n, [b('x')], 0, 0)],
    ['fallocate', () => rofs.fallocate(c(), f.nodeid, 1n, 0n, 1n, 0)],
    ['copy_file_range', () => rofs.copyFileRange(c(), f.nodeid, 1n, 0n, f.nodeid, 1n, 0n, 1n, 0n)],
    ['access W_OK', () => rofs.access(c(), f.nodeid, n.W_OK)],
    ['writable DAX mapping', () => rofs.setupMapping(c(), f.nodeid, 1n, 0n, 4096n, FUSE_SETUPMAPPING_FLAG_WRITE, 0n)],
  ];
  for (const [what, call] of refused) await t.throwsAsync(call(), { code: 'EROFS' }, what);
  t.deepEqual(fs.readdirSync(dir).sort(), before);
  t.is(fs.readFileSync(`${dir}/f`, 'utf8'), 'content');
});

test('read-only CREATE of an existing file opens it read-only (O_EXCL: EEXIST), keeping lookup counts right', async (t) => {
  const { rofs, inner } = await ro(t);
  const r = await rofs.create(c(), 1n, b('f'), 0o644, n.O_CREAT | n.O_RDONLY, 0);
  t.is(r.entry.attr.size, 7n);
  const before = inner.stats().inodes;
  await t.throwsAsync(rofs.create(c(), 1n, b('f'), 0o644, n.O_CREAT | n.O_EXCL | n.O_RDONLY, 0), { code: 'EEXIST' });
  await t.throwsAsync(rofs.create(c(), 1n, b('f'), 0o644, n.O_CREAT | n.O_RDWR, 0), { code: 'EROFS' });
  t.is(inner.stats().inodes, before);
  await rofs.forget(c(), r.entry.nodeid, 1n);
  t.is(inner.stats().inodes, before - 1, 'the only reference left was the successful create\'s');
});
