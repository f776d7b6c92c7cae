/**
 * `npm run bench`: the same FUSE workloads against our daemon and its peers, through the in-repo
 * vhost-user front-end (no VM), interleaved daemon by daemon, cell by cell, over several rounds.
 * `npm run bench -- --guest` compares them through QEMU and a Linux guest instead (bench/guest.ts).
 *
 * Steps:
 *  1. build the shared dataset (bench/dataset.ts) and warm the page cache;
 *  2. start every daemon on it, connect a front-end to each, FUSE_INIT, look up the files (untimed);
 *  3. for each round, workload and depth, run one cell per daemon, the daemon order rotating from
 *     cell to cell so none always runs first or last;
 *  4. disconnect (the daemons exit), print the tables, write the JSON file.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonSession, daemonSpecs, selectSpecs, type DaemonSpec } from './daemons.js';
import { buildDataset, removeDataset } from './dataset.js';
import { USAGE, UsageError, parseBenchOptions, type BenchOptions } from './options.js';
import { rssBytes } from './proc-stats.js';
import { Progress, formatMarkdown, formatMemory, formatTable, hostInfo, mib, summarizeCells, treeInfo, writeJson } from './report.js';
import { runCell, type CellResult } from './runner.js';
import { prepareEnv, selectWorkloads, type Env, type Workload } from './workloads.js';
import { summarizeProfileFile } from './cpuprofile.js';

/** bench/ in the source tree (dist/bench/run.js -> <repo>/bench). */
const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench');

async function main(argv: string[]): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchOptions(argv);
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (o.report !== undefined) return printReport(o.report, o.markdown);
  if (o.guest) return (await import('./guest.js')).runGuestBench(o, benchDir);
  return runHostBench(o);
}

