/**
 * The FUSE wire protocol (include/uapi/linux/fuse.h, spoken at 7.38, names read at 7.43), split by
 * concern: fuse-opcodes (versions, opcodes, codes, limits), fuse-flags (flag bits), fuse-structs (fixed
 * structs), fuse-records (dirents and request extensions), fuse-layout (the struct codec). Import from here.
 */
export * from './fuse-layout.js';
export * from './fuse-opcodes.js';
export * from './fuse-flags.js';
export * from './fuse-structs.js';
export * from './fuse-records.js';
