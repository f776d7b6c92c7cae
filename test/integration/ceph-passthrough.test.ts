/**
 * The passthrough filesystem exporting a CephFS directory, driven over the wire: PassthroughFs behind
 * the real FuseServer, requests from the in-repo FuseClient in-process, the shared directory a fresh
 * directory on the ceph-fuse mount of the one-machine cluster (scripts/ceph-cluster.sh). What a guest
 * of a daemon on CephFS depends on, one behaviour per test:
 *
 *  1. For each --inode-file-handles mode (never, prefer, mandatory): lookup, getattr and READDIRPLUS
 *     carry Ceph's inode numbers (above 2^32) unchanged; create, write, fsync, read, rename (also by
 *     another client, under an inode the guest holds), link and unlink work and the host sees each
 *     step; with prefer and mandatory the inodes are really held by file handles (no O_PATH fd each).
 *  2. ceph.* virtual xattrs are readable by name (GETXATTR, also its size probe) but not listed
 *     (LISTXATTR), exactly as on the host; user.* xattrs are stored and listed.
 *  3. O_TMPFILE (FUSE_TMPFILE) answers EOPNOTSUPP, RENAME2 with NOREPLACE or EXCHANGE answers EINVAL
 *     (EEXIST for NOREPLACE onto a name that exists): the host's errno, never EIO, nothing moved, and
 *     the daemon logs no unexpected-error line for them.
 *  4. A directory's size is what the host says (its entry count, client_dirsize_rbytes = false), in
 *     GETATTR and in READDIRPLUS; STATFS passes Ceph's 4 MiB block size.
 *  5. Two daemons, each on its own ceph-fuse client of the same directory (two hosts, in production):
 *     data one writes and fsyncs the other reads; a POSIX lock one holds the other's GETLK reports,
 *     its SETLK is refused with EAGAIN, and its SETLKW waits until the first lets go.
 *
 * Run with `VFS_CEPH=1 npx ava dist/test/integration/ceph-passthrough.test.js` (mandatory under CI).
 */
import { InProcessTransport } from '../helpers/fuse-inprocess.js';
import test, { type ExecutionContext } from 'ava';
import createDebug from 'debug';
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { FuseServer } from '../../src/fuse/server.js';
import { configureLog } from '../../src/log.js';
import * as n from '../../src/native/fs.js';
import { OFFSET_MAX } from '../../src/passthrough/attr.js';
import { PassthroughFs, type InodeFileHandles, type PassthroughOptions } from '../../src/passthrough/index.js';
import { cephCluster, cephMountDir } from '../helpers/ceph.js';
import { cephTest } from '../helpers/ceph-test.js';

