/**
 * The other virtio-fs daemons, fetched by scripts/fetch-peers.sh: tests run the same scenario
 * against them and against ours, so a failure can be pinned on the harness or on us.
 */
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './guest-kit.js';

/** `virtiofsd-rust`: Rust virtiofsd 1.13 (reference). `virtiofsd-c`: QEMU 7.2's C daemon (legacy). */
export type PeerName = 'virtiofsd-rust' | 'virtiofsd-c';

/** Where fetch-peers.sh puts them; PEERS_DIR overrides it. */
export const peersDir: string = process.env.PEERS_DIR ?? path.join(repoRoot, '.cache/peers');

/** The wrapper that starts `name`, or null when scripts/fetch-peers.sh has not been run. */
export function peerBinary(name: PeerName): string | null {
  const p = path.join(peersDir, 'bin', name);
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return p;
  } catch {
    return null;
  }
}
