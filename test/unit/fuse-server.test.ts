/**
 * src/fuse/server: INIT negotiation, NullFileSystem answers (every opcode ENOSYS except the ones the
 * server owns or that get no reply), reply encoding through a tiny fake file system (LOOKUP, READ into
 * two writable segments, WRITE from split data, READDIR/READDIRPLUS), errno conversion, and malformed
 * requests answered with an error (never a throw). All bytes are built and parsed by the independent
 * builder.
 */
import test from 'ava';
import { Errno } from '../../protocol/errno.js';
import { FUSE_ASYNC_READ, FUSE_CREATE_SUPP_GROUP, FUSE_INIT_EXT, FUSE_POSIX_LOCKS, FUSE_SETXATTR_EXT, splitInitFlags } from '../../protocol/fuse-flags.js';
import { encodeSuppGroupsExt } from '../../protocol/fuse-records.js';
import type { FuseAttr } from '../../protocol/fuse-structs.js';
import { FuseError } from '../../src/fuse/errors.js';
import type { Context, DirentPlusSink, DirentSink, Entry, InitInfo } from '../../src/fuse/filesystem.js';
import { NullFileSystem } from '../../src/fuse/null-filesystem.js';
import { FuseServer } from '../../src/fuse/server.js';
import * as B from '../helpers/builders/fuse.js';
import { OP } from '../helpers/builders/fuse.js';

const INIT_EXT = 1 << 30;

async function call(s: FuseServer, msg: Uint8Array | Uint8Array[], room: number | number[] = 8192) {
  const segs = B.writable(...(Array.isArray(room) ? room : [room]));
  const used = await s.handle(Array.isArray(msg) ? msg : [msg], segs);
  return { used, segs, out: used >= 16 ? B.parseOut(B.gather(segs, used)) : undefined };
}

async function errorOf(s: FuseServer, msg: Uint8Array | Uint8Array[], room?: number): Promise<number | undefined> {
  const { out, used } = await call(s, msg, room);
  if (out) {
    if (out.len !== used) throw new Error(`len ${out.len} != used ${used}`);
    return -out.error;
  }
  return undefined;
}

async function initialized(fs = new NullFileSystem(), flags2 = 0): Promise<FuseServer> {
  const s = new FuseServer(fs);
  const { out } = await call(s, B.request(OP.INIT, B.initIn(7, 41, 1 << 17, INIT_EXT | 1, flags2), { unique: 1n }));
  if (out?.error !== 0) throw new Error('INIT failed');
  return s;
}

function attrOf(ino: bigint, mode: number): FuseAttr {
  return {
    ino, size: 10n, blocks: 1n, atime: 1n, mtime: 2n, ctime: 3n, atimensec: 0, mtimensec: 0, ctimensec: 0,
    mode, nlink: 1, uid: 0, gid: 0, rdev: 0, blksize: 4096, flags: 0,
  };
}

const FILE = Buffer.from('0123456789abcdefghij');

