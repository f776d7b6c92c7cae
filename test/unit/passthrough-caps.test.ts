/**
 * --max-inodes and --max-handles: past the cap a new nodeid or handle answers ENFILE and the log says
 * which cap, its value and the flag; what the guest already holds keeps working; FORGET and RELEASE
 * make room again. Tiny caps (3) so the limit is reached with a handful of files.
 */
import test from 'ava';
import fs from 'node:fs';
import { configureLog } from '../../src/log.js';
import * as n from '../../src/native/fs.js';
import { Limit } from '../../src/passthrough/limits.js';
import { ListPlusSink, b, ctx, mount } from '../helpers/passthrough.js';

const code = (p: Promise<unknown>): Promise<string | undefined> => p.then(
  () => undefined,
  (e: unknown) => (e as { code?: string }).code,
);

/** Capture the daemon's log lines for the rest of the test. */
function logLines(t: import('ava').ExecutionContext): string[] {
  const lines: string[] = [];
  configureLog({ sink: (l) => lines.push(l) });
  t.teardown(() => configureLog({ sink: (l) => process.stderr.write(l + '\n') }));
  return lines;
}

test.serial('--max-inodes: a new nodeid past the cap is ENFILE, known ones still resolve, FORGET makes room', async (t) => {
  const lines = logLines(t);
  const m = await mount(t, { maxInodes: 3 }); // the root and two more
  for (const f of ['a', 'b', 'c']) fs.writeFileSync(m.p(f), f);
  const a = await m.fs.lookup(ctx(), 1n, b('a'));
  await m.fs.lookup(ctx(), 1n, b('b'));
  t.is(m.fs.stats().inodes, 3);
  t.is(await code(m.fs.lookup(ctx(), 1n, b('c'))), 'ENFILE');
  t.is((await m.fs.lookup(ctx(), 1n, b('a'))).nodeid, a.nodeid, 'a known inode is found at the cap');
  t.is(await code(m.fs.mkdir(ctx(), 1n, b('d'), 0o755)), 'ENFILE');
  t.false(fs.existsSync(m.p('d')), 'MKDIR refused before creating anything on the host');
  t.is(await code(m.fs.symlink(ctx(), 1n, b('s'), b('a'))), 'ENFILE');
  t.is(await code(m.fs.mknod(ctx(), 1n, b('p'), n.S_IFIFO | 0o644, 0)), 'ENFILE');
  t.is(await code(m.fs.create(ctx(), 1n, b('new'), 0o644, n.O_CREAT | n.O_WRONLY, 0)), 'ENFILE');
  t.false(fs.existsSync(m.p('new')), 'CREATE refused before creating the file');
  const again = await m.fs.create(ctx(), 1n, b('a'), 0o644, n.O_CREAT | n.O_RDONLY, 0);
  t.is(again.entry.nodeid, a.nodeid, 'CREATE of a known name (no O_EXCL) still opens it at the cap');
  await m.fs.release(ctx(), a.nodeid, again.fh, 0, 0);
  t.is(m.fs.stats().inodes, 3, 'refused requests left no inode behind');

  const warns = lines.filter((l) => /inodes limit reached/.test(l));
  t.is(warns.length, 1, 'logged once, not once per refusal');
  t.regex(warns[0]!, /WARN/);
  t.regex(warns[0]!, /: 3 held/);
  t.regex(warns[0]!, /--max-inodes/);

  await m.fs.forget(ctx(), a.nodeid, 3n); // two lookups and the CREATE
  t.is(m.fs.stats().inodes, 2);
  const c = await m.fs.lookup(ctx(), 1n, b('c'));
  t.is((await m.fs.getattr(ctx(), c.nodeid, undefined)).attr.size, 1n, 'a new nodeid after FORGET works');
});

