/**
 * The e2e harness itself, with no virtio-fs device, so a failure here points at the kit (kernel,
 * initramfs, QEMU, QMP) and not at the daemon.
 *
 * 1. A script guest: boots, echoes, exits 3; the host sees the boot marker, the text, and 3.
 * 2. A QMP guest: query-status reports running; quit stops QEMU.
 */
import { e2eTest } from '../helpers/e2e.js';
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
