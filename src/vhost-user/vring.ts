/**
 * One vring as the back-end sees it: the front-end's settings (size, addresses, base, kick/call/err
 * fds, enable), the SplitQueue built from them, and the request pump: on a kick, pop the available
 * chains and hand each to the device; as completions arrive push them to the used ring and notify as
 * EVENT_IDX or NO_INTERRUPT allow.
 *
 * The pump is a pipeline, so the driver and the device work at the same time instead of taking turns:
 *  - At most DISPATCH_CHUNK chains are handed out per event-loop turn; the rest wait for the next
 *    turn (avail_event stays behind meanwhile, so the driver does not kick for them). The first
 *    chunk's file-system calls start while the next chunk is being decoded.
 *  - With EVENT_IDX each completion is published at once, and the driver is notified if its
 *    used_event asks for it: it starts on the first replies while later ones are still being made,
 *    and since it moves used_event only when it has caught up, it still gets one notification per
 *    harvest. Without EVENT_IDX completions are published and notified once per turn (setImmediate).
 *  Measured with the front-end bench at queue depth 16 (docs/benchmarks.md): GETATTR +39%, READDIRPLUS
 *  +31%, CREATE cycle +19% over handing out the whole burst and notifying once per turn.
 *
 * Busy polling (--poll-us, EVENT_IDX only): after a ring was last active, the pump keeps looking at
 * avail.idx every event-loop turn for a while instead of asking for a kick (avail_event is left
 * behind, so the driver does not kick while we poll). It trades CPU time for the two wake-ups a
 * request otherwise costs (the driver's kick, our wake from epoll); the window ends with avail_event
 * set and the ring checked once more, so a request published in between is never missed.
 * The window adapts, as QEMU's AioContext polling does (poll-max-ns, poll-grow, poll-shrink): it
 * starts at nothing; a kick that came within --poll-us of the ring's last activity, but after the
 * window, doubles it (from POLL_START_MS, up to --poll-us); a kick that came later than --poll-us
 * halves it (to nothing below POLL_START_MS; QEMU's default drops it at once, which loses the window
 * to every pause of a mixed workload). So a guest sending request after request gets polled for, and
 * one that pauses (or a slow TCG guest) soon costs no polling.
 *
 * A guest that breaks the ring rules marks the queue broken: it stops, the error fd is signalled and
 * a log line names the check. Other queues keep running; broken stays broken until the ring is
 * set up again (GET_VRING_BASE + new addresses, or RESET_DEVICE).
 */
import * as native from '../native/index.js';
import { SplitQueue, VirtqueueError, type Chain } from '../virtqueue/split-queue.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { logger } from '../log.js';

const log = logger('vring');

/** The longest busy-poll window (--poll-us) a ring accepts: a second. */
export const MAX_POLL_US = 1_000_000;
/** The first busy-poll window, ms (QEMU's first step too), when --poll-us allows that much. */
const POLL_START_MS = 0.004;

/**
 * Chains handed to the device per event-loop turn. 2 to 8 measured alike; 1 loses (a turn per
 * request), and the whole burst (16 at a time) makes the driver and the device take turns.
 */
export const DISPATCH_CHUNK = 4;

/** What processes chains: returns the number of bytes written into the chain's writable part. */
export type ChainHandler = (queue: number, chain: Chain) => Promise<number> | number;

export interface VringAddrs {
  desc: number;
  avail: number;
  used: number;
  /** Guest physical address of the used ring for dirty logging, when VHOST_VRING_F_LOG is set. */
  log?: number;
}

export class Vring {
  size = 0;
  addrs: VringAddrs | undefined;
  /** Next avail index to process, as set by SET_VRING_BASE. */
  base = 0;
  enabled = false;
  started = false;
  broken = false;
  kickFd = -1;
  callFd = -1;
  errFd = -1;
  queue: SplitQueue | undefined;
  inflight = 0;
  private kickPoll: native.PollHandle | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  /** process() stopped at DISPATCH_CHUNK chains and goes on next turn. */
  private moreScheduled = false;
  private dirty = false;
  private drainWaiters: (() => void)[] = [];
  /** process() stopped because `size` requests were in flight. */
  private capped = false;
  /** While true (memory being remapped, device stopping), kicks are not acted on. */
  paused = false;
  /** Busy polling: a poll turn is scheduled; it goes on until `pollDeadline` (performance.now() ms). */
  private polling = false;
  private pollDeadline = 0;
  /** The longest window (--poll-us), ms; 0: no polling. */
  private readonly pollMs: number;
  /** The current window, ms (0 to pollMs), adapted by adaptPoll(). */
  pollWindowMs = 0;
  /** When the ring was last active (performance.now() ms: its last request popped or reply pushed); -1: not since the last kick. */
  private quietSince = -1;

  constructor(
    readonly index: number,
    private readonly mem: GuestMemory,
    private readonly handler: ChainHandler,
    private readonly features: () => { eventIdx: boolean; indirect: boolean },
    /** Busy-poll window after activity, µs (0: wait for kicks). */
    pollUs = 0,
  ) {
    this.pollMs = pollUs / 1000;
  }

