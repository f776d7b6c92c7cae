/**
 * What each front-end request carries, per the spec's "Front-end message types" and
 * "Communication" sections: payload kind and size, fd count, the reply it has by definition, and
 * the protocol feature that gates it. The back-end checks these before it looks at a payload.
 * PURE: no I/O, no state.
 */
import { ProtocolError, check } from './errors.js';
import {
  BackendReq,
  FrontendReq,
  VHOST_MEMORY_BASELINE_NREGIONS,
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_MAX_PAYLOAD_SIZE,
  VhostUserProtocolFeature as PF,
  backendReqName,
  frontendReqName,
} from './vhost-user-constants.js';
import {
  VHOST_USER_CONFIG_HDR_SIZE,
  VHOST_USER_DEVICE_STATE_SIZE,
  VHOST_USER_INFLIGHT_SIZE,
  VHOST_USER_IOTLB_SIZE,
  VHOST_USER_LOG_SIZE,
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_MEMORY_REGION_XEN_SIZE,
  VHOST_USER_MEMORY_TABLE_HDR_SIZE,
  VHOST_USER_MEM_REG_PADDING_SIZE,
  VHOST_USER_MMAP_SIZE,
  VHOST_USER_SHARED_OBJECT_SIZE,
  VHOST_USER_SHMEM_CONFIG_SIZE,
  VHOST_USER_U64_SIZE,
  VHOST_USER_VRING_ADDR_SIZE,
  VHOST_USER_VRING_AREA_SIZE,
  VHOST_USER_VRING_STATE_SIZE,
} from './vhost-user-codec.js';

/** Payload types of the spec's "Payload" section. 'opaque' = defined elsewhere (crypto session). */
export type PayloadKind =
  | 'none'
  | 'u64'
  | 'vring-state'
  | 'vring-addr'
  | 'memory-table'
  | 'mem-region'
  | 'log'
  | 'iotlb'
  | 'config'
  | 'vring-area'
  | 'inflight'
  | 'shared-object'
  | 'device-state'
  | 'mmap'
  | 'shmem-config'
  | 'opaque';

/** Inclusive bounds. */
export interface Range {
  min: number;
  max: number;
}

/** What a message (request or reply) carries. */
export interface MessageShape {
  payload: PayloadKind;
  /** Allowed payload sizes in bytes (min === max for fixed-size payloads). */
  size: Range;
  /** Allowed number of fds in the ancillary data. */
  fds: Range;
}

/** The contract of one front-end request. */
export interface RequestSpec extends MessageShape {
  request: FrontendReq;
  /** The spec name, e.g. 'VHOST_USER_GET_FEATURES'. */
  name: string;
  /**
   * The reply this request has by definition (whatever NEED_REPLY says), or null. With
   * `replyIf`, only when that protocol feature is negotiated (SET_LOG_BASE, GET_INFLIGHT_FD).
   * Any other request gets a u64 ack (0 = success) only if NEED_REPLY is set and REPLY_ACK was
   * negotiated.
   */
  reply: MessageShape | null;
  replyIf?: PF;
  /** Protocol feature the request requires (undefined: none, or it is part of the base protocol). */
  feature?: PF;
}

const NO_FDS: Range = { min: 0, max: 0 };
const ONE_FD: Range = { min: 1, max: 1 };
const MAYBE_FD: Range = { min: 0, max: 1 };

function fixed(payload: PayloadKind, size: number, fds: Range = NO_FDS): MessageShape {
  return { payload, size: { min: size, max: size }, fds };
}

const NONE = fixed('none', 0);
const U64 = fixed('u64', VHOST_USER_U64_SIZE);
const STATE = fixed('vring-state', VHOST_USER_VRING_STATE_SIZE);
const CONFIG: MessageShape = { payload: 'config', size: { min: VHOST_USER_CONFIG_HDR_SIZE, max: VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE }, fds: NO_FDS };
/** With XEN_MMAP each region is 8 bytes longer; the bounds admit both layouts, the decoder picks. */
const MEM_TABLE: MessageShape = {
  payload: 'memory-table',
  size: { min: VHOST_USER_MEMORY_TABLE_HDR_SIZE, max: VHOST_USER_MEMORY_TABLE_HDR_SIZE + VHOST_MEMORY_BASELINE_NREGIONS * VHOST_USER_MEMORY_REGION_XEN_SIZE },
  fds: { min: 0, max: VHOST_MEMORY_BASELINE_NREGIONS },
};
const MEM_REG = (fds: Range): MessageShape => ({
  payload: 'mem-region',
  size: { min: VHOST_USER_MEM_REG_PADDING_SIZE + VHOST_USER_MEMORY_REGION_SIZE, max: VHOST_USER_MEM_REG_PADDING_SIZE + VHOST_USER_MEMORY_REGION_XEN_SIZE },
  fds,
});

