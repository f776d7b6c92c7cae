/**
 * PassthroughFs migration state, file system to file system (no wire: the wire transfer is
 * migration-state.test.ts). Daemon "A" and daemon "B" are two PassthroughFs on one directory; the
 * state goes through JSON as it would between processes.
 *
 *  1. nodeids with their lookup counts, open files and directories keep working on B; new ids do
 *     not collide; both --inode-file-handles modes on either side.
 *  2. A host-side rename before the save is in the state already: readlink of the O_PATH fd follows
 *     renames (checked here, relied on by the exporter); with --migration-confirm-paths too.
 *  3. Renamed between save and load: lost with find-paths, found with file-handles.
 *  4. Deleted between save and load: guest-error makes the nodeid and its handles ESTALE (RELEASE
 *     and FORGET still work); abort throws and leaves B with nothing but the root, still serving.
 *  5. Replaced by another file between save and load: --migration-verify-handles refuses it.
 *  6. Deleted before the save: the source applies --migration-on-error itself.
 *  7. Confinement: paths with "..", absolute, empty components, NUL, a symlink on the way, and a
 *     file handle naming a file outside the shared directory never reach outside it.
 *  8. Malformed, newer-version and inconsistent states are refused with a stable code.
 *  9. Loading into a file system that already serves requests is refused.
 * 10. A file its handle opens "disconnected" (the kernel cannot place it: on CephFS, a file only
 *     another host touched; simulated here) is accepted only when found by name in a directory the
 *     guest holds; moved anywhere else, it is not found.
 * 11. --migration-confirm-paths catches a stale name from the kernel (a network filesystem's, simulated)
 *     and asks again.
 * 13. --readonly (ReadonlyFs) migrates as the passthrough it wraps.
 * 12. When the kernel has lost a file's name (another CephFS client renamed it: " (deleted)",
 *     simulated), the source finds its new name in a directory the guest holds.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as n from '../../src/native/fs.js';
import type { MigrationOptions } from '../../src/migration/migratable.js';
import { ReadonlyFs, type PassthroughFs, type PassthroughOptions, type Sys } from '../../src/passthrough/index.js';
import { isMigratable } from '../../src/migration/migratable.js';
import { NullFileSystem } from '../../src/fuse/null-filesystem.js';
import { parseState } from '../../src/passthrough/migration-state.js';
import { ListSink, b, ctx, mount, tmpDir, views, type Mounted } from '../helpers/passthrough.js';
import { configureLog } from '../../src/log.js';

const c = ctx;
const FIND: MigrationOptions = { mode: 'find-paths', onError: 'abort', verifyHandles: false, confirmPaths: false };

/** What the source would send: exportState through JSON. */
async function save(a: PassthroughFs, o: Partial<MigrationOptions> = {}): Promise<Record<string, unknown>> {
  return JSON.parse(JSON.stringify(await a.exportState({ ...FIND, ...o }))) as Record<string, unknown>;
}

/** A second daemon on A's directory, INIT done (as importSession does), nothing else. */
async function destination(t: ExecutionContext, a: Mounted, opts: Partial<PassthroughOptions> = {}): Promise<Mounted> {
  return mount(t, { ...opts, sharedDir: a.dir });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
  return 'no error';
}

async function readAll(pfs: PassthroughFs, nodeid: bigint, fh: bigint, size = 4096): Promise<string> {
  const dest = views(size, size);
  const got = await pfs.read(c(), nodeid, fh, 0n, size, 0, dest);
  return Buffer.from(dest[0]!.subarray(0, got)).toString();
}

type Inodes = Array<Record<string, unknown>>;
const inodesOf = (s: Record<string, unknown>): Inodes => s.inodes as Inodes;
const recordOf = (s: Record<string, unknown>, nodeid: bigint) => inodesOf(s).find((r) => r.nodeid === nodeid.toString())!;

