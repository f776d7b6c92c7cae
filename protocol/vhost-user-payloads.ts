/**
 * vhost-user message payloads ("Payload" in the spec): one decode/encode pair per payload type.
 * Every decoder takes exactly the payload bytes (no header), checks the exact size it needs, then
 * the fields' own rules, and throws ProtocolError. 64-bit addresses and sizes are bigint.
 * Little-endian, see vhost-user-header.ts. Memory regions are in vhost-user-regions.ts, shared
 * objects / device state / shared memory in vhost-user-objects.ts. PURE: no I/O, no state.
 */
import { check } from './errors.js';
import {
  VHOST_USER_MAX_CONFIG_SIZE,
  VHOST_USER_VRING_IDX_MASK,
  VHOST_USER_VRING_NOFD_MASK,
  VHOST_VRING_F_LOG,
} from './vhost-user-constants.js';
import {
  VHOST_USER_CONFIG_HDR_SIZE,
  VHOST_USER_INFLIGHT_SIZE,
  VHOST_USER_IOTLB_SIZE,
  VHOST_USER_LOG_SIZE,
  VHOST_USER_U64_SIZE,
  VHOST_USER_VRING_ADDR_SIZE,
  VHOST_USER_VRING_AREA_SIZE,
  VHOST_USER_VRING_STATE_SIZE,
  dv,
  exactSize,
  u32,
  u64,
} from './vhost-user-codec.js';

// ---- u64 -------------------------------------------------------------------------------------

/** A single 64-bit integer (features, queue num, mem slots, acks, status...). */
export function decodeU64(buf: Uint8Array): bigint {
  return exactSize(buf, VHOST_USER_U64_SIZE, 'u64').getBigUint64(0, true);
}

export function encodeU64(v: bigint | number): Uint8Array {
  const out = new Uint8Array(VHOST_USER_U64_SIZE);
  dv(out).setBigUint64(0, u64(BigInt(v), 'u64'), true);
  return out;
}

/** The u64 payload of SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR. */
export interface VringFdPayload {
  /** Vring index (bits 0-7). */
  index: number;
  /** Bit 8: no fd was sent; the back-end polls (kick) or the front-end polls (call). */
  noFd: boolean;
}

/** Decode a kick/call/err u64. Bits 9-63 are not defined by the spec: VHOST_USER_RESERVED_BITS. */
export function decodeVringFdPayload(buf: Uint8Array): VringFdPayload {
  const v = decodeU64(buf);
  const known = BigInt(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK);
  check((v & ~known) === 0n, 'VHOST_USER_RESERVED_BITS', () => `vring fd payload has undefined bits set: 0x${v.toString(16)}`);
  return { index: Number(v & BigInt(VHOST_USER_VRING_IDX_MASK)), noFd: (v & BigInt(VHOST_USER_VRING_NOFD_MASK)) !== 0n };
}

export function encodeVringFdPayload(p: VringFdPayload): Uint8Array {
  if (!Number.isInteger(p.index) || p.index < 0 || p.index > VHOST_USER_VRING_IDX_MASK) throw new RangeError(`vring index ${p.index} does not fit 8 bits`);
  return encodeU64(p.index | (p.noFd ? VHOST_USER_VRING_NOFD_MASK : 0));
}

// ---- vring state -----------------------------------------------------------------------------

/** Vring state description: SET_VRING_NUM/BASE/ENABLE/ENDIAN, GET_VRING_BASE, VRING_KICK, ... */
export interface VringState {
  index: number;
  num: number;
}

export function decodeVringState(buf: Uint8Array): VringState {
  const d = exactSize(buf, VHOST_USER_VRING_STATE_SIZE, 'vring state');
  return { index: d.getUint32(0, true), num: d.getUint32(4, true) };
}

