/**
 * A write cursor over the writable half of a descriptor chain (views into guest memory). Replies are
 * written in order; `reserve()` + `writeAt()` let the out header be filled in last, after a READ has
 * landed its data directly in guest memory through `views()` + `advance()`. `written` is the used length
 * to report for the chain.
 */
import { ProtocolError } from '../../protocol/errors.js';
import type { StructDef } from '../../protocol/fuse-layout.js';

export class SegmentWriter {
  private readonly segs: readonly Uint8Array[];
  readonly capacity: number;
  private seg = 0;
  private pos = 0;
  private done = 0;

  constructor(segments: readonly Uint8Array[]) {
    this.segs = segments;
    let total = 0;
    for (const s of segments) total += s.byteLength;
    this.capacity = total;
  }

  /** Bytes written (the used length). */
  get written(): number {
    return this.done;
  }

  /** Room left after the cursor. */
  get available(): number {
    return this.capacity - this.done;
  }

  /** Forget everything written (an error reply replaces a half-built one). */
  reset(): void {
    this.seg = 0;
    this.pos = 0;
    this.done = 0;
  }

  private need(n: number, what: string): void {
    if (!Number.isInteger(n) || n < 0 || n > this.available) {
      throw new ProtocolError('FUSE_NO_ROOM', `${what}: need ${n} bytes, ${this.available} writable`);
    }
  }

  private settle(): void {
    while (this.seg < this.segs.length && this.pos >= (this.segs[this.seg] as Uint8Array).byteLength) {
      this.seg++;
      this.pos = 0;
    }
  }

  /** Copy `bytes` at the cursor. */
  write(bytes: Uint8Array, what = 'write'): void {
    this.need(bytes.byteLength, what);
    let off = 0;
    while (off < bytes.byteLength) {
      this.settle();
      const cur = this.segs[this.seg] as Uint8Array;
      const take = Math.min(bytes.byteLength - off, cur.byteLength - this.pos);
      cur.set(bytes.subarray(off, off + take), this.pos);
      this.pos += take;
      off += take;
    }
    this.done += bytes.byteLength;
  }

  /**
   * Let `fill(buf, off)` produce exactly `n` bytes at the cursor: in place when they fit in the current
   * segment, else in a scratch buffer that is then copied across the boundary.
   */
  fill(n: number, fill: (buf: Uint8Array, off: number) => void, what = 'fill'): void {
    this.need(n, what);
    this.settle();
    const cur = this.segs[this.seg];
    if (cur !== undefined && cur.byteLength - this.pos >= n) {
      fill(cur, this.pos);
      this.pos += n;
      this.done += n;
      return;
    }
    const scratch = new Uint8Array(n);
    fill(scratch, 0);
    this.write(scratch, what);
  }

  /** Encode a struct at the cursor. */
  writeStruct<T>(def: StructDef<T>, value: T): void {
    // The common case (the struct fits in the current segment) without fill()'s closure.
    const n = def.size;
    this.need(n, def.name);
    this.settle();
    const cur = this.segs[this.seg];
    if (cur !== undefined && cur.byteLength - this.pos >= n) {
      def.encode(value, cur, this.pos);
      this.pos += n;
      this.done += n;
      return;
    }
    this.write(def.toBytes(value), def.name);
  }

  /** Skip `n` bytes to be filled later with writeAt(); returns their position. */
  reserve(n: number, what = 'reserve'): number {
    const at = this.done;
    this.views(n, what);
    this.advance(n);
    return at;
  }

  /** Overwrite already-written bytes at absolute position `at` (e.g. a reserved header). */
  writeAt(at: number, bytes: Uint8Array): void {
    if (!Number.isInteger(at) || at < 0 || at + bytes.byteLength > this.done) {
      throw new ProtocolError('FUSE_NO_ROOM', `writeAt(${at}, ${bytes.byteLength}) outside the ${this.done} written bytes`);
    }
    let skip = at;
    let off = 0;
    for (const s of this.segs) {
      if (off >= bytes.byteLength) break;
      if (skip >= s.byteLength) {
        skip -= s.byteLength;
        continue;
      }
      const take = Math.min(bytes.byteLength - off, s.byteLength - skip);
      s.set(bytes.subarray(off, off + take), skip);
      off += take;
      skip = 0;
    }
  }

  /** Encode a struct over already-written bytes at absolute position `at` (e.g. a reserved header). */
  writeStructAt<T>(at: number, def: StructDef<T>, value: T): void {
    let skip = at;
    for (const s of this.segs) {
      if (skip < s.byteLength) {
        // In place when it lies in one segment (the out header has its own descriptor).
        if (s.byteLength - skip >= def.size && at + def.size <= this.done) return def.encode(value, s, skip);
        break;
      }
      skip -= s.byteLength;
    }
    this.writeAt(at, def.toBytes(value));
  }

  /**
   * The next `n` writable bytes as sub-views of guest memory (no copy), without moving the cursor: the
   * callee fills a prefix of them and the caller then advance()s by what was filled.
   */
  views(n: number, what = 'views'): Uint8Array[] {
    this.need(n, what);
    const out: Uint8Array[] = [];
    let seg = this.seg;
    let pos = this.pos;
    let got = 0;
    while (got < n) {
      const cur = this.segs[seg] as Uint8Array;
      const take = Math.min(n - got, cur.byteLength - pos);
      if (take > 0) out.push(cur.subarray(pos, pos + take));
      got += take;
      seg++;
      pos = 0;
    }
    return out;
  }

  /** Move the cursor over `n` bytes that were filled through views(). */
  advance(n: number, what = 'advance'): void {
    this.need(n, what);
    let left = n;
    while (left > 0) {
      this.settle();
      const cur = this.segs[this.seg] as Uint8Array;
      const take = Math.min(left, cur.byteLength - this.pos);
      this.pos += take;
      left -= take;
    }
    this.done += n;
  }
}
