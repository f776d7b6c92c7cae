/**
 * The device side of one split virtqueue over guest memory: pop descriptor chains from the available
 * ring, push used elements, decide whether the driver wants a notification (EVENT_IDX or
 * NO_INTERRUPT). Every value the guest controls is checked; a violation throws a VirtqueueError whose
 * `code` names the check, and the caller marks the queue broken.
 *
 * Ordering: avail.idx and used_event are read with Atomics.load, used.idx and avail_event are written
 * with Atomics.store (a full barrier on x86), so the JIT cannot cache ring indices across loop
 * iterations and the store→load pairs the notification protocol needs are ordered.
 */
import {
  VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_DESC_SIZE,
  VIRTQUEUE_MAX_SIZE, availRingSize, descTableSize, usedRingSize, vringNeedEvent,
} from '../../protocol/virtio.js';
import type { GuestMemory } from '../memory/guest-memory.js';

/** Most segments one chain may map to (descriptors split at region and chunk edges). */
export const MAX_CHAIN_SEGMENTS = 4096;

export class VirtqueueError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A popped request: the driver's readable buffers, then its writable ones, as views into guest RAM. */
export interface Chain {
  head: number;
  readable: Uint8Array[];
  writable: Uint8Array[];
  /** Guest physical address of each writable segment, for dirty logging. */
  writableGpa: number[];
  readableLen: number;
  writableLen: number;
}

/** Ring addresses as guest physical addresses. */
export interface RingAddresses {
  desc: number;
  avail: number;
  used: number;
  /** Guest physical address to log used-ring writes at (SET_VRING_ADDR's log_guest_addr); default `used`. */
  log?: number;
}

export class SplitQueue {
  /** Next available-ring index to process. */
  lastAvail = 0;
  /** Shadow of used.idx: entries pushed, published or not. */
  usedIdx = 0;
  private signalledUsed = 0;
  private signalledValid = false;
  private desc!: DataView;
  private avail16!: Uint16Array;
  private used16!: Uint16Array;
  private used32!: Uint32Array;
  /** Where used-ring writes are logged (dirty logging); updated when only the log address changes. */
  usedGpa = 0;
  private readonly mask: number;
  /** indirectTable(): the last chunk's DataView, and where the table it returned starts. */
  private chunkView: DataView | undefined;
  private indirectOff = 0;

  /**
   * Build the ring views. Throws VirtqueueError if a ring is outside guest memory, not contiguous in
   * one mapping, or misaligned. `usedIdx` is read back from guest memory (after a migration or a
   * restart it is the driver's view that counts).
   */
  constructor(
    readonly size: number,
    readonly addrs: RingAddresses,
    private readonly mem: GuestMemory,
    readonly eventIdx: boolean,
    readonly indirect: boolean,
  ) {
    this.mask = size - 1;
    const d = ringView(mem, addrs.desc, descTableSize(size), 16, 'descriptor table');
    const a = ringView(mem, addrs.avail, availRingSize(size), 2, 'available ring');
    const u = ringView(mem, addrs.used, usedRingSize(size), 4, 'used ring');
    this.desc = new DataView(d.buffer, d.byteOffset, d.byteLength);
    this.avail16 = new Uint16Array(a.buffer, a.byteOffset, a.byteLength >> 1);
    this.used16 = new Uint16Array(u.buffer, u.byteOffset, u.byteLength >> 1);
    this.used32 = new Uint32Array(u.buffer, u.byteOffset, (u.byteLength - 2) >> 2);
    this.usedGpa = addrs.log ?? addrs.used;
    this.usedIdx = Atomics.load(this.used16, 1);
  }

  /** The driver's avail.idx. */
  availIdx(): number {
    return Atomics.load(this.avail16, 1);
  }

  /** True if the driver has published chains we have not popped. */
  hasPending(): boolean {
    return this.availIdx() !== this.lastAvail;
  }

  /** Pop the next chain, or undefined if none. Throws VirtqueueError on a malformed ring or chain. */
  pop(): Chain | undefined {
    const avail = this.availIdx();
    if (avail === this.lastAvail) return undefined;
    const pending = (avail - this.lastAvail) & 0xffff;
    if (pending > this.size) {
      throw new VirtqueueError('VRING_AVAIL_IDX_JUMP', `avail.idx ${avail} is ${pending} entries ahead of ${this.lastAvail}, more than the queue size ${this.size}`);
    }
    const head = this.avail16[2 + (this.lastAvail & this.mask)]!;
    if (head >= this.size) throw new VirtqueueError('VRING_HEAD_OUT_OF_RANGE', `head index ${head} >= queue size ${this.size}`);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    return this.walk(head);
  }