for (const [from, to] of [['never', 'never'], ['prefer', 'prefer'], ['never', 'prefer'], ['prefer', 'never']] as const) {
  test(`1. nodeids, lookup counts and open handles keep working on B (--inode-file-handles ${from} -> ${to})`, async (t) => {
    const a = await mount(t, { inodeFileHandles: from });
    const d = await a.fs.mkdir(c(), 1n, b('d'), 0o755);
    const f = await a.fs.create(c(), d.nodeid, b('f'), 0o644, n.O_RDWR | n.O_CREAT | n.O_TRUNC, 0);
    await a.fs.write(c(), f.entry.nodeid, f.fh, 0n, [Buffer.from('written on A\n')], 0, 0);
    await a.fs.lookup(c(), d.nodeid, b('f')); // nlookup 2
    const dh = await a.fs.opendir(c(), d.nodeid, 0);
    const ro = await a.fs.open(c(), f.entry.nodeid, n.O_RDONLY, 0);
    const lnk = await a.fs.symlink(c(), d.nodeid, b('lnk'), b('f'));
    fs.writeFileSync(a.p('d', 'other'), 'x');
    const state = await save(a.fs);
    t.is(recordOf(state, f.entry.nodeid).path, 'd/f');
    t.is(recordOf(state, f.entry.nodeid).nlookup, '2');
    t.is(recordOf(state, lnk.nodeid).type, 'lnk');

    const bb = await destination(t, a, { inodeFileHandles: to });
    await bb.fs.importState(state, FIND);
    t.deepEqual(bb.fs.stats(), { inodes: a.fs.stats().inodes, handles: a.fs.stats().handles, lockOwners: 0 });
    t.is((await bb.fs.getattr(c(), f.entry.nodeid, undefined)).attr.ino, f.entry.attr.ino);
    t.is(await readAll(bb.fs, f.entry.nodeid, ro.fh), 'written on A\n');
    t.is(await bb.fs.write(c(), f.entry.nodeid, f.fh, 13n, [Buffer.from('and on B\n')], 0, 0), 9);
    t.is(fs.readFileSync(a.p('d', 'f'), 'utf8'), 'written on A\nand on B\n', 'the O_TRUNC of the first open is not repeated');
    const sink = new ListSink();
    await bb.fs.readdir(c(), d.nodeid, dh.fh, 0n, sink);
    t.deepEqual(sink.names().sort(), ['.', '..', 'f', 'lnk', 'other']);
    t.is(Buffer.from(await bb.fs.readlink(c(), lnk.nodeid)).toString(), 'f');
    t.is((await bb.fs.lookup(c(), d.nodeid, b('f'))).nodeid, f.entry.nodeid, 'a lookup on B finds the migrated nodeid');
    // New ids continue above the migrated ones.
    const g = await bb.fs.create(c(), d.nodeid, b('g'), 0o644, n.O_RDWR | n.O_CREAT, 0);
    t.true(g.entry.nodeid > lnk.nodeid);
    t.true(g.fh > ro.fh && g.fh > dh.fh);
    // The lookup count came across: 2 from A + 1 on B.
    await bb.fs.forget(c(), f.entry.nodeid, 2n);
    t.is((await bb.fs.getattr(c(), f.entry.nodeid, undefined)).attr.size, 22n);
    await bb.fs.release(c(), f.entry.nodeid, f.fh, 0, 0);
    await bb.fs.release(c(), f.entry.nodeid, ro.fh, 0, 0);
    await bb.fs.forget(c(), f.entry.nodeid, 1n);
    t.is(await code(bb.fs.getattr(c(), f.entry.nodeid, undefined)), 'EBADF', 'forgotten after exactly its count');
  });
}

test('2. readlink of the O_PATH fd follows a host-side rename, so the saved path is the new one (also confirmed)', async (t) => {
  const a = await mount(t, { inodeFileHandles: 'never' });
  fs.mkdirSync(a.p('d'));
  fs.writeFileSync(a.p('d', 'f'), 'x');
  const d = await a.fs.lookup(c(), 1n, b('d'));
  const f = await a.fs.lookup(c(), d.nodeid, b('f'));
  fs.mkdirSync(a.p('moved'));
  fs.renameSync(a.p('d', 'f'), a.p('moved', 'g'));
  fs.renameSync(a.p('d'), a.p('d2'));
  t.is(recordOf(await save(a.fs), f.nodeid).path, 'moved/g');
  t.is(recordOf(await save(a.fs), d.nodeid).path, 'd2');
  const confirmed = await save(a.fs, { confirmPaths: true });
  t.is(recordOf(confirmed, f.nodeid).path, 'moved/g');
  // A name that really ends in " (deleted)" is not mistaken for a deleted file.
  fs.writeFileSync(a.p('x (deleted)'), 'y');
  const x = await a.fs.lookup(c(), 1n, b('x (deleted)'));
  t.is(recordOf(await save(a.fs), x.nodeid).path, 'x (deleted)');
  const bb = await destination(t, a);
  await bb.fs.importState(confirmed, FIND);
  t.is((await bb.fs.getattr(c(), f.nodeid, undefined)).attr.ino, f.attr.ino);
});

