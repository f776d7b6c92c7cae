/**
 * Payloads of the newer extensions: shared objects (UUID), device state transfer (migration),
 * VIRTIO Shared Memory (SHMEM_MAP / SHMEM_UNMAP / GET_SHMEM_CONFIG). PURE: no I/O, no state.
 */
import { check } from './errors.js';
import {
  VHOST_USER_MAX_SHMEM_REGIONS,
  VhostTransferStateDirection,
  VhostTransferStatePhase,
} from './vhost-user-constants.js';
import {
  VHOST_USER_DEVICE_STATE_SIZE,
  VHOST_USER_MMAP_SIZE,
  VHOST_USER_SHARED_OBJECT_SIZE,
  VHOST_USER_SHMEM_CONFIG_SIZE,
  dv,
  exactSize,
  u32,
  u64,
} from './vhost-user-codec.js';
import { decodeU64, encodeU64 } from './vhost-user-payloads.js';

// ---- shared object ---------------------------------------------------------------------------

/** VhostUserShared: a 16-byte UUID (stored as in RFC 4122 byte order; returned as a copy). */
export function decodeSharedObject(buf: Uint8Array): Uint8Array {
  exactSize(buf, VHOST_USER_SHARED_OBJECT_SIZE, 'shared object');
  return buf.slice();
}

export function encodeSharedObject(uuid: Uint8Array): Uint8Array {
  if (uuid.byteLength !== VHOST_USER_SHARED_OBJECT_SIZE) throw new RangeError(`UUID must be 16 bytes, got ${uuid.byteLength}`);
  return uuid.slice();
}

