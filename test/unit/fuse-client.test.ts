/**
 * src/frontend/fuse-client against our own FuseServer over an in-process transport (server.handle()
 * called directly), with MemoryFileSystem behind it: every typed call round-trips, error replies become
 * FuseReplyError, the lookup-count contract holds end to end, and bad replies are caught.
 *
 * 1. init negotiates 7.38; 2. a tree is built and read back; 3. errors carry errno and name;
 * 4. references taken by lookup/create/readdirplus are returned by forget/batchForget.
 */
import { InProcessTransport } from '../helpers/fuse-inprocess.js';
import test from 'ava';
import { Errno } from '../../protocol/errno.js';
import { FUSE_CREATE_SUPP_GROUP, FUSE_SETXATTR_EXT, FATTR_MODE, FATTR_SIZE } from '../../protocol/fuse-flags.js';
import { FUSE_ROOT_ID, RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../protocol/fuse-opcodes.js';
import { ProtocolError } from '../../protocol/errors.js';
import { FuseClient, FuseReplyError, type FuseTransport } from '../../src/frontend/fuse-client.js';
import type { Context, Entry } from '../../src/fuse/filesystem.js';
import { MemoryFileSystem } from '../../src/fuse/memory-filesystem.js';
import { NullFileSystem } from '../../src/fuse/null-filesystem.js';
import { FuseServer } from '../../src/fuse/server.js';

const O_RDWR = 2;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const S_IFREG = 0o100000;
const S_IFIFO = 0o010000;


async function setup(fs = new MemoryFileSystem({ want: FUSE_SETXATTR_EXT })) {
  const server = new FuseServer(fs);
  const transport = new InProcessTransport(server, 24);
  const c = new FuseClient(transport, { uid: 1000, gid: 1000, pid: 7 });
  const init = await c.init();
  return { fs, server, transport, c, init };
}

async function errno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FuseReplyError) return e.code;
    throw e;
  }
  throw new Error('expected an error reply');
}

test('init negotiates 7.38 and the flags both sides want', async (t) => {
  const { init, c, server } = await setup();
  t.like(init, { major: 7, minor: 38, max_write: 1 << 20 });
  t.true((c.flags & FUSE_SETXATTR_EXT) !== 0n);
  t.is(server.session.minor, 38);
});