test.serial('--max-inodes: READDIRPLUS at the cap lists the names, without entries for new inodes', async (t) => {
  logLines(t);
  const m = await mount(t, { maxInodes: 2 });
  for (const f of ['x', 'y', 'z']) fs.writeFileSync(m.p(f), f);
  const d = await m.fs.opendir(ctx(), 1n, 0);
  const sink = new ListPlusSink(64 * 1024);
  await m.fs.readdirplus(ctx(), 1n, d.fh, 0n, sink);
  const got = sink.entries.map((x) => ({ name: Buffer.from(x.d.name).toString(), entry: x.e !== null }));
  const files = got.filter((g) => !g.name.startsWith('.')).sort((p, q) => p.name.localeCompare(q.name));
  t.deepEqual(files.map((g) => g.name), ['x', 'y', 'z'], 'every name listed');
  t.is(files.filter((g) => g.entry).length, 1, 'one got a nodeid (root + 1 = the cap), the rest none');
  t.is(m.fs.stats().inodes, 2);
});

test.serial('--max-handles: OPEN, OPENDIR and CREATE past the cap are ENFILE; RELEASE makes room', async (t) => {
  const lines = logLines(t);
  const m = await mount(t, { maxHandles: 3 });
  fs.writeFileSync(m.p('f'), 'hello');
  fs.mkdirSync(m.p('d'));
  const f = await m.fs.lookup(ctx(), 1n, b('f'));
  const dir = await m.fs.lookup(ctx(), 1n, b('d'));
  const h1 = await m.fs.open(ctx(), f.nodeid, n.O_RDONLY, 0);
  const h2 = await m.fs.open(ctx(), f.nodeid, n.O_RDONLY, 0);
  const d1 = await m.fs.opendir(ctx(), dir.nodeid, 0);
  t.is(m.fs.stats().handles, 3);
  t.is(await code(m.fs.open(ctx(), f.nodeid, n.O_RDONLY, 0)), 'ENFILE');
  t.is(await code(m.fs.opendir(ctx(), dir.nodeid, 0)), 'ENFILE');
  t.is(await code(m.fs.create(ctx(), 1n, b('g'), 0o644, n.O_CREAT | n.O_WRONLY, 0)), 'ENFILE');
  t.false(fs.existsSync(m.p('g')), 'CREATE refused before creating the file');
  const dest = [new Uint8Array(5)];
  t.is(await m.fs.read(ctx(), f.nodeid, h1.fh, 0n, 5, 0, dest), 5, 'open handles still work at the cap');
  t.is(m.fs.stats().handles, 3);

  const warns = lines.filter((l) => /open handles limit reached/.test(l));
  t.is(warns.length, 1);
  t.regex(warns[0]!, /: 3 held.*--max-handles/);

  await m.fs.release(ctx(), f.nodeid, h2.fh, 0, 0);
  const h3 = await m.fs.open(ctx(), f.nodeid, n.O_RDONLY, 0);
  t.true(h3.fh > 0n, 'OPEN works again after RELEASE');
  await m.fs.releasedir(ctx(), dir.nodeid, d1.fh, 0);
  const g = await m.fs.create(ctx(), 1n, b('g'), 0o644, n.O_CREAT | n.O_WRONLY, 0);
  t.true(g.fh > 0n, 'CREATE works again after RELEASEDIR');
});

test('a cap keeps refusing but warns again only after a minute', (t) => {
  const lines = logLines(t);
  let now = 0;
  const l = new Limit('inodes', 2, '--max-inodes', () => now);
  l.admit(1);
  t.is(t.throws(() => l.admit(2))!.message.includes('--max-inodes'), true);
  now = 59_999;
  t.throws(() => l.admit(5), { code: 'ENFILE' } as never);
  t.is(lines.length, 1);
  now = 60_000;
  t.throws(() => l.admit(2));
  t.is(lines.length, 2);
});

test('the caps are validated', async (t) => {
  await t.throwsAsync(mount(t, { maxInodes: 1 }), { instanceOf: RangeError });
  await t.throwsAsync(mount(t, { maxHandles: 0 }), { instanceOf: RangeError });
});
