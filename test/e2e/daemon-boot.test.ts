/**
 * The loop: QEMU 10 boots the guest kit against our daemon; the guest mounts the share and uses it.
 *  1. start the daemon on a fresh share holding one file
 *  2. boot a guest whose script mounts the share, lists it, reads the file and writes another
 *  3. the daemon saw the QEMU 10 sequence; the host sees the guest's write; the daemon exits 0 after QEMU goes
 */
import fs from 'node:fs';
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { runGuest } from '../helpers/qemu.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';

e2eTest('QEMU 10 boots against the daemon; the guest mounts, lists, reads and writes the share', async (t) => {
  const share = tmpDir('vfs-share-');
  fs.writeFileSync(path.join(share, 'hello.txt'), 'hello from the host\n');
  const d = await spawnDaemon({ sharedDir: share, args: ['--log-level', 'debug'] });
  const script = [
    'mount -t virtiofs myfs /mnt || exit 10',
    'ls -la /mnt',
    'cat /mnt/hello.txt || exit 11',
    'echo "written by the guest" > /mnt/guest.txt || exit 12',
    'sync',
    'umount /mnt || exit 13',
    'echo GUEST-DONE',
  ].join('\n');
  const r = await runGuest({ script, fs: [{ socket: d.socketPath, tag: 'myfs' }], timeoutMs: 90_000 });
  const code = await Promise.race([d.exited, new Promise((res) => setTimeout(() => res('still running'), 10_000))]);
  t.is(r.exitCode, 0, r.summary + '\n--- daemon log tail ---\n' + d.log().slice(-4000));
  t.true(r.console.includes('hello from the host'));
  t.true(r.console.includes('GUEST-DONE'));
  t.is(fs.readFileSync(path.join(share, 'guest.txt'), 'utf8'), 'written by the guest\n');
  const log = d.log();
  let at = 0;
  for (const m of ['GET_FEATURES', 'GET_PROTOCOL_FEATURES', 'SET_OWNER', 'RESET_DEVICE', 'SET_FEATURES', 'ADD_MEM_REG', 'SET_VRING_NUM', 'SET_VRING_ADDR', 'SET_VRING_KICK', 'SET_VRING_ENABLE']) {
    const i = log.indexOf(`request VHOST_USER_${m}`, at);
    t.true(i >= 0, `daemon saw ${m} in order`);
    if (i >= 0) at = i;
  }
  t.is(code, 0, 'without --persistent the daemon exits 0 when QEMU goes away');
  await d.stop();
});
