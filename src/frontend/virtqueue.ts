/**
 * The driver side of a split virtqueue (virtio 1.x, 2.7), as a guest kernel would run it: the
 * descriptor table, available and used rings live in the front-end's guest memory; requests are
 * chains (device-readable buffers, then device-writable ones), directly or through an indirect
 * table; new chains are published in a batch at the end of the current tick with one kick; the
 * call eventfd wakes the harvest of every used entry at once.
 *
 * Ordering: avail.idx and the event-index fields are written with Atomics (a full barrier on x86),
 * so the store is visible before we read the device's suppression fields, as the spec's memory
 * barrier demands. As insurance against a lost notification, a per-queue watchdog (one timer, armed
 * only while requests are in flight) re-harvests and re-kicks when nothing moved.
 */
import * as native from '../native/index.js';
import {
  VRING_AVAIL_ALIGN,
  VRING_DESC_ALIGN,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_DESC_SIZE,
  VRING_USED_ALIGN,
  VRING_USED_F_NO_NOTIFY,
  availEventOffset,
  availRingSize,
  descTableSize,
  usedEventOffset,
  usedRingSize,
  validQueueSize,
  vringNeedEvent,
} from '../../protocol/virtio.js';
import { FrontendError } from './connection.js';
import type { FrontendGuestMemory, FrontendRegion } from './guest-memory.js';

export interface VirtqueueOptions {
  /** Queue index (for messages). */
  index: number;
  /** Queue size: a power of two up to 32768. */
  size: number;
  /** VIRTIO_RING_F_EVENT_IDX was negotiated. */
  eventIdx: boolean;
  /** VIRTIO_RING_F_INDIRECT_DESC was negotiated (lets requests ask for `indirect`). */
  indirect: boolean;
  /** Region to put the rings in. Default 0. */
  ringRegion?: number;
  /** Initial avail/used index (SET_VRING_BASE). Default 0. */
  base?: number;
  /** Watchdog period in ms while requests are in flight; 0 disables. Default 200. */
  watchdogMs?: number;
}

/** How to lay out one request's chain. */
export interface RequestOptions {
  /** Put the chain in an indirect descriptor table (needs negotiated INDIRECT_DESC). */
  indirect?: boolean;
  /**
   * Make the readable bytes cross a region boundary: 'chain' puts them in two descriptors, one
   * ending at the boundary and one starting there; 'descriptor' uses one descriptor that straddles
   * it (the back-end must split its translation). Needs GPA-contiguous regions.
   */
  span?: 'chain' | 'descriptor';
  /** Split the writable space into this many descriptors of equal length. Default 1. */
  writableSegments?: number;
  /**
   * The writable descriptors' lengths, in order, instead of an equal split (e.g. the out header
   * alone, then the reply, as the Linux driver lays them out). Must add up to the writable length.
   */
  writableLengths?: readonly number[];
}

/** A used buffer: the length the device reported and the bytes it wrote (at most writableLen). */
export interface Completion {
  usedLen: number;
  data: Uint8Array;
}

interface Segment {
  gpa: number;
  len: number;
  write: boolean;
}

interface Inflight {
  descs: number[];
  allocs: number[];
  writable: Segment[];
  writableLen: number;
  resolve: (c: Completion) => void;
  reject: (e: Error) => void;
}

export class SplitVirtqueueDriver {
  readonly index: number;
  readonly size: number;
  readonly descGpa: number;
  readonly availGpa: number;
  readonly usedGpa: number;
  /** Kicks sent after publishing (the device may suppress them: EVENT_IDX, NO_NOTIFY). */
  kicks = 0;
  /** Call notifications received (wake-ups of this queue's call fd). */
  calls = 0;
  /** The eventfd we write to notify the device. Owned by this queue. */
  readonly kickFd: number;
  /** The eventfd the device writes when it used buffers. Owned by this queue. */
  readonly callFd: number;

