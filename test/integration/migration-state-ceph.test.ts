/**
 * Migration between "hosts" on a real CephFS: the source PassthroughFs on one ceph-fuse client, the
 * destination on another client of the same CephFS (another host, in production). Runs with the Ceph
 * tests (VFS_CEPH=1 or CI=true; test/helpers/ceph-test.ts).
 *
 *  1. find-paths with --migration-verify-handles: nodeids and open files work on the other client
 *     (Ceph's file handles, inode numbers and generations are the same on every client, st_dev is not);
 *     data written there reaches the source's client.
 *  2. Renamed by another client before the save: the source's kernel loses the name ("(deleted)");
 *     with --migration-confirm-paths the source finds the new name in a directory the guest holds.
 *  3. Renamed between save and load, file-handles mode: the destination's client opens the handle
 *     disconnected (it never met the file) and finds it in a directory the guest holds; a file moved
 *     where the guest holds no directory cannot be proven inside the share: ESTALE.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import type { MigrationOptions } from '../../src/migration/migratable.js';
import * as n from '../../src/native/fs.js';
import { PassthroughFs, type PassthroughOptions } from '../../src/passthrough/index.js';
import { cephCluster, cephMountDir } from '../helpers/ceph.js';
import { cephTest } from '../helpers/ceph-test.js';
import { b, ctx as c, views } from '../helpers/passthrough.js';

const FIND: MigrationOptions = { mode: 'find-paths', onError: 'abort', verifyHandles: false, confirmPaths: false };

/** The same directory seen through a second ceph-fuse client, unmounted when the test ends. */
async function secondClient(t: ExecutionContext, dir: string): Promise<string> {
  const mnt2 = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-mig-ceph2-'));
  await cephCluster('mount', mnt2);
  t.teardown(async () => {
    await cephCluster('umount', mnt2);
    fs.rmdirSync(mnt2);
  });
  return path.join(mnt2, path.relative(cephMountDir, dir));
}

async function daemon(t: ExecutionContext, dir: string, o: Partial<PassthroughOptions> = {}): Promise<PassthroughFs> {
  const pfs = new PassthroughFs({ cache: 'never', ...o, sharedDir: dir });
  t.teardown(() => pfs.close());
  await pfs.init({ minor: 38, capable: (1n << 64n) - 1n, maxReadahead: 0 });
  return pfs;
}

const roundTrip = async (a: PassthroughFs, o: MigrationOptions): Promise<Record<string, unknown>> => JSON.parse(JSON.stringify(await a.exportState(o))) as Record<string, unknown>;
const recordOf = (s: Record<string, unknown>, nodeid: bigint) => (s.inodes as Array<Record<string, unknown>>).find((r) => r.nodeid === nodeid.toString())!;

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

async function readText(pfs: PassthroughFs, nodeid: bigint, fh: bigint): Promise<string> {
  const dest = views(4096, 4096);
  return Buffer.from(dest[0]!.subarray(0, await pfs.read(c(), nodeid, fh, 0n, 4096, 0, dest))).toString();
}

cephTest('migration 1. to another Ceph client (find-paths, --migration-verify-handles): nodeids and open files work there', async (t, dir) => {
  const dir2 = await secondClient(t, dir);
  const a = await daemon(t, dir, { inodeFileHandles: 'prefer' });
  const d = await a.mkdir(c(), 1n, b('d'), 0o755);
  const f = await a.create(c(), d.nodeid, b('f'), 0o644, n.O_RDWR | n.O_CREAT, 0);
  await a.write(c(), f.entry.nodeid, f.fh, 0n, [Buffer.from('from A\n')], 0, 0);
  await a.fsync(c(), f.entry.nodeid, f.fh, false);
  const state = await roundTrip(a, FIND);
  t.not((state.root as { dev: number }).dev, fs.statSync(dir2).dev, 'the other client has another st_dev');

  const bb = await daemon(t, dir2, { inodeFileHandles: 'mandatory' });
  await bb.importState(state, { ...FIND, verifyHandles: true });
  t.is(await readText(bb, f.entry.nodeid, f.fh), 'from A\n');
  await bb.write(c(), f.entry.nodeid, f.fh, 7n, [Buffer.from('from B\n')], 0, 0);
  await bb.fsync(c(), f.entry.nodeid, f.fh, false);
  t.is(fs.readFileSync(path.join(dir, 'd', 'f'), 'utf8'), 'from A\nfrom B\n', 'the source\'s client sees what B wrote');
  t.is((await bb.getattr(c(), d.nodeid, undefined)).attr.ino, d.attr.ino);
});

cephTest('migration 2. renamed by another client before the save: found again with --migration-confirm-paths', async (t, dir) => {
  const dir2 = await secondClient(t, dir);
  fs.mkdirSync(path.join(dir, 'x'));
  fs.mkdirSync(path.join(dir, 'y'));
  fs.writeFileSync(path.join(dir, 'x', 'a'), 'a');
  const a = await daemon(t, dir, { inodeFileHandles: 'never' });
  const x = await a.lookup(c(), 1n, b('x'));
  await a.lookup(c(), 1n, b('y'));
  const f = await a.lookup(c(), x.nodeid, b('a'));
  const fh = (await a.open(c(), f.nodeid, n.O_RDONLY, 0)).fh;
  fs.renameSync(path.join(dir2, 'x', 'a'), path.join(dir2, 'y', 'moved')); // on the other client
  const state = await roundTrip(a, { ...FIND, confirmPaths: true });
  t.is(recordOf(state, f.nodeid).path, 'y/moved');
  const bb = await daemon(t, dir2);
  await bb.importState(state, { ...FIND, verifyHandles: true });
  t.is(await readText(bb, f.nodeid, fh), 'a');
});

cephTest('migration 3. renamed between save and load (file-handles): found on a client that never met the file', async (t, dir) => {
  fs.mkdirSync(path.join(dir, 'd'));
  fs.mkdirSync(path.join(dir, 'e'));
  fs.mkdirSync(path.join(dir, 'nowhere-known'));
  fs.writeFileSync(path.join(dir, 'd', 'f1'), 'one');
  fs.writeFileSync(path.join(dir, 'd', 'f2'), 'two');
  const a = await daemon(t, dir, { inodeFileHandles: 'prefer' });
  const d = await a.lookup(c(), 1n, b('d'));
  await a.lookup(c(), 1n, b('e'));
  const f1 = await a.lookup(c(), d.nodeid, b('f1'));
  const f2 = await a.lookup(c(), d.nodeid, b('f2'));
  const fh1 = (await a.open(c(), f1.nodeid, n.O_RDONLY, 0)).fh;
  const state = await roundTrip(a, { ...FIND, mode: 'file-handles' });
  fs.renameSync(path.join(dir, 'd', 'f1'), path.join(dir, 'e', 'f1-moved'));
  fs.renameSync(path.join(dir, 'd', 'f2'), path.join(dir, 'nowhere-known', 'f2'));
  // The destination's client is mounted only now: it has met none of these files.
  const dir2 = await secondClient(t, dir);
  const bb = await daemon(t, dir2, { inodeFileHandles: 'prefer' });
  await bb.importState(state, { mode: 'file-handles', onError: 'guest-error', verifyHandles: false, confirmPaths: false });
  t.is(await readText(bb, f1.nodeid, fh1), 'one');
  t.is((await bb.getattr(c(), f1.nodeid, undefined)).attr.ino, f1.attr.ino);
  t.is(await code(bb.getattr(c(), f2.nodeid, undefined)), 'ESTALE', 'cannot be proven inside the share: never trusted');
});
