/**
 * The passthrough's migration state: the SECTION_FILESYSTEM of the device state
 * (protocol/device-state.ts), as JSON. Pure: layout, constants and the validating parser; no I/O.
 * migration.ts makes and applies it. The state comes from another process (through QEMU), so the
 * parser trusts nothing: every field is type- and range-checked, paths are relative and made of plain
 * components only, ids are unique and below the counters, and a handle refers to a known nodeid.
 *
 * Layout, version 1 (64-bit numbers are decimal strings, as everywhere in the device state):
 *
 *   {
 *     "format": "virtiofsd-ts/passthrough",
 *     "version": 1,                     a reader refuses a higher version
 *     "mode": "find-paths",             the source's --migration-mode (informational)
 *     "nextNodeid": "42",               the next nodeid the source would have given out
 *     "nextFh": "7",                    the next fh likewise
 *     "root": {                         the shared directory on the source; null before INIT
 *       "dev": 2049, "ino": "131073",   st_dev (makedev encoding) and st_ino
 *       "handle": "0800…"               struct file_handle (name_to_handle_at) in hex, or null
 *     },
 *     "inodes": [                       every nodeid the guest holds but the root (FUSE_ROOT_ID)
 *       { "nodeid": "2",
 *         "nlookup": "3",               the kernel's lookup count (>= 1)
 *         "generation": "0",            always 0: nodeids are never reused
 *         "type": "reg",                reg | dir | lnk | chr | blk | fifo | sock
 *         "path": "dir/a.txt",          relative to the shared dir; or "pathBase64" when the bytes
 *                                       are not UTF-8; absent when the source could not tell
 *         "handle": "0800…" | null,     file handle, as for the root
 *         "dev": 2049, "ino": "131090", what the inode was on the source
 *         "stale": "why"                optional: the source lost this inode (--migration-on-error
 *       }                               guest-error); the destination keeps the nodeid, ESTALE
 *     ],
 *     "handles": [                      every open file and directory
 *       { "fh": "1", "nodeid": "2",
 *         "flags": 32770,               the O_* flags of the source's host fd
 *         "dir": false,                 an OPENDIR handle
 *         "stale": true }               optional: already unusable on the source
 *     ]
 *   }
 *
 * Not carried: lock owners and their locks (host locks belong to the source process and go with
 * it), directory read-ahead (the guest resumes READDIR by offset), the fd cache.
 */
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import * as native from '../native/fs.js';

export const PASSTHROUGH_STATE_FORMAT = 'virtiofsd-ts/passthrough';
export const PASSTHROUGH_STATE_VERSION = 1;
/** Bounds a hostile state cannot exceed (the device state section itself is at most 1 GiB). */
export const MAX_STATE_INODES = 1 << 24;
export const MAX_STATE_HANDLES = 1 << 24;
/** PATH_MAX, terminating NUL included. */
export const MAX_STATE_PATH = 4095;
/** struct file_handle: 8-byte header + MAX_HANDLE_SZ. */
export const MAX_HANDLE_BYTES = 8 + 128;
const MAX_REASON = 1024;
const U64_MAX = (1n << 64n) - 1n;
/** Highest nextNodeid / nextFh accepted: 2^63, half the id space left to count in. */
export const MAX_NEXT_ID = 1n << 63n;

/** File types by name, as the state spells them. */
export const FILE_TYPES: Readonly<Record<string, number>> = {
  reg: native.S_IFREG,
  dir: native.S_IFDIR,
  lnk: native.S_IFLNK,
  chr: native.S_IFCHR,
  blk: native.S_IFBLK,
  fifo: native.S_IFIFO,
  sock: native.S_IFSOCK,
};

export function typeName(mode: number): string {
  const t = mode & native.S_IFMT;
  for (const [name, v] of Object.entries(FILE_TYPES)) if (v === t) return name;
  throw new Error(`unknown file type 0${t.toString(8)}`);
}

/** O_* flags a migrated handle may be re-opened with; anything else is dropped (O_TRUNC, O_CREAT...). */
export const REOPEN_FLAGS = native.O_ACCMODE | native.O_DIRECT | native.O_DIRECTORY | native.O_DSYNC | native.O_SYNC | native.O_NONBLOCK | native.O_LARGEFILE;

export interface RootRecord {
  dev: number;
  ino: string;
  handle: string | null;
}

export interface InodeRecord {
  nodeid: string;
  nlookup: string;
  generation: string;
  type: string;
  path?: string;
  pathBase64?: string;
  handle: string | null;
  dev: number;
  ino: string;
  stale?: string;
}

export interface HandleRecord {
  fh: string;
  nodeid: string;
  flags: number;
  dir: boolean;
  stale?: boolean;
}

/** What exportState() returns (and JSON carries). */
export interface PassthroughStateV1 {
  format: typeof PASSTHROUGH_STATE_FORMAT;
  version: 1;
  mode: 'find-paths' | 'file-handles';
  nextNodeid: string;
  nextFh: string;
  root: RootRecord | null;
  inodes: InodeRecord[];
  handles: HandleRecord[];
}

