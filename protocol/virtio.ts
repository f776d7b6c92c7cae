/**
 * Virtio split virtqueue layout and the virtio-fs device configuration, from the virtio 1.2 spec
 * (sections 2.7 "Split Virtqueues" and 5.11 "File System Device"). Pure: offsets, flags, checks.
 */
import { check } from './errors.js';

/** This marks a buffer as continuing via the next field. */
export const VRING_DESC_F_NEXT = 1;
/** This marks a buffer as device write-only (otherwise device read-only). */
export const VRING_DESC_F_WRITE = 2;
/** This means the buffer contains a list of buffer descriptors. */
export const VRING_DESC_F_INDIRECT = 4;
/** The driver does not want an interrupt when the device consumes a buffer (no EVENT_IDX). */
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** The device does not want a notification when the driver adds a buffer (no EVENT_IDX). */
export const VRING_USED_F_NO_NOTIFY = 1;

/** Size in bytes of one struct virtq_desc { le64 addr; le32 len; le16 flags; le16 next; }. */
export const VRING_DESC_SIZE = 16;
/** Size of one struct virtq_used_elem { le32 id; le32 len; }. */
export const VRING_USED_ELEM_SIZE = 8;
/** Largest queue size a split virtqueue may have (Queue Size is a 16-bit field, power of 2). */
export const VIRTQUEUE_MAX_SIZE = 32768;
/** Required alignment of the descriptor table, available ring and used ring (spec 2.7, table). */
export const VRING_DESC_ALIGN = 16;
export const VRING_AVAIL_ALIGN = 2;
export const VRING_USED_ALIGN = 4;

/** Byte size of the descriptor table for `num` entries. */
export function descTableSize(num: number): number {
  return VRING_DESC_SIZE * num;
}

/** Byte size of struct virtq_avail: flags, idx, ring[num], used_event (present either way). */
export function availRingSize(num: number): number {
  return 4 + 2 * num + 2;
}

/** Byte size of struct virtq_used: flags, idx, ring[num], avail_event. */
export function usedRingSize(num: number): number {
  return 4 + VRING_USED_ELEM_SIZE * num + 2;
}

/** Offset of used_event inside the available ring (EVENT_IDX). */
export function usedEventOffset(num: number): number {
  return 4 + 2 * num;
}

/** Offset of avail_event inside the used ring (EVENT_IDX). */
export function availEventOffset(num: number): number {
  return 4 + VRING_USED_ELEM_SIZE * num;
}

/** A split queue size is a power of two between 1 and 32768. */
export function validQueueSize(num: number): boolean {
  return Number.isInteger(num) && num >= 1 && num <= VIRTQUEUE_MAX_SIZE && (num & (num - 1)) === 0;
}

/**
 * vring_need_event from the spec: should the side that published `newIdx` (having last notified
 * at `oldIdx`) notify, given the other side asked to be told after `eventIdx`? All 16-bit.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** Virtio device ID of the file system device. */
export const VIRTIO_ID_FS = 26;
/** Length of the tag field in struct virtio_fs_config (UTF-8, NUL-padded, not necessarily terminated). */
export const VIRTIO_FS_TAG_LEN = 36;
/** Size of struct virtio_fs_config { u8 tag[36]; le32 num_request_queues; le32 notify_buf_size; }. */
export const VIRTIO_FS_CONFIG_SIZE = 44;
/** virtio-fs queue 0 is the high-priority queue (FORGET, INTERRUPT); request queues follow. */
export const VIRTIO_FS_HIPRIO_QUEUE = 0;

/** Encode struct virtio_fs_config. The tag must be 1..36 bytes of UTF-8 without NUL. */
export function encodeVirtioFsConfig(tag: string, numRequestQueues: number): Uint8Array {
  const t = new TextEncoder().encode(tag);
  check(t.length >= 1 && t.length <= VIRTIO_FS_TAG_LEN, 'VIRTIO_FS_BAD_TAG', `tag must be 1..${VIRTIO_FS_TAG_LEN} bytes of UTF-8, got ${t.length}`);
  check(!t.includes(0), 'VIRTIO_FS_BAD_TAG', 'tag must not contain NUL');
  check(Number.isInteger(numRequestQueues) && numRequestQueues >= 1, 'VIRTIO_FS_BAD_QUEUES', 'num_request_queues must be >= 1');
  const out = new Uint8Array(VIRTIO_FS_CONFIG_SIZE);
  out.set(t, 0);
  new DataView(out.buffer).setUint32(VIRTIO_FS_TAG_LEN, numRequestQueues, true);
  return out;
}

/** Decode struct virtio_fs_config (used by the front-end). */
export function decodeVirtioFsConfig(buf: Uint8Array): { tag: string; numRequestQueues: number } {
  check(buf.length >= VIRTIO_FS_TAG_LEN + 4, 'VIRTIO_FS_BAD_CONFIG', `virtio_fs_config needs ${VIRTIO_FS_TAG_LEN + 4} bytes, got ${buf.length}`);
  const end = buf.subarray(0, VIRTIO_FS_TAG_LEN).indexOf(0);
  const tag = new TextDecoder().decode(buf.subarray(0, end < 0 ? VIRTIO_FS_TAG_LEN : end));
  const numRequestQueues = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(VIRTIO_FS_TAG_LEN, true);
  return { tag, numRequestQueues };
}
