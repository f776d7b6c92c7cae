/** The terminal table, the progress line and the JSON file of a host-level run. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CellResult } from './runner.js';
import { si, summarize, type Summary } from './stats.js';
import type { Workload } from './workloads.js';

export interface RowSummary {
  workload: string;
  depth: number;
  daemon: string;
  rounds: number;
  rate: Summary;
  cpuUsPerUnit: Summary;
  benchCpuUsPerUnit: Summary;
  /** Kicks (driver to daemon) and call notifications (daemon to driver) per unit. */
  kicksPerUnit: Summary;
  callsPerUnit: Summary;
  daemonCores: Summary;
  othersCores: Summary;
  /** Medians over rounds of each round's step-latency percentiles. */
  p50Us: Summary;
  p99Us: Summary;
  peakRss: number;
  anonRss: number;
  errors: string[];
}

export function summarizeCells(cells: CellResult[], workloads: Workload[], depthsOf: (w: Workload) => number[], daemons: string[]): RowSummary[] {
  const rows: RowSummary[] = [];
  for (const w of workloads) {
    for (const depth of depthsOf(w)) {
      for (const d of daemons) {
        const mine = cells.filter((c) => c.workload === w.id && c.depth === depth && c.daemon === d);
        const ok = mine.filter((c) => c.error === undefined);
        rows.push({
          workload: w.id,
          depth,
          daemon: d,
          rounds: ok.length,
          rate: summarize(ok.map((c) => c.rate)),
          cpuUsPerUnit: summarize(ok.map((c) => c.cpuUsPerUnit)),
          benchCpuUsPerUnit: summarize(ok.map((c) => c.benchCpuUsPerUnit)),
          kicksPerUnit: summarize(ok.map((c) => c.kicksPerUnit ?? NaN)),
          callsPerUnit: summarize(ok.map((c) => c.callsPerUnit ?? NaN)),
          daemonCores: summarize(ok.map((c) => c.daemonCores)),
          othersCores: summarize(ok.map((c) => c.othersCores)),
          p50Us: summarize(ok.map((c) => c.latencyUs.p50)),
          p99Us: summarize(ok.map((c) => c.latencyUs.p99)),
          peakRss: Math.max(0, ...ok.map((c) => c.peakRss)),
          anonRss: Math.max(0, ...ok.map((c) => c.anonRss ?? 0)),
          errors: mine.filter((c) => c.error !== undefined).map((c) => c.error!),
        });
      }
    }
  }
  return rows;
}

/** The Rust virtiofsd daemons of a run: `rust` and the extra pool sizes, `rust0`, `rust4`... */
const isRust = (d: string) => /^rust\d*$/.test(d);

/**
 * The fastest Rust daemon of one cell (the targets are ratios to the Rust daemon at its best pool
 * size), when the run had more than one; undefined otherwise.
 */
export function bestRust(byDaemon: Map<string, RowSummary>): RowSummary | undefined {
  const rust = [...byDaemon.values()].filter((r) => isRust(r.daemon) && r.rounds > 0);
  if (rust.length < 2) return undefined;
  return rust.reduce((a, r) => (r.rate.median > a.rate.median ? r : a));
}

