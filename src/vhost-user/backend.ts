/**
 * The vhost-user back-end protocol state for one front-end connection: one handler per front-end
 * request. Before a handler runs, the request's payload size and fd count are checked against the
 * spec (protocol/vhost-user-requests.ts) and its protocol feature against what was negotiated. A
 * failing handler never takes the daemon down: the front-end gets a failure reply (when it can take
 * one) and the log says what was wrong and how to fix it.
 *
 * REPLY_ACK and PROTOCOL_FEATURES are implemented here, so a device cannot forget them.
 */
import * as native from '../native/index.js';
import * as vu from '../../protocol/vhost-user.js';
import { FrontendReq as R, VhostUserProtocolFeature as PF } from '../../protocol/vhost-user.js';
import { validQueueSize } from '../../protocol/virtio.js';
import { GuestMemory, type RegionDescription } from '../memory/guest-memory.js';
import { DirtyLog } from '../memory/dirty-log.js';
import { onGuestMemoryFault } from '../memory/bus-faults.js';
import { readAllAndClose, writeAllAndClose } from '../migration/pipe.js';
import { Connection, type Message } from './connection.js';
import { Vring } from './vring.js';
import type { VirtioDevice } from './device.js';
import type { LiveState, LiveVring } from '../../protocol/upgrade.js';
import { logger } from '../log.js';

const log = logger('vhost-user');

/** Most memory slots we accept with CONFIGURE_MEM_SLOTS (as libvhost-user and virtiofsd). */
export const MAX_MEM_SLOTS = 509;

/** How long a disconnect or reset waits for in-flight requests before giving up on them. */
const DRAIN_TIMEOUT_MS = 10_000;

const bit = (b: bigint | number): bigint => 1n << BigInt(b);

/** Ring and transport features the back-end itself implements. */
const TRANSPORT_FEATURES = bit(vu.VIRTIO_F_VERSION_1) | bit(vu.VHOST_USER_F_PROTOCOL_FEATURES) | bit(vu.VIRTIO_RING_F_EVENT_IDX) | bit(vu.VIRTIO_RING_F_INDIRECT_DESC) | bit(vu.VHOST_F_LOG_ALL);

const BASE_PROTOCOL_FEATURES = bit(PF.MQ) | bit(PF.LOG_SHMFD) | bit(PF.REPLY_ACK) | bit(PF.BACKEND_REQ) | bit(PF.BACKEND_SEND_FD) | bit(PF.RESET_DEVICE) | bit(PF.CONFIGURE_MEM_SLOTS) | bit(PF.STATUS);

/** Largest device state we accept from a front-end (SET_DEVICE_STATE_FD load). */
const MAX_DEVICE_STATE = 1 << 30;

/** An error whose message is meant for the operator: what is wrong and how to fix it. */
export class BackendError extends Error {
  /**
   * `fatal`: the device cannot work on this connection (e.g. guest RAM not shared). After the reply
   * the connection is dropped, so the front-end sees the device fail instead of a silent hang.
   */
  constructor(readonly code: string, message: string, readonly fatal = false) {
    super(message);
  }
}

type Handler = (m: Message) => Promise<Uint8Array | void> | Uint8Array | void;

export class Backend {
  readonly memory = new GuestMemory(MAX_MEM_SLOTS);
  readonly vrings: Vring[];
  private ackedFeatures = 0n;
  private ackedProtocol = 0n;
  private owner = false;
  private status = 0;
  private backendReqFd = -1;
  /** The dirty log from SET_LOG_BASE; active (memory.logger) while VHOST_F_LOG_ALL is acked. */
  dirtyLog: DirtyLog | undefined;
  /** The device state transfer started by SET_DEVICE_STATE_FD; CHECK_DEVICE_STATE waits for it. */
  private transfer: Promise<void> | undefined;
  readonly conn: Connection;
  private readonly handlers: Partial<Record<R, Handler>>;
  /** Requests seen, in order (names): tests and debugging. */
  readonly seen: string[] = [];

