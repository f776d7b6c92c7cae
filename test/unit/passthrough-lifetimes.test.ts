/**
 * Lookup counts, fd ownership and inode identity: every reference the kernel gets is accounted for,
 * FORGET closes what it should (and never what a request in flight still uses), and file handles
 * replace O_PATH fds when asked.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { PassthroughFs } from '../../src/passthrough/index.js';
import { ALL_CAPABLE, ListPlusSink, b, ctx, fdCount, mount, settle, tmpDir, views } from '../helpers/passthrough.js';
import { gatedSys } from '../helpers/passthrough-sys.js';

const c = ctx;

// Tests that count this process's fds run one at a time.
test.serial('every lookup is one reference: the inode lives until as many are forgotten, and its fd closes then', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'x');
  await settle();
  const base = fdCount();
  const e1 = await m.fs.lookup(c(), 1n, b('f'));
  const e2 = await m.fs.lookup(c(), 1n, b('f'));
  const e3 = await m.fs.lookup(c(), 1n, b('f'));
  t.is(e1.nodeid, e2.nodeid);
  t.is(e1.nodeid, e3.nodeid);
  await settle();
  t.is(fdCount(), base + 1, 'one O_PATH fd per inode, not per lookup');
  await m.fs.forget(c(), e1.nodeid, 2n);
  await m.fs.getattr(c(), e1.nodeid, undefined);
  await m.fs.forget(c(), e1.nodeid, 1n);
  await t.throwsAsync(m.fs.getattr(c(), e1.nodeid, undefined), { code: 'EBADF' });
  await settle();
  t.is(fdCount(), base);
  t.is(m.fs.stats().inodes, 1, 'only the root is left');
});

test.serial('no fd leak: 300 files looked up, opened, read, released, batch-forgotten', async (t) => {
  const m = await mount(t);
  for (let i = 0; i < 300; i++) fs.writeFileSync(m.p(`f${i}`), `file ${i}`);
  await settle();
  const base = fdCount();
  const items: { nodeid: bigint; nlookup: bigint }[] = [];
  await Promise.all(
    Array.from({ length: 300 }, async (_, i) => {
      const e = await m.fs.lookup(c(), 1n, b(`f${i}`));
      const o = await m.fs.open(c(), e.nodeid, n.O_RDONLY, 0);
      const dest = views(16, 16);
      const got = await m.fs.read(c(), e.nodeid, o.fh, 0n, 16, 0, dest);
      t.is(Buffer.from(dest[0]!.subarray(0, got)).toString(), `file ${i}`);
      await m.fs.flush(c(), e.nodeid, o.fh, 7n);
      await m.fs.release(c(), e.nodeid, o.fh, 0, 0);
      items.push({ nodeid: e.nodeid, nlookup: 1n });
    }),
  );
  t.is(m.fs.stats().inodes, 301);
  t.is(m.fs.stats().handles, 0);
  await m.fs.batchForget(c(), items);
  await settle();
  t.is(fdCount(), base);
  t.deepEqual(m.fs.stats(), { inodes: 1, handles: 0, lockOwners: 0 });
});

test.serial('READDIRPLUS references are forgotten like lookups; an entry that did not fit gives its reference back', async (t) => {
  const m = await mount(t);
  for (let i = 0; i < 50; i++) fs.writeFileSync(m.p(`entry-${i}`), '');
  await settle();
  const base = fdCount();
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  const sink = new ListPlusSink(2000);
  await m.fs.readdirplus(c(), 1n, fh, 0n, sink);
  const given = sink.entries.filter((x) => x.e !== null);
  t.true(given.length > 0 && given.length < 50);
  t.is(m.fs.stats().inodes, 1 + given.length, 'exactly one inode per entry delivered');
  await m.fs.batchForget(c(), given.map((x) => ({ nodeid: x.e!.nodeid, nlookup: 1n })));
  await m.fs.releasedir(c(), 1n, fh, 0);
  await settle();
  t.is(fdCount(), base);
  t.is(m.fs.stats().inodes, 1);
});

test('the root is never forgotten', async (t) => {
  const m = await mount(t);
  await m.fs.forget(c(), 1n, 1000n);
  await m.fs.batchForget(c(), [{ nodeid: 1n, nlookup: 5n }]);
  t.is((await m.fs.getattr(c(), 1n, undefined)).attr.mode & n.S_IFMT, n.S_IFDIR);
  fs.writeFileSync(m.p('f'), '');
  await m.fs.lookup(c(), 1n, b('f'));
});

test('over-forgetting and forgetting unknown nodeids are harmless', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), '');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  await m.fs.forget(c(), e.nodeid, 5n);
  await m.fs.forget(c(), e.nodeid, 1n);
  await m.fs.forget(c(), 12345n, 1n);
  await t.throwsAsync(m.fs.getattr(c(), e.nodeid, undefined), { code: 'EBADF' });
});

test('FORGET while a GETATTR is in flight: the request finishes on the right file, the fd closes after it', async (t) => {
  const g = gatedSys('statx');
  const m = await mount(t, {}, { sys: g.sys });
  fs.writeFileSync(m.p('target'), '12345');
  const e = await m.fs.lookup(c(), 1n, b('target'));
  const held = g.arm();
  const pending = m.fs.getattr(c(), e.nodeid, undefined);
  await held;
  await m.fs.forget(c(), e.nodeid, 1n);
  // Open more files meanwhile: had the fd been closed, its number could now name one of these.
  fs.writeFileSync(m.p('other'), 'other content');
  const others = await Promise.all([1, 2, 3].map(() => n.openat(n.AT_FDCWD, m.p('other'), n.O_RDONLY)));
  g.release();
  const a = await pending;
  t.is(a.attr.size, 5n);
  t.is(a.attr.ino, fs.statSync(m.p('target'), { bigint: true }).ino);
  await Promise.all(others.map((fd) => n.close(fd)));
  await t.throwsAsync(m.fs.getattr(c(), e.nodeid, undefined), { code: 'EBADF' });
});

test('RELEASE while a READ is in flight: the read completes from the same file', async (t) => {
  const g = gatedSys('preadv');
  const m = await mount(t, {}, { sys: g.sys });
  fs.writeFileSync(m.p('f'), 'right file');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  const o = await m.fs.open(c(), e.nodeid, n.O_RDONLY, 0);
  const held = g.arm();
  const dest = views(64, 64);
  const pending = m.fs.read(c(), e.nodeid, o.fh, 0n, 64, 0, dest);
  await held;
  await m.fs.release(c(), e.nodeid, o.fh, 0, 0);
  fs.writeFileSync(m.p('g'), 'WRONG FILE');
  const others = await Promise.all([1, 2, 3].map(() => n.openat(n.AT_FDCWD, m.p('g'), n.O_RDONLY)));
  g.release();
  const got = await pending;
  t.is(Buffer.from(dest[0]!.subarray(0, got)).toString(), 'right file');
  await Promise.all(others.map((fd) => n.close(fd)));
});

test('hard links and renames keep the nodeid; a deleted and re-created name gets a new one', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('a'), 'x');
  fs.linkSync(m.p('a'), m.p('b'));
  const a = await m.fs.lookup(c(), 1n, b('a'));
  t.is((await m.fs.lookup(c(), 1n, b('b'))).nodeid, a.nodeid);
  fs.renameSync(m.p('a'), m.p('renamed'));
  t.is((await m.fs.lookup(c(), 1n, b('renamed'))).nodeid, a.nodeid);
  await m.fs.forget(c(), a.nodeid, 3n);
  fs.rmSync(m.p('renamed'));
  fs.rmSync(m.p('b'));
  fs.writeFileSync(m.p('a'), 'y');
  t.not((await m.fs.lookup(c(), 1n, b('a'))).nodeid, a.nodeid);
});

test('an unlinked file stays reachable through its nodeid while the guest holds it (O_PATH fd)', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'data');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  await m.fs.unlink(c(), 1n, b('f'));
  const a = await m.fs.getattr(c(), e.nodeid, undefined);
  t.is(a.attr.nlink, 0);
  t.is(a.attr.size, 4n);
});

test.serial('file handles (prefer, fd cache off): inodes hold no fds, and everything still works', async (t) => {
  const m = await mount(t, { inodeFileHandles: 'prefer', handleFdCacheSize: 0 });
  for (let i = 0; i < 20; i++) fs.writeFileSync(m.p(`f${i}`), `content ${i}`);
  fs.mkdirSync(m.p('d'));
  await settle();
  const base = fdCount();
  const entries = await Promise.all(Array.from({ length: 20 }, (_, i) => m.fs.lookup(c(), 1n, b(`f${i}`))));
  await settle();
  t.is(fdCount(), base, 'no O_PATH fd kept per inode');
  t.is((await m.fs.lookup(c(), 1n, b('f3'))).nodeid, entries[3]!.nodeid, 'the same handle is the same nodeid');
  const o = await m.fs.open(c(), entries[3]!.nodeid, n.O_RDWR, 0);
  const dest = views(32, 32);
  t.is(Buffer.from(dest[0]!.subarray(0, await m.fs.read(c(), entries[3]!.nodeid, o.fh, 0n, 32, 0, dest))).toString(), 'content 3');
  const d = await m.fs.lookup(c(), 1n, b('d'));
  const sub = await m.fs.mkdir(c(), d.nodeid, b('sub'), 0o755);
  await m.fs.create(c(), sub.nodeid, b('x'), 0o644, n.O_CREAT | n.O_WRONLY, 0);
  t.true(fs.existsSync(m.p('d', 'sub', 'x')));
  fs.linkSync(m.p('f1'), m.p('f1-link'));
  t.is((await m.fs.lookup(c(), 1n, b('f1-link'))).nodeid, entries[1]!.nodeid);
  // The root keeps its fd: reached again by "." or "..", it is still nodeid 1.
  t.is((await m.fs.lookup(c(), 1n, b('.'))).nodeid, 1n);
  t.is((await m.fs.lookup(c(), d.nodeid, b('..'))).nodeid, 1n);
  t.is((await m.fs.lookup(c(), sub.nodeid, b('..'))).nodeid, d.nodeid);
});

test('file handles: a file deleted on the host is ESTALE (no fd kept it alive: fd cache off)', async (t) => {
  const m = await mount(t, { inodeFileHandles: 'mandatory', handleFdCacheSize: 0 });
  fs.writeFileSync(m.p('f'), 'x');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  await settle(); // the lookup's O_PATH fd is closed in the background (batched closes)
  fs.rmSync(m.p('f'));
  await t.throwsAsync(m.fs.getattr(c(), e.nodeid, undefined), { code: 'ESTALE' });
});

test('file handles where the filesystem has none: mandatory fails INIT, prefer falls back to fds', async (t) => {
  // procfs cannot make file handles.
  const mandatory = new PassthroughFs({ sharedDir: '/proc/self', inodeFileHandles: 'mandatory' });
  t.teardown(() => mandatory.close());
  await t.throwsAsync(mandatory.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 }), { code: 'EOPNOTSUPP' });
  const prefer = new PassthroughFs({ sharedDir: '/proc/self', inodeFileHandles: 'prefer' });
  t.teardown(() => prefer.close());
  await prefer.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 });
  const e = await prefer.lookup(c(), 1n, b('status'));
  t.is(e.attr.mode & n.S_IFMT, n.S_IFREG);
});

test('DESTROY drops every inode and handle; a new INIT starts over', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'x');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  await m.fs.open(c(), e.nodeid, n.O_RDONLY, 0);
  await m.fs.opendir(c(), 1n, 0);
  await m.fs.destroy();
  t.deepEqual(m.fs.stats(), { inodes: 0, handles: 0, lockOwners: 0 });
  await t.throwsAsync(m.fs.getattr(c(), 1n, undefined), { code: 'EBADF' });
  await m.fs.init({ minor: 38, capable: ALL_CAPABLE, maxReadahead: 0 });
  const again = await m.fs.lookup(c(), 1n, b('f'));
  t.not(again.nodeid, e.nodeid, 'nodeids are never reused, not even across sessions');
});

test('the shared directory may be a symlink given by the admin; it is resolved once', async (t) => {
  const base = tmpDir(t);
  fs.mkdirSync(`${base}/real`);
  fs.writeFileSync(`${base}/real/f`, 'x');
  fs.symlinkSync(`${base}/real`, `${base}/link`);
  const m = await mount(t, { sharedDir: `${base}/link` });
  t.is((await m.fs.lookup(c(), 1n, b('f'))).attr.size, 1n);
});
