/**
 * The getdents64 parser on buffers built here by hand (struct linux_dirent64: d_ino u64, d_off i64,
 * d_reclen u16, d_type u8, name, NUL, padding to 8), cut at the start, the middle and the end.
 */
import test from 'ava';
import { DT_DIR, DT_LNK, DT_REG, direntEnd, parseDirents, parseDirentsAt, type Dirent64 } from '../../src/native/fs.js';

interface Rec {
  ino: bigint;
  off: bigint;
  type: number;
  name: Buffer;
}

/** Independent builder: one record per entry, reclen rounded up to 8 like the kernel. */
function build(recs: Rec[], pad = 8): { buf: Buffer; ends: number[] } {
  const parts: Buffer[] = [];
  const ends: number[] = [];
  let total = 0;
  for (const r of recs) {
    const reclen = Math.ceil((19 + r.name.length + 1) / pad) * pad;
    const b = Buffer.alloc(reclen);
    b.writeBigUInt64LE(r.ino, 0);
    b.writeBigInt64LE(r.off, 8);
    b.writeUInt16LE(reclen, 16);
    b.writeUInt8(r.type, 18);
    r.name.copy(b, 19);
    parts.push(b);
    total += reclen;
    ends.push(total);
  }
  return { buf: Buffer.concat(parts), ends };
}

const RECS: Rec[] = [
  { ino: 2n, off: 1n, type: DT_DIR, name: Buffer.from('.') },
  { ino: 0xffff_ffff_ffff_fff0n, off: 0x7fff_ffff_ffff_ffffn, type: DT_REG, name: Buffer.from('a-long-enough-name-to-span') },
  { ino: 1_100_000_000_000n, off: -5n, type: DT_LNK, name: Buffer.from([0xff, 0xfe, 0x80]) },
  { ino: 7n, off: 9n, type: DT_REG, name: Buffer.from('x'.repeat(255)) },
];

test('parses every field of every record, names as exact bytes', (t) => {
  const { buf } = build(RECS);
  const got = parseDirents(buf, buf.length);
  t.deepEqual(
    got.map((d) => ({ ino: d.ino, off: d.off, type: d.type, name: d.name })),
    RECS,
  );
});

test('names are copies: reusing the buffer does not change parsed names', (t) => {
  const { buf } = build(RECS);
  const got = parseDirents(buf, buf.length);
  buf.fill(0x41);
  t.deepEqual(got[0]!.name, Buffer.from('.'));
});

test('parseDirentsAt: a few records at a time from any record start, direntEnd steps over one, views share the buffer', (t) => {
  const { buf, ends } = build(RECS);
  const all: Dirent64[] = [];
  let at = 0;
  for (;;) {
    const piece: Dirent64[] = [];
    const next = parseDirentsAt(buf, buf.length, at, 3, piece, false);
    t.true(piece.length <= 3);
    if (piece.length === 0) break;
    t.is(next, ends[all.length + piece.length - 1]!);
    t.is(direntEnd(buf, at), ends[all.length]!);
    all.push(...piece);
    at = next;
  }
  t.is(at, buf.length);
  t.deepEqual(
    all.map((d) => ({ ino: d.ino, off: d.off, type: d.type, name: Buffer.from(d.name) })),
    RECS,
  );
  // Without copies the names are views: writing the buffer shows through (so only a buffer never reused may be parsed so).
  buf[19] = 0x41;
  t.deepEqual(all[0]!.name, Buffer.from('A'));
  const bad = build(RECS).buf;
  bad.writeUInt16LE(7, ends[1]! + 16);
  t.notThrows(() => parseDirentsAt(bad, bad.length, 0, 2, [], true), 'the bad record is past what was asked for');
  t.throws(() => parseDirentsAt(bad, bad.length, ends[1]!, 1, [], true), { code: 'ERR_DIRENT_MALFORMED', message: /d_reclen/ });
});

test('cut at the start: zero bytes is no entries', (t) => {
  const { buf } = build(RECS);
  t.deepEqual(parseDirents(buf, 0), []);
});

test('cut at each record boundary: the whole records before it', (t) => {
  const { buf, ends } = build(RECS);
  ends.forEach((end, i) => t.is(parseDirents(buf, end).length, i + 1));
});

test('cut in the middle of a header, a name or the padding: ERR_DIRENT_MALFORMED', (t) => {
  const { buf, ends } = build(RECS);
  for (const cut of [5, 18, ends[0]! + 10, ends[1]! - 1, ends[2]! + 19, buf.length - 1]) {
    t.throws(() => parseDirents(buf, cut), { code: 'ERR_DIRENT_MALFORMED' }, `cut at ${cut}`);
  }
});

test('a parser works on a view into a larger buffer (non-zero byteOffset)', (t) => {
  const { buf } = build(RECS);
  const big = Buffer.alloc(buf.length + 13);
  buf.copy(big, 13);
  const view = new Uint8Array(big.buffer, big.byteOffset + 13, buf.length);
  t.deepEqual(parseDirents(view, view.length).map((d) => d.ino), RECS.map((r) => r.ino));
});

test('hostile records: reclen too small, past the end, a name without NUL, length outside the buffer', (t) => {
  const one = build([RECS[1]!]).buf;
  const small = Buffer.from(one);
  small.writeUInt16LE(19, 16);
  t.throws(() => parseDirents(small, small.length), { code: 'ERR_DIRENT_MALFORMED', message: /d_reclen/ });
  const zero = Buffer.from(one);
  zero.writeUInt16LE(0, 16);
  t.throws(() => parseDirents(zero, zero.length), { code: 'ERR_DIRENT_MALFORMED' }, 'reclen 0 would loop forever');
  const long = Buffer.from(one);
  long.writeUInt16LE(one.length + 8, 16);
  t.throws(() => parseDirents(long, long.length), { code: 'ERR_DIRENT_MALFORMED', message: /d_reclen/ });
  const nonul = Buffer.from(one);
  nonul.fill(0x61, 19);
  t.throws(() => parseDirents(nonul, nonul.length), { code: 'ERR_DIRENT_MALFORMED', message: /unterminated/ });
  t.throws(() => parseDirents(one, one.length + 1), { code: 'ERR_DIRENT_MALFORMED' });
  t.throws(() => parseDirents(one, -1), { code: 'ERR_DIRENT_MALFORMED' });
});
