/**
 * fast-check arbitraries for FUSE requests, from include/uapi/linux/fuse.h read independently of
 * protocol/: per opcode the size of its fixed argument struct, where its fh and size fields sit, and
 * which names follow. A generated request is mostly well-shaped (so it reaches the file system) with
 * hostile values (huge sizes and counts, bogus nodeids and fhs, names without NUL, with '/', '.'/'..',
 * over NAME_MAX), or outright malformed (header len disagreeing with the bytes, argument structs cut
 * short or padded, extension lengths that lie, random opcodes). Nodeids and fhs may refer to earlier
 * replies in the same case ("pool" references), so sequences reach deep states.
 */
import fc from 'fast-check';
import * as B from '../../helpers/builders/fuse.js';

const OP = B.OP;

/** What follows the fixed arguments. */
type Names = 0 | 1 | 2 | 'symlink' | 'xattr' | 'data' | 'forgets' | 'mappings';

interface Shape {
  fixed: number;
  names: Names;
  /** Offset of a u64 fh in the fixed part. */
  fh?: number;
  /** Offset of a u32 size or count the file system trusts. */
  size?: number;
}

/** fuse.h 7.38+, fixed argument sizes. */
export const SHAPES: Record<number, Shape> = {
  [OP.LOOKUP]: { fixed: 0, names: 1 },
  [OP.FORGET]: { fixed: 8, names: 0 },
  [OP.GETATTR]: { fixed: 16, names: 0, fh: 8 },
  [OP.SETATTR]: { fixed: 88, names: 0, fh: 8 },
  [OP.READLINK]: { fixed: 0, names: 0 },
  [OP.SYMLINK]: { fixed: 0, names: 'symlink' },
  [OP.MKNOD]: { fixed: 16, names: 1 },
  [OP.MKDIR]: { fixed: 8, names: 1 },
  [OP.UNLINK]: { fixed: 0, names: 1 },
  [OP.RMDIR]: { fixed: 0, names: 1 },
  [OP.RENAME]: { fixed: 8, names: 2 },
  [OP.LINK]: { fixed: 8, names: 1 },
  [OP.OPEN]: { fixed: 8, names: 0 },
  [OP.READ]: { fixed: 40, names: 0, fh: 0, size: 16 },
  [OP.WRITE]: { fixed: 40, names: 'data', fh: 0, size: 16 },
  [OP.STATFS]: { fixed: 0, names: 0 },
  [OP.RELEASE]: { fixed: 24, names: 0, fh: 0 },
  [OP.FSYNC]: { fixed: 16, names: 0, fh: 0 },
  [OP.SETXATTR]: { fixed: 8, names: 'xattr', size: 0 },
  [OP.GETXATTR]: { fixed: 8, names: 1, size: 0 },
  [OP.LISTXATTR]: { fixed: 8, names: 0, size: 0 },
  [OP.REMOVEXATTR]: { fixed: 0, names: 1 },
  [OP.FLUSH]: { fixed: 24, names: 0, fh: 0 },
  [OP.OPENDIR]: { fixed: 8, names: 0 },
  [OP.READDIR]: { fixed: 40, names: 0, fh: 0, size: 16 },
  [OP.RELEASEDIR]: { fixed: 24, names: 0, fh: 0 },
  [OP.FSYNCDIR]: { fixed: 16, names: 0, fh: 0 },
  [OP.GETLK]: { fixed: 48, names: 0, fh: 0 },
  [OP.SETLK]: { fixed: 48, names: 0, fh: 0 },
  [OP.SETLKW]: { fixed: 48, names: 0, fh: 0 },
  [OP.ACCESS]: { fixed: 8, names: 0 },
  [OP.CREATE]: { fixed: 16, names: 1 },
  [OP.INTERRUPT]: { fixed: 8, names: 0 },
  [OP.BMAP]: { fixed: 16, names: 0 },
  [OP.DESTROY]: { fixed: 0, names: 0 },
  [OP.IOCTL]: { fixed: 32, names: 'data', fh: 0, size: 24 },
  [OP.POLL]: { fixed: 24, names: 0, fh: 0 },
  [OP.NOTIFY_REPLY]: { fixed: 24, names: 'data' },
  [OP.BATCH_FORGET]: { fixed: 8, names: 'forgets', size: 0 },
  [OP.FALLOCATE]: { fixed: 32, names: 0, fh: 0 },
  [OP.READDIRPLUS]: { fixed: 40, names: 0, fh: 0, size: 16 },
  [OP.RENAME2]: { fixed: 16, names: 2 },
  [OP.LSEEK]: { fixed: 24, names: 0, fh: 0 },
  [OP.COPY_FILE_RANGE]: { fixed: 56, names: 0, fh: 0 },
  [OP.SETUPMAPPING]: { fixed: 40, names: 0, fh: 0 },
  [OP.REMOVEMAPPING]: { fixed: 8, names: 'mappings', size: 0 },
  [OP.SYNCFS]: { fixed: 8, names: 0 },
  [OP.TMPFILE]: { fixed: 16, names: 1 },
  [OP.STATX]: { fixed: 24, names: 0, fh: 8 },
};

