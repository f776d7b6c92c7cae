/**
 * READDIR and READDIRPLUS: offsets are the host's d_off values, so a listing resumes exactly where the
 * guest asks — in small pieces, after a seek back, on a new handle.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { ListPlusSink, ListSink, b, ctx, mount, readAll } from '../helpers/passthrough.js';

const c = ctx;
const N = 10_000;

test('a 10,000-entry directory: every name exactly once, in small replies, resuming at each last offset', async (t) => {
  const m = await mount(t);
  const want = new Set<string>();
  for (let i = 0; i < N; i++) {
    const name = `entry-with-a-longish-name-${i.toString().padStart(5, '0')}`;
    want.add(name);
    fs.writeFileSync(m.p(name), '');
  }
  // 1 KiB replies: ~25 records each, so ~400 calls, most of them served partly from read-ahead.
  const { names, calls, entries } = await readAll(m.fs, 1n, 1024);
  t.true(calls > 300);
  const seen = names.filter((x) => x !== '.' && x !== '..');
  t.is(seen.length, N);
  t.deepEqual(seen.sort(), [...want].sort());
  t.true(names.includes('.') && names.includes('..'));
  for (const e of entries) if (Buffer.from(e.name).toString().startsWith('entry')) t.is(e.type, n.DT_REG);

  // Resume at arbitrary offsets on a fresh handle: what follows is exactly the rest of the listing.
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  for (const at of [5000, 17, N - 3, 0, 9000]) {
    const sink = new ListSink(512);
    await m.fs.readdir(c(), 1n, fh, entries[at]!.off, sink);
    t.true(sink.count > 0);
    t.deepEqual(sink.names(), names.slice(at + 1, at + 1 + sink.count), `after entry ${at}`);
  }
  // Offset 0 is the beginning again.
  const first = new ListSink(512);
  await m.fs.readdir(c(), 1n, fh, 0n, first);
  t.deepEqual(first.names(), names.slice(0, first.count));
  // Past the last entry: an empty reply.
  const end = new ListSink(512);
  await m.fs.readdir(c(), 1n, fh, entries[entries.length - 1]!.off, end);
  t.is(end.count, 0);
  await m.fs.releasedir(c(), 1n, fh, 0);
});

test('concurrent READDIRs on one handle are served one after the other, each from its own offset', async (t) => {
  const m = await mount(t);
  for (let i = 0; i < 500; i++) fs.writeFileSync(m.p(`f${i}`), '');
  const all = await readAll(m.fs, 1n, 65536);
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  const starts = [0, 100, 200, 300, 400];
  const sinks = starts.map(() => new ListSink(600));
  await Promise.all(starts.map((s, i) => m.fs.readdir(c(), 1n, fh, s === 0 ? 0n : all.entries[s - 1]!.off, sinks[i]!)));
  starts.forEach((s, i) => t.deepEqual(sinks[i]!.names(), all.names.slice(s, s + sinks[i]!.count)));
});

test('a reply too small for even one record is empty, and the record is not lost', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('a'.repeat(200)), '');
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  const all = await readAll(m.fs, 1n);
  const tiny = new ListSink(40);
  await m.fs.readdir(c(), 1n, fh, 0n, tiny);
  const big = new ListSink(4096);
  await m.fs.readdir(c(), 1n, fh, 0n, big);
  t.deepEqual(big.names(), all.names);
  t.true(tiny.count <= 1);
});

test('READDIRPLUS: entries come with attributes and nodeids that match LOOKUP; "." and ".." carry none', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('file'), 'abc');
  fs.mkdirSync(m.p('dir'));
  fs.symlinkSync('file', m.p('link'));
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  const sink = new ListPlusSink(8192);
  await m.fs.readdirplus(c(), 1n, fh, 0n, sink);
  const byName = new Map(sink.entries.map((x) => [Buffer.from(x.d.name).toString(), x]));
  t.deepEqual([...byName.keys()].sort(), ['.', '..', 'dir', 'file', 'link']);
  t.is(byName.get('.')!.e, null);
  t.is(byName.get('..')!.e, null);
  const file = byName.get('file')!;
  t.is(file.e!.attr.size, 3n);
  t.is(file.d.type, n.DT_REG);
  t.is(byName.get('dir')!.d.type, n.DT_DIR);
  t.is(byName.get('link')!.d.type, n.DT_LNK);
  t.is((await m.fs.lookup(c(), 1n, b('file'))).nodeid, file.e!.nodeid);
});

test('READDIRPLUS skips an entry deleted after it was read ahead, and resumes without repeating', async (t) => {
  const m = await mount(t);
  for (let i = 0; i < 40; i++) fs.writeFileSync(m.p(`n${i}`), '');
  const { fh } = await m.fs.opendir(c(), 1n, 0);
  const first = new ListPlusSink(1200);
  await m.fs.readdirplus(c(), 1n, fh, 0n, first);
  const named = (xs: ListPlusSink) => xs.entries.map((x) => Buffer.from(x.d.name).toString()).filter((x) => x !== '.' && x !== '..');
  const shown = named(first);
  // Delete everything not shown yet: the read-ahead buffer still lists those names.
  const rest = Array.from({ length: 40 }, (_, i) => `n${i}`).filter((x) => !shown.includes(x));
  t.true(rest.length > 0);
  rest.slice(0, 5).forEach((x) => fs.rmSync(m.p(x)));
  const second = new ListPlusSink(65536);
  await m.fs.readdirplus(c(), 1n, fh, first.entries[first.entries.length - 1]!.d.off, second);
  t.deepEqual(named(second).sort(), rest.slice(5).sort());
});

test('READDIRPLUS: a first listing opens new names in one job per reply; a listing of held names only stats them', async (t) => {
  const calls = { statx: 0, open: 0 };
  const sys = new Proxy(n, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (prop === 'statxNamesRecords' || prop === 'openStatNames') {
        return (...args: unknown[]) => {
          calls[prop === 'statxNamesRecords' ? 'statx' : 'open']++;
          return (v as (...a: unknown[]) => unknown)(...args);
        };
      }
      return v;
    },
  }) as typeof n;
  const m = await mount(t, {}, { sys });
  fs.mkdirSync(m.p('d'));
  for (let i = 0; i < 200; i++) fs.writeFileSync(m.p('d', `n${String(i).padStart(3, '0')}`), '');
  const d = (await m.fs.lookup(c(), 1n, b('d'))).nodeid;
  /** Every entry through `fh` (a new handle unless given), from the start. */
  const list = async (given?: bigint): Promise<{ replies: number; nodeids: Map<string, bigint> }> => {
    const fh = given ?? (await m.fs.opendir(c(), d, 0)).fh;
    const nodeids = new Map<string, bigint>();
    let off = 0n;
    let replies = 0;
    for (;;) {
      const sink = new ListPlusSink(1200);
      await m.fs.readdirplus(c(), d, fh, off, sink);
      if (sink.count === 0) break;
      replies++;
      for (const x of sink.entries) if (x.e !== null) nodeids.set(Buffer.from(x.d.name).toString(), x.e.nodeid);
      off = sink.entries[sink.count - 1]!.d.off;
    }
    if (given === undefined) await m.fs.releasedir(c(), d, fh, 0);
    return { replies, nodeids };
  };
  const { fh } = await m.fs.opendir(c(), d, 0);
  const first = await list(fh);
  t.is(first.nodeids.size, 200);
  t.true(first.replies > 20, `${first.replies} replies`);
  // The first reply looks for held names first; once they are seen to be new, each reply is one open job.
  t.is(calls.statx, 1, 'statxNames only for the first reply');
  t.is(calls.open, first.replies, 'one openStatNames job per reply');
  for (const [name, id] of first.nodeids) t.is((await m.fs.lookup(c(), d, b(name))).nodeid, id, name);
  // Listed again on the same handle: its last reply was all new, so the first reply opens its
  // names; they turn out held, and the replies after it go back to statx only.
  calls.statx = calls.open = 0;
  const rewound = await list(fh);
  t.deepEqual(rewound.nodeids, first.nodeids);
  t.is(calls.open, 1, 'only the first reply opens its names');
  t.is(calls.statx, rewound.replies - 1);
  await m.fs.releasedir(c(), d, fh, 0);
  calls.statx = calls.open = 0;
  const again = await list();
  t.deepEqual(again.nodeids, first.nodeids, 'the same inodes, found again');
  t.is(calls.open, 0, 'held names are not opened');
  t.is(calls.statx, again.replies);
});

test('READDIR on a file handle, or a directory handle of another nodeid: refused', async (t) => {
  const m = await mount(t);
  fs.writeFileSync(m.p('f'), '');
  fs.mkdirSync(m.p('d'));
  const f = await m.fs.lookup(c(), 1n, b('f'));
  const d = await m.fs.lookup(c(), 1n, b('d'));
  const o = await m.fs.open(c(), f.nodeid, n.O_RDONLY, 0);
  await t.throwsAsync(m.fs.readdir(c(), f.nodeid, o.fh, 0n, new ListSink()), { code: 'ENOTDIR' });
  const dh = await m.fs.opendir(c(), d.nodeid, 0);
  await t.throwsAsync(m.fs.readdir(c(), 1n, dh.fh, 0n, new ListSink()), { code: 'EBADF' });
  await t.throwsAsync(m.fs.opendir(c(), f.nodeid, 0), { code: 'ENOTDIR' });
});
