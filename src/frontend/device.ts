/**
 * A vhost-user front-end for a virtio-fs back-end, doing what QEMU 10 does (FACTS.md), without a
 * VM: feature and protocol-feature negotiation, queue and memory-slot queries, the back-end request
 * channel, SET_OWNER, SET_FEATURES, guest memory (ADD_MEM_REG per region, or SET_MEM_TABLE), then
 * per queue SET_VRING_NUM / BASE / ADDR / KICK / CALL and SET_VRING_ENABLE(1).
 *
 * Then `request(queue, readable, writableLen)` moves bytes through a real split ring, which is all
 * a FUSE client needs. Lower-level calls (stopQueue, remMemReg, resetDevice, sendRaw...) serve
 * tests and fuzzing. `close()` releases every fd and mapping this object made.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as native from '../native/index.js';
import * as nativeFs from '../native/fs.js';
import { readAllAndClose, writeAllAndClose } from '../migration/pipe.js';
import {
  FrontendReq,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VIRTIO_F_VERSION_1,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  VHOST_MEMORY_BASELINE_NREGIONS,
  VhostUserProtocolFeature as PF,
  featureBit,
  frontendReqName,
  hasFeature,
} from '../../protocol/vhost-user-constants.js';
import { headerFlags, needsReply } from '../../protocol/vhost-user-header.js';
import { decodeConfig, decodeU64, decodeVringState, encodeConfig, encodeU64, encodeVringAddr, encodeVringFdPayload, encodeVringState } from '../../protocol/vhost-user-payloads.js';
import { decodeDeviceStateReply, encodeDeviceStateTransfer, type DeviceStateReply } from '../../protocol/vhost-user-objects.js';
import { VhostTransferStateDirection, VhostTransferStatePhase } from '../../protocol/vhost-user-constants.js';
import { encodeMemoryTable, encodeSingleMemoryRegion } from '../../protocol/vhost-user-regions.js';
import { hasReplyByDefinition } from '../../protocol/vhost-user-requests.js';
import { FrontendError, VhostUserConnection, type VhostUserMessage } from './connection.js';
import { FrontendGuestMemory, type GuestMemoryOptions } from './guest-memory.js';
import { SplitVirtqueueDriver, type Completion, type RequestOptions } from './virtqueue.js';

/** Protocol features this front-end can use; what QEMU 10 asks of a vhost-user-fs back-end. */
export const FRONTEND_PROTOCOL_FEATURES: bigint = [
  PF.MQ,
  PF.LOG_SHMFD,
  PF.REPLY_ACK,
  PF.BACKEND_REQ,
  PF.BACKEND_SEND_FD,
  PF.CONFIG,
  PF.RESET_DEVICE,
  PF.CONFIGURE_MEM_SLOTS,
  PF.STATUS,
  PF.DEVICE_STATE,
].reduce((m, b) => m | featureBit(b), 0n);

/** Requests QEMU sends with NEED_REPLY (when REPLY_ACK is negotiated). */
const QEMU_ACKED = new Set<number>([FrontendReq.SET_BACKEND_REQ_FD, FrontendReq.SET_MEM_TABLE, FrontendReq.ADD_MEM_REG, FrontendReq.REM_MEM_REG, FrontendReq.SET_VRING_ENABLE]);

