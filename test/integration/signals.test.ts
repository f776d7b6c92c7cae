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
    t.is(fs.readFileSync(pidFile, 'utf8').trim(), String(d.proc.pid));
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