  private walk(head: number): Chain {
    const chain: Chain = { head, readable: [], writable: [], writableGpa: [], readableLen: 0, writableLen: 0 };
    let table = this.desc;
    /** Where the table starts in `table` (an indirect table is read through its chunk's DataView). */
    let tableOff = 0;
    let tableSize = this.size;
    let idx = head;
    let count = 0;
    let inIndirect = false;
    for (;;) {
      if (idx >= tableSize) throw new VirtqueueError('VRING_NEXT_OUT_OF_RANGE', `next index ${idx} >= ${inIndirect ? 'indirect table' : 'queue'} size ${tableSize}`);
      if (++count > tableSize) throw new VirtqueueError('VRING_DESC_LOOP', `descriptor chain from head ${head} is longer than ${tableSize}: a loop`);
      const base = tableOff + idx * VRING_DESC_SIZE;
      const lo = table.getUint32(base, true);
      const hi = table.getUint32(base + 4, true);
      const len = table.getUint32(base + 8, true);
      const flags = table.getUint16(base + 12, true);
      const next = table.getUint16(base + 14, true);
      if (hi > 0x1fffff) throw new VirtqueueError('VRING_ADDR_OUTSIDE_MEMORY', `descriptor ${idx} address 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} is outside guest memory`);
      const addr = hi * 0x100000000 + lo;
      if (flags & VRING_DESC_F_INDIRECT) {
        if (!this.indirect) throw new VirtqueueError('VRING_INDIRECT_NOT_NEGOTIATED', `descriptor ${idx} is indirect but VIRTIO_RING_F_INDIRECT_DESC was not negotiated`);
        if (inIndirect) throw new VirtqueueError('VRING_INDIRECT_NESTED', `indirect descriptor ${idx} inside an indirect table`);
        if (flags & VRING_DESC_F_NEXT) throw new VirtqueueError('VRING_INDIRECT_WITH_NEXT', `descriptor ${idx} has both INDIRECT and NEXT`);
        if (len === 0 || len % VRING_DESC_SIZE !== 0 || len / VRING_DESC_SIZE > VIRTQUEUE_MAX_SIZE) {
          throw new VirtqueueError('VRING_INDIRECT_BAD_SIZE', `indirect table length ${len} is not a non-zero multiple of ${VRING_DESC_SIZE} up to ${VIRTQUEUE_MAX_SIZE} entries`);
        }
        table = this.indirectTable(addr, len);
        tableOff = this.indirectOff;
        tableSize = len / VRING_DESC_SIZE;
        idx = 0;
        count = 0;
        inIndirect = true;
        continue;
      }
      if (len === 0) throw new VirtqueueError('VRING_ZERO_LENGTH', `descriptor ${idx} has length 0`);
      if (flags & VRING_DESC_F_WRITE) {
        this.map(addr, len, chain.writable, chain.writableGpa, idx);
        chain.writableLen += len;
      } else {
        if (chain.writable.length > 0) throw new VirtqueueError('VRING_READABLE_AFTER_WRITABLE', `descriptor ${idx} is readable but follows a writable one`);
        this.map(addr, len, chain.readable, undefined, idx);
        chain.readableLen += len;
      }
      if ((flags & VRING_DESC_F_NEXT) === 0) return chain;
      idx = next;
    }
  }

  private map(addr: number, len: number, out: Uint8Array[], gpas: number[] | undefined, idx: number): void {
    let gpa = addr;
    let left = len;
    if (!Number.isSafeInteger(addr + len)) throw new VirtqueueError('VRING_ADDR_OUTSIDE_MEMORY', `descriptor ${idx} [0x${addr.toString(16)}, +${len}) overflows`);
    while (left > 0) {
      // A buffer that continues the previous one in memory (a guest's pages often do) extends its
      // view: fewer segments for every layer after this one, down to the iovec of the syscall.
      const last = out.length > 0 ? out[out.length - 1]! : undefined;
      const grown = last !== undefined ? this.mem.extend(last, gpa, left) : undefined;
      if (grown !== undefined) {
        const n = grown.length - last!.length;
        out[out.length - 1] = grown;
        gpa += n;
        left -= n;
        continue;
      }
      const v = this.mem.translate(gpa, left);
      if (v === undefined || v.length === 0) {
        throw new VirtqueueError('VRING_ADDR_OUTSIDE_MEMORY', `descriptor ${idx} buffer [0x${addr.toString(16)}, +${len}) reaches 0x${gpa.toString(16)}, outside every memory region`);
      }
      out.push(v);
      gpas?.push(gpa);
      if (out.length > MAX_CHAIN_SEGMENTS) throw new VirtqueueError('VRING_CHAIN_TOO_LONG', `chain maps to more than ${MAX_CHAIN_SEGMENTS} segments`);
      gpa += v.length;
      left -= v.length;
    }
  }

