/**
 * Our vhost-user back-end driven by the in-repo front-end over a real unix socket with real fds,
 * with an echo device in place of virtio-fs (the FUSE layer is tested on its own).
 */
import test from 'ava';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FrontendReq } from '../../protocol/vhost-user.js';
import { DISPATCH_CHUNK } from '../../src/vhost-user/vring.js';
import type { VirtioDevice } from '../../src/vhost-user/device.js';
import type { Chain } from '../../src/virtqueue/split-queue.js';
import { EchoDevice, startTestDaemon } from '../helpers/daemon.js';

function payload(i: number): Uint8Array {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(i, 0);
  b.writeUInt32LE((i ^ 0xdeadbeef) >>> 0, 4);
  b.writeUInt32LE(i * 7, 8);
  return b;
}

async function roundTrips(fe: VhostUserFrontend, total: number, depth: number, queue = 1): Promise<void> {
  let next = 0;
  const seen = new Set<number>();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      const c = await fe.request(queue, payload(i), 64);
      if (c.usedLen !== 13 || !Buffer.from(c.data.subarray(0, 12)).equals(payload(i)) || c.data[12] !== queue) {
        throw new Error(`request ${i}: wrong reply (${c.usedLen} bytes)`);
      }
      if (seen.has(i)) throw new Error(`request ${i} answered twice`);
      seen.add(i);
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  if (seen.size !== total) throw new Error(`${seen.size} of ${total} answered`);
}

test('QEMU 10 handshake with ADD_MEM_REG and 3 regions; the back-end sees the sequence and keeps the call fds across RESET_DEVICE', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, sequence: 'qemu10', queues: 2, memory: { regions: 3, regionSize: 8 << 20 }, watchdogMs: 0 });
  const seen = d.backend().seen.join(' ');
  for (const m of ['GET_FEATURES', 'GET_PROTOCOL_FEATURES', 'SET_PROTOCOL_FEATURES', 'GET_QUEUE_NUM', 'GET_MAX_MEM_SLOTS', 'SET_BACKEND_REQ_FD', 'SET_OWNER', 'RESET_DEVICE', 'SET_FEATURES', 'ADD_MEM_REG', 'SET_VRING_KICK', 'SET_VRING_ENABLE']) {
    t.true(seen.includes(`VHOST_USER_${m}`), `back-end saw ${m}`);
  }
  t.is(d.backend().memory.regions.length, 3);
  t.is(fe.queueNum, 3);
  t.is(fe.maxMemSlots, 509);
  await roundTrips(fe, 100, 8);
  fe.close();
  await d.stop();
});

test('SET_MEM_TABLE handshake', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, memoryMode: 'mem-table', memory: { regions: 2, regionSize: 8 << 20 }, watchdogMs: 0 });
  t.true(d.backend().seen.includes('VHOST_USER_SET_MEM_TABLE'));
  t.is(d.backend().memory.regions.length, 2);
  await roundTrips(fe, 100, 4);
  fe.close();
  await d.stop();
});

for (const eventIdx of [true, false]) {
  for (const depth of [1, 64]) {
    test(`10,000 requests at queue depth ${depth}, EVENT_IDX ${eventIdx ? 'on' : 'off'}`, async (t) => {
      const d = startTestDaemon(new EchoDevice(3));
      const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, eventIdx, queueSize: 128, watchdogMs: 0 });
      t.is((fe.ackedFeatures & (1n << 29n)) !== 0n, eventIdx);
      const start = process.hrtime.bigint();
      await roundTrips(fe, 10_000, depth);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      t.log(`${Math.round(10_000 / (ms / 1000))} requests/s`);
      t.pass();
      fe.close();
      await d.stop();
    });
  }
}