  /** Install the kick fd (or polling, with noFd) and start the ring. Takes ownership of fd. */
  setKick(fd: number | undefined): void {
    this.stopKick();
    if (fd !== undefined) {
      native.setNonblock(fd);
      this.kickFd = fd;
      this.kickPoll = native.pollStart(fd, native.POLL_READABLE, (status) => {
        if (status < 0) {
          log.warn(`queue ${this.index}: kick fd poll error ${status}; stopping the ring`);
          this.stopKick();
          return;
        }
        this.onKick();
      });
    } else {
      // No kick fd: the back-end must poll the ring.
      this.pollTimer = setInterval(() => this.process(), 1);
    }
    this.started = true;
    this.process();
  }

  setCall(fd: number | undefined): void {
    native.closeQuietly(this.callFd);
    this.callFd = fd ?? -1;
  }

  setErr(fd: number | undefined): void {
    native.closeQuietly(this.errFd);
    this.errFd = fd ?? -1;
  }

  private onKick(): void {
    try {
      native.eventfdRead(this.kickFd);
    } catch (e) {
      if (!native.isErrno(e, 'EAGAIN')) {
        log.error(`queue ${this.index}: cannot read the kick fd (${(e as Error).message}); stopping the ring`);
        this.stopKick();
        return;
      }
    }
    if (this.quietSince >= 0) this.adaptPoll(performance.now() - this.quietSince);
    this.process();
  }

  /** A kick came `blocked` ms after the ring went quiet: grow or drop the poll window (see the file comment). */
  private adaptPoll(blocked: number): void {
    this.quietSince = -1;
    if (blocked > this.pollMs) this.pollWindowMs = this.pollWindowMs / 2 < POLL_START_MS ? 0 : this.pollWindowMs / 2;
    else if (blocked > this.pollWindowMs) this.pollWindowMs = Math.min(this.pollMs, this.pollWindowMs === 0 ? POLL_START_MS : this.pollWindowMs * 2);
  }

  private stopKick(): void {
    if (this.kickPoll !== undefined) native.pollStop(this.kickPoll);
    this.kickPoll = undefined;
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    native.closeQuietly(this.kickFd);
    this.kickFd = -1;
    this.started = false;
  }

  /** Build (or rebuild after a memory change) the queue from the current settings. */
  private ensureQueue(): SplitQueue | undefined {
    if (this.queue !== undefined) return this.queue;
    if (this.addrs === undefined || this.size === 0) return undefined;
    const f = this.features();
    try {
      this.queue = new SplitQueue(this.size, this.addrs, this.mem, f.eventIdx, f.indirect);
    } catch (e) {
      this.markBroken(e as Error);
      return undefined;
    }
    const used = this.queue.usedIdx;
    if (used !== this.base) {
      log.warn(`queue ${this.index}: used.idx ${used} differs from the ring base ${this.base}; ${(this.base - used) & 0xffff} requests were in flight when the ring stopped`);
    }
    this.queue.lastAvail = this.base;
    return this.queue;
  }

  /** Memory changed: ring views must be rebuilt from the addresses before next use. */
  invalidate(): void {
    if (this.queue !== undefined) this.base = this.queue.lastAvail;
    this.queue = undefined;
  }

  /** Pop and dispatch everything available. Safe to call any time. */
  process(): void {
    if (!this.started || !this.enabled || this.broken || this.paused) return;
    const q = this.ensureQueue();
    if (q === undefined) return;
    try {
      for (;;) {
        let chain: Chain | undefined;
        // A driver that follows the spec never has more than `size` requests out; one that re-posts
        // slots still being served would get unbounded concurrency, so stop at `size` in flight and
        // continue when a completion frees a slot (flush()).
        let budget = DISPATCH_CHUNK;
        while (budget > 0 && this.inflight < this.size && (chain = q.pop()) !== undefined) {
          this.dispatch(q, chain);
          budget--;
        }
        if (this.inflight >= this.size) {
          this.capped = true;
          return;
        }
        if (budget === 0 && q.hasPending()) {
          // The rest next turn; avail_event stays behind, so the driver does not kick for them.
          if (!this.moreScheduled) {
            this.moreScheduled = true;
            setImmediate(this.processMore);
          }
          return;
        }
        if (this.pollMs > 0 && q.eventIdx) {
          this.quietSince = performance.now();
          if (this.pollWindowMs > 0) {
            this.pollOn();
            break;
          }
        }
        q.setAvailEvent();
        if (!q.hasPending()) break;
      }
    } catch (e) {
      this.markBroken(e as Error);
    }
  }

  private readonly processMore = (): void => {
    this.moreScheduled = false;
    this.process();
  };

  /** Keep polling (kicks suppressed) for at least the window from now. */
  private pollOn(): void {
    this.pollDeadline = performance.now() + this.pollWindowMs;
    if (this.polling) return;
    this.polling = true;
    setImmediate(this.pollTurn);
  }