/** Requests that get no reply (fuse.h: FORGET, BATCH_FORGET, INTERRUPT; NOTIFY_REPLY answers us). */
export const NO_REPLY = new Set<number>([OP.FORGET, OP.BATCH_FORGET, OP.INTERRUPT, OP.NOTIFY_REPLY]);

/**
 * Success reply body sizes from fuse.h, where they are fixed: an ok reply of another length is an
 * encoding bug. READ, READDIR, READDIRPLUS, GETXATTR, LISTXATTR, READLINK and IOCTL vary and are only bounded.
 */
export const OK_BODY: Record<number, number> = {
  [OP.LOOKUP]: 128, [OP.MKNOD]: 128, [OP.MKDIR]: 128, [OP.SYMLINK]: 128, [OP.LINK]: 128,
  [OP.GETATTR]: 104, [OP.SETATTR]: 104, [OP.OPEN]: 16, [OP.OPENDIR]: 16, [OP.CREATE]: 144, [OP.TMPFILE]: 144,
  [OP.WRITE]: 8, [OP.STATFS]: 80, [OP.GETLK]: 24, [OP.BMAP]: 8, [OP.LSEEK]: 8, [OP.COPY_FILE_RANGE]: 8,
  [OP.POLL]: 8, [OP.STATX]: 288, [OP.INIT]: 64,
  [OP.UNLINK]: 0, [OP.RMDIR]: 0, [OP.RENAME]: 0, [OP.RENAME2]: 0, [OP.RELEASE]: 0, [OP.FSYNC]: 0, [OP.SETXATTR]: 0,
  [OP.REMOVEXATTR]: 0, [OP.FLUSH]: 0, [OP.RELEASEDIR]: 0, [OP.FSYNCDIR]: 0, [OP.SETLK]: 0, [OP.SETLKW]: 0,
  [OP.ACCESS]: 0, [OP.FALLOCATE]: 0, [OP.SYNCFS]: 0, [OP.SETUPMAPPING]: 0, [OP.REMOVEMAPPING]: 0, [OP.DESTROY]: 0,
};

/** A nodeid or fh: a literal, or the i-th one earlier replies of this case handed out. */
export type Ref = { pool: number } | { lit: bigint };

export interface FuseReq {
  opcode: number;
  nodeid: Ref;
  fh: Ref;
  /** The fixed argument bytes (random, with `pokes` applied); length may differ from the shape. */
  fixed: Uint8Array;
  pokes: { at: number; v: number }[];
  /** Set the size field to the data length (a consistent WRITE/IOCTL/SETXATTR). */
  consistentSize: boolean;
  names: Uint8Array[];
  data: Uint8Array;
  /** Extension area bytes (total_extlen * 8 of them unless `extlenLie`). */
  ext: Uint8Array;
  extlenLie?: number;
  /** Header len = true length + lenDelta, or `lenAbs`. */
  lenDelta: number;
  lenAbs?: number;
  uid: number;
  gid: number;
  /** Where the readable bytes are cut into segments (fractions) and the writable segment sizes. */
  cuts: number[];
  writable: number[];
  queue: number;
}

// ---- values ---------------------------------------------------------------------------------------

const interestingU32 = fc.constantFrom(0, 1, 2, 7, 8, 16, 255, 256, 4095, 4096, 4097, 65536, 131072, 1 << 20, (1 << 20) + 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff);
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 2n, 3n, 0xffffffffn, 1n << 32n, 1n << 53n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);