async function runHostBench(o: BenchOptions): Promise<number> {
  const progress = new Progress();
  const workloads = selectWorkloads(o.workloads);
  const depthsOf = (w: Workload) => o.depths ?? w.depths;
  const ourNodeArgs = o.cpuProfDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(o.cpuProfDir)] : [];
  if (o.pin) pinSelf(0);
  const { specs: all, missing } = daemonSpecs({ threads: o.threads, rustPools: o.rustPools, cThreads: o.cThreads, peers: o.peers, ourNodeArgs, pinCpu: o.pin ? 1 : undefined });
  const specs = selectSpecs(all, o.only);
  for (const m of missing) progress.note(`note: ${m} is not installed; it is left out`);

  const ds = buildDataset({ bigFileBytes: o.bigFileMiB * 2 ** 20, metaFiles: 1000, dirEntries: 10_000, dir: o.dataDir }, (m) => progress.note(m));
  const sessions: DaemonSession[] = [];
  const envs = new Map<string, Env>();
  const startRss = new Map<string, number>();
  const failures: string[] = [];
  const cleanup = async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
  };
  process.once('SIGINT', () => {
    progress.note('interrupted: stopping the daemons');
    void cleanup().finally(() => {
      removeDataset(ds);
      process.exit(130);
    });
  });

  try {
    // 1 MiB requests at depth 16 (or more) must fit the front-end's guest memory, with room to spare.
    const maxDepth = Math.max(...workloads.flatMap(depthsOf));
    const memoryBytes = Math.min(1024, Math.max(64, 2 * maxDepth + 32)) << 20;
    for (const spec of specs) {
      progress.note(`starting ${spec.name}: ${spec.description}`);
      try {
        const s = await DaemonSession.start(spec, { sharedDir: ds.root, queueSize: o.queueSize, memoryBytes, pages: o.sg === 'pages' });
        sessions.push(s);
        envs.set(spec.name, await prepareEnv(s, ds));
        s.refreshTree();
        startRss.set(spec.name, rssBytes(s.pids));
      } catch (e) {
        failures.push(`${spec.name}: ${(e as Error).message}`);
        progress.note(`${spec.name} left out: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (sessions.length === 0) throw new Error('no daemon could be started');

    const names = sessions.map((s) => s.spec.name);
    const plan: { w: Workload; depth: number }[] = workloads.flatMap((w) => depthsOf(w).map((depth) => ({ w, depth })));
    const total = o.rounds * plan.length * sessions.length;
    const cells: CellResult[] = [];
    let done = 0;
    let cellNo = 0;
    for (let round = 1; round <= o.rounds; round++) {
      for (const { w, depth } of plan) {
        const order = rotate(sessions, cellNo++ % sessions.length);
        for (const s of order) {
          progress.update(done, total, `round ${round}/${o.rounds}: ${w.id} QD${depth} on ${s.spec.name}`);
          if (s.broken !== null) {
            done++;
            continue;
          }
          try {
            cells.push(await runCell(envs.get(s.spec.name)!, w, depth, round, { warmupMs: o.warmupMs, durationMs: o.durationMs, stallMs: 10_000 }));
          } catch (e) {
            const msg = (e as Error).message;
            cells.push({ daemon: s.spec.name, workload: w.id, depth, round, units: 0, seconds: 0, rate: NaN, cpuUsPerUnit: NaN, benchCpuUsPerUnit: NaN, kicksPerUnit: NaN, callsPerUnit: NaN, daemonCores: NaN, othersCores: NaN, latencyUs: { p50: NaN, p99: NaN, max: NaN }, threadCpuUsPerUnit: {}, peakRss: 0, anonRss: 0, peakIsLifetime: false, error: msg });
            progress.note(`${s.spec.name}: ${w.id} QD${depth} failed: ${msg}`);
            if (/no progress|DISCONNECTED|CLOSED/.test(msg) || s.proc.proc.exitCode !== null) {
              s.broken = msg;
              const tail = s.proc.log().trim().split('\n').slice(-5).join('\n  ');
              progress.note(`${s.spec.name} is dropped from the rest of the run${tail ? `; its last words:\n  ${tail}` : ''}`);
            }
          }
          done++;
        }
      }
    }
    progress.update(done, total, 'done');
    progress.done();

    const inits = sessions.map((s) => ({ name: s.spec.name, max_write: s.init.max_write, max_pages: s.init.max_pages, minor: s.init.minor, virtioFeatures: `0x${s.dev.ackedFeatures.toString(16)}` }));
    await cleanup();
    const rows = summarizeCells(cells, workloads, depthsOf, names);
    const others = rows.map((r) => r.othersCores.median).filter(Number.isFinite);
    const noisy = others.length > 0 ? Math.max(...others) : 0;
    console.log(`\nvirtio-fs daemons through the in-repo front-end (no VM); ${o.rounds} round(s) of ${o.durationMs} ms per cell, median [min-max] of rounds.`);
    console.log(`cpu µs/unit: daemon CPU (user+system, all threads) per unit; driver: this process (the front-end standing in for the guest).`);
    console.log(`kicks/calls: notifications per unit, driver to daemon (kicks) and daemon to driver (calls), as EVENT_IDX let through.`);
    console.log(`${names[0]} speed: ${names[0]} units/s divided by that daemon's (>1: ours is faster).`);
    console.log(o.markdown ? formatMarkdown(rows, workloads, names) : formatTable(rows, workloads, names));
    console.log('\n' + formatMemory(rows, names, startRss));
    for (const i of inits) if (i.max_pages * 4096 < 1 << 20 || i.max_write < 1 << 20) console.log(`note: ${i.name} negotiated max_write ${i.max_write}, max_pages ${i.max_pages}: its "1 MiB" requests are ${mib(Math.min(i.max_write, i.max_pages * 4096))}`);
    if (noisy > 0.3) console.log(`note: other processes kept up to ${noisy.toFixed(2)} cores busy during some cells (see othersCores in the JSON): those numbers are noisy.`);
    for (const f of failures) console.log(`note: ${f.split('\n')[0]}`);
    const file = writeJson(
      {
        kind: 'virtiofsd-bench/host',
        date: new Date().toISOString(),
        host: hostInfo(),
        tree: treeInfo(path.dirname(benchDir)),
        options: o,
        daemons: specs.map((s: DaemonSpec) => ({ name: s.name, description: s.description, command: s.command, started: names.includes(s.name) })),
        inits,
        workloads: workloads.map((w) => ({ id: w.id, title: w.title, unit: w.unit, requests: w.requests, depths: depthsOf(w) })),
        dataset: { bigFileBytes: ds.bigFileBytes, bigFile: 'pre-written (not sparse), read once before the run', metaFiles: ds.metaNames.length, dirEntries: ds.dirEntries },
        summary: rows,
        cells,
        failures,
      },
      o.out,
      benchDir,
    );
    console.log(`\nresults: ${path.relative(process.cwd(), file)}`);
    if (o.cpuProfDir !== undefined) {
      const profiles = fs.readdirSync(o.cpuProfDir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(o.cpuProfDir!, f));
      const newest = profiles.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
      if (newest === undefined) console.log(`no .cpuprofile in ${o.cpuProfDir}: did our daemon exit cleanly?`);
      else console.log(`\nour daemon's profile (${newest}):\n${summarizeProfileFile(newest, 25)}`);
    }
    return cells.some((c) => c.error !== undefined) ? 1 : 0;
  } finally {
    await cleanup();
    removeDataset(ds);
  }
}

/** The tables of a host run's JSON file, as at the end of that run. */
function printReport(file: string, markdown: boolean): number {
  const j = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    kind: string;
    options: BenchOptions;
    workloads: Workload[];
    daemons: { name: string; started: boolean; description: string }[];
    summary: ReturnType<typeof summarizeCells>;
  };
  if (j.kind !== 'virtiofsd-bench/host') throw new Error(`${file}: not a host run (${j.kind})`);
  const names = j.daemons.filter((d) => d.started).map((d) => d.name);
  console.log(`${file}: ${j.options.rounds} round(s) of ${j.options.durationMs} ms per cell`);
  for (const d of j.daemons) console.log(`  ${d.name}: ${d.description}`);
  console.log(markdown ? formatMarkdown(j.summary, j.workloads, names) : formatTable(j.summary, j.workloads, names));
  return 0;
}

/** Pin every thread of this process to `cpu` (threads started later inherit it). */
function pinSelf(cpu: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

function rotate<T>(xs: T[], k: number): T[] {
  return [...xs.slice(k), ...xs.slice(0, k)];
}

process.exitCode = await main(process.argv.slice(2)).catch((e: Error) => {
  if (e instanceof UsageError) {
    process.stderr.write(`bench: ${e.message}\n`);
    return 2;
  }
  process.stderr.write(`bench: ${e.stack ?? e.message}\n`);
  return 1;
});
