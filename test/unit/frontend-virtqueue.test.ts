/**
 * The front-end's split-ring driver (src/frontend/virtqueue.ts) with the test playing the device:
 * it reads the avail ring and writes the used ring itself, so the order of events is exact.
 */
import test from 'ava';
import { FrontendGuestMemory } from '../../src/frontend/guest-memory.js';
import { SplitVirtqueueDriver } from '../../src/frontend/virtqueue.js';

test('stop() takes the entries the device used before it stopped, even with their call notification unread', async (t) => {
  const mem = FrontendGuestMemory.create();
  t.teardown(() => mem.close());
  const q = new SplitVirtqueueDriver(mem, { index: 0, size: 8, eventIdx: true, indirect: false, watchdogMs: 0 });
  t.teardown(() => q.close());
  const reply = q.request([new Uint8Array([1, 2, 3])], 4);
  // The device: the head of the first avail entry goes to the used ring with 4 bytes written; no call.
  const r = mem.find(q.availGpa)!;
  const v = new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  await new Promise((res) => setImmediate(res)); // the driver publishes on its next turn
  const availIdx = v.getUint16(q.availGpa - r.gpa + 2, true);
  t.is(availIdx, 1, 'published');
  const head = v.getUint16(q.availGpa - r.gpa + 4, true);
  const used = q.usedGpa - r.gpa;
  v.setUint32(used + 4, head, true);
  v.setUint32(used + 8, 4, true);
  v.setUint16(used + 2, 1, true);
  let settled = false;
  void reply.then(() => (settled = true));
  await new Promise((res) => setImmediate(res));
  t.false(settled, 'nothing harvests without a call notification');
  q.stop();
  const c = await reply;
  t.is(c.data.length, 4);
  t.is(q.pending, 0);
});