  /**
   * An indirect table as a DataView, the table starting at `indirectOff` in it: a DataView over the
   * whole memory chunk, kept for the next table in the same chunk (one per chain was a measurable
   * allocation), or a copy starting at 0 if the table crosses a region edge (rare). Bounds: walk()
   * reads only entries below len / VRING_DESC_SIZE.
   */
  private indirectTable(addr: number, len: number): DataView {
    const first = this.mem.translate(addr, len);
    if (first === undefined) throw new VirtqueueError('VRING_ADDR_OUTSIDE_MEMORY', `indirect table at 0x${addr.toString(16)} is outside guest memory`);
    if (first.length === len) {
      if (this.chunkView === undefined || this.chunkView.buffer !== first.buffer) this.chunkView = new DataView(first.buffer);
      this.indirectOff = first.byteOffset;
      return this.chunkView;
    }
    this.indirectOff = 0;
    const parts: Uint8Array[] = [];
    this.map(addr, len, parts, undefined, -1);
    const copy = new Uint8Array(len);
    let o = 0;
    for (const p of parts) {
      copy.set(p, o);
      o += p.length;
    }
    return new DataView(copy.buffer);
  }

  /**
   * Record that chain `head` is done with `len` bytes written. Not visible to the driver until
   * publish(). Logs the used element and the written bytes of `chain` for dirty tracking.
   */
  push(head: number, len: number, chain?: Chain): void {
    const slot = this.usedIdx & this.mask;
    this.used32[1 + slot * 2] = head;
    this.used32[2 + slot * 2] = len;
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    if (this.mem.logger !== undefined) {
      this.mem.logWrite(this.usedGpa + 4 + slot * 8, 8);
      if (chain !== undefined) logWritten(this.mem, chain, len);
    }
  }

  /** Make pushed entries visible: store used.idx (a full barrier). */
  publish(): void {
    Atomics.store(this.used16, 1, this.usedIdx);
    this.mem.logWrite(this.usedGpa + 2, 2);
  }

  /** used.idx as the driver sees it (what publish() last stored). */
  get publishedUsedIdx(): number {
    return Atomics.load(this.used16, 1);
  }

  /** After publish(): does the driver want an interrupt for what was published since the last one? */
  shouldNotify(): boolean {
    if (!this.eventIdx) return (Atomics.load(this.avail16, 0) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    const old = this.signalledUsed;
    const valid = this.signalledValid;
    this.signalledUsed = this.usedIdx;
    this.signalledValid = true;
    if (!valid) return true;
    return vringNeedEvent(Atomics.load(this.avail16, 2 + this.size), this.usedIdx, old);
  }

  /** EVENT_IDX: ask the driver to kick when it publishes past lastAvail (a full barrier follows). */
  setAvailEvent(): void {
    if (!this.eventIdx) return;
    Atomics.store(this.used16, 2 + this.size * 4, this.lastAvail);
    this.mem.logWrite(this.usedGpa + 4 + this.size * 8, 2);
  }
}

function ringView(mem: GuestMemory, gpa: number, len: number, align: number, what: string): Uint8Array {
  if (gpa % align !== 0) throw new VirtqueueError('VRING_MISALIGNED', `${what} at 0x${gpa.toString(16)} is not ${align}-byte aligned`);
  const v = mem.translate(gpa, len);
  if (v === undefined) throw new VirtqueueError('VRING_ADDR_OUTSIDE_MEMORY', `${what} at 0x${gpa.toString(16)} is outside guest memory`);
  if (v.length < len) throw new VirtqueueError('VRING_NOT_CONTIGUOUS', `${what} at 0x${gpa.toString(16)} (+${len}) crosses a memory region edge`);
  if (v.byteOffset % align !== 0) throw new VirtqueueError('VRING_MISALIGNED', `${what} is misaligned in its mapping (region mmap offset not page aligned)`);
  return v;
}

function logWritten(mem: GuestMemory, chain: Chain, len: number): void {
  let left = len;
  for (let i = 0; i < chain.writable.length && left > 0; i++) {
    const n = Math.min(left, chain.writable[i]!.length);
    mem.logWrite(chain.writableGpa[i]!, n);
    left -= n;
  }
}