test('3. renamed on the host between save and load: lost with find-paths, found with file-handles', async (t) => {
  const a = await mount(t);
  fs.writeFileSync(a.p('f'), 'content');
  const f = await a.fs.lookup(c(), 1n, b('f'));
  const o = await a.fs.open(c(), f.nodeid, n.O_RDONLY, 0);
  const state = await save(a.fs, { mode: 'file-handles' });
  fs.renameSync(a.p('f'), a.p('renamed'));

  const lost = await destination(t, a);
  t.is(await code(lost.fs.importState(state, FIND)), 'MIGRATION_NOT_FOUND');
  const found = await destination(t, a);
  await found.fs.importState(state, { ...FIND, mode: 'file-handles' });
  t.is(await readAll(found.fs, f.nodeid, o.fh), 'content');
  t.is((await found.fs.getattr(c(), f.nodeid, undefined)).attr.ino, f.attr.ino);
});

test('4. deleted between save and load: ESTALE with guest-error (RELEASE and FORGET work); abort throws and leaves only the root', async (t) => {
  const a = await mount(t);
  fs.mkdirSync(a.p('d'));
  fs.writeFileSync(a.p('d', 'gone'), 'x');
  fs.writeFileSync(a.p('kept'), 'kept');
  const d = await a.fs.lookup(c(), 1n, b('d'));
  const gone = await a.fs.lookup(c(), d.nodeid, b('gone'));
  const kept = await a.fs.lookup(c(), 1n, b('kept'));
  const fh = (await a.fs.open(c(), gone.nodeid, n.O_RDWR, 0)).fh;
  const dfh = (await a.fs.opendir(c(), d.nodeid, 0)).fh;
  const state = await save(a.fs);
  fs.rmSync(a.p('d'), { recursive: true });

  const aborted = await destination(t, a);
  t.is(await code(aborted.fs.importState(state, FIND)), 'MIGRATION_NOT_FOUND');
  t.deepEqual(aborted.fs.stats(), { inodes: 1, handles: 0, lockOwners: 0 }, 'nothing half-imported');
  t.is((await aborted.fs.lookup(c(), 1n, b('kept'))).attr.size, 4n, 'and it still serves');

  const bb = await destination(t, a);
  await bb.fs.importState(state, { ...FIND, onError: 'guest-error' });
  t.is((await bb.fs.getattr(c(), kept.nodeid, undefined)).attr.size, 4n);
  for (const [what, p] of [
    ['getattr', bb.fs.getattr(c(), gone.nodeid, undefined)],
    ['getattr via fh', bb.fs.getattr(c(), gone.nodeid, fh)],
    ['read', bb.fs.read(c(), gone.nodeid, fh, 0n, 10, 0, views(10, 10))],
    ['write', bb.fs.write(c(), gone.nodeid, fh, 0n, [Buffer.from('no')], 0, 0)],
    ['open', bb.fs.open(c(), gone.nodeid, n.O_RDONLY, 0)],
    ['setattr', bb.fs.setattr(c(), gone.nodeid, { valid: 0 } as never, undefined)],
    ['lookup in a stale dir', bb.fs.lookup(c(), d.nodeid, b('gone'))],
    ['readdir', bb.fs.readdir(c(), d.nodeid, dfh, 0n, new ListSink())],
    ['flush', bb.fs.flush(c(), gone.nodeid, fh, 0n)],
  ] as const) {
    t.is(await code(p), 'ESTALE', what);
  }
  await bb.fs.release(c(), gone.nodeid, fh, 0, 0);
  await bb.fs.releasedir(c(), d.nodeid, dfh, 0);
  t.is(bb.fs.stats().handles, 0);
  await bb.fs.forget(c(), gone.nodeid, 1n);
  t.is(await code(bb.fs.getattr(c(), gone.nodeid, undefined)), 'EBADF', 'forgotten');
  // The name made again on the host is a new inode: a new nodeid, never the stale one.
  fs.mkdirSync(a.p('d'));
  t.not((await bb.fs.lookup(c(), 1n, b('d'))).nodeid, d.nodeid);
});

