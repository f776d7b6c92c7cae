/**
 * Calls on the event-loop thread (passthrough/inline.ts). READ's page-cache fast path (io.ts
 * readCached): preadv2(RWF_NOWAIT) on this thread, the worker pool for whatever it could not serve.
 * statx of open inodes on local filesystems. Counted through PassthroughFs's injectable sys, with
 * the real kernel answering (ext4 serves cached pages and says EAGAIN for the rest; tmpfs says
 * EOPNOTSUPP) and, where the kernel's answer cannot be arranged, a sys that gives it.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import * as n from '../../src/native/fs.js';
import type { Sys } from '../../src/passthrough/index.js';
import { CACHED_READ_MAX } from '../../src/passthrough/io.js';
import { IN_MEMORY_ATTR_FS, InlinePolicy } from '../../src/passthrough/inline.js';
import { b, canMount, concat, ctx, mount, mountTmpfs, tmpDir, views } from '../helpers/passthrough.js';

const { EAGAIN, EOPNOTSUPP } = os.constants.errno;

type SyncRead = Sys['preadvSync'];

/** A sys counting both read paths; `sync` may replace the RWF_NOWAIT call. */
function counting(sync?: (real: SyncRead, ...a: Parameters<SyncRead>) => number) {
  const calls = { sync: [] as bigint[], pool: [] as bigint[] };
  const sys = {
    ...n,
    preadvSync: (fd: number, bufs: readonly ArrayBufferView[], off: number | bigint, flags: number) => {
      calls.sync.push(BigInt(off));
      return sync === undefined ? n.preadvSync(fd, bufs, off, flags) : sync(n.preadvSync, fd, bufs, off, flags);
    },
    preadv: (fd: number, bufs: readonly ArrayBufferView[], off: number | bigint, flags?: number) => {
      calls.pool.push(BigInt(off));
      return n.preadv(fd, bufs, off, flags);
    },
  } as Sys;
  return { sys, calls };
}

const content = Buffer.from(Array.from({ length: 10000 }, (_, i) => (i * 7) & 0xff));

/** Does the tmp dir's filesystem serve RWF_NOWAIT reads (ext4, xfs, btrfs do)? */
function hostServesNowait(dir: string): boolean {
  const f = `${dir}/probe`;
  fs.writeFileSync(f, 'x');
  const fd = fs.openSync(f, 'r');
  try {
    return n.preadvSync(fd, [new Uint8Array(1)], 0, n.RWF_NOWAIT) === 1;
  } finally {
    fs.closeSync(fd);
  }
}

async function openFile(t: Parameters<typeof mount>[0], sys: Sys, flags = n.O_RDONLY, opts = {}) {
  const m = await mount(t, opts, { sys });
  fs.writeFileSync(m.p('f'), content);
  const e = await m.fs.lookup(ctx(), 1n, b('f'));
  const o = await m.fs.open(ctx(), e.nodeid, flags, 0);
  const read = async (off: number, size: number, chunk = size) => {
    const dest = views(size, chunk);
    const got = await m.fs.read(ctx(), e.nodeid, o.fh, BigInt(off), size, 0, dest);
    return concat(dest, got);
  };
  return { m, read };
}

test('a cached file is read on the calling thread, up to the end, with no pool call', async (t) => {
  const supported = hostServesNowait(tmpDir(t));
  if (!supported) t.log(`${os.tmpdir()} does not serve RWF_NOWAIT reads: the pool path is what runs there`);
  const { sys, calls } = counting();
  const { read } = await openFile(t, sys);
  t.deepEqual(await read(0, 4096), content.subarray(0, 4096));
  t.deepEqual(await read(8192, 4096, 1000), content.subarray(8192), 'a short read at the end of the file, over several views');
  t.deepEqual(await read(20000, 4096), Buffer.alloc(0), 'past the end');
  if (supported) {
    t.deepEqual(calls.pool, [], 'the pool was never used');
    t.deepEqual(calls.sync, [0n, 8192n, 10000n, 20000n], 'the end of the file is known by a 0, not by a short read');
  } else {
    t.deepEqual(calls.sync, [0n], 'asked once, then never again on this handle');
    t.is(calls.pool.length, 3);
  }
});

