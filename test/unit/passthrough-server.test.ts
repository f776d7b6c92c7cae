/**
 * PassthroughFs behind the real FUSE server, driven by the in-repo FuseClient over an in-process
 * transport (server.handle() called directly; replies land in split buffers as in guest memory):
 * the whole path from request bytes to host syscalls and back.
 *
 * 1. INIT negotiates what the passthrough asks for plus the server's own flags.
 * 2. A tree is built, read, renamed and removed with typed calls; host errors arrive as errno replies.
 * 3. Supplementary groups from FUSE_CREATE_SUPP_GROUP reach the host permission check.
 * 4. READDIRPLUS references come back through BATCH_FORGET: nothing is left but the root.
 * 5. Locks and INTERRUPT: a SETLKW is ended by FUSE_INTERRUPT for its unique.
 * 6. 64 requests in flight at once against a slow filesystem overlap.
 * 7. Confinement holds at the wire: "..", "/" in names.
 */
import { InProcessTransport } from '../helpers/fuse-inprocess.js';
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import * as F from '../../protocol/fuse-flags.js';
import { FUSE_ROOT_ID, FuseOpcode } from '../../protocol/fuse-opcodes.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { FuseServer } from '../../src/fuse/server.js';
import * as n from '../../src/native/fs.js';
import { OFFSET_MAX } from '../../src/passthrough/attr.js';
import { PassthroughFs, type PassthroughDeps, type PassthroughOptions } from '../../src/passthrough/index.js';
import { tmpDir } from '../helpers/passthrough.js';
import { slowSys } from '../helpers/passthrough-sys.js';


