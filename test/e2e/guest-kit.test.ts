/**
 * The e2e harness itself, with no virtio-fs device, so a failure here points at the kit (kernel,
 * initramfs, QEMU, QMP) and not at the daemon.
 *
 * 1. A script guest: boots, echoes, exits 3; the host sees the boot marker, the text, and 3.
 * 2. A QMP guest: query-status reports running; quit stops QEMU.
 * 3. With the reference Rust virtiofsd as the back-end: the guest mounts the share, reads a host
 *    file, writes one back. This proves the kit's modules, shared memory and device options, so
 *    the same scenario failing against our daemon is our daemon's fault.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { e2eTest } from '../helpers/e2e.js';
import { peerBinary } from '../helpers/peers.js';
import { runGuest, startGuest } from '../helpers/qemu.js';

e2eTest('guest kit boots and reports the script exit status', async (t) => {
  const r = await runGuest({
    script: 'echo "hello from $(uname -r)"\ngrep -qw virtiofs /proc/filesystems && echo virtiofs-loaded\nexit 3\n',
    timeoutMs: 90_000,
  });
  t.log(`boot ${r.bootMs} ms, total ${r.durationMs} ms`);
  t.true(r.bootOk, r.summary);
  t.regex(r.console, /hello from 6\.\d+/, r.summary);
  t.regex(r.console, /virtiofs-loaded/, r.summary);
  t.is(r.exitCode, 3, r.summary);
  t.false(r.timedOut, r.summary);
  t.is(r.qemuExitCode, 0, r.summary);
});

e2eTest('QMP: query-status says running, quit ends QEMU', async (t) => {
  // The script waits on the console so the guest is still up when QMP asks.
  const g = await startGuest({ script: 'read line\necho "got $line"\n', timeoutMs: 90_000 });
  try {
    await g.waitForConsole(/VFS-GUEST: boot ok/);
    const qmp = await g.qmp();
    const status = await qmp.execute<{ running: boolean; status: string }>('query-status');
    t.true(status.running);
    t.is(status.status, 'running');
    await t.throwsAsync(qmp.execute('no-such-command'), { code: 'QMP_ERROR', message: /CommandNotFound/ });
    await qmp.execute('quit');
    const r = await g.exited;
    t.false(r.timedOut, r.summary);
    t.is(r.exitCode, null, 'quit came before the script finished');
  } finally {
    await g.kill();
  }
});

e2eTest('kit + reference virtiofsd: the guest mounts, reads and writes the share', async (t) => {
  const daemon = peerBinary('virtiofsd-rust');
  if (!daemon) {
    const why = 'the Rust virtiofsd is not fetched: run `bash scripts/fetch-peers.sh`';
    if (process.env.CI === 'true') {
      t.fail(why);
    } else {
      t.log(`skipped: ${why}`);
      t.pass();
    }
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-kit-'));
  const share = path.join(dir, 'share');
  const sock = path.join(dir, 'vfs.sock');
  fs.mkdirSync(share);
  fs.writeFileSync(path.join(share, 'hello.txt'), 'from-the-host\n');
  const d = spawn(daemon, [`--socket-path=${sock}`, `--shared-dir=${share}`, '--sandbox=none', '--cache=never'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  d.stderr.on('data', (b: Buffer) => (log += b.toString()));
  try {
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await sleep(50);
    const r = await runGuest({
      fs: [{ socket: sock, tag: 'kitfs' }],
      script: 'mount -t virtiofs kitfs /mnt || exit 10\ncat /mnt/hello.txt\necho from-the-guest > /mnt/out.txt\numount /mnt\n',
      timeoutMs: 90_000,
      workDir: dir,
    });
    t.is(r.exitCode, 0, `${r.summary}\n--- virtiofsd ---\n${log}`);
    t.regex(r.console, /from-the-host/, r.summary);
    t.is(fs.readFileSync(path.join(share, 'out.txt'), 'utf8'), 'from-the-guest\n');
  } finally {
    d.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
