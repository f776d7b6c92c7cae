/**
 * SplitQueue over real mapped memory: chains, indirect tables, region-crossing buffers, used ring and
 * notification decisions, and one test per hostile-ring check (each must throw its named code).
 */
import test from 'ava';
import { SplitQueue, VirtqueueError } from '../../src/virtqueue/split-queue.js';
import { TestGuest, TestRing } from '../helpers/builders/ring.js';

const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;
const MB = 1 << 20;

function setup(opts: { size?: number; eventIdx?: boolean; indirect?: boolean } = {}) {
  const g = new TestGuest([{ gpa: 0, size: MB }, { gpa: MB, size: MB }]);
  const size = opts.size ?? 8;
  const r = new TestRing(g, 0, size);
  const q = new SplitQueue(size, { desc: r.desc, avail: r.avail, used: r.used }, g.mem, opts.eventIdx ?? false, opts.indirect ?? true);
  return { g, r, q };
}

test('pops a readable+writable chain as views into guest memory', (t) => {
  const { g, r, q } = setup();
  g.write(0x10000, new Uint8Array([1, 2, 3, 4]));
  g.desc(r.desc, 0, 0x10000, 4, NEXT, 3);
  g.desc(r.desc, 3, 0x20000, 100, WRITE);
  r.offer(0);
  const c = q.pop()!;
  t.is(c.head, 0);
  t.deepEqual([...c.readable[0]!], [1, 2, 3, 4]);
  t.is(c.writableLen, 100);
  c.writable[0]![0] = 0xee;
  t.is(g.bytes(0x20000, 1)[0], 0xee);
  t.is(q.pop(), undefined);
  q.push(c.head, 1, c);
  t.is(r.usedIdx(), 0, 'not visible before publish');
  q.publish();
  t.is(r.usedIdx(), 1);
  t.deepEqual(r.usedElem(0), { id: 0, len: 1 });
  g.close();
});

test('a buffer crossing two regions maps to two segments', (t) => {
  const { g, r, q } = setup();
  g.desc(r.desc, 0, MB - 10, 30, WRITE);
  r.offer(0);
  const c = q.pop()!;
  t.deepEqual(c.writable.map((v) => v.length), [10, 20]);
  t.deepEqual(c.writableGpa, [MB - 10, MB]);
  g.close();
});

test('buffers that continue each other in memory become one segment; not across a region edge, a gap or the readable/writable line', (t) => {
  const { g, r, q } = setup();
  // Three 4 KiB pages back to back (as a guest's pages often are), then one after a gap, then two
  // that meet at the region edge (same GPA run, two mappings).
  g.desc(r.desc, 0, 0x40000, 64, NEXT, 1);
  g.desc(r.desc, 1, 0x40040, 4096, WRITE | NEXT, 2);
  g.desc(r.desc, 2, 0x41040, 4096, WRITE | NEXT, 3);
  g.desc(r.desc, 3, 0x42040, 4096, WRITE | NEXT, 4);
  g.desc(r.desc, 4, 0x50000, 4096, WRITE | NEXT, 5);
  g.desc(r.desc, 5, MB - 4096, 4096, WRITE | NEXT, 6);
  g.desc(r.desc, 6, MB, 4096, WRITE);
  r.offer(0);
  const c = q.pop()!;
  t.deepEqual(c.readable.map((v) => v.length), [64]);
  t.deepEqual(c.writable.map((v) => v.length), [3 * 4096, 4096, 4096, 4096]);
  t.deepEqual(c.writableGpa, [0x40040, 0x50000, MB - 4096, MB]);
  t.is(c.writableLen, 6 * 4096);
  c.writable[0]![3 * 4096 - 1] = 0xab;
  t.is(g.bytes(0x42040 + 4095, 1)[0], 0xab, 'the grown view is the guest memory at those addresses');
  g.close();
});

test('indirect table: chain read from the table', (t) => {
  const { g, r, q } = setup();
  const tbl = 0x30000;
  g.desc(tbl, 0, 0x10000, 8, NEXT, 1);
  g.desc(tbl, 1, 0x11000, 16, WRITE);
  g.desc(r.desc, 2, tbl, 32, INDIRECT);
  r.offer(2);
  const c = q.pop()!;
  t.is(c.head, 2);
  t.is(c.readableLen, 8);
  t.is(c.writableLen, 16);
  g.close();
});

test('indirect table crossing a region edge is read correctly', (t) => {
  const { g, r, q } = setup();
  const tbl = MB - 16;
  g.desc(tbl, 0, 0x10000, 8, NEXT, 1);
  g.desc(tbl, 1, 0x11000, 16, WRITE);
  g.desc(r.desc, 0, tbl, 32, INDIRECT);
  r.offer(0);
  const c = q.pop()!;
  t.is(c.readableLen + c.writableLen, 24);
  g.close();
});

test('EVENT_IDX: notify only when used_event is crossed; avail_event is published', (t) => {
  const { g, r, q } = setup({ eventIdx: true });
  g.desc(r.desc, 0, 0x10000, 8, WRITE);
  for (let i = 0; i < 3; i++) r.offer(0);
  for (let i = 0; i < 3; i++) q.pop();
  q.setAvailEvent();
  t.is(r.availEvent(), 3);
  r.setUsedEvent(1);
  q.push(0, 0);
  q.publish();
  t.true(q.shouldNotify(), 'first notification always');
  q.push(0, 0);
  q.publish();
  t.true(q.shouldNotify(), 'used idx went 1 -> 2, crossing used_event 1');
  q.push(0, 0);
  q.publish();
  t.false(q.shouldNotify(), 'used_event 1 already passed');
  g.close();
});