export interface FrontendOptions {
  /** Unix socket of the back-end (or pass `connection`). */
  socketPath?: string;
  /** An already connected socket (e.g. one end of a socketpair). */
  connection?: VhostUserConnection;
  connectTimeoutMs?: number;
  /** Queues to set up, hiprio included (virtio-fs: 1 hiprio + N request queues). Default 2. */
  queues?: number;
  /** Queue size. Default 256. */
  queueSize?: number;
  /** Negotiate VIRTIO_RING_F_EVENT_IDX if offered. Default true. */
  eventIdx?: boolean;
  /** Negotiate VIRTIO_RING_F_INDIRECT_DESC if offered. Default true. */
  indirect?: boolean;
  /** Extra virtio feature bits to ask for (masked with what the back-end offers). */
  extraFeatures?: bigint;
  /** Protocol features to accept (masked with the offer). Default FRONTEND_PROTOCOL_FEATURES. */
  protocolFeatures?: bigint;
  /** Guest memory layout. Default one 32 MiB region. */
  memory?: GuestMemoryOptions;
  /** 'add-mem-reg' (QEMU's way once CONFIGURE_MEM_SLOTS is negotiated) or 'mem-table'. */
  memoryMode?: 'add-mem-reg' | 'mem-table';
  /** Set NEED_REPLY on every request that has no reply of its own (REPLY_ACK). Default: as QEMU. */
  ackAll?: boolean;
  /** Guest memory region that holds the rings. Default 0. */
  ringRegion?: number;
  /** Per-queue lost-notification watchdog period (ms); 0 disables. */
  watchdogMs?: number;
  /** Stop after SET_OWNER + SET_FEATURES (no memory, no queues): for tests of the handshake. */
  negotiateOnly?: boolean;
  /**
   * 'simple' (default): negotiate, SET_FEATURES, memory, then per queue NUM/BASE/ADDR/KICK/CALL
   * and ENABLE. 'qemu10': what QEMU 10 does (FACTS.md): at creation GET_FEATURES again,
   * SET_VRING_CALL + SET_VRING_ERR per queue and RESET_DEVICE; at start RESET_DEVICE,
   * SET_FEATURES, memory, per queue NUM/BASE/ADDR/KICK (no new CALL: it must survive the reset),
   * then ENABLE.
   */
  sequence?: 'simple' | 'qemu10';
}

/** A request the back-end sent on its channel (its fds were closed; `fdCount` says how many came). */
export interface BackendRequestRecord {
  request: number;
  flags: number;
  payload: Uint8Array;
  fdCount: number;
}

export class VhostUserFrontend {
  readonly conn: VhostUserConnection;
  readonly memory: FrontendGuestMemory;
  readonly queues: SplitVirtqueueDriver[] = [];
  /** Virtio features the back-end offered / we acknowledged. */
  offeredFeatures = 0n;
  ackedFeatures = 0n;
  /** Protocol features offered / acknowledged (0 when VHOST_USER_F_PROTOCOL_FEATURES is absent). */
  offeredProtocolFeatures = 0n;
  ackedProtocolFeatures = 0n;
  /** GET_QUEUE_NUM and GET_MAX_MEM_SLOTS answers (undefined when not asked). */
  queueNum: number | undefined;
  maxMemSlots: number | undefined;
  /** Requests received on the back-end channel. */
  readonly backendRequests: BackendRequestRecord[] = [];
  /** Names of the requests sent, in order (tests compare sequences). */
  readonly sent: string[] = [];

  private readonly opts: FrontendOptions;
  private backendConn: VhostUserConnection | null = null;
  /** SET_VRING_ERR eventfds ('qemu10' sequence). */
  private errFds: number[] = [];
  private closed = false;

  private constructor(conn: VhostUserConnection, opts: FrontendOptions) {
    this.conn = conn;
    this.opts = opts;
    this.memory = FrontendGuestMemory.create(opts.memory ?? {});
    // A back-end that goes away fails every request in flight instead of leaving it hanging.
    conn.onClose = (error) => {
      for (const q of this.queues) q?.fail(error);
    };
  }

  /** Connect, negotiate and start every queue. On failure everything is released. */
  static async connect(opts: FrontendOptions): Promise<VhostUserFrontend> {
    let conn = opts.connection;
    if (conn === undefined) {
      if (opts.socketPath === undefined) throw new TypeError('socketPath or connection is required');
      conn = await VhostUserConnection.connect(opts.socketPath, { timeoutMs: opts.connectTimeoutMs });
    }
    let dev: VhostUserFrontend | undefined;
    try {
      dev = new VhostUserFrontend(conn, opts);
      await dev.handshake();
      return dev;
    } catch (e) {
      if (dev !== undefined) dev.close();
      else conn.close();
      throw e;
    }
  }

  /** Whether protocol feature `f` was negotiated. */
  hasProtocolFeature(f: PF): boolean {
    return hasFeature(this.ackedProtocolFeatures, f);
  }

  /** Whether virtio feature bit `bit` was negotiated. */
  hasFeature(bit: bigint): boolean {
    return hasFeature(this.ackedFeatures, bit);
  }

  // ---- the handshake -------------------------------------------------------------------------