type Entry = Omit<RequestSpec, 'request' | 'name'>;

function e(req: MessageShape, reply: MessageShape | null = null, extra: Partial<Entry> = {}): Entry {
  return { ...req, reply, ...extra };
}

const TABLE: Record<FrontendReq, Entry> = {
  [FrontendReq.GET_FEATURES]: e(NONE, U64),
  [FrontendReq.SET_FEATURES]: e(U64),
  [FrontendReq.SET_OWNER]: e(NONE),
  [FrontendReq.RESET_OWNER]: e(NONE),
  // Postcopy only: the back-end answers with the regions' bases; we do not support postcopy.
  [FrontendReq.SET_MEM_TABLE]: e(MEM_TABLE),
  // The spec says "u64" but with LOG_SHMFD (the only way QEMU sends it) the payload is the log
  // description and an fd comes with it; the reply is a u64 ack.
  [FrontendReq.SET_LOG_BASE]: e(fixed('log', VHOST_USER_LOG_SIZE, ONE_FD), U64, { replyIf: PF.LOG_SHMFD, feature: PF.LOG_SHMFD }),
  [FrontendReq.SET_LOG_FD]: e(fixed('none', 0, ONE_FD)),
  [FrontendReq.SET_VRING_NUM]: e(STATE),
  [FrontendReq.SET_VRING_ADDR]: e(fixed('vring-addr', VHOST_USER_VRING_ADDR_SIZE)),
  [FrontendReq.SET_VRING_BASE]: e(STATE),
  [FrontendReq.GET_VRING_BASE]: e(STATE, STATE),
  [FrontendReq.SET_VRING_KICK]: e(fixed('u64', VHOST_USER_U64_SIZE, MAYBE_FD)),
  [FrontendReq.SET_VRING_CALL]: e(fixed('u64', VHOST_USER_U64_SIZE, MAYBE_FD)),
  [FrontendReq.SET_VRING_ERR]: e(fixed('u64', VHOST_USER_U64_SIZE, MAYBE_FD)),
  [FrontendReq.GET_PROTOCOL_FEATURES]: e(NONE, U64),
  [FrontendReq.SET_PROTOCOL_FEATURES]: e(U64),
  [FrontendReq.GET_QUEUE_NUM]: e(NONE, U64, { feature: PF.MQ }),
  [FrontendReq.SET_VRING_ENABLE]: e(STATE),
  [FrontendReq.SEND_RARP]: e(U64, null, { feature: PF.RARP }),
  [FrontendReq.NET_SET_MTU]: e(U64, null, { feature: PF.MTU }),
  [FrontendReq.SET_BACKEND_REQ_FD]: e(fixed('none', 0, ONE_FD), null, { feature: PF.BACKEND_REQ }),
  [FrontendReq.IOTLB_MSG]: e(fixed('iotlb', VHOST_USER_IOTLB_SIZE), U64),
  [FrontendReq.SET_VRING_ENDIAN]: e(STATE, null, { feature: PF.CROSS_ENDIAN }),
  [FrontendReq.GET_CONFIG]: e(CONFIG, CONFIG, { feature: PF.CONFIG }),
  [FrontendReq.SET_CONFIG]: e(CONFIG, null, { feature: PF.CONFIG }),
  // The crypto session description is defined by QEMU's crypto back-end, not by this spec.
  [FrontendReq.CREATE_CRYPTO_SESSION]: e(
    { payload: 'opaque', size: { min: 0, max: VHOST_USER_MAX_PAYLOAD_SIZE }, fds: NO_FDS },
    { payload: 'opaque', size: { min: 0, max: VHOST_USER_MAX_PAYLOAD_SIZE }, fds: NO_FDS },
    { feature: PF.CRYPTO_SESSION },
  ),
  [FrontendReq.CLOSE_CRYPTO_SESSION]: e(U64, null, { feature: PF.CRYPTO_SESSION }),
  [FrontendReq.POSTCOPY_ADVISE]: e(NONE, fixed('none', 0, ONE_FD), { feature: PF.PAGEFAULT }),
  [FrontendReq.POSTCOPY_LISTEN]: e(NONE, null, { feature: PF.PAGEFAULT }),
  [FrontendReq.POSTCOPY_END]: e(NONE, U64, { feature: PF.PAGEFAULT }),
  [FrontendReq.GET_INFLIGHT_FD]: e(fixed('inflight', VHOST_USER_INFLIGHT_SIZE), fixed('inflight', VHOST_USER_INFLIGHT_SIZE, ONE_FD), {
    replyIf: PF.INFLIGHT_SHMFD,
    feature: PF.INFLIGHT_SHMFD,
  }),
  [FrontendReq.SET_INFLIGHT_FD]: e(fixed('inflight', VHOST_USER_INFLIGHT_SIZE, ONE_FD), null, { feature: PF.INFLIGHT_SHMFD }),
  [FrontendReq.GPU_SET_SOCKET]: e(fixed('none', 0, ONE_FD)),
  [FrontendReq.RESET_DEVICE]: e(NONE, null, { feature: PF.RESET_DEVICE }),
  // state.num is reserved (0).
  [FrontendReq.VRING_KICK]: e(STATE, null, { feature: PF.INBAND_NOTIFICATIONS }),
  [FrontendReq.GET_MAX_MEM_SLOTS]: e(NONE, U64, { feature: PF.CONFIGURE_MEM_SLOTS }),
  [FrontendReq.ADD_MEM_REG]: e(MEM_REG(ONE_FD), null, { feature: PF.CONFIGURE_MEM_SLOTS }),
  // No fd SHOULD come; the back-end MAY accept one and MUST close it unused.
  [FrontendReq.REM_MEM_REG]: e(MEM_REG(MAYBE_FD), null, { feature: PF.CONFIGURE_MEM_SLOTS }),
  [FrontendReq.SET_STATUS]: e(U64, null, { feature: PF.STATUS }),
  [FrontendReq.GET_STATUS]: e(NONE, U64, { feature: PF.STATUS }),
  // Reply: u64 (0 = found) with the dma-buf fd, or no fd.
  [FrontendReq.GET_SHARED_OBJECT]: e(fixed('shared-object', VHOST_USER_SHARED_OBJECT_SIZE), fixed('u64', VHOST_USER_U64_SIZE, MAYBE_FD), {
    feature: PF.SHARED_OBJECT,
  }),
  // Reply: u64 (bits 0-7 error, bit 8 no fd) with the back-end's own channel fd, or no fd.
  [FrontendReq.SET_DEVICE_STATE_FD]: e(fixed('device-state', VHOST_USER_DEVICE_STATE_SIZE, ONE_FD), fixed('u64', VHOST_USER_U64_SIZE, MAYBE_FD), {
    feature: PF.DEVICE_STATE,
  }),
  [FrontendReq.CHECK_DEVICE_STATE]: e(NONE, U64, { feature: PF.DEVICE_STATE }),
  [FrontendReq.GET_SHMEM_CONFIG]: e(NONE, fixed('shmem-config', VHOST_USER_SHMEM_CONFIG_SIZE), { feature: PF.SHMEM }),
};