export const ref: fc.Arbitrary<Ref> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ pool: fc.nat({ max: 15 }) }) },
  { weight: 1, arbitrary: fc.record({ lit: u64 }) },
);

const enc = (s: string) => new TextEncoder().encode(s);
const nameWords = ['a', 'b', 'file', 'dir', 'sub', 'f', 'd', 'up', 'abs', 'root', 'canary', 'secret', 'x', 'new', 'link', '.', '..', '', 'x/y', '/', '../canary', 'é', 'user.x', 'trusted.t', 'security.capability', 'system.posix_acl_access'];

/** A name: a dictionary word or random bytes, NUL-terminated or not, sometimes over NAME_MAX. */
export const name: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...nameWords).map(enc) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }) },
      { weight: 1, arbitrary: fc.constantFrom(255, 256, 1024, 4097).map((n) => new Uint8Array(n).fill(0x61)) },
    ),
    fc.oneof({ weight: 8, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  )
  .map(([b, nul]) => (nul ? B.concat(b, new Uint8Array(1)) : b));

/** What a guest sends all the time: these reach deep into a file system's state. */
const COMMON = [
  OP.LOOKUP, OP.GETATTR, OP.SETATTR, OP.MKNOD, OP.MKDIR, OP.UNLINK, OP.RMDIR, OP.RENAME, OP.LINK, OP.SYMLINK, OP.READLINK,
  OP.OPEN, OP.READ, OP.WRITE, OP.RELEASE, OP.OPENDIR, OP.READDIR, OP.READDIRPLUS, OP.RELEASEDIR, OP.CREATE, OP.FORGET,
  OP.BATCH_FORGET, OP.STATFS, OP.FLUSH, OP.FSYNC, OP.SETXATTR, OP.GETXATTR, OP.LISTXATTR, OP.REMOVEXATTR, OP.ACCESS,
  OP.GETLK, OP.SETLK, OP.FALLOCATE, OP.LSEEK, OP.COPY_FILE_RANGE, OP.RENAME2, OP.TMPFILE, OP.STATX,
];
const RARE = [OP.INTERRUPT, OP.BMAP, OP.IOCTL, OP.POLL, OP.NOTIFY_REPLY, OP.SETUPMAPPING, OP.REMOVEMAPPING, OP.SYNCFS, OP.FSYNCDIR, OP.SETLKW, OP.INIT];

/**
 * Opcodes: mostly the common ones, sometimes rare, unknown or random ones, and rarely DESTROY (which
 * ends the session: everything after it is EIO). `exclude` drops some (see the passthrough run).
 */
export function opcodes(exclude: number[] = []): fc.Arbitrary<number> {
  const keep = (list: number[]) => list.filter((o) => !exclude.includes(o));
  return fc.oneof(
    { weight: 40, arbitrary: fc.constantFrom(...keep(COMMON)) },
    { weight: 5, arbitrary: fc.constantFrom(...keep(RARE)) },
    { weight: 1, arbitrary: fc.constantFrom(OP.DESTROY, 0, 7, 19, 53, 4096, 0xffffffff) },
    { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) },
  );
}
const opcode = opcodes();

