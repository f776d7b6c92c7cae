/** Command-line options of `npm run bench` (bench/run.ts). */
import { parseArgs } from 'node:util';

export const USAGE = `usage: npm run bench -- [options]

Runs the same FUSE workloads against our daemon and the peers (Rust and C virtiofsd when
scripts/fetch-peers.sh has fetched them), interleaved, over several rounds, through the in-repo
vhost-user front-end (no VM). Prints a table and writes bench/results/<date>.json.

  --quick               1 round, short periods, depths 1 and 16 (a smoke run, ~1 min)
  --rounds N            rounds (default 3)
  --duration MS         measured period per cell (default 1000)
  --warmup MS           warm-up before each cell (default 200)
  --workloads A,B       lookup,getattr,read4k,seqread,seqwrite,create,readdirplus,mixed (default all)
  --depths 1,16,64      queue depths for every workload (default: each workload's own)
  --only ts,rust,c      run only these daemons (names as in the table; --peer names too)
  --peer NAME=COMMAND   another daemon; COMMAND has {socket} and {dir} placeholders (repeatable)
  --pin                 pin this process (the driver) to CPU 0 and every daemon to CPU 1 (taskset):
                        steadier QD 1 numbers, one core per side
  --threads N           --thread-pool-size of ours and the Rust virtiofsd (default 16, our default)
  --rust-pools N,M      also run the Rust virtiofsd at these --thread-pool-size values, named rustN
                        (default 0: on a local filesystem and few cores, its requests served on the
                        queue thread are often its fastest); each row compares us with the best Rust
                        daemon too. 'none': no extra ones
  --c-threads N         --thread-pool-size of the C virtiofsd (default 0: with a pool, its seccomp
                        filter kills it under load on this glib; see docs/benchmarks.md)
  --sg pages|flat       data in 4 KiB descriptors as a guest does (default pages), or one per buffer
  --queue-size N        virtqueue size (default 1024, QEMU's)
  --big-file MIB        size of the random/sequential read file (default 1024)
  --data DIR            build (or reuse) the dataset in DIR instead of a temporary folder
  --out FILE            JSON results path (default bench/results/<date>.json)
  --report FILE         print the tables of an earlier run's JSON file (no run)
  --markdown            print the results table as Markdown, one column group per daemon
  --cpu-prof DIR        run our daemon under node --cpu-prof, profiles written to DIR
  --guest               guest-level comparison through QEMU (dd and small-file loops in a Linux guest)
  --guest-mib N         guest: MiB written and read by dd (default 256)
  --guest-files N       guest: files in the small-file loop (default 1000)
  -h, --help
`;

export interface BenchOptions {
  rounds: number;
  durationMs: number;
  warmupMs: number;
  workloads?: string[];
  depths?: number[];
  only?: string[];
  peers: string[];
  pin: boolean;
  threads: number;
  /** Extra Rust virtiofsd pool sizes (--rust-pools). */
  rustPools: number[];
  cThreads: number;
  sg: 'pages' | 'flat';
  queueSize: number;
  bigFileMiB: number;
  dataDir?: string;
  out?: string;
  cpuProfDir?: string;
  markdown: boolean;
  report?: string;
  quick: boolean;
  guest: boolean;
  guestMiB: number;
  guestFiles: number;
  help: boolean;
}

/** A bad option value or name: reported as a usage error (exit 2), without a stack. */
export class UsageError extends Error {
  readonly code = 'BENCH_USAGE';
}

const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));

function int(name: string, v: string | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${name} wants an integer >= ${min}, got ${JSON.stringify(v)}`);
  return Number(v);
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      workloads: { type: 'string' },
      depths: { type: 'string' },
      only: { type: 'string' },
      peer: { type: 'string', multiple: true },
      pin: { type: 'boolean' },
      threads: { type: 'string' },
      'c-threads': { type: 'string' },
      'rust-pools': { type: 'string' },
      sg: { type: 'string' },
      'queue-size': { type: 'string' },
      'big-file': { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      'cpu-prof': { type: 'string' },
      markdown: { type: 'boolean' },
      report: { type: 'string' },
      guest: { type: 'boolean' },
      'guest-mib': { type: 'string' },
      'guest-files': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const quick = v.quick === true;
  const sg = v.sg ?? 'pages';
  if (sg !== 'pages' && sg !== 'flat') throw new UsageError(`--sg wants pages or flat, got ${sg}`);
  const depths = list(v.depths)?.map((d) => int('--depths', d, 1, 1));
  return {
    quick,
    rounds: int('--rounds', v.rounds, quick ? 1 : 3, 1),
    durationMs: int('--duration', v.duration, quick ? 300 : 1000, 10),
    warmupMs: int('--warmup', v.warmup, quick ? 100 : 200, 0),
    workloads: list(v.workloads),
    depths: depths ?? (quick ? [1, 16] : undefined),
    only: list(v.only),
    peers: v.peer ?? [],
    pin: v.pin === true,
    threads: int('--threads', v.threads, 16, 0),
    rustPools: v['rust-pools'] === 'none' ? [] : (list(v['rust-pools']) ?? ['0']).map((x) => int('--rust-pools', x, 0, 0)),
    cThreads: int('--c-threads', v['c-threads'], 0, 0),
    sg,
    queueSize: int('--queue-size', v['queue-size'], 1024, 2),
    bigFileMiB: int('--big-file', v['big-file'], 1024, 8),
    dataDir: v.data,
    out: v.out,
    cpuProfDir: v['cpu-prof'],
    markdown: v.markdown === true,
    report: v.report,
    guest: v.guest === true,
    guestMiB: int('--guest-mib', v['guest-mib'], 256, 1),
    guestFiles: int('--guest-files', v['guest-files'], 1000, 1),
    help: v.help === true,
  };
}