/**
 * The contract of front-end request `request`. Unknown numbers throw VHOST_USER_UNKNOWN_REQUEST
 * (a back-end must not guess how many payload bytes or fds an unknown request has).
 */
export function expectedPayload(request: number): RequestSpec {
  const entry = (TABLE as Record<number, Entry | undefined>)[request];
  if (entry === undefined) throw new ProtocolError('VHOST_USER_UNKNOWN_REQUEST', `unknown front-end request ${request}`);
  return { request: request as FrontendReq, name: frontendReqName(request), ...entry };
}

/**
 * Whether `request` is answered by definition, given the negotiated protocol features (bit mask).
 * NEED_REPLY with REPLY_ACK adds a u64 ack only to requests for which this returns false.
 */
export function hasReplyByDefinition(request: number, protocolFeatures: bigint): boolean {
  const spec = expectedPayload(request);
  if (spec.reply === null) return false;
  return spec.replyIf === undefined || (protocolFeatures & (1n << BigInt(spec.replyIf))) !== 0n;
}

/** Check a message's payload size against a shape: VHOST_USER_BAD_SIZE. */
export function checkPayloadSize(shape: MessageShape, size: number, what: string): void {
  check(size >= shape.size.min && size <= shape.size.max, 'VHOST_USER_BAD_SIZE', () =>
    shape.size.min === shape.size.max ? `${what}: payload must be ${shape.size.min} bytes, got ${size}` : `${what}: payload must be ${shape.size.min}..${shape.size.max} bytes, got ${size}`,
  );
}