  private async handshake(): Promise<void> {
    const o = this.opts;
    const qemu = o.sequence === 'qemu10';
    this.offeredFeatures = await this.getU64(FrontendReq.GET_FEATURES);
    if (hasFeature(this.offeredFeatures, VHOST_USER_F_PROTOCOL_FEATURES)) {
      this.offeredProtocolFeatures = await this.getU64(FrontendReq.GET_PROTOCOL_FEATURES);
      this.ackedProtocolFeatures = this.offeredProtocolFeatures & (o.protocolFeatures ?? FRONTEND_PROTOCOL_FEATURES);
      await this.send(FrontendReq.SET_PROTOCOL_FEATURES, encodeU64(this.ackedProtocolFeatures));
    }
    const queues = o.queues ?? 2;
    if (this.hasProtocolFeature(PF.MQ)) {
      this.queueNum = Number(await this.getU64(FrontendReq.GET_QUEUE_NUM));
      if (queues > this.queueNum) throw new FrontendError('FRONTEND_TOO_MANY_QUEUES', `asked for ${queues} queues, the back-end supports ${this.queueNum}`);
    }
    if (this.hasProtocolFeature(PF.CONFIGURE_MEM_SLOTS)) this.maxMemSlots = Number(await this.getU64(FrontendReq.GET_MAX_MEM_SLOTS));
    if (this.hasProtocolFeature(PF.BACKEND_REQ)) await this.openBackendChannel();
    await this.send(FrontendReq.SET_OWNER);
    let want = featureBit(VIRTIO_F_VERSION_1) | featureBit(VHOST_USER_F_PROTOCOL_FEATURES) | (o.extraFeatures ?? 0n);
    if (o.eventIdx ?? true) want |= featureBit(VIRTIO_RING_F_EVENT_IDX);
    if (o.indirect ?? true) want |= featureBit(VIRTIO_RING_F_INDIRECT_DESC);
    this.ackedFeatures = this.offeredFeatures & want;
    const reset = this.hasProtocolFeature(PF.RESET_DEVICE);
    if (qemu) {
      // Device creation: QEMU reads the features again and hands over call/err eventfds before
      // the guest driver exists, then resets; the rings come later without a new SET_VRING_CALL.
      await this.getU64(FrontendReq.GET_FEATURES);
      for (let i = 0; i < queues; i++) {
        const q = this.createQueue(i);
        await this.send(FrontendReq.SET_VRING_CALL, encodeVringFdPayload({ index: i, noFd: false }), [q.callFd]);
        const err = native.eventfd(0, native.EFD_NONBLOCK);
        this.errFds.push(err);
        await this.send(FrontendReq.SET_VRING_ERR, encodeVringFdPayload({ index: i, noFd: false }), [err]);
      }
      if (reset) await this.send(FrontendReq.RESET_DEVICE);
      if (o.negotiateOnly) return;
      // The guest driver starts.
      if (reset) await this.send(FrontendReq.RESET_DEVICE);
    }
    await this.send(FrontendReq.SET_FEATURES, encodeU64(this.ackedFeatures));
    if (o.negotiateOnly) return;
    await this.setupMemory();
    for (let i = 0; i < queues; i++) await this.setupQueue(i, 0, { call: !qemu, keep: qemu });
    if (hasFeature(this.ackedFeatures, VHOST_USER_F_PROTOCOL_FEATURES)) {
      for (let i = 0; i < queues; i++) await this.send(FrontendReq.SET_VRING_ENABLE, encodeVringState({ index: i, num: 1 }));
    }
  }

  private async openBackendChannel(): Promise<void> {
    const [ours, theirs] = native.socketpair(0);
    try {
      this.backendConn = VhostUserConnection.fromFd(ours);
    } catch (e) {
      native.closeQuietly(ours);
      native.closeQuietly(theirs);
      throw e;
    }
    this.backendConn.onRequest = (m) => this.onBackendRequest(m);
    try {
      await this.send(FrontendReq.SET_BACKEND_REQ_FD, undefined, [theirs]);
    } finally {
      native.closeQuietly(theirs);
    }
  }

