/**
 * Builds what serves FUSE for the daemon from the command-line options: the passthrough over the
 * shared directory, wrapped read-only with --readonly, behind the FUSE server.
 */
import * as nativeFs from '../native/fs.js';
import { FuseServer } from '../fuse/server.js';
import type { FileSystem } from '../fuse/filesystem.js';
import { PassthroughFs, ReadonlyFs } from '../passthrough/index.js';
import type { Options } from '../cli/options.js';
import { logger } from '../log.js';
import type { HostFds } from '../sandbox/sandbox.js';

const log = logger('daemon');

/** Raise RLIMIT_NOFILE (soft, and hard if we may) to `n`. */
export function raiseNofile(n: number): void {
  const cur = nativeFs.getrlimit(nativeFs.RLIMIT_NOFILE);
  try {
    nativeFs.setrlimit(nativeFs.RLIMIT_NOFILE, { soft: n, hard: Math.max(cur.hard, n) });
  } catch (e) {
    log.warn(`--rlimit-nofile ${n}: ${(e as Error).message}; keeping ${cur.soft}`);
    return;
  }
  log.info(`RLIMIT_NOFILE raised from ${cur.soft} to ${n}`);
}

/** The file system to serve, and the fds it holds on host paths (the sandbox re-points them). */
export function createFileSystem(o: Options): { fs: FileSystem; hostFds: HostFds } {
  const pt = new PassthroughFs({
    sharedDir: o.sharedDir,
    cache: o.cache,
    xattr: o.xattr,
    posixAcl: o.posixAcl,
    writeback: o.writeback,
    announceSubmounts: o.announceSubmounts,
    allowDirectIo: o.allowDirectIo,
    readdirplus: o.readdirplus,
    killprivV2: o.killprivV2,
    inodeFileHandles: o.inodeFileHandles,
    threadPoolSize: Math.max(1, o.threadPoolSize),
    // The pool polls for the next calls as long as the rings poll for the next requests.
    poolSpinUs: o.pollUs,
    inlineCalls: o.inlineCalls,
    maxInodes: o.maxInodes,
    maxHandles: o.maxHandles,
  });
  return { fs: o.readonly ? new ReadonlyFs(pt) : pt, hostFds: pt.hostFds() };
}

export function createFuseServer(o: Options): { server: FuseServer; hostFds: HostFds } {
  if (o.rlimitNofile !== undefined) raiseNofile(o.rlimitNofile);
  const { fs, hostFds } = createFileSystem(o);
  return { server: new FuseServer(fs), hostFds };
}
