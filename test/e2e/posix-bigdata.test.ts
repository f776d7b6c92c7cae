/**
 * 256 MiB through the daemon in each direction, checked by sha256 on both sides (TCG guest: this is
 * about correctness, and the MB/s it prints are TCG numbers, not the daemon's ceiling).
 *
 * Guest writes:
 *  1. the guest writes 256 MiB of a generated pattern (fstest bigwrite, fsync included) and times it
 *  2. it drops its page cache and sha256sums the file, so the hash is of bytes read back through
 *     the daemon, not of its own cache
 *  3. the host's sha256 of the host file equals the guest's
 * Host writes:
 *  1. the host writes 256 MiB of random bytes into the share, hashing them as it goes
 *  2. the guest (nothing cached) reads the file once, timed (fstest bigread), then drops its cache
 *     and sha256sums it
 *  3. equal to the host's hash
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { runGuest, type GuestResult } from '../helpers/qemu.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { GUEST_FSTEST, fstestFile, parseFstest } from './posix-fstest.js';

const MIB = 256;
const BYTES = MIB * 1024 * 1024;
/** Guest RAM: the 256 MiB file fits in the page cache beside the kernel. */
const GUEST_MIB = 768;

/** `sh` lines that time a command with /proc/uptime (busybox date has no %N) and print "time LABEL SECONDS". */
const timed = (label: string, cmd: string) => [
  `t0=$(cut -d' ' -f1 /proc/uptime)`,
  cmd,
  `echo "time ${label} $t0 $(cut -d' ' -f1 /proc/uptime)"`,
];

function seconds(r: GuestResult, label: string): number {
  const m = new RegExp(`time ${label} ([\\d.]+) ([\\d.]+)`).exec(r.console);
  return m ? Number(m[2]) - Number(m[1]) : NaN;
}

function guestSha(r: GuestResult, file: string): string | undefined {
  return new RegExp(`^([0-9a-f]{64})  ${file}$`, 'm').exec(r.console)?.[1];
}

async function hostSha(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

const mbps = (bytes: number, s: number) => (bytes / 1e6 / s).toFixed(1);

e2eTest(`the guest writes ${MIB} MiB: the host's sha256 of the host file equals the guest's`, async (t) => {
  t.timeout(280_000);
  const share = tmpDir('vfs-big-');
  const d = await spawnDaemon({ sharedDir: share });
  const script = [
    'mount -t virtiofs myfs /mnt || exit 10',
    `${GUEST_FSTEST} bigwrite /mnt/guest.bin ${MIB} 0x5eed || exit 11`,
    'sync; echo 3 > /proc/sys/vm/drop_caches',
    ...timed('sha256', 'sha256sum /mnt/guest.bin || exit 12'),
    'umount /mnt',
  ].join('\n');
  const r = await runGuest({ script, extraFiles: [await fstestFile()], fs: [{ socket: d.socketPath, tag: 'myfs' }], memoryMiB: GUEST_MIB, timeoutMs: 260_000 });
  await d.stop();
  t.is(r.exitCode, 0, r.summary + '\n--- daemon log tail ---\n' + d.log().slice(-3000));
  const w = parseFstest(r.console).info.get('bigwrite');
  const sha = seconds(r, 'sha256');
  t.log(`guest write: ${w?.bytes} bytes in ${w?.ms} ms = ${w?.mbps} MB/s (fsync included)`);
  t.log(`guest sha256sum after dropping its cache (read through the daemon + hash): ${sha.toFixed(1)} s = ${mbps(BYTES, sha)} MB/s`);
  t.is(Number(w?.bytes), BYTES);
  t.is(fs.statSync(path.join(share, 'guest.bin')).size, BYTES);
  const g = guestSha(r, '/mnt/guest.bin');
  t.truthy(g, 'the guest printed a sha256');
  t.is(await hostSha(path.join(share, 'guest.bin')), g ?? '(none)', 'host and guest agree on the content');
});

e2eTest(`the host writes ${MIB} MiB: the guest's sha256 equals the host's`, async (t) => {
  t.timeout(280_000);
  const share = tmpDir('vfs-big-');
  const file = path.join(share, 'host.bin');
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'w');
  const started = Date.now();
  for (let i = 0; i < MIB; i++) {
    const chunk = randomBytes(1 << 20);
    h.update(chunk);
    fs.writeSync(fd, chunk);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const expected = h.digest('hex');
  t.log(`host wrote ${MIB} MiB of random bytes in ${Date.now() - started} ms`);
  const d = await spawnDaemon({ sharedDir: share });
  const script = [
    'mount -t virtiofs myfs /mnt || exit 10',
    `${GUEST_FSTEST} bigread /mnt/host.bin || exit 11`,
    'echo 3 > /proc/sys/vm/drop_caches',
    ...timed('sha256', 'sha256sum /mnt/host.bin || exit 12'),
    'umount /mnt',
  ].join('\n');
  const r = await runGuest({ script, extraFiles: [await fstestFile()], fs: [{ socket: d.socketPath, tag: 'myfs' }], memoryMiB: GUEST_MIB, timeoutMs: 260_000 });
  await d.stop();
  t.is(r.exitCode, 0, r.summary + '\n--- daemon log tail ---\n' + d.log().slice(-3000));
  const rd = parseFstest(r.console).info.get('bigread');
  const sha = seconds(r, 'sha256');
  t.log(`guest read: ${rd?.bytes} bytes in ${rd?.ms} ms = ${rd?.mbps} MB/s`);
  t.log(`guest sha256sum after dropping its cache (read through the daemon + hash): ${sha.toFixed(1)} s = ${mbps(BYTES, sha)} MB/s`);
  t.is(Number(rd?.bytes), BYTES);
  t.is(guestSha(r, '/mnt/host.bin'), expected, "the guest's sha256 equals the host's");
});
