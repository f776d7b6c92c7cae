/**
 * fcntl (POSIX and OFD) locks and flock. The waiting forms run on a thread of their own: the event
 * loop keeps running, the worker pool stays free, and an AbortSignal ends a wait with EINTR.
 * Serial: the tests assert the process-wide pool and waiter counts.
 */
import test, { type ExecutionContext } from 'ava';
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as f from '../../src/native/fs.js';

/** A file and `n` independent opens of it (separate open file descriptions). */
function opens(t: ExecutionContext, n: number): number[] {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-lock-'));
  const file = path.join(dir, 'locked');
  nodefs.writeFileSync(file, Buffer.alloc(4096));
  const fds = Array.from({ length: n }, () => nodefs.openSync(file, 'r+'));
  t.teardown(() => {
    for (const fd of fds) nodefs.closeSync(fd);
    nodefs.rmSync(dir, { recursive: true, force: true });
  });
  return fds;
}

const WHOLE = { whence: f.SEEK_SET, start: 0, len: 0 };
const wr = (start = 0, len = 0): f.Flock => ({ type: f.F_WRLCK, whence: f.SEEK_SET, start, len });
const unlock = (start = 0, len = 0): f.Flock => ({ type: f.F_UNLCK, whence: f.SEEK_SET, start, len });

/** Track whether a promise settled, without awaiting it. */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { p, settled: () => done };
}

test.serial('OFD locks: conflict EAGAIN, GETLK reports the holder (pid -1), unlock frees', async (t) => {
  const [a, b] = opens(t, 2) as [number, number];
  await f.fcntlLock(a, f.F_OFD_SETLK, wr());
  await t.throwsAsync(f.fcntlLock(b, f.F_OFD_SETLK, wr()), { code: 'EAGAIN' });
  const held = await f.fcntlLock(b, f.F_OFD_GETLK, { type: f.F_RDLCK, ...WHOLE });
  t.like(held, { type: f.F_WRLCK, whence: f.SEEK_SET, start: 0n, len: 0n, pid: -1 });
  await f.fcntlLock(a, f.F_OFD_SETLK, unlock());
  t.is((await f.fcntlLock(b, f.F_OFD_GETLK, wr())).type, f.F_UNLCK);
  await f.fcntlLock(b, f.F_OFD_SETLK, { type: f.F_RDLCK, whence: f.SEEK_SET, start: 10, len: 5n });
  t.like(await f.fcntlLock(a, f.F_OFD_GETLK, wr()), { type: f.F_RDLCK, start: 10n, len: 5n });
  await t.throwsAsync(f.fcntlLock(a, f.F_OFD_SETLK, { type: 99, ...WHOLE }), { code: 'EINVAL' });
  await t.throwsAsync(f.fcntlLock(999_999, f.F_OFD_SETLK, wr()), { code: 'EBADF' });
});

test.serial('POSIX locks belong to the process: no conflict between our fds, but with an OFD lock', async (t) => {
  const [a, b, c] = opens(t, 3) as [number, number, number];
  await f.fcntlLock(a, f.F_SETLK, wr(0, 10));
  await f.fcntlLock(b, f.F_SETLK, wr(0, 10)); // same owner: replaces, no conflict
  t.is((await f.fcntlLock(c, f.F_GETLK, wr(0, 10))).type, f.F_UNLCK);
  t.like(await f.fcntlLock(c, f.F_OFD_GETLK, wr(0, 10)), { type: f.F_WRLCK, pid: process.pid });
  await t.throwsAsync(f.fcntlLock(c, f.F_OFD_SETLK, wr(5, 1)), { code: 'EAGAIN' });
  await f.fcntlLock(a, f.F_SETLK, unlock());
  await f.fcntlLock(c, f.F_OFD_SETLK, wr(5, 1));
  t.like(await f.fcntlLock(a, f.F_GETLK, wr()), { type: f.F_WRLCK, start: 5n, len: 1n, pid: -1 });
});

test.serial('F_OFD_SETLKW waits on its own thread: the event loop ticks and the pool stays free', async (t) => {
  const threads = f.poolStats().threads || 4;
  const extra = threads * 2 + 2; // more waits than pool threads
  const fds = opens(t, 2 + extra);
  const [holder, waiter] = fds as [number, number];
  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());

  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  t.teardown(() => clearInterval(timer));
  const w = track(f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(0, 100)));
  const others = fds.slice(2).map((fd, i) => track(f.fcntlLock(fd, f.F_OFD_SETLKW, wr(1000 + i, 1))));
  await sleep(200);
  t.false(w.settled(), 'still waiting while the lock is held');
  t.true(others.every((o) => !o.settled()));
  t.true(ticks >= 10, `setInterval kept ticking (${ticks} ticks)`);
  t.is(f.poolStats().waiters, 1 + extra);
  const st = await Promise.all(Array.from({ length: 16 }, () => f.statx(holder, '', f.AT_EMPTY_PATH)));
  t.is(st.length, 16, 'pool calls complete while every wait is pending');

  await f.fcntlLock(holder, f.F_OFD_SETLK, unlock());
  t.like(await w.p, { type: f.F_WRLCK });
  await Promise.all(others.map((o) => o.p));
  t.is(f.poolStats().waiters, 0);
  t.like(await f.fcntlLock(holder, f.F_OFD_GETLK, wr(0, 1)), { type: f.F_WRLCK, start: 0n, len: 100n }, 'the waiter holds it now');
});

