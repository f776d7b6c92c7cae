/** Resource readings of a process from /proc: open fds and memory, for leak checks. */
import fs from 'node:fs';

export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...). */
export function statusKiB(pid: number, field: string): number {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}
