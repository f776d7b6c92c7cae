/**
 * `npm run demo`: start virtiofsd-ts on a demo share, boot a small Linux guest (QEMU 10, TCG) whose
 * init mounts the share, lists it, reads a file, writes a file and a directory; then show, from the
 * host, what the guest wrote. Everything it needs is built on first use (guest kernel + initramfs
 * from Debian packages, cached in .cache/guest).
 *
 *   npm run demo                 # demo share in a fresh temporary directory
 *   npm run demo -- --share DIR  # use (and write into) DIR instead
 *   npm run demo -- --keep       # leave the daemon's log and the share in place
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runGuest, qemuMissingReason } from '../test/helpers/qemu.js';
import { ensureGuestKit } from '../test/helpers/guest-kit.js';
import { spawnDaemon } from '../test/helpers/daemon-process.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { share: { type: 'string' }, keep: { type: 'boolean' } } });
  const missing = qemuMissingReason();
  if (missing !== null) {
    console.error(`demo: ${missing}. Install it with: sudo bash scripts/install-system-deps.sh`);
    return 1;
  }
  const share = values.share ?? fs.mkdtempSync(path.join(os.tmpdir(), 'virtiofsd-ts-demo-'));
  fs.mkdirSync(share, { recursive: true });
  fs.writeFileSync(path.join(share, 'README.txt'), 'This file lives on the host and is read by the guest over virtio-fs.\n');
  console.log(`demo share: ${share}`);
  console.log('building the guest kit (first run only)...');
  await ensureGuestKit();
  const d = await spawnDaemon({ sharedDir: share, args: ['--cache', 'auto'] });
  console.log(`daemon: virtiofsd-ts --socket-path ${d.socketPath} --shared-dir ${share}`);
  const script = `
set -e
mount -t virtiofs demo /mnt
echo "guest: mounted the share:"; grep virtiofs /proc/mounts
echo "guest: ls -la /mnt"; ls -la /mnt
echo "guest: cat /mnt/README.txt"; cat /mnt/README.txt
mkdir -p /mnt/from-guest
echo "hello from the guest, kernel $(uname -r)" > /mnt/from-guest/hello.txt
dd if=/dev/urandom of=/mnt/from-guest/random.bin bs=64k count=16 2>/dev/null
md5sum /mnt/from-guest/random.bin
df -h /mnt
umount /mnt
`;
  console.log('booting the guest (QEMU 10, TCG; about 5 s)...\n');
  const r = await runGuest({ script, fs: [{ socket: d.socketPath, tag: 'demo' }], timeoutMs: 120_000 });
  const lines = r.console
    .replace(/\x1b(\[[0-9;?]*[a-zA-Z]|c)/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^(VFS-GUEST|SeaBIOS|Booting from ROM)|reboot: Power down/.test(l.trim()));
  console.log(lines.map((l) => `  | ${l}`).join('\n'));
  await d.stop();
  if (r.exitCode !== 0) {
    console.error(`\ndemo failed: ${r.summary}\n--- daemon log ---\n${d.log()}`);
    return 1;
  }
  console.log('\nhost: what the guest wrote:');
  console.log(`  ${path.join(share, 'from-guest/hello.txt')}: ${fs.readFileSync(path.join(share, 'from-guest/hello.txt'), 'utf8').trim()}`);
  const { createHash } = await import('node:crypto');
  console.log(`  ${path.join(share, 'from-guest/random.bin')}: ${fs.statSync(path.join(share, 'from-guest/random.bin')).size} bytes, md5 ${createHash('md5').update(fs.readFileSync(path.join(share, 'from-guest/random.bin'))).digest('hex')}`);
  if (!values.keep && values.share === undefined) fs.rmSync(share, { recursive: true, force: true });
  console.log('\ndemo ok');
  return 0;
}

main().then((c) => (process.exitCode = c), (e) => {
  console.error(e);
  process.exitCode = 1;
});
