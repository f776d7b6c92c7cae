/**
 * What a daemon costs the host, read from /proc: CPU time (utime + stime of every thread, live or
 * exited, of the process and of its descendants) and peak resident set size (VmHWM).
 *
 * A whole process tree is summed because a daemon need not be one process: a `--peer` command may
 * be a wrapper, and the C virtiofsd's namespace sandbox forks. /proc/PID/stat of a thread-group
 * leader already includes the times of all its threads, exited ones too; its resolution is one
 * clock tick (10 ms at USER_HZ 100), so a measurement should last a second or more.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second (getconf CLK_TCK; 100 on every Linux this runs on). */
export const CLK_TCK: number = (() => {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(v) && v > 0 ? v : 100;
  } catch {
    return 100;
  }
})();

interface StatLine {
  ppid: number;
  /** utime + stime in ticks. */
  ticks: number;
}

/** Fields of /proc/PID/stat after the `(comm)` field, which may itself hold spaces and parentheses. */
function readStat(pid: number): StatLine | null {
  let s: string;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/** `pid` and all its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (st === null) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(e));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system) used so far by `pids`. Processes that are gone count 0. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Peak RSS (VmHWM) summed over `pids`, in bytes. */
export function peakRssBytes(pids: number[]): number {
  return pids.reduce((a, p) => a + statusKiB(p, 'VmHWM') * 1024, 0);
}

/**
 * Private RSS (RssAnon: heap, stacks) summed over `pids`, in bytes. Unlike VmRSS it leaves out the
 * guest memory a daemon has touched (shared memfd pages, RssShmem, the same for every daemon) and
 * its mapped binaries (RssFile).
 */
export function anonRssBytes(pids: number[]): number {
  return pids.reduce((a, p) => a + statusKiB(p, 'RssAnon') * 1024, 0);
}

/** Current RSS (VmRSS) summed over `pids`, in bytes. */
export function rssBytes(pids: number[]): number {
  return pids.reduce((a, p) => a + statusKiB(p, 'VmRSS') * 1024, 0);
}

/**
 * Reset VmHWM to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0), so the next
 * reading is the peak of what follows. False if not permitted (then VmHWM is the lifetime peak).
 */
export function resetPeakRss(pids: number[]): boolean {
  let ok = true;
  for (const p of pids) {
    try {
      fs.writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** CPU seconds the whole machine has spent busy (all but idle and iowait), from /proc/stat. */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)) / CLK_TCK;
}

/**
 * CPU seconds of the live threads of `pids` by thread name (comm, digits folded to #); each
 * process's main thread is "main" (for Node: the JS thread; the others are all named "node":
 * libuv's and the fs pool's workers, V8's platform threads). Exited threads are not counted.
 */
export function threadCpuSeconds(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of pids) {
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      let s: string;
      try {
        s = fs.readFileSync(`/proc/${p}/task/${t}/stat`, 'latin1');
      } catch {
        continue;
      }
      const comm = t === String(p) ? 'main' : s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')).replace(/\d+$/, '#');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out.set(comm, (out.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) / CLK_TCK);
    }
  }
  return out;
}