test('a tree is built, written, read back and torn down through typed calls', async (t) => {
  const { c, fs } = await setup();
  const dir = await c.mkdir(FUSE_ROOT_ID, 'd', 0o755, 0o022);
  t.is(dir.attr.mode, 0o40755);
  const cr = await c.create(dir.nodeid, 'f.txt', 0o666, O_RDWR | O_CREAT | O_EXCL, 0o022);
  t.is(cr.entry.attr.mode, S_IFREG | 0o644);
  const f = cr.entry.nodeid;
  const fh = cr.open.fh;
  t.is(await c.write(f, fh, 0n, [Buffer.from('hello '), Buffer.from('world')]), 11);
  t.is((await c.read(f, fh, 6n, 100)).toString(), 'world');
  t.is((await c.getattr(f)).attr.size, 11n);
  t.is((await c.getattr(f, fh)).attr.size, 11n);
  const sa = await c.setattr(f, { valid: FATTR_SIZE | FATTR_MODE, size: 5n, mode: 0o600 });
  t.like(sa.attr, { size: 5n, mode: S_IFREG | 0o600 });
  await c.fallocate(f, fh, 0n, 4096n);
  t.is(await c.lseek(f, fh, 10n, 3 /* SEEK_DATA */), 10n);
  t.is(await c.copyFileRange(f, fh, 0n, f, fh, 5n, 5n), 5);
  t.is((await c.read(f, fh, 0n, 10)).toString(), 'hellohello');
  await c.flush(f, fh, 99n);
  await c.fsync(f, fh, true);
  t.is((await c.getlk(f, fh, 1n, { start: 0n, end: 10n, type: 1, pid: 7 })).type, 2);
  await c.setlk(f, fh, 1n, { start: 0n, end: 0n, type: 1, pid: 7 }, { flock: true, sleep: true });
  await c.release(f, fh);

  const sl = await c.symlink(dir.nodeid, 'link', '../d/f.txt');
  t.is((await c.readlink(sl.nodeid)).toString(), '../d/f.txt');
  const hl = await c.link(f, FUSE_ROOT_ID, 'hard');
  t.is(hl.attr.nlink, 2);
  const fifo = await c.mknod(dir.nodeid, 'fifo', S_IFIFO | 0o644);
  t.is(fifo.attr.mode & 0o170000, S_IFIFO);
  await c.access(f, 4);

  await c.setxattr(f, 'user.k', 'v1');
  await c.setxattr(f, 'user.j', Buffer.from([0, 1, 2]));
  t.is((await c.getxattr(f, 'user.k')).toString(), 'v1');
  t.is(await c.getxattrSize(f, 'user.j'), 3);
  t.deepEqual(await c.listxattr(f), ['user.k', 'user.j']);
  t.is(await c.listxattrSize(f), 14);
  t.is(await errno(c.getxattr(f, 'user.j', 2)), 'ERANGE');
  await c.removexattr(f, 'user.k');
  t.is(await errno(c.getxattr(f, 'user.k')), 'ENODATA');

  const dh = (await c.opendir(dir.nodeid)).fh;
  const names = (await c.readdir(dir.nodeid, dh)).map((e) => e.name);
  t.deepEqual(names, ['.', '..', 'f.txt', 'link', 'fifo']);
  const page = await c.readdir(dir.nodeid, dh, 2n, 80);
  t.deepEqual(page.map((e) => [e.name, e.off]), [['f.txt', 3n], ['link', 4n]], 'resumes at an offset, stops at the size');
  await c.fsyncdir(dir.nodeid, dh);
  await c.releasedir(dir.nodeid, dh);

  await c.rename(dir.nodeid, 'f.txt', FUSE_ROOT_ID, 'moved');
  t.is((await c.lookup(FUSE_ROOT_ID, 'moved')).nodeid, f);
  t.is(await errno(c.rename(FUSE_ROOT_ID, 'moved', FUSE_ROOT_ID, 'hard', RENAME_NOREPLACE)), 'EEXIST');
  await c.rename(FUSE_ROOT_ID, 'moved', dir.nodeid, 'link', RENAME_EXCHANGE);
  t.is((await c.lookup(dir.nodeid, 'link')).nodeid, f);

  const st = await c.statfs();
  t.like(st, { bsize: 4096, namelen: 255 });
  await c.syncfs();
  const tmp = await c.tmpfile(dir.nodeid, 0o600, O_RDWR);
  t.is(tmp.entry.attr.nlink, 0);
  await c.release(tmp.entry.nodeid, tmp.open.fh);

  t.is(await errno(c.rmdir(FUSE_ROOT_ID, 'd')), 'ENOTEMPTY');
  for (const n of ['link', 'fifo']) await c.unlink(dir.nodeid, n);
  await c.unlink(FUSE_ROOT_ID, 'moved');
  await c.unlink(FUSE_ROOT_ID, 'hard');
  await c.rmdir(FUSE_ROOT_ID, 'd');
  t.is(await errno(c.lookup(FUSE_ROOT_ID, 'd')), 'ENOENT');
  t.true(fs.nodeCount > 1, 'unlinked nodes the kernel still references stay alive');
});

test('error replies carry errno and name; requests before INIT are EIO', async (t) => {
  const server = new FuseServer(new NullFileSystem());
  const c = new FuseClient(new InProcessTransport(server, 24));
  const e = await t.throwsAsync(c.getattr(FUSE_ROOT_ID), { instanceOf: FuseReplyError });
  t.is(e?.errno, Errno.EIO);
  t.is(e?.code, 'EIO');
  await c.init();
  const e2 = await t.throwsAsync(c.lookup(FUSE_ROOT_ID, 'x'), { instanceOf: FuseReplyError });
  t.like(e2, { errno: 38, code: 'ENOSYS', opcode: 1 });
  await c.destroy();
  t.is(c.flags, 0n);
  // The Rust virtiofsd completes DESTROY with no reply at all: accepted too.
  const silent: FuseTransport = { request: async () => ({ usedLen: 0, data: new Uint8Array(0) }) };
  await t.notThrowsAsync(new FuseClient(silent).destroy());
  await t.throwsAsync(new FuseClient(silent).statfs(), { instanceOf: ProtocolError, message: /used length 0/ });
});