class FakeFs extends NullFileSystem {
  lookups = 0;
  lastCtx?: Context;
  writes: { offset: bigint; views: Uint8Array[]; data: string }[] = [];
  names = ['.', 'alpha', 'beta', 'a-rather-longer-name'];
  constructor(private readonly want = 0n) {
    super();
  }
  override async init(_i: InitInfo): Promise<bigint> {
    return this.want;
  }
  entry(nodeid: bigint): Entry {
    return { nodeid, generation: 7n, attr: attrOf(nodeid, 0o100644), entryTimeout: 1.5, attrTimeout: Infinity };
  }
  override async lookup(ctx: Context, parent: bigint, name: Buffer): Promise<Entry> {
    this.lastCtx = ctx;
    if (name.toString() === 'missing') throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    if (name.toString() === 'full') throw new FuseError('ENOTEMPTY');
    if (name.toString() === 'boom') throw new Error('unexpected');
    if (name.toString() === 'weird') throw 42;
    this.lookups++;
    return this.entry(parent * 100n + BigInt(name.length));
  }
  override async read(_c: Context, _n: bigint, _fh: bigint, offset: bigint, size: number, _f: number, dest: Uint8Array[]): Promise<number> {
    const src = FILE.subarray(Number(offset), Number(offset) + size);
    let o = 0;
    for (const d of dest) {
      const take = Math.min(d.length, src.length - o);
      d.set(src.subarray(o, o + take));
      o += take;
    }
    return src.length;
  }
  override async write(_c: Context, _n: bigint, _fh: bigint, offset: bigint, views: Uint8Array[]): Promise<number> {
    this.writes.push({ offset, views, data: Buffer.concat(views).toString() });
    return Buffer.concat(views).length;
  }
  override async readdir(_c: Context, _n: bigint, _fh: bigint, offset: bigint, sink: DirentSink): Promise<void> {
    for (let i = Number(offset); i < this.names.length; i++) {
      if (!sink.add({ ino: BigInt(100 + i), off: BigInt(i + 1), type: i === 0 ? 4 : 8, name: this.names[i]! })) return;
    }
  }
  override async readdirplus(_c: Context, nodeid: bigint, _fh: bigint, offset: bigint, sink: DirentPlusSink): Promise<void> {
    for (let i = Number(offset); i < this.names.length; i++) {
      const name = this.names[i]!;
      if (!sink.fits(name.length)) return;
      const entry = name === '.' ? null : (this.lookups++, this.entry(nodeid * 100n + BigInt(i)));
      if (!sink.add({ ino: BigInt(100 + i), off: BigInt(i + 1), type: i === 0 ? 4 : 8, name }, entry)) throw new Error('fits() lied');
    }
  }
  override async mkdir(ctx: Context, _p: bigint, _name: Buffer, mode: number): Promise<Entry> {
    this.lastCtx = ctx;
    return { ...this.entry(5n), attr: attrOf(5n, 0o40000 | mode) };
  }
  override async getxattr(_c: Context, _n: bigint, name: Buffer): Promise<Uint8Array> {
    return Buffer.from(`value-of-${name.toString()}`);
  }
}

test('INIT: negotiates 7.38, intersects flags with what the kernel offers, echoes max_readahead', async (t) => {
  const s = new FuseServer(new FakeFs(FUSE_POSIX_LOCKS | FUSE_CREATE_SUPP_GROUP));
  const offered = splitInitFlags(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_INIT_EXT | FUSE_SETXATTR_EXT | FUSE_CREATE_SUPP_GROUP);
  const { out, used } = await call(s, B.request(OP.INIT, B.initIn(7, 41, 65536, offered.flags, offered.flags2), { unique: 9n }));
  t.is(used, 16 + 64);
  t.is(out!.error, 0);
  t.is(out!.unique, 9n);
  const io = B.parseInitOut(out!.body);
  t.like(io, { major: 7, minor: 38, max_readahead: 65536, max_write: 1 << 20, max_pages: 256, time_gran: 1, flags2: 4 });
  t.is(io.flags, (1 << 0) | (1 << 1) | INIT_EXT, 'ASYNC_READ | POSIX_LOCKS | INIT_EXT; not SETXATTR_EXT (nobody wanted it)');
  t.like(s.session, { initialized: true, minor: 38, kernelMinor: 41 });
});

test('INIT: old kernel without FUSE_INIT_EXT (16-byte fuse_init_in), no flags2', async (t) => {
  const s = new FuseServer(new FakeFs(FUSE_CREATE_SUPP_GROUP));
  const { out } = await call(s, B.request(OP.INIT, B.initIn(7, 31, 4096, 1)));
  t.is(out!.error, 0);
  const io = B.parseInitOut(out!.body);
  t.like(io, { major: 7, minor: 38, flags: 1, flags2: 0 });
  t.is(s.session.minor, 31);
});

test('INIT: a newer major gets just our major; too old gets EPROTO; nothing else before INIT', async (t) => {
  const s = new FuseServer(new NullFileSystem());
  t.is(await errorOf(s, B.request(OP.GETATTR, B.getattrIn(0, 0n))), Errno.EIO);
  t.is((await call(s, B.request(OP.FORGET, B.u64s(1n)))).used, 0, 'no-reply ops stay silent before INIT');
  const { out } = await call(s, B.request(OP.INIT, B.initIn(8, 0, 0, 0)));
  t.is(out!.error, 0);
  t.like(B.parseInitOut(out!.body), { major: 7 });
  t.false(s.session.initialized);
  t.is(await errorOf(s, B.request(OP.INIT, B.initIn(7, 20, 0, 0))), Errno.EPROTO);
  t.is(await errorOf(s, B.request(OP.INIT, B.initIn(6, 40, 0, 0))), Errno.EPROTO);
  t.is(await errorOf(s, B.request(OP.INIT, new Uint8Array(8))), Errno.EINVAL, 'truncated fuse_init_in');
  t.false(s.session.initialized);
});

