/**
 * What a file system implements to migrate: export what the guest holds (nodeids with lookup counts
 * and how to find each inode again, open handles, next ids) as plain JSON, and import it on the
 * destination daemon. The options mirror the Rust virtiofsd's migration flags.
 */

/** How the source describes inodes: by path under the shared dir, or by file handle (same filesystem, e.g. CephFS). */
export type MigrationMode = 'find-paths' | 'file-handles';

export interface MigrationOptions {
  mode: MigrationMode;
  /** 'abort': an inode that cannot be found fails the migration; 'guest-error': it becomes ESTALE to the guest. */
  onError: 'abort' | 'guest-error';
  /** Destination: check that a path found in find-paths mode is the same inode (file handle or ino/generation). */
  verifyHandles: boolean;
  /** Source: re-resolve each inode's path just before saving, so a host-side rename is followed. */
  confirmPaths: boolean;
}

export const DEFAULT_MIGRATION: MigrationOptions = { mode: 'find-paths', onError: 'abort', verifyHandles: false, confirmPaths: false };

export interface MigratableFileSystem {
  /** Called with every ring stopped: nothing changes while it runs. */
  exportState(o: MigrationOptions): Promise<unknown>;
  /** Called on the destination after the FUSE session was restored and before any request. */
  importState(state: unknown, o: MigrationOptions): Promise<void>;
}

export function isMigratable(fs: unknown): fs is MigratableFileSystem {
  return typeof (fs as MigratableFileSystem).exportState === 'function' && typeof (fs as MigratableFileSystem).importState === 'function';
}
