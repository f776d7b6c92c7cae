/**
 * Guest memory for fuzzing the split queue, with PROT_NONE guard pages on both sides of every region.
 *
 * The queue under test reaches memory only through translate(). Here every translate() is answered by
 * the real GuestMemory (src/memory, over its own mapping of the same memfd), checked to lie inside the
 * region it names, and re-based onto a second mapping of that memfd laid out as
 * [guard page | region | guard page]. So the real translation logic is what runs, and a view that
 * reached past a region would touch a guard page and fault the test process, instead of silently
 * reading a neighbour as a JS bounds check would let it.
 */
import * as native from '../../../src/native/index.js';
import { GuestMemory, type WriteLogger } from '../../../src/memory/guest-memory.js';

export interface GuardedRegion {
  gpa: number;
  size: number;
  /** [guard | region | guard], owned here. */
  mapping: ArrayBuffer;
  /** The region's bytes inside `mapping` (the driver's view too). */
  bytes: Uint8Array;
  fd: number;
}

/** Region layout: GPA and size (multiples of the page size). */
export interface RegionSpec {
  gpa: number;
  size: number;
}

export class GuardedGuestMemory {
  readonly real = new GuestMemory(16);
  readonly regions: GuardedRegion[] = [];
  readonly page = native.pageSize();
  logger: WriteLogger | undefined;
  /** translate() calls answered (the queue's own accesses). */
  translations = 0;

  constructor(specs: RegionSpec[]) {
    const p = this.page;
    try {
      for (const s of specs) {
        const fd = native.memfdCreate('fuzz-guarded', 0);
        this.regions.push({ gpa: s.gpa, size: s.size, fd, mapping: new ArrayBuffer(0), bytes: new Uint8Array(0) });
        native.ftruncate(fd, s.size + 2 * p);
        const mapping = native.mmap(fd, s.size + 2 * p, 0, true);
        native.mprotect(mapping, 0, p, native.PROT_NONE);
        native.mprotect(mapping, p + s.size, p, native.PROT_NONE);
        const r = this.regions[this.regions.length - 1]!;
        r.mapping = mapping;
        r.bytes = new Uint8Array(mapping, p, s.size);
        // The real GuestMemory maps the same bytes (file offset = one page) through its own code.
        this.real.addRegion({ guestPhysAddr: s.gpa, memorySize: s.size, userspaceAddr: 0x7f00_0000_0000 + s.gpa, mmapOffset: p }, native.dup(fd));
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  regionOf(gpa: number): GuardedRegion | undefined {
    return this.regions.find((r) => gpa >= r.gpa && gpa < r.gpa + r.size);
  }

  /** The real translation, checked, re-based onto the guarded mapping. */
  translate(gpa: number, len: number): Uint8Array | undefined {
    this.translations++;
    const v = this.real.translate(gpa, len);
    if (v === undefined) return undefined;
    const r = this.regionOf(gpa);
    if (r === undefined) throw new Error(`GuestMemory.translate(0x${gpa.toString(16)}) answered for an address in no region`);
    const off = gpa - r.gpa;
    if (v.byteLength > len || off + v.byteLength > r.size) {
      throw new Error(`GuestMemory.translate(0x${gpa.toString(16)}, ${len}) returned ${v.byteLength} bytes: past the end of its region`);
    }
    return new Uint8Array(r.mapping, this.page + off, v.byteLength);
  }

  /** The real extend(), run on the real mapping's views, its answer checked and re-based likewise. */
  extend(last: Uint8Array, gpa: number, len: number): Uint8Array | undefined {
    this.translations++;
    const lastGpa = this.gpaOfView(last);
    if (lastGpa === undefined) throw new Error('extend() of a view that translate() did not give');
    const realLast = this.real.translate(lastGpa, last.byteLength);
    if (realLast === undefined || realLast.byteLength !== last.byteLength) throw new Error('extend(): the view to grow does not translate back');
    const v = this.real.extend(realLast, gpa, len);
    if (v === undefined) return undefined;
    const r = this.regionOf(lastGpa)!;
    const grownBy = v.byteLength - last.byteLength;
    if (lastGpa + last.byteLength !== gpa || grownBy <= 0 || grownBy > len || lastGpa - r.gpa + v.byteLength > r.size) {
      throw new Error(`GuestMemory.extend(0x${lastGpa.toString(16)}+${last.byteLength}, 0x${gpa.toString(16)}, ${len}) grew to ${v.byteLength}: not a continuation inside the region`);
    }
    return new Uint8Array(r.mapping, last.byteOffset, v.byteLength);
  }

  logWrite(gpa: number, len: number): void {
    this.logger?.logWrite(gpa, len);
  }

  /** The GPA a view returned by translate() starts at, or undefined if it is not one of ours. */
  gpaOfView(v: Uint8Array): number | undefined {
    for (const r of this.regions) {
      if (v.buffer !== r.mapping) continue;
      const off = v.byteOffset - this.page;
      if (off < 0 || off + v.byteLength > r.size) return undefined;
      return r.gpa + off;
    }
    return undefined;
  }

  /** Copy of every region's bytes (to diff what the queue wrote). */
  snapshot(): Uint8Array[] {
    return this.regions.map((r) => r.bytes.slice());
  }

  close(): void {
    this.real.clear();
    for (const r of this.regions) {
      if (r.mapping.byteLength > 0) native.munmap(r.mapping);
      native.closeQuietly(r.fd);
    }
    this.regions.length = 0;
  }
}
