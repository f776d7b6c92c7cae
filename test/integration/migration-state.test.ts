/**
 * Device state over the real wire, no VM: two in-process daemons (FuseServer + PassthroughFs +
 * VirtioFsDevice behind the vhost-user back-end) on one shared directory, each driven by the
 * in-repo front-end as QEMU 10 drives them at a migration (FACTS.md).
 *
 *  1. Daemon A serves a workload (INIT, lookups, mkdir, create, writes, open files and a directory,
 *     a FORGET on the hiprio queue); the front-end stops the rings (GET_VRING_BASE), sends
 *     SET_DEVICE_STATE_FD(save) with a pipe's write end, reads the state to EOF: CHECK_DEVICE_STATE 0.
 *  2. Daemon B, fresh: SET_DEVICE_STATE_FD(load) with the read end, the state written and closed:
 *     CHECK_DEVICE_STATE 0; its rings start at A's bases; the same nodeids and fhs work
 *     (GETATTR, READ, WRITE, READDIR, LOOKUP); a new CREATE gets ids that collide with nothing.
 *  3. A file deleted on the host between save and load: ESTALE with --migration-on-error
 *     guest-error; with abort CHECK_DEVICE_STATE fails (QEMU would cancel the migration).
 *  4. A file renamed on the host between save and load is found with --migration-mode file-handles.
 *  5. Malformed, truncated and newer-version states: CHECK_DEVICE_STATE fails with a clear log line,
 *     and B keeps serving.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { FrontendReq } from '../../protocol/vhost-user-constants.js';
import { encodeU64 } from '../../protocol/vhost-user-payloads.js';
import { STATE_MAGIC, decodeDeviceState, encodeDeviceState } from '../../protocol/device-state.js';
import { VirtioFsDevice } from '../../src/daemon/virtio-fs-device.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { FuseServer } from '../../src/fuse/server.js';
import { configureLog } from '../../src/log.js';
import { DEFAULT_MIGRATION, type MigrationOptions } from '../../src/migration/migratable.js';
import * as n from '../../src/native/fs.js';
import { PassthroughFs, type PassthroughOptions } from '../../src/passthrough/index.js';
import { startTestDaemon, tmpDir, type TestDaemon } from '../helpers/daemon.js';

const QUEUES = 2;

/** Every log line of this process (the daemons run in it). */
const logLines: string[] = [];

interface Side {
  pfs: PassthroughFs;
  d: TestDaemon;
  fe: VhostUserFrontend;
  c: FuseClient;
}

function daemon(t: ExecutionContext, dir: string, mig: Partial<MigrationOptions>, pt: Partial<PassthroughOptions>): { pfs: PassthroughFs; d: TestDaemon } {
  const pfs = new PassthroughFs({ inodeFileHandles: 'prefer', ...pt, sharedDir: dir });
  const device = new VirtioFsDevice(new FuseServer(pfs), { requestQueues: QUEUES - 1, migration: { ...DEFAULT_MIGRATION, ...mig } });
  const d = startTestDaemon(device);
  configureLog({ sink: (line) => logLines.push(line) });
  t.teardown(async () => {
    await d.stop();
    await pfs.close();
  });
  return { pfs, d };
}

const feOptions = (socketPath: string) => ({ socketPath, sequence: 'qemu10' as const, queues: QUEUES, queueSize: 64, memory: { regions: 1, regionSize: 4 << 20 }, watchdogMs: 0 });

/** The source: a daemon and a front-end that has done INIT. */
async function source(t: ExecutionContext, dir: string, mig: Partial<MigrationOptions> = {}, pt: Partial<PassthroughOptions> = {}): Promise<Side> {
  const { pfs, d } = daemon(t, dir, mig, pt);
  const fe = await VhostUserFrontend.connect(feOptions(d.socketPath));
  t.teardown(() => fe.close());
  const c = new FuseClient(fe);
  await c.init();
  return { pfs, d, fe, c };
}

