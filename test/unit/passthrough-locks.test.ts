/**
 * Guest locks held on the host: POSIX record locks per lock owner (OFD locks), flock per open file,
 * seen by other host processes; waits that neither block the event loop nor use up the worker pool,
 * and that FUSE_INTERRUPT, FLUSH and RELEASE end.
 */
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { FUSE_LK_FLOCK, FUSE_RELEASE_FLOCK_UNLOCK } from '../../protocol/fuse-flags.js';
import type { FuseFileLock } from '../../src/fuse/filesystem.js';
import * as n from '../../src/native/fs.js';
import { OFFSET_MAX } from '../../src/passthrough/attr.js';
import { b, ctx, mount } from '../helpers/passthrough.js';

const c = ctx;
const lk = (type: number, start = 0n, end = OFFSET_MAX): FuseFileLock => ({ type, start, end, pid: 0 });

async function file(t: ExecutionContext) {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), 'x'.repeat(1000));
  const e = await m.fs.lookup(c(), 1n, b('f'));
  const open = async () => (await m.fs.open(c(), e.nodeid, n.O_RDWR, 0)).fh;
  return { m, id: e.nodeid, open, path: m.p('f') };
}

/** Does a separate host process see a POSIX lock on [start, start+len) of path? */
function hostSeesLock(path: string, start: number, len: number): boolean {
  const py = `import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n  fcntl.lockf(f, fcntl.LOCK_SH|fcntl.LOCK_NB, ${len}, ${start})\n  print('free')\nexcept OSError:\n  print('locked')`;
  const r = spawnSync('python3', ['-c', py, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3: ${r.stderr}`);
  return r.stdout.trim() === 'locked';
}

const hasPython = spawnSync('python3', ['-c', 'import fcntl'], { stdio: 'ignore' }).status === 0;

test('POSIX locks: owners conflict with each other, never with themselves, whatever fh they use', async (t) => {
  const { m, id, open } = await file(t);
  const [a1, a2, bfh] = [await open(), await open(), await open()];
  const A = 0xa11cen;
  const B = 0xb0bn;
  await m.fs.setlk(c(), id, a1, A, lk(n.F_WRLCK, 0n, 99n), 0, false);
  await t.throwsAsync(m.fs.setlk(c(), id, bfh, B, lk(n.F_RDLCK, 50n, 60n), 0, false), { code: 'EAGAIN' });
  const seen = await m.fs.getlk(c(), id, bfh, B, lk(n.F_WRLCK, 10n, 20n), 0);
  t.like(seen, { type: n.F_WRLCK, start: 0n, end: 99n });
  t.is((await m.fs.getlk(c(), id, bfh, B, lk(n.F_WRLCK, 100n, 200n), 0)).type, n.F_UNLCK);
  // Same owner through another fh: no conflict, and it may unlock what a1 locked.
  await m.fs.setlk(c(), id, a2, A, lk(n.F_WRLCK, 50n, 150n), 0, false);
  t.is((await m.fs.getlk(c(), id, a2, A, lk(n.F_WRLCK, 0n, 10n), 0)).type, n.F_UNLCK, 'own locks never conflict');
  await m.fs.setlk(c(), id, a2, A, lk(n.F_UNLCK), 0, false);
  await m.fs.setlk(c(), id, bfh, B, lk(n.F_WRLCK), 0, false);
  await t.throwsAsync(m.fs.setlk(c(), id, a1, A, lk(n.F_RDLCK, 999n, 999n), 0, false), { code: 'EAGAIN' });
  await t.throwsAsync(m.fs.setlk(c(), id, a1, A, lk(n.F_RDLCK, 10n, 5n), 0, false), { code: 'EINVAL' });
});

test('FLUSH of an owner drops its locks (close(2) semantics); the last RELEASE drops the rest', async (t) => {
  const { m, id, open } = await file(t);
  const [fa, fb] = [await open(), await open()];
  await m.fs.setlk(c(), id, fa, 1n, lk(n.F_WRLCK), 0, false);
  await t.throwsAsync(m.fs.setlk(c(), id, fb, 2n, lk(n.F_WRLCK), 0, false), { code: 'EAGAIN' });
  // The owner closes some other fd of the file: its locks go, even those set through fa.
  await m.fs.flush(c(), id, fb, 1n);
  await m.fs.setlk(c(), id, fb, 2n, lk(n.F_WRLCK), 0, false);
  t.is(m.fs.stats().lockOwners, 1);
  await m.fs.release(c(), id, fa, 0, 0);
  t.is(m.fs.stats().lockOwners, 1, 'fb is still open');
  await m.fs.release(c(), id, fb, 0, 0);
  t.is(m.fs.stats().lockOwners, 0);
});

test('the guest\'s OFD locks (owner = its open file) go with RELEASE of that fh, which is all the guest sends', async (t) => {
  const { m, id, open } = await file(t);
  const [a, bfh] = [await open(), await open()];
  const ofdA = 0xaaa0n; // the guest kernel's owner id for open file a
  const ofdB = 0xbbb0n;
  await m.fs.setlk(c(), id, bfh, ofdB, lk(n.F_WRLCK), 0, false);
  await t.throwsAsync(m.fs.setlk(c(), id, a, ofdA, lk(n.F_WRLCK), 0, false), { code: 'EAGAIN' });
  // close(b) in the guest: a FLUSH with the process's owner (not ofdB), then RELEASE.
  await m.fs.flush(c(), id, bfh, 0x1234n);
  await m.fs.release(c(), id, bfh, 0, 0);
  await m.fs.setlk(c(), id, a, ofdA, lk(n.F_WRLCK), 0, false);
  t.is(m.fs.stats().lockOwners, 1);
});

test('guest POSIX locks are real host locks: another host process sees them, and its locks block the guest', async (t) => {
  if (!hasPython) return t.pass('no python3 here');
  const { m, id, open, path } = await file(t);
  const fh = await open();
  await m.fs.setlk(c(), id, fh, 7n, lk(n.F_WRLCK, 100n, 199n), 0, false);
  t.true(hostSeesLock(path, 150, 10));
  t.false(hostSeesLock(path, 300, 10));
  await m.fs.setlk(c(), id, fh, 7n, lk(n.F_UNLCK, 100n, 199n), 0, false);
  t.false(hostSeesLock(path, 150, 10));

  // A host process holds [0, 10) until we close its stdin.
  const holder = spawn('python3', ['-c', `import fcntl,sys\nf=open(sys.argv[1],'r+')\nfcntl.lockf(f, fcntl.LOCK_EX, 10, 0)\nprint('held', flush=True)\nsys.stdin.read()`, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((r) => holder.stdout.once('data', () => r()));
  await t.throwsAsync(m.fs.setlk(c(), id, fh, 8n, lk(n.F_RDLCK, 5n, 5n), 0, false), { code: 'EAGAIN' });
  const got = await m.fs.getlk(c(), id, fh, 8n, lk(n.F_RDLCK, 0n, 0n), 0);
  t.like(got, { type: n.F_WRLCK, start: 0n, end: 9n, pid: 0 });
  // SETLKW waits for the host process to let go.
  const waiting = m.fs.setlk(c(), id, fh, 8n, lk(n.F_RDLCK, 5n, 5n), 0, true);
  holder.stdin.end();
  await waiting;
  t.pass();
});

test('SETLKW waits block neither the event loop nor the worker pool, and all finish when the lock goes', async (t) => {
  const { m, id, open } = await file(t);
  const holderFh = await open();
  await m.fs.setlk(c(), id, holderFh, 1n, lk(n.F_WRLCK), 0, false);
  const waiters = await Promise.all(Array.from({ length: 24 }, () => open()));
  let done = 0;
  const waits = waiters.map((fh, i) => m.fs.setlk(c(), id, fh, 100n + BigInt(i), lk(n.F_RDLCK), 0, true).then(() => done++));
  // Each wait first opens its owner's description (on the pool), then waits on a thread of its own.
  for (let i = 0; i < 200 && n.poolStats().waiters < 24; i++) await new Promise((r) => setTimeout(r, 25));
  t.is(done, 0);
  t.true(n.poolStats().waiters >= 24, 'each wait has a thread of its own');
  // The pool (4 threads by default) is free: ordinary requests still complete.
  const t0 = Date.now();
  for (let i = 0; i < 20; i++) await m.fs.getattr(c(), id, undefined);
  t.true(Date.now() - t0 < 1000);
  await m.fs.setlk(c(), id, holderFh, 1n, lk(n.F_UNLCK), 0, false);
  await Promise.all(waits);
  t.is(done, 24);
});

test('FUSE_INTERRUPT ends a waiting SETLKW with EINTR, also when it arrives first', async (t) => {
  const { m, id, open } = await file(t);
  const [h1, h2] = [await open(), await open()];
  await m.fs.setlk(c(), id, h1, 1n, lk(n.F_WRLCK), 0, false);
  const req = c();
  const waiting = m.fs.setlk(req, id, h2, 2n, lk(n.F_WRLCK), 0, true);
  await new Promise((r) => setTimeout(r, 50));
  await m.fs.interrupt(c(), req.unique);
  await t.throwsAsync(waiting, { code: 'EINTR' });
  // The INTERRUPT overtook its request.
  const early = c();
  await m.fs.interrupt(c(), early.unique);
  await t.throwsAsync(m.fs.setlk(early, id, h2, 2n, lk(n.F_WRLCK), 0, true), { code: 'EINTR' });
  // Nothing was left locked by the interrupted waits.
  await m.fs.setlk(c(), id, h1, 1n, lk(n.F_UNLCK), 0, false);
  await m.fs.setlk(c(), id, h2, 2n, lk(n.F_WRLCK), 0, false);
});

test('FLUSH of the waiting owner and DESTROY end waits too', async (t) => {
  const { m, id, open } = await file(t);
  const [h1, h2] = [await open(), await open()];
  await m.fs.setlk(c(), id, h1, 1n, lk(n.F_WRLCK), 0, false);
  const w = m.fs.setlk(c(), id, h2, 2n, lk(n.F_WRLCK), 0, true);
  await new Promise((r) => setTimeout(r, 30));
  await m.fs.flush(c(), id, h2, 2n);
  await t.throwsAsync(w, { code: 'EINTR' });
  const w2 = m.fs.setlk(c(), id, h2, 3n, lk(n.F_WRLCK), 0, true);
  await new Promise((r) => setTimeout(r, 30));
  await m.fs.destroy();
  await t.throwsAsync(w2, { code: 'EINTR' });
});

test('flock: per open file, visible to host flock(1), released by RELEASE with FLOCK_UNLOCK; a blocking wait ends on RELEASE', async (t) => {
  const { m, id, open, path } = await file(t);
  const [f1, f2] = [await open(), await open()];
  await m.fs.setlk(c(), id, f1, 1n, lk(n.F_WRLCK), FUSE_LK_FLOCK, false);
  await t.throwsAsync(m.fs.setlk(c(), id, f2, 1n, lk(n.F_RDLCK), FUSE_LK_FLOCK, false), { code: 'EAGAIN' });
  t.is(spawnSync('flock', ['-n', '-s', path, 'true']).status, 1, 'the host sees the flock');
  await m.fs.release(c(), id, f1, 0, FUSE_RELEASE_FLOCK_UNLOCK, 1n);
  await m.fs.setlk(c(), id, f2, 1n, lk(n.F_RDLCK), FUSE_LK_FLOCK, false);
  t.is(spawnSync('flock', ['-n', '-s', path, 'true']).status, 0, 'shared with the host');
  const f3 = await open();
  const w = m.fs.setlk(c(), id, f3, 9n, lk(n.F_WRLCK), FUSE_LK_FLOCK, true);
  await new Promise((r) => setTimeout(r, 30));
  await m.fs.release(c(), id, f3, 0, 0);
  await t.throwsAsync(w, { code: 'EINTR' });
  await m.fs.setlk(c(), id, f2, 1n, lk(n.F_UNLCK), FUSE_LK_FLOCK, false);
  t.is(spawnSync('flock', ['-n', path, 'true']).status, 0);
});
