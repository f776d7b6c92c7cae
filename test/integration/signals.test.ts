/**
 * Shutdown and restart of the daemon process (issue 5): SIGTERM and SIGINT finish, remove the socket
 * and pid files and exit 0; a stale socket left by a SIGKILLed daemon does not stop the next start;
 * without --persistent the daemon exits 0 when its front-end disconnects.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient } from '../../src/frontend/fuse-client.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  test(`${sig} with a connected front-end: exit 0, socket and pid file removed`, async (t) => {
    const share = tmpDir('vfs-sig-');
    const pidFile = path.join(tmpDir('vfs-sigp-'), 'd.pid');
    const d = await spawnDaemon({ sharedDir: share, args: ['--persistent', '--pid-file', pidFile] });
    t.is(fs.readFileSync(pidFile, 'utf8').trim(), String(d.proc.pid), 'same pid after the re-exec');
    const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
    const c = new FuseClient(fe);
    await c.init();
    const pending = Array.from({ length: 8 }, () => c.getattr(1n).then(() => 'ok', () => 'failed'));
    d.proc.kill(sig);
    t.is(await d.exited, 0);
    t.true((await Promise.all(pending)).every((r) => r === 'ok' || r === 'failed'), 'every request settled');
    t.false(fs.existsSync(d.socketPath), 'socket file removed');
    t.false(fs.existsSync(pidFile), 'pid file removed');
    fe.close();
  });
}

test('a stale socket left by a SIGKILLed daemon does not stop the next start', async (t) => {
  const share = tmpDir('vfs-stale-');
  const a = await spawnDaemon({ sharedDir: share });
  a.proc.kill('SIGKILL');
  await a.exited;
  t.true(fs.existsSync(a.socketPath), 'the killed daemon left its socket file');
  const b = await spawnDaemon({ sharedDir: share, socketPath: a.socketPath });
  const fe = await VhostUserFrontend.connect({ socketPath: b.socketPath, watchdogMs: 0 });
  await new FuseClient(fe).init();
  fe.close();
  t.is(await b.exited, 0, 'without --persistent it exits 0 when the front-end goes');
});

test('a socket path held by a live daemon is refused with a clear error', async (t) => {
  const share = tmpDir('vfs-live-');
  const a = await spawnDaemon({ sharedDir: share });
  const b = await spawnDaemon({ sharedDir: share, socketPath: a.socketPath, waitForSocket: false });
  t.is(await b.exited, 1);
  t.regex(b.log(), /another process is listening on/);
  await a.stop();
});

test('regression: a socket path held by a listener that never accepts (full backlog) is refused at once, not waited on forever', async (t) => {
  const native = await import('../../src/native/index.js');
  const sock = path.join(tmpDir('vfs-hung-'), 'vhost.sock');
  const l = native.socket(0);
  native.bind(l, sock);
  native.listen(l, 0);
  // Fill the backlog: the next blocking connect would sleep until someone accepts (nobody will).
  const fillers: number[] = [];
  for (let i = 0; i < 4; i++) {
    const c = native.socket(native.SOCK_NONBLOCK);
    fillers.push(c);
    try {
      native.connect(c, sock);
    } catch {
      break; // EAGAIN: full
    }
  }
  try {
    const d = await spawnDaemon({ sharedDir: tmpDir('vfs-hungs-'), socketPath: sock, waitForSocket: false, args: ['--sandbox=none'] });
    const code = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    if (code === 'still running after 10 s') await d.stop('SIGKILL');
    t.is(code, 1);
    t.regex(d.log(), /another process is listening on .* \(and not accepting\)/);
  } finally {
    [l, ...fillers].forEach((fd) => native.closeQuietly(fd));
  }
});

for (const delay of [300, 0]) {
test(`a guest lock wait blocked on a host lock does not hold up GET_VRING_BASE: it ends with EINTR (ring stopped ${delay} ms after the request${delay === 0 ? ': the wait may begin after the stop began' : ''})`, async (t) => {
  const nfs = await import('../../src/native/fs.js');
  const share = tmpDir('vfs-lkstop-');
  fs.writeFileSync(path.join(share, 'locked'), 'x');
  const hostFd = fs.openSync(path.join(share, 'locked'), 'r+');
  await nfs.fcntlLock(hostFd, nfs.F_OFD_SETLK, { type: nfs.F_WRLCK, whence: 0, start: 0, len: 0 });
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent'] });
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  const e = await c.lookup(1n, 'locked');
  const o = await c.open(e.nodeid, 2);
  const wait = c.setlk(e.nodeid, o.fh, 42n, { start: 0n, end: 0xffffffffffffffffn, type: nfs.F_WRLCK, pid: 1 }, { sleep: true }).then(
    () => 'granted',
    (err: { code?: string }) => err.code ?? 'error',
  );
  await new Promise((r) => setTimeout(r, delay));
  const t0 = Date.now();
  await fe.stopQueue(1);
  t.true(Date.now() - t0 < 5000, `the ring stopped in ${Date.now() - t0} ms`);
  t.is(await wait, 'EINTR');
  fs.closeSync(hostFd);
  fe.close();
  await d.stop();
});
}