test('what RWF_NOWAIT could not read (EAGAIN after a partial read) is read on the pool from there on', async (t) => {
  let first = true;
  const { sys, calls } = counting((real, fd, bufs, off, flags) => {
    if (!first) return -EAGAIN;
    first = false;
    const v = bufs[0] as Uint8Array;
    return real(fd, [v.subarray(0, 100)], off, flags); // as if only the first 100 bytes were cached
  });
  const { read } = await openFile(t, sys);
  t.deepEqual(await read(1000, 4096, 512), content.subarray(1000, 5096));
  t.deepEqual(calls.sync, [1000n, 1100n]);
  t.deepEqual(calls.pool, [1100n]);
  t.deepEqual(await read(0, 10), content.subarray(0, 10), 'EAGAIN is not remembered: the next read tries again');
  t.deepEqual(calls.sync, [1000n, 1100n, 0n]);
});

test('EOPNOTSUPP turns the fast path off for the handle; large and O_DIRECT reads never take it', async (t) => {
  const { sys, calls } = counting(() => -EOPNOTSUPP);
  const { read } = await openFile(t, sys);
  t.deepEqual(await read(0, 100), content.subarray(0, 100));
  t.deepEqual(await read(100, 100), content.subarray(100, 200));
  t.deepEqual(calls.sync, [0n], 'asked once');
  t.deepEqual(calls.pool, [0n, 100n]);

  const big = counting();
  const r2 = await openFile(t, big.sys);
  const dest = await r2.read(0, CACHED_READ_MAX + 4096);
  t.deepEqual(dest, content);
  t.deepEqual(big.calls.sync, [], `a read over ${CACHED_READ_MAX} bytes goes to the pool`);

  const direct = counting();
  const r3 = await openFile(t, direct.sys, n.O_RDONLY | n.O_DIRECT, { allowDirectIo: true });
  await r3.read(0, 4096).catch(() => undefined); // O_DIRECT may refuse an unaligned buffer (EINVAL): not the point
  t.deepEqual(direct.calls.sync, [], 'RWF_NOWAIT would still wait for the device under O_DIRECT');
  t.is(direct.calls.pool.length, 1);
});

test('on tmpfs the kernel itself says EOPNOTSUPP and reads go on through the pool', async (t) => {
  if (!canMount()) {
    t.log('cannot mount tmpfs here (not root with CAP_SYS_ADMIN): the EOPNOTSUPP path is covered by the test above');
    t.pass();
    return;
  }
  const dir = tmpDir(t);
  mountTmpfs(t, dir);
  const { sys, calls } = counting();
  const { read } = await openFile(t, sys, n.O_RDONLY, { sharedDir: dir });
  t.deepEqual(await read(0, 4096), content.subarray(0, 4096));
  t.deepEqual(await read(4096, 4096), content.subarray(4096, 8192));
  t.deepEqual(calls.sync, [0n]);
  t.deepEqual(calls.pool, [0n, 4096n]);
});

/** statfs f_type of the filesystem `dir` is on. */
async function fsType(dir: string): Promise<number> {
  const fd = fs.openSync(dir, 'r');
  try {
    return (await n.fstatfs(fd)).type;
  } finally {
    fs.closeSync(fd);
  }
}