  private onBackendRequest(m: VhostUserMessage): void {
    m.fds.forEach(native.closeQuietly);
    this.backendRequests.push({ request: m.header.request, flags: m.header.flags, payload: m.payload, fdCount: m.fds.length });
    if (needsReply(m.header.flags) && this.backendConn !== null) {
      this.backendConn.send(m.header.request, headerFlags({ reply: true }), encodeU64(0)).catch(() => undefined);
    }
  }

  /** Map the guest memory into the back-end: ADD_MEM_REG per region, or one SET_MEM_TABLE. */
  async setupMemory(): Promise<void> {
    const mode = this.opts.memoryMode ?? (this.hasProtocolFeature(PF.CONFIGURE_MEM_SLOTS) ? 'add-mem-reg' : 'mem-table');
    if (mode === 'add-mem-reg') {
      if (!this.hasProtocolFeature(PF.CONFIGURE_MEM_SLOTS)) throw new FrontendError('FRONTEND_NO_MEM_SLOTS', 'ADD_MEM_REG needs VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS');
      for (let i = 0; i < this.memory.regions.length; i++) await this.addMemReg(i);
    } else {
      await this.setMemTable();
    }
  }

  /** SET_MEM_TABLE with every region (at most 8). */
  async setMemTable(): Promise<void> {
    const n = this.memory.regions.length;
    if (n > VHOST_MEMORY_BASELINE_NREGIONS) throw new FrontendError('FRONTEND_TOO_MANY_REGIONS', `${n} regions do not fit SET_MEM_TABLE`);
    const regions = this.memory.regions.map((r) => this.memory.describe(r.index));
    await this.send(FrontendReq.SET_MEM_TABLE, encodeMemoryTable(regions), this.memory.regions.map((r) => r.fd));
  }

  /** ADD_MEM_REG for region `i`. */
  async addMemReg(i: number): Promise<void> {
    await this.send(FrontendReq.ADD_MEM_REG, encodeSingleMemoryRegion(this.memory.describe(i)), [this.memory.region(i).fd]);
  }

  /** REM_MEM_REG for region `i` (no fd, as the spec says). */
  async remMemReg(i: number): Promise<void> {
    await this.send(FrontendReq.REM_MEM_REG, encodeSingleMemoryRegion(this.memory.describe(i)));
  }

  /** Create (or re-create) the driver of queue `i` in guest memory; nothing is sent. */
  createQueue(i: number, base = 0): SplitVirtqueueDriver {
    this.queues[i]?.close();
    const q = new SplitVirtqueueDriver(this.memory, {
      index: i,
      size: this.opts.queueSize ?? 256,
      eventIdx: this.hasFeature(VIRTIO_RING_F_EVENT_IDX),
      indirect: this.hasFeature(VIRTIO_RING_F_INDIRECT_DESC),
      base,
      ringRegion: this.opts.ringRegion,
      watchdogMs: this.opts.watchdogMs,
    });
    this.queues[i] = q;
    return q;
  }

  /**
   * Hand queue `i` to the back-end: SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR, SET_VRING_KICK
   * and (unless `call` is false) SET_VRING_CALL, then listen for calls. A new driver is created
   * unless `keep` is set and one exists (QEMU's order, where the call fd went over at creation).
   */
  async setupQueue(i: number, base = 0, opts: { call?: boolean; keep?: boolean } = {}): Promise<SplitVirtqueueDriver> {
    const existing = this.queues[i];
    const q = opts.keep === true && existing !== undefined ? existing : this.createQueue(i, base);
    const a = q.userAddrs;
    await this.send(FrontendReq.SET_VRING_NUM, encodeVringState({ index: i, num: q.size }));
    await this.send(FrontendReq.SET_VRING_BASE, encodeVringState({ index: i, num: base }));
    await this.send(FrontendReq.SET_VRING_ADDR, encodeVringAddr({ index: i, flags: 0, descUserAddr: a.desc, usedUserAddr: a.used, availUserAddr: a.avail, logGuestAddr: 0n }));
    await this.send(FrontendReq.SET_VRING_KICK, encodeVringFdPayload({ index: i, noFd: false }), [q.kickFd]);
    if (opts.call ?? true) await this.send(FrontendReq.SET_VRING_CALL, encodeVringFdPayload({ index: i, noFd: false }), [q.callFd]);
    q.start();
    return q;
  }