/** A well-formed body for every opcode, so that a NullFileSystem answer is ENOSYS and not EINVAL. */
const BODIES: Record<number, Uint8Array> = {
  [OP.LOOKUP]: B.cstr('x'),
  [OP.GETATTR]: B.getattrIn(0, 0n),
  [OP.SETATTR]: B.setattrIn({ valid: 1, mode: 0o600 }),
  [OP.READLINK]: new Uint8Array(0),
  [OP.SYMLINK]: B.concat(B.cstr('a'), B.cstr('../b')),
  [OP.MKNOD]: B.concat(B.mknodIn(0o10644, 0, 0o22), B.cstr('n')),
  [OP.MKDIR]: B.concat(B.mkdirIn(0o755, 0o22), B.cstr('d')),
  [OP.UNLINK]: B.cstr('f'),
  [OP.RMDIR]: B.cstr('d'),
  [OP.RENAME]: B.concat(B.u64s(1n), B.cstr('a'), B.cstr('b')),
  [OP.LINK]: B.concat(B.u64s(2n), B.cstr('l')),
  [OP.OPEN]: B.openIn(0),
  [OP.READ]: B.readIn(1n, 0n, 10),
  [OP.WRITE]: B.concat(B.writeIn(1n, 0n, 3), B.cstr('ab')),
  [OP.STATFS]: new Uint8Array(0),
  [OP.RELEASE]: B.releaseIn(1n, 0, 0, 0n),
  [OP.FSYNC]: B.concat(B.u64s(1n), B.u32s(1, 0)),
  [OP.SETXATTR]: B.concat(B.u32s(2, 0), B.cstr('user.a'), B.cstr('x')),
  [OP.GETXATTR]: B.concat(B.u32s(10, 0), B.cstr('user.a')),
  [OP.LISTXATTR]: B.u32s(10, 0),
  [OP.REMOVEXATTR]: B.cstr('user.a'),
  [OP.FLUSH]: B.concat(B.u64s(1n), B.u32s(0, 0), B.u64s(5n)),
  [OP.OPENDIR]: B.openIn(0),
  [OP.READDIR]: B.readIn(1n, 0n, 4096),
  [OP.RELEASEDIR]: B.releaseIn(1n, 0, 0, 0n),
  [OP.FSYNCDIR]: B.concat(B.u64s(1n), B.u32s(0, 0)),
  [OP.GETLK]: B.lkIn(1n, 2n, 0n, 10n, 1, 5, 0),
  [OP.SETLK]: B.lkIn(1n, 2n, 0n, 10n, 1, 5, 0),
  [OP.SETLKW]: B.lkIn(1n, 2n, 0n, 10n, 1, 5, 1),
  [OP.ACCESS]: B.u32s(4, 0),
  [OP.CREATE]: B.concat(B.createIn(0o101, 0o644, 0o22), B.cstr('c')),
  [OP.BMAP]: B.concat(B.u64s(0n), B.u32s(4096, 0)),
  [OP.IOCTL]: B.concat(B.u64s(1n), B.u32s(0, 0x5401), B.u64s(0n), B.u32s(0, 0)),
  [OP.POLL]: B.concat(B.u64s(1n, 2n), B.u32s(0, 1)),
  [OP.FALLOCATE]: B.concat(B.u64s(1n, 0n, 10n), B.u32s(0, 0)),
  [OP.READDIRPLUS]: B.readIn(1n, 0n, 4096),
  [OP.RENAME2]: B.concat(B.rename2In(1n, 1), B.cstr('a'), B.cstr('b')),
  [OP.LSEEK]: B.concat(B.u64s(1n, 0n), B.u32s(3, 0)),
  [OP.COPY_FILE_RANGE]: B.u64s(1n, 0n, 2n, 3n, 0n, 10n, 0n),
  [OP.SETUPMAPPING]: B.u64s(1n, 0n, 4096n, 1n, 0n),
  [OP.REMOVEMAPPING]: B.concat(B.u32s(1), B.u64s(0n, 4096n)),
  [OP.SYNCFS]: B.u64s(0n),
  [OP.TMPFILE]: B.concat(B.createIn(0o2, 0o600, 0o22), B.cstr('/')),
  [OP.STATX]: B.concat(B.u32s(0, 0), B.u64s(0n), B.u32s(0, 0x7ff)),
  [OP.CUSE_INIT]: B.u32s(7, 38, 0, 0),
  7: new Uint8Array(0),
  19: new Uint8Array(0),
  4242: new Uint8Array(0),
};

