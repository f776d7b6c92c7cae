/**
 * protocol/fuse*: struct sizes as in fuse.h, decode/encode round trips against the independent
 * builder, dirent records, request extensions, errno mapping.
 */
import test from 'ava';
import * as F from '../../protocol/fuse.js';
import { Errno, errnoFromCode, errnoName, errnoOf } from '../../protocol/errno.js';
import { ProtocolError } from '../../protocol/errors.js';
import * as B from '../helpers/builders/fuse.js';

const ATTR: B.AttrFields = {
  ino: 0x1122334455667788n, size: 1n << 40n, blocks: 9n, atime: 1_700_000_000n, mtime: 1_700_000_001n, ctime: 1_700_000_002n,
  atimensec: 1, mtimensec: 2, ctimensec: 999_999_999, mode: 0o100644, nlink: 3, uid: 1000, gid: 100, rdev: 0x0801,
  blksize: 4096, flags: F.FUSE_ATTR_SUBMOUNT,
};

test('struct sizes match fuse.h', (t) => {
  const sizes: Array<[F.StructDef<never>, number]> = [
    [F.fuse_in_header, 40], [F.fuse_out_header, 16], [F.fuse_attr, 88], [F.fuse_entry_out, 128], [F.fuse_attr_out, 104],
    [F.fuse_init_in, 64], [F.fuse_init_out, 64], [F.fuse_init_in_compat, 16], [F.fuse_kstatfs, 80], [F.fuse_setattr_in, 88],
    [F.fuse_read_in, 40], [F.fuse_write_in, 40], [F.fuse_open_out, 16], [F.fuse_release_in, 24], [F.fuse_flush_in, 24],
    [F.fuse_lk_in, 48], [F.fuse_lk_out, 24], [F.fuse_statx, 256], [F.fuse_statx_out, 288], [F.fuse_statx_in, 24],
    [F.fuse_copy_file_range_in, 56], [F.fuse_setupmapping_in, 40], [F.fuse_ioctl_in, 32], [F.fuse_ioctl_out, 16],
    [F.fuse_setxattr_in, 16], [F.fuse_setxattr_in_compat, 8], [F.fuse_create_in, 16], [F.fuse_mknod_in, 16],
    [F.fuse_rename2_in, 16], [F.fuse_dirent, 24], [F.fuse_fallocate_in, 32], [F.fuse_poll_in, 24], [F.fuse_lseek_in, 24],
  ] as never;
  for (const [def, n] of sizes) t.is(def.size, n, def.name);
  t.is(F.FUSE_NAME_OFFSET_DIRENTPLUS, 152);
});

test('fuse_in_header decodes the builder bytes', (t) => {
  const bytes = B.inHeader(F.FuseOpcode.FUSE_WRITE, 123, { unique: 0xfedcba9876543210n, nodeid: 77n, uid: 5, gid: 6, pid: 7, total_extlen: 3 });
  t.deepEqual(F.fuse_in_header.decode(bytes), {
    len: 123, opcode: 16, unique: 0xfedcba9876543210n, nodeid: 77n, uid: 5, gid: 6, pid: 7, total_extlen: 3,
  });
  t.deepEqual(F.fuse_in_header.toBytes(F.fuse_in_header.decode(bytes)), bytes);
});

test('fuse_attr and fuse_entry_out round trip', (t) => {
  const raw = B.attr(ATTR);
  t.deepEqual(F.fuse_attr.decode(raw), ATTR);
  t.deepEqual(F.fuse_attr.toBytes(ATTR), raw);
  const entry = { nodeid: 9n, generation: 2n, entry_valid: 1n, attr_valid: 3n, entry_valid_nsec: 5, attr_valid_nsec: 6, attr: ATTR };
  const encoded = F.fuse_entry_out.toBytes(entry);
  t.deepEqual(B.parseEntryOut(encoded), entry);
  t.deepEqual(F.fuse_entry_out.decode(encoded), entry);
});

test('fuse_init_in (compat and ext) and fuse_init_out round trip', (t) => {
  t.deepEqual(F.fuse_init_in_compat.decode(B.initIn(7, 31, 65536, 0x1234)), { major: 7, minor: 31, max_readahead: 65536, flags: 0x1234 });
  const full = B.initIn(7, 41, 131072, 0x40000000, 0x5);
  t.deepEqual(F.fuse_init_in.decode(full), { major: 7, minor: 41, max_readahead: 131072, flags: 0x40000000, flags2: 5 });
  const out = {
    major: 7, minor: 38, max_readahead: 1, flags: 0xc0000001, max_background: 65535, congestion_threshold: 49151,
    max_write: 1 << 20, time_gran: 1, max_pages: 256, map_alignment: 12, flags2: 4, max_stack_depth: 0, request_timeout: 0,
  };
  const bytes = F.fuse_init_out.toBytes(out);
  const parsed = B.parseInitOut(bytes);
  t.like(out, parsed);
});