test('5. replaced by another file between save and load: --migration-verify-handles refuses it', async (t) => {
  const a = await mount(t, { inodeFileHandles: 'never' });
  fs.writeFileSync(a.p('f'), 'original');
  const f = await a.fs.lookup(c(), 1n, b('f'));
  const state = await save(a.fs);
  fs.rmSync(a.p('f'));
  fs.writeFileSync(a.p('spacer'), ''); // so the new file does not reuse the inode number
  fs.writeFileSync(a.p('f'), 'impostor');

  const verified = await destination(t, a);
  await verified.fs.importState(state, { ...FIND, onError: 'guest-error', verifyHandles: true });
  t.is(await code(verified.fs.getattr(c(), f.nodeid, undefined)), 'ESTALE', 'never the wrong file');
  const unverified = await destination(t, a);
  await unverified.fs.importState(state, { ...FIND, onError: 'guest-error' });
  t.is((await unverified.fs.getattr(c(), f.nodeid, undefined)).attr.size, 8n, 'without verification the path decides (documented)');
  // Nothing replaced: verification passes.
  const c2 = await mount(t, { inodeFileHandles: 'prefer' });
  fs.writeFileSync(c2.p('g'), 'g');
  const g = await c2.fs.lookup(c(), 1n, b('g'));
  const ok = await destination(t, c2);
  await ok.fs.importState(await save(c2.fs), { ...FIND, verifyHandles: true });
  t.is((await ok.fs.getattr(c(), g.nodeid, undefined)).attr.size, 1n);
});

test('6. deleted before the save: the source applies --migration-on-error itself', async (t) => {
  const a = await mount(t, { inodeFileHandles: 'never' });
  fs.writeFileSync(a.p('f'), 'x');
  const f = await a.fs.lookup(c(), 1n, b('f'));
  const fh = (await a.fs.open(c(), f.nodeid, n.O_RDONLY, 0)).fh;
  fs.rmSync(a.p('f'));
  t.is(await code(a.fs.exportState(FIND)), 'MIGRATION_SOURCE_LOST');
  const state = await save(a.fs, { onError: 'guest-error' });
  t.regex(String(recordOf(state, f.nodeid).stale), /deleted/);
  const bb = await destination(t, a);
  await bb.fs.importState(state, FIND); // stale on the source stays stale, whatever B's policy
  t.is(await code(bb.fs.getattr(c(), f.nodeid, undefined)), 'ESTALE');
  t.is(await code(bb.fs.read(c(), f.nodeid, fh, 0n, 1, 0, views(1, 1))), 'ESTALE');
  // And the next migration carries it on.
  t.truthy(recordOf(await save(bb.fs), f.nodeid).stale);
});

test('7. confinement: nothing in a state reaches outside the shared directory', async (t) => {
  const outside = tmpDir(t, 'vfs-outside-');
  fs.writeFileSync(path.join(outside, 'secret'), 'secret');
  const a = await mount(t, { inodeFileHandles: 'never' });
  fs.writeFileSync(a.p('f'), 'f');
  fs.symlinkSync(outside, a.p('esc'));
  fs.mkdirSync(a.p('sub'));
  const f = await a.fs.lookup(c(), 1n, b('f'));
  const good = await save(a.fs, { mode: 'file-handles' });
  const withRecord = (patch: Record<string, unknown>) => ({ ...good, inodes: [{ ...recordOf(good, f.nodeid), ...patch }] });

  for (const p of ['..', '../secret', 'sub/../../x', '/etc/passwd', 'sub//f', 'f/', '.', 'a\0b', '']) {
    const bb = await destination(t, a);
    t.is(await code(bb.fs.importState(withRecord({ path: p }), FIND)), 'STATE_BAD_FILESYSTEM', JSON.stringify(p));
  }
  // A symlink on the way is not followed (it is looked up as itself only as the last component).
  for (const p of ['esc/secret', 'esc']) {
    const bb = await destination(t, a);
    await bb.fs.importState(withRecord({ path: p }), { ...FIND, onError: 'guest-error' });
    t.is(await code(bb.fs.getattr(c(), f.nodeid, undefined)), 'ESTALE', p);
  }
  // A file handle naming a file outside the share (same filesystem: the handle opens it) is refused.
  const secret = await n.nameToHandleAt(n.AT_FDCWD, path.join(outside, 'secret'), 0);
  for (const rec of [{ handle: secret.handle.toString('hex'), path: undefined }, { handle: secret.handle.toString('hex'), path: 'f' }]) {
    const bb = await destination(t, a);
    const state = withRecord(rec);
    if (rec.path === undefined) delete (state.inodes[0] as Record<string, unknown>).path;
    await bb.fs.importState(state, { mode: 'file-handles', onError: 'guest-error', verifyHandles: false, confirmPaths: false });
    const r = await code(bb.fs.getattr(c(), f.nodeid, undefined));
    t.is(r, 'ESTALE', `handle outside, path ${String(rec.path)}: never the outside file`);
  }
});

