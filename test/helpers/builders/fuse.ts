/**
 * An independent FUSE message builder/parser for tests. It writes and reads bytes by hand with DataView
 * at offsets taken from include/uapi/linux/fuse.h, and imports nothing from protocol/ or src/, so tests
 * that compare it with the code under test compare two separate readings of the spec.
 */

/** Little-endian byte assembler. */
export class LE {
  private parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number): this {
    return this.u16(v & 0xffff).u16((v >>> 16) & 0xffff);
  }
  i32(v: number): this {
    return this.u32(v >>> 0);
  }
  u64(v: bigint | number): this {
    const b = BigInt.asUintN(64, BigInt(v));
    return this.u32(Number(b & 0xffffffffn)).u32(Number(b >> 32n));
  }
  zero(n: number): this {
    for (let i = 0; i < n; i++) this.u8(0);
    return this;
  }
  bytes(b: Uint8Array | string): this {
    const x = typeof b === 'string' ? new TextEncoder().encode(b) : b;
    for (const c of x) this.u8(c);
    return this;
  }
  /** A NUL-terminated string. */
  cstr(s: string | Uint8Array): this {
    return this.bytes(s).u8(0);
  }
  get length(): number {
    return this.parts.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Cut `buf` into segments at the given offsets (copies, so segments are independent buffers). */
export function splitAt(buf: Uint8Array, ...cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, buf.length]) {
    out.push(buf.slice(prev, c));
    prev = c;
  }
  return out;
}

// ---- opcodes (fuse.h enum fuse_opcode) ----------------------------------------------------------------
export const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49,
  SYNCFS: 50, TMPFILE: 51, STATX: 52, CUSE_INIT: 4096,
} as const;

// ---- requests ---------------------------------------------------------------------------------------

export interface HeaderFields {
  unique?: bigint;
  nodeid?: bigint;
  uid?: number;
  gid?: number;
  pid?: number;
  /** Override len (for malformed requests). */
  len?: number;
  /** Override total_extlen (default: ext.length / 8). */
  total_extlen?: number;
}

/** fuse_in_header: len u32 @0, opcode u32 @4, unique u64 @8, nodeid u64 @16, uid @24, gid @28, pid @32, total_extlen u16 @36, pad @38. */
export function inHeader(opcode: number, len: number, f: HeaderFields = {}): Uint8Array {
  return new LE()
    .u32(len)
    .u32(opcode)
    .u64(f.unique ?? 2n)
    .u64(f.nodeid ?? 1n)
    .u32(f.uid ?? 1000)
    .u32(f.gid ?? 1000)
    .u32(f.pid ?? 42)
    .u16(f.total_extlen ?? 0)
    .u16(0)
    .build();
}

/** A whole request: header + body + extension area, with len and total_extlen computed. */
export function request(opcode: number, body: Uint8Array = new Uint8Array(0), f: HeaderFields = {}, ext: Uint8Array = new Uint8Array(0)): Uint8Array {
  const len = 40 + body.length + ext.length;
  return concat(inHeader(opcode, f.len ?? len, { ...f, total_extlen: f.total_extlen ?? ext.length / 8 }), body, ext);
}