export function encodeVringState(s: VringState): Uint8Array {
  const out = new Uint8Array(VHOST_USER_VRING_STATE_SIZE);
  const d = dv(out);
  d.setUint32(0, u32(s.index, 'vring index'), true);
  d.setUint32(4, u32(s.num, 'vring num'), true);
  return out;
}

/** Packed-ring SET/GET_VRING_BASE `num`: avail index + wrap counter, used index + wrap counter. */
export interface PackedVringBase {
  availIdx: number;
  availWrap: boolean;
  usedIdx: number;
  usedWrap: boolean;
}

/** Split the packed-ring `num` (bits 0-14 avail idx, 15 avail wrap, 16-30 used idx, 31 used wrap). */
export function decodePackedVringBase(num: number): PackedVringBase {
  return { availIdx: num & 0x7fff, availWrap: (num & 0x8000) !== 0, usedIdx: (num >>> 16) & 0x7fff, usedWrap: (num & 0x80000000) !== 0 };
}

export function encodePackedVringBase(b: PackedVringBase): number {
  return ((b.availIdx & 0x7fff) | (b.availWrap ? 0x8000 : 0) | ((b.usedIdx & 0x7fff) << 16) | (b.usedWrap ? 0x80000000 : 0)) >>> 0;
}

/** Split-ring SET_VRING_BASE `num`: bits 0-15 are the next avail index, bits 16-31 reserved (0). */
export function decodeSplitVringBase(num: number): number {
  check(num >>> 16 === 0, 'VHOST_USER_RESERVED_BITS', () => `split vring base 0x${num.toString(16)} has reserved bits 16-31 set`);
  return num;
}

// ---- vring address ---------------------------------------------------------------------------

/** Vring address description (SET_VRING_ADDR). Ring addresses are front-end user addresses. */
export interface VringAddr {
  index: number;
  /** VHOST_VRING_F_LOG or 0. */
  flags: number;
  descUserAddr: bigint;
  usedUserAddr: bigint;
  availUserAddr: bigint;
  /** Guest physical address of the used ring, for the dirty log. */
  logGuestAddr: bigint;
}

/** Decode SET_VRING_ADDR. Flags other than VHOST_VRING_F_LOG: VHOST_USER_BAD_FLAGS. */
export function decodeVringAddr(buf: Uint8Array): VringAddr {
  const d = exactSize(buf, VHOST_USER_VRING_ADDR_SIZE, 'vring address');
  const flags = d.getUint32(4, true);
  check((flags & ~VHOST_VRING_F_LOG) === 0, 'VHOST_USER_BAD_FLAGS', () => `vring address flags 0x${flags.toString(16)} has undefined bits`);
  return {
    index: d.getUint32(0, true),
    flags,
    descUserAddr: d.getBigUint64(8, true),
    usedUserAddr: d.getBigUint64(16, true),
    availUserAddr: d.getBigUint64(24, true),
    logGuestAddr: d.getBigUint64(32, true),
  };
}

export function encodeVringAddr(a: VringAddr): Uint8Array {
  const out = new Uint8Array(VHOST_USER_VRING_ADDR_SIZE);
  const d = dv(out);
  d.setUint32(0, u32(a.index, 'vring index'), true);
  d.setUint32(4, u32(a.flags, 'vring flags'), true);
  d.setBigUint64(8, u64(a.descUserAddr, 'desc'), true);
  d.setBigUint64(16, u64(a.usedUserAddr, 'used'), true);
  d.setBigUint64(24, u64(a.availUserAddr, 'avail'), true);
  d.setBigUint64(32, u64(a.logGuestAddr, 'log'), true);
  return out;
}

// ---- log -------------------------------------------------------------------------------------

/** Log description (SET_LOG_BASE with LOG_SHMFD): the log's size and offset in the fd. */
export interface LogDescription {
  mmapSize: bigint;
  mmapOffset: bigint;
}

