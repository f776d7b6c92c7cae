/**
 * The virtio-fs device: queue 0 is the high-priority queue (FORGET, INTERRUPT), queues 1..n carry
 * requests; every chain is one FUSE request handed to the FUSE server. The config space holds the
 * tag and the number of request queues.
 */
import { encodeVirtioFsConfig } from '../../protocol/virtio.js';
import type { VirtioDevice } from '../vhost-user/device.js';
import type { Chain } from '../virtqueue/split-queue.js';

/** What the device needs from a FUSE server. */
export interface FuseRequestHandler {
  /** Serve one request; resolve with the bytes written into `writable`. Never rejects for guest input. */
  handle(readable: Uint8Array[], writable: Uint8Array[], queue?: number): Promise<number>;
  /** The driver went away or reset the device: forget the session (and what the guest held). */
  reset(): Promise<void> | void;
}

export interface VirtioFsOptions {
  /** Request queues the back-end allows (GET_QUEUE_NUM reports this + 1). */
  requestQueues: number;
  /** The tag for GET_CONFIG; without it the CONFIG protocol feature is not offered (QEMU has its own). */
  tag?: string;
}

export class VirtioFsDevice implements VirtioDevice {
  readonly maxQueues: number;
  readonly deviceFeatures = 0n;
  private readonly configSpace: Uint8Array | undefined;

  constructor(private readonly server: FuseRequestHandler, opts: VirtioFsOptions) {
    this.maxQueues = 1 + opts.requestQueues;
    this.configSpace = opts.tag !== undefined ? encodeVirtioFsConfig(opts.tag, opts.requestQueues) : undefined;
  }

  config(): Uint8Array | undefined {
    return this.configSpace;
  }

  handle(queue: number, chain: Chain): Promise<number> {
    return this.server.handle(chain.readable, chain.writable, queue);
  }

  reset(): Promise<void> | void {
    return this.server.reset();
  }
}