/** One request; `opcodes` restricts the opcode (a passthrough run excludes nothing by default). */
export function fuseReq(opcodes?: fc.Arbitrary<number>): fc.Arbitrary<FuseReq> {
  return (opcodes ?? opcode).chain((op) => {
    const shape = SHAPES[op] ?? { fixed: 16, names: 0 as Names };
    const fixedLen = fc.oneof({ weight: 30, arbitrary: fc.constant(shape.fixed) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: shape.fixed + 24 }) });
    const names =
      shape.names === 1 || shape.names === 'xattr' ? fc.tuple(name).map((x) => [...x])
      : shape.names === 2 || shape.names === 'symlink' ? fc.tuple(name, name).map((x) => [...x])
      : fc.constant<Uint8Array[]>([]);
    const data =
      shape.names === 'data' || shape.names === 'xattr' ? fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(4096, 65537).map((n) => new Uint8Array(n).fill(0x77)))
      : shape.names === 'forgets' || shape.names === 'mappings' ? fc.array(fc.tuple(ref, u64), { maxLength: 6 }).map((items) => new Uint8Array(16 * items.length)) // filled by the runner
      : fc.constant(new Uint8Array(0));
    return fc.record({
      opcode: fc.constant(op),
      nodeid: ref,
      fh: ref,
      fixed: fixedLen.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      pokes: fc.oneof(
        { weight: 2, arbitrary: fc.constant<{ at: number; v: number }[]>([]) },
        { weight: 1, arbitrary: fc.array(fc.record({ at: fc.nat({ max: Math.max(0, Math.floor(shape.fixed / 4) - 1) }), v: fc.oneof(interestingU32, fc.nat({ max: 0xffffffff })) }), { minLength: 1, maxLength: 2 }) },
      ),
      consistentSize: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      names,
      data,
      ext: fc.oneof({ weight: 30, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 6 }).chain((n) => fc.uint8Array({ minLength: 8 * n, maxLength: 8 * n })) }),
      extlenLie: fc.oneof({ weight: 60, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat({ max: 0xffff }) }),
      lenDelta: fc.oneof({ weight: 40, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -48, max: 48 }) }),
      lenAbs: fc.oneof({ weight: 80, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 39, 40, 0xffffffff) }),
      uid: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1000, 65534, 0xffffffff) }),
      gid: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constantFrom(1000, 65534, 0xffffffff) }),
      cuts: fc.oneof({ weight: 4, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }) }),
      writable: fc.oneof(
        { weight: 10, arbitrary: fc.constant<number[]>([8192]) },
        { weight: 2, arbitrary: fc.array(fc.constantFrom(0, 1, 15, 16, 17, 100, 4096, 4097, 65536 + 16), { minLength: 1, maxLength: 3 }) },
      ),
      queue: fc.constant(1),
    });
  });
}

/** FUSE_INIT as a 6.x kernel sends it (7.38, INIT_EXT), or a mutated one. */
export const initReq: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 20, arbitrary: fc.constant(B.initIn(7, 38, 1 << 17, 0x7fffffff, 0x7)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(0, 6, 7, 8, 0xffffffff), fc.constantFrom(0, 12, 26, 31, 38, 40, 99, 0xffffffff), fc.nat({ max: 0xffffffff }), fc.option(fc.nat({ max: 0xffffffff })))
      .map(([maj, min, flags, f2]) => B.initIn(maj, min, 0, flags, f2 ?? undefined)),
  },
);

export interface FuseCase {
  init: Uint8Array | null;
  reqs: FuseReq[];
}

export function fuseCase(opcodes?: fc.Arbitrary<number>, maxReqs = 20): fc.Arbitrary<FuseCase> {
  return fc.record({
    init: fc.oneof({ weight: 30, arbitrary: initReq }, { weight: 1, arbitrary: fc.constant(null) }),
    reqs: fc.array(fuseReq(opcodes), { minLength: 1, maxLength: maxReqs }),
  });
}

// ---- assembling one request ---------------------------------------------------------------------------

/** Nodeids and fhs handed out by earlier replies of the case (root first). */
export class Pools {
  nodeids: bigint[] = [1n];
  fhs: bigint[] = [0n];
  resolve(r: Ref, pool: bigint[]): bigint {
    return 'lit' in r ? r.lit : pool[r.pool % pool.length]!;
  }
}

export interface Built {
  bytes: Uint8Array;
  segments: Uint8Array[];
  unique: bigint;
}

/**
 * The bytes of `r`: header + fixed args (fh and size fields filled in) + names + data + extensions,
 * with the header len and total_extlen the case asks for; cut into segments. `clamp` limits values a
 * passthrough would act on for real (sizes it would allocate or write on the host disk).
 */
