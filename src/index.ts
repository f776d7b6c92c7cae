/**
 * virtiofsd-ts as a library: serve any FileSystem to a VM over vhost-user virtio-fs.
 *
 *   import { serve, MemoryFileSystem } from 'virtiofsd-ts';
 *   const fs = new MemoryFileSystem();
 *   fs.writeFile('/hello.txt', 'hi\n');
 *   const server = await serve({ socketPath: '/tmp/vfs.sock', filesystem: fs });
 *   await server.done;
 *
 * Implement your own by extending NullFileSystem (every op answers ENOSYS) and overriding what you
 * support; FileSystem's doc comment states the lookup-count contract every implementation keeps.
 */
export { serve, ServeError, type ServeOptions, type VirtioFsServer } from './api/serve.js';

// The FileSystem interface and what it is made of.
export type {
  AttrReply,
  Context,
  CreateReply,
  DirEntry,
  DirentPlusSink,
  DirentSink,
  Entry,
  FileSystem,
  FuseAttr,
  FuseFileLock,
  FuseKstatfs,
  FuseSetattrIn,
  FuseStatx,
  InitInfo,
  IoctlReply,
  OpenReply,
  SecurityContext,
  StatxReply,
} from './fuse/filesystem.js';
export { FuseError } from './fuse/errors.js';
export { NullFileSystem } from './fuse/null-filesystem.js';
export { MemoryFileSystem, type MemoryFileSystemOptions } from './fuse/memory-filesystem.js';
export { FuseServer, SERVER_INIT_FLAGS, type FuseServerOptions, type NegotiatedSession } from './fuse/server.js';

// The host-directory file system and its read-only decorator.
export { PassthroughFs, ReadonlyFs, type PassthroughOptions, type PassthroughStats, type CacheMode, type InodeFileHandles } from './passthrough/index.js';

// Observability and logging.
export { FuseMetrics, LATENCY_BUCKETS, serveMetrics, type FileSystemStats, type MetricsEndpoint } from './metrics/index.js';
export { configureLog, LOG_LEVELS, type LogLevel, type LogSink } from './log.js';

// Spec constants a FileSystem needs: errno numbers and names, FUSE opcodes and flags.
export { Errno, errnoName } from '../protocol/errno.js';
export { FUSE_ROOT_ID, FuseOpcode, fuseOpcodeName } from '../protocol/fuse-opcodes.js';
export * as fuseFlags from '../protocol/fuse-flags.js';
