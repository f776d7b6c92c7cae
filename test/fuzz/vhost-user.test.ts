/**
 * Fuzzing the vhost-user protocol handler through a real socket: each case is a prefix of QEMU 10's
 * handshake followed by random requests, each possibly mutated (payload sizes, lying header sizes,
 * unknown request numbers, bad header flags, missing/extra/wrong-kind fds — real eventfds, memfds,
 * sockets — raw garbage, writes cut into pieces), against our back-end with the echo device and with
 * the virtio-fs device (FuseServer + NullFileSystem).
 *
 * After every case:
 *   1. every reply the daemon sent was a well-formed vhost-user reply;
 *   2. a final GET_FEATURES is answered when the stream is still in step (no hang);
 *   3. the daemon tears the connection down and its fd table is back to the baseline (no fd leak);
 *   4. a fresh front-end can handshake and round-trip a request.
 * At the end, RSS and heap after GC have not grown without bound.
 */
import fs from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { NullFileSystem } from '../../src/fuse/null-filesystem.js';
import { checkProperty } from './helpers/fuzz.js';
import { MiB, describeGrowth, memorySample } from './helpers/health.js';
import { checkNoFdLeak, roundTrip, settle, startFuzzDaemon, type DeviceKind } from './helpers/daemon-fuzz.js';
import { play } from './helpers/vhost-user-driver.js';
import { scenario } from './helpers/vhost-user-gen.js';
import { waitFor } from './helpers/fuzz.js';

for (const kind of ['echo', 'virtio-fs'] as DeviceKind[]) {
  test.serial(`vhost-user fuzz (${kind} device): mutated handshakes and random requests; the daemon stays up, answers, leaks no fd and no memory`, async (t) => {
    const f = await startFuzzDaemon(kind, { fs: () => new NullFileSystem() });
    t.teardown(() => f.d.stop());
    const mem0 = memorySample();
    let cases = 0;
    let dropped = 0;
    let replies = 0;
    const handledBefore = f.device.handled;
    const prop = fc.asyncProperty(scenario(1), async (steps) => {
      if (process.env.VFS_FUZZ_TRACE) fs.writeSync(2, `case ${cases}: ${steps.map((s) => fc.stringify(s)).join(' ')}\n`);
      // The test helper keeps every back-end it saw; forget them, or the heap check measures the list.
      f.d.backends.length = 0;
      const r = await play(f.d.socketPath, steps);
      if (r.droppedByDaemon) dropped++;
      replies += r.replies.length;
      const code = (r.readerError as { code?: string } | undefined)?.code;
      if (r.readerError !== undefined && code !== 'VHOST_USER_DISCONNECTED' && code !== 'VHOST_USER_SEND_FAILED') {
        throw new Error(`the daemon sent a malformed reply: ${(r.readerError as { code?: string }).code}: ${r.readerError.message}`);
      }
      const asked = new Set([1, ...steps.map((s) => s.header?.request)]);
      for (const m of r.replies) {
        // Out of step, any 4 bytes may have been read as a request number.
        if ((m.header.flags & 0x7) !== 0x5 || (r.inStep && !asked.has(m.header.request))) {
          throw new Error(`bad reply header: request ${m.header.request} flags 0x${m.header.flags.toString(16)}`);
        }
      }
      await waitFor(() => f.d.backends.length > 0, 5000, 'the daemon to accept the case connection');
      await settle(f);
      if (f.failure() !== undefined) throw new Error(`the daemon's accept loop failed: ${f.failure()!.message}`);
      checkNoFdLeak(f, steps.map((s) => s.label).join(' '));
      // A fresh handshake after every other case (and after every case while shrinking a failure).
      if (cases++ % 2 === 0) {
        await roundTrip(f);
        checkNoFdLeak(f, 'a fresh round trip');
      }
    });
    await checkProperty(t, `vhost-user/${kind}`, prop, 500);
    t.log(`${dropped} connections dropped by the daemon, ${replies} replies, ${f.device.handled - handledBefore} chains served (fuzzed rings and round trips)`);
    await roundTrip(f);
    const mem1 = memorySample();
    t.log(describeGrowth(mem0, mem1));
    t.true(mem1.heapUsed - mem0.heapUsed < 32 * MiB, `heap grew: ${describeGrowth(mem0, mem1)}`);
    t.true(mem1.rss - mem0.rss < 128 * MiB, `rss grew: ${describeGrowth(mem0, mem1)}`);
  });
}
