/**
 * One test per hostile-ring check, through the real back-end over a real socket: the guest (our
 * front-end writing raw descriptors) breaks a rule on queue 1; the back-end marks that queue broken
 * with the named check, signals its error eventfd, still answers on the control socket, and queue 2
 * keeps serving.
 */
import test from 'ava';
import * as native from '../../src/native/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import type { SplitVirtqueueDriver } from '../../src/frontend/virtqueue.js';
import { FrontendReq, decodeU64, encodeVringFdPayload } from '../../protocol/vhost-user.js';
import { EchoDevice, startTestDaemon } from '../helpers/daemon.js';

const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;

interface Ctx {
  q: SplitVirtqueueDriver;
  buf: number;
  tbl: number;
  outside: number;
}

const cases: [string, string, (c: Ctx) => void][] = [
  ['head index out of range', 'VRING_HEAD_OUT_OF_RANGE', (c) => c.q.publishRaw(c.q.size + 3)],
  ['next index out of range', 'VRING_NEXT_OUT_OF_RANGE', (c) => {
    c.q.writeDescriptor(0, c.buf, 8, NEXT, c.q.size + 1);
    c.q.publishRaw(0);
  }],
  ['descriptor loop', 'VRING_DESC_LOOP', (c) => {
    c.q.writeDescriptor(0, c.buf, 8, NEXT, 1);
    c.q.writeDescriptor(1, c.buf, 8, NEXT, 0);
    c.q.publishRaw(0);
  }],
  ['indirect table of a bad size', 'VRING_INDIRECT_BAD_SIZE', (c) => {
    c.q.writeDescriptor(0, c.tbl, 17, INDIRECT, 0);
    c.q.publishRaw(0);
  }],
  ['indirect with NEXT', 'VRING_INDIRECT_WITH_NEXT', (c) => {
    c.q.writeDescriptor(0, c.tbl, 16, INDIRECT | NEXT, 1);
    c.q.publishRaw(0);
  }],
  ['readable after writable', 'VRING_READABLE_AFTER_WRITABLE', (c) => {
    c.q.writeDescriptor(0, c.buf, 8, WRITE | NEXT, 1);
    c.q.writeDescriptor(1, c.buf, 8, 0, 0);
    c.q.publishRaw(0);
  }],
  ['zero-length buffer', 'VRING_ZERO_LENGTH', (c) => {
    c.q.writeDescriptor(0, c.buf, 0, WRITE, 0);
    c.q.publishRaw(0);
  }],
  ['address outside every region', 'VRING_ADDR_OUTSIDE_MEMORY', (c) => {
    c.q.writeDescriptor(0, c.outside, 8, 0, 0);
    c.q.publishRaw(0);
  }],
];

for (const [title, code, breakIt] of cases) {
  test(`hostile ring through the back-end: ${title} -> queue broken (${code}), control socket and other queue fine`, async (t) => {
    const d = startTestDaemon(new EchoDevice(3));
    const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queues: 3, watchdogMs: 0 });
    // An error eventfd for queue 1, as QEMU sets one.
    const errFd = native.eventfd(0, native.EFD_NONBLOCK);
    await fe.send(FrontendReq.SET_VRING_ERR, encodeVringFdPayload({ index: 1, noFd: false }), [errFd], { needReply: true });
    const q = fe.queues[1]!;
    q.stop();
    const region = fe.memory.describe(0);
    const c: Ctx = { q, buf: fe.memory.alloc(64, 8), tbl: fe.memory.alloc(64, 16), outside: Number(region.guestPhysAddr + region.memorySize) + (1 << 20) };
    breakIt(c);
    const v = d.backend().vrings[1]!;
    const end = Date.now() + 5000;
    while (!v.broken && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    t.true(v.broken, `queue 1 marked broken by ${code}`);
    t.is(native.eventfdRead(errFd), 1n, 'the error eventfd was signalled');
    const reply = await fe.call(FrontendReq.GET_FEATURES);
    t.true(decodeU64(reply.payload) !== 0n, 'the control socket still answers');
    const ok = await fe.request(2, Buffer.from('still fine'), 64);
    t.is(Buffer.from(ok.data.subarray(0, 10)).toString(), 'still fine', 'queue 2 keeps working');
    native.close(errFd);
    fe.close();
    await d.stop();
  });
}

test('a driver re-posting slots still in flight gets at most queue-size requests served at once', async (t) => {
  let now = 0;
  let peak = 0;
  const dev = new EchoDevice(3);
  const slow = {
    maxQueues: 3,
    deviceFeatures: 0n,
    config: () => undefined,
    reset: () => undefined,
    handle: (queue: number, chain: Parameters<EchoDevice['handle']>[1]) => {
      now++;
      peak = Math.max(peak, now);
      return new Promise<number>((r) => setTimeout(() => {
        now--;
        r(dev.handle(queue, chain) as number);
      }, 30));
    },
  };
  const d = startTestDaemon(slow);
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queues: 2, queueSize: 8, watchdogMs: 0 });
  const q = fe.queues[1]!;
  q.stop();
  const buf = fe.memory.alloc(64, 8);
  q.writeDescriptor(0, buf, 8, WRITE, 0);
  // Post head 0 again and again, a queue's worth at a time, without waiting for completions.
  for (let i = 0; i < 6; i++) {
    for (let k = 0; k < 8; k++) q.publishRaw(0);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 600));
  t.true(peak <= 8, `at most 8 requests in flight (saw ${peak})`);
  t.true(peak >= 4, 'requests did run concurrently');
  t.is((await fe.call(FrontendReq.GET_FEATURES)).payload.length, 8, 'the control socket still answers');
  fe.close();
  await d.stop();
});
