/**
 * Fuzzing descriptor chains: random and almost-well-formed ring contents (loops, out-of-range heads
 * and next indices, indirect tables of any size and at region edges, addresses at region edges, in
 * holes and past 2^53, zero and huge lengths, readable after writable, avail index jumps).
 *
 * 1. Against the real SplitQueue over guarded memory (PROT_NONE pages around every region, see
 *    helpers/guarded-memory.ts): every pop either yields a chain whose segments all lie inside guest
 *    memory, exactly as the reference model walks it, or throws a VirtqueueError where the model
 *    finds a violation; the queue writes nothing but the used ring.
 * 2. Through the back-end over a real socket (our front-end writes the hostile descriptors into its
 *    ring and kicks): every published head is either used, with the echo device's length, or the
 *    queue is marked broken exactly at the first chain the model rejects; the device only ever sees
 *    segments inside the back-end's mappings; the guest memory changes only inside writable buffers
 *    and the used ring; no fd leaks; a fresh front-end still works.
 */
import test from 'ava';
import fc from 'fast-check';
import { SplitQueue, VirtqueueError, type Chain } from '../../src/virtqueue/split-queue.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { checkProperty } from './helpers/fuzz.js';
import { GuardedGuestMemory } from './helpers/guarded-memory.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import type { Backend } from '../../src/vhost-user/backend.js';
import { EchoDevice } from '../helpers/daemon.js';
import { checkNoFdLeak, roundTrip, settle, startFuzzDaemon } from './helpers/daemon-fuzz.js';
import { waitFor } from './helpers/fuzz.js';
import { describeCase, descBytes, merged, ringCase, walk, type Layout, type RingCase, type Segment, type WalkResult } from './helpers/ring-model.js';

// ---- direct: SplitQueue over guarded memory ----------------------------------------------------------

const DIRECT: Layout = {
  regions: [
    { gpa: 0x10000, size: 0x10000 },
    { gpa: 0x20000, size: 0x10000 }, // adjacent to the first: buffers may cross the edge
    { gpa: 0x40000, size: 0x2000 }, // after a hole
  ],
  tableSpots: [0x28000, 0x20000 - 0x30, 0x42000 - 0x40, 0x30000 - 0x10, 0x14000, 0x3fff0],
  reserved: [[0x10000, 0x13000]],
};
const DESC = 0x10000;
const AVAIL = 0x11000;
const USED = 0x12000;

/** Write `bytes` at `gpa`, skipping the parts that fall outside memory (a table placed in a hole). */
function writeGpa(g: GuardedGuestMemory, gpa: number, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    const r = g.regionOf(gpa + i);
    if (r !== undefined) r.bytes[gpa + i - r.gpa] = bytes[i]!;
  }
}

function readGpa(g: GuardedGuestMemory, gpa: number, len: number): Uint8Array | undefined {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const r = g.regionOf(gpa + i);
    if (r === undefined) return undefined;
    out[i] = r.bytes[gpa + i - r.gpa]!;
  }
  return out;
}

function u16(g: GuardedGuestMemory, gpa: number, v: number): void {
  writeGpa(g, gpa, Uint8Array.from([v & 0xff, (v >> 8) & 0xff]));
}

/** The model's expectation for a case: the chains that pop cleanly, then whether an error follows. */
function expected(l: Layout, c: RingCase, read: (gpa: number, len: number) => Uint8Array | undefined, tableGpa: number): { ok: Extract<WalkResult, { ok: true }>[]; heads: number[]; error?: string } {
  const ok: Extract<WalkResult, { ok: true }>[] = [];
  const heads: number[] = [];
  if (c.heads.length > c.size) return { ok, heads, error: 'avail index jump' };
  for (const h of c.heads) {
    if (h >= c.size) return { ok, heads, error: `head ${h} out of range` };
    const w = walk(l, read, tableGpa, c.size, h, c.indirect);
    if (!w.ok) return { ok, heads, error: w.why };
    ok.push(w);
    heads.push(h);
  }
  return { ok, heads };
}

function same(a: Segment[], b: Segment[]): boolean {
  const x = merged(a);
  const y = merged(b);
  return x.length === y.length && x.every((s, i) => s.gpa === y[i]!.gpa && s.len === y[i]!.len);
}

const fmt = (s: Segment[]) => merged(s).map((x) => `0x${x.gpa.toString(16)}+${x.len}`).join(',');