test.serial('aborting a waiting F_OFD_SETLKW rejects EINTR and does not take the lock', async (t) => {
  const [holder, waiter, probe] = opens(t, 3) as [number, number, number];
  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());
  const ac = new AbortController();
  const w = track(f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(), ac.signal));
  await sleep(50);
  t.false(w.settled());
  ac.abort();
  await t.throwsAsync(w.p, { code: 'EINTR' });
  t.is(f.poolStats().waiters, 0);
  await f.fcntlLock(holder, f.F_OFD_SETLK, unlock());
  t.is((await f.fcntlLock(probe, f.F_OFD_GETLK, wr())).type, f.F_UNLCK, 'nobody holds it');
  // An already aborted signal: rejected before the call, no lock even when it is free.
  const pre = new AbortController();
  pre.abort();
  await t.throwsAsync(f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(), pre.signal), { code: 'EINTR' });
  t.is((await f.fcntlLock(probe, f.F_OFD_GETLK, wr())).type, f.F_UNLCK);
  // A signal on a call that completes: later aborts are harmless.
  const late = new AbortController();
  await f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(), late.signal);
  late.abort();
  t.is((await f.fcntlLock(probe, f.F_OFD_GETLK, wr())).type, f.F_WRLCK);
});

test.serial('POSIX F_SETLKW waits behind an OFD lock, completes on release, and can be aborted', async (t) => {
  const [holder, waiter] = opens(t, 2) as [number, number];
  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());
  const w = track(f.fcntlLock(waiter, f.F_SETLKW, wr()));
  await sleep(50);
  t.false(w.settled());
  await f.fcntlLock(holder, f.F_OFD_SETLK, unlock());
  await w.p;
  t.like(await f.fcntlLock(holder, f.F_OFD_GETLK, wr()), { type: f.F_WRLCK, pid: process.pid });
  await f.fcntlLock(waiter, f.F_SETLK, unlock());

  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());
  const ac = new AbortController();
  const p = f.fcntlLock(waiter, f.F_SETLKW, wr(), ac.signal);
  await sleep(50);
  ac.abort();
  await t.throwsAsync(p, { code: 'EINTR' });
});

test.serial('flock: LOCK_NB conflict EAGAIN (EWOULDBLOCK), a blocking flock waits off-loop and completes', async (t) => {
  const [a, b] = opens(t, 2) as [number, number];
  await f.flock(a, f.LOCK_EX);
  await t.throwsAsync(f.flock(b, f.LOCK_EX | f.LOCK_NB), { code: 'EAGAIN' });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  t.teardown(() => clearInterval(timer));
  const w = track(f.flock(b, f.LOCK_SH));
  await sleep(100);
  t.false(w.settled());
  t.is(f.poolStats().waiters, 1);
  t.true(ticks >= 5);
  await f.flock(a, f.LOCK_UN);
  await w.p;
  await t.throwsAsync(f.flock(a, f.LOCK_EX | f.LOCK_NB), { code: 'EAGAIN' }, 'b holds it shared');
  await f.flock(a, f.LOCK_SH | f.LOCK_NB);
  await t.throwsAsync(f.flock(999_999, f.LOCK_SH), { code: 'EBADF' });
  await t.throwsAsync(f.flock(a, 0), { code: 'EINVAL' });
});

test.serial('aborting a blocking flock rejects EINTR and leaves the lock to its holder', async (t) => {
  const [a, b, c] = opens(t, 3) as [number, number, number];
  await f.flock(a, f.LOCK_EX);
  const ac = new AbortController();
  const p = f.flock(b, f.LOCK_EX, ac.signal);
  await sleep(50);
  ac.abort();
  await t.throwsAsync(p, { code: 'EINTR' });
  t.is(f.poolStats().waiters, 0);
  await f.flock(a, f.LOCK_UN);
  await f.flock(c, f.LOCK_EX | f.LOCK_NB); // b did not get it
  t.pass();
});

test.serial('waits run as the creds given (a lock wait is a plain call otherwise)', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root');
  const [holder, waiter] = opens(t, 2) as [number, number];
  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());
  const p = f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(), undefined, { uid: 1234, gid: 5678 });
  await sleep(20);
  await f.fcntlLock(holder, f.F_OFD_SETLK, unlock());
  t.like(await p, { type: f.F_WRLCK });
  await t.throwsAsync(f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(), undefined, { umask: 0o22 }), { code: 'EOPNOTSUPP' }, 'no private umask on wait threads');
});

test.serial('at most 1024 waits at once: the next one rejects ENOLCK instead of starting a thread', async (t) => {
  const [holder, waiter] = opens(t, 2) as [number, number];
  await f.fcntlLock(holder, f.F_OFD_SETLK, wr());
  const waits = Array.from({ length: 1024 }, (_, i) => f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(i, 1)));
  await t.throwsAsync(f.fcntlLock(waiter, f.F_OFD_SETLKW, wr(5000, 1)), { code: 'ENOLCK' });
  t.is(f.poolStats().waiters, 1024);
  t.is((await f.fcntlLock(waiter, f.F_OFD_GETLK, wr(6000, 1))).type, f.F_WRLCK, 'non-waiting calls are unaffected');
  await f.fcntlLock(holder, f.F_OFD_SETLK, unlock());
  await Promise.all(waits);
  t.is(f.poolStats().waiters, 0);
});
