/**
 * A small coverage-guided fuzzer for pure decoders, in the libFuzzer mould, with fast-check as the
 * source of mutations.
 *
 * Why not Jazzer.js: @jazzer.js/core 4.0.0 installs from npm with a prebuilt libFuzzer addon inside
 * the package, but that binary needs glibc 2.38 (__isoc23_strtol) and this Debian 12 machine has
 * 2.36, so it does not load; versions up to 2.1.0 fetch their binary from GitHub at install time
 * (prebuild-install) or build libFuzzer from downloaded sources, neither of which works here.
 *
 * Feedback: V8's own block coverage (the inspector's Profiler.takePreciseCoverage with callCount and
 * detailed ranges), read after every input for the scripts under test (dist/protocol/). A feature is
 * (script, block range, hit-count bucket), as libFuzzer buckets counters; V8 lists a nested block only
 * where its count differs from its parent's, so zero-count ranges count too. An input that reaches a
 * new feature joins the corpus. Mutations are plans drawn from one fast-check infinite stream seeded by
 * --seed: bit flips, interesting bytes/u16/u32/u64 (sizes, counts, 2^53, -1), inserts, deletes,
 * duplications, truncations, splices with another corpus entry, and "make this u32 the length of
 * what follows", so a run is reproducible from its seed.
 *
 * A crash is any exception other than the target's expected ones (ProtocolError for decoders), or an
 * InvariantError from a target's own checks (e.g. decode(encode(decode(x))) !== decode(x)).
 */
import inspector from 'node:inspector';
import fc from 'fast-check';

export class InvariantError extends Error {
  override name = 'InvariantError';
}

export interface Target {
  name: string;
  /** Valid inputs built with the independent builders. */
  seeds: Uint8Array[];
  /** Run one input; throw only for expected rejections (isExpected) or real findings. */
  run(data: Uint8Array): void;
  isExpected(e: unknown): boolean;
}

export interface Crash {
  input: Uint8Array;
  error: string;
  /** First stack frames: crashes with the same signature are one finding. */
  signature: string;
}

export interface FuzzResult {
  execs: number;
  ms: number;
  corpus: Uint8Array[];
  features: number;
  seedFeatures: number;
  crashes: Crash[];
  slowest: { ms: number; input: Uint8Array };
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this many milliseconds or executions, whichever comes first. */
  timeMs: number;
  maxExecs?: number;
  maxLen?: number;
  /** Only scripts whose URL contains this are measured (default '/dist/protocol/'). */
  scope?: string;
  /** Return at the first crash. */
  stopOnCrash?: boolean;
  /** Ignore coverage (the corpus stays the seeds): the baseline that shows what the feedback buys. */
  blind?: boolean;
  /** Called when the corpus grows or a crash is found (progress output). */
  onEvent?: (what: string) => void;
}

type Op =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'byte'; pos: number; v: number }
  | { k: 'u16' | 'u32' | 'u64'; pos: number; v: bigint }
  | { k: 'insert'; pos: number; bytes: Uint8Array }
  | { k: 'delete'; pos: number; n: number }
  | { k: 'dup'; pos: number; n: number }
  | { k: 'truncate'; pos: number }
  | { k: 'splice'; other: number; pos: number; n: number }
  | { k: 'length'; pos: number; minus: number };

interface Plan {
  base: number;
  other: number;
  /** How the input to mutate is picked: the newest entry, the shorter of two, or any. */
  pick: 'newest' | 'shorter' | 'any';
  ops: Op[];
}

/** Where in the input an op applies (a fraction of its length), skewed toward the start: headers live there. */
const pos = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }).map((p) => p ** 4));
const interesting = fc.constantFrom(0n, 1n, 2n, 7n, 8n, 12n, 16n, 24n, 32n, 40n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xfffn, 0x1000n, 0x1001n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, 1n << 63n, (1n << 64n) - 1n);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), pos, bit: fc.nat({ max: 7 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('byte' as const), pos, v: fc.oneof({ weight: 1, arbitrary: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x2f, 0x2e) }, { weight: 3, arbitrary: fc.nat({ max: 255 }) }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('u16' as const, 'u32' as const, 'u64' as const), pos, v: interesting }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('insert' as const), pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), pos, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dup' as const), pos, n: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), pos }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('splice' as const), other: fc.nat(), pos, n: fc.integer({ min: 1, max: 256 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('length' as const), pos, minus: fc.constantFrom(0, 1, 4, 8, 12, 16, 40, -1, -8) }) },
);
const planArb: fc.Arbitrary<Plan> = fc.record({
  base: fc.nat(),
  other: fc.nat(),
  pick: fc.constantFrom('newest' as const, 'shorter' as const, 'any' as const),
  ops: fc.array(opArb, { minLength: 1, maxLength: 4 }),
});

/** Recent finds get more mutations (they are where coverage is moving), short inputs too. */
function pickBase(entries: Uint8Array[], plan: Plan): Uint8Array {
  if (plan.pick === 'newest') return entries[entries.length - 1]!;
  const a = entries[plan.base % entries.length]!;
  if (plan.pick === 'any') return a;
  const b = entries[plan.other % entries.length]!;
  return b.length < a.length ? b : a;
}