test('request args decode from the builder bytes', (t) => {
  t.deepEqual(F.fuse_read_in.decode(B.readIn(5n, 1n << 50n, 4096, 2, 99n, 0o2)), {
    fh: 5n, offset: 1n << 50n, size: 4096, read_flags: 2, lock_owner: 99n, flags: 0o2,
  });
  t.deepEqual(F.fuse_write_in.decode(B.writeIn(6n, 7n, 8, 4, 1n, 1)), { fh: 6n, offset: 7n, size: 8, write_flags: 4, lock_owner: 1n, flags: 1 });
  t.deepEqual(F.fuse_lk_in.decode(B.lkIn(1n, 2n, 3n, 0xffffffffffffffffn, 1, 44, F.FUSE_LK_FLOCK)), {
    fh: 1n, owner: 2n, lk: { start: 3n, end: 0xffffffffffffffffn, type: 1, pid: 44 }, lk_flags: 1,
  });
  const sa = F.fuse_setattr_in.decode(B.setattrIn({ valid: F.FATTR_MODE | F.FATTR_SIZE, size: 10n, mode: 0o600, uid: 3, gid: 4, mtime: 77n }));
  t.like(sa, { valid: 9, size: 10n, mode: 0o600, uid: 3, gid: 4, mtime: 77n, fh: 0n });
  t.deepEqual(F.fuse_rename2_in.decode(B.rename2In(12n, F.RENAME_EXCHANGE)), { newdir: 12n, flags: 2 });
  t.deepEqual(F.fuse_create_in.decode(B.createIn(0o100, 0o644, 0o22, 1)), { flags: 0o100, mode: 0o644, umask: 0o22, open_flags: 1 });
});

test('u64 fields keep all 64 bits; negatives wrap like the C cast', (t) => {
  const b = F.fuse_lseek_out.toBytes({ offset: -1n });
  t.deepEqual(F.fuse_lseek_out.decode(b), { offset: 0xffffffffffffffffn });
  t.deepEqual(F.fuse_sx_time.decode(F.fuse_sx_time.toBytes({ tv_sec: -5n, tv_nsec: 3 })), { tv_sec: -5n, tv_nsec: 3 });
});

test('decode of a short buffer throws FUSE_TRUNCATED; encode without room throws FUSE_NO_ROOM', (t) => {
  const e = t.throws(() => F.fuse_in_header.decode(new Uint8Array(39)), { instanceOf: ProtocolError });
  t.is(e?.code, 'FUSE_TRUNCATED');
  const e2 = t.throws(() => F.fuse_out_header.encode({ len: 16, error: 0, unique: 1n }, new Uint8Array(20), 8), { instanceOf: ProtocolError });
  t.is(e2?.code, 'FUSE_NO_ROOM');
});

test('views at different offsets of one ArrayBuffer: each encode and decode lands at its own view\'s offset', (t) => {
  // The codec keeps one DataView per ArrayBuffer; a view's byteOffset must still be honoured.
  const backing = new ArrayBuffer(512);
  const a = new Uint8Array(backing, 3, 200);
  const b = new Uint8Array(backing, 251, 200);
  F.fuse_attr.encode(ATTR, a, 5);
  F.fuse_attr.encode({ ...ATTR, ino: 7n }, b, 0);
  t.deepEqual(Buffer.from(backing, 8, 88), Buffer.from(B.attr(ATTR)));
  t.deepEqual(Buffer.from(backing, 251, 88), Buffer.from(B.attr({ ...ATTR, ino: 7n })));
  t.deepEqual(F.fuse_attr.decode(a, 5), ATTR);
  t.is(F.fuse_attr.decode(b).ino, 7n);
  // The padding of fuse_attr_out is written as zero over whatever was there.
  const dirty = new Uint8Array(104).fill(0xff);
  F.fuse_attr_out.encode({ attr_valid: 1n, attr_valid_nsec: 2, attr: ATTR }, dirty);
  t.deepEqual(Buffer.from(dirty.subarray(12, 16)), Buffer.alloc(4));
});

