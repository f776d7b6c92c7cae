/**
 * Memory region payloads: SET_MEM_TABLE (multiple regions), ADD_MEM_REG / REM_MEM_REG (single
 * region). PURE: no I/O, no state.
 */
import { check } from './errors.js';
import {
  VHOST_MEMORY_BASELINE_NREGIONS,
} from './vhost-user-constants.js';
import {
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_MEMORY_REGION_XEN_SIZE,
  VHOST_USER_MEMORY_TABLE_HDR_SIZE,
  VHOST_USER_MEM_REG_PADDING_SIZE,
  dv,
  exactSize,
  u32,
  u64,
} from './vhost-user-codec.js';

// ---- memory regions --------------------------------------------------------------------------

/** Memory region description. */
export interface MemoryRegion {
  guestPhysAddr: bigint;
  memorySize: bigint;
  /** The front-end's virtual address of the region: what ring addresses are expressed in. */
  userspaceAddr: bigint;
  /** Offset of the region in the fd that comes with it. */
  mmapOffset: bigint;
  /** XEN_MMAP only: xen mmap flags. */
  xenMmapFlags?: number;
  /** XEN_MMAP only: domain id. */
  domid?: number;
}

/** Options for the region decoders: XEN_MMAP negotiated makes each region 8 bytes longer. */
export interface RegionOptions {
  xenMmap?: boolean;
}

function regionSize(opts?: RegionOptions): number {
  return opts?.xenMmap ? VHOST_USER_MEMORY_REGION_XEN_SIZE : VHOST_USER_MEMORY_REGION_SIZE;
}

function readRegion(d: DataView, off: number, opts?: RegionOptions): MemoryRegion {
  const r: MemoryRegion = {
    guestPhysAddr: d.getBigUint64(off, true),
    memorySize: d.getBigUint64(off + 8, true),
    userspaceAddr: d.getBigUint64(off + 16, true),
    mmapOffset: d.getBigUint64(off + 24, true),
  };
  if (opts?.xenMmap) {
    r.xenMmapFlags = d.getUint32(off + 32, true);
    r.domid = d.getUint32(off + 36, true);
  }
  return r;
}

function writeRegion(d: DataView, off: number, r: MemoryRegion, opts?: RegionOptions): void {
  d.setBigUint64(off, u64(r.guestPhysAddr, 'guest address'), true);
  d.setBigUint64(off + 8, u64(r.memorySize, 'size'), true);
  d.setBigUint64(off + 16, u64(r.userspaceAddr, 'user address'), true);
  d.setBigUint64(off + 24, u64(r.mmapOffset, 'mmap offset'), true);
  if (opts?.xenMmap) {
    d.setUint32(off + 32, u32(r.xenMmapFlags ?? 0, 'xen mmap flags'), true);
    d.setUint32(off + 36, u32(r.domid ?? 0, 'domid'), true);
  }
}

/**
 * Decode a SET_MEM_TABLE payload: num regions (at most VHOST_MEMORY_BASELINE_NREGIONS, else
 * VHOST_USER_TOO_MANY_REGIONS), padding, then exactly that many regions (VHOST_USER_BAD_SIZE
 * otherwise; QEMU sends only the regions in use). Empty regions (size 0) and regions whose end
 * overflows 64 bits: VHOST_USER_BAD_REGION. Overlaps are the memory layer's concern.
 */
export function decodeMemoryTable(buf: Uint8Array, opts?: RegionOptions): MemoryRegion[] {
  check(buf.byteLength >= VHOST_USER_MEMORY_TABLE_HDR_SIZE, 'VHOST_USER_BAD_SIZE', () => `memory table payload needs at least 8 bytes, got ${buf.byteLength}`);
  const d = dv(buf);
  const n = d.getUint32(0, true);
  check(n <= VHOST_MEMORY_BASELINE_NREGIONS, 'VHOST_USER_TOO_MANY_REGIONS', () => `memory table has ${n} regions, at most ${VHOST_MEMORY_BASELINE_NREGIONS}`);
  const rs = regionSize(opts);
  const want = VHOST_USER_MEMORY_TABLE_HDR_SIZE + n * rs;
  check(buf.byteLength === want, 'VHOST_USER_BAD_SIZE', () => `memory table with ${n} regions must be ${want} bytes, got ${buf.byteLength}`);
  const out: MemoryRegion[] = [];
  for (let i = 0; i < n; i++) out.push(checkRegion(readRegion(d, VHOST_USER_MEMORY_TABLE_HDR_SIZE + i * rs, opts)));
  return out;
}

export function encodeMemoryTable(regions: readonly MemoryRegion[], opts?: RegionOptions): Uint8Array {
  if (regions.length > VHOST_MEMORY_BASELINE_NREGIONS) throw new RangeError(`${regions.length} regions, at most ${VHOST_MEMORY_BASELINE_NREGIONS}`);
  const rs = regionSize(opts);
  const out = new Uint8Array(VHOST_USER_MEMORY_TABLE_HDR_SIZE + regions.length * rs);
  const d = dv(out);
  d.setUint32(0, regions.length, true);
  regions.forEach((r, i) => writeRegion(d, VHOST_USER_MEMORY_TABLE_HDR_SIZE + i * rs, r, opts));
  return out;
}

function checkRegion(r: MemoryRegion): MemoryRegion {
  check(r.memorySize > 0n, 'VHOST_USER_BAD_REGION', 'memory region of size 0');
  const max = 1n << 64n;
  check(r.guestPhysAddr + r.memorySize <= max, 'VHOST_USER_BAD_REGION', () => `memory region guest range 0x${r.guestPhysAddr.toString(16)}+0x${r.memorySize.toString(16)} overflows`);
  check(r.userspaceAddr + r.memorySize <= max, 'VHOST_USER_BAD_REGION', () => `memory region user range 0x${r.userspaceAddr.toString(16)}+0x${r.memorySize.toString(16)} overflows`);
  check(r.mmapOffset + r.memorySize <= max, 'VHOST_USER_BAD_REGION', () => `memory region mmap range 0x${r.mmapOffset.toString(16)}+0x${r.memorySize.toString(16)} overflows`);
  return r;
}

/** Decode ADD_MEM_REG / REM_MEM_REG: padding u64 + one region (same region checks as the table). */
export function decodeSingleMemoryRegion(buf: Uint8Array, opts?: RegionOptions): MemoryRegion {
  const d = exactSize(buf, VHOST_USER_MEM_REG_PADDING_SIZE + regionSize(opts), 'single memory region');
  return checkRegion(readRegion(d, VHOST_USER_MEM_REG_PADDING_SIZE, opts));
}

export function encodeSingleMemoryRegion(r: MemoryRegion, opts?: RegionOptions): Uint8Array {
  const out = new Uint8Array(VHOST_USER_MEM_REG_PADDING_SIZE + regionSize(opts));
  writeRegion(dv(out), VHOST_USER_MEM_REG_PADDING_SIZE, r, opts);
  return out;
}
