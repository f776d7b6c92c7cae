/**
 * src/fuse/reader + writer: the same bytes read and written with segment boundaries at the start, in
 * the middle and at the end of every field; bulk data handed out as views (no copy).
 */
import test from 'ava';
import { fuse_in_header, fuse_out_header, fuse_read_in } from '../../protocol/fuse.js';
import { ProtocolError } from '../../protocol/errors.js';
import { SegmentReader, totalLength } from '../../src/fuse/reader.js';
import { SegmentWriter } from '../../src/fuse/writer.js';
import * as B from '../helpers/builders/fuse.js';

const MSG = B.concat(B.inHeader(15, 40 + 40 + 6, { unique: 77n, nodeid: 3n }), B.readIn(9n, 4096n, 1234), B.cstr('hello'));

function readAll(segs: Uint8Array[]) {
  const r = new SegmentReader(segs);
  const h = r.readStruct(fuse_in_header);
  const a = r.readStruct(fuse_read_in);
  const name = r.readCopy(r.remaining);
  return { h, a, name: name.toString('latin1'), left: r.remaining, consumed: r.consumed };
}

test('reader: a split anywhere (start, middle, end, every byte) reads the same', (t) => {
  const whole = readAll([MSG]);
  t.is(whole.h.unique, 77n);
  t.is(whole.a.size, 1234);
  t.is(whole.name, 'hello\0');
  t.is(whole.consumed, MSG.length);
  for (let cut = 0; cut <= MSG.length; cut++) t.deepEqual(readAll(B.splitAt(MSG, cut)), whole, `cut at ${cut}`);
  // Empty segments at the start, in the middle and at the end, and three-way splits.
  t.deepEqual(readAll([new Uint8Array(0), ...B.splitAt(MSG, 20, 20, 60), new Uint8Array(0)]), whole);
  t.deepEqual(readAll(B.splitAt(MSG, 1, 2, 3, 39, 41, 79, 81)), whole);
});

test('reader: readContiguous is a view inside a segment and a copy across a boundary', (t) => {
  const segs = B.splitAt(MSG, 50);
  const r = new SegmentReader(segs);
  const inside = r.readContiguous(8);
  t.is(inside.buffer, segs[0]!.buffer);
  r.skip(38);
  const across = r.readContiguous(8);
  t.not(across.buffer, segs[0]!.buffer);
  t.not(across.buffer, segs[1]!.buffer);
  t.deepEqual(Uint8Array.from(across), MSG.slice(46, 54));
});

test('reader: takeViews hands out sub-views of the segments (zero copy)', (t) => {
  const data = new Uint8Array(100).map((_, i) => i);
  const segs = B.splitAt(data, 0, 30, 30, 99);
  const r = new SegmentReader(segs);
  r.skip(10);
  const views = r.takeViews(85);
  t.is(totalLength(views), 85);
  t.deepEqual(views.map((v) => v.length), [20, 65]);
  segs[3]![5] = 0xaa; // the guest rewrites its buffer: the view sees it
  t.is(views[1]![5], 0xaa);
  t.is(r.remaining, 5);
});

test('reader: limit and truncation', (t) => {
  const r = new SegmentReader([MSG], 50);
  t.is(r.remaining, 50);
  r.readStruct(fuse_in_header);
  const e = t.throws(() => r.readStruct(fuse_read_in), { instanceOf: ProtocolError });
  t.is(e?.code, 'FUSE_TRUNCATED');
  t.is(r.remaining, 10, 'a failed read consumes nothing');
  r.limit(4);
  t.is(r.remaining, 4);
  r.limit(100);
  t.is(r.remaining, 4, 'limit never raises');
});

test('writer: structs and bytes across any boundary; reserve + writeAt', (t) => {
  const expected = B.concat(new B.LE().u32(16 + 10).i32(0).u64(5n).build(), Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  for (let cut = 0; cut <= expected.length; cut++) {
    const segs = [new Uint8Array(cut), new Uint8Array(0), new Uint8Array(expected.length - cut + 3)];
    const w = new SegmentWriter(segs);
    const at = w.reserve(16);
    w.write(Uint8Array.from([1, 2, 3, 4, 5]));
    w.fill(5, (buf, off) => buf.set([6, 7, 8, 9, 10], off));
    w.writeAt(at, fuse_out_header.toBytes({ len: 26, error: 0, unique: 5n }));
    t.is(w.written, 26);
    t.deepEqual(B.gather(segs, w.written), expected, `cut at ${cut}`);
    t.is(w.available, 3);
    // writeStructAt: in place when the struct lies in one segment, copied across a boundary otherwise.
    const segs2 = [new Uint8Array(cut), new Uint8Array(0), new Uint8Array(expected.length - cut + 3)];
    const w2 = new SegmentWriter(segs2);
    const at2 = w2.reserve(16);
    w2.write(expected.subarray(16));
    w2.writeStructAt(at2, fuse_out_header, { len: 26, error: 0, unique: 5n });
    t.deepEqual(B.gather(segs2, w2.written), expected, `writeStructAt, cut at ${cut}`);
    t.throws(() => w2.writeStructAt(12, fuse_out_header, { len: 0, error: 0, unique: 0n }), { instanceOf: ProtocolError });
  }
});

test('writer: views() exposes guest memory; advance() accounts for what was filled', (t) => {
  const segs = B.writable(20, 7, 100);
  const w = new SegmentWriter(segs);
  w.writeStruct(fuse_out_header, { len: 0, error: 0, unique: 1n });
  const v = w.views(30);
  t.deepEqual(v.map((x) => x.length), [4, 7, 19]);
  t.is(v[1]!.buffer, segs[1]!.buffer);
  v[0]!.fill(1);
  v[1]!.fill(2);
  w.advance(11);
  t.is(w.written, 27);
  w.write(Uint8Array.of(9));
  t.is(segs[2]![0], 9);
  const e = t.throws(() => w.views(w.available + 1), { instanceOf: ProtocolError });
  t.is(e?.code, 'FUSE_NO_ROOM');
  t.throws(() => w.write(new Uint8Array(200)), { instanceOf: ProtocolError });
  t.throws(() => w.writeAt(20, new Uint8Array(10)), { instanceOf: ProtocolError });
  w.reset();
  t.is(w.written, 0);
  t.is(w.available, 127);
});