/** A sys counting statx on the pool and on this thread; fstatfs may claim another filesystem type. */
function statCounting(fsType?: number) {
  const calls = { pool: 0, inline: 0, fstatfs: 0, nowaitReads: 0 };
  const sys = {
    ...n,
    preadvSync: (...a: Parameters<Sys['preadvSync']>) => {
      calls.nowaitReads++;
      return n.preadvSync(...a);
    },
    statx: (...a: Parameters<Sys['statx']>) => {
      calls.pool++;
      return n.statx(...a);
    },
    statxSync: (...a: Parameters<Sys['statxSync']>) => {
      calls.inline++;
      return n.statxSync(...a);
    },
    fstatfs: async (fd: number) => {
      calls.fstatfs++;
      const s = await n.fstatfs(fd);
      return fsType === undefined ? s : { ...s, type: fsType };
    },
  } as Sys;
  return { sys, calls };
}

test('GETATTR of an open inode on a local filesystem runs inline after one fstatfs per mount', async (t) => {
  const dir = tmpDir(t);
  const type = await fsType(dir);
  const local = IN_MEMORY_ATTR_FS.has(type);
  const { sys, calls } = statCounting();
  const m = await mount(t, { sharedDir: dir }, { sys });
  fs.writeFileSync(m.p('f'), content);
  const e = await m.fs.lookup(ctx(), 1n, b('f'));
  const before = { ...calls };
  for (let i = 0; i < 3; i++) t.is((await m.fs.getattr(ctx(), e.nodeid, undefined)).attr.size, BigInt(content.length));
  const o = await m.fs.open(ctx(), e.nodeid, n.O_RDWR, 0);
  fs.appendFileSync(m.p('f'), 'more');
  t.is((await m.fs.getattr(ctx(), e.nodeid, o.fh)).attr.size, BigInt(content.length + 4), 'by handle, and fresh');
  t.is((await m.fs.statx(ctx(), e.nodeid, undefined, 0, n.STATX_BASIC_STATS)).statx.size, BigInt(content.length + 4));
  t.log(`${dir}: f_type 0x${type.toString(16)} (${IN_MEMORY_ATTR_FS.get(type) ?? 'not in the list'})`);
  t.is(calls.fstatfs, 1, 'the mount was learnt once, at INIT');
  t.is(calls.fstatfs - before.fstatfs, 0);
  if (local) {
    t.is(calls.inline - before.inline, 5);
    t.is(calls.pool - before.pool, 0);
  } else {
    t.is(calls.inline - before.inline, 0);
    t.is(calls.pool - before.pool, 5);
  }
});

test('GETATTR on CephFS (as fstatfs says), or with inlineCalls off, goes to the pool', async (t) => {
  for (const [what, fsType, inlineCalls] of [
    ['cephfs', 0x00c36400, true],
    ['off', undefined, false],
  ] as const) {
    const { sys, calls } = statCounting(fsType);
    const m = await mount(t, { inlineCalls }, { sys });
    fs.writeFileSync(m.p('f'), 'x');
    const e = await m.fs.lookup(ctx(), 1n, b('f'));
    const pool = calls.pool;
    t.is((await m.fs.getattr(ctx(), e.nodeid, undefined)).attr.size, 1n);
    t.is(calls.pool - pool, 1, what);
    t.is(calls.inline, 0, what);
    if (!inlineCalls) t.is(calls.fstatfs, 0, 'off: not even asked');
    const o = await m.fs.open(ctx(), e.nodeid, n.O_RDONLY, 0);
    t.is(await m.fs.read(ctx(), e.nodeid, o.fh, 0n, 1, 0, views(1, 1)), 1);
    t.is(calls.nowaitReads, 0, `${what}: READ goes to the pool without an RWF_NOWAIT try`);
  }
});

