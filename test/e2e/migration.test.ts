/**
 * Live migration with real QEMU 10 (issue 6): each QEMU has its own daemon, all on one directory.
 *  1. the guest opens log.txt for append and pre.txt for reading, then appends a line every 0.3 s
 *  2. migrate to a second QEMU (started with -incoming) and then back to a third
 *  3. the host creates `stop`; the guest reads pre.txt through the fd opened before the migrations
 *  4. every line is in log.txt exactly once and in order, QMP said `completed` both times
 * A second test renames the open file on the host before migrating, with --migration-confirm-paths.
 */
import fs from 'node:fs';
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { startGuest, type GuestHandle } from '../helpers/qemu.js';
import { makeScriptInitramfs } from '../helpers/guest-kit.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import type { ExecutionContext } from 'ava';

const GUEST_SCRIPT = `mount -t virtiofs mig /mnt || exit 10
exec 3>>/mnt/log.txt || exit 11
exec 4</mnt/pre.txt || exit 12
cat /mnt/pre.txt | sed 's/^/BEFORE /'
i=0
while [ ! -e /mnt/stop ]; do echo "line $i" >&3; echo "WROTE $i"; i=$((i+1)); sleep 0.3; done
exec 3>&-
cat <&4 | sed 's/^/AFTER /'
echo "MIG-DONE $i"
umount /mnt`;

async function migrate(t: ExecutionContext, from: GuestHandle, uri: string): Promise<void> {
  const qmp = await from.qmp();
  await qmp.execute('migrate', { uri });
  const end = Date.now() + 120_000;
  for (;;) {
    const st = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (st.status === 'completed') break;
    if (st.status === 'failed' || st.status === 'cancelled') throw new Error(`migration ${st.status}: ${st['error-desc'] ?? ''}`);
    if (Date.now() > end) throw new Error(`migration still ${st.status} after 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  t.log(`migration to ${uri} completed`);
}

async function startPair(share: string, initramfs: string, workDir: string, name: string, args: string[], incoming: boolean): Promise<{ d: DaemonProcess; g: GuestHandle; uri: string }> {
  const d = await spawnDaemon({ sharedDir: share, args });
  const uri = `unix:${path.join(workDir, `${name}.mig`)}`;
  const g = await startGuest({ initramfs, fs: [{ socket: d.socketPath, tag: 'mig', id: 'fs0' }], extraArgs: incoming ? ['-incoming', uri] : [], timeoutMs: 240_000 });
  if (incoming) {
    // startGuest returns at once; QEMU listens on the incoming socket only at the end of its start,
    // before its main loop sends the QMP greeting. Migrating earlier fails with ENOENT.
    await g.qmp();
    const sock = uri.slice('unix:'.length);
    for (const end = Date.now() + 30_000; !fs.existsSync(sock); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > end) throw new Error(`the destination QEMU did not listen on ${sock}`);
    }
  }
  return { d, g, uri };
}

async function runMigration(t: ExecutionContext, opts: { args: string[]; renameBeforeMigrating?: boolean }): Promise<void> {
  const share = tmpDir('vfs-mig-');
  const work = tmpDir('vfs-migw-');
  fs.writeFileSync(path.join(share, 'pre.txt'), 'looked up before the migration\n');
  const initramfs = await makeScriptInitramfs(GUEST_SCRIPT);
  const a = await startPair(share, initramfs, work, 'a', opts.args, false);
  const cleanup: (() => Promise<unknown>)[] = [() => a.g.kill(), () => a.d.stop()];
  try {
    await a.g.waitForConsole(/WROTE 3\b/, 90_000);
    if (opts.renameBeforeMigrating) {
      fs.mkdirSync(path.join(share, 'moved'));
      fs.renameSync(path.join(share, 'pre.txt'), path.join(share, 'moved', 'renamed.txt'));
    }
    const b = await startPair(share, initramfs, work, 'b', opts.args, true);
    cleanup.push(() => b.g.kill(), () => b.d.stop());
    await migrate(t, a.g, b.uri);
    await b.g.waitForConsole(/WROTE \d+/, 60_000);
    const c = await startPair(share, initramfs, work, 'c', opts.args, true);
    cleanup.push(() => c.g.kill(), () => c.d.stop());
    const seenOnB = b.g.console().length;
    await b.g.waitForConsole(/WROTE \d+/, 30_000, seenOnB);
    await migrate(t, b.g, c.uri);
    const seenOnC = c.g.console().length;
    await c.g.waitForConsole(/WROTE \d+/, 60_000, seenOnC);
    fs.writeFileSync(path.join(share, 'stop'), '');
    // Up to the newline: the console arrives in chunks, and "MIG-DONE 1" may be the first half of "MIG-DONE 14".
    const m = await c.g.waitForConsole(/MIG-DONE (\d+)\n/, 60_000);
    const n = Number(m[1]);
    const lines = fs.readFileSync(path.join(share, 'log.txt'), 'utf8').trimEnd().split('\n');
    t.deepEqual(lines, Array.from({ length: n }, (_, i) => `line ${i}`), 'every line once, in order');
    t.true(c.g.console().includes('AFTER looked up before the migration'), 'the file opened before the migrations reads correctly after them');
    for (const x of [a, b]) t.regex(x.d.log(), /device state transfer complete/);
    t.regex(c.d.log(), /received \d+ bytes of device state/);
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
  }
}

e2eTest('migration there and back: open files, looked-up inodes and every appended line survive', async (t) => {
  await runMigration(t, { args: [] });
});

e2eTest('a file renamed on the host before migrating is still read through the guest fd (--migration-confirm-paths)', async (t) => {
  await runMigration(t, { args: ['--migration-confirm-paths'], renameBeforeMigrating: true });
});