async function setup(t: ExecutionContext, opts: Partial<PassthroughOptions> = {}, deps: PassthroughDeps = {}) {
  const dir = opts.sharedDir ?? tmpDir(t);
  const pfs = new PassthroughFs({ ...opts, sharedDir: dir }, deps);
  t.teardown(() => pfs.close());
  const server = new FuseServer(pfs);
  const transport = new InProcessTransport(server);
  const c = new FuseClient(transport);
  const init = await c.init();
  return { dir, pfs, server, transport, c, init };
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

const lk = (type: number, start = 0n, end = OFFSET_MAX) => ({ type, start, end, pid: 0 });

test('1. INIT: the passthrough\'s flags and the server\'s', async (t) => {
  const { c } = await setup(t);
  for (const f of [F.FUSE_POSIX_LOCKS, F.FUSE_FLOCK_LOCKS, F.FUSE_DO_READDIRPLUS, F.FUSE_EXPORT_SUPPORT, F.FUSE_ATOMIC_O_TRUNC, F.FUSE_HANDLE_KILLPRIV_V2, F.FUSE_CREATE_SUPP_GROUP, F.FUSE_SETXATTR_EXT, F.FUSE_ASYNC_READ, F.FUSE_PARALLEL_DIROPS, F.FUSE_MAX_PAGES, F.FUSE_BIG_WRITES]) {
    t.not(c.flags & f, 0n, `0x${f.toString(16)}`);
  }
  t.is(c.flags & (F.FUSE_DONT_MASK | F.FUSE_WRITEBACK_CACHE | F.FUSE_POSIX_ACL), 0n);
});

test('2. a tree built, read and torn down over the wire; host errors as errno replies', async (t) => {
  const { c, dir } = await setup(t, { xattr: true });
  const d = await c.mkdir(FUSE_ROOT_ID, 'dir', 0o755);
  const cr = await c.create(d.nodeid, 'file', 0o100644, n.O_RDWR | n.O_CREAT);
  const payload = Buffer.alloc(200_000, 0x5a);
  t.is(await c.write(cr.entry.nodeid, cr.open.fh, 0n, [payload.subarray(0, 1000), payload.subarray(1000)]), payload.length);
  t.deepEqual(await c.read(cr.entry.nodeid, cr.open.fh, 0n, 300_000), payload);
  t.deepEqual(fs.readFileSync(`${dir}/dir/file`), payload);
  await c.flush(cr.entry.nodeid, cr.open.fh, 1n);
  await c.release(cr.entry.nodeid, cr.open.fh);
  const s = await c.symlink(d.nodeid, 'link', 'file');
  t.deepEqual(await c.readlink(s.nodeid), Buffer.from('file'));
  await c.link(cr.entry.nodeid, FUSE_ROOT_ID, 'hard');
  t.is((await c.getattr(cr.entry.nodeid)).attr.nlink, 2);
  await c.setattr(cr.entry.nodeid, { valid: F.FATTR_SIZE | F.FATTR_MODE, size: 10n, mode: 0o100600 });
  t.is(fs.statSync(`${dir}/hard`).size, 10);
  t.is(fs.statSync(`${dir}/hard`).mode & 0o777, 0o600);
  await c.setxattr(cr.entry.nodeid, 'user.k', 'value');
  t.deepEqual(await c.getxattr(cr.entry.nodeid, 'user.k'), Buffer.from('value'));
  t.is(await c.getxattrSize(cr.entry.nodeid, 'user.k'), 5);
  t.is(await errno(c.getxattr(cr.entry.nodeid, 'user.k', 2)), 'ERANGE');
  t.is(await errno(c.getxattr(cr.entry.nodeid, 'user.none')), 'ENODATA');
  t.deepEqual(await c.listxattr(cr.entry.nodeid), ['user.k']);
  const oh = await c.opendir(d.nodeid);
  const names = (await c.readdir(d.nodeid, oh.fh)).map((e) => e.name).sort();
  t.deepEqual(names, ['.', '..', 'file', 'link']);
  await c.releasedir(d.nodeid, oh.fh);
  await c.rename(d.nodeid, 'file', FUSE_ROOT_ID, 'moved');
  t.true(fs.existsSync(`${dir}/moved`));
  t.is(await errno(c.lookup(FUSE_ROOT_ID, 'nothing')), 'ENOENT');
  t.is(await errno(c.mkdir(FUSE_ROOT_ID, 'dir', 0o755)), 'EEXIST');
  t.is(await errno(c.rmdir(FUSE_ROOT_ID, 'dir')), 'ENOTEMPTY');
  t.is(await errno(c.rename(FUSE_ROOT_ID, 'moved', FUSE_ROOT_ID, 'hard', 1)), 'EEXIST');
  await c.unlink(d.nodeid, 'link');
  await c.rmdir(FUSE_ROOT_ID, 'dir');
  t.is((await c.statfs()).namelen, 255);
  const sx = await c.statx(FUSE_ROOT_ID, n.STATX_BASIC_STATS);
  t.is(sx.stat.mode & n.S_IFMT, n.S_IFDIR);
});

test('3. FUSE_CREATE_SUPP_GROUP: a member of the directory\'s group (a supplementary group) may create there', async (t) => {
  const { c, dir } = await setup(t);
  fs.mkdirSync(`${dir}/team`);
  fs.chownSync(`${dir}/team`, 0, 3000);
  fs.chmodSync(`${dir}/team`, 0o2775);
  const team = await c.lookup(FUSE_ROOT_ID, 'team');
  c.uid = 1000;
  c.gid = 1000;
  t.is(await errno(c.create(team.nodeid, 'denied', 0o100644, n.O_WRONLY | n.O_CREAT)), 'EACCES');
  c.suppGroup = 3000;
  const cr = await c.create(team.nodeid, 'allowed', 0o100644, n.O_WRONLY | n.O_CREAT);
  t.is(cr.entry.attr.uid, 1000);
  t.is(cr.entry.attr.gid, 3000);
});

test('4. READDIRPLUS references come back through BATCH_FORGET', async (t) => {
  const { c, dir, pfs } = await setup(t);
  for (let i = 0; i < 300; i++) fs.writeFileSync(`${dir}/f${i}`, '');
  const oh = await c.opendir(FUSE_ROOT_ID);
  const refs: { nodeid: bigint; nlookup: bigint }[] = [];
  let offset = 0n;
  for (;;) {
    const batch = await c.readdirplus(FUSE_ROOT_ID, oh.fh, offset, 4096);
    if (batch.length === 0) break;
    for (const e of batch) if (e.entry.nodeid !== 0n) refs.push({ nodeid: e.entry.nodeid, nlookup: 1n });
    offset = batch[batch.length - 1]!.dirent.off;
  }
  t.is(refs.length, 300);
  t.is(pfs.stats().inodes, 301);
  await c.batchForget(refs);
  await c.releasedir(FUSE_ROOT_ID, oh.fh);
  t.deepEqual(pfs.stats(), { inodes: 1, handles: 0, lockOwners: 0 });
});

test('5. SETLKW over the wire, ended by FUSE_INTERRUPT for its unique', async (t) => {
  const { c, dir, transport } = await setup(t);
  fs.writeFileSync(`${dir}/f`, 'x');
  const e = await c.lookup(FUSE_ROOT_ID, 'f');
  const h1 = await c.open(e.nodeid, n.O_RDWR);
  const h2 = await c.open(e.nodeid, n.O_RDWR);
  await c.setlk(e.nodeid, h1.fh, 1n, lk(n.F_WRLCK));
  t.is(await errno(c.setlk(e.nodeid, h2.fh, 2n, lk(n.F_WRLCK))), 'EAGAIN');
  t.is((await c.getlk(e.nodeid, h2.fh, 2n, lk(n.F_RDLCK))).type, n.F_WRLCK);
  const waiting = errno(c.setlk(e.nodeid, h2.fh, 2n, lk(n.F_WRLCK), { sleep: true }));
  await new Promise((r) => setTimeout(r, 50));
  const pending = transport.sent.filter((s) => s.opcode === FuseOpcode.FUSE_SETLKW).pop()!;
  await c.interrupt(pending.unique);
  t.is(await waiting, 'EINTR');
  await c.flush(e.nodeid, h1.fh, 1n);
  await c.setlk(e.nodeid, h2.fh, 2n, lk(n.F_WRLCK), { sleep: true });
  await c.setlk(e.nodeid, h1.fh, 9n, lk(n.F_RDLCK), { flock: true });
});

test('6. 64 requests in flight through the server against a slow filesystem overlap', async (t) => {
  // A LOOKUP of a name not held yet is a statxNamesRecords job, then an openStat job.
  const slow = slowSys(150, ['statxNamesRecords', 'openStat']);
  t.teardown(slow.close);
  const { c, dir } = await setup(t, { threadPoolSize: 64 }, { sys: slow.sys });
  for (let i = 0; i < 64; i++) fs.writeFileSync(`${dir}/f${i}`, 'x'.repeat(i));
  const t0 = Date.now();
  const entries = await Promise.all(Array.from({ length: 64 }, (_, i) => c.lookup(FUSE_ROOT_ID, `f${i}`)));
  const ms = Date.now() - t0;
  entries.forEach((e, i) => t.is(e.attr.size, BigInt(i)));
  t.log(`64 lookups: ${ms} ms at 2 x 150 ms each; peak ${slow.peak()} at once`);
  t.true(ms < (64 * 300) / 6, `${ms} ms: they did not overlap`);
  t.true(slow.peak() >= 60);
});

test('7. confinement at the wire: ".." of the root is the root; a name with "/" never reaches the host', async (t) => {
  const { c } = await setup(t);
  t.is((await c.lookup(FUSE_ROOT_ID, '..')).nodeid, FUSE_ROOT_ID);
  t.is(await errno(c.lookup(FUSE_ROOT_ID, '../etc')), 'EINVAL');
  t.is(await errno(c.mkdir(FUSE_ROOT_ID, '..', 0o755)), 'EINVAL');
  t.is(await errno(c.getattr(77777n)), 'EBADF');
});