  // ---- the data path ---------------------------------------------------------------------------

  /**
   * One request on queue `queueIndex`: the device reads `readable`, writes at most `writableLen`
   * bytes; resolves with what it wrote. Requests made in the same tick share one kick.
   */
  request(queueIndex: number, readable: Uint8Array[] | Uint8Array, writableLen: number, opts?: RequestOptions): Promise<Completion> {
    const q = this.queues[queueIndex];
    if (q === undefined) return Promise.reject(new FrontendError('FRONTEND_NO_QUEUE', `queue ${queueIndex} is not set up`));
    return q.request(readable, writableLen, opts);
  }

  // ---- other requests --------------------------------------------------------------------------

  /** SET_VRING_ENABLE(0) then GET_VRING_BASE: stops the ring; returns the back-end's next avail index. */
  async stopQueue(i: number): Promise<number> {
    if (this.hasFeature(VHOST_USER_F_PROTOCOL_FEATURES)) await this.send(FrontendReq.SET_VRING_ENABLE, encodeVringState({ index: i, num: 0 }));
    const reply = await this.call(FrontendReq.GET_VRING_BASE, encodeVringState({ index: i, num: 0 }));
    const state = decodeVringState(reply.payload);
    if (state.index !== i) throw new FrontendError('VHOST_USER_BAD_REPLY', `GET_VRING_BASE for ${i} answered for ${state.index}`);
    this.queues[i]?.stop();
    return state.num;
  }

  /** SET_VRING_ENABLE(enable) for queue `i`. */
  async enableQueue(i: number, enable: boolean): Promise<void> {
    await this.send(FrontendReq.SET_VRING_ENABLE, encodeVringState({ index: i, num: enable ? 1 : 0 }));
  }

  /** RESET_DEVICE (needs the RESET_DEVICE protocol feature). */
  async resetDevice(): Promise<void> {
    await this.send(FrontendReq.RESET_DEVICE);
  }

  /** GET_CONFIG: `size` bytes of the device config space at `offset`. */
  async getConfig(offset: number, size: number): Promise<Uint8Array> {
    const reply = await this.call(FrontendReq.GET_CONFIG, encodeConfig({ offset, flags: 0, data: new Uint8Array(size) }));
    return decodeConfig(reply.payload).data;
  }

  // ---- migration (what QEMU does at switch-over, FACTS.md) ----------------------------------------

  /** SET_DEVICE_STATE_FD in the stopped phase with `fd` (stays the caller's); the back-end's answer. */
  async setDeviceStateFd(direction: VhostTransferStateDirection, fd: number): Promise<DeviceStateReply> {
    const reply = await this.call(FrontendReq.SET_DEVICE_STATE_FD, encodeDeviceStateTransfer({ direction, phase: VhostTransferStatePhase.STOPPED }), [fd]);
    reply.fds.forEach(native.closeQuietly);
    return decodeDeviceStateReply(reply.payload);
  }

  /** CHECK_DEVICE_STATE: 0 when the transfer succeeded. */
  async checkDeviceState(): Promise<bigint> {
    return this.getU64(FrontendReq.CHECK_DEVICE_STATE);
  }

  /**
   * The migration source's side (every ring stopped first): SET_DEVICE_STATE_FD(save) with a pipe's
   * write end, read the state to EOF, then CHECK_DEVICE_STATE. `check` is its answer (0: success).
   */
  async saveDeviceState(limit = 1 << 30): Promise<{ state: Uint8Array; check: bigint; reply: DeviceStateReply }> {
    const [rd, wr] = await pipe();
    let reply: DeviceStateReply;
    try {
      reply = await this.setDeviceStateFd(VhostTransferStateDirection.SAVE, wr);
    } catch (e) {
      native.closeQuietly(rd);
      throw e;
    } finally {
      native.closeQuietly(wr); // ours; the back-end has its own copy: EOF comes when it closes that
    }
    if (reply.error !== 0) {
      native.closeQuietly(rd);
      return { state: new Uint8Array(0), check: await this.checkDeviceState().catch(() => -1n), reply };
    }
    const state = await readAllAndClose(rd, limit);
    return { state, check: await this.checkDeviceState(), reply };
  }

