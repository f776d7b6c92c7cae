/**
 * What "the daemon survived" means in numbers, read from /proc for this process (the daemon runs in
 * the test process): open fds, resident memory, heap after a forced GC.
 */
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Open fds of this process, with what each points to (for a readable leak report). */
export function openFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of fs.readdirSync('/proc/self/fd')) {
    let target = '?';
    try {
      target = fs.readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue; // the fd of readdir itself, already closed
    }
    out.set(Number(name), target);
  }
  return out;
}

/** Fds open now that were not open in `baseline`, as "fd -> target" strings. */
export function newFds(baseline: Map<number, string>): string[] {
  const now = openFds();
  const extra: string[] = [];
  for (const [fd, target] of now) if (baseline.get(fd) !== target) extra.push(`${fd} -> ${target}`);
  return extra;
}

let gcFn: (() => void) | undefined;

/** A full GC (V8's gc exposed at run time, so no node flag is needed). */
export function gc(): void {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

/** RSS, heap and external memory after a full GC. */
export function memorySample(): MemorySample {
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

export const MiB = 1 << 20;

export function describeGrowth(a: MemorySample, b: MemorySample): string {
  const f = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
  return `rss ${f(a.rss)} -> ${f(b.rss)}, heap ${f(a.heapUsed)} -> ${f(b.heapUsed)}, external ${f(a.external)} -> ${f(b.external)}`;
}
