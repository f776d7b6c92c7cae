/**
 * Start our back-end in this process on a fresh unix socket, with any VirtioDevice, so integration
 * tests can drive it with src/frontend over a real socket and look at the back-end's state.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import type { Backend } from '../../src/vhost-user/backend.js';
import type { VirtioDevice } from '../../src/vhost-user/device.js';
import type { Chain } from '../../src/virtqueue/split-queue.js';
import { configureLog, type LogLevel } from '../../src/log.js';

export interface TestDaemon {
  socketPath: string;
  daemon: Daemon;
  /** Back-ends in connection order. */
  backends: Backend[];
  /** The current (last) back-end. */
  backend(): Backend;
  running: Promise<void>;
  stop(): Promise<void>;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function startTestDaemon(device: VirtioDevice, opts: { persistent?: boolean } = {}): TestDaemon {
  configureLog({ level: (process.env.VFS_TEST_LOG_LEVEL as LogLevel | undefined) ?? 'warn' });
  const socketPath = path.join(tmpDir('vfs-itest-'), 'vhost.sock');
  const daemon = new Daemon({ socketPath, persistent: opts.persistent ?? true }, device);
  const backends: Backend[] = [];
  daemon.onConnection = (b) => backends.push(b);
  const running = daemon.run();
  return {
    socketPath,
    daemon,
    backends,
    backend: () => {
      const b = backends[backends.length - 1];
      if (b === undefined) throw new Error('no front-end has connected');
      return b;
    },
    running,
    async stop() {
      await daemon.stop();
      await running;
    },
  };
}

/**
 * A device that answers each chain with its readable bytes followed by one byte holding the queue
 * index, after an optional random delay (so requests really are in flight at once).
 */
export class EchoDevice implements VirtioDevice {
  readonly deviceFeatures = 0n;
  handled = 0;
  resets = 0;
  constructor(readonly maxQueues = 3, private readonly maxDelayMs = 0, private readonly tag?: string, readonly pollUs = 0) {}
  config(): Uint8Array | undefined {
    if (this.tag === undefined) return undefined;
    const c = new Uint8Array(44);
    c.set(Buffer.from(this.tag));
    new DataView(c.buffer).setUint32(36, this.maxQueues - 1, true);
    return c;
  }
  handle(queue: number, chain: Chain): Promise<number> | number {
    const work = (): number => {
      this.handled++;
      const input = Buffer.concat(chain.readable);
      const out = Buffer.concat([input, Buffer.from([queue])]);
      let o = 0;
      for (const w of chain.writable) {
        if (o >= out.length) break;
        const n = Math.min(w.length, out.length - o);
        w.set(out.subarray(o, o + n));
        o += n;
      }
      return o;
    };
    if (this.maxDelayMs === 0) return work();
    return new Promise((r) => setTimeout(() => r(work()), Math.random() * this.maxDelayMs));
  }
  reset(): void {
    this.resets++;
  }
}