  /** Takes ownership of the connected socket `fd`. `suspended`: read nothing until resumeAfterUpgrade(). */
  constructor(fd: number, readonly device: VirtioDevice, suspended = false) {
    this.vrings = Array.from({ length: device.maxQueues }, (_, i) => new Vring(i, this.memory, (q, c) => device.handle(q, c), () => ({
      eventIdx: (this.ackedFeatures & bit(vu.VIRTIO_RING_F_EVENT_IDX)) !== 0n,
      indirect: (this.ackedFeatures & bit(vu.VIRTIO_RING_F_INDIRECT_DESC)) !== 0n,
    }), device.pollUs ?? 0));
    this.handlers = {
      [R.GET_FEATURES]: () => vu.encodeU64(this.offeredFeatures()),
      [R.SET_FEATURES]: (m) => this.setFeatures(vu.decodeU64(m.payload)),
      [R.GET_PROTOCOL_FEATURES]: () => vu.encodeU64(this.offeredProtocol()),
      [R.SET_PROTOCOL_FEATURES]: (m) => this.setProtocolFeatures(vu.decodeU64(m.payload)),
      [R.SET_OWNER]: () => void (this.owner = true),
      [R.RESET_OWNER]: () => this.resetDevice(),
      [R.RESET_DEVICE]: () => this.resetDevice(),
      [R.GET_QUEUE_NUM]: () => vu.encodeU64(this.device.maxQueues),
      [R.GET_MAX_MEM_SLOTS]: () => vu.encodeU64(MAX_MEM_SLOTS),
      [R.SET_MEM_TABLE]: (m) => this.setMemTable(m),
      [R.ADD_MEM_REG]: (m) => this.addMemReg(m),
      [R.REM_MEM_REG]: (m) => this.remMemReg(m),
      [R.SET_VRING_NUM]: (m) => this.setVringNum(vu.decodeVringState(m.payload)),
      [R.SET_VRING_ADDR]: (m) => this.setVringAddr(vu.decodeVringAddr(m.payload)),
      [R.SET_VRING_BASE]: (m) => this.setVringBase(vu.decodeVringState(m.payload)),
      [R.GET_VRING_BASE]: (m) => this.getVringBase(vu.decodeVringState(m.payload)),
      [R.SET_VRING_KICK]: (m) => this.setVringFd(m, 'kick'),
      [R.SET_VRING_CALL]: (m) => this.setVringFd(m, 'call'),
      [R.SET_VRING_ERR]: (m) => this.setVringFd(m, 'err'),
      [R.SET_VRING_ENABLE]: (m) => this.setVringEnable(vu.decodeVringState(m.payload)),
      [R.SET_BACKEND_REQ_FD]: (m) => this.setBackendReqFd(m),
      [R.GET_STATUS]: () => vu.encodeU64(this.status),
      [R.SET_STATUS]: (m) => this.setStatus(vu.decodeU64(m.payload)),
      [R.GET_CONFIG]: (m) => this.getConfig(m),
      [R.SET_LOG_BASE]: (m) => this.setLogBase(m),
      [R.SET_DEVICE_STATE_FD]: (m) => this.setDeviceStateFd(m),
      [R.CHECK_DEVICE_STATE]: () => this.checkDeviceState(),
      [R.SET_CONFIG]: () => {
        throw new BackendError('VHOST_USER_CONFIG_READ_ONLY', 'the virtio-fs config space is read-only');
      },
    };
    this.conn = new Connection(fd, (m) => this.onMessage(m), suspended);
    // A front-end that shrinks a memory fd after sharing it: the access past the end was rescued
    // (native/bus.c); this connection's memory can no longer be trusted, so it ends here.
    this.unwatchFaults = onGuestMemoryFault((addr) => {
      this.conn.close(new BackendError('MEM_SHRUNK', `guest memory at 0x${addr.toString(16)} is gone (SIGBUS): the front-end shrank a memory fd it shared; dropping the connection`, true));
    });
    void this.conn.done.then(() => this.unwatchFaults());
  }

