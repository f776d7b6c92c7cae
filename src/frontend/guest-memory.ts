/**
 * The front-end's guest RAM: one or more memfd regions, each with a guest physical address (GPA)
 * and a made-up "front-end virtual address" (userspace_addr) that differs from the GPA and from
 * the real mapping address, so a back-end must translate ring addresses (user addresses) and
 * descriptor addresses (GPAs) through the table, as with QEMU.
 *
 * Regions are laid out GPA-contiguous by default (region i starts where region i-1 ends), so a
 * buffer can deliberately straddle a boundary; their user addresses are not contiguous.
 *
 * GPAs are plain numbers here (the front-end picks them, all below 2^53); they become bigint only
 * in vhost-user messages. Memory is owned by this object: `close()` unmaps and closes the memfds.
 */
import * as native from '../native/index.js';
import type { MemoryRegion } from '../../protocol/vhost-user-regions.js';
import { FrontendError } from './connection.js';

/** Where and how big one region is. */
export interface RegionSpec {
  /** Bytes; a multiple of the page size. */
  size: number;
  /** Guest physical address (default: right after the previous region, first at `gpaBase`). */
  gpa?: number;
  /** The front-end virtual address reported as userspace_addr (default: a distinct fake address). */
  uaddr?: bigint;
  /** Offset of the region inside its memfd (mmap_offset); a multiple of the page size. Default 0. */
  fdOffset?: number;
}

export interface GuestMemoryOptions {
  /** Number of equal regions (ignored when `specs` is given). Default 1. */
  regions?: number;
  /** Size of each region. Default 32 MiB. */
  regionSize?: number;
  /** GPA of the first region. Default 1 GiB, so a back-end that confuses GPAs with offsets fails. */
  gpaBase?: number;
  /** Explicit regions (overrides `regions`/`regionSize`). */
  specs?: RegionSpec[];
}

/** One mapped region. `bytes` covers exactly the region (not the fdOffset before it). */
export interface FrontendRegion {
  index: number;
  gpa: number;
  size: number;
  uaddr: bigint;
  /** mmap_offset: where the region starts inside `fd`. */
  fdOffset: number;
  fd: number;
  bytes: Uint8Array;
  view: DataView;
}

const DEFAULT_REGION_SIZE = 32 * 1024 * 1024;
const DEFAULT_GPA_BASE = 0x4000_0000;
/** Fake user addresses: high, and with gaps so consecutive regions are not contiguous there. */
const UADDR_BASE = 0x7f3a_0000_0000n;
const UADDR_GAP = 0x100_0000n;

interface Block {
  start: number;
  end: number;
}

export class FrontendGuestMemory {
  readonly regions: FrontendRegion[] = [];
  /** Free GPA ranges, sorted, never merged across a region boundary. */
  private free: Block[] = [];
  private allocated = new Map<number, number>();
  private boundaries = new Set<number>();
  private mappings: ArrayBuffer[] = [];

  private constructor() {}