/** The canonical text form of a UUID (8-4-4-4-12 hex). */
export function uuidToString(uuid: Uint8Array): string {
  const h = Array.from(uuid, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

// ---- device state transfer -------------------------------------------------------------------

/** Device state transfer parameters (SET_DEVICE_STATE_FD). */
export interface DeviceStateTransfer {
  direction: VhostTransferStateDirection;
  phase: VhostTransferStatePhase;
}

/** Decode SET_DEVICE_STATE_FD's payload. Undefined direction or phase: VHOST_USER_BAD_TRANSFER_STATE. */
export function decodeDeviceStateTransfer(buf: Uint8Array): DeviceStateTransfer {
  const d = exactSize(buf, VHOST_USER_DEVICE_STATE_SIZE, 'device state transfer');
  const direction = d.getUint32(0, true);
  const phase = d.getUint32(4, true);
  check(direction === VhostTransferStateDirection.SAVE || direction === VhostTransferStateDirection.LOAD, 'VHOST_USER_BAD_TRANSFER_STATE', () => `transfer direction ${direction} undefined`);
  check(phase === VhostTransferStatePhase.STOPPED, 'VHOST_USER_BAD_TRANSFER_STATE', () => `migration phase ${phase} undefined`);
  return { direction, phase };
}

export function encodeDeviceStateTransfer(t: DeviceStateTransfer): Uint8Array {
  const out = new Uint8Array(VHOST_USER_DEVICE_STATE_SIZE);
  const d = dv(out);
  d.setUint32(0, u32(t.direction, 'direction'), true);
  d.setUint32(4, u32(t.phase, 'phase'), true);
  return out;
}

/** SET_DEVICE_STATE_FD's u64 reply: bits 0-7 error (0 = success), bit 8 = no fd returned. */
export interface DeviceStateReply {
  error: number;
  noFd: boolean;
}

export function decodeDeviceStateReply(buf: Uint8Array): DeviceStateReply {
  const v = decodeU64(buf);
  check((v & ~0x1ffn) === 0n, 'VHOST_USER_RESERVED_BITS', () => `device state reply has undefined bits set: 0x${v.toString(16)}`);
  const r = { error: Number(v & 0xffn), noFd: (v & 0x100n) !== 0n };
  check(!(r.error !== 0 && !r.noFd), 'VHOST_USER_BAD_TRANSFER_STATE', 'device state reply indicates an error and returns an fd');
  return r;
}

export function encodeDeviceStateReply(r: DeviceStateReply): Uint8Array {
  return encodeU64((r.error & 0xff) | (r.noFd ? 0x100 : 0));
}

// ---- VIRTIO Shared Memory (SHMEM_MAP / SHMEM_UNMAP / GET_SHMEM_CONFIG) -----------------------

/** MMAP request (back-end SHMEM_MAP / SHMEM_UNMAP). */
export interface MmapRequest {
  shmid: number;
  fdOffset: bigint;
  shmOffset: bigint;
  len: bigint;
  /** VHOST_USER_FLAG_MAP_RW or 0. */
  flags: bigint;
}

/** Decode an MMAP request. len 0, overflowing ranges, undefined flags: VHOST_USER_BAD_MMAP. */
export function decodeMmapRequest(buf: Uint8Array): MmapRequest {
  const d = exactSize(buf, VHOST_USER_MMAP_SIZE, 'MMAP request');
  const m = { shmid: d.getUint8(0), fdOffset: d.getBigUint64(8, true), shmOffset: d.getBigUint64(16, true), len: d.getBigUint64(24, true), flags: d.getBigUint64(32, true) };
  const max = 1n << 64n;
  check(m.len > 0n && m.fdOffset + m.len <= max && m.shmOffset + m.len <= max, 'VHOST_USER_BAD_MMAP', 'MMAP request range is empty or overflows');
  check((m.flags & ~1n) === 0n, 'VHOST_USER_BAD_MMAP', () => `MMAP flags 0x${m.flags.toString(16)} undefined`);
  return m;
}

export function encodeMmapRequest(m: MmapRequest): Uint8Array {
  const out = new Uint8Array(VHOST_USER_MMAP_SIZE);
  const d = dv(out);
  d.setUint8(0, m.shmid & 0xff);
  d.setBigUint64(8, u64(m.fdOffset, 'fd_offset'), true);
  d.setBigUint64(16, u64(m.shmOffset, 'shm_offset'), true);
  d.setBigUint64(24, u64(m.len, 'len'), true);
  d.setBigUint64(32, u64(m.flags, 'flags'), true);
  return out;
}

/** GET_SHMEM_CONFIG reply: `memorySizes[shmid]`, 256 entries; `numRegions` counts the non-zero ones. */
export interface ShmemConfig {
  numRegions: number;
  memorySizes: bigint[];
}

/** Decode a shmem config. numRegions above 256: VHOST_USER_TOO_MANY_REGIONS. */
export function decodeShmemConfig(buf: Uint8Array): ShmemConfig {
  const d = exactSize(buf, VHOST_USER_SHMEM_CONFIG_SIZE, 'shmem config');
  const numRegions = d.getUint32(0, true);
  check(numRegions <= VHOST_USER_MAX_SHMEM_REGIONS, 'VHOST_USER_TOO_MANY_REGIONS', () => `shmem config has ${numRegions} regions, at most ${VHOST_USER_MAX_SHMEM_REGIONS}`);
  const memorySizes: bigint[] = [];
  for (let i = 0; i < VHOST_USER_MAX_SHMEM_REGIONS; i++) memorySizes.push(d.getBigUint64(8 + 8 * i, true));
  return { numRegions, memorySizes };
}

export function encodeShmemConfig(c: ShmemConfig): Uint8Array {
  if (c.memorySizes.length > VHOST_USER_MAX_SHMEM_REGIONS) throw new RangeError(`${c.memorySizes.length} shmem sizes, at most ${VHOST_USER_MAX_SHMEM_REGIONS}`);
  const out = new Uint8Array(VHOST_USER_SHMEM_CONFIG_SIZE);
  const d = dv(out);
  d.setUint32(0, u32(c.numRegions, 'num regions'), true);
  c.memorySizes.forEach((s, i) => d.setBigUint64(8 + 8 * i, u64(s, 'mem size'), true));
  return out;
}
