/**
 * Hostile split rings: a generator of ring contents (descriptor tables, indirect tables of any size,
 * avail entries) over a given guest memory layout, and an independent reference model of how a
 * device must walk a chain — the virtio 1.x rules plus this project's documented policy (zero-length
 * descriptors refused, addresses at or above 2^53 refused, at most one indirect level, no
 * INDIRECT|NEXT, a chain longer than its table is a loop). Written from the spec for the tests; it
 * shares no code with src/virtqueue.
 */
import fc from 'fast-check';

export const NEXT = 1;
export const WRITE = 2;
export const INDIRECT = 4;
const MAX_QUEUE = 32768;
/** Our policy: a chain may map to at most this many segments (split at region edges) per direction. */
const MAX_SEGMENTS = 4096;

export interface Layout {
  regions: { gpa: number; size: number }[];
  /** GPAs where the test may put indirect tables (spots straddle region edges and holes too). */
  tableSpots: number[];
  /** GPA ranges the generator must not place tables over (the rings). */
  reserved: [number, number][];
}

export interface Desc {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

export interface IndirectTable {
  gpa: number;
  descs: Desc[];
}

export interface RingCase {
  size: number;
  eventIdx: boolean;
  indirect: boolean;
  /** The queue's starting avail index (SET_VRING_BASE). */
  base: number;
  table: Desc[];
  indirects: IndirectTable[];
  /** Heads published, in order. */
  heads: number[];
}

export interface Segment {
  gpa: number;
  len: number;
}

export type WalkResult = { ok: true; readable: Segment[]; writable: Segment[] } | { ok: false; why: string };

// ---- generation ----------------------------------------------------------------------------------

type AddrChoice =
  | { k: 'in'; region: number; frac: number }
  | { k: 'edge'; region: number; at: 'start' | 'end' | 'before'; delta: number }
  | { k: 'table'; spot: number }
  | { k: 'abs'; v: number };

type LenChoice = { k: 'n'; v: number } | { k: 'to-end' } | { k: 'past-end'; by: number };

function addrChoice(l: Layout): fc.Arbitrary<AddrChoice> {
  const r = fc.nat({ max: l.regions.length - 1 });
  return fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant('in' as const), region: r, frac: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('edge' as const), region: r, at: fc.constantFrom('start' as const, 'end' as const, 'before' as const), delta: fc.nat({ max: 64 }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('table' as const), spot: fc.nat({ max: l.tableSpots.length - 1 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        k: fc.constant('abs' as const),
        v: fc.oneof(fc.constantFrom(0, 1, 0xfff, 2 ** 32 - 1, 2 ** 32, 2 ** 52, 2 ** 53 - 1, 2 ** 53, 2 ** 63, 2 ** 64 - 16), fc.nat({ max: 2 ** 31 })),
      }),
    },
  );
}

const lenChoice: fc.Arbitrary<LenChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('n' as const), v: fc.oneof(fc.integer({ min: 1, max: 512 }), fc.constantFrom(0, 1, 16, 40, 4096, 0x10000, 0x10001)) }) },
  { weight: 2, arbitrary: fc.constant<LenChoice>({ k: 'to-end' }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('past-end' as const), by: fc.integer({ min: 1, max: 4096 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('n' as const), v: fc.oneof(fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff })) }) },
);

function resolveAddr(l: Layout, a: AddrChoice): number {
  switch (a.k) {
    case 'in': {
      const r = l.regions[a.region]!;
      return r.gpa + Math.floor(a.frac * r.size);
    }
    case 'edge': {
      const r = l.regions[a.region]!;
      if (a.at === 'start') return r.gpa + a.delta;
      if (a.at === 'end') return Math.max(0, r.gpa + r.size - a.delta);
      return Math.max(0, r.gpa - 1 - a.delta);
    }
    case 'table':
      return l.tableSpots[a.spot]!;
    case 'abs':
      return a.v;
  }
}

function resolveLen(l: Layout, addr: number, c: LenChoice): number {
  const r = l.regions.find((x) => addr >= x.gpa && addr < x.gpa + x.size);
  const toEnd = r === undefined ? 1 : r.gpa + r.size - addr;
  switch (c.k) {
    case 'n':
      return c.v >>> 0;
    case 'to-end':
      return toEnd;
    case 'past-end':
      return Math.min(0xffffffff, toEnd + c.by);
  }
}

const flagsArb = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(0, NEXT, WRITE, NEXT | WRITE) },
  { weight: 2, arbitrary: fc.constantFrom(INDIRECT, INDIRECT | NEXT, INDIRECT | WRITE) },
  { weight: 1, arbitrary: fc.nat({ max: 0xffff }) },
);

interface RawDesc {
  addr: AddrChoice;
  len: LenChoice;
  flags: number;
  next: number;
}

function rawDesc(l: Layout, maxNext: number): fc.Arbitrary<RawDesc> {
  return fc.record({
    addr: addrChoice(l),
    len: lenChoice,
    flags: flagsArb,
    next: fc.oneof({ weight: 6, arbitrary: fc.nat({ max: Math.max(0, maxNext - 1) }) }, { weight: 1, arbitrary: fc.constantFrom(maxNext, maxNext + 1, 0xffff) }),
  });
}

