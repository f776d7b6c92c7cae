/**
 * The running daemon's side of a live upgrade (--upgrade-socket PATH): wait for a successor, pause
 * the device between two front-end messages, let in-flight requests finish, send it everything the
 * device lives on (protocol/upgrade.ts), and exit 0 once it says it serves. Any failure before that
 * (successor dies, refuses our version, times out) resumes service here as if nothing happened.
 */
import * as native from '../native/index.js';
import { Listener } from '../vhost-user/listener.js';
import { UpgradeChannel } from './channel.js';
import { MAX_FDS_PER_FRAME, UPGRADE_VERSION, UpgradeMsg, type LiveState } from '../../protocol/upgrade.js';
import type { Daemon } from '../daemon/daemon.js';
import type { VirtioDevice } from '../vhost-user/device.js';
import { logger } from '../log.js';

const log = logger('upgrade');
const STEP_TIMEOUT_MS = 30_000;

export class UpgradeServer {
  private readonly listener: Listener;
  private stopped = false;

  constructor(path: string, private readonly daemon: Daemon, private readonly device: VirtioDevice, private readonly onHandedOver: () => void) {
    this.listener = new Listener({ socketPath: path });
    log.info(`waiting for a successor on ${path}`);
    void this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let fd: number;
      try {
        fd = await this.listener.accept();
      } catch {
        return; // closed
      }
      const ch = new UpgradeChannel(fd);
      try {
        if (await this.handOver(ch)) return;
      } catch (e) {
        log.error(`live upgrade failed, still serving: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
      } finally {
        ch.close();
      }
    }
  }

  /** True once the successor serves (this process must exit). */
  private async handOver(ch: UpgradeChannel): Promise<boolean> {
    const hello = await ch.recv(STEP_TIMEOUT_MS);
    if (hello.type !== UpgradeMsg.HELLO) throw Object.assign(new Error(`expected HELLO, got frame ${hello.type}`), { code: 'UPGRADE_PROTOCOL' });
    const h = hello.body as { maxVersion?: unknown; pid?: unknown };
    if (typeof h.maxVersion !== 'number' || h.maxVersion < UPGRADE_VERSION) {
      ch.send(UpgradeMsg.REFUSE, { reason: `this daemon hands over state version ${UPGRADE_VERSION}; the successor reads up to ${String(h.maxVersion)}` });
      throw Object.assign(new Error(`successor (pid ${String(h.pid)}) reads state versions up to ${String(h.maxVersion)}, we send ${UPGRADE_VERSION}`), { code: 'UPGRADE_SUCCESSOR_TOO_OLD' });
    }
    if (this.device.saveState === undefined) {
      ch.send(UpgradeMsg.REFUSE, { reason: 'this file system cannot export its state' });
      throw Object.assign(new Error('the file system cannot export its state'), { code: 'UPGRADE_UNSUPPORTED' });
    }
    log.info(`successor pid ${String(h.pid)} connected: pausing the device`);
    const started = process.hrtime.bigint();
    const b = this.daemon.backend;
    if (b !== undefined && !(await b.suspendForUpgrade())) {
      b.resumeAfterUpgrade();
      throw Object.assign(new Error('requests still in flight; try again'), { code: 'UPGRADE_BUSY' });
    }
    try {
      const fds: number[] = [];
      const listener = fds.push(this.daemon.listenFd) - 1;
      const live = b?.liveState(fds);
      const device = await this.device.saveState();
      const state: LiveState = {
        version: UPGRADE_VERSION,
        fdCount: fds.length,
        listener,
        connection: null,
        backendReq: null,
        features: '0',
        protocolFeatures: '0',
        status: 0,
        owner: false,
        memory: [],
        dirtyLog: null,
        vrings: [],
        ...live,
        device: Buffer.from(device).toString('base64'),
      };
      ch.send(UpgradeMsg.STATE, state);
      for (let i = 0; i < fds.length; i += MAX_FDS_PER_FRAME) {
        const batch = fds.slice(i, i + MAX_FDS_PER_FRAME);
        ch.send(UpgradeMsg.FDS, { count: batch.length }, batch);
      }
      const reply = await ch.recv(STEP_TIMEOUT_MS);
      if (reply.type !== UpgradeMsg.ACK) {
        throw Object.assign(new Error(`successor refused: ${(reply.body as { reason?: string }).reason ?? `frame ${reply.type}`}`), { code: 'UPGRADE_REFUSED' });
      }
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info(`handed over to pid ${String(h.pid)} after a ${ms.toFixed(1)} ms pause (${fds.length} fds); exiting`);
      this.stopped = true;
      this.onHandedOver();
      return true;
    } catch (e) {
      b?.resumeAfterUpgrade();
      throw e;
    }
  }

  close(): void {
    this.stopped = true;
    this.listener.close();
  }
}

/** Keep fds referenced by nobody from leaking in the successor. */
export function closeUnused(fds: number[], used: Set<number>): void {
  fds.forEach((fd, i) => {
    if (!used.has(i)) native.closeQuietly(fd);
  });
}