test('without EVENT_IDX, VRING_AVAIL_F_NO_INTERRUPT suppresses notifications', (t) => {
  const { g, r, q } = setup();
  t.true(q.shouldNotify());
  r.setAvailFlags(1);
  t.false(q.shouldNotify());
  g.close();
});

test('ring views: used idx is read back from guest memory (restart/migration)', (t) => {
  const g = new TestGuest([{ gpa: 0, size: MB }]);
  const r = new TestRing(g, 0, 8);
  g.u16(r.used + 2, 5);
  const q = new SplitQueue(8, { desc: r.desc, avail: r.avail, used: r.used }, g.mem, false, false);
  t.is(q.usedIdx, 5);
  g.close();
});

function hostile(title: string, code: string, build: (g: TestGuest, r: TestRing) => void, opts: { indirect?: boolean } = {}) {
  test(`hostile ring: ${title} -> ${code}`, (t) => {
    const { g, r, q } = setup(opts);
    build(g, r);
    const e = t.throws(() => q.pop(), { instanceOf: VirtqueueError });
    t.is(e?.code, code);
    g.close();
  });
}

hostile('head index out of range', 'VRING_HEAD_OUT_OF_RANGE', (g, r) => {
  g.u16(r.avail + 4, 8);
  g.u16(r.avail + 2, 1);
});
hostile('next index out of range', 'VRING_NEXT_OUT_OF_RANGE', (g, r) => {
  g.desc(r.desc, 0, 0x10000, 8, NEXT, 99);
  r.offer(0);
});
hostile('descriptor loop', 'VRING_DESC_LOOP', (g, r) => {
  g.desc(r.desc, 0, 0x10000, 8, NEXT, 1);
  g.desc(r.desc, 1, 0x10000, 8, NEXT, 0);
  r.offer(0);
});
hostile('avail index jumps past the queue size', 'VRING_AVAIL_IDX_JUMP', (g, r) => {
  g.u16(r.avail + 2, 100);
});
hostile('indirect not negotiated', 'VRING_INDIRECT_NOT_NEGOTIATED', (g, r) => {
  g.desc(r.desc, 0, 0x30000, 32, INDIRECT);
  r.offer(0);
}, { indirect: false });
hostile('indirect table size not a multiple of 16', 'VRING_INDIRECT_BAD_SIZE', (g, r) => {
  g.desc(r.desc, 0, 0x30000, 33, INDIRECT);
  r.offer(0);
});
hostile('indirect table of length 0', 'VRING_INDIRECT_BAD_SIZE', (g, r) => {
  g.desc(r.desc, 0, 0x30000, 0, INDIRECT);
  r.offer(0);
});
hostile('indirect table too large', 'VRING_INDIRECT_BAD_SIZE', (g, r) => {
  g.desc(r.desc, 0, 0x30000, 16 * 40000, INDIRECT);
  r.offer(0);
});
hostile('nested indirect', 'VRING_INDIRECT_NESTED', (g, r) => {
  g.desc(0x30000, 0, 0x31000, 16, INDIRECT);
  g.desc(r.desc, 0, 0x30000, 16, INDIRECT);
  r.offer(0);
});
hostile('indirect with NEXT', 'VRING_INDIRECT_WITH_NEXT', (g, r) => {
  g.desc(r.desc, 0, 0x30000, 16, INDIRECT | NEXT, 1);
  r.offer(0);
});
hostile('indirect table outside memory', 'VRING_ADDR_OUTSIDE_MEMORY', (g, r) => {
  g.desc(r.desc, 0, 0x40000000, 16, INDIRECT);
  r.offer(0);
});
hostile('loop inside an indirect table', 'VRING_DESC_LOOP', (g, r) => {
  g.desc(0x30000, 0, 0x10000, 8, NEXT, 1);
  g.desc(0x30000, 1, 0x10000, 8, NEXT, 0);
  g.desc(r.desc, 0, 0x30000, 32, INDIRECT);
  r.offer(0);
});
hostile('readable descriptor after a writable one', 'VRING_READABLE_AFTER_WRITABLE', (g, r) => {
  g.desc(r.desc, 0, 0x10000, 8, NEXT | WRITE, 1);
  g.desc(r.desc, 1, 0x11000, 8, 0);
  r.offer(0);
});
hostile('zero-length descriptor', 'VRING_ZERO_LENGTH', (g, r) => {
  g.desc(r.desc, 0, 0x10000, 0, WRITE);
  r.offer(0);
});
hostile('buffer outside every region', 'VRING_ADDR_OUTSIDE_MEMORY', (g, r) => {
  g.desc(r.desc, 0, 3 * MB, 8, 0);
  r.offer(0);
});
hostile('buffer running off the end of memory', 'VRING_ADDR_OUTSIDE_MEMORY', (g, r) => {
  g.desc(r.desc, 0, 2 * MB - 4, 8, 0);
  r.offer(0);
});
hostile('address above 2^53', 'VRING_ADDR_OUTSIDE_MEMORY', (g, r) => {
  g.desc(r.desc, 0, 2 ** 60, 8, 0);
  r.offer(0);
});

test('ring outside memory or misaligned is refused at setup', (t) => {
  const g = new TestGuest([{ gpa: 0, size: MB }]);
  const bad = (desc: number, used: number) => t.throws(() => new SplitQueue(8, { desc, avail: 0x1000, used }, g.mem, false, false), { instanceOf: VirtqueueError })?.code;
  t.is(bad(5 * MB, 0x2000), 'VRING_ADDR_OUTSIDE_MEMORY');
  t.is(bad(8, 0x2000), 'VRING_MISALIGNED');
  t.is(bad(0, MB - 8), 'VRING_NOT_CONTIGUOUS');
  g.close();
});