/**
 * A well-formed chain of n descriptors at slots start.., r readable then writable, linked by NEXT;
 * later corruptions make it almost well-formed.
 */
function wellFormed(n: number, readable: number, slot: (i: number) => number, addrs: Desc[]): Desc[] {
  return addrs.slice(0, n).map((d, i) => ({
    addr: d.addr,
    len: d.len === 0 ? 1 : d.len,
    flags: (i >= readable ? WRITE : 0) | (i + 1 < n ? NEXT : 0),
    next: i + 1 < n ? slot(i + 1) : 0,
  }));
}

/** A buffer that lies inside one region (what a sane driver hands out). */
function goodDesc(l: Layout): fc.Arbitrary<Desc> {
  return fc.tuple(fc.nat({ max: l.regions.length - 1 }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 1, max: 512 })).map(([ri, frac, n]) => {
    const r = l.regions[ri]!;
    const addr = r.gpa + Math.floor(frac * (r.size - 1));
    return { addr, len: Math.min(n, r.gpa + r.size - addr), flags: 0, next: 0 };
  });
}

function resolve(l: Layout, d: RawDesc): Desc {
  const addr = resolveAddr(l, d.addr);
  return { addr, len: resolveLen(l, addr, d.len), flags: d.flags, next: d.next };
}

/** Ring contents over `l`, for queue sizes in `sizes`. */
export function ringCase(l: Layout, sizes: number[]): fc.Arbitrary<RingCase> {
  return fc.constantFrom(...sizes).chain((size) =>
    fc
      .record({
        eventIdx: fc.boolean(),
        indirect: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        base: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(0xfffe, 0xffff) }, { weight: 1, arbitrary: fc.nat({ max: 0xffff }) }),
        structured: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        raw: fc.array(rawDesc(l, size), { minLength: size, maxLength: size }),
        good: fc.array(goodDesc(l), { minLength: Math.min(size, 6), maxLength: Math.min(size, 6) }),
        chainLens: fc.array(fc.integer({ min: 1, max: Math.min(size, 6) }), { minLength: 1, maxLength: 4 }),
        readableFrac: fc.double({ min: 0, max: 1, noNaN: true }),
        indirects: fc.tuple(
          fc.nat({ max: 2 }),
          fc.array(
              fc.record({
                spot: fc.nat({ max: l.tableSpots.length - 1 }),
                n: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) }, { weight: 1, arbitrary: fc.constantFrom(0, 64, 300) }),
                raw: fc.array(rawDesc(l, 8), { minLength: 8, maxLength: 8 }),
                wf: fc.boolean(),
                tableLen: fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat({ max: 0x100000 }) }),
              }),
              { minLength: 1, maxLength: 2 },
          ),
        ).map(([k, tables]) => (k === 0 ? tables : [])),
        corruptions: fc.oneof(
          { weight: 2, arbitrary: fc.constant([]) },
          { weight: 1, arbitrary: fc.array(fc.record({ slot: fc.nat({ max: size - 1 }), field: fc.constantFrom('addr' as const, 'len' as const, 'flags' as const, 'next' as const), with: rawDesc(l, size) }), { minLength: 1, maxLength: 3 }) },
        ),
        heads: fc.array(fc.oneof({ weight: 8, arbitrary: fc.nat({ max: size - 1 }) }, { weight: 1, arbitrary: fc.constantFrom(size, 0xffff) }), { minLength: 1, maxLength: Math.min(size + 2, 8) }),
      })
      .map((g) => {
        const table = g.raw.map((d) => resolve(l, d));
        const heads = [...g.heads];
        if (g.structured) {
          let slot = 0;
          heads.length = 0;
          for (const n of g.chainLens) {
            if (slot + n > size) break;
            const start = slot;
            const chain = wellFormed(n, Math.round(g.readableFrac * n), (i) => start + i, g.good);
            chain.forEach((d, i) => (table[start + i] = d));
            heads.push(start);
            slot += n;
          }
          if (heads.length === 0) heads.push(0);
        }
        const indirects: IndirectTable[] = g.indirects.map((t, ti) => {
          let descs = t.raw.map((d) => resolve(l, d));
          if (t.wf) descs = wellFormed(Math.min(descs.length, g.good.length), 1, (i) => i, g.good);
          while (descs.length < t.n) descs.push({ ...descs[descs.length % 8]!, next: descs.length + 1 });
          descs = descs.slice(0, t.n);
          const gpa = l.tableSpots[t.spot]!;
          // Point a head descriptor at the table.
          const slot = heads[ti % heads.length]! % size;
          table[slot] = { addr: gpa, len: t.tableLen >= 0 ? t.tableLen : t.n * 16, flags: INDIRECT, next: 0 };
          return { gpa, descs };
        });
        for (const c of g.corruptions) {
          const w = resolve(l, c.with);
          table[c.slot] = { ...table[c.slot]!, [c.field]: w[c.field] };
        }
        return { size, eventIdx: g.eventIdx, indirect: g.indirect, base: g.base, table, indirects, heads };
      }),
  );
}

