/**
 * `npm run bench -- --guest`: the same daemons compared through QEMU 10 and a real Linux guest
 * (the guest kit: Debian kernel + busybox), one fresh daemon and one guest boot per daemon per
 * round, daemons interleaved. The guest times each phase with /proc/uptime (10 ms resolution;
 * busybox `date` has no %N) and prints a marker; the host samples the daemon's CPU time at each
 * marker, so each phase also gets the daemon CPU it cost.
 *
 * Phases (the guest's page cache is dropped before each read-side phase, so requests reach the
 * daemon): dd write of N MiB (1 MiB blocks, fsync), dd read of an N MiB host-written file, create
 * F files of 4 KiB (shell builtins, no fork per file), stat them with cold dentries (`[ -f ]`, a
 * LOOKUP each), `ls -l` of them (READDIRPLUS), rm -r.
 *
 * Under TCG (no KVM here) the guest's CPU is emulated and is the bottleneck: elapsed times say
 * more about the guest than the daemon, so ratios near 1 are expected; daemon CPU per phase is the
 * more telling number.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonSpecs, selectSpecs, type DaemonSpec } from './daemons.js';
import type { BenchOptions } from './options.js';
import { cpuSeconds, processTree } from './proc-stats.js';
import { Progress, hostInfo, textTable, treeInfo, writeJson } from './report.js';
import { summarize } from './stats.js';
import { spawnDaemon } from '../test/helpers/daemon-process.js';
import { qemuMissingReason, startGuest } from '../test/helpers/qemu.js';

interface Phase {
  id: string;
  title: string;
  /** Amount of work, for a rate: MiB or files. */
  amount: (o: BenchOptions) => number;
  unit: string;
}

const PHASES: Phase[] = [
  { id: 'write', title: 'dd write 1 MiB blocks + fsync', amount: (o) => o.guestMiB, unit: 'MiB' },
  { id: 'read', title: 'dd read 1 MiB blocks (cold guest cache)', amount: (o) => o.guestMiB, unit: 'MiB' },
  { id: 'create', title: 'create 4 KiB files', amount: (o) => o.guestFiles, unit: 'files' },
  { id: 'stat', title: 'stat files (cold dentries)', amount: (o) => o.guestFiles, unit: 'files' },
  { id: 'ls', title: 'ls -l (cold)', amount: (o) => o.guestFiles, unit: 'files' },
  { id: 'rm', title: 'rm -r', amount: (o) => o.guestFiles, unit: 'files' },
];

function guestScript(o: BenchOptions): string {
  return `
t() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "VFS-BENCH $1 $(t)"; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
mount -t virtiofs bench /mnt || exit 10
[ -f /mnt/read.bin ] || exit 11
p=$(dd if=/dev/zero bs=4096 count=1 2>/dev/null | tr '\\0' x)
drop
mark start
dd if=/dev/zero of=/mnt/write.bin bs=1M count=${o.guestMiB} conv=fsync 2>/dev/null || exit 12
mark write
drop
mark start
dd if=/mnt/read.bin of=/dev/null bs=1M 2>/dev/null || exit 13
mark read
mkdir /mnt/small || exit 14
mark start
i=0; while [ $i -lt ${o.guestFiles} ]; do printf '%s' "$p" > /mnt/small/f$i || exit 15; i=$((i+1)); done
mark create
drop
mark start
i=0; while [ $i -lt ${o.guestFiles} ]; do [ -f /mnt/small/f$i ] || exit 16; i=$((i+1)); done
mark stat
drop
mark start
ls -l /mnt/small > /dev/null || exit 17
mark ls
mark start
rm -r /mnt/small || exit 18
mark rm
rm -f /mnt/write.bin
umount /mnt || exit 19
`;
}

interface GuestRun {
  daemon: string;
  round: number;
  bootMs: number | null;
  /** Per phase: guest seconds and daemon CPU seconds. */
  phases: Record<string, { seconds: number; daemonCpu: number }>;
  error?: string;
}

async function runOne(spec: DaemonSpec, o: BenchOptions, round: number, share: string, script: string): Promise<GuestRun> {
  const run: GuestRun = { daemon: spec.name, round, bootMs: null, phases: {} };
  const d = await spawnDaemon({ sharedDir: share, command: spec.command });
  const pids = () => processTree(d.proc.pid!);
  try {
    const g = await startGuest({ script, fs: [{ socket: d.socketPath, tag: 'bench' }], memoryMiB: 512, timeoutMs: 600_000, qmp: false });
    let at = 0;
    let startCpu = 0;
    let startT = 0;
    for (;;) {
      const m = await g.waitForConsole(/VFS-BENCH (\w+) ([\d.]+)\n|VFS-GUEST: exit (\d+)\n/, 600_000, at).catch((e: Error) => e);
      if (m instanceof Error) throw m;
      at = m.index + m[0].length;
      if (m[3] !== undefined) {
        if (m[3] !== '0') throw new Error(`guest script exited ${m[3]}\n${g.console().slice(-1500)}`);
        break;
      }
      const cpu = cpuSeconds(pids());
      if (m[1] === 'start') {
        startCpu = cpu;
        startT = Number(m[2]);
      } else {
        run.phases[m[1]!] = { seconds: Number(m[2]) - startT, daemonCpu: cpu - startCpu };
      }
    }
    const r = await g.exited;
    run.bootMs = r.bootMs;
  } catch (e) {
    run.error = (e as Error).message;
  } finally {
    await Promise.race([d.exited, new Promise((r) => setTimeout(r, 5000))]);
    await d.stop('SIGKILL');
  }
  return run;
}

