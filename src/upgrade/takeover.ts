/**
 * The successor's side of a live upgrade (--take-over): connect to the running daemon's upgrade
 * socket, receive the state and fds, load the device state, adopt the vhost-user connection and
 * its rings, and tell the old daemon to go. Errors are clear and leave the old daemon serving.
 */
import * as native from '../native/index.js';
import { UpgradeChannel } from './channel.js';
import { closeUnused } from './handover.js';
import { Backend } from '../vhost-user/backend.js';
import { UPGRADE_VERSION, UpgradeMsg, validateLiveState, type LiveState } from '../../protocol/upgrade.js';
import type { VirtioDevice } from '../vhost-user/device.js';
import { logger } from '../log.js';

const log = logger('upgrade');
const STEP_TIMEOUT_MS = 30_000;

export class TakeOverError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface TakenOver {
  listenFd: number;
  backend: Backend | undefined;
  /** Tell the old daemon to go, then start serving the adopted connection. */
  ack(): void;
}

export async function takeOver(path: string, device: VirtioDevice): Promise<TakenOver> {
  const fd = native.socket(0);
  try {
    native.connect(fd, path);
  } catch (e) {
    native.closeQuietly(fd);
    throw new TakeOverError('UPGRADE_NO_DAEMON', `--take-over: no daemon is listening for a successor at ${path} (${(e as { code?: string }).code ?? (e as Error).message}); start the running daemon with --upgrade-socket ${path}`);
  }
  const ch = new UpgradeChannel(fd);
  let fds: number[] = [];
  try {
    ch.send(UpgradeMsg.HELLO, { maxVersion: UPGRADE_VERSION, pid: process.pid });
    const first = await ch.recv(STEP_TIMEOUT_MS);
    if (first.type === UpgradeMsg.REFUSE) throw new TakeOverError('UPGRADE_REFUSED', `the running daemon refused the hand-over: ${(first.body as { reason?: string }).reason ?? ''}`);
    if (first.type !== UpgradeMsg.STATE) throw new TakeOverError('UPGRADE_PROTOCOL', `expected STATE, got frame ${first.type}`);
    let state: LiveState;
    try {
      state = validateLiveState(first.body);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'UPGRADE_BAD_STATE';
      ch.send(UpgradeMsg.REFUSE, { reason: (e as Error).message });
      throw new TakeOverError(code, `cannot take over: ${(e as Error).message}`);
    }
    while (fds.length < state.fdCount) {
      const f = await ch.recv(STEP_TIMEOUT_MS);
      if (f.type !== UpgradeMsg.FDS) throw new TakeOverError('UPGRADE_PROTOCOL', `expected FDS, got frame ${f.type}`);
      fds.push(...f.fds);
    }
    if (fds.length !== state.fdCount || state.listener === null) {
      ch.send(UpgradeMsg.REFUSE, { reason: `expected ${state.fdCount} fds, got ${fds.length}` });
      throw new TakeOverError('UPGRADE_BAD_STATE', `expected ${state.fdCount} fds, got ${fds.length}`);
    }
    try {
      if (state.device !== null) {
        if (device.loadState === undefined) throw new TakeOverError('UPGRADE_UNSUPPORTED', 'this file system cannot load a state');
        await device.loadState(Buffer.from(state.device, 'base64'));
      }
    } catch (e) {
      ch.send(UpgradeMsg.REFUSE, { reason: `loading the device state failed: ${(e as Error).message}` });
      throw e;
    }
    const used = new Set<number>([state.listener]);
    const mark = (i: number | null) => i !== null && used.add(i);
    [state.connection, state.backendReq, state.dirtyLog?.fd ?? null].forEach(mark);
    state.memory.forEach((r) => mark(r.fd));
    state.vrings.forEach((v) => [v.kick, v.call, v.err].forEach(mark));
    closeUnused(fds, used);
    let backend: Backend | undefined;
    try {
      backend = state.connection !== null ? Backend.fromLive(state, fds, device) : undefined;
    } catch (e) {
      ch.send(UpgradeMsg.REFUSE, { reason: `restoring the connection failed: ${(e as Error).message}` });
      fds = [];
      throw e;
    }
    const listenFd = fds[state.listener]!;
    fds = [];
    log.info(`took over from the running daemon: ${state.memory.length} memory regions, ${state.vrings.filter((v) => v.started).length} running rings`);
    return {
      listenFd,
      backend,
      ack: () => {
        ch.send(UpgradeMsg.ACK, {});
        ch.close();
        backend?.resumeAfterUpgrade();
      },
    };
  } catch (e) {
    fds.forEach((f) => native.closeQuietly(f));
    ch.close();
    throw e;
  }
}