  /** The destination's side: SET_DEVICE_STATE_FD(load) with a pipe's read end, write `state`, close, CHECK_DEVICE_STATE. */
  async loadDeviceState(state: Uint8Array): Promise<{ check: bigint; reply: DeviceStateReply }> {
    const [rd, wr] = await pipe();
    let reply: DeviceStateReply;
    try {
      reply = await this.setDeviceStateFd(VhostTransferStateDirection.LOAD, rd);
    } catch (e) {
      native.closeQuietly(wr);
      throw e;
    } finally {
      native.closeQuietly(rd);
    }
    if (reply.error !== 0) {
      native.closeQuietly(wr);
      return { check: await this.checkDeviceState().catch(() => -1n), reply };
    }
    // A back-end that fails early closes its end: EPIPE here, and CHECK_DEVICE_STATE says why.
    await writeAllAndClose(wr, state).catch(() => undefined);
    return { check: await this.checkDeviceState(), reply };
  }

  /** Raw bytes and fds on the socket (fuzzing). The fds stay the caller's. */
  async sendRaw(bytes: Uint8Array, fds: number[] = []): Promise<void> {
    await this.conn.sendRaw(bytes, fds);
  }

  /**
   * Send a request that has no reply of its own. With REPLY_ACK negotiated and NEED_REPLY asked
   * for (`needReply`, or by default as QEMU does, or for all with `ackAll`), await the u64 ack and
   * throw VHOST_USER_NACK if it is not 0.
   */
  async send(request: FrontendReq, payload?: Uint8Array, fds: number[] = [], opts: { needReply?: boolean } = {}): Promise<void> {
    const ack = this.hasProtocolFeature(PF.REPLY_ACK) && (opts.needReply ?? (this.opts.ackAll === true || QEMU_ACKED.has(request)));
    this.sent.push(frontendReqName(request));
    if (!ack) return this.conn.send(request, headerFlags(), payload, fds);
    const reply = await this.conn.call(request, headerFlags({ needReply: true }), payload, fds);
    reply.fds.forEach(native.closeQuietly);
    const v = decodeU64(reply.payload);
    if (v !== 0n) throw new FrontendError('VHOST_USER_NACK', `${frontendReqName(request)} failed: the back-end answered ${v}`);
  }

  /** Send a request that has a reply by definition and return the reply (its fds are the caller's). */
  async call(request: FrontendReq, payload?: Uint8Array, fds: number[] = []): Promise<VhostUserMessage> {
    if (!hasReplyByDefinition(request, this.ackedProtocolFeatures)) throw new TypeError(`${frontendReqName(request)} has no reply by definition; use send()`);
    this.sent.push(frontendReqName(request));
    return this.conn.call(request, headerFlags(), payload, fds);
  }

  private async getU64(request: FrontendReq): Promise<bigint> {
    const reply = await this.call(request);
    reply.fds.forEach(native.closeQuietly);
    return decodeU64(reply.payload);
  }

  /** Close the connections, the queues' eventfds, and unmap guest memory. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close();
    this.backendConn?.close();
    for (const q of this.queues) q?.close();
    this.errFds.forEach(native.closeQuietly);
    this.memory.close();
  }
}

/**
 * A pipe, [read end, write end], both blocking: a FIFO made in a private directory and unlinked at
 * once (Node has no pipe(2); QEMU uses a pipe for the device state too).
 */
export async function pipe(): Promise<[number, number]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-pipe-'));
  const name = path.join(dir, 'fifo');
  try {
    await nativeFs.mknodat(nativeFs.AT_FDCWD, name, nativeFs.S_IFIFO | 0o600, 0);
    // The read end first, non-blocking (no writer yet), then the write end; then make reads block.
    const rd = await nativeFs.openat(nativeFs.AT_FDCWD, name, nativeFs.O_RDONLY | nativeFs.O_NONBLOCK);
    let wr: number;
    try {
      wr = await nativeFs.openat(nativeFs.AT_FDCWD, name, nativeFs.O_WRONLY);
      await nativeFs.fcntlSetfl(rd, (await nativeFs.fcntlGetfl(rd)) & ~nativeFs.O_NONBLOCK);
    } catch (e) {
      native.closeQuietly(rd);
      throw e;
    }
    return [rd, wr];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
