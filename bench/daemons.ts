/**
 * The daemons a benchmark compares: ours, the Rust virtiofsd and the C virtiofsd when
 * scripts/fetch-peers.sh has fetched them, and any `--peer NAME=COMMAND`. Each is started as a child
 * process on the shared directory, then driven by the in-repo front-end (src/frontend) exactly as
 * QEMU would, with a FUSE session on top (FuseClient).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VhostUserFrontend } from '../src/frontend/device.js';
import { VIRTIO_RING_F_INDIRECT_DESC } from '../protocol/vhost-user.js';
import { FuseClient, type FuseTransport } from '../src/frontend/fuse-client.js';
import type { FuseInitOut } from '../protocol/fuse-structs.js';
import { ourBinary, spawnDaemon, type DaemonProcess } from '../test/helpers/daemon-process.js';
import { peerBinary } from '../test/helpers/peers.js';
import { UsageError } from './options.js';
import { anonRssBytes, cpuSeconds, peakRssBytes, processTree, resetPeakRss } from './proc-stats.js';

/** How to start one daemon: `command` has `{socket}` and `{dir}` placeholders. */
export interface DaemonSpec {
  /** Short name used in tables and --only. */
  name: string;
  command: string[];
  /** One line saying what this is (version, flags), for the report. */
  description: string;
}

export interface SpecOptions {
  /** --thread-pool-size of ours and the Rust virtiofsd. */
  threads: number;
  /** More Rust virtiofsd daemons at these pool sizes (named rustN), beside the one at `threads`. */
  rustPools?: number[];
  /** --thread-pool-size of the C virtiofsd (0: requests are served on its queue thread). */
  cThreads: number;
  /** Extra node flags for our daemon (e.g. --cpu-prof). */
  ourNodeArgs?: string[];
  /** `NAME=COMMAND` strings from --peer. */
  peers?: string[];
  /** Run every daemon under `taskset -c CPU`. */
  pinCpu?: number;
}

/**
 * Ours, then the peers that are installed, then --peer ones. The flags give every daemon the same
 * caching policy (auto) and thread pool size, and no sandbox that would change its process shape.
 */
export function daemonSpecs(o: SpecOptions): { specs: DaemonSpec[]; missing: string[] } {
  const specs: DaemonSpec[] = [];
  const missing: string[] = [];
  specs.push({
    name: 'ts',
    // As the Rust daemon below: no sandbox (one process shape for /proc accounting), its default
    // seccomp filter on (the Rust virtiofsd applies --seccomp=kill without a sandbox too).
    command: [process.execPath, ...(o.ourNodeArgs ?? []), ourBinary, '--socket-path', '{socket}', '--shared-dir', '{dir}', '--sandbox', 'none', '--seccomp', 'kill', '--cache', 'auto', '--thread-pool-size', String(o.threads), '--log-level', 'error'],
    description: `virtiofsd-ts (this tree, Node ${process.version}) --sandbox none --seccomp kill --cache auto --thread-pool-size ${o.threads}`,
  });
  const rust = peerBinary('virtiofsd-rust');
  if (rust !== null) {
    // The target is the Rust daemon at its best pool size, which depends on the workload: with a pool
    // (rust) and, by default, without one (rust0: each request served on its queue thread).
    const pools = [o.threads, ...(o.rustPools ?? []).filter((p) => p !== o.threads)];
    pools.forEach((pool, i) => {
      specs.push({
        name: i === 0 ? 'rust' : `rust${pool}`,
        command: [rust, '--socket-path', '{socket}', '--shared-dir', '{dir}', '--sandbox=none', '--cache=auto', `--thread-pool-size=${pool}`, '--log-level=error'],
        description: `Rust virtiofsd 1.13 --sandbox=none --cache=auto --thread-pool-size=${pool}`,
      });
    });
  } else missing.push('virtiofsd-rust (run: bash scripts/fetch-peers.sh)');
  const c = peerBinary('virtiofsd-c');
  if (c !== null) {
    specs.push({
      // chroot, not the default namespace sandbox: no pid/mount namespaces, one process, like the
      // others. No thread pool (its default): with one, its glib pool threads call
      // sched_getaffinity, which its seccomp filter does not allow, and the kernel kills it
      // (SIGSYS, audit syscall=204) as soon as two requests are in flight.
      name: 'c',
      command: [c, '--socket-path={socket}', '-o', 'source={dir}', '-o', 'cache=auto', '-o', 'sandbox=chroot', `--thread-pool-size=${o.cThreads}`, '-o', 'log_level=err'],
      description: `C virtiofsd (QEMU 7.2) -o cache=auto -o sandbox=chroot --thread-pool-size=${o.cThreads}`,
    });
  } else missing.push('virtiofsd-c (run: bash scripts/fetch-peers.sh)');
  for (const p of o.peers ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`--peer wants NAME=COMMAND, got ${JSON.stringify(p)}`);
    const name = p.slice(0, eq);
    const cmd = p.slice(eq + 1);
    if (!cmd.includes('{socket}') || !cmd.includes('{dir}')) throw new UsageError(`--peer ${name}: the command needs {socket} and {dir} placeholders`);
    // Through sh so the command may quote; `exec` keeps the daemon's pid the one we watch.
    specs.push({ name, command: ['/bin/sh', '-c', `exec ${cmd}`], description: cmd });
  }
  if (o.pinCpu !== undefined) {
    for (const s of specs) {
      s.command = ['taskset', '-c', String(o.pinCpu), ...s.command];
      s.description += ` (pinned to CPU ${o.pinCpu})`;
    }
  }
  return { specs, missing };
}