const started = Date.now();
test.after.always('time this file adds', (t) => {
  t.log(`Ceph passthrough integration tests: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});

/**
 * The daemon's warnings and errors, and the FUSE server's own warnings (its "unexpected error" lines
 * among them), so a test can assert that a host errno went back without one.
 */
const logLines: string[] = [];
configureLog({ level: 'warn', sink: (line) => void logLines.push(line) });
createDebug.enable([process.env.DEBUG, 'virtiofsd-ts:fuse:warn'].filter(Boolean).join(','));


/** A daemon (PassthroughFs + FuseServer) on `dir` and a client that has done INIT. */
async function serve(t: ExecutionContext, dir: string, opts: Partial<PassthroughOptions> = {}) {
  const pfs = new PassthroughFs({ xattr: true, ...opts, sharedDir: dir });
  t.teardown(() => pfs.close());
  const c = new FuseClient(new InProcessTransport(new FuseServer(pfs)));
  await c.init();
  return { pfs, c };
}

async function errno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FuseReplyError) return e.code;
    throw e;
  }
  return 'no error';
}

/** Open fds of this process on files directly in `dir` (other tests' fds are elsewhere). */
function fdsUnder(dir: string): number {
  let count = 0;
  for (const fd of nodefs.readdirSync('/proc/self/fd')) {
    try {
      if (path.dirname(nodefs.readlinkSync(`/proc/self/fd/${fd}`)) === dir) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

const hostIno = (p: string): bigint => nodefs.statSync(p, { bigint: true }).ino;
const lk = (type: number) => ({ type, start: 0n, end: OFFSET_MAX, pid: 0 });

for (const mode of ['never', 'prefer', 'mandatory'] as InodeFileHandles[]) {
  cephTest(`1. --inode-file-handles=${mode}: Ceph inode numbers reach the guest unchanged; create/write/read/rename/link/unlink over the wire`, async (t, dir) => {
    const { c } = await serve(t, dir, { inodeFileHandles: mode });
    const P = (...p: string[]) => path.join(dir, ...p);

    const d = await c.mkdir(FUSE_ROOT_ID, 'd', 0o755);
    t.is(d.attr.ino, hostIno(P('d')), 'MKDIR: st_ino is the host inode');
    t.true(d.attr.ino > 2n ** 32n, `ino ${d.attr.ino}: above 2^32, so a 32-bit field anywhere would truncate it`);
    t.not(d.nodeid, d.attr.ino, 'the nodeid is the daemon\'s own, the ino is Ceph\'s');

    const cr = await c.create(d.nodeid, 'f', 0o100644, n.O_RDWR | n.O_CREAT);
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + 3) & 0xff;
    t.is(await c.write(cr.entry.nodeid, cr.open.fh, 0n, data), data.length);
    await c.fsync(cr.entry.nodeid, cr.open.fh);
    t.deepEqual(nodefs.readFileSync(P('d', 'f')), data, 'the host reads what was written');
    t.deepEqual(await c.read(cr.entry.nodeid, cr.open.fh, 0n, 400_000), data);
    const ga = await c.getattr(cr.entry.nodeid);
    t.is(ga.attr.ino, hostIno(P('d', 'f')));
    t.is(ga.attr.size, BigInt(data.length));
    await c.release(cr.entry.nodeid, cr.open.fh);

    // Renamed by someone else (another client of the directory) while the guest holds the inode:
    // the inode stays reachable, whether by O_PATH fd or by file handle.
    nodefs.renameSync(P('d', 'f'), P('d', 'moved'));
    const o = await c.open(cr.entry.nodeid, n.O_RDONLY);
    t.deepEqual(await c.read(cr.entry.nodeid, o.fh, 0n, 16), data.subarray(0, 16), 'read through the held inode after a host rename');
    await c.release(cr.entry.nodeid, o.fh);
    t.is((await c.lookup(d.nodeid, 'moved')).nodeid, cr.entry.nodeid, 'the same host inode keeps its nodeid');

    await c.rename(d.nodeid, 'moved', FUSE_ROOT_ID, 'top', 0);
    t.false(nodefs.existsSync(P('d', 'moved')));
    t.is(hostIno(P('top')), ga.attr.ino, 'RENAME moved the inode on the host');
    const ln = await c.link(cr.entry.nodeid, d.nodeid, 'hard');
    t.is(ln.nodeid, cr.entry.nodeid, 'a hard link is the same nodeid');
    t.is(ln.attr.nlink, 2);
    t.is(nodefs.statSync(P('d', 'hard')).nlink, 2);
    await c.unlink(FUSE_ROOT_ID, 'top');
    await c.unlink(d.nodeid, 'hard');
    t.is(await errno(c.lookup(d.nodeid, 'hard')), 'ENOENT');
    t.deepEqual(nodefs.readdirSync(P('d')), []);

    // READDIRPLUS carries the same numbers as the host's stat.
    for (let i = 0; i < 5; i++) nodefs.writeFileSync(P('d', `e${i}`), `${i}`);
    const dh = await c.opendir(d.nodeid);
    const plus = (await c.readdirplus(d.nodeid, dh.fh, 0n, 64 << 10)).filter((x) => !['.', '..'].includes(x.dirent.name.toString()));
    await c.releasedir(d.nodeid, dh.fh);
    t.is(plus.length, 5);
    for (const x of plus) {
      const name = x.dirent.name.toString();
      t.is(x.entry.attr.ino, hostIno(P('d', name)), `${name}: READDIRPLUS attr ino`);
      t.is(x.dirent.ino, x.entry.attr.ino, `${name}: d_ino = st_ino`);
    }
    t.is(await errno(c.rmdir(FUSE_ROOT_ID, 'd')), 'ENOTEMPTY');
  });
}

cephTest('1. file handles on ceph-fuse: with prefer and mandatory an inode holds no O_PATH fd (the bounded fd cache aside); with never each holds one', async (t, dir) => {
  const N = 120;
  for (let i = 0; i < N; i++) nodefs.writeFileSync(path.join(dir, `h${i}`), '');
  const grown: Record<string, number> = {};
  for (const mode of ['never', 'prefer', 'mandatory'] as InodeFileHandles[]) {
    const { c, pfs } = await serve(t, dir, { inodeFileHandles: mode, handleFdCacheSize: 16 });
    // The previous mode's daemon closes its fds in the background: count from what is open now.
    await new Promise((r) => setTimeout(r, 100));
    const before = fdsUnder(dir);
    for (let i = 0; i < N; i++) await c.lookup(FUSE_ROOT_ID, `h${i}`);
    grown[mode] = fdsUnder(dir) - before;
    t.is(pfs.stats().inodes, N + 1);
    await pfs.close();
  }
  t.log(`open fds after ${N} lookups: ${JSON.stringify(grown)}`);
  t.is(grown.never, N, 'never: one O_PATH fd per inode');
  // 16 the fd cache may keep, plus the mount's one fd for open_by_handle_at (taken by the first handle-backed inode).
  t.true(grown.prefer! <= 17, `prefer: file handles, no fd per inode (only the 16 the fd cache may keep + 1 mount fd): ${grown.prefer}`);
  t.true(grown.mandatory! <= 17, `mandatory: file handles, no fd per inode (only the 16 the fd cache may keep + 1 mount fd): ${grown.mandatory}`);
});

cephTest('2. ceph.* virtual xattrs: readable by name through GETXATTR, not listed by LISTXATTR; user.* stored and listed', async (t, dir) => {
  const sub = path.join(dir, 'd');
  nodefs.mkdirSync(sub);
  nodefs.writeFileSync(path.join(sub, 'file'), Buffer.alloc(4096, 1));
  nodefs.mkdirSync(path.join(sub, 'sub'));
  const { c } = await serve(t, dir);
  const d = await c.lookup(FUSE_ROOT_ID, 'd');
  const f = await c.lookup(d.nodeid, 'file');

  t.is((await c.getxattr(d.nodeid, 'ceph.dir.entries')).toString(), '2');
  t.is((await c.getxattr(d.nodeid, 'ceph.dir.files')).toString(), '1');
  t.is((await c.getxattr(d.nodeid, 'ceph.dir.subdirs')).toString(), '1');
  t.is(await c.getxattrSize(d.nodeid, 'ceph.dir.entries'), 1, 'the size probe (size 0) works on a virtual xattr');
  t.regex((await c.getxattr(d.nodeid, 'ceph.dir.rbytes')).toString(), /^\d+$/);
  t.regex((await c.getxattr(f.nodeid, 'ceph.file.layout')).toString(), /^stripe_unit=\d+ stripe_count=\d+ object_size=\d+ pool=\S+$/);
  t.is(await errno(c.getxattr(d.nodeid, 'ceph.no.such.vxattr')), 'ENODATA');

  t.deepEqual(await c.listxattr(d.nodeid), [], 'no ceph.* name is listed');
  await c.setxattr(f.nodeid, 'user.k', 'v');
  t.deepEqual(await c.listxattr(f.nodeid), ['user.k'], 'ordinary xattrs are');
  t.is((await c.getxattr(f.nodeid, 'user.k')).toString(), 'v');
  const host = Buffer.alloc(16);
  t.is(host.subarray(0, await n.getxattr(path.join(sub, 'file'), 'user.k', host)).toString(), 'v', 'the host reads the guest\'s xattr');
});

cephTest('3. O_TMPFILE answers EOPNOTSUPP; RENAME2 NOREPLACE/EXCHANGE answer the host\'s EINVAL (EEXIST), never EIO; nothing moves', async (t, dir) => {
  const { c, pfs } = await serve(t, dir);
  const linesBefore = logLines.length;
  nodefs.writeFileSync(path.join(dir, 'a'), 'a');
  nodefs.writeFileSync(path.join(dir, 'b'), 'b');
  await c.lookup(FUSE_ROOT_ID, 'a');
  await c.lookup(FUSE_ROOT_ID, 'b');

  const tmp = await errno(c.tmpfile(FUSE_ROOT_ID, 0o100600, n.O_RDWR));
  t.is(os.constants.errno[tmp as keyof typeof os.constants.errno], os.constants.errno.EOPNOTSUPP, `TMPFILE: ${tmp}`);
  t.is(pfs.stats().handles, 0, 'no handle left behind by the refused TMPFILE');

  t.is(await errno(c.rename(FUSE_ROOT_ID, 'a', FUSE_ROOT_ID, 'new', n.RENAME_NOREPLACE)), 'EINVAL', 'NOREPLACE to a free name: ceph-fuse has no rename flags');
  t.is(await errno(c.rename(FUSE_ROOT_ID, 'a', FUSE_ROOT_ID, 'b', n.RENAME_NOREPLACE)), 'EEXIST', 'NOREPLACE onto an existing name: the host VFS answers first');
  t.is(await errno(c.rename(FUSE_ROOT_ID, 'a', FUSE_ROOT_ID, 'b', n.RENAME_EXCHANGE)), 'EINVAL');
  t.deepEqual(nodefs.readdirSync(dir).sort(), ['a', 'b'], 'no refused call created or moved anything');
  t.is(nodefs.readFileSync(path.join(dir, 'b'), 'utf8'), 'b');
  await c.rename(FUSE_ROOT_ID, 'a', FUSE_ROOT_ID, 'b', 0);
  t.deepEqual(nodefs.readdirSync(dir), ['b'], 'a plain RENAME works');
  t.is(nodefs.readFileSync(path.join(dir, 'b'), 'utf8'), 'a');

  const unexpected = logLines.slice(linesBefore).filter((l) => /unexpected error/.test(l));
  t.deepEqual(unexpected, [], 'the refusals are host errnos, not unexpected errors');
});

cephTest('4. directory sizes as the host reports them (entry count) in GETATTR and READDIRPLUS; STATFS with 4 MiB blocks', async (t, dir) => {
  const sub = path.join(dir, 'd');
  nodefs.mkdirSync(sub);
  nodefs.writeFileSync(path.join(sub, 'big'), Buffer.alloc(1 << 20));
  nodefs.mkdirSync(path.join(sub, 'inner'));
  nodefs.writeFileSync(path.join(sub, 'inner', 'x'), Buffer.alloc(1 << 16));
  nodefs.writeFileSync(path.join(sub, 'inner', 'y'), '');
  const { c } = await serve(t, dir);
  const d = await c.lookup(FUSE_ROOT_ID, 'd');
  t.is(d.attr.size, 2n, 'd holds big and inner (a byte count would be ~1.1 MB)');
  t.is(d.attr.size, BigInt(nodefs.statSync(sub).size), 'as the host says');
  const inner = await c.lookup(d.nodeid, 'inner');
  t.is((await c.getattr(inner.nodeid)).attr.size, 2n);
  const dh = await c.opendir(d.nodeid);
  const plus = await c.readdirplus(d.nodeid, dh.fh, 0n, 64 << 10);
  await c.releasedir(d.nodeid, dh.fh);
  t.is(plus.find((x) => x.dirent.name.toString() === 'inner')?.entry.attr.size, 2n, 'READDIRPLUS: the same size');
  // A new entry shows at once: the size is not a cached recursive statistic.
  nodefs.writeFileSync(path.join(sub, 'inner', 'z'), '');
  t.is((await c.getattr(inner.nodeid)).attr.size, 3n);

  const sf = await c.statfs();
  const host = nodefs.statfsSync(dir);
  t.is(sf.bsize, 4 << 20, "Ceph's 4 MiB block size");
  t.is(sf.bsize, host.bsize);
  t.is(sf.namelen, 255);
});

cephTest('5. two daemons on two ceph-fuse clients of one directory: fsync\'d data crosses; a lock one holds the other sees, is refused, then waits for', async (t, dir) => {
  // The second client: another ceph-fuse mount of the same CephFS (another host, in production).
  const mnt2 = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-ceph-client2-'));
  await cephCluster('mount', mnt2);
  t.teardown(async () => {
    await cephCluster('umount', mnt2);
    nodefs.rmdirSync(mnt2);
  });
  const dir2 = path.join(mnt2, path.relative(cephMountDir, dir));
  const A = (await serve(t, dir, { cache: 'never', inodeFileHandles: 'prefer' })).c;
  const B = (await serve(t, dir2, { cache: 'never', inodeFileHandles: 'mandatory' })).c;

  const fa = await A.create(FUSE_ROOT_ID, 'shared', 0o100644, n.O_RDWR | n.O_CREAT);
  t.is(await A.write(fa.entry.nodeid, fa.open.fh, 0n, Buffer.from('written by A\n')), 13);
  await A.fsync(fa.entry.nodeid, fa.open.fh);
  const fb = await B.lookup(FUSE_ROOT_ID, 'shared');
  t.is(fb.attr.ino, fa.entry.attr.ino, 'both clients see one Ceph inode');
  const ob = await B.open(fb.nodeid, n.O_RDWR);
  t.is((await B.read(fb.nodeid, ob.fh, 0n, 100)).toString(), 'written by A\n');
  t.is(await B.write(fb.nodeid, ob.fh, 13n, Buffer.from('and by B\n')), 9);
  await B.fsync(fb.nodeid, ob.fh);
  t.is((await A.read(fa.entry.nodeid, fa.open.fh, 0n, 100)).toString(), 'written by A\nand by B\n');

  await A.setlk(fa.entry.nodeid, fa.open.fh, 1n, lk(n.F_WRLCK));
  const seen = await B.getlk(fb.nodeid, ob.fh, 2n, lk(n.F_WRLCK));
  t.is(seen.type, n.F_WRLCK, "B's GETLK reports A's write lock (held on another Ceph client)");
  t.is(await errno(B.setlk(fb.nodeid, ob.fh, 2n, lk(n.F_WRLCK))), 'EAGAIN');
  const t0 = Date.now();
  let gotAt = 0;
  const waiting = B.setlk(fb.nodeid, ob.fh, 2n, lk(n.F_WRLCK), { sleep: true }).then(() => (gotAt = Date.now()));
  await new Promise((r) => setTimeout(r, 1500));
  t.is(gotAt, 0, "B's SETLKW is still waiting while A holds the lock");
  const releasedAt = Date.now();
  await A.setlk(fa.entry.nodeid, fa.open.fh, 1n, lk(n.F_UNLCK));
  await waiting;
  t.log(`B waited ${gotAt - t0} ms; granted ${gotAt - releasedAt} ms after A let go`);
  t.true(gotAt - releasedAt < 10_000, 'granted soon after the release');
  t.is(await errno(A.setlk(fa.entry.nodeid, fa.open.fh, 1n, lk(n.F_WRLCK))), 'EAGAIN', 'now B holds it, across clients');
  await B.setlk(fb.nodeid, ob.fh, 2n, lk(n.F_UNLCK));
  await B.release(fb.nodeid, ob.fh);
  await A.release(fa.entry.nodeid, fa.open.fh);
});
