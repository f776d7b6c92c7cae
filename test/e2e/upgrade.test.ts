/**
 * Live upgrade under a real QEMU 10 guest (issue 11):
 *  1. the guest appends a line to a file it holds open and reads another file every 0.2 s for ~40 s
 *  2. the daemon is replaced twice (--take-over) while that runs
 *  3. every line is in the file, no read failed, the guest logged no error, the old daemons exited 0
 */
import fs from 'node:fs';
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { startGuest } from '../helpers/qemu.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { successorThatDies } from '../helpers/upgrade.js';

e2eTest('the daemon is replaced twice under a guest that appends and reads every 0.2 s; the guest never notices', async (t) => {
  const share = tmpDir('vfs-upe-');
  const up = path.join(tmpDir('vfs-upew-'), 'upgrade.sock');
  fs.writeFileSync(path.join(share, 'other.txt'), 'the other file\n');
  const args = ['--persistent', '--upgrade-socket', up];
  const first = await spawnDaemon({ sharedDir: share, args });
  const script = `mount -t virtiofs up /mnt || exit 10
exec 3>>/mnt/appended.txt || exit 11
i=0; bad=0
while [ $i -lt 200 ]; do
  echo "line $i" >&3 || { echo "GUEST-ERROR write $i"; bad=$((bad+1)); }
  c=$(cat /mnt/other.txt) || { echo "GUEST-ERROR read $i"; bad=$((bad+1)); }
  [ "$c" = "the other file" ] || { echo "GUEST-ERROR content $i: $c"; bad=$((bad+1)); }
  [ $((i % 25)) -eq 0 ] && echo "TICK $i"
  i=$((i+1)); sleep 0.2
done
exec 3>&-
dmesg | grep -i -E "virtio|fuse" | grep -i -E "error|fail|timeout" | sed 's/^/GUEST-ERROR dmesg /'
echo "UP-DONE $i bad=$bad"
umount /mnt`;
  const g = await startGuest({ script, fs: [{ socket: first.socketPath, tag: 'up' }], timeoutMs: 240_000 });
  const daemons: DaemonProcess[] = [first];
  try {
    await g.waitForConsole(/TICK 25/, 90_000);
    for (let round = 1; round <= 2; round++) {
      const next = await spawnDaemon({ sharedDir: share, socketPath: first.socketPath, args: [...args, '--take-over'], waitForSocket: false });
      const prev = daemons[daemons.length - 1]!;
      const code = await Promise.race([prev.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
      t.is(code, 0, `daemon ${round} hands over and exits 0\n${prev.log().slice(-1500)}\n--- successor ---\n${next.log().slice(-1500)}`);
      t.log(prev.log().match(/handed over .*/)?.[0] ?? 'no hand-over line');
      daemons.push(next);
      const since = g.console().length;
      await g.waitForConsole(/TICK \d+/, 60_000, since);
    }
    const m = await g.waitForConsole(/UP-DONE (\d+) bad=(\d+)/, 120_000);
    t.is(m[2], '0', 'no read or write failed in the guest');
    t.false(g.console().includes('GUEST-ERROR'), g.console().split('\n').filter((l) => l.includes('GUEST-ERROR')).join('\n'));
    const lines = fs.readFileSync(path.join(share, 'appended.txt'), 'utf8').trimEnd().split('\n');
    t.deepEqual(lines, Array.from({ length: Number(m[1]) }, (_, i) => `line ${i}`));
  } finally {
    await g.kill();
    for (const d of daemons) await d.stop();
  }
});

e2eTest('a successor killed mid-hand-over leaves the guest served by the old daemon', async (t) => {
  const share = tmpDir('vfs-upk-');
  const up = path.join(tmpDir('vfs-upkw-'), 'upgrade.sock');
  fs.writeFileSync(path.join(share, 'other.txt'), 'the other file\n');
  const d = await spawnDaemon({ sharedDir: share, args: ['--upgrade-socket', up] });
  const script = `mount -t virtiofs up /mnt || exit 10
i=0; bad=0
while [ $i -lt 60 ]; do
  echo "line $i" >> /mnt/appended.txt || bad=$((bad+1))
  [ "$(cat /mnt/other.txt)" = "the other file" ] || bad=$((bad+1))
  [ $((i % 10)) -eq 0 ] && echo "TICK $i"
  i=$((i+1)); sleep 0.2
done
echo "UP-DONE $i bad=$bad"
umount /mnt`;
  const g = await startGuest({ script, fs: [{ socket: d.socketPath, tag: 'up' }], timeoutMs: 180_000 });
  try {
    await g.waitForConsole(/TICK 10/, 90_000);
    // A successor that takes the state and every fd, then is killed before it answers.
    const { UpgradeMsg } = await import('../../protocol/upgrade.js');
    t.is(await successorThatDies(up, 20_000, 0), UpgradeMsg.STATE);
    await d.waitForLog(/live upgrade failed, still serving/, 20_000);
    const m = await g.waitForConsole(/UP-DONE (\d+) bad=(\d+)/, 120_000);
    t.is(m[2], '0', 'no read or write failed in the guest');
    t.is(fs.readFileSync(path.join(share, 'appended.txt'), 'utf8').trimEnd().split('\n').length, Number(m[1]));
    t.is(d.proc.exitCode, null, 'the old daemon still runs');
  } finally {
    await g.kill();
    await d.stop();
  }
});
