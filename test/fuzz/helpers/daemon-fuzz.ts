/**
 * The fuzz context for whole daemons: our back-end in this process on a real socket (startTestDaemon),
 * with the echo device or the virtio-fs device over a FUSE server, and the checks every case ends
 * with: the connection is torn down, the fd table is back to its baseline, and a fresh front-end can
 * still handshake and get an answer.
 */
import { VhostUserFrontend } from '../../../src/frontend/device.js';
import { FuseClient } from '../../../src/frontend/fuse-client.js';
import { FuseServer } from '../../../src/fuse/server.js';
import type { FileSystem } from '../../../src/fuse/filesystem.js';
import { VirtioFsDevice } from '../../../src/daemon/virtio-fs-device.js';
import type { Chain } from '../../../src/virtqueue/split-queue.js';
import { configureLog, type LogLevel } from '../../../src/log.js';
import { EchoDevice, startTestDaemon, type TestDaemon } from '../../helpers/daemon.js';
import { newFds, openFds } from './health.js';
import { waitFor, within } from './fuzz.js';

export type DeviceKind = 'echo' | 'virtio-fs';

export interface FuzzDaemon {
  kind: DeviceKind;
  d: TestDaemon;
  /** Chains the device was handed (round trips included). */
  device: { readonly handled: number };
  /** Set if the daemon's accept loop ever failed. */
  failure(): Error | undefined;
  /** The fd table once the daemon is idle (after one warm-up connection). */
  baseline: Map<number, string>;
}

/**
 * Start a persistent daemon with `kind` (echo: `echo` or a plain EchoDevice; virtio-fs: a FuseServer
 * over `fs`), quiet, warmed up.
 */
export async function startFuzzDaemon(kind: DeviceKind, opts: { fs?: () => FileSystem; echo?: EchoDevice } = {}): Promise<FuzzDaemon> {
  const counter = { handled: 0 };
  const device = kind === 'echo' ? opts.echo ?? new EchoDevice(3) : new CountingVirtioFs(new FuseServer(opts.fs!()), counter);
  const d = startTestDaemon(device);
  // Thousands of rejected requests are expected: their log lines are noise here.
  configureLog({ level: (process.env.VFS_FUZZ_LOG_LEVEL as LogLevel | undefined) ?? 'off' });
  let failure: Error | undefined;
  d.running.catch((e: Error) => (failure = e));
  const fd: FuzzDaemon = { kind, d, device: device instanceof EchoDevice ? device : counter, failure: () => failure, baseline: new Map() };
  await roundTrip(fd); // libuv and the addon open some fds lazily: warm up before the baseline
  fd.baseline = openFds();
  return fd;
}

/** The virtio-fs device, counting the chains it is handed. */
class CountingVirtioFs extends VirtioFsDevice {
  constructor(server: FuseServer, private readonly counter: { handled: number }) {
    super(server, { requestQueues: 2, tag: 'fuzz' });
  }
  override handle(queue: number, chain: Chain): Promise<number> {
    this.counter.handled++;
    return super.handle(queue, chain);
  }
}

/** Wait until the daemon has torn the last connection down and is back at accept(). */
export async function settle(f: FuzzDaemon, timeoutMs = 15_000): Promise<void> {
  await waitFor(() => f.d.daemon.backend === undefined, timeoutMs, 'the daemon to tear the connection down');
  // startTestDaemon keeps every back-end it saw: drop them, or heap checks measure that list.
  f.d.backends.length = 0;
}

/** Throw if fds opened since the baseline are still open. */
export function checkNoFdLeak(f: FuzzDaemon, what: string): void {
  const leaked = newFds(f.baseline);
  if (leaked.length > 0) throw new Error(`fd leak after ${what}: ${leaked.join(', ')}`);
}

/**
 * A fresh front-end handshakes (QEMU 10's sequence), sends one request on queue 1 and checks the
 * answer (echo: the bytes back plus the queue number; virtio-fs: a FUSE_INIT reply), then leaves.
 */
export async function roundTrip(f: FuzzDaemon): Promise<void> {
  const run = async () => {
    const fe = await VhostUserFrontend.connect({ socketPath: f.d.socketPath, sequence: 'qemu10', watchdogMs: 0, queues: 2, queueSize: 8, memory: { regions: 1, regionSize: 1 << 20 } });
    try {
      if (f.kind === 'echo') {
        const c = await fe.request(1, Uint8Array.from([1, 2, 3]), 16);
        if (c.usedLen !== 4 || c.data[0] !== 1 || c.data[3] !== 1) throw new Error(`echo round trip: got ${c.usedLen} bytes`);
      } else {
        const out = await new FuseClient(fe).init();
        if (out.major !== 7) throw new Error(`FUSE_INIT answered major ${out.major}`);
      }
    } finally {
      fe.close();
    }
    await settle(f);
  };
  await within(run(), 10_000, 'a fresh front-end handshake and round trip');
}
