/**
 * Live upgrade without a VM (issue 11): our front-end drives a steady FUSE request stream at queue
 * depth 16 against a daemon process started with --upgrade-socket; a successor started with
 * --take-over replaces it, twice. Every request gets exactly one reply, nodeids and handles keep
 * their meaning, the original processes exit 0, and the pause is measured.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient } from '../../src/frontend/fuse-client.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { successorThatDies } from '../helpers/upgrade.js';

const O_RDWR = 2;

test('two live upgrades under a QD16 request stream: one reply per request, same nodeids and handles, old daemons exit 0', async (t) => {
  const share = tmpDir('vfs-up-');
  const work = tmpDir('vfs-upw-');
  fs.writeFileSync(path.join(share, 'data.bin'), Buffer.alloc(64 * 1024, 0x5a));
  const up = path.join(work, 'upgrade.sock');
  const args = ['--persistent', '--upgrade-socket', up, '--inode-file-handles', 'never'];
  const first = await spawnDaemon({ sharedDir: share, args });
  const fe = await VhostUserFrontend.connect({ socketPath: first.socketPath, queueSize: 128, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  const file = await c.lookup(1n, 'data.bin');
  const open = await c.open(file.nodeid, O_RDWR);
  const dir = await c.mkdir(1n, 'made-before', 0o755);

  // The stream: each worker alternates GETATTR, READ and WRITE through the handle opened above.
  let running = true;
  let done = 0;
  let worst = 0;
  const failures: string[] = [];
  const worker = async (w: number) => {
    for (let i = 0; running; i++) {
      const t0 = performance.now();
      try {
        if (i % 3 === 0) {
          const a = await c.getattr(file.nodeid);
          if (a.attr.ino === 0n) throw new Error('bad attr');
        } else if (i % 3 === 1) {
          const b = await c.read(file.nodeid, open.fh, BigInt(w * 1024), 1024);
          if (b.length !== 1024) throw new Error(`short read ${b.length}`);
        } else {
          await c.write(file.nodeid, open.fh, BigInt(w * 1024), Buffer.alloc(1024, 0x5a));
        }
      } catch (e) {
        failures.push(`${w}/${i}: ${(e as Error).message}`);
      }
      worst = Math.max(worst, performance.now() - t0);
      done++;
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => worker(w));
  const daemons: DaemonProcess[] = [first];
  const pauses: number[] = [];
  try {
    for (let round = 1; round <= 2; round++) {
      await new Promise((r) => setTimeout(r, 500));
      const before = done;
      worst = 0;
      const next = await spawnDaemon({ sharedDir: share, socketPath: first.socketPath, args: [...args, '--take-over'], waitForSocket: false });
      const prev = daemons[daemons.length - 1]!;
      const code = await Promise.race([prev.exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
      t.is(code, 0, `daemon ${round} exits 0 after handing over:\n${prev.log().slice(-2000)}\n--- successor ---\n${next.log().slice(-2000)}`);
      const m = prev.log().match(/after a ([\d.]+) ms pause/);
      pauses.push(m ? Number(m[1]) : NaN);
      await new Promise((r) => setTimeout(r, 500));
      t.true(done > before + 50, `requests keep flowing after hand-over ${round}`);
      t.log(`hand-over ${round}: daemon-side pause ${m?.[1]} ms, worst request latency across it ${worst.toFixed(1)} ms`);
      daemons.push(next);
      if (code !== 0) return;
    }
  } finally {
    running = false;
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 5000))]);
    if (failures.length > 0 || t.passed === false) {
      fe.close();
      for (const d of daemons) await d.stop();
    }
  }
  t.deepEqual(failures, [], 'no request failed');
  // Ids made before the upgrades still mean the same things.
  t.is((await c.lookup(1n, 'data.bin')).nodeid, file.nodeid);
  t.is((await c.lookup(1n, 'made-before')).nodeid, dir.nodeid);
  t.is((await c.read(file.nodeid, open.fh, 0n, 4)).toString('hex'), '5a5a5a5a');
  const fresh = await c.mkdir(1n, 'made-after', 0o755);
  t.not(fresh.nodeid, dir.nodeid);
  t.true(fs.statSync(path.join(share, 'made-after')).isDirectory());
  t.log(`${done} requests, pauses ${pauses.join(', ')} ms`);
  fe.close();
  for (const d of daemons) await d.stop();
});

test('--take-over with nothing listening is a clear error, exit non-zero', async (t) => {
  const share = tmpDir('vfs-up-');
  const d = await spawnDaemon({ sharedDir: share, args: ['--upgrade-socket', path.join(share, 'none.sock'), '--take-over'], waitForSocket: false });
  const code = await d.exited;
  t.not(code, 0);
  t.regex(d.log(), /no daemon is listening for a successor/);
});

test('a successor that dies mid-hand-over (after taking the state and fds) leaves the old daemon serving', async (t) => {
  const share = tmpDir('vfs-up-');
  const up = path.join(tmpDir('vfs-upw-'), 'upgrade.sock');
  fs.writeFileSync(path.join(share, 'f'), 'still here\n');
  const d = await spawnDaemon({ sharedDir: share, args: ['--upgrade-socket', up, '--inode-file-handles', 'never'] });
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  const f = await c.lookup(1n, 'f');
  const inflight = Array.from({ length: 16 }, () => c.getattr(f.nodeid));
  // A successor that speaks the protocol, takes everything, and dies before ACK.
  const { UpgradeMsg } = await import('../../protocol/upgrade.js');
  t.is(await successorThatDies(up, 10_000, 1), UpgradeMsg.STATE);
  await d.waitForLog(/live upgrade failed, still serving/, 10_000);
  await Promise.all(inflight);
  const b = await c.read(f.nodeid, (await c.open(f.nodeid, 0)).fh, 0n, 64);
  t.is(b.toString(), 'still here\n');
  t.is(d.proc.exitCode, null);
  fe.close();
  await d.stop();
});

test('a successor that reads only older state versions is refused and the old daemon keeps serving', async (t) => {
  const share = tmpDir('vfs-up-');
  const up = path.join(tmpDir('vfs-upw-'), 'upgrade.sock');
  const d = await spawnDaemon({ sharedDir: share, args: ['--upgrade-socket', up] });
  const { UpgradeChannel } = await import('../../src/upgrade/channel.js');
  const { UpgradeMsg } = await import('../../protocol/upgrade.js');
  const native = await import('../../src/native/index.js');
  const fd = native.socket(0);
  native.connect(fd, up);
  const ch = new UpgradeChannel(fd);
  ch.send(UpgradeMsg.HELLO, { maxVersion: 0, pid: 2 });
  const r = await ch.recv(10_000);
  t.is(r.type, UpgradeMsg.REFUSE);
  t.regex((r.body as { reason: string }).reason, /version/);
  ch.close();
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  await c.getattr(1n);
  fe.close();
  await d.stop();
});
