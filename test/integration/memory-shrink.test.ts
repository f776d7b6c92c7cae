/**
 * A hostile front-end shrinks the memfd it shared as guest RAM (ftruncate to 0) and kicks a queue:
 * the daemon's next read of the ring faults (SIGBUS). It must not die: the fault is rescued
 * (native/bus.c), the connection is dropped with a clear error, and the next front-end is served.
 * Regression for the last crash path docs/fuzzing.md listed as open.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../../src/native/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient } from '../../src/frontend/fuse-client.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';

test('regression: a front-end that truncates its shared memfd and kicks gets its connection dropped; the daemon lives and serves the next one', async (t) => {
  const share = tmpDir('vfs-shrink-');
  fs.writeFileSync(path.join(share, 'a'), 'x');
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent', '--log-level=info'] });
  try {
    const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queueSize: 64, watchdogMs: 0 });
    const c = new FuseClient(fe);
    await c.init();
    t.is((await c.lookup(1n, 'a')).nodeid > 0n, true);
    // Hostile: the whole region goes away under the daemon; this process must not touch it either.
    native.ftruncate(fe.memory.regions[0]!.fd, 0);
    fe.queues[1]!.kick();
    await d.waitForLog(/MEM_SHRUNK|guest memory at 0x[0-9a-f]+ is gone/, 10_000);
    await d.waitForLog(/waiting for the next front-end/, 10_000);
    t.is(d.proc.exitCode, null, 'the daemon is still running');
    fe.close();

    const fe2 = await VhostUserFrontend.connect({ socketPath: d.socketPath, queueSize: 64, watchdogMs: 0 });
    const c2 = new FuseClient(fe2);
    await c2.init();
    t.true((await c2.lookup(1n, 'a')).nodeid > 0n, 'the next front-end is served');
    fe2.close();
  } finally {
    t.is(await d.stop('SIGTERM'), 0, 'clean exit after all that');
  }
});