test('--poll-us: the window grows while requests follow each other, the driver then does not kick; pauses shrink it and kicks work again', async (t) => {
  // A longest window that covers every gap of a burst even on a loaded machine.
  const d = startTestDaemon(new EchoDevice(3, 0, undefined, 500_000));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, eventIdx: true, queueSize: 128, watchdogMs: 0 });
  const q = fe.queues[1]!;
  const ring = d.backend().vrings[1]!;
  t.is(ring.pollWindowMs, 0, 'no polling before the guest has shown a pace');
  // Each kick that came after the window (but within --poll-us) doubles it from 4 µs: a few dozen
  // requests in a row make it cover the gap between two of them.
  await roundTrips(fe, 40, 1);
  t.true(ring.pollWindowMs > 0, `the window grew: ${ring.pollWindowMs} ms`);
  const before = q.kicks;
  await roundTrips(fe, 500, 1);
  t.true(q.kicks - before <= 4, `500 sequential requests inside the window took ${q.kicks - before} kicks`);
  fe.close();
  await d.stop();

  const d2 = startTestDaemon(new EchoDevice(3, 0, undefined, 1_000)); // at most 1 ms
  const fe2 = await VhostUserFrontend.connect({ socketPath: d2.socketPath, eventIdx: true, queueSize: 128, watchdogMs: 0 });
  const q2 = fe2.queues[1]!;
  const ring2 = d2.backend().vrings[1]!;
  await roundTrips(fe2, 40, 1);
  const grown = ring2.pollWindowMs;
  t.true(grown > 0, `the window grew: ${grown} ms`);
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 20)); // longer than --poll-us: this one needs its kick
    const k = q2.kicks;
    await roundTrips(fe2, 1, 1);
    t.is(q2.kicks - k, 1, `request ${i} after an idle gap was kicked and answered`);
  }
  t.is(ring2.pollWindowMs, 0, `a guest that pauses longer than --poll-us gets no polling (it was ${grown} ms)`);
  await roundTrips(fe2, 2_000, 16);
  fe2.close();
  await d2.stop();
});

test('without --poll-us every request after the device caught up is kicked', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, eventIdx: true, queueSize: 128, watchdogMs: 0 });
  const q = fe.queues[1]!;
  const before = q.kicks;
  await roundTrips(fe, 100, 1);
  t.is(q.kicks - before, 100);
  fe.close();
  await d.stop();
});

/** Holds every request until the test answers it; notes how many it had been given when the first loop turn after the first one ended. */
class HoldDevice implements VirtioDevice {
  readonly deviceFeatures = 0n;
  readonly maxQueues = 3;
  held: { chain: Chain; answer: () => void }[] = [];
  /** Requests handed over before the first setImmediate after the first request. */
  firstTurn = -1;
  config(): undefined {
    return undefined;
  }
  handle(_queue: number, chain: Chain): Promise<number> {
    if (this.held.length === 0) setImmediate(() => (this.firstTurn = this.held.length));
    return new Promise((resolve) => {
      this.held.push({
        chain,
        answer: () => {
          const input = Buffer.concat(chain.readable);
          chain.writable[0]!.set(input);
          resolve(input.length);
        },
      });
    });
  }
  reset(): void {}
}

test('a burst is handed to the device a chunk per loop turn, and with EVENT_IDX each reply is published and notified at once', async (t) => {
  const dev = new HoldDevice();
  const d = startTestDaemon(dev);
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, eventIdx: true, queueSize: 128, watchdogMs: 0 });
  const q = fe.queues[1]!;
  const kicks = q.kicks;
  // One burst: the front-end publishes all 16 in one turn, with one kick.
  const replies = Array.from({ length: 16 }, (_, i) => fe.request(1, payload(i), 64));
  while (dev.held.length < 16) await new Promise((r) => setTimeout(r, 5));
  t.is(q.kicks - kicks, 1, 'one kick for the burst (the device did not ask for more while it worked through it)');
  t.is(dev.firstTurn, DISPATCH_CHUNK, `the first turn handed over ${dev.firstTurn} of the 16`);
  t.true(DISPATCH_CHUNK < 16);

  const sq = d.backend().vrings[1]!.queue!;
  const before = sq.publishedUsedIdx;
  const calls = q.calls;
  dev.held[0]!.answer();
  for (let i = 0; i < 5; i++) await null; // microtasks only: no loop turn (no setImmediate) has run
  t.is(sq.publishedUsedIdx, (before + 1) & 0xffff, 'the reply is in used.idx before the loop turn ends');
  const first = await replies[0]!;
  t.true(Buffer.from(first.data).equals(payload(0)));
  t.is(q.calls - calls, 1, 'the driver was called for the first reply while 15 were still held');
  for (const h of dev.held.slice(1)) h.answer();
  const rest = await Promise.all(replies.slice(1));
  rest.forEach((c, i) => t.true(Buffer.from(c.data).equals(payload(i + 1)), `reply ${i + 1}`));
  fe.close();
  await d.stop();
});

test('indirect descriptors, and chains spanning two regions (two descriptors, or one straddling descriptor)', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, memory: { regions: 2, regionSize: 4 << 20 }, watchdogMs: 0 });
  const big = Buffer.alloc(5000, 7);
  for (const opts of [{ indirect: true }, { span: 'chain' as const }, { span: 'descriptor' as const }, { indirect: true, writableSegments: 3 }, { writableLengths: [16, 4096, 1888] }]) {
    const c = await fe.request(1, big, 6000, opts);
    t.is(c.usedLen, 5001, JSON.stringify(opts));
    t.true(Buffer.from(c.data.subarray(0, 5000)).equals(big));
  }
  await t.throwsAsync(fe.request(1, big, 6000, { writableLengths: [16, 4096] }), { instanceOf: RangeError });
  fe.close();
  await d.stop();
});