test('8. malformed, newer and inconsistent states are refused with a stable code', async (t) => {
  const a = await mount(t);
  fs.mkdirSync(a.p('d'));
  fs.writeFileSync(a.p('d', 'f'), 'f');
  const d = await a.fs.lookup(c(), 1n, b('d'));
  const f = await a.fs.lookup(c(), d.nodeid, b('f'));
  const fh = (await a.fs.open(c(), f.nodeid, n.O_RDONLY, 0)).fh;
  const good = await save(a.fs);
  t.notThrows(() => parseState(good));
  const inode0 = inodesOf(good)[0]!;
  const handle0 = (good.handles as Inodes)[0]!;
  const cases: [string, unknown, string][] = [
    ['not an object', [], 'STATE_BAD_FILESYSTEM'],
    ['another format', { ...good, format: 'rust-virtiofsd' }, 'STATE_BAD_FILESYSTEM'],
    ['a newer version', { ...good, version: 2 }, 'STATE_UNSUPPORTED_VERSION'],
    ['no inodes array', { ...good, inodes: undefined }, 'STATE_BAD_FILESYSTEM'],
    ['nodeid as a number', { ...good, inodes: [{ ...inode0, nodeid: 2 }] }, 'STATE_BAD_FILESYSTEM'],
    ['nodeid 1 (the root)', { ...good, inodes: [{ ...inode0, nodeid: '1' }] }, 'STATE_BAD_FILESYSTEM'],
    ['nodeid twice', { ...good, inodes: [inode0, inode0] }, 'STATE_BAD_FILESYSTEM'],
    ['nodeid not below nextNodeid', { ...good, nextNodeid: '2' }, 'STATE_BAD_FILESYSTEM'],
    ['nodeid above 2^64', { ...good, inodes: [{ ...inode0, nodeid: '18446744073709551616' }] }, 'STATE_BAD_FILESYSTEM'],
    ['nlookup 0', { ...good, inodes: [{ ...inode0, nlookup: '0' }] }, 'STATE_BAD_FILESYSTEM'],
    ['generation 1', { ...good, inodes: [{ ...inode0, generation: '1' }] }, 'STATE_BAD_FILESYSTEM'],
    ['unknown type', { ...good, inodes: [{ ...inode0, type: 'door' }] }, 'STATE_BAD_FILESYSTEM'],
    ['bad handle hex', { ...good, inodes: [{ ...inode0, handle: 'xyz' }] }, 'STATE_BAD_FILESYSTEM'],
    ['handle_bytes lies', { ...good, inodes: [{ ...inode0, handle: 'ff000000010000000102' }] }, 'STATE_BAD_FILESYSTEM'],
    ['negative dev', { ...good, inodes: [{ ...inode0, dev: -1 }] }, 'STATE_BAD_FILESYSTEM'],
    ['path and pathBase64', { ...good, inodes: [{ ...inode0, pathBase64: 'ZA==' }] }, 'STATE_BAD_FILESYSTEM'],
    ['fh on an unknown nodeid', { ...good, handles: [{ ...handle0, nodeid: '999' }] }, 'STATE_BAD_FILESYSTEM'],
    ['fh not below nextFh', { ...good, nextFh: handle0.fh }, 'STATE_BAD_FILESYSTEM'],
    ['fh 0', { ...good, handles: [{ ...handle0, fh: '0' }] }, 'STATE_BAD_FILESYSTEM'],
    ['dir flag wrong', { ...good, handles: [{ ...handle0, dir: true }] }, 'STATE_BAD_FILESYSTEM'],
    ['flags not 32-bit', { ...good, handles: [{ ...handle0, flags: 2 ** 40 }] }, 'STATE_BAD_FILESYSTEM'],
    ['inodes without a root', { ...good, root: null }, 'STATE_BAD_FILESYSTEM'],
    ['nextNodeid with no room to count', { ...good, nextNodeid: '18446744073709551615' }, 'STATE_BAD_FILESYSTEM'],
  ];
  for (const [what, state, want] of cases) {
    const bb = await destination(t, a);
    t.is(await code(bb.fs.importState(state, FIND)), want, what);
    t.is(bb.fs.stats().inodes, 1, `${what}: nothing installed`);
  }
  t.truthy(fh);
});

