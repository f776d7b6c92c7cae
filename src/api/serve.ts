/**
 * serve(): the library entry point. Give it a FileSystem (PassthroughFs, MemoryFileSystem, or your
 * own class extending NullFileSystem) and a socket; it runs the same FUSE server, virtio-fs device and
 * vhost-user daemon the command does, in this process, until stop() or (without `persistent`) until
 * the front-end disconnects.
 */
import { Daemon } from '../daemon/daemon.js';
import { VirtioFsDevice } from '../daemon/virtio-fs-device.js';
import type { FileSystem } from '../fuse/filesystem.js';
import { FuseServer, type FuseServerOptions } from '../fuse/server.js';
import { configureLog, type LogLevel, type LogSink } from '../log.js';
import { attachMetrics, type FuseMetrics, type MetricsEndpoint } from '../metrics/index.js';
import { isLoopback } from '../metrics/http.js';
import type { MigrationOptions } from '../migration/migratable.js';
import { MAX_POLL_US } from '../vhost-user/vring.js';

export interface ServeOptions {
  /** Listen on this unix socket path (a stale socket file is replaced). Exactly one of socketPath and fd. */
  socketPath?: string;
  /** An already listening unix stream socket (as libvirt passes it). The daemon takes ownership. */
  fd?: number;
  /** Group owning the socket file (mode 0660 instead of 0600). */
  socketGroup?: string;
  /** What the guest sees. The daemon calls destroy() on it when a front-end resets or goes. */
  filesystem: FileSystem;
  /** Tag reported in the device config space (QEMU's own `tag=` normally wins). */
  tag?: string;
  /** Serve one front-end after another until stop(); default false: done resolves after the first disconnects. */
  persistent?: boolean;
  /** Most request queues a front-end may use. Default 16. */
  requestQueues?: number;
  /**
   * Busy-poll window of the rings after activity, µs (the CLI's --poll-us; default 0: kicks only). The
   * pool side of --poll-us is the file system's: PassthroughOptions.poolSpinUs.
   */
  pollUs?: number;
  /** Process-wide log settings (the log is global; unset leaves it as configured: info, text, stderr). */
  logLevel?: LogLevel;
  logFormat?: 'text' | 'json';
  logSink?: LogSink;
  /**
   * Metrics: true counts requests in memory (read them with `metrics.render()`); an address also
   * serves them on http://HOST:PORT/metrics (port 0 picks one; see `metricsUrl`). A non-loopback host
   * needs `allowRemote`.
   */
  metrics?: boolean | { host?: string; port: number; allowRemote?: boolean };
  /** FUSE limits (max_write and friends). */
  fuse?: FuseServerOptions;
  /** Live-migration behaviour, for file systems that can export their state. */
  migration?: MigrationOptions;
}

export interface VirtioFsServer {
  /** The socket path listened on (undefined with `fd`). */
  readonly socketPath: string | undefined;
  readonly filesystem: FileSystem;
  /** The FUSE server in use (session state, the underlying handle()). */
  readonly fuse: FuseServer;
  /** Request counters and gauges, when `metrics` was asked for. */
  readonly metrics: FuseMetrics | undefined;
  /** http://HOST:PORT/metrics when an address was given. */
  readonly metricsUrl: string | undefined;
  /** True while a front-end (QEMU) is connected. */
  readonly connected: boolean;
  /** Resolves when serving ends: stop(), or the front-end going away without `persistent`. Rejects on a listen failure. */
  readonly done: Promise<void>;
  /** Drop the current front-end (in-flight requests complete), stop listening, close the metrics endpoint. */
  stop(): Promise<void>;
}

/** Stable `code`s of the errors serve() rejects with. */
export class ServeError extends Error {
  constructor(readonly code: 'ERR_SERVE_OPTIONS' | 'ERR_METRICS_LISTEN', message: string) {
    super(message);
    this.name = 'ServeError';
  }
}

/** Listen and start serving; resolves once the socket is listening (QEMU may connect from then on). */
export async function serve(o: ServeOptions): Promise<VirtioFsServer> {
  if ((o.socketPath === undefined) === (o.fd === undefined)) throw new ServeError('ERR_SERVE_OPTIONS', 'serve(): give exactly one of socketPath and fd');
  if (o.filesystem === undefined || typeof o.filesystem.lookup !== 'function') throw new ServeError('ERR_SERVE_OPTIONS', 'serve(): filesystem must implement FileSystem (extend NullFileSystem)');
  const requestQueues = o.requestQueues ?? 16;
  if (!Number.isInteger(requestQueues) || requestQueues < 1 || requestQueues > 254) throw new ServeError('ERR_SERVE_OPTIONS', `serve(): requestQueues ${requestQueues} is not 1..254`);
  if (o.tag !== undefined && (Buffer.byteLength(o.tag) < 1 || Buffer.byteLength(o.tag) > 36)) throw new ServeError('ERR_SERVE_OPTIONS', 'serve(): tag must be 1 to 36 bytes');
  const m = typeof o.metrics === 'object' ? o.metrics : undefined;
  const mHost = m?.host ?? '127.0.0.1';
  if (m !== undefined && !m.allowRemote && !isLoopback(mHost)) throw new ServeError('ERR_SERVE_OPTIONS', `serve(): metrics host ${mHost} is not loopback; set allowRemote to serve unauthenticated metrics there`);
  if (o.logLevel !== undefined || o.logFormat !== undefined || o.logSink !== undefined) configureLog({ level: o.logLevel, format: o.logFormat, sink: o.logSink });

  const fuse = new FuseServer(o.filesystem, o.fuse);
  const pollUs = o.pollUs ?? 0;
  if (!Number.isInteger(pollUs) || pollUs < 0 || pollUs > MAX_POLL_US) throw new ServeError('ERR_SERVE_OPTIONS', `serve(): pollUs ${pollUs} is not 0..${MAX_POLL_US}`);
  const device = new VirtioFsDevice(fuse, { requestQueues, tag: o.tag, migration: o.migration, pollUs });
  const daemon = new Daemon({ socketPath: o.socketPath, fd: o.fd, socketGroup: o.socketGroup, persistent: o.persistent ?? false }, device);
  let metrics: FuseMetrics | undefined;
  let endpoint: MetricsEndpoint | undefined;
  if (o.metrics !== undefined && o.metrics !== false) {
    try {
      ({ metrics, endpoint } = await attachMetrics(fuse, daemon, m !== undefined ? { host: mHost, port: m.port } : undefined));
    } catch (e) {
      await daemon.stop();
      throw new ServeError('ERR_METRICS_LISTEN', `metrics on ${mHost}:${m?.port}: ${(e as Error).message}`);
    }
  }
  const done = daemon.run().finally(() => endpoint?.close());
  return {
    socketPath: o.socketPath,
    filesystem: o.filesystem,
    fuse,
    metrics,
    metricsUrl: endpoint?.url,
    get connected() {
      return daemon.backend !== undefined;
    },
    done,
    async stop() {
      await daemon.stop();
      await done.catch(() => undefined);
    },
  };
}