test('REM_MEM_REG while idle: the region goes, requests keep working', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, memory: { regions: 3, regionSize: 4 << 20 }, watchdogMs: 0 });
  await roundTrips(fe, 50, 4);
  await fe.remMemReg(2);
  t.is(d.backend().memory.regions.length, 2);
  await roundTrips(fe, 50, 4);
  await fe.addMemReg(2);
  t.is(d.backend().memory.regions.length, 3);
  fe.close();
  await d.stop();
});

test('GET_VRING_BASE stops the ring after in-flight requests complete; SET_VRING_BASE resumes with nothing lost or repeated', async (t) => {
  const dev = new EchoDevice(3, 5);
  const d = startTestDaemon(dev);
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  const inflight = Array.from({ length: 100 }, (_, i) => fe.request(1, payload(i), 64));
  await new Promise((r) => setImmediate(r));
  const base = await fe.stopQueue(1);
  // The ring stops mid-burst (chains are handed out a chunk per turn): what was popped is handled
  // before the reply and counted in the base; the rest stays in the ring for the restart.
  t.true(base > 0 && base <= 100, `base ${base}`);
  t.is(dev.handled, base, 'every request popped before the stop was handled');
  await fe.setupQueue(1, base, { keep: true });
  await fe.enableQueue(1, true);
  const done = await Promise.all(inflight);
  done.forEach((c, i) => t.true(Buffer.from(c.data.subarray(0, 12)).equals(payload(i))));
  t.is(dev.handled, 100, 'the rest was handled after the restart, none twice');
  await roundTrips(fe, 200, 16);
  t.is(dev.handled, 300, 'no request handled twice');
  fe.close();
  await d.stop();
});

test('two request queues in parallel', async (t) => {
  const d = startTestDaemon(new EchoDevice(3, 1));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queues: 3, watchdogMs: 0 });
  await Promise.all([roundTrips(fe, 1000, 16, 1), roundTrips(fe, 1000, 16, 2)]);
  t.pass();
  fe.close();
  await d.stop();
});

test('GET_CONFIG returns the tag; a config read past the end gets the spec error reply', async (t) => {
  const d = startTestDaemon(new EchoDevice(3, 0, 'myfs'));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  const cfg = await fe.getConfig(0, 44);
  t.is(Buffer.from(cfg.subarray(0, 4)).toString(), 'myfs');
  t.is(Buffer.from(cfg).readUInt32LE(36), 2);
  t.is((await fe.getConfig(40, 16)).length, 0);
  fe.close();
  await d.stop();
});

test('bad messages get failure replies and the daemon keeps serving', async (t) => {
  const d = startTestDaemon(new EchoDevice(3));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  // SET_VRING_NUM on a queue that does not exist, and a size that is not a power of two
  await t.throwsAsync(fe.send(FrontendReq.SET_VRING_NUM, Buffer.from([9, 0, 0, 0, 8, 0, 0, 0]), [], { needReply: true }));
  await t.throwsAsync(fe.send(FrontendReq.SET_VRING_NUM, Buffer.from([1, 0, 0, 0, 3, 0, 0, 0]), [], { needReply: true }));
  // a request not supported by the back-end (SET_LOG_BASE without LOG_SHMFD), and an unknown one
  await t.throwsAsync(fe.send(FrontendReq.SET_LOG_BASE, Buffer.alloc(16), [], { needReply: true }));
  await t.throwsAsync(fe.send(99 as FrontendReq, Buffer.alloc(0), [], { needReply: true }));
  // a wrong payload size
  await t.throwsAsync(fe.send(FrontendReq.SET_FEATURES, Buffer.alloc(3), [], { needReply: true }));
  await roundTrips(fe, 20, 4);
  t.true(d.backend().vrings.every((v) => !v.broken));
  fe.close();
  await d.stop();
});

test('after a disconnect a persistent daemon serves the next front-end with fresh state', async (t) => {
  const dev = new EchoDevice(3);
  const d = startTestDaemon(dev);
  const fe1 = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0 });
  await roundTrips(fe1, 10, 2);
  fe1.close();
  const fe2 = await VhostUserFrontend.connect({ socketPath: d.socketPath, watchdogMs: 0, connectTimeoutMs: 5000 });
  await roundTrips(fe2, 10, 2);
  t.is(d.backends.length, 2);
  t.is(d.backends[0]!.memory.regions.length, 0, 'the first connection released its memory');
  t.true(dev.resets >= 1);
  fe2.close();
  await d.stop();
});