test('9. loading into a file system that already holds inodes is refused', async (t) => {
  const a = await mount(t);
  fs.writeFileSync(a.p('f'), 'f');
  await a.fs.lookup(c(), 1n, b('f'));
  const state = await save(a.fs);
  const bb = await destination(t, a);
  await bb.fs.lookup(c(), 1n, b('f'));
  t.is(await code(bb.fs.importState(state, FIND)), 'STATE_NOT_FRESH');
});

/**
 * The native module, with readlink of some fds answered by `fake` (the kernel's name for them; undefined
 * keeps the real one): fds that openByHandleAt returned ('by-handle'), or every fd ('all').
 */
function readlinkSys(fake: (real: Buffer) => Buffer | undefined, which: 'by-handle' | 'all'): Sys {
  const byHandle = new Set<number>();
  return {
    ...n,
    async openByHandleAt(...args: Parameters<typeof n.openByHandleAt>) {
      const fd = await n.openByHandleAt(...args);
      byHandle.add(fd);
      return fd;
    },
    async close(fd: number) {
      byHandle.delete(fd);
      return n.close(fd);
    },
    async readlinkat(dirfd: number, name: n.Name, ctx?: n.CallContext) {
      const real = await n.readlinkat(dirfd, name, ctx);
      const fd = Number(Buffer.from(name).toString());
      return (which === 'all' || byHandle.has(fd) ? fake(real) : undefined) ?? real;
    },
  } as Sys;
}