/** Check the number of fds that came with a message: VHOST_USER_BAD_FD_COUNT. */
export function checkFdCount(shape: MessageShape, nfds: number, what: string): void {
  check(nfds >= shape.fds.min && nfds <= shape.fds.max, 'VHOST_USER_BAD_FD_COUNT', () =>
    shape.fds.min === shape.fds.max ? `${what}: expected ${shape.fds.min} fds, got ${nfds}` : `${what}: expected ${shape.fds.min}..${shape.fds.max} fds, got ${nfds}`,
  );
}

/**
 * Check a front-end request's payload size and fd count in one go (unknown request:
 * VHOST_USER_UNKNOWN_REQUEST). Payload-dependent rules stay with the handler: SET_MEM_TABLE's fd
 * count must equal its region count, and SET_VRING_KICK/CALL/ERR carry an fd exactly when the NOFD
 * bit is clear (see `checkVringFdCount`).
 */
export function checkRequest(request: number, size: number, nfds: number): RequestSpec {
  const spec = expectedPayload(request);
  checkPayloadSize(spec, size, spec.name);
  checkFdCount(spec, nfds, spec.name);
  return spec;
}

/** SET_VRING_KICK/CALL/ERR: one fd unless the NOFD bit is set, then none (VHOST_USER_BAD_FD_COUNT). */
export function checkVringFdCount(noFd: boolean, nfds: number, what: string): void {
  check(nfds === (noFd ? 0 : 1), 'VHOST_USER_BAD_FD_COUNT', () => `${what}: NOFD is ${noFd ? 'set' : 'clear'} but ${nfds} fds came`);
}

/** SET_MEM_TABLE: one fd per region, in region order (VHOST_USER_BAD_FD_COUNT). */
export function checkMemTableFdCount(numRegions: number, nfds: number): void {
  check(nfds === numRegions, 'VHOST_USER_BAD_FD_COUNT', () => `VHOST_USER_SET_MEM_TABLE: ${numRegions} regions but ${nfds} fds`);
}

/** The shape of each back-end request (the back-end → front-end channel). */
const BACKEND_TABLE: Record<BackendReq, MessageShape> = {
  [BackendReq.IOTLB_MSG]: fixed('iotlb', VHOST_USER_IOTLB_SIZE),
  [BackendReq.CONFIG_CHANGE_MSG]: NONE,
  // An fd registers a notifier; without one (NOFD bit) the existing one is removed.
  [BackendReq.VRING_HOST_NOTIFIER_MSG]: fixed('vring-area', VHOST_USER_VRING_AREA_SIZE, MAYBE_FD),
  [BackendReq.VRING_CALL]: STATE,
  [BackendReq.VRING_ERR]: STATE,
  [BackendReq.SHARED_OBJECT_ADD]: fixed('shared-object', VHOST_USER_SHARED_OBJECT_SIZE),
  [BackendReq.SHARED_OBJECT_REMOVE]: fixed('shared-object', VHOST_USER_SHARED_OBJECT_SIZE),
  [BackendReq.SHARED_OBJECT_LOOKUP]: fixed('shared-object', VHOST_USER_SHARED_OBJECT_SIZE),
  [BackendReq.SHMEM_MAP]: fixed('mmap', VHOST_USER_MMAP_SIZE, ONE_FD),
  [BackendReq.SHMEM_UNMAP]: fixed('mmap', VHOST_USER_MMAP_SIZE),
};

/** The shape of back-end request `request` (unknown: VHOST_USER_UNKNOWN_REQUEST). */
export function expectedBackendPayload(request: number): MessageShape & { name: string } {
  const shape = (BACKEND_TABLE as Record<number, MessageShape | undefined>)[request];
  if (shape === undefined) throw new ProtocolError('VHOST_USER_UNKNOWN_REQUEST', `unknown back-end request ${request}`);
  return { ...shape, name: backendReqName(request) };
}