export function initIn(major: number, minor: number, maxReadahead: number, flags: number, flags2?: number): Uint8Array {
  const b = new LE().u32(major).u32(minor).u32(maxReadahead).u32(flags);
  if (flags2 !== undefined) b.u32(flags2).zero(44);
  return b.build();
}
/** fuse_read_in (40): fh, offset, size, read_flags, lock_owner, flags, padding. */
export function readIn(fh: bigint, offset: bigint, size: number, readFlags = 0, lockOwner = 0n, flags = 0): Uint8Array {
  return new LE().u64(fh).u64(offset).u32(size).u32(readFlags).u64(lockOwner).u32(flags).u32(0).build();
}
/** fuse_write_in (40): fh, offset, size, write_flags, lock_owner, flags, padding. */
export function writeIn(fh: bigint, offset: bigint, size: number, writeFlags = 0, lockOwner = 0n, flags = 0): Uint8Array {
  return new LE().u64(fh).u64(offset).u32(size).u32(writeFlags).u64(lockOwner).u32(flags).u32(0).build();
}
export function openIn(flags: number, openFlags = 0): Uint8Array {
  return new LE().u32(flags).u32(openFlags).build();
}
export function createIn(flags: number, mode: number, umask: number, openFlags = 0): Uint8Array {
  return new LE().u32(flags).u32(mode).u32(umask).u32(openFlags).build();
}
export function mknodIn(mode: number, rdev: number, umask: number): Uint8Array {
  return new LE().u32(mode).u32(rdev).u32(umask).u32(0).build();
}
export function mkdirIn(mode: number, umask: number): Uint8Array {
  return new LE().u32(mode).u32(umask).build();
}
export function rename2In(newdir: bigint, flags: number): Uint8Array {
  return new LE().u64(newdir).u32(flags).u32(0).build();
}
export function getattrIn(flags: number, fh: bigint): Uint8Array {
  return new LE().u32(flags).u32(0).u64(fh).build();
}
/** fuse_setattr_in (88). */
export function setattrIn(f: { valid: number; fh?: bigint; size?: bigint; mode?: number; uid?: number; gid?: number; atime?: bigint; mtime?: bigint }): Uint8Array {
  return new LE()
    .u32(f.valid).u32(0).u64(f.fh ?? 0n).u64(f.size ?? 0n).u64(0n)
    .u64(f.atime ?? 0n).u64(f.mtime ?? 0n).u64(0n)
    .u32(0).u32(0).u32(0).u32(f.mode ?? 0).u32(0).u32(f.uid ?? 0).u32(f.gid ?? 0).u32(0)
    .build();
}
export function releaseIn(fh: bigint, flags: number, releaseFlags: number, lockOwner: bigint): Uint8Array {
  return new LE().u64(fh).u32(flags).u32(releaseFlags).u64(lockOwner).build();
}
export function lkIn(fh: bigint, owner: bigint, start: bigint, end: bigint, type: number, pid: number, lkFlags: number): Uint8Array {
  return new LE().u64(fh).u64(owner).u64(start).u64(end).u32(type).u32(pid).u32(lkFlags).u32(0).build();
}
export function u64s(...v: bigint[]): Uint8Array {
  const b = new LE();
  for (const x of v) b.u64(x);
  return b.build();
}
export function u32s(...v: number[]): Uint8Array {
  const b = new LE();
  for (const x of v) b.u32(x);
  return b.build();
}
export function cstr(s: string): Uint8Array {
  return new LE().cstr(s).build();
}

// ---- attr (fuse_attr, 88 bytes) ---------------------------------------------------------------------

export interface AttrFields {
  ino: bigint; size: bigint; blocks: bigint; atime: bigint; mtime: bigint; ctime: bigint;
  atimensec: number; mtimensec: number; ctimensec: number; mode: number; nlink: number;
  uid: number; gid: number; rdev: number; blksize: number; flags: number;
}