  private readonly mem: FrontendGuestMemory;
  private readonly ring: FrontendRegion;
  private readonly rv: DataView;
  private readonly r16: Uint16Array;
  private readonly descOff: number;
  private readonly availOff: number;
  private readonly usedOff: number;
  private readonly eventIdx: boolean;
  private readonly indirectOk: boolean;
  private readonly mask: number;
  private freeDescs: number[] = [];
  private inflight: Array<Inflight | undefined>;
  private waiting: Array<{ attempt: () => boolean; reject: (e: Error) => void }> = [];
  private availIdx: number;
  private publishedIdx: number;
  private lastUsed: number;
  private flushScheduled = false;
  private poll: native.PollHandle | null = null;
  private inflightCount = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly watchdogMs: number;
  private watchdogSeen = -1;
  private failure: Error | null = null;
  private ringAllocs: number[];

  constructor(mem: FrontendGuestMemory, opts: VirtqueueOptions) {
    if (!validQueueSize(opts.size)) throw new RangeError(`queue size ${opts.size} is not a power of two in 1..32768`);
    this.mem = mem;
    this.index = opts.index;
    this.size = opts.size;
    this.mask = opts.size - 1;
    this.eventIdx = opts.eventIdx;
    this.indirectOk = opts.indirect;
    this.watchdogMs = opts.watchdogMs ?? 200;
    const region = opts.ringRegion ?? 0;
    this.ring = mem.region(region);
    this.descGpa = mem.alloc(descTableSize(opts.size), VRING_DESC_ALIGN, region);
    this.availGpa = mem.alloc(availRingSize(opts.size), VRING_AVAIL_ALIGN, region);
    this.usedGpa = mem.alloc(usedRingSize(opts.size), VRING_USED_ALIGN, region);
    this.ringAllocs = [this.descGpa, this.availGpa, this.usedGpa];
    this.rv = this.ring.view;
    this.r16 = new Uint16Array(this.ring.bytes.buffer, this.ring.bytes.byteOffset, this.ring.size >> 1);
    this.descOff = this.descGpa - this.ring.gpa;
    this.availOff = this.availGpa - this.ring.gpa;
    this.usedOff = this.usedGpa - this.ring.gpa;
    this.ring.bytes.fill(0, this.descOff, this.descOff + descTableSize(opts.size));
    this.ring.bytes.fill(0, this.availOff, this.availOff + availRingSize(opts.size));
    this.ring.bytes.fill(0, this.usedOff, this.usedOff + usedRingSize(opts.size));
    const base = (opts.base ?? 0) & 0xffff;
    this.availIdx = this.publishedIdx = this.lastUsed = base;
    this.rv.setUint16(this.availOff + 2, base, true);
    this.rv.setUint16(this.usedOff + 2, base, true);
    if (this.eventIdx) this.rv.setUint16(this.availOff + usedEventOffset(opts.size), base, true);
    for (let i = opts.size - 1; i >= 0; i--) this.freeDescs.push(i);
    this.inflight = new Array<Inflight | undefined>(opts.size);
    this.kickFd = native.eventfd(0, native.EFD_NONBLOCK);
    this.callFd = native.eventfd(0, native.EFD_NONBLOCK);
  }

  /** Front-end virtual addresses of the three rings (SET_VRING_ADDR). */
  get userAddrs(): { desc: bigint; avail: bigint; used: bigint } {
    return { desc: this.mem.gpaToUaddr(this.descGpa), avail: this.mem.gpaToUaddr(this.availGpa), used: this.mem.gpaToUaddr(this.usedGpa) };
  }

  /** Next avail index the driver will publish (free-running, 16 bits). */
  get nextAvailIdx(): number {
    return this.availIdx;
  }

  /** Used index the driver has harvested up to. */
  get lastUsedIdx(): number {
    return this.lastUsed;
  }

  /** Requests published and not yet used. */
  get pending(): number {
    return this.inflightCount;
  }

  /** Start listening on the call eventfd. */
  start(): void {
    if (this.poll !== null || this.failure !== null) return;
    this.poll = native.pollStart(this.callFd, native.POLL_READABLE, (status) => {
      if (status < 0) return this.break(new FrontendError('VIRTQUEUE_CALL_FAILED', `poll on call fd: ${status}`));
      this.calls++;
      try {
        native.eventfdRead(this.callFd);
      } catch (e) {
        if (!native.isErrno(e, 'EAGAIN')) throw e;
      }
      this.harvest();
    });
  }

