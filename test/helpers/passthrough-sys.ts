/**
 * Wrappers around the native fs module for PassthroughFs's injectable `sys`: hold a syscall until the
 * test lets it go (to race FORGET and RELEASE against a request in flight), or make every call slow
 * on a worker thread of its own (to see requests run in parallel).
 */
import os from 'node:os';
import * as native from '../../src/native/fs.js';
import * as addon from '../../src/native/index.js';
import type { Sys } from '../../src/passthrough/index.js';

type AnyFn = (...args: unknown[]) => Promise<unknown>;

/** statfs f_type of CephFS. */
const CEPH_SUPER_MAGIC = 0x00c36400;

/**
 * A filesystem with held or slowed calls stands for a network filesystem (CephFS), where no call
 * runs on the event loop (passthrough/inline.ts): fstatfs says CephFS and the RWF_NOWAIT read try
 * answers EOPNOTSUPP, so every READ, GETATTR and LOOKUP takes the pool path being held.
 */
function noInlineCalls(sys: Record<string, unknown>): void {
  sys.preadvSync = () => -os.constants.errno.EOPNOTSUPP;
  sys.fstatfs = async (fd: number) => ({ ...(await native.fstatfs(fd)), type: CEPH_SUPER_MAGIC });
}

/** A sys whose next call(s) of `name` wait for release(). */
export function gatedSys(name: keyof Sys): { sys: Sys; arm(): Promise<void>; release(): void } {
  let armed = false;
  let reached: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const real = native[name] as unknown as AnyFn;
  const wrapped: AnyFn = async (...args) => {
    if (armed) {
      armed = false;
      reached?.();
      await gate;
    }
    return real(...args);
  };
  const sys: Record<string, unknown> = { ...native, [name]: wrapped };
  noInlineCalls(sys);
  return {
    sys: sys as unknown as Sys,
    /** Resolves once the next call of `name` has started (and is held). */
    arm() {
      armed = true;
      gate = new Promise((r) => (open = r));
      return new Promise((r) => (reached = r));
    },
    release() {
      open?.();
    },
  };
}

/**
 * A sys in which each call of the listed functions first blocks a worker-pool thread for `ms`
 * (a blocking read on a socket that a timer feeds one byte), then runs the real call. So the
 * latency occupies the pool exactly as a slow filesystem would, and the peak number of calls
 * blocked at once is how many ran in parallel.
 */
export function slowSys(ms: number, names: (keyof Sys)[]): { sys: Sys; peak(): number; close(): void } {
  const [rd, wr] = addon.socketpair(0);
  let inFlight = 0;
  let peak = 0;
  const one = new Uint8Array([1]);
  const sleepOnWorker = async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    // Each sleeper's timer adds one byte; whichever sleeper reads it, every sleeper gets one (so the
    // timer is never cancelled).
    setTimeout(() => addon.sendmsg(wr, one, []), ms);
    try {
      // preadv with offset -1 is readv(): blocks this worker thread until a byte arrives.
      await native.preadv(rd, [new Uint8Array(1)], -1);
    } finally {
      inFlight--;
    }
  };
  const sys: Record<string, unknown> = { ...native };
  for (const name of names) {
    const real = native[name] as unknown as AnyFn;
    sys[name] = async (...args: unknown[]) => {
      await sleepOnWorker();
      return real(...args);
    };
  }
  noInlineCalls(sys);
  return {
    sys: sys as unknown as Sys,
    peak: () => peak,
    close: () => {
      addon.close(rd);
      addon.close(wr);
    },
  };
}