/** Decode SET_LOG_BASE. Size 0 or offset+size overflowing: VHOST_USER_BAD_LOG. */
export function decodeLog(buf: Uint8Array): LogDescription {
  const d = exactSize(buf, VHOST_USER_LOG_SIZE, 'log description');
  const l = { mmapSize: d.getBigUint64(0, true), mmapOffset: d.getBigUint64(8, true) };
  check(l.mmapSize > 0n && l.mmapOffset + l.mmapSize <= 1n << 64n, 'VHOST_USER_BAD_LOG', () => `log area size 0x${l.mmapSize.toString(16)} at 0x${l.mmapOffset.toString(16)} is invalid`);
  return l;
}

export function encodeLog(l: LogDescription): Uint8Array {
  const out = new Uint8Array(VHOST_USER_LOG_SIZE);
  const d = dv(out);
  d.setBigUint64(0, u64(l.mmapSize, 'log size'), true);
  d.setBigUint64(8, u64(l.mmapOffset, 'log offset'), true);
  return out;
}

// ---- IOTLB -----------------------------------------------------------------------------------

/** struct vhost_iotlb_msg (IOTLB_MSG both directions). */
export interface IotlbMsg {
  iova: bigint;
  size: bigint;
  userAddr: bigint;
  /** VhostAccess: 0..3. */
  perm: number;
  /** VhostIotlbType: 1..4. */
  type: number;
}

/** Decode an IOTLB message. perm > 3 or type outside 1..4: VHOST_USER_BAD_IOTLB. */
export function decodeIotlb(buf: Uint8Array): IotlbMsg {
  const d = exactSize(buf, VHOST_USER_IOTLB_SIZE, 'IOTLB message');
  const m = { iova: d.getBigUint64(0, true), size: d.getBigUint64(8, true), userAddr: d.getBigUint64(16, true), perm: d.getUint8(24), type: d.getUint8(25) };
  check(m.perm <= 3, 'VHOST_USER_BAD_IOTLB', () => `IOTLB permissions ${m.perm} undefined`);
  check(m.type >= 1 && m.type <= 4, 'VHOST_USER_BAD_IOTLB', () => `IOTLB type ${m.type} undefined`);
  return m;
}

export function encodeIotlb(m: IotlbMsg): Uint8Array {
  const out = new Uint8Array(VHOST_USER_IOTLB_SIZE);
  const d = dv(out);
  d.setBigUint64(0, u64(m.iova, 'iova'), true);
  d.setBigUint64(8, u64(m.size, 'size'), true);
  d.setBigUint64(16, u64(m.userAddr, 'uaddr'), true);
  d.setUint8(24, m.perm & 0xff);
  d.setUint8(25, m.type & 0xff);
  return out;
}

// ---- device config space ---------------------------------------------------------------------

/** Virtio device config space access (GET_CONFIG / SET_CONFIG). */
export interface ConfigSpace {
  offset: number;
  /** VHOST_SET_CONFIG_TYPE_FRONTEND (0) or _MIGRATION (1). */
  flags: number;
  /** `size` bytes of config space (for GET_CONFIG's request, the bytes are ignored). */
  data: Uint8Array;
}

/**
 * Decode GET_CONFIG / SET_CONFIG. The size field must be at most VHOST_USER_MAX_CONFIG_SIZE and
 * match the payload length exactly (VHOST_USER_BAD_SIZE); offset + size must not overflow and flags
 * must be 0 or 1 (VHOST_USER_BAD_CONFIG). A zero size is legal on the wire: a back-end's error reply.
 */
