/**
 * The daemon's metrics, kept in preallocated typed arrays indexed by FUSE opcode and errno so that
 * recording a request allocates nothing, and rendered in the Prometheus text exposition format
 * (version 0.0.4) only when scraped.
 */
import fs from 'node:fs';
import { errnoName } from '../../protocol/errno.js';
import { fuseOpcodeName } from '../../protocol/fuse-opcodes.js';

/** Request latency bucket bounds, seconds: 25 µs (a cached GETATTR) to 10 s (a blocked SETLKW). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Opcodes 1..63 get their own series (FUSE 7.38 ends at FUSE_STATX = 52); others share slot 0. */
const OPCODES = 64;
/** Linux errnos end at 133 (EHWPOISON); anything above shares slot 0. */
const ERRNOS = 160;
const NB = LATENCY_BUCKETS.length + 1;

/** What a file system can report about itself (PassthroughFs.stats() has this shape). */
export interface FileSystemStats {
  inodes: number;
  handles?: number;
}

export class FuseMetrics {
  private readonly requests = new Float64Array(OPCODES);
  private readonly errors = new Float64Array(OPCODES * ERRNOS);
  /** Non-cumulative bucket counts per opcode; the last bucket of each row is +Inf. */
  private readonly buckets = new Float64Array(OPCODES * NB);
  private readonly latencySum = new Float64Array(OPCODES);
  inFlight = 0;
  bytesRead = 0;
  bytesWritten = 0;
  /** 1 while a front-end is connected. */
  connected = 0;
  connectionsTotal = 0;
  /** Inodes and handles the file system holds, asked for at scrape time. */
  fsStats: (() => FileSystemStats | undefined) | undefined;
  private readonly startTime = Date.now() / 1000;

  /** A request began. */
  begin(): void {
    this.inFlight++;
  }

  /**
   * A request ended after `seconds`; `errno` is the positive errno of an error reply (0 for success or
   * no reply); `read`/`written` the data bytes a READ returned or a WRITE accepted.
   */
  end(opcode: number, seconds: number, errno: number, read: number, written: number): void {
    this.inFlight--;
    const op = opcode > 0 && opcode < OPCODES ? opcode : 0;
    this.requests[op]!++;
    if (errno !== 0) this.errors[op * ERRNOS + (errno > 0 && errno < ERRNOS ? errno : 0)]!++;
    this.bytesRead += read;
    this.bytesWritten += written;
    this.latencySum[op]! += seconds;
    let b = 0;
    while (b < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[b]!) b++;
    this.buckets[op * NB + b]!++;
  }

  /** Counter value for one opcode (tests and the README example read it). */
  requestCount(opcode: number): number {
    return this.requests[opcode > 0 && opcode < OPCODES ? opcode : 0]!;
  }

  /** The Prometheus text exposition of every metric. */
  render(): string {
    const out: string[] = [];
    const head = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const opName = (op: number) => (op === 0 ? 'OTHER' : fuseOpcodeName(op));

    head('virtiofsd_fuse_requests_total', 'counter', 'FUSE requests completed, by opcode.');
    for (let op = 0; op < OPCODES; op++) if (this.requests[op]! > 0) out.push(`virtiofsd_fuse_requests_total{opcode="${opName(op)}"} ${this.requests[op]}`);

    head('virtiofsd_fuse_errors_total', 'counter', 'FUSE error replies, by opcode and errno.');
    for (let op = 0; op < OPCODES; op++) {
      for (let e = 0; e < ERRNOS; e++) {
        const n = this.errors[op * ERRNOS + e]!;
        if (n > 0) out.push(`virtiofsd_fuse_errors_total{opcode="${opName(op)}",errno="${e === 0 ? 'OTHER' : errnoName(e)}"} ${n}`);
      }
    }

    head('virtiofsd_fuse_request_duration_seconds', 'histogram', 'Time from a request leaving its virtqueue to its reply being written, by opcode.');
    for (let op = 0; op < OPCODES; op++) {
      if (this.requests[op] === 0) continue;
      const name = opName(op);
      let cum = 0;
      for (let b = 0; b < NB; b++) {
        cum += this.buckets[op * NB + b]!;
        const le = b < LATENCY_BUCKETS.length ? String(LATENCY_BUCKETS[b]) : '+Inf';
        out.push(`virtiofsd_fuse_request_duration_seconds_bucket{opcode="${name}",le="${le}"} ${cum}`);
      }
      out.push(`virtiofsd_fuse_request_duration_seconds_sum{opcode="${name}"} ${this.latencySum[op]}`);
      out.push(`virtiofsd_fuse_request_duration_seconds_count{opcode="${name}"} ${cum}`);
    }

    head('virtiofsd_fuse_requests_in_flight', 'gauge', 'FUSE requests taken off a virtqueue and not yet answered.');
    out.push(`virtiofsd_fuse_requests_in_flight ${this.inFlight}`);
    head('virtiofsd_fuse_read_bytes_total', 'counter', 'File data bytes returned by FUSE_READ.');
    out.push(`virtiofsd_fuse_read_bytes_total ${this.bytesRead}`);
    head('virtiofsd_fuse_written_bytes_total', 'counter', 'File data bytes accepted by FUSE_WRITE.');
    out.push(`virtiofsd_fuse_written_bytes_total ${this.bytesWritten}`);

    let st: FileSystemStats | undefined;
    try {
      st = this.fsStats?.();
    } catch {
      st = undefined;
    }
    if (st !== undefined) {
      head('virtiofsd_inodes', 'gauge', 'Inodes the file system knows (the guest holds a lookup reference to).');
      out.push(`virtiofsd_inodes ${st.inodes}`);
      if (st.handles !== undefined) {
        head('virtiofsd_open_handles', 'gauge', 'Open file and directory handles.');
        out.push(`virtiofsd_open_handles ${st.handles}`);
      }
    }

    head('virtiofsd_frontend_connected', 'gauge', '1 while a vhost-user front-end (QEMU) is connected.');
    out.push(`virtiofsd_frontend_connected ${this.connected}`);
    head('virtiofsd_frontend_connections_total', 'counter', 'vhost-user front-end connections accepted.');
    out.push(`virtiofsd_frontend_connections_total ${this.connectionsTotal}`);

    head('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    let fds = -1;
    try {
      fds = fs.readdirSync('/proc/self/fd').length;
    } catch {
      /* not Linux */
    }
    if (fds >= 0) {
      head('process_open_fds', 'gauge', 'Open file descriptors.');
      out.push(`process_open_fds ${fds}`);
    }
    head('process_start_time_seconds', 'gauge', 'Start time of the process since the epoch, seconds.');
    out.push(`process_start_time_seconds ${this.startTime}`);
    return out.join('\n') + '\n';
  }
}