  private readonly unwatchFaults: () => void;

  offeredFeatures(): bigint {
    return TRANSPORT_FEATURES | this.device.deviceFeatures;
  }

  offeredProtocol(): bigint {
    const migratable = this.device.saveState !== undefined && this.device.loadState !== undefined;
    return BASE_PROTOCOL_FEATURES | (this.device.config() !== undefined ? bit(PF.CONFIG) : 0n) | (migratable ? bit(PF.DEVICE_STATE) : 0n);
  }

  private hasProtocol(f: PF): boolean {
    return (this.ackedProtocol & bit(f)) !== 0n;
  }

  private async onMessage(m: Message): Promise<void> {
    const { request, flags } = m.header;
    const name = vu.frontendReqName(request);
    this.seen.push(name);
    if (log.debugEnabled) log.debug(`request ${name} size=${m.header.size} fds=${m.fds.length}${vu.needsReply(flags) ? ' need_reply' : ''}`);
    let spec: vu.RequestSpec | undefined;
    let reply: Uint8Array | void = undefined;
    let error: Error | undefined;
    try {
      // Look the request up before checking its sizes: a malformed one that has a reply by
      // definition must still get its (failure) reply, or the front-end waits for it forever.
      spec = vu.expectedPayload(request);
      vu.checkRequest(request, m.header.size, m.fds.length);
      if (spec.feature !== undefined && !this.hasProtocol(spec.feature)) {
        throw new BackendError('VHOST_USER_NOT_NEGOTIATED', `${name} needs protocol feature ${vu.protocolFeatureName(spec.feature)}, which was not negotiated`);
      }
      const h = this.handlers[request as R];
      if (h === undefined) throw new BackendError('VHOST_USER_UNSUPPORTED', `${name} is not supported by this back-end`);
      reply = await h(m);
    } catch (e) {
      error = e as Error;
      const code = (e as { code?: string }).code ?? 'ERROR';
      log.error(`${name} failed: ${code}: ${error.message}`);
    } finally {
      for (const fd of m.fds) native.closeQuietly(fd);
    }
    if (this.conn.isClosed) return;
    if (spec !== undefined && vu.hasReplyByDefinition(request, this.ackedProtocol)) {
      const payload = reply instanceof Uint8Array ? reply : errorReply(spec, m);
      this.conn.send(request, vu.headerFlags({ reply: true }), payload);
    } else if (vu.needsReply(flags)) {
      // REPLY_ACK: 0 is success. Sent even if REPLY_ACK was not negotiated: the front-end waits for it.
      this.conn.send(request, vu.headerFlags({ reply: true }), vu.encodeU64(error === undefined ? 0 : 1));
    }
    if (error instanceof BackendError && error.fatal) {
      log.error('dropping the connection: the device cannot work with this front-end configuration');
      this.conn.close(error);
    }
  }

  private setFeatures(f: bigint): void {
    const offered = this.offeredFeatures();
    if ((f & ~offered) !== 0n) {
      throw new BackendError('VHOST_USER_BAD_FEATURES', `front-end acked features 0x${f.toString(16)} that were not offered (offered 0x${offered.toString(16)})`);
    }
    const logging = (f & bit(vu.VHOST_F_LOG_ALL)) !== 0n;
    if (logging !== ((this.ackedFeatures & bit(vu.VHOST_F_LOG_ALL)) !== 0n)) log.info(`dirty page logging ${logging ? 'on' : 'off'}`);
    this.ackedFeatures = f;
    this.memory.logger = logging ? this.dirtyLog : undefined;
    if (logging && this.dirtyLog === undefined) log.warn('VHOST_F_LOG_ALL acked before SET_LOG_BASE: logging starts when the log arrives');
    // Without PROTOCOL_FEATURES, rings are enabled as soon as they start.
    if ((f & bit(vu.VHOST_USER_F_PROTOCOL_FEATURES)) === 0n) for (const v of this.vrings) v.enabled = true;
  }