test.serial('descriptor chains (SplitQueue over guarded memory): each pop is the model\'s chain, inside memory, or a VirtqueueError; only the used ring is written', async (t) => {
  const g = new GuardedGuestMemory(DIRECT.regions);
  t.teardown(() => g.close());
  let chainsSeen = 0;
  let errors = 0;
  const arb = ringCase(DIRECT, [1, 2, 4, 8, 16, 256]).map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) }));
  const prop = fc.property(arb, (c) => {
    for (const r of g.regions) r.bytes.fill(0x5a);
    const mask = c.size - 1;
    g.regions[0]!.bytes.fill(0, 0, 0x3000); // the ring area
    writeGpa(g, DESC, descBytes(c.table));
    for (const tb of c.indirects) writeGpa(g, tb.gpa, descBytes(tb.descs));
    c.heads.forEach((h, i) => u16(g, AVAIL + 4 + 2 * ((c.base + i) & mask), h));
    u16(g, AVAIL + 2, (c.base + c.heads.length) & 0xffff);
    u16(g, USED + 2, c.base);
    const want = expected(DIRECT, c, (a, n) => readGpa(g, a, n), DESC);
    const before = g.snapshot();

    const q = new SplitQueue(c.size, { desc: DESC, avail: AVAIL, used: USED }, g as unknown as GuestMemory, c.eventIdx, c.indirect);
    q.lastAvail = c.base;
    const got: Chain[] = [];
    let error: VirtqueueError | undefined;
    for (let k = 0; k <= c.heads.length; k++) {
      let chain: Chain | undefined;
      try {
        chain = q.pop();
      } catch (e) {
        if (!(e instanceof VirtqueueError)) throw new Error(`pop threw something other than a VirtqueueError: ${(e as Error)?.stack ?? e}`);
        error = e;
        break;
      }
      if (chain === undefined) break;
      got.push(chain);
    }
    chainsSeen += got.length;
    if (error) errors++;

    // Against the model.
    if (got.length !== want.ok.length || (error === undefined) !== (want.error === undefined)) {
      throw new Error(`popped ${got.length} chains${error ? ` then ${error.code}` : ''}; the model expects ${want.ok.length}${want.error ? ` then an error (${want.error})` : ''}`);
    }
    const written: number[] = [];
    got.forEach((ch, i) => {
      const w = want.ok[i]!;
      if (ch.head !== want.heads[i]) throw new Error(`chain ${i}: head ${ch.head}, expected ${want.heads[i]}`);
      const segs = (views: Uint8Array[]) =>
        views.map((v) => {
          const gpa = g.gpaOfView(v);
          if (gpa === undefined) throw new Error(`chain ${i}: a segment of ${v.byteLength} bytes lies outside every region`);
          return { gpa, len: v.byteLength };
        });
      const rd = segs(ch.readable);
      const wr = segs(ch.writable);
      if (!same(rd, w.readable) || !same(wr, w.writable)) throw new Error(`chain ${i}: readable ${fmt(rd)} writable ${fmt(wr)}; the model expects ${fmt(w.readable)} / ${fmt(w.writable)}`);
      if (ch.writableGpa.some((a, j) => a !== wr[j]!.gpa)) throw new Error(`chain ${i}: writableGpa ${ch.writableGpa} disagrees with the segments`);
      if (ch.readableLen !== rd.reduce((a, s) => a + s.len, 0) || ch.writableLen !== wr.reduce((a, s) => a + s.len, 0)) throw new Error(`chain ${i}: lengths`);
      // Touch every segment at both ends: a view reaching a guard page faults here.
      for (const v of ch.readable) void (v[0]! + v[v.byteLength - 1]!);
      ch.writable.forEach((v, j) => {
        v[0] = 0xa5;
        v[v.byteLength - 1] = 0xa5;
        written.push(wr[j]!.gpa, wr[j]!.gpa + v.byteLength - 1);
      });
    });

    // Complete them: the queue writes the used ring and nothing else.
    for (const ch of got) q.push(ch.head, Math.min(ch.writableLen, 7), ch);
    q.publish();
    q.shouldNotify();
    q.setAvailEvent();
    const usedEnd = USED + 4 + 8 * c.size + 2;
    const allowed = new Set(written);
    g.regions.forEach((r, ri) => {
      const b = before[ri]!;
      for (let off = 0; off < r.size; off++) {
        if (r.bytes[off] === b[off]) continue;
        const gpa = r.gpa + off;
        if ((gpa >= USED && gpa < usedEnd) || allowed.has(gpa)) continue;
        throw new Error(`the queue wrote GPA 0x${gpa.toString(16)}, outside the used ring`);
      }
    });
    const dv = new DataView(g.regions[0]!.mapping, g.page + (USED - 0x10000));
    if (dv.getUint16(2, true) !== ((c.base + got.length) & 0xffff)) throw new Error('used.idx not advanced by the chains completed');
    got.forEach((ch, i) => {
      if (dv.getUint32(4 + 8 * ((c.base + i) & mask), true) !== ch.head) throw new Error(`used element ${i} has the wrong id`);
    });
  });
  await checkProperty(t, 'descriptor-chains/split-queue', prop, 6000);
  t.log(`${chainsSeen} chains popped, ${errors} cases ended in a VirtqueueError, ${g.translations} translations`);
});

