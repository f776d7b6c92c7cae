/** The host-directory FileSystem and its read-only decorator. */
export { PassthroughFs, type PassthroughDeps, type PassthroughStats, type FdCacheStats } from './passthrough.js';
export { ReadonlyFs } from './readonly.js';
export { cachePolicy, resolveOptions, type CacheMode, type CachePolicy, type InodeFileHandles, type PassthroughOptions } from './options.js';
export type { Sys } from './host.js';
