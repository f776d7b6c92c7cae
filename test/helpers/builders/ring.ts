/**
 * Test builder for split virtqueues: writes descriptors, the available ring and reads the used ring
 * by hand with DataView at the offsets the virtio spec gives (independent of src/virtqueue).
 */
import * as native from '../../../src/native/index.js';
import { GuestMemory } from '../../../src/memory/guest-memory.js';

export interface TestRegion {
  gpa: number;
  size: number;
}

/** Guest memory of memfd regions, with a second writable mapping the "driver" uses. */
export class TestGuest {
  readonly mem = new GuestMemory(8);
  private readonly driverViews: { gpa: number; size: number; dv: DataView; u8: Uint8Array }[] = [];

  constructor(regions: TestRegion[]) {
    for (const r of regions) {
      const fd = native.memfdCreate('test-guest', 0);
      native.ftruncate(fd, r.size);
      const ab = native.mmap(fd, r.size, 0, true);
      this.driverViews.push({ gpa: r.gpa, size: r.size, dv: new DataView(ab), u8: new Uint8Array(ab) });
      this.mem.addRegion({ guestPhysAddr: r.gpa, memorySize: r.size, userspaceAddr: 0x7f0000000000 + r.gpa, mmapOffset: 0 }, fd);
    }
  }

  private at(gpa: number): { dv: DataView; u8: Uint8Array; off: number } {
    for (const v of this.driverViews) if (gpa >= v.gpa && gpa < v.gpa + v.size) return { dv: v.dv, u8: v.u8, off: gpa - v.gpa };
    throw new Error(`test GPA 0x${gpa.toString(16)} not in a test region`);
  }

  u16(gpa: number, v?: number): number {
    const { dv, off } = this.at(gpa);
    if (v !== undefined) dv.setUint16(off, v, true);
    return dv.getUint16(off, true);
  }

  u32(gpa: number, v?: number): number {
    const { dv, off } = this.at(gpa);
    if (v !== undefined) dv.setUint32(off, v, true);
    return dv.getUint32(off, true);
  }

  bytes(gpa: number, len: number): Uint8Array {
    const { u8, off } = this.at(gpa);
    return u8.subarray(off, off + len);
  }

  write(gpa: number, data: Uint8Array): void {
    this.bytes(gpa, data.length).set(data);
  }

  /** Write one 16-byte descriptor at table + i*16. */
  desc(table: number, i: number, addr: number, len: number, flags: number, next = 0): void {
    const { dv, off } = this.at(table + i * 16);
    dv.setUint32(off, addr % 0x100000000, true);
    dv.setUint32(off + 4, Math.floor(addr / 0x100000000), true);
    dv.setUint32(off + 8, len, true);
    dv.setUint16(off + 12, flags, true);
    dv.setUint16(off + 14, next, true);
  }

  close(): void {
    this.mem.clear();
    for (const v of this.driverViews) native.munmap(v.dv.buffer as ArrayBuffer);
  }
}

/** Split ring placed at fixed GPAs: desc at base, avail at base+16*size, used 4-aligned after. */
export class TestRing {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  availIdx = 0;

  constructor(readonly g: TestGuest, base: number, readonly size: number) {
    this.desc = base;
    this.avail = base + 16 * size;
    this.used = Math.ceil((this.avail + 6 + 2 * size) / 4096) * 4096;
  }

  /** Publish head `head` in the available ring. */
  offer(head: number): void {
    this.g.u16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.g.u16(this.avail + 2, this.availIdx);
  }

  usedIdx(): number {
    return this.g.u16(this.used + 2);
  }

  usedElem(i: number): { id: number; len: number } {
    const o = this.used + 4 + 8 * (i % this.size);
    return { id: this.g.u32(o), len: this.g.u32(o + 4) };
  }

  /** used_event (driver side, EVENT_IDX) */
  setUsedEvent(v: number): void {
    this.g.u16(this.avail + 4 + 2 * this.size, v);
  }

  availEvent(): number {
    return this.g.u16(this.used + 4 + 8 * this.size);
  }

  setAvailFlags(v: number): void {
    this.g.u16(this.avail, v);
  }
}