// ---- through the back-end: hostile rings written by our front-end ------------------------------------

const GIB = 0x4000_0000;
const MIB = 1 << 20;
const FE_SPECS = [
  { gpa: GIB, size: MIB },
  { gpa: GIB + MIB, size: MIB }, // adjacent
  { gpa: GIB + 4 * MIB, size: 0x10000 }, // after a hole
];
/** The front-end allocates both queues' rings at the start of region 0; buffers stay above this. */
const RING_AREA = 0x10000;
const BACKEND: Layout = {
  regions: FE_SPECS.map((s) => ({ gpa: s.gpa, size: s.size })),
  tableSpots: [GIB + MIB + 0x8000, GIB + MIB - 0x30, GIB + 4 * MIB + 0x10000 - 0x40, GIB + 2 * MIB - 0x10, GIB + 0x80000, GIB + 3 * MIB],
  reserved: [[GIB, GIB + RING_AREA]],
};

/** The echo device, also checking that every segment it is handed lies inside one of the back-end's mappings. */
class CheckingEcho extends EchoDevice {
  backend: (() => Backend) | undefined;
  violations: string[] = [];
  override handle(queue: number, chain: Chain): Promise<number> | number {
    const regions = this.backend?.().memory.regions ?? [];
    for (const v of [...chain.readable, ...chain.writable]) {
      const inside = regions.some((r) => r.chunks.some((c) => c.view.buffer === v.buffer && v.byteOffset >= c.view.byteOffset && v.byteOffset + v.byteLength <= c.view.byteOffset + c.view.byteLength));
      if (!inside || v.byteLength === 0) this.violations.push(`queue ${queue} head ${chain.head}: a segment of ${v.byteLength} bytes is not inside a guest memory mapping`);
    }
    return super.handle(queue, chain);
  }
}

function overlaps(segs: Segment[], lo: number, hi: number): boolean {
  return segs.some((s) => s.gpa < hi && lo < s.gpa + s.len);
}