test('NullFileSystem: every opcode is ENOSYS except INIT, DESTROY and the no-reply ones', async (t) => {
  const s = await initialized();
  for (const [op, body] of Object.entries(BODIES)) {
    const unique = BigInt(op) * 2n;
    const { out, used } = await call(s, B.request(Number(op), body, { unique }));
    t.truthy(out, `opcode ${op} got a reply`);
    t.is(used, 16, `opcode ${op}: header only`);
    t.is(out!.error, -Errno.ENOSYS, `opcode ${op}`);
    t.is(out!.unique, unique);
  }
  for (const [op, body] of [
    [OP.FORGET, B.u64s(1n)],
    [OP.BATCH_FORGET, B.concat(B.u32s(2, 0), B.u64s(1n, 1n, 2n, 1n))],
    [OP.INTERRUPT, B.u64s(4n)],
    [OP.NOTIFY_REPLY, B.u64s(0n, 0n, 0n, 0n, 0n)],
  ] as const) {
    t.is((await call(s, B.request(op, body))).used, 0, `opcode ${op} gets no reply`);
  }
  const { out } = await call(s, B.request(OP.DESTROY));
  t.is(out!.error, 0);
  t.false(s.session.initialized);
  t.is(await errorOf(s, B.request(OP.LOOKUP, B.cstr('x'))), Errno.EIO, 'after DESTROY the session is gone');
});

test('LOOKUP: fuse_entry_out encoding and Context from the header', async (t) => {
  const fs = new FakeFs();
  const s = await initialized(fs);
  const { out } = await call(s, B.request(OP.LOOKUP, B.cstr('abc'), { unique: 1234n, nodeid: 3n, uid: 11, gid: 22, pid: 33 }));
  t.is(out!.error, 0);
  t.is(out!.len, 16 + 128);
  const e = B.parseEntryOut(out!.body);
  t.like(e, { nodeid: 303n, generation: 7n, entry_valid: 1n, entry_valid_nsec: 500_000_000, attr_valid: 2n ** 32n, attr_valid_nsec: 0 });
  t.like(e.attr, { ino: 303n, mode: 0o100644, size: 10n, blksize: 4096 });
  t.like(fs.lastCtx, { unique: 1234n, uid: 11, gid: 22, pid: 33, opcode: OP.LOOKUP });
});

test('errors from the file system become errno replies in one place', async (t) => {
  const s = await initialized(new FakeFs());
  t.is(await errorOf(s, B.request(OP.LOOKUP, B.cstr('missing'))), Errno.ENOENT);
  t.is(await errorOf(s, B.request(OP.LOOKUP, B.cstr('full'))), Errno.ENOTEMPTY);
  t.is(await errorOf(s, B.request(OP.LOOKUP, B.cstr('boom'))), Errno.EIO);
  t.is(await errorOf(s, B.request(OP.LOOKUP, B.cstr('weird'))), Errno.EIO);
});

test('READ: data lands directly in two writable segments after the header', async (t) => {
  const s = await initialized(new FakeFs());
  const segs = B.writable(20, 4096);
  const used = await s.handle([B.request(OP.READ, B.readIn(1n, 2n, 12), { unique: 5n })], segs);
  t.is(used, 16 + 12);
  t.deepEqual(Buffer.from(segs[0]!.subarray(16, 20)).toString(), '2345', 'first 4 bytes in segment 0');
  t.deepEqual(Buffer.from(segs[1]!.subarray(0, 8)).toString(), '6789abcd', 'the rest in segment 1');
  const out = B.parseOut(B.gather(segs, used));
  t.like(out, { len: 28, error: 0, unique: 5n });
  // Short read at end of file.
  const eof = await call(s, B.request(OP.READ, B.readIn(1n, 15n, 100)), [16, 50, 50]);
  t.is(eof.used, 16 + 5);
  t.is(Buffer.from(eof.out!.body).toString(), 'fghij');
  // The kernel asked for more than it gave room for.
  t.is(await errorOf(s, B.request(OP.READ, B.readIn(1n, 0n, 100)), 16 + 50), Errno.EINVAL);
});

