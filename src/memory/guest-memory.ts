/**
 * Guest RAM as the front-end shares it: regions (fd + guest physical address + the front-end's own
 * virtual address), each mapped through the native shim in chunks (a V8 ArrayBuffer holds at most
 * 4 GiB). Everything that touches guest memory goes through translate()/translateUser(), which return
 * the contiguous span at an address: callers loop when a buffer crosses a region or chunk edge.
 *
 * Addresses are JS numbers checked to be safe integers (< 2^53): a guest address beyond that lies
 * outside every region anyway.
 */
import fs from 'node:fs';
import * as native from '../native/index.js';

/** Largest chunk mapped as one ArrayBuffer. */
const CHUNK = 1 << 30;

/** What the front-end says about one region (VhostUserMemoryRegion). */
export interface RegionDescription {
  guestPhysAddr: number;
  memorySize: number;
  userspaceAddr: number;
  mmapOffset: number;
}

interface Chunk {
  /** Offset of this chunk from the region start. */
  start: number;
  view: Uint8Array;
}

export interface Region extends RegionDescription {
  /** The fd the mapping came from; owned by the region, closed on removal. */
  readonly fd: number;
  readonly chunks: Chunk[];
}

export class MemoryError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Receives every range the back-end writes into guest memory (dirty logging for migration). */
export interface WriteLogger {
  logWrite(gpa: number, len: number): void;
}

export class GuestMemory {
  private list: Region[] = [];
  private lastHit: Region | undefined;
  private gen = 0;
  /** Set while the front-end has asked for dirty-page logging. */
  logger: WriteLogger | undefined;

  constructor(readonly maxRegions: number) {}

  /** Incremented on every change; views built from an older generation must be rebuilt. */
  get generation(): number {
    return this.gen;
  }

  get regions(): readonly Region[] {
    return this.list;
  }

  /**
   * Map a region. Takes ownership of `fd` (closed when the region goes, or now on failure).
   * Rejects overlapping guest ranges, zero sizes and more than maxRegions regions.
   */
  addRegion(desc: RegionDescription, fd: number): Region {
    try {
      for (const k of ['guestPhysAddr', 'memorySize', 'userspaceAddr', 'mmapOffset'] as const) {
        if (!Number.isSafeInteger(desc[k]) || desc[k] < 0) throw new MemoryError('MEM_BAD_REGION', `region ${k} ${desc[k]} is not a usable address`);
      }
      if (desc.memorySize === 0) throw new MemoryError('MEM_BAD_REGION', 'region has size 0');
      if (!Number.isSafeInteger(desc.guestPhysAddr + desc.memorySize) || !Number.isSafeInteger(desc.userspaceAddr + desc.memorySize)) {
        throw new MemoryError('MEM_BAD_REGION', 'region end overflows');
      }
      if (this.list.length >= this.maxRegions) throw new MemoryError('MEM_TOO_MANY_REGIONS', `at most ${this.maxRegions} memory regions`);
      for (const r of this.list) {
        if (desc.guestPhysAddr < r.guestPhysAddr + r.memorySize && r.guestPhysAddr < desc.guestPhysAddr + desc.memorySize) {
          throw new MemoryError('MEM_OVERLAP', `region at GPA 0x${desc.guestPhysAddr.toString(16)} overlaps the region at 0x${r.guestPhysAddr.toString(16)}`);
        }
      }
      // Bytes of a MAP_SHARED mapping past the end of its file raise SIGBUS on access: a region that
      // a short memfd cannot back must be refused here, not discovered by a crash.
      const st = fs.fstatSync(fd);
      if (st.isFile() && desc.mmapOffset + desc.memorySize > st.size) {
        throw new MemoryError('MEM_REGION_PAST_EOF', `region of ${desc.memorySize} bytes at fd offset ${desc.mmapOffset} reaches past the end of its ${st.size}-byte file`);
      }
      const chunks = mapChunks(fd, desc.mmapOffset, desc.memorySize);
      const region: Region = { ...desc, fd, chunks };
      this.list.push(region);
      this.list.sort((a, b) => a.guestPhysAddr - b.guestPhysAddr);
      this.gen++;
      return region;
    } catch (e) {
      native.closeQuietly(fd);
      throw e;
    }
  }