  private readonly pollTurn = (): void => {
    const q = this.queue;
    if (!this.started || !this.enabled || this.broken || this.paused || q === undefined) {
      // Whatever stopped the ring calls process() when it restarts, which sets avail_event again.
      this.polling = false;
      return;
    }
    if (q.hasPending()) {
      this.polling = false;
      this.process(); // polls on
      return;
    }
    if (performance.now() < this.pollDeadline) {
      setImmediate(this.pollTurn);
      return;
    }
    this.polling = false;
    q.setAvailEvent(); // a full barrier: a chain published before it is seen below, after it kicks
    if (q.hasPending()) this.process();
  };

  private dispatch(q: SplitQueue, chain: Chain): void {
    this.inflight++;
    let r: Promise<number> | number;
    try {
      r = this.handler(this.index, chain);
    } catch (e) {
      log.error(`queue ${this.index}: handler threw: ${(e as Error).stack ?? String(e)}`);
      r = 0;
    }
    if (typeof r === 'number') {
      this.complete(q, chain, r);
    } else {
      r.then(
        (len) => this.complete(q, chain, len),
        (e: unknown) => {
          log.error(`queue ${this.index}: handler failed: ${(e as Error)?.stack ?? String(e)}`);
          this.complete(q, chain, 0);
        },
      );
    }
  }

  private complete(q: SplitQueue, chain: Chain, len: number): void {
    this.inflight--;
    // A completion for a queue that was rebuilt (memory change) still belongs to the same ring.
    const target = this.queue ?? q;
    if (len > chain.writableLen || len < 0 || !Number.isInteger(len)) {
      log.error(`queue ${this.index}: handler reported ${len} bytes written into ${chain.writableLen}; using 0`);
      len = 0;
    }
    target.push(chain.head, len, chain);
    if (target.eventIdx) {
      // Published at once; EVENT_IDX decides whether this one needs a notification.
      target.publish();
      this.notifyIfWanted(target);
    } else {
      this.dirty = true;
    }
    if (this.pollMs > 0) {
      // The driver can only send its next request once it has this reply: the quiet starts now.
      const now = performance.now();
      this.quietSince = now;
      if (this.polling) this.pollDeadline = now + this.pollWindowMs;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Publish pushed entries and notify the driver if it wants it. */
  flush(): void {
    this.flushScheduled = false;
    const q = this.queue;
    if (this.dirty && q !== undefined) {
      this.dirty = false;
      q.publish();
      this.notifyIfWanted(q);
    }
    if (this.capped && this.inflight < this.size) {
      this.capped = false;
      this.process();
    }
    if (this.inflight === 0) {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      w.forEach((f) => f());
    }
  }

  /** After publish(): signal the call fd if the driver wants to hear of what was published. */
  private notifyIfWanted(q: SplitQueue): void {
    if (this.callFd < 0 || !q.shouldNotify()) return;
    try {
      native.eventfdWrite(this.callFd, 1);
    } catch (e) {
      log.warn(`queue ${this.index}: cannot signal the call fd: ${(e as Error).message}`);
    }
  }

  /** Resolves once no request of this ring is in flight and every completion is published. */
  drain(): Promise<void> {
    if (this.inflight === 0 && !this.flushScheduled) {
      this.flush();
      return Promise.resolve();
    }
    return new Promise((r) => this.drainWaiters.push(r));
  }

  private markBroken(e: Error): void {
    if (this.broken) return;
    this.broken = true;
    const code = e instanceof VirtqueueError ? e.code : (e as { code?: string }).code ?? 'VRING_ERROR';
    log.error(`queue ${this.index} is broken: ${code}: ${e.message}. The queue is stopped; the other queues keep working.`);
    if (this.errFd >= 0) {
      try {
        native.eventfdWrite(this.errFd, 1);
      } catch {
        /* nothing more to tell */
      }
    }
  }

  /**
   * GET_VRING_BASE: stop the ring, wait for in-flight requests, publish them, and return the next
   * avail index. The kick fd is closed; the ring restarts on the next SET_VRING_KICK.
   */
  async stop(): Promise<number> {
    this.stopKick();
    await this.drain();
    const base = this.queue?.lastAvail ?? this.base;
    this.base = base;
    this.queue = undefined;
    this.broken = false;
    return base;
  }

  /**
   * Forget the ring (RESET_DEVICE, disconnect). Call after drain(). RESET_DEVICE keeps the call and
   * error fds: QEMU 10 sends SET_VRING_CALL once at device creation, then RESET_DEVICE, and never
   * again when the rings start.
   */
  reset(keepNotifiers = false): void {
    this.stopKick();
    if (!keepNotifiers) {
      this.setCall(undefined);
      this.setErr(undefined);
    }
    this.size = 0;
    this.addrs = undefined;
    this.base = 0;
    this.enabled = false;
    this.broken = false;
    this.queue = undefined;
    this.paused = false;
  }
}