  /**
   * Stop listening (requests stay in flight). What the device used before it stopped is taken
   * first: it answers GET_VRING_BASE only after publishing every request it finished, but the call
   * notification for the last of them may not have been read yet (two fds, either may be seen first).
   */
  stop(): void {
    this.unwatch();
    this.harvest();
    this.disarmWatchdog();
  }

  private unwatch(): void {
    if (this.poll !== null) native.pollStop(this.poll);
    this.poll = null;
    this.disarmWatchdog();
  }

  /**
   * Make a request: `readable` bytes for the device to read, `writableLen` bytes for it to write.
   * Resolves when the device puts the chain in the used ring. Waits for free descriptors if the
   * ring is full.
   */
  request(readable: Uint8Array[] | Uint8Array, writableLen: number, opts: RequestOptions = {}): Promise<Completion> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const segs = (readable instanceof Uint8Array ? [readable] : readable).filter((s) => s.byteLength > 0);
    const indirect = opts.indirect === true;
    if (indirect && !this.indirectOk) return Promise.reject(new FrontendError('FRONTEND_NO_INDIRECT', 'VIRTIO_RING_F_INDIRECT_DESC was not negotiated'));
    const lens = opts.writableLengths;
    if (lens !== undefined && (lens.some((l) => !(l > 0)) || lens.reduce((a, l) => a + l, 0) !== writableLen)) {
      return Promise.reject(new RangeError(`writable lengths ${lens.join('+')} do not make ${writableLen} bytes`));
    }
    const wsegs = writableLen > 0 ? (lens?.length ?? Math.max(1, Math.min(opts.writableSegments ?? 1, writableLen))) : 0;
    const rsegs = opts.span === 'chain' ? 2 : opts.span === 'descriptor' ? 1 : segs.length;
    const n = rsegs + wsegs;
    if (n === 0) return Promise.reject(new RangeError('a request needs at least one buffer'));
    const ringDescs = indirect ? 1 : n;
    if (ringDescs > this.size) return Promise.reject(new RangeError(`chain of ${n} descriptors does not fit a queue of ${this.size}`));
    return new Promise<Completion>((resolve, reject) => {
      const attempt = (): boolean => {
        if (this.failure !== null) {
          reject(this.failure);
          return true;
        }
        if (this.freeDescs.length < ringDescs) return false;
        try {
          this.add(segs, writableLen, wsegs, opts, indirect, ringDescs, resolve, reject);
        } catch (e) {
          // Out of guest memory while others are in flight: wait for them to free some.
          if (e instanceof FrontendError && e.code === 'FRONTEND_NO_MEMORY' && this.inflightCount > 0) return false;
          reject(e as Error);
        }
        return true;
      };
      if (this.waiting.length > 0 || !attempt()) this.waiting.push({ attempt, reject });
    });
  }

  /** Reject everything in flight, stop, close the eventfds and free the rings. */
  close(): void {
    this.unwatch();
    this.break(new FrontendError('VIRTQUEUE_CLOSED', `queue ${this.index} closed`));
    native.closeQuietly(this.kickFd);
    native.closeQuietly(this.callFd);
    for (const a of this.ringAllocs) this.mem.release(a);
    this.ringAllocs = [];
  }

  /** Write one descriptor by hand (fuzzing: hostile chains). */
  writeDescriptor(i: number, addr: number, len: number, flags: number, next: number): void {
    this.writeDesc(this.descOff + VRING_DESC_SIZE * (i & this.mask), addr, len, flags, next);
  }

  /** Publish `head` in the avail ring without any bookkeeping and kick (fuzzing). */
  publishRaw(head: number): void {
    this.rv.setUint16(this.availOff + 4 + 2 * (this.availIdx & this.mask), head & 0xffff, true);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.flush();
    native.eventfdWrite(this.kickFd, 1);
  }

  /** Kick the device regardless of suppression. */
  kick(): void {
    native.eventfdWrite(this.kickFd, 1);
  }

  // ---- internals -------------------------------------------------------------------------------

  private writeDesc(off: number, addr: number, len: number, flags: number, next: number): void {
    this.rv.setUint32(off, addr >>> 0, true);
    this.rv.setUint32(off + 4, Math.floor(addr / 0x1_0000_0000), true);
    this.rv.setUint32(off + 8, len >>> 0, true);
    this.rv.setUint16(off + 12, flags, true);
    this.rv.setUint16(off + 14, next, true);
  }

  private add(
    segs: Uint8Array[],
    writableLen: number,
    wsegs: number,
    opts: RequestOptions,
    indirect: boolean,
    ringDescs: number,
    resolve: (c: Completion) => void,
    reject: (e: Error) => void,
  ): void {
    const allocs: number[] = [];
    const chain: Segment[] = [];
    try {
      if (opts.span !== undefined) {
        const total = segs.reduce((a, s) => a + s.byteLength, 0);
        if (total < 2) throw new RangeError('span needs at least 2 readable bytes');
        const before = total >> 1;
        const gpa = this.mem.allocSpanning(total, before);
        allocs.push(gpa);
        let off = 0;
        for (const s of segs) {
          this.mem.write(gpa + off, s);
          off += s.byteLength;
        }
        if (opts.span === 'chain') chain.push({ gpa, len: before, write: false }, { gpa: gpa + before, len: total - before, write: false });
        else chain.push({ gpa, len: total, write: false });
      } else {
        for (const s of segs) {
          const gpa = this.mem.alloc(s.byteLength);
          allocs.push(gpa);
          this.mem.write(gpa, s);
          chain.push({ gpa, len: s.byteLength, write: false });
        }
      }
      const writable: Segment[] = [];
      if (wsegs > 0) {
        const gpa = this.mem.alloc(writableLen);
        allocs.push(gpa);
        const per = Math.floor(writableLen / wsegs);
        let at = gpa;
        for (let i = 0; i < wsegs; i++) {
          const len = opts.writableLengths?.[i] ?? (i === wsegs - 1 ? writableLen - per * (wsegs - 1) : per);
          writable.push({ gpa: at, len, write: true });
          at += len;
        }
        chain.push(...writable);
      }
      const table = indirect ? this.mem.alloc(VRING_DESC_SIZE * chain.length, VRING_DESC_ALIGN) : 0;
      if (indirect) allocs.push(table);
      // Nothing below throws: take the descriptors only now.
      const descs: number[] = [];
      for (let i = 0; i < ringDescs; i++) descs.push(this.freeDescs.pop()!);
      const head = descs[0]!;
      if (indirect) {
        const bytes = new Uint8Array(VRING_DESC_SIZE * chain.length);
        const dv = new DataView(bytes.buffer);
        chain.forEach((s, i) => {
          const last = i === chain.length - 1;
          dv.setUint32(16 * i, s.gpa >>> 0, true);
          dv.setUint32(16 * i + 4, Math.floor(s.gpa / 0x1_0000_0000), true);
          dv.setUint32(16 * i + 8, s.len, true);
          dv.setUint16(16 * i + 12, (s.write ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT), true);
          dv.setUint16(16 * i + 14, last ? 0 : i + 1, true);
        });
        this.mem.write(table, bytes);
        this.writeDesc(this.descOff + VRING_DESC_SIZE * head, table, bytes.byteLength, VRING_DESC_F_INDIRECT, 0);
      } else {
        chain.forEach((s, i) => {
          const last = i === chain.length - 1;
          const flags = (s.write ? VRING_DESC_F_WRITE : 0) | (last ? 0 : VRING_DESC_F_NEXT);
          this.writeDesc(this.descOff + VRING_DESC_SIZE * descs[i]!, s.gpa, s.len, flags, last ? 0 : descs[i + 1]!);
        });
      }
      this.inflight[head] = { descs, allocs, writable, writableLen, resolve, reject };
      this.inflightCount++;
      this.rv.setUint16(this.availOff + 4 + 2 * (this.availIdx & this.mask), head, true);
      this.availIdx = (this.availIdx + 1) & 0xffff;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
      this.armWatchdog();
    } catch (e) {
      for (const a of allocs) this.mem.release(a);
      throw e;
    }
  }

  /** Publish avail.idx and kick unless the device suppressed notifications. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.failure !== null) return;
    const newIdx = this.availIdx;
    const oldIdx = this.publishedIdx;
    if (newIdx === oldIdx) return;
    Atomics.store(this.r16, (this.availOff + 2) >> 1, newIdx);
    this.publishedIdx = newIdx;
    let kick: boolean;
    if (this.eventIdx) {
      const availEvent = Atomics.load(this.r16, (this.usedOff + availEventOffset(this.size)) >> 1);
      kick = vringNeedEvent(availEvent, newIdx, oldIdx);
    } else {
      kick = (Atomics.load(this.r16, this.usedOff >> 1) & VRING_USED_F_NO_NOTIFY) === 0;
    }
    if (kick) {
      this.kicks++;
      native.eventfdWrite(this.kickFd, 1);
    }
  }

  /** Take every used entry, then let waiting requests in. */
  private harvest(): void {
    if (this.failure !== null) return;
    const usedIdxAt = (this.usedOff + 2) >> 1;
    for (;;) {
      const usedIdx = Atomics.load(this.r16, usedIdxAt);
      while (this.lastUsed !== usedIdx) {
        const e = this.usedOff + 4 + 8 * (this.lastUsed & this.mask);
        const id = this.rv.getUint32(e, true);
        const len = this.rv.getUint32(e + 4, true);
        this.lastUsed = (this.lastUsed + 1) & 0xffff;
        if (!this.complete(id, len)) return;
      }
      if (!this.eventIdx) break;
      // Ask to be called at the next used entry, then look again: the device may have added one
      // before it could see our used_event.
      Atomics.store(this.r16, (this.availOff + usedEventOffset(this.size)) >> 1, this.lastUsed);
      if (Atomics.load(this.r16, usedIdxAt) === this.lastUsed) break;
    }
    while (this.waiting.length > 0 && this.waiting[0]!.attempt()) this.waiting.shift();
    if (this.inflightCount === 0) this.disarmWatchdog();
  }

  private complete(id: number, len: number): boolean {
    const rec = id < this.size ? this.inflight[id] : undefined;
    if (rec === undefined) {
      this.break(new FrontendError('VIRTQUEUE_BAD_USED_ID', `queue ${this.index}: the device used id ${id}, which is not in flight`));
      return false;
    }
    this.inflight[id] = undefined;
    this.inflightCount--;
    const n = Math.min(len, rec.writableLen);
    const data = new Uint8Array(n);
    let done = 0;
    for (const w of rec.writable) {
      if (done >= n) break;
      const k = Math.min(w.len, n - done);
      this.mem.read(w.gpa, k, data.subarray(done, done + k));
      done += k;
    }
    for (const d of rec.descs) this.freeDescs.push(d);
    for (const a of rec.allocs) this.mem.release(a);
    rec.resolve({ usedLen: len, data });
    return true;
  }

  /**
   * Mark the queue broken: everything in flight and waiting fails with `error`, and so does every
   * later request. Broken stays broken (the device calls this when the connection drops).
   */
  fail(error: Error): void {
    this.break(error);
  }

  private break(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.disarmWatchdog();
    for (let i = 0; i < this.inflight.length; i++) {
      const rec = this.inflight[i];
      if (rec === undefined) continue;
      this.inflight[i] = undefined;
      for (const a of rec.allocs) this.mem.release(a);
      rec.reject(error);
    }
    this.inflightCount = 0;
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) w.reject(error);
  }

  private armWatchdog(): void {
    if (this.watchdog !== null || this.watchdogMs <= 0) return;
    this.watchdogSeen = this.lastUsed;
    this.watchdog = setInterval(() => {
      if (this.inflightCount === 0) return this.disarmWatchdog();
      this.harvest();
      if (this.lastUsed === this.watchdogSeen && this.inflightCount > 0) native.eventfdWrite(this.kickFd, 1);
      this.watchdogSeen = this.lastUsed;
    }, this.watchdogMs);
    this.watchdog.unref();
  }

  private disarmWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }
}
