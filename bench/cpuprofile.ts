/**
 * Where the time goes in a V8 .cpuprofile (as written by `node --cpu-prof`): self time and total
 * (inclusive) time per function, and self time per source file, with idle time left out so the
 * percentages are of the time the daemon's main thread was working.
 *
 * Only the JS thread is sampled: time on the native fs pool's threads does not appear here (the
 * daemon's CPU time from /proc does include it).
 *
 * Run: `node dist/bench/cpuprofile.js FILE.cpuprofile [TOP]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  totalMs: number;
}

export interface ProfileSummary {
  /** Sampled time in ms, and the part that was not (idle). */
  wallMs: number;
  busyMs: number;
  functions: FunctionTime[];
  files: { file: string; selfMs: number }[];
}

const IDLE = '(idle)';

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const u = url.replace(/^file:\/\//, '');
  const i = u.indexOf('/dist/');
  return i >= 0 ? u.slice(i + 6) : u.startsWith('node:') ? u : path.basename(u);
}

export function summarizeProfile(p: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\0${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const fns = new Map<string, FunctionTime>();
  const files = new Map<string, number>();
  let wall = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the gap after a sample to it instead.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    wall += dt;
    const leaf = byId.get(p.samples[i]!);
    if (leaf === undefined) continue;
    if (leaf.callFrame.functionName === IDLE) {
      idle += dt;
      continue;
    }
    const seen = new Set<string>();
    for (let n: ProfileNode | undefined = leaf; n !== undefined; n = byId.get(parent.get(n.id) ?? -1)) {
      if (n.callFrame.functionName === '(root)') break;
      const k = key(n);
      let f = fns.get(k);
      if (f === undefined) {
        const [name, where] = k.split('\0') as [string, string];
        f = { name, where, selfMs: 0, totalMs: 0 };
        fns.set(k, f);
      }
      if (n === leaf) {
        f.selfMs += dt;
        const file = shortUrl(n.callFrame.url);
        files.set(file, (files.get(file) ?? 0) + dt);
      }
      if (!seen.has(k)) f.totalMs += dt;
      seen.add(k);
    }
  }
  return {
    wallMs: wall,
    busyMs: wall - idle,
    functions: [...fns.values()],
    files: [...files].map(([file, selfMs]) => ({ file, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

export function formatProfile(s: ProfileSummary, top = 25): string {
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1).padStart(5)}%`;
  const lines = [`sampled ${(s.wallMs / 1000).toFixed(1)} s, main thread busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / s.wallMs).toFixed(0)}%); percentages are of busy time`];
  lines.push('', 'self time by function:');
  for (const f of [...s.functions].sort((a, b) => b.selfMs - a.selfMs).slice(0, top)) lines.push(`  ${pct(f.selfMs)}  ${f.name}  ${f.where}`);
  lines.push('', 'total (inclusive) time by function:');
  for (const f of [...s.functions].sort((a, b) => b.totalMs - a.totalMs).slice(0, top)) lines.push(`  ${pct(f.totalMs)}  ${f.name}  ${f.where}`);
  lines.push('', 'self time by file:');
  for (const f of s.files.slice(0, top)) lines.push(`  ${pct(f.selfMs)}  ${f.file}`);
  return lines.join('\n');
}

export function summarizeProfileFile(file: string, top = 25): string {
  return formatProfile(summarizeProfile(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile), top);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpuprofile.js FILE.cpuprofile [TOP]\n');
    process.exitCode = 2;
  } else {
    console.log(summarizeProfileFile(file, Number(process.argv[3] ?? 25)));
  }
}
