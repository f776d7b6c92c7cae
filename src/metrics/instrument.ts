/**
 * Where metrics are taken: one decorator around FuseServer.handle. It reads the opcode from the
 * request's fuse_in_header and, after the reply is written, the error from its fuse_out_header (and
 * fuse_write_out.size for a WRITE) straight from the guest buffers, a byte at a time: no decoding, no
 * copies, nothing allocated beyond the promise the wrapper returns.
 */
import { performance } from 'node:perf_hooks';
import { FuseOpcode as Op } from '../../protocol/fuse-opcodes.js';
import type { FuseServer } from '../fuse/server.js';
import type { FileSystem } from '../fuse/filesystem.js';
import type { Daemon } from '../daemon/daemon.js';
import type { FileSystemStats, FuseMetrics } from './fuse-metrics.js';

/** fuse_out_header: len u32, error i32, unique u64. */
const OUT_HEADER = 16;

/** The byte at `off` across `segs`, or -1 past the end. */
function byteAt(segs: readonly Uint8Array[], off: number): number {
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (off < s.byteLength) return s[off]!;
    off -= s.byteLength;
  }
  return -1;
}

/** Little-endian u32 at `off` across `segs` (0 when short). Fast path: all four bytes in one segment. */
function u32At(segs: readonly Uint8Array[], off: number): number {
  const s = segs[0];
  if (s !== undefined && s.byteLength >= off + 4) return (s[off]! | (s[off + 1]! << 8) | (s[off + 2]! << 16) | (s[off + 3]! << 24)) >>> 0;
  let v = 0;
  for (let i = 3; i >= 0; i--) {
    const b = byteAt(segs, off + i);
    if (b < 0) return 0;
    v = v * 256 + b;
  }
  return v;
}

/**
 * Replace `server.handle` with one that records every request in `m`. The server is otherwise
 * untouched (the device, migration and reset keep using it). Idempotent per server.
 */
export function instrumentFuseServer(server: FuseServer, m: FuseMetrics): void {
  const marked = server as FuseServer & { [INSTRUMENTED]?: true };
  if (marked[INSTRUMENTED]) return;
  marked[INSTRUMENTED] = true;
  const inner = server.handle.bind(server);
  server.handle = async (readable, writable, queue) => {
    const opcode = u32At(readable, 4);
    const t0 = performance.now();
    m.begin();
    let used = 0;
    try {
      used = await inner(readable, writable, queue);
      return used;
    } finally {
      let errno = 0;
      let read = 0;
      let written = 0;
      if (used >= OUT_HEADER) {
        const error = u32At(writable, 4) | 0;
        if (error < 0) errno = -error;
        else if (opcode === Op.FUSE_READ) read = used - OUT_HEADER;
        else if (opcode === Op.FUSE_WRITE) written = u32At(writable, OUT_HEADER);
      }
      m.end(opcode, (performance.now() - t0) / 1000, errno, read, written);
    }
  };
}

const INSTRUMENTED = Symbol('virtiofsd-ts.metrics.instrumented');

/** Count connections and keep the connected gauge (chains any onConnection already set). */
export function watchConnections(daemon: Daemon, m: FuseMetrics): void {
  const prev = daemon.onConnection;
  daemon.onConnection = (b) => {
    m.connected = 1;
    m.connectionsTotal++;
    void b.conn.done.then(() => {
      m.connected = 0;
    });
    prev?.(b);
  };
}

/**
 * Inode and handle counts of a file system, if it can tell: `stats()` (PassthroughFs), through
 * decorators that keep the wrapped one as `inner` (ReadonlyFs), or `nodeCount` (MemoryFileSystem).
 */
export function fileSystemStats(fs: FileSystem): (() => FileSystemStats | undefined) | undefined {
  const x = fs as unknown as { stats?: () => FileSystemStats; inner?: FileSystem; nodeCount?: number };
  if (typeof x.stats === 'function') return () => x.stats!();
  if (typeof x.nodeCount === 'number') return () => ({ inodes: x.nodeCount! });
  if (x.inner !== undefined) return fileSystemStats(x.inner);
  return undefined;
}
