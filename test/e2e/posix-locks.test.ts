/**
 * File locks across the host/guest boundary. Our daemon holds the guest's locks on the host (the Rust
 * virtiofsd does not: it answers ENOSYS and the guest keeps them to itself), so a host process and a
 * guest process exclude each other. The same static fstest binary runs on both sides.
 *
 * Host holds, guest waits — for each of posix (F_SETLK/F_SETLKW), ofd (F_OFD_*) and flock:
 *  1. a host process takes a write lock on a file of the share
 *  2. the guest's non-blocking attempt fails (EAGAIN), F_GETLK names a write lock, then the guest
 *     blocks in F_SETLKW (or flock without LOCK_NB) and says so
 *  3. the host lets go ~2 s later; the guest measures that it waited that long
 *
 * Guest holds, host waits — the same in the other direction, plus: once the guest lets go, the host
 * can take the lock at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import { e2eTest } from '../helpers/e2e.js';
import { startGuest, type GuestHandle } from '../helpers/qemu.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { GUEST_FSTEST, fstestFile, hostFstest, parseFstest } from './posix-fstest.js';

const MODES = ['posix', 'ofd', 'flock'] as const;
/** How long the holder keeps the lock after the waiter said it is waiting. */
const HOLD_MS = 2000;

interface Setup {
  share: string;
  d: DaemonProcess;
  g: GuestHandle;
}

/** A daemon on a fresh share holding `file`, and a guest that mounted it and runs `loop`. */
async function boot(file: string, loop: string): Promise<Setup> {
  const share = tmpDir('vfs-locks-');
  fs.writeFileSync(path.join(share, file), 'lock me\n');
  const d = await spawnDaemon({ sharedDir: share });
  const script = ['mount -t virtiofs myfs /mnt || exit 10', 'echo MOUNTED', 'rc=0', loop, 'umount /mnt', 'exit $rc'].join('\n');
  const g = await startGuest({ script, extraFiles: [await fstestFile()], fs: [{ socket: d.socketPath, tag: 'myfs' }], timeoutMs: 150_000, qmp: false });
  await g.waitForConsole(/MOUNTED/, 60_000);
  return { share, d, g };
}

async function finish(t: ExecutionContext, s: Setup): Promise<void> {
  const r = await s.g.exited;
  await s.d.stop();
  t.is(r.exitCode, 0, r.summary + '\n--- daemon log tail ---\n' + s.d.log().slice(-3000));
}

e2eTest('a host process holds a lock: the guest is refused, then waits until the host lets go (posix, ofd, flock)', async (t) => {
  t.timeout(180_000);
  const loop = `for m in ${MODES.join(' ')}; do read go; ${GUEST_FSTEST} lockwait /mnt/shared.lock $m || rc=1; done`;
  const s = await boot('shared.lock', loop);
  try {
    for (const mode of MODES) {
      const holder = await hostFstest(['lockhold', path.join(s.share, 'shared.lock'), mode]);
      await holder.waitFor(/lockhold: locked/);
      const since = s.g.console().length;
      s.g.sendConsole('go\n');
      await s.g.waitForConsole(/lockwait: waiting/, 30_000, since);
      await sleep(HOLD_MS);
      holder.send('release');
      await holder.waitFor(/lockhold: released/);
      t.is(await holder.exited, 0);
      await s.g.waitForConsole(new RegExp(`(ok|not ok) ${mode}_lock_waited`), 30_000, since);
      const rep = parseFstest(s.g.console().slice(since));
      const refused = `${mode}_lock_refused`;
      t.true(rep.ok.includes(refused), rep.notOk.get(refused) ?? `${refused} missing`);
      if (mode !== 'flock') {
        const getlk = `${mode}_getlk_reports_holder`;
        t.true(rep.ok.includes(getlk), rep.notOk.get(getlk) ?? `${getlk} missing`);
      }
      const waited = Number(rep.info.get(`${mode}_lock_waited`)?.waited_ms);
      t.log(`${mode}: the guest waited ${waited} ms for the host's lock (held ${HOLD_MS} ms after the guest started waiting)`);
      t.true(rep.ok.includes(`${mode}_lock_waited`), rep.notOk.get(`${mode}_lock_waited`));
      // The guest's clock and the host's agree to well under this margin; the upper bound catches a missed wake-up.
      t.true(waited >= HOLD_MS - 200 && waited < HOLD_MS + 10_000, `${mode}: waited ${waited} ms`);
    }
  } finally {
    await finish(t, s);
  }
});

e2eTest('a guest process holds a lock: a host process is refused, then waits until the guest lets go (posix, ofd, flock)', async (t) => {
  t.timeout(180_000);
  // Each round starts when the host says so: the host's last probe of a round must not meet the next round's lock.
  const loop = `for m in ${MODES.join(' ')}; do read go; ${GUEST_FSTEST} lockhold /mnt/guest.lock $m || rc=1; done`;
  const s = await boot('guest.lock', loop);
  const file = path.join(s.share, 'guest.lock');
  try {
    let since = 0;
    for (const mode of MODES) {
      s.g.sendConsole('go\n');
      await s.g.waitForConsole(/lockhold: locked/, 30_000, since);
      since = s.g.console().indexOf('lockhold: locked', since) + 1;
      const probe = await hostFstest(['trylock', file, mode]);
      t.is(await probe.exited, 1, `${mode}: the host's non-blocking attempt: ${probe.out()}`);
      t.regex(probe.out(), /trylock: busy (EAGAIN|EACCES|EWOULDBLOCK)/);

      const waiter = await hostFstest(['lockwait', file, mode]);
      await waiter.waitFor(/lockwait: waiting/);
      await sleep(HOLD_MS);
      s.g.sendConsole('release\n');
      t.is(await waiter.exited, 0, `${mode}: host lockwait: ${waiter.out()}`);
      const rep = parseFstest(waiter.out());
      if (mode !== 'flock') t.true(rep.ok.includes(`${mode}_getlk_reports_holder`), `${mode}: the host's F_GETLK sees the guest's lock: ${waiter.out()}`);
      const waited = Number(rep.info.get(`${mode}_lock_waited`)?.waited_ms);
      t.log(`${mode}: the host waited ${waited} ms for the guest's lock`);
      t.true(waited >= HOLD_MS - 200 && waited < HOLD_MS + 10_000, `${mode}: waited ${waited} ms`);
      await s.g.waitForConsole(/lockhold: released/, 30_000, since);
      const after = await hostFstest(['trylock', file, mode]);
      t.is(await after.exited, 0, `${mode}: free again once the guest let go: ${after.out()}`);
    }
  } finally {
    await finish(t, s);
  }
});