test('WRITE: split data reaches the file system as views of the request segments', async (t) => {
  const fs = new FakeFs();
  const s = await initialized(fs);
  const msg = B.request(OP.WRITE, B.concat(B.writeIn(1n, 4n, 11), Buffer.from('hello world')));
  const segs = B.splitAt(msg, 40, 80 + 5);
  const { out } = await call(s, segs);
  t.is(out!.error, 0);
  t.is(new DataView(out!.body.buffer, out!.body.byteOffset).getUint32(0, true), 11);
  t.is(out!.len, 16 + 8);
  const w = fs.writes[0]!;
  t.is(w.data, 'hello world');
  t.is(w.offset, 4n);
  t.is(w.views.length, 2);
  t.is(w.views[0]!.buffer, segs[1]!.buffer, 'zero copy: a view of the readable segment');
  t.is(w.views[1]!.buffer, segs[2]!.buffer);
  // size disagrees with the data sent
  t.is(await errorOf(s, B.request(OP.WRITE, B.concat(B.writeIn(1n, 0n, 20), Buffer.from('short')))), Errno.EINVAL);
});

test('READDIR: entries padded to 8 bytes, stops when the requested size is used up', async (t) => {
  const s = await initialized(new FakeFs());
  const all = await call(s, B.request(OP.READDIR, B.readIn(1n, 0n, 4096)));
  t.deepEqual(B.parseDirents(all.out!.body), [
    { ino: 100n, off: 1n, type: 4, name: '.' },
    { ino: 101n, off: 2n, type: 8, name: 'alpha' },
    { ino: 102n, off: 3n, type: 8, name: 'beta' },
    { ino: 103n, off: 4n, type: 8, name: 'a-rather-longer-name' },
  ]);
  t.is(all.out!.body.length, 32 + 32 + 32 + 48);
  const part = await call(s, B.request(OP.READDIR, B.readIn(1n, 1n, 70)), [30, 100]);
  t.deepEqual(B.parseDirents(part.out!.body).map((d) => d.name), ['alpha', 'beta'], 'only two fit in 70 bytes; across two segments');
  const end = await call(s, B.request(OP.READDIR, B.readIn(1n, 4n, 4096)));
  t.is(end.out!.len, 16, 'end of directory: empty body');
});

test('READDIRPLUS: "." carries nodeid 0; each other entry a lookup reference; only what fits', async (t) => {
  const fs = new FakeFs();
  const s = await initialized(fs);
  const { out } = await call(s, B.request(OP.READDIRPLUS, B.readIn(1n, 0n, 160 + 160 + 160), { nodeid: 2n }));
  const ents = B.parseDirentsPlus(out!.body);
  t.deepEqual(ents.map((e) => e.dirent.name), ['.', 'alpha', 'beta']);
  t.is(ents[0]!.entry.nodeid, 0n);
  t.is(ents[0]!.entry.attr.ino, 100n);
  t.is(ents[0]!.entry.attr.mode, 0o40000);
  t.is(ents[1]!.entry.nodeid, 201n);
  t.is(ents[2]!.entry.attr.mode, 0o100644);
  t.is(fs.lookups, 2, 'no lookup for the entry that did not fit');
});

test('MKDIR: umask and FUSE_EXT_GROUPS reach the Context when negotiated', async (t) => {
  const fs = new FakeFs(FUSE_CREATE_SUPP_GROUP);
  const s = await initialized(fs, 1 << 2);
  t.true((s.session.flags & FUSE_CREATE_SUPP_GROUP) !== 0n);
  const { out } = await call(s, B.request(OP.MKDIR, B.concat(B.mkdirIn(0o755, 0o27), B.cstr('dir')), {}, encodeSuppGroupsExt([77])));
  t.is(out!.error, 0);
  t.deepEqual(fs.lastCtx?.supplementaryGroups, [77]);
  t.is(fs.lastCtx?.umask, 0o27);
  t.is(B.parseEntryOut(out!.body).attr.mode, 0o40755);
  const bad = B.u32s(16, 32, 9, 0);
  t.is(await errorOf(s, B.request(OP.MKDIR, B.concat(B.mkdirIn(0o755, 0), B.cstr('d')), {}, bad)), Errno.EINVAL);
});

test('GETXATTR: size 0 probes the length; a too-small buffer is ERANGE', async (t) => {
  const s = await initialized(new FakeFs());
  const probe = await call(s, B.request(OP.GETXATTR, B.concat(B.u32s(0, 0), B.cstr('user.k'))));
  t.is(new DataView(probe.out!.body.buffer, probe.out!.body.byteOffset).getUint32(0, true), 'value-of-user.k'.length);
  const got = await call(s, B.request(OP.GETXATTR, B.concat(B.u32s(64, 0), B.cstr('user.k'))));
  t.is(Buffer.from(got.out!.body).toString(), 'value-of-user.k');
  t.is(await errorOf(s, B.request(OP.GETXATTR, B.concat(B.u32s(3, 0), B.cstr('user.k')))), Errno.ERANGE);
});

