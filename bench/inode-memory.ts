/**
 * Memory while serving many known inodes (issue 9's target: peak RSS under 150 MB at 100,000).
 * For each daemon: one directory of N files, then LOOKUP of every name (QD 16), so the daemon holds
 * N inodes the guest may use, then GETATTR of every one (the guest using them); peak RSS (VmHWM)
 * and private RSS of the daemon's processes are read before and after, and the daemons' fds counted.
 *
 *   node dist/bench/inode-memory.js [--files N] [--only ts,rust,c] [--threads N] [--node-args='--flag ...'] [--peer NAME=COMMAND]
 *
 * Prints a table and writes bench/results/inode-memory-<date>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DaemonSession, daemonSpecs, selectSpecs } from './daemons.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '100000' },
    only: { type: 'string' },
    threads: { type: 'string', default: '4' },
    depth: { type: 'string', default: '16' },
    'node-args': { type: 'string' },
    peer: { type: 'string', multiple: true },
  },
});
const files = Number(values.files);
const depth = Number(values.depth);
const MiB = 1024 * 1024;

function makeTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-inodes-'));
  const sub = path.join(dir, 'many');
  fs.mkdirSync(sub);
  for (let i = 0; i < files; i++) fs.writeFileSync(path.join(sub, `f${i}`), '');
  return dir;
}

function fdCount(pids: number[]): number {
  return pids.reduce((n, pid) => {
    try {
      return n + fs.readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      return n;
    }
  }, 0);
}

interface Row {
  daemon: string;
  files: number;
  idleRssMiB: number;
  peakRssMiB: number;
  anonRssMiB: number;
  bytesPerInode: number;
  fds: number;
  lookupsPerSec: number;
  /** The first error, if the daemon could not hold every inode (e.g. ENFILE: one fd per inode). */
  error?: string;
}

async function measure(s: DaemonSession): Promise<Row> {
  s.refreshTree();
  const idle = s.peakRss();
  const dir = await s.fuse.lookup(1n, 'many');
  const nodeids: bigint[] = new Array(files);
  let next = 0;
  let error: string | undefined;
  let held = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: depth }, async () => {
      for (let i = next++; i < files && error === undefined; i = next++) {
        try {
          nodeids[i] = (await s.fuse.lookup(dir.nodeid, `f${i}`)).nodeid;
          held++;
        } catch (e) {
          error ??= `${(e as { code?: string }).code ?? (e as Error).message} after ${held} inodes`;
        }
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  next = 0;
  await Promise.all(
    Array.from({ length: depth }, async () => {
      for (let i = next++; i < files; i = next++) if (nodeids[i] !== undefined) await s.fuse.getattr(nodeids[i]!);
    }),
  );
  s.refreshTree();
  const peak = s.peakRss();
  return {
    daemon: s.spec.name,
    files: held,
    idleRssMiB: idle / MiB,
    peakRssMiB: peak / MiB,
    anonRssMiB: s.anonRss() / MiB,
    bytesPerInode: Math.round((peak - idle) / Math.max(1, held)),
    fds: fdCount(s.pids),
    lookupsPerSec: Math.round(held / secs),
    ...(error !== undefined ? { error } : {}),
  };
}

async function main(): Promise<void> {
  const threads = Number(values.threads);
  const { specs, missing } = daemonSpecs({ threads, cThreads: 0, ourNodeArgs: values['node-args']?.split(' ').filter(Boolean), peers: values.peer });
  const chosen = selectSpecs(specs, values.only?.split(','));
  missing.forEach((m) => process.stderr.write(`not measured: ${m}\n`));
  process.stderr.write(`creating ${files} files...\n`);
  const shared = makeTree();
  const rows: Row[] = [];
  try {
    for (const spec of chosen) {
      process.stderr.write(`${spec.name}: LOOKUP + GETATTR of ${files} inodes at QD ${depth}...\n`);
      const s = await DaemonSession.start(spec, { sharedDir: shared, queueSize: 1024, memoryBytes: 64 * MiB, pages: true });
      try {
        rows.push(await measure(s));
      } finally {
        await s.close();
      }
    }
  } finally {
    fs.rmSync(shared, { recursive: true, force: true });
  }
  const head = ['daemon', 'inodes held', 'RSS idle MiB', 'peak RSS MiB', 'private MiB', 'bytes/inode', 'fds', 'LOOKUP/s', 'error'];
  const lines = rows.map((r) => [r.daemon, String(r.files), r.idleRssMiB.toFixed(1), r.peakRssMiB.toFixed(1), r.anonRssMiB.toFixed(1), String(r.bytesPerInode), String(r.fds), String(r.lookupsPerSec), r.error ?? '']);
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  for (const l of [head, ...lines]) console.log(l.map((c, i) => c.padStart(w[i]!)).join('  '));
  const out = path.join('bench/results', `inode-memory-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ host: os.hostname(), date: new Date().toISOString(), files, depth, threads, commands: chosen.map((c) => c.command.join(' ')), rows }, null, 2));
  console.log(`wrote ${out}`);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