/** Lays out rows of cells with per-column alignment ('l' or 'r'). */
export function textTable(rows: string[][], align: ('l' | 'r')[]): string {
  const widths = align.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/**
 * One line per workload, depth and daemon (so any number of daemons fits a terminal): median rate
 * and the spread over rounds, daemon CPU per unit, the bench's own CPU per unit, and how the first
 * daemon (ours) compares.
 */
export function formatTable(rows: RowSummary[], workloads: Workload[], daemons: string[]): string {
  const base = daemons[0]!;
  const out: string[][] = [['workload', 'unit', 'QD', 'daemon', 'units/s', '[min-max]', 'p50 µs', 'p99 µs', 'cpu µs/unit', 'driver µs/unit', 'kicks/calls', `${base} speed`]];
  const keys = [...new Set(rows.map((r) => `${r.workload}\0${r.depth}`))];
  for (const k of keys) {
    const [wid, depthS] = k.split('\0') as [string, string];
    const w = workloads.find((x) => x.id === wid)!;
    const byDaemon = new Map(rows.filter((r) => r.workload === wid && r.depth === Number(depthS)).map((r) => [r.daemon, r]));
    const b = byDaemon.get(base);
    daemons.forEach((d, i) => {
      const r = byDaemon.get(d);
      const line = i === 0 ? [w.title, w.unit, depthS, d] : ['', '', '', d];
      if (r === undefined || r.rounds === 0) {
        line.push(r?.errors.length ? 'FAILED' : '-', '', '', '', '', '', '', '');
      } else {
        line.push(
          si(r.rate.median),
          r.rounds > 1 ? `[${si(r.rate.min)}-${si(r.rate.max)}]` : '',
          si(r.p50Us.median),
          si(r.p99Us.median),
          fixed(r.cpuUsPerUnit.median),
          fixed(r.benchCpuUsPerUnit.median),
          Number.isFinite(r.kicksPerUnit.median) ? `${r.kicksPerUnit.median.toFixed(2)}/${r.callsPerUnit.median.toFixed(2)}` : '-',
          d !== base && b !== undefined && b.rounds > 0 ? `${(b.rate.median / r.rate.median).toFixed(2)}x` : '',
        );
      }
      out.push(line);
    });
    const best = bestRust(byDaemon);
    if (best !== undefined && b !== undefined && b.rounds > 0) {
      out.push(['', '', '', `best Rust: ${best.daemon}`, '', '', '', '', '', '', '', `${(b.rate.median / best.rate.median).toFixed(2)}x`]);
    }
  }
  return textTable(out, ['l', 'l', 'r', 'l', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

/** The same numbers as a Markdown table, one column group per daemon (for docs/benchmarks.md). */
export function formatMarkdown(rows: RowSummary[], workloads: Workload[], daemons: string[]): string {
  const base = daemons[0]!;
  const rusts = daemons.filter(isRust).length;
  const head = ['workload', 'QD', ...daemons.map((d) => `${d} units/s [min-max]`), ...daemons.map((d) => `${d} cpu µs/unit`), ...daemons.slice(1).map((d) => `${base}/${d}`), ...(rusts > 1 ? [`${base}/best Rust`] : [])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 1 ? ' --- ' : ' ---: ')).join('|')}|`];
  const keys = [...new Set(rows.map((r) => `${r.workload}\0${r.depth}`))];
  for (const k of keys) {
    const [wid, depthS] = k.split('\0') as [string, string];
    const w = workloads.find((x) => x.id === wid)!;
    const byDaemon = new Map(rows.filter((r) => r.workload === wid && r.depth === Number(depthS)).map((r) => [r.daemon, r]));
    const ok = (d: string) => {
      const r = byDaemon.get(d);
      return r !== undefined && r.rounds > 0 ? r : undefined;
    };
    const cells = [`${w.title} (${w.unit}/s)`, depthS];
    for (const d of daemons) {
      const r = ok(d);
      cells.push(r ? `${si(r.rate.median)}${r.rounds > 1 ? ` [${si(r.rate.min)}-${si(r.rate.max)}]` : ''}` : 'failed');
    }
    for (const d of daemons) cells.push(ok(d) ? fixed(ok(d)!.cpuUsPerUnit.median) : '-');
    for (const d of daemons.slice(1)) cells.push(ok(base) && ok(d) ? `${(ok(base)!.rate.median / ok(d)!.rate.median).toFixed(2)}x` : '-');
    if (rusts > 1) {
      const best = bestRust(byDaemon);
      cells.push(ok(base) && best ? `${(ok(base)!.rate.median / best.rate.median).toFixed(2)}x (${best.daemon})` : '-');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '-');

export function formatMemory(rows: RowSummary[], daemons: string[], startRss: Map<string, number>): string {
  const out: string[][] = [['daemon', 'RSS after setup', 'peak RSS (VmHWM, max over cells)', 'at', 'private RSS (RssAnon, max)', 'at']];
  for (const d of daemons) {
    const mine = rows.filter((r) => r.daemon === d && r.rounds > 0);
    const top = mine.reduce<RowSummary | undefined>((a, r) => (a === undefined || r.peakRss > a.peakRss ? r : a), undefined);
    const anon = mine.reduce<RowSummary | undefined>((a, r) => (a === undefined || r.anonRss > a.anonRss ? r : a), undefined);
    out.push([
      d,
      mib(startRss.get(d) ?? 0),
      top ? mib(top.peakRss) : '-',
      top ? `${top.workload} QD${top.depth}` : '-',
      anon ? mib(anon.anonRss) : '-',
      anon ? `${anon.workload} QD${anon.depth}` : '-',
    ]);
  }
  return textTable(out, ['l', 'r', 'r', 'l', 'r', 'l']);
}

export const mib = (b: number) => `${(b / (1 << 20)).toFixed(1)} MiB`;

/** One self-overwriting status line on a terminal; plain lines (at most one per ~5 s) otherwise. */
export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();

  update(done: number, total: number, what: string): void {
    const now = Date.now();
    const el = (now - this.started) / 1000;
    const left = done > 0 ? (el / done) * (total - done) : NaN;
    const msg = `[${done}/${total}] ${what}  ${clock(el)} elapsed${Number.isFinite(left) ? `, ~${clock(left)} left` : ''}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${msg}`);
    else if (now - this.last > 5000 || done === total) {
      process.stderr.write(msg + '\n');
      this.last = now;
    }
  }

  note(msg: string): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${msg}\n`);
    else process.stderr.write(msg + '\n');
  }

  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}

function clock(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

/** bench/results/<date>.json unless `out` is given; returns the path written. */
export function writeJson(data: unknown, out: string | undefined, benchDir: string): string {
  const file = out ?? path.join(benchDir, 'results', `${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '')}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(data, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
  return file;
}

/**
 * The tree our daemon ran from: HEAD and the uncommitted changes under the daemon's sources (other
 * engineers' work in progress is compiled into dist/ too, so a result belongs to this, not to HEAD).
 */
export function treeInfo(repo: string): { commit: string; dirty: string[] } {
  const git = (...a: string[]) => execFileSync('git', ['-C', repo, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const dirty = git('status', '--porcelain', '--', 'src', 'native', 'protocol', 'bin').split('\n').filter(Boolean);
    return { commit: git('rev-parse', 'HEAD'), dirty };
  } catch {
    return { commit: 'unknown', dirty: [] };
  }
}

export function hostInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    kernel: os.release(),
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg(),
  };
}
