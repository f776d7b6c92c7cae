/** Observability: Prometheus metrics for a daemon (one call wires them) and the syslog log sink. */
import type { Daemon } from '../daemon/daemon.js';
import type { FuseServer } from '../fuse/server.js';
import { FuseMetrics } from './fuse-metrics.js';
import { serveMetrics, type MetricsEndpoint } from './http.js';
import { fileSystemStats, instrumentFuseServer, watchConnections } from './instrument.js';

export { FuseMetrics, LATENCY_BUCKETS, type FileSystemStats } from './fuse-metrics.js';
export { isLoopback, serveMetrics, PROMETHEUS_CONTENT_TYPE, type MetricsEndpoint } from './http.js';
export { fileSystemStats, instrumentFuseServer, watchConnections } from './instrument.js';
export { startSyslog, type SyslogSink } from './syslog.js';

/**
 * Instrument `server` and `daemon` and, when `listen` is given, serve /metrics there. Call before
 * daemon.run() so the first connection is counted.
 */
export async function attachMetrics(server: FuseServer, daemon: Daemon, listen?: { host: string; port: number }): Promise<{ metrics: FuseMetrics; endpoint?: MetricsEndpoint }> {
  const metrics = new FuseMetrics();
  metrics.fsStats = fileSystemStats(server.fs);
  instrumentFuseServer(server, metrics);
  watchConnections(daemon, metrics);
  if (listen === undefined) return { metrics };
  const endpoint = await serveMetrics(() => metrics.render(), listen.host, listen.port);
  return { metrics, endpoint };
}