  private setProtocolFeatures(f: bigint): void {
    const offered = this.offeredProtocol();
    if ((f & ~offered) !== 0n) {
      throw new BackendError('VHOST_USER_BAD_FEATURES', `front-end acked protocol features 0x${f.toString(16)} that were not offered (offered 0x${offered.toString(16)})`);
    }
    this.ackedProtocol = f;
  }

  private vring(index: number, what: string): Vring {
    const v = this.vrings[index];
    if (v === undefined) throw new BackendError('VHOST_USER_BAD_VRING', `${what}: vring index ${index} out of range (the device has ${this.vrings.length} queues)`);
    return v;
  }

  /** Stop taking requests, wait for those in flight (bounded), run fn, resume. */
  private async quiesce<T>(fn: () => T): Promise<T> {
    for (const v of this.vrings) v.paused = true;
    try {
      await this.drainAll();
      return fn();
    } finally {
      for (const v of this.vrings) {
        v.paused = false;
        v.process();
      }
    }
  }

  /**
   * Until `p` settles, end blocking waits (lock waits) now and every 100 ms: a request still queued
   * when the first abort went out (a loaded daemon) starts its wait later, and must not hold the
   * stop either.
   */
  private async whileAborting<T>(p: Promise<T>): Promise<T> {
    this.device.abortBlocking?.();
    const again = setInterval(() => this.device.abortBlocking?.(), 100).unref();
    try {
      return await p;
    } finally {
      clearInterval(again);
    }
  }

