/**
 * Every crash or hang the fuzzers found, minimized to the smallest input that showed it, as a named
 * test. Each comment says what happened before the fix and which commit fixed it. Tests whose failure
 * would kill the process run the reproduction in a child process, so a regression is a red test, not a
 * dead test run.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import * as native from '../../src/native/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FrontendReq } from '../../protocol/vhost-user.js';
import * as b from '../helpers/builders/vhost-user.js';
import { EchoDevice, startTestDaemon } from '../helpers/daemon.js';
import { configureLog } from '../../src/log.js';

const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Run an ES module snippet in a fresh node; `@/` in import paths means dist/. */
function child(code: string): { status: number | null; signal: NodeJS.Signals | null; out: string } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code.replaceAll("'@/", `'${distRoot}/`)], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, out: `${r.stdout}${r.stderr}` };
}

/**
 * Found by the vhost-user fuzzer (a case that ended with a dropped connection, then a fresh
 * handshake): native munmap() unmapped and detached a buffer, but Node runs the finalizer of the
 * detached buffer later, and the finalizer looked its mapping up by address, which by then was a new
 * mapping: it unmapped the new one, and the next access died of SIGSEGV. Fixed in native/mem.c.
 */
test('regression: munmap, then a new mapping at the same address: the old buffer\'s late finalizer must not unmap the new one (SIGSEGV)', (t) => {
  const r = child(`
    import * as n from '@/src/native/index.js';
    const fd = n.memfdCreate('regression', 0);
    n.ftruncate(fd, 1 << 20);
    for (let i = 0; i < 8; i++) {
      const a = n.mmap(fd, 1 << 20, 0, true);
      n.munmap(a);
      const b = new Uint8Array(n.mmap(fd, 1 << 20, 0, true));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 1));
      b[0] = i; // SIGSEGV here before the fix
      n.munmap(b.buffer);
    }
    console.log('alive');
  `);
  t.is(r.signal, null, r.out);
  t.is(r.status, 0, r.out);
  t.regex(r.out, /alive/);
});

/**
 * The same bug as the daemon met it: QEMU sends SET_MEM_TABLE again after a memory change; the
 * back-end unmapped the old table and mapped the new one at the same address, then the old buffers'
 * finalizers unmapped the new table and the next request killed the daemon with SIGSEGV.
 */
test('regression: SET_MEM_TABLE sent twice, then a request: the daemon must keep serving (was SIGSEGV)', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  configureLog({ level: 'off' });
  t.teardown(() => d.stop());
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, memoryMode: 'mem-table', watchdogMs: 0, memory: { regions: 1, regionSize: 1 << 20 } });
  t.teardown(() => fe.close());
  t.is((await fe.request(1, Uint8Array.from([1, 2]), 16)).usedLen, 3);
  for (let i = 0; i < 4; i++) {
    await fe.setMemTable();
    await new Promise((r) => setTimeout(r, 5));
    t.is((await fe.request(1, Uint8Array.from([1, 2]), 16)).usedLen, 3);
  }
});

/**
 * Found by the vhost-user fuzzer ('memfd-short' fds): ADD_MEM_REG of a 1 MiB region backed by a
 * 4 KiB memfd was mapped (mmap past EOF succeeds), and the first ring access past the file's end
 * killed the daemon with SIGBUS. Fixed in src/memory/guest-memory.ts: such a region is refused
 * (MEM_REGION_PAST_EOF) and ADD_MEM_REG is answered with a failure.
 */
test('regression: a memory region larger than its memfd is refused instead of killing the daemon with SIGBUS', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  configureLog({ level: 'off' });
  t.teardown(() => d.stop());
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, negotiateOnly: true, watchdogMs: 0, ackAll: true });
  t.teardown(() => fe.close());
  const fd = native.memfdCreate('short', 0);
  t.teardown(() => native.closeQuietly(fd));
  native.ftruncate(fd, 4096);
  const region = { gpa: 0n, size: 1n << 20n, uaddr: 0x100000n, offset: 0n };
  await t.throwsAsync(fe.send(FrontendReq.ADD_MEM_REG, b.memReg(region), [fd], { needReply: true }), { code: 'VHOST_USER_NACK' });
  t.is(d.backend().memory.regions.length, 0);
  // The same memfd, grown to the region's size, is accepted.
  native.ftruncate(fd, 1 << 20);
  await fe.send(FrontendReq.ADD_MEM_REG, b.memReg(region), [fd], { needReply: true });
  t.is(d.backend().memory.regions.length, 1);
});

/**
 * Found by the vhost-user fuzzer (a hang: the final GET_FEATURES of a case was never answered): a
 * request that has a reply by definition but a payload of the wrong size (GET_FEATURES with 1 byte)
 * failed its size check before the back-end looked up what it answers, so it sent nothing, and a
 * front-end waiting for the reply (QEMU does) hung forever. Fixed in src/vhost-user/backend.ts: the
 * failure reply goes out (u64 0 for GET_FEATURES, the queue index and 0 for GET_VRING_BASE).
 */
test('regression: a reply-by-definition request with a wrong payload size still gets its (failure) reply instead of a hang', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  configureLog({ level: 'off' });
  t.teardown(() => d.stop());
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  t.teardown(() => fe.close());
  const cases: Array<[number, Uint8Array]> = [
    [FrontendReq.GET_FEATURES, new Uint8Array(1)],
    [FrontendReq.GET_PROTOCOL_FEATURES, new Uint8Array(8)],
    [FrontendReq.GET_VRING_BASE, Uint8Array.from([1, 0, 0, 0])],
    [FrontendReq.GET_CONFIG, new Uint8Array(4)],
  ];
  for (const [request, payload] of cases) {
    await fe.sendRaw(b.message(request, 1, payload));
    const reply = await Promise.race([fe.conn.nextReply(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000).unref())]);
    t.truthy(reply, `request ${request} with ${payload.length} payload bytes was never answered`);
    t.is(reply?.header.request, request);
  }
  // The connection is still in step: a normal request works.
  t.is((await fe.request(1, Uint8Array.from([7]), 8)).usedLen, 2);
});