test('malformed requests get an error reply, never a throw', async (t) => {
  const s = await initialized(new FakeFs());
  const cases: Array<[string, Uint8Array | Uint8Array[], number]> = [
    ['len larger than the bytes sent', B.request(OP.LOOKUP, B.cstr('x'), { len: 100 }), Errno.EINVAL],
    ['len smaller than the header', B.request(OP.LOOKUP, B.cstr('x'), { len: 39 }), Errno.EINVAL],
    ['name without NUL', B.request(OP.LOOKUP, Buffer.from('abc')), Errno.EINVAL],
    ['bytes after the NUL', B.request(OP.LOOKUP, Buffer.from('ab\0c\0')), Errno.EINVAL],
    ['empty name', B.request(OP.LOOKUP, B.cstr('')), Errno.EINVAL],
    ['name with a slash', B.request(OP.LOOKUP, B.cstr('a/b')), Errno.EINVAL],
    ['name too long', B.request(OP.LOOKUP, B.cstr('n'.repeat(256))), Errno.ENAMETOOLONG],
    ['".." as a new name', B.request(OP.MKDIR, B.concat(B.mkdirIn(0o755, 0), B.cstr('..'))), Errno.EINVAL],
    ['"." unlinked', B.request(OP.UNLINK, B.cstr('.')), Errno.EINVAL],
    ['truncated args', B.request(OP.GETATTR, B.u64s(0n)), Errno.EINVAL],
    ['truncated args split across segments', B.splitAt(B.request(OP.READ, B.readIn(1n, 0n, 4).subarray(0, 30)), 35, 50), Errno.EINVAL],
    ['total_extlen beyond len', B.request(OP.MKDIR, B.concat(B.mkdirIn(0o755, 0), B.cstr('d')), { total_extlen: 9 }), Errno.EINVAL],
    ['rename without the second name', B.request(OP.RENAME, B.concat(B.u64s(1n), B.cstr('a'))), Errno.EINVAL],
    ['RENAME2 unknown flags', B.request(OP.RENAME2, B.concat(B.rename2In(1n, 8), B.cstr('a'), B.cstr('b'))), Errno.EINVAL],
    ['setxattr size disagrees', B.request(OP.SETXATTR, B.concat(B.u32s(9, 0), B.cstr('user.a'), Buffer.from('xy'))), Errno.EINVAL],
    ['GETLK args truncated', B.request(OP.GETLK, B.u64s(1n)), Errno.EINVAL],
    ['symlink target too long', B.request(OP.SYMLINK, B.concat(B.cstr('a'), B.cstr('t'.repeat(4096)))), Errno.ENAMETOOLONG],
  ];
  for (const [why, msg, errno] of cases) {
    t.is(await errorOf(s, msg), errno, why);
  }
  // Unreadable header, or no room for any reply: dropped with used length 0.
  t.is(await s.handle([new Uint8Array(39)], B.writable(100)), 0);
  t.is(await s.handle(B.splitAt(B.request(OP.LOOKUP, B.cstr('x')), 10, 30), B.writable(10)), 0);
  t.is(await s.handle([], []), 0);
  // BATCH_FORGET with a count beyond the data: still no reply.
  t.is(await s.handle([B.request(OP.BATCH_FORGET, B.u32s(1000, 0))], B.writable(100)), 0);
  t.true(s.session.initialized, 'malformed requests do not end the session');
});

test('fuzz: random requests to a NullFileSystem server never throw and never overrun', async (t) => {
  const s = await initialized();
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let i = 0; i < 3000; i++) {
    const body = Uint8Array.from({ length: rnd(120) }, () => rnd(256));
    const op = rnd(5) === 0 ? rnd(1 << 16) : 1 + rnd(52);
    if (op === OP.INIT || op === OP.DESTROY) continue;
    const msg = B.request(op, body, { total_extlen: rnd(4) === 0 ? rnd(20) : 0 });
    const cuts = [rnd(msg.length + 1)].sort((a, b) => a - b);
    const room = rnd(3) === 0 ? rnd(40) : 4096;
    const used = await s.handle(B.splitAt(msg, ...cuts), B.writable(room));
    if (used < 0 || used > room) t.fail(`used ${used} of ${room}`);
  }
  t.true(s.session.initialized);
});
