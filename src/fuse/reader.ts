/**
 * A read cursor over the readable half of a descriptor chain: `Uint8Array` views straight into guest
 * memory, in order, any of which may be empty and any boundary of which may fall inside a struct.
 *
 * Small things (headers, argument structs, names) are returned contiguous: a sub-view when they lie in
 * one segment, a copy when they straddle two. Bulk data (WRITE payloads) is handed out as sub-views with
 * no copy at all. Anything the caller keeps past validation (names, xattr values) must be taken with
 * readCopy(): the guest can rewrite its buffers at any time.
 */
import { ProtocolError } from '../../protocol/errors.js';
import type { StructDef } from '../../protocol/fuse-layout.js';

export class SegmentReader {
  private readonly segs: readonly Uint8Array[];
  private seg = 0;
  private pos = 0;
  private left: number;
  private done = 0;

  /** `limit` caps how many bytes can be read (e.g. fuse_in_header.len); default: all of them. */
  constructor(segments: readonly Uint8Array[], limit = Infinity) {
    this.segs = segments;
    let total = 0;
    for (const s of segments) total += s.byteLength;
    this.left = Math.min(total, limit);
  }

  /** Bytes still readable. */
  get remaining(): number {
    return this.left;
  }

  /** Bytes consumed so far. */
  get consumed(): number {
    return this.done;
  }

  /** Lower the readable limit to `n` bytes from the current position (never raises it). */
  limit(n: number): void {
    this.left = Math.max(0, Math.min(this.left, n));
  }

  private need(n: number, what: string): void {
    if (!Number.isInteger(n) || n < 0 || n > this.left) {
      throw new ProtocolError('FUSE_TRUNCATED', `${what}: need ${n} bytes, ${this.left} left`);
    }
  }

  /** Skip empty segments and the exhausted tail of the current one. */
  private settle(): void {
    while (this.seg < this.segs.length && this.pos >= (this.segs[this.seg] as Uint8Array).byteLength) {
      this.seg++;
      this.pos = 0;
    }
  }

  private advance(n: number): void {
    this.left -= n;
    this.done += n;
  }

  /**
   * The next `n` bytes as one contiguous array: a view into the segment when they do not straddle a
   * boundary, otherwise a fresh copy. Valid only until the guest can run again.
   */
  readContiguous(n: number, what = 'read'): Uint8Array {
    this.need(n, what);
    this.settle();
    const cur = this.segs[this.seg];
    if (n === 0) return new Uint8Array(0);
    if (cur !== undefined && cur.byteLength - this.pos >= n) {
      const v = cur.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.advance(n);
      return v;
    }
    return this.readCopy(n, what);
  }

  /** The next `n` bytes copied into a new Buffer the caller owns. */
  readCopy(n: number, what = 'read'): Buffer {
    this.need(n, what);
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      this.settle();
      const cur = this.segs[this.seg] as Uint8Array;
      const take = Math.min(n - got, cur.byteLength - this.pos);
      out.set(cur.subarray(this.pos, this.pos + take), got);
      this.pos += take;
      got += take;
    }
    this.advance(n);
    return out;
  }

  /** Decode one struct from the next `def.size` bytes. */
  readStruct<T>(def: StructDef<T>): T {
    // Decoded where it lies when it does not straddle a boundary: no sub-view per struct.
    const n = def.size;
    this.need(n, def.name);
    this.settle();
    const cur = this.segs[this.seg];
    if (cur !== undefined && cur.byteLength - this.pos >= n) {
      const v = def.decode(cur, this.pos);
      this.pos += n;
      this.advance(n);
      return v;
    }
    return def.decode(this.readCopy(n, def.name));
  }

  /** The next `n` bytes as sub-views of the segments, in order, without copying. Empty views are omitted. */
  takeViews(n: number, what = 'data'): Uint8Array[] {
    this.need(n, what);
    const out: Uint8Array[] = [];
    let got = 0;
    while (got < n) {
      this.settle();
      const cur = this.segs[this.seg] as Uint8Array;
      const take = Math.min(n - got, cur.byteLength - this.pos);
      out.push(cur.subarray(this.pos, this.pos + take));
      this.pos += take;
      got += take;
    }
    this.advance(n);
    return out;
  }

  /** Skip `n` bytes. */
  skip(n: number, what = 'skip'): void {
    this.takeViews(n, what);
  }
}

/** Total byte length of a list of views. */
export function totalLength(views: readonly Uint8Array[]): number {
  let n = 0;
  for (const v of views) n += v.byteLength;
  return n;
}