function apply(input: Uint8Array, plan: Plan, corpus: Uint8Array[], maxLen: number): Uint8Array {
  let b = Buffer.from(input);
  const at = (p: number, len = b.length) => Math.min(len, Math.floor(p * (len + 1)));
  for (const op of plan.ops) {
    switch (op.k) {
      case 'flip':
        if (b.length > 0) b[at(op.pos, b.length - 1)]! ^= 1 << op.bit;
        break;
      case 'byte':
        if (b.length > 0) b[at(op.pos, b.length - 1)] = op.v;
        break;
      case 'u16':
      case 'u32':
      case 'u64':
      case 'length': {
        const w = op.k === 'u16' ? 2 : op.k === 'u64' ? 8 : 4;
        if (b.length < w) break;
        const i = at(op.pos, b.length - w);
        const v = op.k === 'length' ? BigInt(Math.max(0, b.length - i - w - op.minus)) : op.v;
        if (w === 2) b.writeUInt16LE(Number(v & 0xffffn), i);
        else if (w === 4) b.writeUInt32LE(Number(v & 0xffffffffn), i);
        else b.writeBigUInt64LE(BigInt.asUintN(64, v), i);
        break;
      }
      case 'insert': {
        const i = at(op.pos);
        b = Buffer.concat([b.subarray(0, i), op.bytes, b.subarray(i)]);
        break;
      }
      case 'delete': {
        const i = at(op.pos);
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + op.n)]);
        break;
      }
      case 'dup': {
        const i = at(op.pos);
        b = Buffer.concat([b.subarray(0, i + op.n), b.subarray(i)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, at(op.pos));
        break;
      case 'splice': {
        const other = corpus[op.other % corpus.length]!;
        const i = at(op.pos);
        const j = Math.floor(op.pos * other.length);
        b = Buffer.concat([b.subarray(0, i), other.subarray(j, j + op.n), b.subarray(i)]);
        break;
      }
    }
    if (b.length > maxLen) b = b.subarray(0, maxLen);
  }
  return new Uint8Array(b);
}

/** libFuzzer's counter buckets. */
function bucket(n: number): number {
  return n <= 3 ? n : n <= 7 ? 4 : n <= 15 ? 5 : n <= 31 ? 6 : n <= 127 ? 7 : 8;
}

/** Block coverage of this isolate through the inspector (synchronous on the same thread). */
class Coverage {
  private readonly s = new inspector.Session();
  constructor(private readonly scope: string) {
    this.s.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }
  private post<T>(method: string, params?: object): T {
    let out: T | undefined;
    let err: Error | null = null;
    this.s.post(method, params, (e, r) => {
      err = e;
      out = r as T;
    });
    if (err) throw err;
    return out as T;
  }
  /** Features hit since the last call (counters reset). */
  take(into: Set<string>): void {
    const r = this.post<{ result: { url: string; functions: { ranges: { startOffset: number; endOffset: number; count: number }[] }[] }[] }>('Profiler.takePreciseCoverage');
    for (const script of r.result) {
      if (!script.url.includes(this.scope)) continue;
      const file = script.url.slice(script.url.lastIndexOf('/') + 1);
      // V8 lists a nested block only where its count differs from the enclosing one, so the set of
      // ranges listed (zero counts included) is itself the signal: entering a branch changes it.
      for (const fn of script.functions) for (const rg of fn.ranges) into.add(`${file}:${rg.startOffset}:${rg.endOffset}:${bucket(rg.count)}`);
    }
  }
  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.post('Profiler.disable');
    this.s.disconnect();
  }
}

function signature(e: unknown): string {
  const err = e as Error;
  const frames = (err?.stack ?? String(e)).split('\n').slice(0, 3).map((l) => l.trim().replace(/:\d+:\d+\)?$/, ''));
  return `${err?.name ?? typeof e}: ${frames.join(' | ')}`;
}

/** Fuzz `t` for the given budget; the corpus starts from the target's seeds plus `corpus`. */
export function fuzz(t: Target, o: FuzzOptions, corpus: Uint8Array[] = []): FuzzResult {
  const maxLen = o.maxLen ?? 4096;
  const cov = new Coverage(o.scope ?? '/dist/protocol/');
  const seen = new Set<string>();
  const crashes = new Map<string, Crash>();
  const entries: Uint8Array<ArrayBufferLike>[] = [];
  let slowest: { ms: number; input: Uint8Array<ArrayBufferLike> } = { ms: 0, input: new Uint8Array(0) };
  let execs = 0;
  const exec = (input: Uint8Array): boolean => {
    const start = performance.now();
    try {
      t.run(input);
    } catch (e) {
      if (!t.isExpected(e)) {
        const sig = signature(e);
        if (!crashes.has(sig)) {
          crashes.set(sig, { input, error: (e as Error)?.stack ?? String(e), signature: sig });
          o.onEvent?.(`crash #${crashes.size}: ${sig}`);
        }
      }
    }
    const ms = performance.now() - start;
    if (ms > slowest.ms) slowest = { ms, input };
    execs++;
    const hit = new Set<string>();
    cov.take(hit);
    let fresh = false;
    for (const f of hit) {
      if (!seen.has(f)) {
        seen.add(f);
        fresh = true;
      }
    }
    return fresh;
  };
  const t0 = performance.now();
  try {
    for (const s of [...t.seeds, ...corpus]) if (exec(s) || entries.length === 0) entries.push(s);
    const seedFeatures = seen.size;
    // One lazily generated, seeded stream of mutation plans: the whole run replays from --seed.
    const plans = fc.sample(fc.infiniteStream(planArb), { seed: o.seed, numRuns: 1 })[0]![Symbol.iterator]();
    while (performance.now() - t0 < o.timeMs && (o.maxExecs === undefined || execs < o.maxExecs) && !(o.stopOnCrash && crashes.size > 0)) {
      const plan = plans.next().value as Plan;
      const input = apply(pickBase(entries, plan), plan, entries, maxLen);
      if (exec(input) && !o.blind) {
        entries.push(input);
        o.onEvent?.(`corpus ${entries.length}, features ${seen.size}, execs ${execs}`);
      }
    }
    return { execs, ms: performance.now() - t0, corpus: entries, features: seen.size, seedFeatures, crashes: [...crashes.values()], slowest };
  } finally {
    cov.close();
  }
}