  /** Unmap the region matching desc's guest address and size (REM_MEM_REG). Returns false if none. */
  removeRegion(desc: Pick<RegionDescription, 'guestPhysAddr' | 'memorySize'>): boolean {
    const i = this.list.findIndex((r) => r.guestPhysAddr === desc.guestPhysAddr && r.memorySize === desc.memorySize);
    if (i < 0) return false;
    const [r] = this.list.splice(i, 1);
    unmap(r!);
    this.lastHit = undefined;
    this.gen++;
    return true;
  }

  /** Unmap everything (SET_MEM_TABLE replaces the table; reset; disconnect). */
  clear(): void {
    for (const r of this.list) unmap(r);
    this.list = [];
    this.lastHit = undefined;
    this.gen++;
  }

  private find(gpa: number): Region | undefined {
    const h = this.lastHit;
    if (h !== undefined && gpa >= h.guestPhysAddr && gpa < h.guestPhysAddr + h.memorySize) return h;
    for (const r of this.list) {
      if (gpa >= r.guestPhysAddr && gpa < r.guestPhysAddr + r.memorySize) {
        this.lastHit = r;
        return r;
      }
    }
    return undefined;
  }

  /**
   * The bytes at guest physical address `gpa`: a view of min(len, contiguous bytes) bytes, or
   * undefined if gpa is in no region. len 0 gives an empty view at a valid address.
   */
  translate(gpa: number, len: number): Uint8Array | undefined {
    const r = this.find(gpa);
    if (r === undefined) return undefined;
    const off = gpa - r.guestPhysAddr;
    const c = r.chunks[Math.floor(off / CHUNK)]!;
    const inChunk = off - c.start;
    const n = Math.min(len, c.view.length - inChunk);
    return c.view.subarray(inChunk, inChunk + n);
  }

  /**
   * `last` (a view translate() or extend() gave) grown by the bytes at `gpa` when they follow it
   * directly in the same mapping (so in guest physical memory too: one mapping is one linear piece
   * of a region), by at most `len`; undefined when gpa does not continue it.
   */
  extend(last: Uint8Array, gpa: number, len: number): Uint8Array | undefined {
    const r = this.find(gpa);
    if (r === undefined) return undefined;
    const off = gpa - r.guestPhysAddr;
    const c = r.chunks[Math.floor(off / CHUNK)]!;
    if (c.view.buffer !== last.buffer) return undefined;
    const inChunk = off - c.start;
    if (c.view.byteOffset + inChunk !== last.byteOffset + last.length) return undefined;
    const n = Math.min(len, c.view.length - inChunk);
    return n > 0 ? new Uint8Array(last.buffer, last.byteOffset, last.length + n) : undefined;
  }

  /** Guest physical address of a front-end virtual address (ring addresses), or undefined. */
  userToGuest(uaddr: number): number | undefined {
    for (const r of this.list) {
      if (uaddr >= r.userspaceAddr && uaddr < r.userspaceAddr + r.memorySize) return r.guestPhysAddr + (uaddr - r.userspaceAddr);
    }
    return undefined;
  }

  /** Tell the dirty logger (if any) that [gpa, gpa+len) was written by us. */
  logWrite(gpa: number, len: number): void {
    if (this.logger !== undefined && len > 0) this.logger.logWrite(gpa, len);
  }
}

function mapChunks(fd: number, mmapOffset: number, size: number): Chunk[] {
  const page = native.pageSize();
  const chunks: Chunk[] = [];
  try {
    for (let start = 0; start < size; start += CHUNK) {
      const len = Math.min(CHUNK, size - start);
      const fileOff = mmapOffset + start;
      const delta = fileOff % page;
      const ab = native.mmap(fd, len + delta, fileOff - delta, true);
      chunks.push({ start, view: new Uint8Array(ab, delta, len) });
    }
  } catch (e) {
    for (const c of chunks) native.munmap(c.view.buffer as ArrayBuffer);
    const err = e as native.NativeError;
    throw new MemoryError('MEM_MAP_FAILED', `cannot map guest memory region (${size} bytes at fd offset ${mmapOffset}): ${err.message}`);
  }
  return chunks;
}

function unmap(r: Region): void {
  for (const c of r.chunks) {
    try {
      native.munmap(c.view.buffer as ArrayBuffer);
    } catch {
      /* already unmapped */
    }
  }
  native.closeQuietly(r.fd);
}