test('dirents: encoded with 8-byte padding, decoded by the builder and back', (t) => {
  const buf = new Uint8Array(200);
  let off = F.encodeDirent(buf, 0, { ino: 5n, off: 1n, type: 4 }, Buffer.from('a'));
  t.is(off, 32);
  off += F.encodeDirent(buf, off, { ino: 6n, off: 2n, type: 8 }, Buffer.from('12345678'));
  t.is(off, 64);
  const body = buf.subarray(0, off);
  t.deepEqual(B.parseDirents(body), [
    { ino: 5n, off: 1n, type: 4, name: 'a' },
    { ino: 6n, off: 2n, type: 8, name: '12345678' },
  ]);
  t.deepEqual(F.decodeDirents(body).map((d) => Buffer.from(d.name).toString()), ['a', '12345678']);
  t.is(F.direntplusSize(1), 160);
  const bad = body.slice(0, 30);
  t.is(t.throws(() => F.decodeDirents(bad))?.name, 'ProtocolError');
});

test('extensions: supplementary groups and security context parse; malformed ones throw', (t) => {
  const groups = F.encodeSuppGroupsExt([1234]);
  t.is(groups.length, 16);
  const sec = F.encodeSecctxExt({ name: 'security.selinux', value: Buffer.from('system_u:object_r:x_t:s0\0') });
  t.is(sec.length % 8, 0);
  const x = F.parseExtensions(B.concat(sec, groups));
  t.deepEqual(x.groups, [1234]);
  t.is(x.secctx?.name, 'security.selinux');
  t.is(Buffer.from(x.secctx!.value).toString(), 'system_u:object_r:x_t:s0\0');
  // Hand-built groups extension: size 16, type 32, nr_groups 1, gid 77.
  t.deepEqual(F.parseExtensions(B.u32s(16, 32, 1, 77)).groups, [77]);
  // nr_secctx 0: "no context" is explicit.
  t.is(F.parseExtensions(B.u32s(8, 0)).secctx, null);
  const bad: Array<[Uint8Array, string]> = [
    [B.u32s(12, 32, 1), 'size not a multiple of 8'],
    [B.u32s(24, 32, 1, 77), 'size overruns the area'],
    [B.u32s(16, 32, 3, 77), 'nr_groups disagrees with size'],
    [B.u32s(0, 32), 'size 0'],
    [B.concat(groups, groups), 'groups twice'],
  ];
  for (const [bytes, why] of bad) {
    t.is((t.throws(() => F.parseExtensions(bytes), undefined, why) as ProtocolError).code, 'FUSE_BAD_EXTENSION', why);
  }
  // Unknown types are skipped.
  t.deepEqual(F.parseExtensions(B.u32s(8, 99)), {});
});

test('INIT flag helpers split and join the 64-bit set', (t) => {
  const all = F.FUSE_ASYNC_READ | F.FUSE_INIT_EXT | F.FUSE_SECURITY_CTX | F.FUSE_CREATE_SUPP_GROUP;
  const s = F.splitInitFlags(all);
  t.deepEqual(s, { flags: 0x40000001, flags2: 0b101 });
  t.is(F.joinInitFlags(s.flags, s.flags2), all);
  t.is(F.FuseOpcode.FUSE_STATX, 52);
  t.is(F.fuseOpcodeName(51), 'FUSE_TMPFILE');
  t.is(F.fuseOpcodeName(999), 'OPCODE_999');
});

test('errno table and error mapping', (t) => {
  t.is(Errno.ENOENT, 2);
  t.is(Errno.ENOSYS, 38);
  t.is(Errno.ENOTSUP, 95);
  t.is(Errno.EOPNOTSUPP, 95);
  t.is(Errno.ESTALE, 116);
  t.is(errnoName(95), 'EOPNOTSUPP');
  t.is(errnoFromCode('ELOOP'), 40);
  t.is(errnoFromCode('ERR_FS_FILE_TOO_LARGE'), Errno.EFBIG);
  t.is(errnoFromCode('NOPE'), undefined);
  t.is(errnoOf(Object.assign(new Error('x'), { code: 'EACCES' })), 13);
  t.is(errnoOf(Object.assign(new Error('x'), { code: 'UNKNOWN', errno: -28 })), 28);
  t.is(errnoOf(new Error('plain')), Errno.EIO);
  t.is(errnoOf('string'), Errno.EIO);
});