export function attr(a: AttrFields): Uint8Array {
  return new LE()
    .u64(a.ino).u64(a.size).u64(a.blocks).u64(a.atime).u64(a.mtime).u64(a.ctime)
    .u32(a.atimensec).u32(a.mtimensec).u32(a.ctimensec).u32(a.mode).u32(a.nlink)
    .u32(a.uid).u32(a.gid).u32(a.rdev).u32(a.blksize).u32(a.flags)
    .build();
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function parseAttr(b: Uint8Array, o = 0): AttrFields {
  const d = dv(b);
  const q = (i: number) => d.getBigUint64(o + i, true);
  const w = (i: number) => d.getUint32(o + i, true);
  return {
    ino: q(0), size: q(8), blocks: q(16), atime: q(24), mtime: q(32), ctime: q(40),
    atimensec: w(48), mtimensec: w(52), ctimensec: w(56), mode: w(60), nlink: w(64),
    uid: w(68), gid: w(72), rdev: w(76), blksize: w(80), flags: w(84),
  };
}

// ---- replies ----------------------------------------------------------------------------------------

export interface OutMessage {
  len: number;
  error: number;
  unique: bigint;
  body: Uint8Array;
}

/** fuse_out_header: len u32 @0, error i32 @4, unique u64 @8; body follows. */
export function parseOut(b: Uint8Array): OutMessage {
  if (b.length < 16) throw new Error(`reply of ${b.length} bytes`);
  const d = dv(b);
  const len = d.getUint32(0, true);
  return { len, error: d.getInt32(4, true), unique: d.getBigUint64(8, true), body: b.slice(16, len) };
}

/** Gather `used` bytes from writable segments. */
export function gather(segs: Uint8Array[], used: number): Uint8Array {
  return concat(...segs).slice(0, used);
}

/** fuse_entry_out (128): nodeid, generation, entry_valid, attr_valid, entry_valid_nsec, attr_valid_nsec, attr. */
export function parseEntryOut(b: Uint8Array, o = 0) {
  const d = dv(b);
  return {
    nodeid: d.getBigUint64(o, true),
    generation: d.getBigUint64(o + 8, true),
    entry_valid: d.getBigUint64(o + 16, true),
    attr_valid: d.getBigUint64(o + 24, true),
    entry_valid_nsec: d.getUint32(o + 32, true),
    attr_valid_nsec: d.getUint32(o + 36, true),
    attr: parseAttr(b, o + 40),
  };
}

/** fuse_init_out (64). */
export function parseInitOut(b: Uint8Array) {
  const d = dv(b);
  return {
    major: d.getUint32(0, true), minor: d.getUint32(4, true), max_readahead: d.getUint32(8, true), flags: d.getUint32(12, true),
    max_background: d.getUint16(16, true), congestion_threshold: d.getUint16(18, true), max_write: d.getUint32(20, true),
    time_gran: d.getUint32(24, true), max_pages: d.getUint16(28, true), map_alignment: d.getUint16(30, true),
    flags2: d.getUint32(32, true),
  };
}

export interface DirentFields {
  ino: bigint;
  off: bigint;
  type: number;
  name: string;
}

/** Parse fuse_dirent records (24-byte head + name, padded to 8). */
export function parseDirents(b: Uint8Array): DirentFields[] {
  const d = dv(b);
  const out: DirentFields[] = [];
  let o = 0;
  while (o < b.length) {
    const namelen = d.getUint32(o + 16, true);
    out.push({
      ino: d.getBigUint64(o, true),
      off: d.getBigUint64(o + 8, true),
      type: d.getUint32(o + 20, true),
      name: new TextDecoder().decode(b.subarray(o + 24, o + 24 + namelen)),
    });
    for (let i = o + 24 + namelen; i < o + ((24 + namelen + 7) & ~7); i++) if (b[i] !== 0) throw new Error(`dirent padding byte ${i} not zero`);
    o += (24 + namelen + 7) & ~7;
  }
  return out;
}

/** Parse fuse_direntplus records (128-byte entry_out + dirent, padded to 8). */
export function parseDirentsPlus(b: Uint8Array): Array<{ entry: ReturnType<typeof parseEntryOut>; dirent: DirentFields }> {
  const d = dv(b);
  const out: Array<{ entry: ReturnType<typeof parseEntryOut>; dirent: DirentFields }> = [];
  let o = 0;
  while (o < b.length) {
    const entry = parseEntryOut(b, o);
    const namelen = d.getUint32(o + 128 + 16, true);
    out.push({
      entry,
      dirent: {
        ino: d.getBigUint64(o + 128, true),
        off: d.getBigUint64(o + 136, true),
        type: d.getUint32(o + 148, true),
        name: new TextDecoder().decode(b.subarray(o + 152, o + 152 + namelen)),
      },
    });
    o += (152 + namelen + 7) & ~7;
  }
  return out;
}

/** Writable segments of the given sizes. */
export function writable(...sizes: number[]): Uint8Array[] {
  return sizes.map((n) => new Uint8Array(n).fill(0xee));
}