  private async drainAll(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), DRAIN_TIMEOUT_MS)));
    const ok = await Promise.race([this.whileAborting(Promise.all(this.vrings.map((v) => v.drain()))).then(() => true), timeout]);
    clearTimeout(timer);
    if (!ok) log.warn(`requests still in flight after ${DRAIN_TIMEOUT_MS} ms; continuing without them`);
    return ok;
  }

  private regionOf(r: vu.MemoryRegion): RegionDescription {
    const n = (v: bigint, what: string): number => {
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BackendError('VHOST_USER_BAD_REGION', `memory region ${what} 0x${v.toString(16)} is beyond 2^53`);
      return Number(v);
    };
    return { guestPhysAddr: n(r.guestPhysAddr, 'guest address'), memorySize: n(r.memorySize, 'size'), userspaceAddr: n(r.userspaceAddr, 'user address'), mmapOffset: n(r.mmapOffset, 'mmap offset') };
  }

  private async setMemTable(m: Message): Promise<void> {
    const regions = vu.decodeMemoryTable(m.payload);
    vu.checkMemTableFdCount(regions.length, m.fds.length);
    const descs = regions.map((r) => this.regionOf(r));
    await this.quiesce(() => {
      this.memory.clear();
      for (const v of this.vrings) v.invalidate();
      descs.forEach((d, i) => this.memory.addRegion(d, take(m, i)));
    });
    log.info(`memory table set: ${descs.length} regions, ${descs.reduce((a, d) => a + d.memorySize, 0) >> 20} MiB`);
  }

  private addMemReg(m: Message): void {
    if (m.fds.length !== 1) throw new BackendError('VHOST_USER_BAD_FD_COUNT', `ADD_MEM_REG needs exactly one fd, got ${m.fds.length}`);
    const d = this.regionOf(vu.decodeSingleMemoryRegion(m.payload));
    const same = this.memory.regions.find((r) => r.guestPhysAddr === d.guestPhysAddr && r.memorySize === d.memorySize && r.userspaceAddr === d.userspaceAddr);
    if (same !== undefined) {
      log.debug(`ADD_MEM_REG of a region we already have at 0x${d.guestPhysAddr.toString(16)}: kept the existing mapping`);
      return;
    }
    this.memory.addRegion(d, take(m, 0));
    log.info(`memory region added: GPA 0x${d.guestPhysAddr.toString(16)} size ${d.memorySize >> 20} MiB (${this.memory.regions.length} regions)`);
    for (const v of this.vrings) v.process();
  }

  private async remMemReg(m: Message): Promise<void> {
    const d = this.regionOf(vu.decodeSingleMemoryRegion(m.payload));
    const removed = await this.quiesce(() => {
      const ok = this.memory.removeRegion(d);
      if (ok) for (const v of this.vrings) v.invalidate();
      return ok;
    });
    if (!removed) throw new BackendError('VHOST_USER_NO_SUCH_REGION', `REM_MEM_REG: no region at GPA 0x${d.guestPhysAddr.toString(16)} of size 0x${d.memorySize.toString(16)}`);
    log.info(`memory region removed: GPA 0x${d.guestPhysAddr.toString(16)} (${this.memory.regions.length} regions)`);
  }

  private setVringNum(s: vu.VringState): void {
    const v = this.vring(s.index, 'SET_VRING_NUM');
    if (!validQueueSize(s.num)) throw new BackendError('VHOST_USER_BAD_QUEUE_SIZE', `queue ${s.index}: size ${s.num} is not a power of two in 1..32768`);
    if (v.started) throw new BackendError('VHOST_USER_RING_RUNNING', `queue ${s.index}: SET_VRING_NUM while the ring runs`);
    v.size = s.num;
    v.invalidate();
  }

  private toGuest(uaddr: bigint, what: string, index: number): number {
    if (this.memory.regions.length === 0) {
      throw new BackendError('VHOST_USER_NO_SHARED_MEMORY',
        `queue ${index}: the front-end set up rings but shared no guest memory. Guest RAM is not shared: start QEMU with ` +
        '-object memory-backend-memfd,id=mem,size=<RAM>,share=on -numa node,memdev=mem (or -machine memory-backend=mem)', true);
    }
    const g = uaddr <= BigInt(Number.MAX_SAFE_INTEGER) ? this.memory.userToGuest(Number(uaddr)) : undefined;
    if (g === undefined) throw new BackendError('VHOST_USER_BAD_RING_ADDR', `queue ${index}: ${what} address 0x${uaddr.toString(16)} is in no shared memory region`);
    return g;
  }

  private async setVringAddr(a: vu.VringAddr): Promise<void> {
    const v = this.vring(a.index, 'SET_VRING_ADDR');
    const addrs = {
      desc: this.toGuest(a.descUserAddr, 'descriptor table', a.index),
      avail: this.toGuest(a.availUserAddr, 'available ring', a.index),
      used: this.toGuest(a.usedUserAddr, 'used ring', a.index),
      ...((a.flags & vu.VHOST_VRING_F_LOG) !== 0 && a.logGuestAddr <= BigInt(Number.MAX_SAFE_INTEGER) ? { log: Number(a.logGuestAddr) } : {}),
    };
    const old = v.addrs;
    if (old !== undefined && old.desc === addrs.desc && old.avail === addrs.avail && old.used === addrs.used) {
      // Only the log settings changed (migration): the running queue stays.
      v.addrs = addrs;
      if (v.queue !== undefined) v.queue.usedGpa = addrs.log ?? addrs.used;
      return;
    }
    if (v.started) await v.drain();
    v.addrs = addrs;
    v.invalidate();
    v.broken = false;
  }

  private async setVringBase(s: vu.VringState): Promise<void> {
    const v = this.vring(s.index, 'SET_VRING_BASE');
    const base = vu.decodeSplitVringBase(s.num);
    if (v.started) throw new BackendError('VHOST_USER_RING_RUNNING', `queue ${s.index}: SET_VRING_BASE while the ring runs`);
    v.base = base;
    v.invalidate();
  }

  private async getVringBase(s: vu.VringState): Promise<Uint8Array> {
    const v = this.vring(s.index, 'GET_VRING_BASE');
    // A lock wait could hold the stop (and a VM stop or migration) forever: it ends with EINTR.
    const base = await this.whileAborting(v.stop());
    log.debug(`queue ${s.index} stopped at avail index ${base}`);
    return vu.encodeVringState({ index: s.index, num: base });
  }

  private setVringFd(m: Message, which: 'kick' | 'call' | 'err'): void {
    const p = vu.decodeVringFdPayload(m.payload);
    vu.checkVringFdCount(p.noFd, m.fds.length, `SET_VRING_${which.toUpperCase()}`);
    const v = this.vring(p.index, `SET_VRING_${which.toUpperCase()}`);
    const fd = p.noFd ? undefined : take(m, 0);
    if (which === 'kick') {
      if ((this.ackedFeatures & bit(vu.VHOST_USER_F_PROTOCOL_FEATURES)) === 0n) v.enabled = true;
      v.setKick(fd);
    } else if (which === 'call') {
      v.setCall(fd);
    } else {
      v.setErr(fd);
    }
  }

  private setVringEnable(s: vu.VringState): void {
    if ((this.ackedFeatures & bit(vu.VHOST_USER_F_PROTOCOL_FEATURES)) === 0n) {
      throw new BackendError('VHOST_USER_NOT_NEGOTIATED', 'SET_VRING_ENABLE needs VHOST_USER_F_PROTOCOL_FEATURES, which was not negotiated');
    }
    const v = this.vring(s.index, 'SET_VRING_ENABLE');
    if (s.num > 1) throw new BackendError('VHOST_USER_BAD_PAYLOAD', `SET_VRING_ENABLE num must be 0 or 1, got ${s.num}`);
    v.enabled = s.num === 1;
    v.process();
  }

  private setLogBase(m: Message): Uint8Array {
    const l = vu.decodeLog(m.payload);
    if (l.mmapSize > BigInt(1 << 30) || l.mmapOffset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BackendError('VHOST_USER_BAD_LOG', `dirty log of 0x${l.mmapSize.toString(16)} bytes at 0x${l.mmapOffset.toString(16)} is not mappable`);
    }
    const next = new DirtyLog(take(m, 0), Number(l.mmapSize), Number(l.mmapOffset));
    this.dirtyLog?.close();
    this.dirtyLog = next;
    if ((this.ackedFeatures & bit(vu.VHOST_F_LOG_ALL)) !== 0n) this.memory.logger = next;
    log.info(`dirty log mapped: ${next.size} bytes (covers ${(next.size * 8 * vu.VHOST_LOG_PAGE) >> 20} MiB of guest memory)`);
    return vu.encodeU64(0);
  }

  private setDeviceStateFd(m: Message): Uint8Array {
    const t = vu.decodeDeviceStateTransfer(m.payload);
    const fd = take(m, 0);
    if (this.vrings.some((v) => v.started)) {
      native.closeQuietly(fd);
      throw new BackendError('VHOST_USER_RING_RUNNING', 'SET_DEVICE_STATE_FD while a ring runs: the device must be stopped (GET_VRING_BASE) first');
    }
    const dev = this.device;
    if (dev.saveState === undefined || dev.loadState === undefined) {
      native.closeQuietly(fd);
      throw new BackendError('VHOST_USER_UNSUPPORTED', 'this device cannot migrate');
    }
    if (t.direction === vu.VhostTransferStateDirection.SAVE) {
      this.transfer = dev.saveState().then(
        (state) => {
          log.info(`migration: sending ${state.length} bytes of device state`);
          return writeAllAndClose(fd, state);
        },
        (e: unknown) => {
          native.closeQuietly(fd);
          throw e;
        },
      );
    } else {
      this.transfer = readAllAndClose(fd, MAX_DEVICE_STATE).then((state) => {
        log.info(`migration: received ${state.length} bytes of device state`);
        return dev.loadState!(state);
      });
    }
    // Keep a failure for CHECK_DEVICE_STATE, not as an unhandled rejection.
    this.transfer.catch(() => undefined);
    return vu.encodeDeviceStateReply({ error: 0, noFd: true });
  }

  private async checkDeviceState(): Promise<Uint8Array> {
    const t = this.transfer;
    this.transfer = undefined;
    if (t === undefined) throw new BackendError('VHOST_USER_NO_TRANSFER', 'CHECK_DEVICE_STATE without a SET_DEVICE_STATE_FD transfer');
    try {
      await t;
    } catch (e) {
      throw new BackendError('VHOST_USER_STATE_TRANSFER_FAILED', `device state transfer failed: ${(e as { code?: string }).code ?? ''} ${(e as Error).message}`);
    }
    log.info('migration: device state transfer complete');
    return vu.encodeU64(0);
  }

  private setBackendReqFd(m: Message): void {
    native.closeQuietly(this.backendReqFd);
    this.backendReqFd = take(m, 0);
  }

  private setStatus(v: bigint): void {
    if (v > 0xffn) throw new BackendError('VHOST_USER_BAD_PAYLOAD', `SET_STATUS ${v} does not fit the 8-bit device status`);
    this.status = Number(v);
  }

  private getConfig(m: Message): Uint8Array {
    const c = vu.decodeConfig(m.payload);
    const space = this.device.config();
    if (space === undefined || c.offset + c.data.length > space.length) {
      throw new BackendError('VHOST_USER_BAD_CONFIG', `GET_CONFIG offset ${c.offset} size ${c.data.length} is outside the ${space?.length ?? 0}-byte config space`);
    }
    return vu.encodeConfig({ offset: c.offset, flags: c.flags, data: space.subarray(c.offset, c.offset + c.data.length) });
  }

  private async resetDevice(): Promise<void> {
    await this.quiesce(() => {
      for (const v of this.vrings) v.reset(true);
    });
    this.ackedFeatures = 0n;
    this.status = 0;
    await this.device.reset();
  }

  // ---- live upgrade ----------------------------------------------------------------------------

  /**
   * Stop reading front-end messages (between two of them), stop taking requests and wait for those in
   * flight. Returns false if some did not finish in time (the hand-over must then not go ahead).
   */
  async suspendForUpgrade(): Promise<boolean> {
    await this.conn.suspend();
    for (const v of this.vrings) v.paused = true;
    return this.drainAll();
  }

  /** A hand-over failed (old daemon), or the successor got the go (new daemon): serve, including what arrived meanwhile. */
  resumeAfterUpgrade(): void {
    for (const v of this.vrings) {
      v.paused = false;
      v.process();
    }
    this.conn.unsuspend();
  }

  /** Everything this connection lives on; fds are appended to `fds` and named by index. Call suspended. */
  liveState(fds: number[]): Omit<LiveState, 'version' | 'fdCount' | 'listener' | 'device'> {
    const idx = (fd: number): number | null => (fd < 0 ? null : fds.push(fd) - 1);
    return {
      connection: idx(this.conn.fd),
      backendReq: idx(this.backendReqFd),
      features: this.ackedFeatures.toString(),
      protocolFeatures: this.ackedProtocol.toString(),
      status: this.status,
      owner: this.owner,
      memory: this.memory.regions.map((r) => ({ guestPhysAddr: r.guestPhysAddr, memorySize: r.memorySize, userspaceAddr: r.userspaceAddr, mmapOffset: r.mmapOffset, fd: idx(r.fd)! })),
      dirtyLog: this.dirtyLog === undefined ? null : { fd: idx(this.dirtyLog.fd)!, size: this.dirtyLog.size, offset: this.dirtyLog.offset },
      vrings: this.vrings.map((v): LiveVring => ({
        index: v.index,
        size: v.size,
        addrs: v.addrs ?? null,
        base: v.queue?.lastAvail ?? v.base,
        enabled: v.enabled,
        started: v.started,
        kick: idx(v.kickFd),
        call: idx(v.callFd),
        err: idx(v.errFd),
      })),
    };
  }

  /**
   * The successor's side: adopt a connection handed over by the previous daemon. The device state
   * must already be loaded. Everything is restored but suspended: nothing is read from the socket or
   * the rings until resumeAfterUpgrade(), which the caller runs only after the old daemon has been
   * told to go — so the two never both serve, and a failed hand-over replays nothing.
   */
  static fromLive(s: LiveState, fds: number[], device: VirtioDevice): Backend {
    const fd = (i: number | null): number | undefined => (i === null ? undefined : fds[i]);
    const b = new Backend(fd(s.connection)!, device, true);
    for (const v of b.vrings) v.paused = true;
    try {
      b.restore(s, fd);
    } catch (e) {
      // Our copies go; the old daemon still has its own and resumes.
      b.conn.release();
      for (const v of b.vrings) v.reset();
      b.memory.clear();
      b.dirtyLog?.close();
      throw e;
    }
    return b;
  }

  private restore(s: LiveState, fd: (i: number | null) => number | undefined): void {
    const b = this as Backend;
    b.ackedFeatures = BigInt(s.features);
    b.ackedProtocol = BigInt(s.protocolFeatures);
    b.status = s.status;
    b.owner = s.owner;
    b.backendReqFd = fd(s.backendReq) ?? -1;
    for (const r of s.memory) b.memory.addRegion({ guestPhysAddr: r.guestPhysAddr, memorySize: r.memorySize, userspaceAddr: r.userspaceAddr, mmapOffset: r.mmapOffset }, fd(r.fd)!);
    if (s.dirtyLog !== null) {
      b.dirtyLog = new DirtyLog(fd(s.dirtyLog.fd)!, s.dirtyLog.size, s.dirtyLog.offset);
      if ((b.ackedFeatures & bit(vu.VHOST_F_LOG_ALL)) !== 0n) b.memory.logger = b.dirtyLog;
    }
    for (const lv of s.vrings) {
      const v = b.vrings[lv.index];
      if (v === undefined) throw new BackendError('UPGRADE_BAD_STATE', `handed-over vring ${lv.index} does not exist on this device`);
      v.size = lv.size;
      if (lv.addrs !== null) v.addrs = lv.addrs;
      v.base = lv.base;
      v.enabled = lv.enabled;
      v.setCall(fd(lv.call));
      v.setErr(fd(lv.err));
      if (lv.started) v.setKick(fd(lv.kick));
    }
  }

  /** The connection is gone: release everything that belonged to it. */
  async teardown(): Promise<void> {
    this.conn.close();
    for (const v of this.vrings) v.paused = true;
    const drained = await this.drainAll();
    for (const v of this.vrings) v.reset();
    if (drained) this.memory.clear();
    else log.warn('guest memory left mapped: requests were still using it');
    native.closeQuietly(this.backendReqFd);
    this.backendReqFd = -1;
    this.memory.logger = undefined;
    this.dirtyLog?.close();
    this.dirtyLog = undefined;
    await this.device.reset();
  }
}