/** A printable one-liner of a case (for counterexamples). */
export function describeCase(c: RingCase): string {
  const d = (x: Desc) => `{0x${x.addr.toString(16)}+${x.len} f${x.flags} n${x.next}}`;
  return `size=${c.size} eventIdx=${c.eventIdx} indirect=${c.indirect} base=${c.base} heads=[${c.heads}] table=[${c.table.map(d).join(' ')}] indirects=[${c.indirects.map((t) => `@0x${t.gpa.toString(16)}:[${t.descs.map(d).join(' ')}]`).join(' ')}]`;
}

// ---- writing a case into memory --------------------------------------------------------------------

export function descBytes(descs: Desc[]): Uint8Array {
  const out = new Uint8Array(16 * descs.length);
  const dv = new DataView(out.buffer);
  descs.forEach((d, i) => {
    dv.setUint32(16 * i, d.addr % 2 ** 32, true);
    dv.setUint32(16 * i + 4, Math.floor(d.addr / 2 ** 32) % 2 ** 32, true);
    dv.setUint32(16 * i + 8, d.len >>> 0, true);
    dv.setUint16(16 * i + 12, d.flags & 0xffff, true);
    dv.setUint16(16 * i + 14, d.next & 0xffff, true);
  });
  return out;
}

// ---- the reference model ----------------------------------------------------------------------------

/** Reads guest memory for the model: the bytes of [gpa, gpa+len) if all of them are in regions. */
export type ModelRead = (gpa: number, len: number) => Uint8Array | undefined;

/** Split [gpa, gpa+len) at region edges; undefined if any byte is outside every region. */
export function segmentsOf(l: Layout, gpa: number, len: number): Segment[] | undefined {
  if (!Number.isSafeInteger(gpa + len)) return undefined;
  const out: Segment[] = [];
  let at = gpa;
  const end = gpa + len;
  while (at < end) {
    const r = l.regions.find((x) => at >= x.gpa && at < x.gpa + x.size);
    if (r === undefined) return undefined;
    const n = Math.min(end, r.gpa + r.size) - at;
    out.push({ gpa: at, len: n });
    at += n;
  }
  return out;
}

/** Merge segments that continue each other (region edges split them differently in different code). */
export function merged(s: Segment[]): Segment[] {
  const out: Segment[] = [];
  for (const x of s) {
    const last = out[out.length - 1];
    if (last !== undefined && last.gpa + last.len === x.gpa) last.len += x.len;
    else out.push({ ...x });
  }
  return out;
}

/** What a correct device makes of the chain at `head` (table at `tableGpa`, `size` entries). */
export function walk(l: Layout, read: ModelRead, tableGpa: number, size: number, head: number, indirectOk: boolean): WalkResult {
  const readable: Segment[] = [];
  const writable: Segment[] = [];
  const first = read(tableGpa, 16 * size);
  if (first === undefined) return { ok: false, why: 'descriptor table outside memory' };
  let table: Uint8Array = first;
  let tableSize = size;
  let i = head;
  let seen = 0;
  let nested = false;
  for (;;) {
    if (i >= tableSize) return { ok: false, why: `index ${i} >= ${tableSize}` };
    if (++seen > tableSize) return { ok: false, why: 'loop' };
    const dv = new DataView(table.buffer, table.byteOffset + 16 * i, 16);
    const lo = dv.getUint32(0, true);
    const hi = dv.getUint32(4, true);
    const len = dv.getUint32(8, true);
    const flags = dv.getUint16(12, true);
    const next = dv.getUint16(14, true);
    const addr = hi * 2 ** 32 + lo;
    if (addr >= 2 ** 53) return { ok: false, why: 'address >= 2^53' };
    if (flags & INDIRECT) {
      if (!indirectOk) return { ok: false, why: 'indirect not negotiated' };
      if (nested) return { ok: false, why: 'nested indirect' };
      if (flags & NEXT) return { ok: false, why: 'INDIRECT|NEXT' };
      if (len === 0 || len % 16 !== 0 || len / 16 > MAX_QUEUE) return { ok: false, why: `indirect length ${len}` };
      if (segmentsOf(l, addr, len) === undefined) return { ok: false, why: 'indirect table outside memory' };
      table = read(addr, len)!;
      tableSize = len / 16;
      i = 0;
      seen = 0;
      nested = true;
      continue;
    }
    if (len === 0) return { ok: false, why: 'zero length' };
    const segs = segmentsOf(l, addr, len);
    if (segs === undefined) return { ok: false, why: `buffer 0x${addr.toString(16)}+${len} outside memory` };
    if (flags & WRITE) writable.push(...segs);
    else {
      if (writable.length > 0) return { ok: false, why: 'readable after writable' };
      readable.push(...segs);
    }
    if (readable.length > MAX_SEGMENTS || writable.length > MAX_SEGMENTS) return { ok: false, why: 'too many segments' };
    if ((flags & NEXT) === 0) return { ok: true, readable, writable };
    i = next;
  }
}
