/**
 * The virtio-fs device: queue 0 is the high-priority queue (FORGET, INTERRUPT), queues 1..n carry
 * requests; every chain is one FUSE request handed to the FUSE server. The config space holds the
 * tag and the number of request queues. When the file system can export its state, the device can
 * migrate: its state is the FUSE session plus the file system's (protocol/device-state.ts).
 */
import { encodeVirtioFsConfig } from '../../protocol/virtio.js';
import { SECTION_FILESYSTEM, SECTION_FUSE, decodeDeviceState, encodeDeviceState } from '../../protocol/device-state.js';
import type { VirtioDevice } from '../vhost-user/device.js';
import type { Chain } from '../virtqueue/split-queue.js';
import type { FuseServer, SessionState } from '../fuse/server.js';
import { DEFAULT_MIGRATION, isMigratable, type MigrationOptions } from '../migration/migratable.js';

export interface VirtioFsOptions {
  /** Request queues the back-end allows (GET_QUEUE_NUM reports this + 1). */
  requestQueues: number;
  /** The tag for GET_CONFIG; without it the CONFIG protocol feature is not offered (QEMU has its own). */
  tag?: string;
  migration?: MigrationOptions;
  /** Busy-poll window of the rings, µs (--poll-us; 0: kicks only). */
  pollUs?: number;
}

export class VirtioFsDevice implements VirtioDevice {
  readonly maxQueues: number;
  readonly deviceFeatures = 0n;
  readonly pollUs: number;
  private readonly configSpace: Uint8Array | undefined;
  readonly saveState?: () => Promise<Uint8Array>;
  readonly loadState?: (state: Uint8Array) => Promise<void>;

  constructor(private readonly server: FuseServer, opts: VirtioFsOptions) {
    this.maxQueues = 1 + opts.requestQueues;
    this.pollUs = opts.pollUs ?? 0;
    this.configSpace = opts.tag !== undefined ? encodeVirtioFsConfig(opts.tag, opts.requestQueues) : undefined;
    const fs = server.fs;
    const mig = opts.migration ?? DEFAULT_MIGRATION;
    if (isMigratable(fs)) {
      this.saveState = async () => {
        const sections = new Map<number, unknown>([[SECTION_FUSE, server.exportSession()], [SECTION_FILESYSTEM, await fs.exportState(mig)]]);
        return encodeDeviceState(sections);
      };
      this.loadState = async (bytes) => {
        const st = decodeDeviceState(bytes);
        const session = st.sections.get(SECTION_FUSE);
        if (session === undefined) throw Object.assign(new Error('device state has no FUSE session section'), { code: 'STATE_MISSING_SECTION' });
        await server.importSession(session as SessionState);
        const fsState = st.sections.get(SECTION_FILESYSTEM);
        if (fsState !== undefined) await fs.importState(fsState, mig);
      };
    }
  }

  config(): Uint8Array | undefined {
    return this.configSpace;
  }

  handle(queue: number, chain: Chain): Promise<number> {
    return this.server.handle(chain.readable, chain.writable, queue);
  }

  abortBlocking(): void {
    this.server.abortBlocking();
  }

  reset(): Promise<void> | void {
    return this.server.reset();
  }
}