test('lookup counts: lookup/create/readdirplus take references, forget/batchForget return them', async (t) => {
  const { c, fs, transport } = await setup();
  const cr = await c.create(FUSE_ROOT_ID, 'a', 0o644, O_RDWR | O_CREAT);
  const a = cr.entry.nodeid;
  await c.lookup(FUSE_ROOT_ID, 'a');
  t.is(fs.lookupCount(a), 2n);
  const dh = (await c.opendir(FUSE_ROOT_ID)).fh;
  const plus = await c.readdirplus(FUSE_ROOT_ID, dh);
  t.deepEqual(plus.map((p) => [p.dirent.name, p.entry.nodeid === 0n]), [['.', true], ['..', true], ['a', false]]);
  t.is(fs.lookupCount(a), 3n);
  await c.forget(a, 1n);
  t.is(fs.lookupCount(a), 2n);
  const last = transport.sent[transport.sent.length - 1]!;
  t.deepEqual([last.queue, last.writableLen], [0, 0], 'FORGET goes to the hiprio queue with no reply buffer');
  await c.unlink(FUSE_ROOT_ID, 'a');
  await c.release(a, cr.open.fh);
  t.is(fs.lookupCount(a), 2n, 'still referenced by the kernel');
  await c.batchForget([{ nodeid: a, nlookup: 2n }]);
  t.is(fs.lookupCount(a), undefined, 'unlinked, closed and forgotten: freed');
  await c.releasedir(FUSE_ROOT_ID, dh);
});

test('DESTROY (unmount) drops the kernel references and handles, not the tree', async (t) => {
  const { c, fs } = await setup();
  const cr = await c.create(FUSE_ROOT_ID, 'keep', 0o644, O_RDWR | O_CREAT);
  await c.write(cr.entry.nodeid, cr.open.fh, 0n, Buffer.from('kept'));
  await c.unlink(FUSE_ROOT_ID, 'keep');
  const cr2 = await c.create(FUSE_ROOT_ID, 'keep', 0o644, O_RDWR | O_CREAT);
  await c.write(cr2.entry.nodeid, cr2.open.fh, 0n, Buffer.from('again'));
  await c.destroy();
  t.is(fs.lookupCount(cr.entry.nodeid), undefined, 'the unlinked, open file is freed');
  t.is(fs.lookupCount(cr2.entry.nodeid), 0n);
  await c.init();
  const e = await c.lookup(FUSE_ROOT_ID, 'keep');
  const o = await c.open(e.nodeid, 0);
  t.is((await c.read(e.nodeid, o.fh, 0n, 10)).toString(), 'again');
  t.is(await errno(c.read(e.nodeid, cr2.open.fh, 0n, 10)), 'EBADF', 'handles from before DESTROY are gone');
});

test('WRITE data segments travel as separate readable buffers', async (t) => {
  const { c, transport } = await setup();
  const cr = await c.create(FUSE_ROOT_ID, 'w', 0o644, O_RDWR | O_CREAT);
  await c.write(cr.entry.nodeid, cr.open.fh, 0n, [Buffer.alloc(3000, 1), Buffer.alloc(5000, 2)]);
  t.is(transport.sent[transport.sent.length - 1]!.segments, 4, 'header, write_in, two data segments');
  const back = await c.read(cr.entry.nodeid, cr.open.fh, 2990n, 20);
  t.deepEqual([...back], [...Buffer.alloc(10, 1), ...Buffer.alloc(10, 2)]);
});

test('supplementary group extension reaches the file system when negotiated', async (t) => {
  class Spy extends MemoryFileSystem {
    ctx?: Context;
    override async mkdir(ctx: Context, parent: bigint, name: Buffer, mode: number): Promise<Entry> {
      this.ctx = ctx;
      return super.mkdir(ctx, parent, name, mode);
    }
  }
  const { c, fs } = await setup(new Spy({ want: FUSE_CREATE_SUPP_GROUP }));
  c.suppGroup = 4321;
  await c.mkdir(FUSE_ROOT_ID, 'g', 0o755, 0o002);
  t.deepEqual((fs as Spy).ctx?.supplementaryGroups, [4321]);
  t.like((fs as Spy).ctx, { uid: 1000, gid: 1000, pid: 7, umask: 0o002, queue: 1 });
});

test('a reply with the wrong unique or length is rejected by the client', async (t) => {
  const { c, transport } = await setup();
  transport.tamper = (d) => {
    d[8] = (d[8] ?? 0) ^ 0xff;
  };
  const e = await t.throwsAsync(c.getattr(FUSE_ROOT_ID), { instanceOf: ProtocolError });
  t.is(e?.code, 'FUSE_BAD_REPLY');
  transport.tamper = (d) => {
    d[0] = 1;
  };
  t.is((await t.throwsAsync(c.statfs(), { instanceOf: ProtocolError }))?.code, 'FUSE_BAD_REPLY');
});