test.serial('10. a file its handle opens disconnected is accepted only when found in a directory the guest holds', async (t) => {
  const a = await mount(t, { inodeFileHandles: 'never' });
  for (const d of ['d', 'e', 'unknown']) fs.mkdirSync(a.p(d));
  fs.writeFileSync(a.p('d', 'f1'), 'one');
  fs.writeFileSync(a.p('d', 'f2'), 'two');
  const d = await a.fs.lookup(c(), 1n, b('d'));
  await a.fs.lookup(c(), 1n, b('e'));
  const f1 = await a.fs.lookup(c(), d.nodeid, b('f1'));
  const f2 = await a.fs.lookup(c(), d.nodeid, b('f2'));
  const fh1 = (await a.fs.open(c(), f1.nodeid, n.O_RDONLY, 0)).fh;
  const state = await save(a.fs, { mode: 'file-handles' });
  fs.renameSync(a.p('d', 'f1'), a.p('e', 'moved-to-a-known-dir'));
  fs.renameSync(a.p('d', 'f2'), a.p('unknown', 'moved-elsewhere'));
  // Every handle B opens comes back disconnected: the kernel names it "/" (as ceph-fuse does).
  const sys = readlinkSys((real) => (real.toString().endsWith('/d') || real.toString().endsWith('/e') ? undefined : Buffer.from('/')), 'by-handle');
  const bb = await mount(t, { sharedDir: a.dir, inodeFileHandles: 'never' }, { sys });
  const lines: string[] = [];
  configureLog({ sink: (l) => lines.push(l) });
  t.teardown(() => configureLog({ sink: (l) => process.stderr.write(l + '\n') }));
  await bb.fs.importState(state, { mode: 'file-handles', onError: 'guest-error', verifyHandles: false, confirmPaths: false });
  t.is(await readAll(bb.fs, f1.nodeid, fh1), 'one', 'found by name in a directory the guest holds');
  t.is(await code(bb.fs.getattr(c(), f2.nodeid, undefined)), 'ESTALE', 'moved where nothing places it: not found');
  t.regex(lines.join('\n'), /1 by handle and directory scan/);
  t.regex(lines.join('\n'), /nodeid \d+ \(reg "d\/f2".*nor is it in a directory the guest holds/);
});

test('11. --migration-confirm-paths catches a stale name from the kernel and asks again', async (t) => {
  let stale = true;
  // The first readlink of f's fd gives its old name, as a network filesystem's client may.
  const sys = readlinkSys((real) => (stale && real.toString().endsWith('/new') ? ((stale = false), Buffer.from(real.toString().replace(/new$/, 'old'))) : undefined), 'all');
  const a = await mount(t, { inodeFileHandles: 'never' }, { sys });
  fs.writeFileSync(a.p('new'), 'x');
  fs.writeFileSync(a.p('old'), 'another file now has the old name');
  const f = await a.fs.lookup(c(), 1n, b('new'));
  t.is(recordOf(await save(a.fs, { confirmPaths: true }), f.nodeid).path, 'new', 'confirmed: the stale name led elsewhere, the second answer is right');
  stale = true;
  t.is(recordOf(await save(a.fs), f.nodeid).path, 'old', 'unconfirmed, the kernel\'s stale name is trusted (documented)');
});

test('12. the kernel lost the name (renamed by another client): the source finds it in a directory the guest holds', async (t) => {
  // After another CephFS client's rename, the source's kernel names the file "<old path> (deleted)".
  const sys = readlinkSys((real) => (real.toString().endsWith('/e/renamed') ? Buffer.from(real.toString().replace(/e\/renamed$/, 'd/f (deleted)')) : undefined), 'all');
  const a = await mount(t, { inodeFileHandles: 'never' }, { sys });
  fs.mkdirSync(a.p('d'));
  fs.mkdirSync(a.p('e'));
  fs.writeFileSync(a.p('d', 'f'), 'f');
  const d = await a.fs.lookup(c(), 1n, b('d'));
  await a.fs.lookup(c(), 1n, b('e'));
  const f = await a.fs.lookup(c(), d.nodeid, b('f'));
  fs.renameSync(a.p('d', 'f'), a.p('e', 'renamed'));
  for (const confirmPaths of [false, true]) {
    const state = await save(a.fs, { confirmPaths });
    t.is(recordOf(state, f.nodeid).path, 'e/renamed', `confirmPaths ${confirmPaths}`);
    const bb = await destination(t, a);
    await bb.fs.importState(state, FIND);
    t.is((await bb.fs.getattr(c(), f.nodeid, undefined)).attr.ino, f.attr.ino);
  }
  // Moved where the guest holds no directory: lost (abort).
  fs.mkdirSync(a.p('unknown'));
  fs.renameSync(a.p('e', 'renamed'), a.p('unknown', 'renamed'));
  const sys2 = readlinkSys((real) => (real.toString().endsWith('/unknown/renamed') ? Buffer.from(real.toString().replace(/unknown\/renamed$/, 'd/f (deleted)')) : undefined), 'all');
  const a2 = await mount(t, { sharedDir: a.dir, inodeFileHandles: 'never' }, { sys: sys2 });
  await a2.fs.lookup(c(), 1n, b('d'));
  await a2.fs.lookup(c(), 1n, b('e'));
  const unknown = await a2.fs.lookup(c(), 1n, b('unknown'));
  await a2.fs.lookup(c(), unknown.nodeid, b('renamed'));
  await a2.fs.forget(c(), unknown.nodeid, 1n); // the guest no longer holds "unknown"
  t.is(await code(a2.fs.exportState(FIND)), 'MIGRATION_SOURCE_LOST');
});

test('13. --readonly: ReadonlyFs migrates as the passthrough it wraps', async (t) => {
  const a = await mount(t);
  fs.writeFileSync(a.p('f'), 'read only');
  const f = await a.fs.lookup(c(), 1n, b('f'));
  const fh = (await a.fs.open(c(), f.nodeid, n.O_RDONLY, 0)).fh;
  const roA = new ReadonlyFs(a.fs);
  t.true(isMigratable(roA));
  const state = JSON.parse(JSON.stringify(await roA.exportState!(FIND))) as unknown;
  const bb = await destination(t, a);
  const roB = new ReadonlyFs(bb.fs);
  await roB.importState!(state, FIND);
  t.is(await readAll(bb.fs, f.nodeid, fh), 'read only');
  t.false(isMigratable(new ReadonlyFs(new NullFileSystem())), 'a file system that cannot migrate stays so when wrapped');
});