test('InlinePolicy: one fstatfs per mount at a time; a reused mount id on another device is asked again; errors mean no', async (t) => {
  const dir = tmpDir(t);
  const fd = fs.openSync(dir, 'r');
  t.teardown(() => fs.closeSync(fd));
  let asked = 0;
  let type = 0xef53;
  let fail = false;
  const sys = {
    ...n,
    fstatfs: async (f: number) => {
      asked++;
      if (fail) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return { ...(await n.fstatfs(f)), type };
    },
  } as Sys;
  const p = new InlinePolicy(sys, true);
  const ids = { dev: 1, mntId: 7n, ino: 1n };
  const a = p.statInline(ids, fd);
  const b2 = p.statInline(ids, fd);
  t.is(await a, true);
  t.is(await b2, true);
  t.is(asked, 1, 'concurrent first asks share one fstatfs');
  t.is(p.statInline(ids, fd), true, 'known: a plain boolean, no promise');
  type = 0x6969; // NFS
  t.is(await p.statInline({ ...ids, dev: 2 }, fd), false, 'the mount id now names another filesystem');
  t.is(asked, 2);
  fail = true;
  t.is(await p.statInline({ dev: 3, mntId: 8n, ino: 1n }, fd), false);
  t.is(new InlinePolicy(sys, false).statInline(ids, fd), false);
});

/**
 * A sys counting a lookup's calls: its pool jobs (statxNamesRecords, openStat; `pool` is both), the
 * names opened on this thread, and each inline statx's answer (0, or -errno).
 */
function lookupCounting() {
  const calls = { pool: 0, statxNames: 0, openStat: 0, inline: [] as number[], opened: 0 };
  const sys = {
    ...n,
    statxNamesRecords: (...a: Parameters<Sys['statxNamesRecords']>) => {
      calls.pool++;
      calls.statxNames++;
      return n.statxNamesRecords(...a);
    },
    openStat: (...a: Parameters<Sys['openStat']>) => {
      calls.pool++;
      calls.openStat++;
      return n.openStat(...a);
    },
    openStatSync: (...a: Parameters<Sys['openStatSync']>) => {
      const r = n.openStatSync(...a);
      if (typeof r !== 'number') calls.opened++;
      return r;
    },
    statxOpenedSync: (...a: Parameters<Sys['statxOpenedSync']>) => {
      const r = n.statxOpenedSync(...a);
      calls.inline.push(typeof r === 'number' ? r : 0);
      return r;
    },
  } as Sys;
  return { sys, calls };
}

