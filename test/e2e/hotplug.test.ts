/**
 * Hot-plug and lifecycle with a real QEMU 10 guest (issue 5):
 *  - chardev-add + device_add into a running guest, use, device_del + chardev-remove, three times, to
 *    one --persistent daemon process whose fds and RSS stay flat;
 *  - QEMU SIGKILLed during a guest write loop: the daemon stays up and serves the next QEMU;
 *  - a guest whose RAM is not shared: the device fails, the daemon says why and serves the next one;
 *  - memory hot-plug (pc-dimm on a shared memfd) while the guest copies a file on the share.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { e2eTest } from '../helpers/e2e.js';
import { runGuest, startGuest } from '../helpers/qemu.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { fdCount, statusKiB } from '../helpers/proc.js';

const waitMount = (tag: string, label: string) => `n=0; until mount -t virtiofs ${tag} /mnt 2>/dev/null; do n=$((n+1)); [ $n -gt 600 ] && { echo "${label}: mount timed out"; exit 20; }; sleep 0.1; done`;

e2eTest('hot-plug, use, unplug and re-plug three times to one --persistent daemon; fds and RSS stay flat', async (t) => {
  const share = tmpDir('vfs-hp-');
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent'] });
  const script = `
for i in 1 2 3; do
  ${waitMount('hp', 'HP')}
  echo "cycle $i" > /mnt/cycle$i.txt
  cat /mnt/cycle$i.txt
  ls /mnt | wc -l | sed 's/^/HP-FILES /'
  umount /mnt || exit 21
  echo "HP: unmounted $i"
  read -r go
done
echo HP: done`;
  const g = await startGuest({ script, timeoutMs: 240_000 });
  try {
    const qmp = await g.qmp();
    await g.waitForConsole(/VFS-GUEST: boot ok/, 60_000);
    const readings: { fds: number; rssKiB: number }[] = [];
    for (let i = 1; i <= 3; i++) {
      await qmp.execute('chardev-add', { id: `hpchar${i}`, backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: d.socketPath } }, server: false } } });
      await qmp.execute('device_add', { driver: 'vhost-user-fs-pci', id: `hpfs${i}`, chardev: `hpchar${i}`, tag: 'hp' });
      await g.waitForConsole(new RegExp(`HP: unmounted ${i}`), 90_000);
      t.true(g.console().includes(`cycle ${i}`));
      const deleted = qmp.waitForEvent('DEVICE_DELETED', 60_000, (e) => (e.data as { device?: string } | undefined)?.device === `hpfs${i}`);
      await qmp.execute('device_del', { id: `hpfs${i}` });
      await deleted;
      await qmp.execute('chardev-remove', { id: `hpchar${i}` });
      // The daemon notices the disconnect and goes back to listening.
      await waitFor(() => (d.log().match(/waiting for the next front-end/g) ?? []).length >= i, 20_000);
      readings.push({ fds: fdCount(d.proc.pid!), rssKiB: statusKiB(d.proc.pid!, 'VmRSS') });
      g.sendConsole('go\n');
    }
    await g.waitForConsole(/HP: done/, 30_000);
    t.log(`daemon after each cycle: ${readings.map((r) => `${r.fds} fds, ${(r.rssKiB / 1024).toFixed(1)} MiB`).join(' | ')}`);
    t.is(readings[2]!.fds, readings[0]!.fds, 'no fd leaked across plug cycles');
    t.true(readings[2]!.rssKiB - readings[0]!.rssKiB < 16 * 1024, 'RSS within 16 MiB of the first cycle');
    for (let i = 1; i <= 3; i++) t.is(fs.readFileSync(path.join(share, `cycle${i}.txt`), 'utf8'), `cycle ${i}\n`);
    t.is(d.proc.exitCode, null, 'daemon still running');
  } finally {
    await g.kill();
    await d.stop();
  }
});

e2eTest('QEMU killed with SIGKILL during a guest write loop: the daemon logs it, stays up and serves a new QEMU', async (t) => {
  const share = tmpDir('vfs-kill-');
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent'] });
  const g = await startGuest({
    script: `mount -t virtiofs k /mnt || exit 10
echo LOOP-STARTED
i=0; while true; do dd if=/dev/zero of=/mnt/f$((i % 4)) bs=64k count=16 2>/dev/null; i=$((i+1)); done`,
    fs: [{ socket: d.socketPath, tag: 'k' }],
    timeoutMs: 120_000,
  });
  await g.waitForConsole(/LOOP-STARTED/, 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  await g.kill();
  await d.waitForLog(/front-end disconnected|front-end connection failed/, 20_000);
  await d.waitForLog(/waiting for the next front-end/, 20_000);
  const r = await runGuest({ script: 'mount -t virtiofs k /mnt || exit 10\nls /mnt | sed "s/^/LS /"\necho ok > /mnt/after.txt\numount /mnt', fs: [{ socket: d.socketPath, tag: 'k' }], timeoutMs: 90_000 });
  t.is(r.exitCode, 0, r.summary);
  t.true(r.console.includes('LS f0'));
  t.is(fs.readFileSync(path.join(share, 'after.txt'), 'utf8'), 'ok\n');
  t.is(d.proc.exitCode, null);
  await d.stop();
});

e2eTest('hot-plug into a guest whose RAM is not shared: the device fails, the daemon says why and serves the next guest', async (t) => {
  const share = tmpDir('vfs-noshare-');
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent'] });
  // mount(2) returns before FUSE_INIT is answered, so only using the share tells whether it works.
  const g = await startGuest({
    memoryKind: 'private',
    script: `n=0; until mount -t virtiofs ns /mnt 2>/dev/null; do n=$((n+1)); [ $n -gt 100 ] && { echo NS-NO-MOUNT; exit 0; }; sleep 0.1; done
if timeout -s KILL 15 ls /mnt >/dev/null 2>&1; then echo NS-WORKS; else echo NS-UNUSABLE; fi`,
    timeoutMs: 120_000,
  });
  try {
    const qmp = await g.qmp();
    await g.waitForConsole(/VFS-GUEST: boot ok/, 60_000);
    await qmp.execute('chardev-add', { id: 'nschar', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: d.socketPath } }, server: false } } });
    await qmp.execute('device_add', { driver: 'vhost-user-fs-pci', id: 'nsfs', chardev: 'nschar', tag: 'ns' }).catch((e: Error) => t.log(`device_add: ${e.message}`));
    await d.waitForLog(/Guest RAM is not shared: start QEMU with -object memory-backend-memfd/, 60_000);
    await g.waitForConsole(/NS-NO-MOUNT|NS-WORKS|NS-UNUSABLE/, 60_000);
    t.false(g.console().includes('NS-WORKS'), 'the share cannot work without shared memory');
  } finally {
    await g.kill();
  }
  await d.waitForLog(/waiting for the next front-end/, 20_000);
  const r = await runGuest({ script: 'mount -t virtiofs ns /mnt || exit 10\necho fine > /mnt/x\numount /mnt', fs: [{ socket: d.socketPath, tag: 'ns' }], timeoutMs: 90_000 });
  t.is(r.exitCode, 0, r.summary);
  t.is(fs.readFileSync(path.join(share, 'x'), 'utf8'), 'fine\n');
  await d.stop();
});

e2eTest('memory hot-plug of 256 MiB while the guest copies a file on the share: the copy is intact', async (t) => {
  const share = tmpDir('vfs-memhp-');
  const data = crypto.randomBytes(48 << 20);
  fs.writeFileSync(path.join(share, 'src.bin'), data);
  const want = crypto.createHash('sha256').update(data).digest('hex');
  const d = await spawnDaemon({ sharedDir: share, args: ['--persistent'] });
  const g = await startGuest({
    memoryMiB: 512,
    hotplugSlots: 2,
    maxMemMiB: 1024,
    cmdline: 'memhp_default_state=online',
    fs: [{ socket: d.socketPath, tag: 'mh' }],
    script: `mount -t virtiofs mh /mnt || exit 10
echo COPY-1; cp /mnt/src.bin /mnt/copy1.bin || exit 11
echo COPY-1-DONE
read -r go
grep MemTotal /proc/meminfo
echo 3 > /proc/sys/vm/drop_caches
cp /mnt/src.bin /mnt/copy2.bin || exit 12
sha256sum /mnt/copy2.bin | sed 's/^/SUM2 /'
umount /mnt`,
    timeoutMs: 240_000,
  });
  try {
    const qmp = await g.qmp();
    await g.waitForConsole(/COPY-1/, 60_000);
    // Plug the DIMM while the first copy runs.
    await qmp.execute('object-add', { 'qom-type': 'memory-backend-memfd', id: 'dimm0mem', size: 256 * 1024 * 1024, share: true });
    await qmp.execute('device_add', { driver: 'pc-dimm', id: 'dimm0', memdev: 'dimm0mem' });
    await d.waitForLog(/memory region added/, 30_000);
    await g.waitForConsole(/COPY-1-DONE/, 120_000);
    g.sendConsole('go\n');
    const m = await g.waitForConsole(/SUM2 ([0-9a-f]{64})/, 180_000);
    t.is(m[1], want, 'the copy made after the hot-plug is intact');
    t.true(/MemTotal:\s+(\d+)/.test(g.console()) && Number(g.console().match(/MemTotal:\s+(\d+)/)![1]) > 600 * 1024, 'the guest sees the new memory');
    const r = await g.exited;
    t.is(r.exitCode, 0, r.summary);
    t.is(crypto.createHash('sha256').update(fs.readFileSync(path.join(share, 'copy1.bin'))).digest('hex'), want, 'the copy running during the hot-plug is intact');
  } finally {
    await g.kill();
    await d.stop();
  }
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