/** A validated inode record, with its values decoded. */
export interface ParsedInode {
  nodeid: bigint;
  nlookup: bigint;
  /** S_IF* */
  type: number;
  /** Relative path, components checked; undefined when the source could not tell. */
  path: Buffer | undefined;
  handle: Buffer | undefined;
  dev: number;
  ino: bigint;
  stale: string | undefined;
}

export interface ParsedHandle {
  fh: bigint;
  nodeid: bigint;
  flags: number;
  dir: boolean;
  stale: boolean;
}

export interface ParsedState {
  mode: string;
  nextNodeid: bigint;
  nextFh: bigint;
  root: { dev: number; ino: bigint; handle: Buffer | undefined } | undefined;
  inodes: ParsedInode[];
  handles: ParsedHandle[];
}

/** A refused state; `code` is stable. */
export class StateError extends Error {
  constructor(
    readonly code: 'STATE_BAD_FILESYSTEM' | 'STATE_UNSUPPORTED_VERSION',
    message: string,
  ) {
    super(message);
    this.name = 'StateError';
  }
}

function bad(where: string, what: string): never {
  throw new StateError('STATE_BAD_FILESYSTEM', `passthrough state: ${where}: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function u64(v: unknown, where: string, min = 0n): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v)) bad(where, 'not a decimal 64-bit number in a string');
  const n = BigInt(v);
  if (n > U64_MAX) bad(where, 'above 2^64-1');
  if (n < min) bad(where, `below ${min}`);
  return n;
}

function dev(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(where, 'not a device number');
  return v;
}

function handleBytes(v: unknown, where: string): Buffer | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-f]*$/.test(v)) bad(where, 'not lowercase hex bytes');
  const b = Buffer.from(v, 'hex');
  if (b.length < 8 || b.length > MAX_HANDLE_BYTES) bad(where, `a file handle is 8..${MAX_HANDLE_BYTES} bytes, not ${b.length}`);
  if (b.readUInt32LE(0) !== b.length - 8) bad(where, 'handle_bytes does not match the handle length');
  return b;
}

/**
 * A relative path made of plain components: no leading or trailing '/', no empty, "." or ".."
 * component, no NUL, at most PATH_MAX bytes. Such a path can only be resolved beneath the shared dir
 * (and is, with RESOLVE_BENEATH and no symlinks: host.ts).
 */
export function checkRelativePath(p: Buffer, where: string): Buffer {
  if (p.length === 0) bad(where, 'empty path');
  if (p.length > MAX_STATE_PATH) bad(where, `path longer than ${MAX_STATE_PATH} bytes`);
  if (p.includes(0)) bad(where, 'path contains NUL');
  if (p[0] === 0x2f) bad(where, 'absolute path');
  for (const c of p.toString('latin1').split('/')) {
    if (c === '') bad(where, 'empty path component (leading, trailing or double "/")');
    if (c === '.' || c === '..') bad(where, `"${c}" component`);
  }
  return p;
}

function pathOf(r: Record<string, unknown>, where: string): Buffer | undefined {
  if (r.path !== undefined && r.pathBase64 !== undefined) bad(where, 'both path and pathBase64');
  if (r.path !== undefined) {
    if (typeof r.path !== 'string') bad(`${where}.path`, 'not a string');
    return checkRelativePath(Buffer.from(r.path, 'utf8'), `${where}.path`);
  }
  if (r.pathBase64 !== undefined) {
    if (typeof r.pathBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(r.pathBase64) || r.pathBase64.length % 4 !== 0) bad(`${where}.pathBase64`, 'not base64');
    return checkRelativePath(Buffer.from(r.pathBase64, 'base64'), `${where}.pathBase64`);
  }
  return undefined;
}

/** Validate a state from another daemon. Throws StateError (code STATE_BAD_FILESYSTEM or STATE_UNSUPPORTED_VERSION). */
export function parseState(v: unknown): ParsedState {
  if (!isObject(v)) bad('section', 'not a JSON object');
  if (v.format !== PASSTHROUGH_STATE_FORMAT) bad('format', `not "${PASSTHROUGH_STATE_FORMAT}"`);
  if (typeof v.version !== 'number' || !Number.isInteger(v.version) || v.version < 1) bad('version', 'not a version number');
  if (v.version > PASSTHROUGH_STATE_VERSION) {
    throw new StateError('STATE_UNSUPPORTED_VERSION', `passthrough state version ${v.version}; this daemon reads versions 1..${PASSTHROUGH_STATE_VERSION}`);
  }
  if (v.mode !== 'find-paths' && v.mode !== 'file-handles') bad('mode', 'not find-paths or file-handles');
  const nextNodeid = u64(v.nextNodeid, 'nextNodeid', FUSE_ROOT_ID + 1n);
  const nextFh = u64(v.nextFh, 'nextFh', 1n);
  // Room to keep counting: ids are u64 on the wire, and a counter near the top would overflow.
  if (nextNodeid > MAX_NEXT_ID) bad('nextNodeid', `above ${MAX_NEXT_ID}`);
  if (nextFh > MAX_NEXT_ID) bad('nextFh', `above ${MAX_NEXT_ID}`);

  let root: ParsedState['root'];
  if (v.root !== null) {
    if (!isObject(v.root)) bad('root', 'not an object or null');
    root = { dev: dev(v.root.dev, 'root.dev'), ino: u64(v.root.ino, 'root.ino'), handle: handleBytes(v.root.handle, 'root.handle') };
  }

  if (!Array.isArray(v.inodes)) bad('inodes', 'not an array');
  if (v.inodes.length > MAX_STATE_INODES) bad('inodes', `more than ${MAX_STATE_INODES}`);
  if (root === undefined && v.inodes.length > 0) bad('inodes', 'inodes without a root');
  const types = new Map<bigint, number>([[FUSE_ROOT_ID, native.S_IFDIR]]);
  const inodes: ParsedInode[] = v.inodes.map((r: unknown, i: number) => {
    const w = `inodes[${i}]`;
    if (!isObject(r)) bad(w, 'not an object');
    const nodeid = u64(r.nodeid, `${w}.nodeid`, FUSE_ROOT_ID + 1n);
    if (nodeid >= nextNodeid) bad(`${w}.nodeid`, `${nodeid} is not below nextNodeid ${nextNodeid}`);
    if (types.has(nodeid)) bad(`${w}.nodeid`, `${nodeid} appears twice`);
    const nlookup = u64(r.nlookup, `${w}.nlookup`, 1n);
    if (u64(r.generation, `${w}.generation`) !== 0n) bad(`${w}.generation`, 'this daemon only hands out generation 0');
    if (typeof r.type !== 'string' || !Object.hasOwn(FILE_TYPES, r.type)) bad(`${w}.type`, `not one of ${Object.keys(FILE_TYPES).join(', ')}`);
    const type = FILE_TYPES[r.type]!;
    types.set(nodeid, type);
    let stale: string | undefined;
    if (r.stale !== undefined) {
      if (typeof r.stale !== 'string' || r.stale.length > MAX_REASON) bad(`${w}.stale`, 'not a short string');
      stale = r.stale;
    }
    return { nodeid, nlookup, type, path: pathOf(r, w), handle: handleBytes(r.handle, `${w}.handle`), dev: dev(r.dev, `${w}.dev`), ino: u64(r.ino, `${w}.ino`), stale };
  });

  if (!Array.isArray(v.handles)) bad('handles', 'not an array');
  if (v.handles.length > MAX_STATE_HANDLES) bad('handles', `more than ${MAX_STATE_HANDLES}`);
  const fhs = new Set<bigint>();
  const handles: ParsedHandle[] = v.handles.map((r: unknown, i: number) => {
    const w = `handles[${i}]`;
    if (!isObject(r)) bad(w, 'not an object');
    const fh = u64(r.fh, `${w}.fh`, 1n);
    if (fh >= nextFh) bad(`${w}.fh`, `${fh} is not below nextFh ${nextFh}`);
    if (fhs.has(fh)) bad(`${w}.fh`, `${fh} appears twice`);
    fhs.add(fh);
    const nodeid = u64(r.nodeid, `${w}.nodeid`, FUSE_ROOT_ID);
    const type = types.get(nodeid);
    if (type === undefined || (nodeid === FUSE_ROOT_ID && root === undefined)) bad(`${w}.nodeid`, `${nodeid} is not a nodeid of this state`);
    if (typeof r.flags !== 'number' || !Number.isInteger(r.flags) || r.flags < -0x80000000 || r.flags > 0x7fffffff) bad(`${w}.flags`, 'not a 32-bit integer');
    if ((r.flags & native.O_ACCMODE) === native.O_ACCMODE) bad(`${w}.flags`, 'invalid access mode');
    if (typeof r.dir !== 'boolean') bad(`${w}.dir`, 'not a boolean');
    if (r.dir !== (type === native.S_IFDIR)) bad(`${w}.dir`, `does not match the type of nodeid ${nodeid}`);
    if (!r.dir && type !== native.S_IFREG) bad(w, `nodeid ${nodeid} is neither a regular file nor a directory`);
    if (r.dir && (r.flags & native.O_ACCMODE) !== native.O_RDONLY) bad(`${w}.flags`, 'a directory opened for writing');
    if (r.stale !== undefined && typeof r.stale !== 'boolean') bad(`${w}.stale`, 'not a boolean');
    return { fh, nodeid, flags: r.flags, dir: r.dir, stale: r.stale === true };
  });
  return { mode: v.mode, nextNodeid, nextFh, root, inodes, handles };
}