test('LOOKUP of a cached name on a local filesystem runs inline; not cached, missing, or a mount point: the pool', async (t) => {
  const dir = tmpDir(t);
  const local = IN_MEMORY_ATTR_FS.has(await fsType(dir));
  const { sys, calls } = lookupCounting();
  const m = await mount(t, { sharedDir: dir, inodeFileHandles: 'prefer' }, { sys });
  fs.mkdirSync(m.p('d'));
  fs.writeFileSync(m.p('d/f'), 'abc');
  fs.symlinkSync('/etc/passwd', m.p('d/link'));
  const d = await m.fs.lookup(ctx(), 1n, b('d'));
  const f = await m.fs.lookup(ctx(), d.nodeid, b('f'));
  const link = await m.fs.lookup(ctx(), d.nodeid, b('link'));
  t.is(link.attr.mode & n.S_IFMT, n.S_IFLNK, 'a symlink is looked up as itself, never followed');
  const newOnes = { ...calls, inline: [...calls.inline] };
  // Known inodes: the inline statx is the whole lookup.
  const again = await m.fs.lookup(ctx(), d.nodeid, b('f'));
  t.is(again.nodeid, f.nodeid, 'the same inode, found by its ids');
  t.is(again.attr.size, 3n);
  t.is((await m.fs.lookup(ctx(), d.nodeid, b('link'))).nodeid, link.nodeid);
  t.is((await m.fs.lookup(ctx(), d.nodeid, b('.'))).nodeid, d.nodeid);
  const knownPool = calls.pool - newOnes.pool;
  await t.throwsAsync(m.fs.lookup(ctx(), d.nodeid, b('missing')), { code: 'ENOENT' });
  if (!local) {
    t.deepEqual(calls.inline, [], 'not a local filesystem: never inline');
    return;
  }
  t.is(newOnes.pool, 0, 'new inodes in the dentry cache: opened inline, with their handles');
  t.is(newOnes.opened, 3);
  t.is(knownPool, 0, 'known inodes: no pool job');
  t.is(calls.opened, 3, 'known inodes: no open kept');
  t.deepEqual(calls.inline.slice(newOnes.inline.length, -1), [0, 0, 0]);
  t.true(calls.inline.at(-1)! < 0, 'the missing name was not answered inline');
  t.is(calls.pool, 1, 'the pool answered the missing name');

  // Handle-backed inodes without a cached fd are not found by ids: opened inline, found by handle.
  calls.pool = 0;
  calls.opened = 0;
  const m2 = await mount(t, { sharedDir: dir, inodeFileHandles: 'prefer', handleFdCacheSize: 0 }, { sys });
  const d2 = await m2.fs.lookup(ctx(), 1n, b('d'));
  const f2 = await m2.fs.lookup(ctx(), d2.nodeid, b('f'));
  t.is((await m2.fs.lookup(ctx(), d2.nodeid, b('f'))).nodeid, f2.nodeid, 'the same nodeid, by its handle');
  t.is(calls.opened, 3);
  t.is(calls.pool, 0);
  if (canMount()) {
    fs.mkdirSync(m.p('mnt'));
    mountTmpfs(t, m.p('mnt'));
    const before = calls.pool;
    const mp = await m.fs.lookup(ctx(), 1n, b('mnt'));
    t.not((await m.fs.getattr(ctx(), mp.nodeid, undefined)).attr.ino, d.attr.ino);
    const refused = calls.inline.at(-1)!;
    t.true(refused === -os.constants.errno.EXDEV || refused === -EAGAIN, `a mount point is not crossed inline (RESOLVE_NO_XDEV): ${refused}`);
    t.is(calls.pool, before + 2, 'statxNamesRecords, then the open of a new inode (openStat), on the pool');
  }
});

test('MKDIR, MKNOD and SYMLINK look their new name up with one open: inline from the dentry cache, else one pool job', async (t) => {
  const dir = tmpDir(t);
  const local = IN_MEMORY_ATTR_FS.has(await fsType(dir));
  for (const inlineCalls of [true, false]) {
    const { sys, calls } = lookupCounting();
    const m = await mount(t, { sharedDir: fs.mkdtempSync(`${dir}/m`), inodeFileHandles: 'prefer', inlineCalls }, { sys });
    const d = await m.fs.mkdir(ctx(), 1n, b('d'), 0o755);
    const fifo = await m.fs.mknod(ctx(), d.nodeid, b('fifo'), n.S_IFIFO | 0o644, 0);
    const link = await m.fs.symlink(ctx(), d.nodeid, b('link'), b('../nowhere'));
    t.is(d.attr.mode & n.S_IFMT, n.S_IFDIR);
    t.is(fifo.attr.mode & n.S_IFMT, n.S_IFIFO);
    t.is(link.attr.mode & n.S_IFMT, n.S_IFLNK, 'the link itself, not followed');
    t.is(link.attr.size, 10n);
    const again = await m.fs.lookup(ctx(), d.nodeid, b('fifo'));
    t.is(again.nodeid, fifo.nodeid, 'a later LOOKUP finds the inode the MKNOD made');
    const counts = { statxNames: calls.statxNames, openStat: calls.openStat, opened: calls.opened };
    if (inlineCalls && local) {
      t.deepEqual(counts, { statxNames: 0, openStat: 0, opened: 3 }, 'each new name opened on this thread, no pool job');
      t.is(calls.inline.length, 1, 'only the later LOOKUP looks for a held inode');
    } else {
      t.deepEqual(counts, { statxNames: 1, openStat: 3, opened: 0 }, 'one openStat job per new name; the statx pass only for the later LOOKUP');
      t.is(calls.inline.length, 0);
    }
  }
});

