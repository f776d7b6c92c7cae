/**
 * Shared pieces of the vhost-user payload codecs: the payload sizes and the little-endian helpers.
 * PURE: no I/O, no state.
 */
import { check } from './errors.js';
import { VHOST_USER_MAX_SHMEM_REGIONS } from './vhost-user-constants.js';

/** Payload sizes in bytes, as the spec lays them out. */
export const VHOST_USER_U64_SIZE = 8;
export const VHOST_USER_VRING_STATE_SIZE = 8;
export const VHOST_USER_VRING_ADDR_SIZE = 40;
/** One memory region description (guest address, size, user address, mmap offset). */
export const VHOST_USER_MEMORY_REGION_SIZE = 32;
/** A memory region description with the two XEN_MMAP fields (xen mmap flags u32, domid u32). */
export const VHOST_USER_MEMORY_REGION_XEN_SIZE = 40;
/** Memory table header: num regions u32 + padding u32. */
export const VHOST_USER_MEMORY_TABLE_HDR_SIZE = 8;
/** Single memory region description: padding u64 + region. */
export const VHOST_USER_MEM_REG_PADDING_SIZE = 8;
export const VHOST_USER_LOG_SIZE = 16;
/**
 * struct vhost_iotlb_msg: iova, size, uaddr (u64) + perm, type (u8). The spec lists 26 bytes of
 * fields; the C struct (which QEMU sends with sizeof) is padded to its 8-byte alignment: 32.
 */
export const VHOST_USER_IOTLB_SIZE = 32;
/** Config space header: offset, size, flags (u32 each); the bytes follow. */
export const VHOST_USER_CONFIG_HDR_SIZE = 12;
export const VHOST_USER_VRING_AREA_SIZE = 24;
/** Inflight description: two u64 + two u16, padded to 8-byte alignment like QEMU's C struct: 24. */
export const VHOST_USER_INFLIGHT_SIZE = 24;
export const VHOST_USER_SHARED_OBJECT_SIZE = 16;
export const VHOST_USER_DEVICE_STATE_SIZE = 8;
export const VHOST_USER_MMAP_SIZE = 40;
export const VHOST_USER_SHMEM_CONFIG_SIZE = 8 + 8 * VHOST_USER_MAX_SHMEM_REGIONS;

/** A DataView over the bytes of `buf`. */
export function dv(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A DataView over exactly `size` bytes, or VHOST_USER_BAD_SIZE. */
export function exactSize(buf: Uint8Array, size: number, what: string): DataView {
  check(buf.byteLength === size, 'VHOST_USER_BAD_SIZE', () => `${what} payload must be ${size} bytes, got ${buf.byteLength}`);
  return dv(buf);
}

/** Range-check a u32 for an encoder (a caller bug, so RangeError, not ProtocolError). */
export function u32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${what} ${v} is not a u32`);
  return v;
}

/** Range-check a u64 for an encoder. */
export function u64(v: bigint, what: string): bigint {
  if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`${what} ${v} is not a u64`);
  return v;
}
