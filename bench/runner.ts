/**
 * One measurement ("cell"): a workload at a queue depth on one daemon, for one round. The workers
 * run a closed loop for a warm-up, stop and drain, then run again for the measured period from an
 * idle queue; the period ends when the last request in flight completes, so every unit counted
 * was started and finished inside it. Around the measured period: the daemon's CPU time and the
 * bench's own, and the daemon's peak RSS (VmHWM, reset just before).
 */
import { machineBusySeconds, threadCpuSeconds } from './proc-stats.js';
import type { Env, Workload } from './workloads.js';

export interface CellResult {
  daemon: string;
  workload: string;
  depth: number;
  round: number;
  units: number;
  seconds: number;
  /** Units per second. */
  rate: number;
  /** Daemon CPU (user + system, all threads) per unit, microseconds. */
  cpuUsPerUnit: number;
  /** The bench process's own CPU per unit (the front-end standing in for the guest), microseconds. */
  benchCpuUsPerUnit: number;
  /** Daemon CPU seconds per wall second: how many cores it kept busy. */
  daemonCores: number;
  /**
   * Cores kept busy by everything else on the machine (other engineers' tests...): the noise
   * indicator. Machine busy time minus the daemon's and the bench's.
   */
  othersCores: number;
  /** Latency of one worker step (one unit; for READDIRPLUS one request), microseconds. */
  latencyUs: { p50: number; p99: number; max: number };
  /** Notifications per unit, all queues: kicks the driver sent, call notifications the daemon sent. */
  kicksPerUnit?: number;
  callsPerUnit?: number;
  /** Daemon CPU per unit by thread ("main" = the process's main thread), microseconds. */
  threadCpuUsPerUnit: Record<string, number>;
  /** Peak RSS during the measured period (bytes), or the lifetime peak if it could not be reset. */
  peakRss: number;
  /** Private RSS (RssAnon) at the end of the period: without guest memory and binaries. */
  anonRss: number;
  /** VmHWM could not be reset (not permitted): peakRss is the daemon's lifetime peak. */
  peakIsLifetime: boolean;
  error?: string;
}

export interface CellOptions {
  warmupMs: number;
  durationMs: number;
  /** A period that has not drained this long after its end is a stall: the daemon is dropped. */
  stallMs: number;
}

/** Step latencies of one period, in microseconds (grows as needed). */
class Latencies {
  private a = new Float64Array(1 << 16);
  n = 0;
  add(us: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = us;
  }
  percentile(p: number): number {
    if (this.n === 0) return NaN;
    const s = this.a.slice(0, this.n).sort();
    return s[Math.min(this.n - 1, Math.floor((p / 100) * this.n))]!;
  }
}

async function loop(workers: { step(): Promise<number> }[], ms: number, stallMs: number, lat?: Latencies): Promise<number> {
  let stop = false;
  let units = 0;
  const stopTimer = setTimeout(() => (stop = true), ms);
  let stallTimer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    stallTimer = setTimeout(() => reject(new Error(`no progress: requests still in flight ${stallMs} ms after the end of the period`)), ms + stallMs);
  });
  try {
    await Promise.race([
      Promise.all(
        workers.map(async (w) => {
          while (!stop) {
            // Not `units += await ...`: that reads `units` before the await and loses the other
            // workers' increments.
            const t = lat ? performance.now() : 0;
            const u = await w.step();
            units += u;
            if (lat) lat.add((performance.now() - t) * 1000);
          }
        }),
      ),
      stalled,
    ]);
  } finally {
    stop = true;
    clearTimeout(stopTimer);
    clearTimeout(stallTimer);
  }
  return units;
}

function notifications(env: Env): { kicks: number; calls: number } {
  let kicks = 0;
  let calls = 0;
  for (const q of env.s.dev.queues) {
    if (q === undefined) continue;
    kicks += q.kicks;
    calls += q.calls;
  }
  return { kicks, calls };
}

export async function runCell(env: Env, wl: Workload, depth: number, round: number, o: CellOptions): Promise<CellResult> {
  const s = env.s;
  const workers = Array.from({ length: depth }, (_, i) => wl.worker(env, i, depth));
  if (o.warmupMs > 0) await loop(workers, o.warmupMs, o.stallMs);
  s.refreshTree();
  const peakReset = s.resetPeakRss();
  const cpu0 = s.cpuSeconds();
  const bench0 = process.cpuUsage();
  const busy0 = machineBusySeconds();
  const threads0 = threadCpuSeconds(s.pids);
  const notes0 = notifications(env);
  const t0 = process.hrtime.bigint();
  const lat = new Latencies();
  const units = await loop(workers, o.durationMs, o.stallMs, lat);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bench = process.cpuUsage(bench0);
  const cpu = s.cpuSeconds() - cpu0;
  const busy = machineBusySeconds() - busy0;
  const notes = notifications(env);
  const threadCpuUsPerUnit: Record<string, number> = {};
  for (const [name, sec] of threadCpuSeconds(s.pids)) {
    const d = sec - (threads0.get(name) ?? 0);
    if (units > 0 && d > 0) threadCpuUsPerUnit[name] = (d * 1e6) / units;
  }
  const peakRss = s.peakRss();
  const anonRss = s.anonRss();
  for (const w of workers) await w.end?.();
  return {
    daemon: s.spec.name,
    workload: wl.id,
    depth,
    round,
    units,
    seconds,
    rate: units / seconds,
    cpuUsPerUnit: units > 0 ? (cpu * 1e6) / units : NaN,
    benchCpuUsPerUnit: units > 0 ? (bench.user + bench.system) / units : NaN,
    daemonCores: cpu / seconds,
    othersCores: Math.max(0, busy - cpu - (bench.user + bench.system) / 1e6) / seconds,
    latencyUs: { p50: lat.percentile(50), p99: lat.percentile(99), max: lat.percentile(100) },
    kicksPerUnit: units > 0 ? (notes.kicks - notes0.kicks) / units : NaN,
    callsPerUnit: units > 0 ? (notes.calls - notes0.calls) / units : NaN,
    threadCpuUsPerUnit,
    peakRss,
    anonRss,
    peakIsLifetime: !peakReset,
  };
}