/** Keep only the daemons named in `only` (ts, rust, c, or a --peer name). */
export function selectSpecs(specs: DaemonSpec[], only: string[] | undefined): DaemonSpec[] {
  if (only === undefined || only.length === 0) return specs;
  const alias = (n: string) => (n === 'ours' || n === 'virtiofsd-ts' ? 'ts' : n.replace(/^virtiofsd-/, ''));
  const want = new Set(only.map(alias));
  const unknown = [...want].filter((n) => !specs.some((s) => s.name === n));
  if (unknown.length > 0) throw new UsageError(`--only: no daemon named ${unknown.join(', ')} (have ${specs.map((s) => s.name).join(', ')})`);
  return specs.filter((s) => want.has(s.name));
}

/**
 * A transport that lays requests out the way the Linux virtio-fs driver does: with indirect
 * descriptors when negotiated, and (with `pages`) data split into 4 KiB scatter-gather entries, one
 * descriptor per page, as the guest's page-cache pages would be.
 */
export class GuestLikeTransport implements FuseTransport {
  constructor(
    private readonly dev: VhostUserFrontend,
    private readonly pages: boolean,
    private readonly indirect: boolean,
  ) {}

  request(queueIndex: number, readable: Uint8Array | Uint8Array[], writableLen: number): Promise<{ usedLen: number; data: Uint8Array }> {
    let segs = readable instanceof Uint8Array ? [readable] : readable;
    let writableLengths: number[] | undefined;
    if (this.pages) {
      if (segs.some((s) => s.byteLength > 4096)) segs = segs.flatMap(splitPages);
      // fuse_out_header in one entry, the reply argument or data pages after it.
      if (writableLen > 16) writableLengths = [16, ...pageLengths(writableLen - 16)];
    }
    const n = segs.length + (writableLen > 0 ? (writableLengths?.length ?? 1) : 0);
    return this.dev.request(queueIndex, segs, writableLen, { indirect: this.indirect && n > 1, writableLengths });
  }
}

/** n bytes as 4 KiB entries, the last one shorter. */
function pageLengths(n: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < n; o += 4096) out.push(Math.min(4096, n - o));
  return out;
}

function splitPages(s: Uint8Array): Uint8Array[] {
  if (s.byteLength <= 4096) return [s];
  const out: Uint8Array[] = [];
  for (let o = 0; o < s.byteLength; o += 4096) out.push(s.subarray(o, Math.min(o + 4096, s.byteLength)));
  return out;
}

export interface SessionOptions {
  sharedDir: string;
  queueSize: number;
  /** Bytes of front-end guest memory (one region). */
  memoryBytes: number;
  pages: boolean;
}

/** A running daemon with a connected front-end and an initialised FUSE session. */
export class DaemonSession {
  /** Pids whose CPU and memory count as the daemon's (refreshed by refreshTree()). */
  pids: number[];
  broken: string | null = null;

  private constructor(
    readonly spec: DaemonSpec,
    readonly proc: DaemonProcess,
    readonly dev: VhostUserFrontend,
    readonly fuse: FuseClient,
    readonly init: FuseInitOut,
  ) {
    this.pids = processTree(proc.proc.pid!);
  }

  static async start(spec: DaemonSpec, o: SessionOptions): Promise<DaemonSession> {
    const socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `vfs-bench-${spec.name}-`)), 'vhost.sock');
    const proc = await spawnDaemon({ sharedDir: o.sharedDir, socketPath, command: spec.command });
    let dev: VhostUserFrontend | undefined;
    try {
      // The watchdog stays off: every completion must come through a real call notification,
      // and a timer re-kicking the daemon would blur the numbers. A stall is caught by the runner.
      dev = await VhostUserFrontend.connect({ socketPath, connectTimeoutMs: 10_000, queues: 2, queueSize: o.queueSize, memory: { regionSize: o.memoryBytes }, watchdogMs: 0 });
      const indirect = dev.hasFeature(VIRTIO_RING_F_INDIRECT_DESC);
      const fuse = new FuseClient(new GuestLikeTransport(dev, o.pages, indirect));
      const init = await fuse.init();
      return new DaemonSession(spec, proc, dev, fuse, init);
    } catch (e) {
      dev?.close();
      await proc.stop('SIGKILL');
      throw new Error(`${spec.name}: cannot start a session: ${(e as Error).message}\n--- log ---\n${proc.log().slice(-2000)}`);
    }
  }

  /** Largest READ/WRITE payload this daemon accepts (max_write, and max_pages for reads). */
  get maxIo(): number {
    const pages = this.init.max_pages > 0 ? this.init.max_pages * 4096 : 32 * 4096;
    return Math.min(this.init.max_write || 4096, pages);
  }

  refreshTree(): void {
    this.pids = processTree(this.proc.proc.pid!);
  }

  cpuSeconds(): number {
    return cpuSeconds(this.pids);
  }

  peakRss(): number {
    return peakRssBytes(this.pids);
  }

  anonRss(): number {
    return anonRssBytes(this.pids);
  }

  resetPeakRss(): boolean {
    return resetPeakRss(this.pids);
  }

  private closing: Promise<number | string> | undefined;

  /** Disconnect (the daemons exit when the front-end goes away) and wait for the exit. Idempotent. */
  close(): Promise<number | string> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<number | string> {
    this.dev.close();
    const exited = await Promise.race([this.proc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000))]);
    if (exited === 'timeout') return this.proc.stop('SIGTERM');
    fs.rmSync(path.dirname(this.proc.socketPath), { recursive: true, force: true });
    return exited;
  }
}