export function decodeConfig(buf: Uint8Array): ConfigSpace {
  check(buf.byteLength >= VHOST_USER_CONFIG_HDR_SIZE, 'VHOST_USER_BAD_SIZE', () => `config payload needs at least ${VHOST_USER_CONFIG_HDR_SIZE} bytes, got ${buf.byteLength}`);
  const d = dv(buf);
  const offset = d.getUint32(0, true);
  const size = d.getUint32(4, true);
  const flags = d.getUint32(8, true);
  check(size <= VHOST_USER_MAX_CONFIG_SIZE, 'VHOST_USER_BAD_SIZE', () => `config size ${size} exceeds ${VHOST_USER_MAX_CONFIG_SIZE}`);
  check(buf.byteLength === VHOST_USER_CONFIG_HDR_SIZE + size, 'VHOST_USER_BAD_SIZE', () => `config payload with size ${size} must be ${VHOST_USER_CONFIG_HDR_SIZE + size} bytes, got ${buf.byteLength}`);
  check(offset + size <= 0xffffffff, 'VHOST_USER_BAD_CONFIG', () => `config offset ${offset} + size ${size} overflows`);
  check(flags <= 1, 'VHOST_USER_BAD_CONFIG', () => `config flags ${flags} undefined`);
  return { offset, flags, data: buf.subarray(VHOST_USER_CONFIG_HDR_SIZE) };
}

export function encodeConfig(c: ConfigSpace): Uint8Array {
  if (c.data.byteLength > VHOST_USER_MAX_CONFIG_SIZE) throw new RangeError(`config size ${c.data.byteLength} exceeds ${VHOST_USER_MAX_CONFIG_SIZE}`);
  const out = new Uint8Array(VHOST_USER_CONFIG_HDR_SIZE + c.data.byteLength);
  const d = dv(out);
  d.setUint32(0, u32(c.offset, 'config offset'), true);
  d.setUint32(4, c.data.byteLength, true);
  d.setUint32(8, u32(c.flags, 'config flags'), true);
  out.set(c.data, VHOST_USER_CONFIG_HDR_SIZE);
  return out;
}

// ---- vring area (back-end VRING_HOST_NOTIFIER_MSG) -------------------------------------------

/** Vring area description: u64 (index bits 0-7, NOFD bit 8), size, offset. */
export interface VringArea {
  index: number;
  noFd: boolean;
  size: bigint;
  offset: bigint;
}

export function decodeVringArea(buf: Uint8Array): VringArea {
  const d = exactSize(buf, VHOST_USER_VRING_AREA_SIZE, 'vring area');
  const { index, noFd } = decodeVringFdPayload(buf.subarray(0, 8));
  return { index, noFd, size: d.getBigUint64(8, true), offset: d.getBigUint64(16, true) };
}

export function encodeVringArea(a: VringArea): Uint8Array {
  const out = new Uint8Array(VHOST_USER_VRING_AREA_SIZE);
  out.set(encodeVringFdPayload(a), 0);
  const d = dv(out);
  d.setBigUint64(8, u64(a.size, 'area size'), true);
  d.setBigUint64(16, u64(a.offset, 'area offset'), true);
  return out;
}

// ---- inflight --------------------------------------------------------------------------------

/** Inflight description (GET_INFLIGHT_FD request/reply, SET_INFLIGHT_FD). */
export interface InflightDescription {
  mmapSize: bigint;
  mmapOffset: bigint;
  numQueues: number;
  queueSize: number;
}

export function decodeInflight(buf: Uint8Array): InflightDescription {
  const d = exactSize(buf, VHOST_USER_INFLIGHT_SIZE, 'inflight description');
  return { mmapSize: d.getBigUint64(0, true), mmapOffset: d.getBigUint64(8, true), numQueues: d.getUint16(16, true), queueSize: d.getUint16(18, true) };
}

export function encodeInflight(i: InflightDescription): Uint8Array {
  const out = new Uint8Array(VHOST_USER_INFLIGHT_SIZE);
  const d = dv(out);
  d.setBigUint64(0, u64(i.mmapSize, 'mmap size'), true);
  d.setBigUint64(8, u64(i.mmapOffset, 'mmap offset'), true);
  d.setUint16(16, i.numQueues & 0xffff, true);
  d.setUint16(18, i.queueSize & 0xffff, true);
  return out;
}