/** Switch-over on the source: stop every ring (GET_VRING_BASE), then save. */
async function save(t: ExecutionContext, a: Side): Promise<{ state: Uint8Array; bases: number[] }> {
  const bases: number[] = [];
  for (let i = 0; i < QUEUES; i++) bases.push(await a.fe.stopQueue(i));
  const { state, check, reply } = await a.fe.saveDeviceState();
  t.deepEqual(reply, { error: 0, noFd: true }, 'SET_DEVICE_STATE_FD(save) accepted, no fd back');
  t.is(check, 0n, 'CHECK_DEVICE_STATE after the save');
  return { state, bases };
}

/** The destination: a fresh daemon, a front-end that created the device but has not started it. */
async function destination(t: ExecutionContext, dir: string, mig: Partial<MigrationOptions> = {}, pt: Partial<PassthroughOptions> = {}): Promise<Omit<Side, 'c'>> {
  const { pfs, d } = daemon(t, dir, mig, pt);
  const fe = await VhostUserFrontend.connect({ ...feOptions(d.socketPath), negotiateOnly: true });
  t.teardown(() => fe.close());
  return { pfs, d, fe };
}

/** The destination's start after the load, as QEMU's: features, memory, rings at the source's bases. */
async function start(b: Omit<Side, 'c'>, bases: number[], like?: FuseClient): Promise<FuseClient> {
  await b.fe.send(FrontendReq.SET_FEATURES, encodeU64(b.fe.ackedFeatures));
  await b.fe.setupMemory();
  for (let i = 0; i < QUEUES; i++) await b.fe.setupQueue(i, bases[i] ?? 0);
  for (let i = 0; i < QUEUES; i++) await b.fe.enableQueue(i, true);
  const c = new FuseClient(b.fe);
  c.initOut = like?.initOut;
  return c;
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

test.serial('1-2. A serves, saves over a pipe; B loads, starts at A\'s ring bases, and the same nodeids and fhs work', async (t) => {
  const dir = tmpDir('vfs-mig-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'pre'), 'existing file\n');
  const a = await source(t, dir);
  const pre = await a.c.lookup(FUSE_ROOT_ID, 'pre');
  await a.c.lookup(FUSE_ROOT_ID, 'pre');
  const d = await a.c.mkdir(FUSE_ROOT_ID, 'd', 0o755);
  const f = await a.c.create(d.nodeid, 'f', 0o100644, n.O_RDWR | n.O_CREAT);
  t.is(await a.c.write(f.entry.nodeid, f.open.fh, 0n, Buffer.from('line 0\n')), 7);
  const ro = await a.c.open(pre.nodeid, n.O_RDONLY);
  const dh = await a.c.opendir(d.nodeid);
  const tmp = await a.c.create(d.nodeid, 'forgotten', 0o100644, n.O_RDWR | n.O_CREAT);
  await a.c.release(tmp.entry.nodeid, tmp.open.fh);
  await a.c.forget(tmp.entry.nodeid, 1n);
  await a.c.getattr(FUSE_ROOT_ID); // the FORGET went on the hiprio queue; this request follows it

  const { state, bases } = await save(t, a);
  t.true(bases[1]! > 0 && bases[0]! > 0, `both rings moved: ${bases.join(', ')}`);
  const sections = decodeDeviceState(state).sections;
  const fsState = sections.get(2) as { inodes: { nodeid: string; nlookup: string; path?: string }[]; handles: unknown[] };
  t.deepEqual(
    fsState.inodes.map((i) => [i.nodeid, i.nlookup, i.path]).sort(),
    [[pre.nodeid.toString(), '2', 'pre'], [d.nodeid.toString(), '1', 'd'], [f.entry.nodeid.toString(), '1', 'd/f']].sort(),
    'every nodeid the guest holds, with its lookup count; the forgotten one is not there',
  );
  t.is(fsState.handles.length, 3);
  a.fe.close(); // the source QEMU goes away after a completed migration

  const b = await destination(t, dir);
  const { check, reply } = await b.fe.loadDeviceState(state);
  t.deepEqual(reply, { error: 0, noFd: true });
  t.is(check, 0n, 'CHECK_DEVICE_STATE after the load');
  const c = await start(b, bases, a.c);
  const vring = b.d.backend().vrings[1]!;
  t.is(vring.queue?.lastAvail, bases[1], 'the request ring resumes at A\'s base');

  t.is((await c.getattr(pre.nodeid)).attr.ino, pre.attr.ino);
  t.is((await c.read(pre.nodeid, ro.fh, 0n, 100)).toString(), 'existing file\n');
  t.is(await c.write(f.entry.nodeid, f.open.fh, 7n, Buffer.from('line 1\n')), 7);
  t.is((await c.read(f.entry.nodeid, f.open.fh, 0n, 100)).toString(), 'line 0\nline 1\n');
  t.is(fs.readFileSync(path.join(dir, 'd', 'f'), 'utf8'), 'line 0\nline 1\n');
  t.deepEqual((await c.readdir(d.nodeid, dh.fh)).map((e) => e.name).sort(), ['.', '..', 'f', 'forgotten']);
  t.is((await c.lookup(d.nodeid, 'f')).nodeid, f.entry.nodeid, 'a lookup finds the migrated nodeid');
  t.is(await errno(c.getattr(tmp.entry.nodeid)), 'EBADF', 'a forgotten nodeid stays unknown');
  const g = await c.create(d.nodeid, 'g', 0o100644, n.O_RDWR | n.O_CREAT);
  t.true(g.entry.nodeid > tmp.entry.nodeid, `new nodeid ${g.entry.nodeid} above every id A gave out`);
  t.true(g.open.fh > tmp.open.fh, `new fh ${g.open.fh} above every fh A gave out`);
  await c.release(f.entry.nodeid, f.open.fh);
  await c.release(pre.nodeid, ro.fh);
  await c.releasedir(d.nodeid, dh.fh);
  await c.release(g.entry.nodeid, g.open.fh);
  t.is(b.pfs.stats().handles, 0);
  await c.forget(pre.nodeid, 2n);
  await c.getattr(FUSE_ROOT_ID);
  t.is(await errno(c.getattr(pre.nodeid)), 'EBADF', 'the lookup count came across exactly');
});

for (const onError of ['guest-error', 'abort'] as const) {
  test.serial(`3. a file deleted on the host between save and load: ${onError === 'abort' ? 'CHECK_DEVICE_STATE fails (abort)' : 'ESTALE (guest-error)'}`, async (t) => {
    const dir = tmpDir('vfs-mig-');
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    fs.writeFileSync(path.join(dir, 'doomed'), 'x');
    fs.writeFileSync(path.join(dir, 'kept'), 'kept');
    const a = await source(t, dir, { onError });
    const doomed = await a.c.lookup(FUSE_ROOT_ID, 'doomed');
    const fh = (await a.c.open(doomed.nodeid, n.O_RDONLY)).fh;
    const kept = await a.c.lookup(FUSE_ROOT_ID, 'kept');
    const { state, bases } = await save(t, a);
    fs.rmSync(path.join(dir, 'doomed'));
    a.fe.close();
    await a.d.stop(); // the source daemon is gone too: nothing keeps the inode alive

    const b = await destination(t, dir, { onError });
    const before = logLines.length;
    const { check } = await b.fe.loadDeviceState(state);
    if (onError === 'abort') {
      t.not(check, 0n, 'CHECK_DEVICE_STATE fails: QEMU cancels the migration, the source keeps running');
      t.regex(logLines.slice(before).join('\n'), /CHECK_DEVICE_STATE failed.*MIGRATION_NOT_FOUND.*nodeid \d+ \(reg "doomed"/);
      return;
    }
    t.is(check, 0n);
    const c = await start(b, bases, a.c);
    t.is((await c.getattr(kept.nodeid)).attr.size, 4n);
    t.is(await errno(c.getattr(doomed.nodeid)), 'ESTALE');
    t.is(await errno(c.read(doomed.nodeid, fh, 0n, 10)), 'ESTALE');
    t.is(await errno(c.open(doomed.nodeid, n.O_RDONLY)), 'ESTALE');
    await c.release(doomed.nodeid, fh);
    await c.forget(doomed.nodeid, 1n);
    await c.getattr(FUSE_ROOT_ID);
    t.is(await errno(c.getattr(doomed.nodeid)), 'EBADF');
  });
}

test.serial('4. a file renamed on the host between save and load is found by its file handle (--migration-mode file-handles)', async (t) => {
  const dir = tmpDir('vfs-mig-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'd'));
  fs.writeFileSync(path.join(dir, 'd', 'f'), 'followed\n');
  const mig = { mode: 'file-handles' as const };
  const a = await source(t, dir, mig);
  const d = await a.c.lookup(FUSE_ROOT_ID, 'd');
  const f = await a.c.lookup(d.nodeid, 'f');
  const fh = (await a.c.open(f.nodeid, n.O_RDONLY)).fh;
  const { state, bases } = await save(t, a);
  fs.mkdirSync(path.join(dir, 'elsewhere'));
  fs.renameSync(path.join(dir, 'd', 'f'), path.join(dir, 'elsewhere', 'g'));
  a.fe.close();

  const b = await destination(t, dir, mig);
  t.is((await b.fe.loadDeviceState(state)).check, 0n);
  const c = await start(b, bases, a.c);
  t.is((await c.read(f.nodeid, fh, 0n, 100)).toString(), 'followed\n');
  t.is((await c.getattr(f.nodeid)).attr.ino, f.attr.ino);
});

test.serial('5. malformed, truncated and newer-version states: CHECK_DEVICE_STATE fails with a clear log line, and B keeps serving', async (t) => {
  const dir = tmpDir('vfs-mig-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'f'), 'f');
  const a = await source(t, dir);
  await a.c.lookup(FUSE_ROOT_ID, 'f');
  const { state } = await save(t, a);
  const sections = decodeDeviceState(state).sections;
  const withFs = (patch: Record<string, unknown>) => encodeDeviceState(new Map([[1, sections.get(1)], [2, { ...(sections.get(2) as object), ...patch }]]));
  const newerContainer = Uint8Array.from(state);
  new DataView(newerContainer.buffer).setUint32(8, 99, true);
  const cases: [string, Uint8Array, RegExp][] = [
    ['garbage', Buffer.from('not a device state at all'), /STATE_BAD_MAGIC/],
    ['empty', new Uint8Array(0), /STATE_TRUNCATED/],
    ['truncated', state.subarray(0, state.length - 40), /STATE_TRUNCATED/],
    ['a newer container version', newerContainer, /STATE_UNSUPPORTED_VERSION.*version 99/],
    ['a newer passthrough section', withFs({ version: 2 }), /STATE_UNSUPPORTED_VERSION.*passthrough state version 2/],
    ['an escaping path', withFs({ inodes: [{ ...(sections.get(2) as { inodes: object[] }).inodes[0], path: '../etc' }] }), /STATE_BAD_FILESYSTEM.*"\.\." component/],
    ['a bad magic', Uint8Array.from([...STATE_MAGIC.subarray(0, 7), 0x58, ...state.subarray(8)]), /STATE_BAD_MAGIC/],
  ];
  const b = await destination(t, dir);
  for (const [what, bytes, re] of cases) {
    const before = logLines.length;
    const { check } = await b.fe.loadDeviceState(bytes);
    t.not(check, 0n, `${what}: CHECK_DEVICE_STATE fails`);
    t.regex(logLines.slice(before).join('\n'), re, `${what}: the log says why`);
  }
  // Still serving: the device starts and answers.
  const c = await start(b, [0, 0]);
  await c.init();
  t.is((await c.lookup(FUSE_ROOT_ID, 'f')).attr.size, 1n);
});