test.serial('descriptor chains through the back-end: used exactly as the model walks them, or the queue is broken at the first bad one; writes stay in writable buffers', async (t) => {
  const echo = new CheckingEcho(3);
  const f = await startFuzzDaemon('echo', { echo });
  echo.backend = () => f.d.backend();
  echo.violations.length = 0; // the warm-up round trip ran before the device could see the back-end
  t.teardown(() => f.d.stop());
  let used = 0;
  let broken = 0;
  let cases = 0;
  const arb = ringCase(BACKEND, [2, 8, 16, 64]).map((c) => Object.assign({ ...c, base: 0 }, { [fc.toStringMethod]: () => describeCase({ ...c, base: 0 }) }));
  const prop = fc.asyncProperty(arb, async (c) => {
    const fe = await VhostUserFrontend.connect({ socketPath: f.d.socketPath, watchdogMs: 0, queues: 2, queueSize: c.size, eventIdx: c.eventIdx, indirect: c.indirect, memory: { specs: FE_SPECS } });
    try {
      const q = fe.queues[1]!;
      const mem = fe.memory;
      if (q.descGpa + 16 * c.size > GIB + RING_AREA || q.usedGpa + 8 * c.size + 6 > GIB + RING_AREA) throw new Error('the front-end placed its rings beyond RING_AREA');
      for (const r of mem.regions) r.bytes.fill(0x5a, r.index === 0 ? RING_AREA : 0);
      const inMem = (gpa: number, len: number) => Number.isSafeInteger(gpa + len) && segmentsOfAll(gpa, len);
      const segmentsOfAll = (gpa: number, len: number) => { for (let i = 0; i < len; i++) if (mem.find(gpa + i) === undefined) return false; return true; };
      const writeFe = (gpa: number, bytes: Uint8Array) => bytes.forEach((x, i) => { if (mem.find(gpa + i) !== undefined) mem.write(gpa + i, Uint8Array.of(x)); });
      c.table.forEach((d, i) => q.writeDescriptor(i, d.addr, d.len, d.flags, d.next));
      for (const tb of c.indirects) writeFe(tb.gpa, descBytes(tb.descs));
      const indirectOk = fe.hasFeature(28n);
      const want = expected(BACKEND, { ...c, indirect: indirectOk }, (a, n) => (inMem(a, n) ? mem.read(a, n) : undefined), q.descGpa);
      // A writable buffer over the rings or a table lets the device rewrite what the model read: then
      // only the safety checks apply.
      const tables = c.indirects.map((tb) => [tb.gpa, tb.gpa + 16 * tb.descs.length] as [number, number]);
      const modelValid = !want.ok.some((w) => overlaps(w.writable, GIB, GIB + RING_AREA) || tables.some(([lo, hi]) => overlaps(w.writable, lo, hi)));
      const before = mem.regions.map((r) => r.bytes.slice());
      const vring = () => f.d.backend().vrings[1]!;
      const usedIdx = () => mem.read(q.usedGpa + 2, 2).reduce((a, x, i) => a + (x << (8 * i)), 0);
      for (const h of c.heads) q.publishRaw(h);
      const done = () => (want.error !== undefined ? vring().broken && usedIdx() === want.ok.length : usedIdx() === c.heads.length);
      await waitFor(() => done() || (!modelValid && (vring().broken || usedIdx() === c.heads.length)), 3000, `the back-end to use ${want.ok.length} chains${want.error ? ` and break the queue (${want.error})` : ''}; used.idx is ${usedIdx()}, broken ${vring().broken}`).catch((e: Error) => {
        throw modelValid ? e : new Error(`hang: ${e.message}`);
      });
      if (echo.violations.length > 0) throw new Error(echo.violations.join('; '));
      if (modelValid) {
        if (want.error === undefined && vring().broken) throw new Error('the queue was marked broken, but the model finds every chain valid');
        want.ok.forEach((w, i) => {
          const e = mem.read(q.usedGpa + 4 + 8 * i, 8);
          const dv = new DataView(e.buffer);
          const rl = w.readable.reduce((a, s) => a + s.len, 0);
          const wl = w.writable.reduce((a, s) => a + s.len, 0);
          if (dv.getUint32(0, true) !== want.heads[i]) throw new Error(`used element ${i}: id ${dv.getUint32(0, true)}, expected head ${want.heads[i]}`);
          if (dv.getUint32(4, true) !== Math.min(rl + 1, wl)) throw new Error(`used element ${i}: len ${dv.getUint32(4, true)}, the echo device writes ${Math.min(rl + 1, wl)}`);
        });
        // Guest memory changed only in writable buffers of used chains, the used ring, and the avail ring (the driver's own).
        const allowed = (gpa: number) =>
          (gpa >= q.usedGpa && gpa < q.usedGpa + 6 + 8 * c.size) || (gpa >= q.availGpa && gpa < q.availGpa + 6 + 2 * c.size) || want.ok.some((w) => w.writable.some((s) => gpa >= s.gpa && gpa < s.gpa + s.len));
        mem.regions.forEach((r, ri) => {
          const b = before[ri]!;
          for (let off = 0; off < r.size; off++) if (r.bytes[off] !== b[off] && !allowed(r.gpa + off)) throw new Error(`guest memory changed at GPA 0x${(r.gpa + off).toString(16)}, outside every writable buffer`);
        });
      }
      if (modelValid) used += usedIdx();
      if (vring().broken) broken++;
    } finally {
      fe.close();
    }
    await settle(f);
    checkNoFdLeak(f, 'a hostile ring');
    if (cases++ % 5 === 0) await roundTrip(f);
  });
  await checkProperty(t, 'descriptor-chains/back-end', prop, 250);
  t.log(`${used} chains used, ${broken} queues marked broken`);
});