/** A sys whose fstatfs may claim another filesystem type, counting FLUSH's closeDup; closeMany waits for `closes` to be let go. */
function closeCounting(fsType?: number) {
  const calls = { closeDup: 0, closed: [] as number[] };
  let letGo: () => void = () => undefined;
  let held = Promise.resolve();
  const sys = {
    ...n,
    fstatfs: async (fd: number) => {
      const s = await n.fstatfs(fd);
      return fsType === undefined ? s : { ...s, type: fsType };
    },
    closeDup: (fd: number) => {
      calls.closeDup++;
      return n.closeDup(fd);
    },
    closeMany: async (fds: readonly number[]) => {
      await held;
      calls.closed.push(...fds);
      return n.closeMany(fds);
    },
  } as unknown as Sys;
  const hold = () => {
    held = new Promise<void>((resolve) => (letGo = resolve));
    return () => letGo();
  };
  return { sys, calls, hold };
}

test('FLUSH does no host call where close(2) of a duplicate does nothing (ext4, XFS, tmpfs); elsewhere, or with inlineCalls off, it closes one', async (t) => {
  for (const [what, fsType, inlineCalls, noop] of [
    ['ext4', 0xef53, true, true],
    ['xfs', 0x58465342, true, true],
    ['tmpfs', 0x01021994, true, true],
    ['f2fs (f2fs_file_flush)', 0xf2f52010, true, false],
    ['cephfs', 0x00c36400, true, false],
    ['ext4 with inlineCalls off', 0xef53, false, false],
  ] as const) {
    const { sys, calls } = closeCounting(fsType);
    const m = await mount(t, { inlineCalls }, { sys });
    fs.writeFileSync(m.p('f'), 'x');
    const e = await m.fs.lookup(ctx(), 1n, b('f'));
    const o = await m.fs.open(ctx(), e.nodeid, n.O_RDWR, 0);
    await m.fs.flush(ctx(), e.nodeid, o.fh, 7n);
    t.is(calls.closeDup, noop ? 0 : 1, what);
    t.is(await m.fs.write(ctx(), e.nodeid, o.fh, 0n, [b('y')], 0, 0), 1, `${what}: the handle still works after FLUSH`);
    await m.fs.release(ctx(), e.nodeid, o.fh, n.O_RDWR, 0, 0n);
  }
  const p = new InlinePolicy(n as unknown as Sys, true);
  t.false(p.flushIsNoop({ dev: 1, mntId: 99n, ino: 1n }), 'a mount not learnt yet: not known to be a no-op');
});

test('RELEASE replies before its fd is closed, and the close still happens', async (t) => {
  const { sys, calls, hold } = closeCounting();
  const m = await mount(t, {}, { sys });
  fs.writeFileSync(m.p('f'), 'x');
  /** This process's fds open on the file (its inode's O_PATH fd and the handle's). */
  const onFile = () =>
    fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`) === m.p('f');
      } catch {
        return false; // closed meanwhile
      }
    }).length;
  const e = await m.fs.lookup(ctx(), 1n, b('f'));
  const o = await m.fs.open(ctx(), e.nodeid, n.O_RDONLY, 0);
  const open = onFile();
  const letGo = hold();
  await m.fs.release(ctx(), e.nodeid, o.fh, n.O_RDONLY, 0, 0n);
  t.deepEqual(calls.closed, [], 'replied while the close waits');
  t.is(onFile(), open, 'the fd is still open');
  await t.throwsAsync(() => m.fs.read(ctx(), e.nodeid, o.fh, 0n, 1, 0, views(1, 1)), { code: 'EBADF' }, 'but the handle is gone at once');
  letGo();
  for (let i = 0; i < 200 && calls.closed.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  t.is(calls.closed.length, 1);
  t.is(onFile(), open - 1, 'and then closed');
});
