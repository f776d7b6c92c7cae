/**
 * --fd=N, as libvirt starts virtiofsd: the listening socket is inherited, not created. The daemon
 * re-executes itself at start (the V8 flags; with the namespace sandbox, through unshare(1)), so
 * the inherited fd must survive execve; the front-end then connects to the socket libvirt made.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../../src/native/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient } from '../../src/frontend/fuse-client.js';
import { ourBinary } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';

for (const sandbox of process.geteuid?.() === 0 ? ['namespace', 'none'] : ['none']) {
  test(`--fd=3 --sandbox=${sandbox}: the inherited listening socket serves a front-end after the re-exec`, async (t) => {
    const share = tmpDir('vfs-fd-');
    fs.writeFileSync(path.join(share, 'a'), 'from the host\n');
    const sock = path.join(tmpDir('vfs-fds-'), 'libvirt.sock');
    const l = native.socket(0);
    native.bind(l, sock);
    native.listen(l, 1);
    const child = spawn(process.execPath, [ourBinary, '--fd=3', '--shared-dir', share, `--sandbox=${sandbox}`, '--log-level=info'], { stdio: ['ignore', 'pipe', 'pipe', l] });
    native.closeQuietly(l); // the daemon owns it now, as under libvirt
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b));
    child.stderr!.on('data', (b: Buffer) => (out += b));
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      const fe = await VhostUserFrontend.connect({ socketPath: sock, queueSize: 64, watchdogMs: 0, connectTimeoutMs: 10_000 });
      const c = new FuseClient(fe);
      await c.init();
      const e = await c.lookup(1n, 'a');
      const o = await c.open(e.nodeid, 0);
      t.is((await c.read(e.nodeid, o.fh, 0n, 100)).toString(), 'from the host\n');
      fe.close();
      t.is(await closed, 0, out);
      t.regex(out, /serving .* on fd 3/);
    } finally {
      child.kill('SIGKILL');
    }
  });
}
