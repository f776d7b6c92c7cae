/**
 * Running out of file descriptors: the guest gets EMFILE, the daemon keeps going, and what was open
 * before still works. RLIMIT_NOFILE is process-wide, so this file runs alone and serially.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { b, ctx, fdCount, mount, settle } from '../helpers/passthrough.js';

test.serial('EMFILE from the host goes back to the guest as EMFILE, and nothing is left half-done', async (t) => {
  const m = await mount(t);
  for (let i = 0; i < 100; i++) fs.writeFileSync(m.p(`f${i}`), 'x');
  const first = await m.fs.lookup(ctx(), 1n, b('f0'));
  const opened = await m.fs.open(ctx(), first.nodeid, n.O_RDONLY, 0);
  await settle();
  const saved = n.getrlimit(n.RLIMIT_NOFILE);
  const errors = new Set<string>();
  let ok = 0;
  const before = m.fs.stats();
  n.setrlimit(n.RLIMIT_NOFILE, { soft: fdCount() + 20, hard: saved.hard });
  try {
    const results = await Promise.allSettled(Array.from({ length: 99 }, (_, i) => m.fs.lookup(ctx(), 1n, b(`f${i + 1}`))));
    for (const r of results) {
      if (r.status === 'fulfilled') ok++;
      else errors.add((r.reason as { code: string }).code);
    }
    await t.throwsAsync(m.fs.open(ctx(), first.nodeid, n.O_RDONLY, 0), { code: 'EMFILE' });
    await t.throwsAsync(m.fs.create(ctx(), 1n, b('new'), 0o644, n.O_CREAT | n.O_WRONLY, 0), { code: 'EMFILE' });
  } finally {
    n.setrlimit(n.RLIMIT_NOFILE, saved);
  }
  t.deepEqual([...errors], ['EMFILE']);
  t.true(ok > 0 && ok < 99, `${ok} lookups got an fd before the limit`);
  t.is(m.fs.stats().inodes, before.inodes + ok, 'failed lookups left no inode behind');
  // The file created before the limit hit may exist; the daemon goes on.
  const dest = [new Uint8Array(1)];
  t.is(await m.fs.read(ctx(), first.nodeid, opened.fh, 0n, 1, 0, dest), 1);
  t.is((await m.fs.lookup(ctx(), 1n, b('f99'))).attr.size, 1n);
});
