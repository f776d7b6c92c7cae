/**
 * The command: parse flags, set up logging and limits, build the filesystem stack (passthrough,
 * optionally read-only), the FUSE server and the virtio-fs device, and run the daemon.
 * Exit codes: 0 after a clean disconnect or SIGTERM/SIGINT, 1 on a runtime failure, 2 on bad usage.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HELP, UsageError, capabilities, parseOptions, type Options } from './options.js';
import { configureLog, logger } from '../log.js';
import { Daemon } from '../daemon/daemon.js';
import { VirtioFsDevice } from '../daemon/virtio-fs-device.js';
import { createFuseServer } from '../daemon/filesystem-stack.js';
import { UpgradeServer } from '../upgrade/handover.js';
import { takeOver } from '../upgrade/takeover.js';
import type { Backend } from '../vhost-user/backend.js';
import { attachMetrics, startSyslog, type MetricsEndpoint } from '../metrics/index.js';
import { SandboxError, enterSandbox, inOwnMountNamespace, reexecInMountNamespace, reexecWithNodeFlags, type HostFds } from '../sandbox/sandbox.js';
import { pinForRemoval, removePath } from '../sandbox/host-paths.js';
import { installSeccomp } from '../sandbox/seccomp.js';

const log = logger('main');

function version(): string {
  const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');
  return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseOptions(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`virtiofsd-ts: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'version':
      process.stdout.write(`virtiofsd-ts ${version()}\n`);
      return 0;
    case 'capabilities':
      process.stdout.write(JSON.stringify(capabilities(), null, 2) + '\n');
      return 0;
  }
  const o = parsed.options;
  const keepFds = o.fd !== undefined ? [o.fd] : [];
  try {
    if (o.sandbox === 'namespace') {
      if (!inOwnMountNamespace()) reexecInMountNamespace(keepFds); // does not return
    } else reexecWithNodeFlags(keepFds); // returns when the flags are there already
  } catch (e) {
    process.stderr.write(`virtiofsd-ts: ${(e as Error).message}\n`);
    return 1;
  }
  return run(o);
}

async function run(o: Options): Promise<number> {
  configureLog({ level: o.logLevel, format: o.logFormat });
  const syslog = o.syslog ? startSyslog() : undefined;
  if (syslog !== undefined) configureLog({ sink: syslog.sink });
  else if (o.syslog) log.warn('--syslog: logger(1) (bsdutils) or /dev/log not found: logging to stderr');
  if (o.uidMap.length > 0 || o.gidMap.length > 0) log.warn('--uid-map/--gid-map are not implemented (no user-namespace sandbox): guest ids are host ids');
  // SIGTERM/SIGINT stop the daemon cleanly (socket and pid file removed), also during start-up.
  let daemon: Daemon | undefined;
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    log.info(`${sig}: finishing in-flight requests and exiting`);
    void daemon?.stop();
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  // Before the socket exists: callers wait for the socket, then read the pid file.
  if (!o.takeOver && o.pidFile !== undefined) writePidFile(o.pidFile);
  const fail = (): number => {
    if (o.pidFile !== undefined && !o.takeOver) removeQuietly(o.pidFile);
    return 1;
  };
  let server;
  let hostFds: HostFds;
  try {
    ({ server, hostFds } = createFuseServer(o));
  } catch (e) {
    log.error(`cannot serve ${o.sharedDir}: ${(e as Error).message}`);
    return fail();
  }
  const device = new VirtioFsDevice(server, { requestQueues: o.requestQueues, tag: o.tag, migration: o.migration, pollUs: o.pollUs });
  let adopted: Backend | undefined;
  let ack: (() => void) | undefined;
  try {
    let listenFd = o.fd;
    if (o.takeOver) {
      const t = await takeOver(o.upgradeSocket!, device);
      listenFd = t.listenFd;
      adopted = t.backend;
      ack = t.ack;
    }
    daemon = new Daemon({ socketPath: o.socketPath, fd: listenFd, socketGroup: o.socketGroup, persistent: o.persistent }, device);
  } catch (e) {
    log.error(`${(e as { code?: string }).code ?? ''} ${(e as Error).message}`.trim());
    return fail();
  }
  ack?.();
  if (signalled) void daemon.stop(); // a signal during start-up: stop as soon as there is something to stop
  if (o.takeOver && o.pidFile !== undefined) writePidFile(o.pidFile); // the predecessor's is ours only now
  if (o.upgradeSocket !== undefined) await listenForSuccessor(o, daemon, device);
  let metricsEndpoint: MetricsEndpoint | undefined;
  /** A start-up failure once the daemon listens: stop it (the socket goes), remove the pid file. */
  const stopAndFail = async (): Promise<number> => {
    await daemon.stop();
    if (o.pidFile !== undefined) removeQuietly(o.pidFile);
    await metricsEndpoint?.close();
    return 1;
  };
  try {
    if (o.metrics !== undefined) metricsEndpoint = (await attachMetrics(server, daemon, o.metrics)).endpoint;
  } catch (e) {
    log.error(`--metrics ${o.metrics?.host}:${o.metrics?.port}: ${(e as Error).message}`);
    return stopAndFail();
  }
  if (metricsEndpoint !== undefined) log.info(`metrics on ${metricsEndpoint.url}`);
  try {
    enterSandbox({ mode: o.sandbox, sharedDir: o.sharedDir, fds: hostFds, fileHandles: o.inodeFileHandles !== 'never', modcaps: o.modcaps });
    installSeccomp(o.seccomp);
    if (o.seccomp !== 'none') log.info(`seccomp filter installed on every thread (denied calls: ${o.seccomp})`);
  } catch (e) {
    log.error(`${(e as SandboxError).code ?? ''} ${(e as Error).message}`.trim());
    return stopAndFail();
  }
  log.info(`serving ${o.sharedDir} on ${o.socketPath ?? `fd ${o.fd}`}${o.persistent ? ' (persistent)' : ''}`);
  try {
    await daemon.run(adopted);
  } finally {
    if (o.pidFile !== undefined) removeQuietly(o.pidFile);
    await metricsEndpoint?.close();
  }
  log.info('exiting');
  syslog?.close();
  return 0;
}

/** Serve --upgrade-socket; a successor of ours waits for the old daemon to let go of the path. */
async function listenForSuccessor(o: Options, daemon: Daemon, device: VirtioFsDevice): Promise<void> {
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      new UpgradeServer(o.upgradeSocket!, daemon, device, () => {
        // The successor has the listener and the guest: leave without touching either.
        process.exit(0);
      });
      return;
    } catch (e) {
      if (!o.takeOver || Date.now() > end) {
        log.error(`--upgrade-socket: ${(e as Error).message}; live upgrade is not available`);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function removeQuietly(p: string): void {
  try {
    removePath(p);
  } catch {
    /* already gone */
  }
}

/** The pid file, written whole (a reader never sees it empty) and pinned for removal at exit. */
function writePidFile(p: string): void {
  const tmp = `${p}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`);
  fs.renameSync(tmp, p);
  pinForRemoval(p);
}