export async function runGuestBench(o: BenchOptions, benchDir: string): Promise<number> {
  const missing = qemuMissingReason();
  if (missing !== null) {
    process.stderr.write(`bench --guest: ${missing} (run: sudo bash scripts/install-system-deps.sh)\n`);
    return 1;
  }
  const progress = new Progress();
  const { specs: all, missing: absent } = daemonSpecs({ threads: o.threads, rustPools: o.rustPools, cThreads: o.cThreads, peers: o.peers });
  const specs = selectSpecs(all, o.only);
  for (const m of absent) progress.note(`note: ${m} is not installed; it is left out`);
  const rounds = o.quick ? 1 : Math.min(o.rounds, 3);
  const share = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-bench-guest-'));
  const script = guestScript(o);
  const runs: GuestRun[] = [];
  try {
    fs.mkdirSync(share, { recursive: true });
    const buf = Buffer.alloc(1 << 20, 0x61);
    const fd = fs.openSync(path.join(share, 'read.bin'), 'w');
    for (let i = 0; i < o.guestMiB; i++) fs.writeSync(fd, buf);
    fs.closeSync(fd);
    const total = rounds * specs.length;
    let k = 0;
    for (let round = 1; round <= rounds; round++) {
      for (const spec of rotate(specs, (round - 1) % specs.length)) {
        progress.update(k, total, `round ${round}/${rounds}: guest on ${spec.name}`);
        fs.rmSync(path.join(share, 'small'), { recursive: true, force: true });
        const r = await runOne(spec, o, round, share, script);
        if (r.error !== undefined) progress.note(`${spec.name} round ${round} failed: ${r.error.split('\n')[0]}`);
        runs.push(r);
        k++;
      }
    }
    progress.update(total, total, 'done');
    progress.done();
  } finally {
    if (o.dataDir === undefined) fs.rmSync(share, { recursive: true, force: true });
  }

  const names = specs.map((s) => s.name);
  const base = names[0]!;
  const rows: string[][] = [['phase', 'amount', ...names.flatMap((n) => [`${n} s`, `${n} daemon cpu s`]), ...names.slice(1).map((n) => `${base}/${n} speed`)]];
  const summary: Record<string, Record<string, { seconds: ReturnType<typeof summarize>; daemonCpu: ReturnType<typeof summarize> }>> = {};
  for (const ph of PHASES) {
    const line = [ph.title, `${ph.amount(o)} ${ph.unit}`];
    const med = new Map<string, number>();
    summary[ph.id] = {};
    for (const n of names) {
      const ok = runs.filter((r) => r.daemon === n && r.phases[ph.id] !== undefined);
      const secs = summarize(ok.map((r) => r.phases[ph.id]!.seconds));
      const cpu = summarize(ok.map((r) => r.phases[ph.id]!.daemonCpu));
      summary[ph.id]![n] = { seconds: secs, daemonCpu: cpu };
      med.set(n, secs.median);
      line.push(secs.n > 0 ? `${secs.median.toFixed(2)}${secs.n > 1 ? ` [${secs.min.toFixed(2)}-${secs.max.toFixed(2)}]` : ''}` : 'FAILED', cpu.n > 0 ? cpu.median.toFixed(2) : '-');
    }
    for (const n of names.slice(1)) {
      const a = med.get(base)!;
      const b = med.get(n)!;
      line.push(Number.isFinite(a) && Number.isFinite(b) && a > 0 ? `${(b / a).toFixed(2)}x` : '-');
    }
    rows.push(line);
  }
  console.log(`\nguest-level comparison: QEMU 10 (TCG, 1 vCPU) + Linux guest, ${rounds} round(s), median [min-max] of guest-timed seconds (/proc/uptime, 10 ms).`);
  console.log(`speed ratio = peer time / ${base} time (>1: ours is faster). Under TCG the emulated guest is the bottleneck: expect ratios near 1; daemon CPU is the daemon's own cost.`);
  console.log(textTable(rows, ['l', 'r', ...names.flatMap(() => ['r', 'r'] as ('l' | 'r')[]), ...names.slice(1).map(() => 'r' as const)]));
  const boots = runs.filter((r) => r.bootMs !== null).map((r) => r.bootMs!);
  if (boots.length > 0) console.log(`guest boot: median ${(summarize(boots).median / 1000).toFixed(1)} s`);
  const file = writeJson(
    { kind: 'virtiofsd-bench/guest', date: new Date().toISOString(), host: hostInfo(), tree: treeInfo(path.dirname(benchDir)), options: o, daemons: specs.map((s) => ({ name: s.name, description: s.description })), phases: PHASES.map((p) => ({ id: p.id, title: p.title, amount: p.amount(o), unit: p.unit })), summary, runs },
    o.out,
    benchDir,
  );
  console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
  return runs.some((r) => r.error !== undefined) ? 1 : 0;
}

function rotate<T>(xs: T[], k: number): T[] {
  return [...xs.slice(k), ...xs.slice(0, k)];
}