/** A handler takes ownership of fd i of the message; the fds nobody took are closed after it. */
function take(m: Message, i: number): number {
  const fd = m.fds[i];
  if (fd === undefined || fd < 0) throw new BackendError('VHOST_USER_BAD_FD_COUNT', `fd ${i} missing`);
  m.fds[i] = -1;
  return fd;
}

/** The reply a request with a reply-by-definition gets when its handler failed. */
function errorReply(spec: vu.RequestSpec, m: Message): Uint8Array {
  if (spec.reply!.payload === 'config') {
    // The spec's error reply for GET_CONFIG: the header of the request with size 0.
    const off = m.payload.length >= 4 ? new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true) : 0;
    return vu.encodeConfig({ offset: off, flags: 0, data: new Uint8Array(0) });
  }
  if (spec.reply!.payload === 'vring-state') {
    const idx = m.payload.length >= 4 ? new DataView(m.payload.buffer, m.payload.byteOffset).getUint32(0, true) : 0;
    return vu.encodeVringState({ index: idx, num: 0 });
  }
  if (spec.request === R.SET_DEVICE_STATE_FD) return vu.encodeDeviceStateReply({ error: 1, noFd: true });
  // Every other u64 reply a request has by definition (CHECK_DEVICE_STATE, SET_LOG_BASE) reads 0 as success.
  if (spec.reply!.payload === 'u64') return vu.encodeU64(1);
  return new Uint8Array(spec.reply!.size.min);
}