  static create(opts: GuestMemoryOptions = {}): FrontendGuestMemory {
    const page = native.pageSize();
    const specs: RegionSpec[] = opts.specs ?? Array.from({ length: opts.regions ?? 1 }, () => ({ size: opts.regionSize ?? DEFAULT_REGION_SIZE }));
    const mem = new FrontendGuestMemory();
    let nextGpa = opts.gpaBase ?? DEFAULT_GPA_BASE;
    let nextUaddr = UADDR_BASE;
    try {
      specs.forEach((s, index) => {
        const fdOffset = s.fdOffset ?? 0;
        if (s.size <= 0 || s.size % page !== 0 || fdOffset % page !== 0) throw new RangeError(`region ${index}: size and fdOffset must be page multiples`);
        const gpa = s.gpa ?? nextGpa;
        if (!Number.isSafeInteger(gpa + s.size)) throw new RangeError(`region ${index}: GPA range beyond 2^53`);
        const uaddr = s.uaddr ?? nextUaddr;
        const fd = native.memfdCreate(`vfs-frontend-ram${index}`, 0);
        let mapping: ArrayBuffer;
        try {
          native.ftruncate(fd, fdOffset + s.size);
          mapping = native.mmap(fd, fdOffset + s.size, 0, true);
        } catch (e) {
          native.closeQuietly(fd);
          throw e;
        }
        mem.mappings.push(mapping);
        const bytes = new Uint8Array(mapping, fdOffset, s.size);
        mem.regions.push({ index, gpa, size: s.size, uaddr, fdOffset, fd, bytes, view: new DataView(mapping, fdOffset, s.size) });
        nextGpa = gpa + s.size;
        nextUaddr = uaddr + BigInt(s.size) + UADDR_GAP;
      });
    } catch (e) {
      mem.close();
      throw e;
    }
    const sorted = [...mem.regions].sort((a, b) => a.gpa - b.gpa);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.gpa < sorted[i - 1]!.gpa + sorted[i - 1]!.size) throw new RangeError('regions overlap in GPA space');
    }
    for (const r of sorted) {
      mem.free.push({ start: r.gpa, end: r.gpa + r.size });
      mem.boundaries.add(r.gpa);
      mem.boundaries.add(r.gpa + r.size);
    }
    return mem;
  }

  /** The vhost-user description of region `i`. */
  describe(i: number): MemoryRegion {
    const r = this.region(i);
    return { guestPhysAddr: BigInt(r.gpa), memorySize: BigInt(r.size), userspaceAddr: r.uaddr, mmapOffset: BigInt(r.fdOffset) };
  }

  region(i: number): FrontendRegion {
    const r = this.regions[i];
    if (r === undefined) throw new RangeError(`no region ${i}`);
    return r;
  }

  /** The region containing `gpa`, or undefined. */
  find(gpa: number): FrontendRegion | undefined {
    for (const r of this.regions) if (gpa >= r.gpa && gpa < r.gpa + r.size) return r;
    return undefined;
  }

  /** The front-end virtual address of `gpa` (what SET_VRING_ADDR carries). */
  gpaToUaddr(gpa: number): bigint {
    const r = this.find(gpa);
    if (r === undefined) throw new FrontendError('FRONTEND_BAD_GPA', `GPA 0x${gpa.toString(16)} is in no region`);
    return r.uaddr + BigInt(gpa - r.gpa);
  }

  /** Copy `data` into guest memory at `gpa`; may cross GPA-contiguous regions. */
  write(gpa: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.byteLength) {
      const r = this.find(gpa + done);
      if (r === undefined) throw new FrontendError('FRONTEND_BAD_GPA', `write at GPA 0x${(gpa + done).toString(16)} is in no region`);
      const off = gpa + done - r.gpa;
      const n = Math.min(data.byteLength - done, r.size - off);
      r.bytes.set(data.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Copy `len` bytes out of guest memory at `gpa` into `out` (default a new array). */
  read(gpa: number, len: number, out: Uint8Array = new Uint8Array(len)): Uint8Array {
    let done = 0;
    while (done < len) {
      const r = this.find(gpa + done);
      if (r === undefined) throw new FrontendError('FRONTEND_BAD_GPA', `read at GPA 0x${(gpa + done).toString(16)} is in no region`);
      const off = gpa + done - r.gpa;
      const n = Math.min(len - done, r.size - off);
      out.set(r.bytes.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /**
   * Allocate `size` bytes aligned to `align`, inside region `region` if given, never across a
   * region boundary. Throws FRONTEND_NO_MEMORY when nothing fits.
   */
  alloc(size: number, align = 8, region?: number): number {
    if (size <= 0) throw new RangeError(`allocation size ${size}`);
    const lim = region === undefined ? undefined : this.region(region);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i]!;
      if (lim !== undefined && (b.start < lim.gpa || b.end > lim.gpa + lim.size)) continue;
      const start = Math.ceil(b.start / align) * align;
      if (start + size > b.end) continue;
      this.carve(i, start, start + size);
      this.allocated.set(start, size);
      return start;
    }
    throw new FrontendError('FRONTEND_NO_MEMORY', `no free guest memory for ${size} bytes`);
  }

  /**
   * Allocate `size` bytes that straddle a boundary between two GPA-contiguous regions (`before`
   * bytes in the lower one). Throws FRONTEND_NO_MEMORY if no such boundary has room.
   */
  allocSpanning(size: number, before = Math.floor(size / 2)): number {
    if (before <= 0 || before >= size) throw new RangeError('a spanning allocation needs bytes on both sides');
    for (let i = 0; i + 1 < this.free.length; i++) {
      const lo = this.free[i]!;
      const hi = this.free[i + 1]!;
      if (lo.end !== hi.start) continue;
      const start = lo.end - before;
      if (start < lo.start || start + size > hi.end) continue;
      this.carve(i + 1, hi.start, start + size);
      this.carve(i, start, lo.end);
      this.allocated.set(start, size);
      return start;
    }
    throw new FrontendError('FRONTEND_NO_MEMORY', `no region boundary with ${size} free bytes around it`);
  }

  /** Free an allocation made by alloc / allocSpanning. */
  release(gpa: number): void {
    const size = this.allocated.get(gpa);
    if (size === undefined) throw new RangeError(`GPA 0x${gpa.toString(16)} is not allocated`);
    this.allocated.delete(gpa);
    // Split at region boundaries so free blocks never merge across one.
    let start = gpa;
    const end = gpa + size;
    for (const b of [...this.boundaries].filter((x) => x > gpa && x < end).sort((a, b) => a - b)) {
      this.insertFree(start, b);
      start = b;
    }
    this.insertFree(start, end);
  }

  /** Bytes currently allocated (for leak checks in tests). */
  get allocatedBytes(): number {
    let n = 0;
    for (const s of this.allocated.values()) n += s;
    return n;
  }

  /** Unmap every region and close the memfds. Views into the memory become empty. */
  close(): void {
    for (const m of this.mappings) {
      try {
        native.munmap(m);
      } catch {
        /* already unmapped */
      }
    }
    this.mappings = [];
    for (const r of this.regions) native.closeQuietly(r.fd);
    this.free = [];
    this.allocated.clear();
  }

  private carve(i: number, start: number, end: number): void {
    const b = this.free[i]!;
    const pieces: Block[] = [];
    if (b.start < start) pieces.push({ start: b.start, end: start });
    if (end < b.end) pieces.push({ start: end, end: b.end });
    this.free.splice(i, 1, ...pieces);
  }

  private insertFree(start: number, end: number): void {
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    const block: Block = { start, end };
    this.free.splice(lo, 0, block);
    const next = this.free[lo + 1];
    if (next !== undefined && next.start === end && !this.boundaries.has(end)) {
      block.end = next.end;
      this.free.splice(lo + 1, 1);
    }
    const prev = this.free[lo - 1];
    if (prev !== undefined && prev.end === start && !this.boundaries.has(start)) {
      prev.end = block.end;
      this.free.splice(lo, 1);
    }
  }
}