export function build(r: FuseReq, pools: Pools, unique: bigint, clamp?: (op: number, fixed: DataView) => void): Built {
  const shape = SHAPES[r.opcode];
  const fixed = r.fixed.slice();
  const dv = new DataView(fixed.buffer);
  for (const p of r.pokes) if (4 * p.at + 4 <= fixed.length) dv.setUint32(4 * p.at, p.v, true);
  if (shape?.fh !== undefined && shape.fh + 8 <= fixed.length) dv.setBigUint64(shape.fh, pools.resolve(r.fh, pools.fhs), true);
  let data = r.data;
  if (shape?.names === 'forgets' || shape?.names === 'mappings') {
    data = data.slice();
    const d = new DataView(data.buffer);
    for (let i = 0; i < data.length / 16; i++) {
      d.setBigUint64(16 * i, pools.resolve({ pool: i }, pools.nodeids), true);
      d.setBigUint64(16 * i + 8, BigInt(i + 1), true);
    }
  }
  if (r.consistentSize && shape?.size !== undefined && shape.size + 4 <= fixed.length) {
    if (shape.names === 'data' || shape.names === 'xattr') dv.setUint32(shape.size, data.length, true);
    if (shape.names === 'forgets' || shape.names === 'mappings') dv.setUint32(shape.size, data.length / 16, true);
    if (r.opcode === OP.READ || r.opcode === OP.READDIR || r.opcode === OP.READDIRPLUS) dv.setUint32(shape.size, Math.min(dv.getUint32(shape.size, true), 4096), true);
  }
  // Second nodeids (LINK's oldnodeid, RENAME's newdir, COPY_FILE_RANGE's output) come from the pool too.
  if (r.opcode === OP.LINK && fixed.length >= 8) dv.setBigUint64(0, pools.resolve(r.fh, pools.nodeids), true);
  if (r.opcode === OP.COPY_FILE_RANGE && fixed.length >= 32) {
    dv.setBigUint64(16, pools.resolve(r.nodeid, pools.nodeids), true);
    dv.setBigUint64(24, pools.resolve(r.fh, pools.fhs), true);
  }
  if ((r.opcode === OP.RENAME || r.opcode === OP.RENAME2) && fixed.length >= 8) dv.setBigUint64(0, pools.resolve(r.fh, pools.nodeids), true);
  clamp?.(r.opcode, dv);
  let body = B.concat(fixed, ...r.names);
  if (r.opcode === OP.SETXATTR) body = B.concat(fixed, ...r.names, data);
  else body = B.concat(body, data);
  const extlen = r.extlenLie ?? r.ext.length / 8;
  const trueLen = 40 + body.length + r.ext.length;
  const len = r.lenAbs ?? Math.max(0, trueLen + r.lenDelta);
  const header = B.inHeader(r.opcode >>> 0, len >>> 0, { unique, nodeid: pools.resolve(r.nodeid, pools.nodeids), uid: r.uid, gid: r.gid, pid: 4242, total_extlen: extlen });
  const bytes = B.concat(header, body, r.ext);
  const cuts = [...new Set(r.cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
  return { bytes, segments: B.splitAt(bytes, ...cuts), unique };
}

/** Learn nodeids and fhs from a successful reply body. */
export function learn(pools: Pools, opcode: number, body: Uint8Array): void {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const entryOps = [OP.LOOKUP, OP.MKNOD, OP.MKDIR, OP.SYMLINK, OP.LINK, OP.CREATE, OP.TMPFILE];
  if (entryOps.includes(opcode as never) && body.length >= 8) pools.nodeids.push(dv.getBigUint64(0, true));
  if ((opcode === OP.OPEN || opcode === OP.OPENDIR) && body.length >= 8) pools.fhs.push(dv.getBigUint64(0, true));
  if ((opcode === OP.CREATE || opcode === OP.TMPFILE) && body.length >= 136) pools.fhs.push(dv.getBigUint64(128, true));
}

/** A printable one-liner of a request (for counterexamples). */
export function describeReq(r: FuseReq): string {
  const ref = (x: Ref) => ('lit' in x ? `0x${x.lit.toString(16)}` : `#${x.pool}`);
  const hex = (b: Uint8Array) => (b.length <= 24 ? Buffer.from(b).toString('hex') : `${Buffer.from(b.subarray(0, 24)).toString('hex')}…(${b.length})`);
  return `op${r.opcode} node=${ref(r.nodeid)} fh=${ref(r.fh)} fixed=${hex(r.fixed)}${r.pokes.length ? ` pokes=${r.pokes.map((p) => `${p.at}:${p.v}`).join(',')}` : ''}${r.names.length ? ` names=${r.names.map((n) => JSON.stringify(Buffer.from(n).toString('latin1'))).join(',')}` : ''}${r.data.length ? ` data=${r.data.length}` : ''}${r.ext.length ? ` ext=${r.ext.length}` : ''}${r.extlenLie !== undefined ? ` extlen=${r.extlenLie}` : ''}${r.lenDelta ? ` lenΔ=${r.lenDelta}` : ''}${r.lenAbs !== undefined ? ` len=${r.lenAbs}` : ''}${r.cuts.length ? ' cut' : ''} w=${r.writable}`;
}
