/**
 * The coarse interface between the vhost-user back-end and a virtio device. A device never sees a
 * vhost-user message: it states its queues, feature bits and config space, processes chains, and
 * resets its own state when the front-end resets the device or goes away.
 */
import type { Chain } from '../virtqueue/split-queue.js';

export interface VirtioDevice {
  /** Most queues the device can run (GET_QUEUE_NUM). */
  readonly maxQueues: number;
  /** Device-specific virtio feature bits to offer (ring and transport bits are the back-end's). */
  readonly deviceFeatures: bigint;
  /** The device config space for GET_CONFIG, or undefined to not offer the CONFIG protocol feature. */
  config(): Uint8Array | undefined;
  /** Optional: how long (µs) a ring keeps polling for requests after activity before it waits for a kick (0: never polls). */
  readonly pollUs?: number;
  /** Process one chain from `queue`; resolve with the bytes written into chain.writable. */
  handle(queue: number, chain: Chain): Promise<number> | number;
  /** Optional: end requests that could wait forever (lock waits), before the back-end waits for in-flight ones. */
  abortBlocking?(): void;
  /** The driver is gone or restarting: drop per-driver state (e.g. the FUSE session). */
  reset(): Promise<void> | void;
  /**
   * Migration: the device state, taken while every ring is stopped (SET_DEVICE_STATE_FD save). A
   * device without saveState/loadState cannot migrate (DEVICE_STATE is then not offered).
   */
  saveState?(): Promise<Uint8Array>;
  /** Migration destination: apply a state from saveState() before the rings start. */
  loadState?(state: Uint8Array): Promise<void>;
}
