/**
 * The O_PATH fd cache for handle-backed inodes (src/passthrough/fd-cache.ts):
 * 1. it never holds more than its capacity, and the inodes it dropped still work (open_by_handle_at);
 * 2. an operation on a cached inode costs no open_by_handle_at; a lookup of a cached inode no
 *    name_to_handle_at either;
 * 3. an fd in use by a request in flight is never evicted under it;
 * 4. FORGET closes a forgotten inode's cached fd (no leak), DESTROY closes them all;
 * 5. while cached, a file deleted on the host stays reachable through its nodeid (as with O_PATH fds);
 * 6. the default capacity follows RLIMIT_NOFILE;
 * 7. READDIRPLUS finds an uncached handle-backed inode by its ids and handle bytes, and opens again
 *    a name whose handle differs from the one held under those ids;
 * 8. while every handle-backed inode has its fd cached, a statx pass asks for no file handles.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { defaultFdCacheCapacity } from '../../src/passthrough/fd-cache.js';
import type { Sys } from '../../src/passthrough/index.js';
import { ListPlusSink, b, ctx, fdCount, mount, settle } from '../helpers/passthrough.js';
import { gatedSys } from '../helpers/passthrough-sys.js';

const c = ctx;

/** The native module, counting the calls named. */
function countingSys(names: string[]): { sys: Sys; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const sys = new Proxy(n, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (typeof prop === 'string' && names.includes(prop) && typeof v === 'function') {
        return (...args: unknown[]) => {
          calls.set(prop, (calls.get(prop) ?? 0) + 1);
          return (v as (...a: unknown[]) => unknown)(...args);
        };
      }
      return v;
    },
  }) as Sys;
  return { sys, calls };
}

test.serial('1. the cache holds at most its capacity; inodes it dropped still work', async (t) => {
  const m = await mount(t, { inodeFileHandles: 'mandatory', handleFdCacheSize: 4 });
  for (let i = 0; i < 20; i++) fs.writeFileSync(m.p(`f${i}`), `content ${i}`);
  await settle();
  const base = fdCount();
  const ids: bigint[] = [];
  for (let i = 0; i < 20; i++) ids.push((await m.fs.lookup(c(), 1n, b(`f${i}`))).nodeid);
  await settle();
  t.is(m.fs.fdCacheStats().size, 4);
  t.is(fdCount(), base + 4, 'four O_PATH fds, not twenty');
  for (let i = 0; i < 20; i++) t.is((await m.fs.getattr(c(), ids[i]!, undefined)).attr.size, BigInt(`content ${i}`.length));
  await settle();
  t.is(fdCount(), base + 4);
});

test('2. a cached inode costs no open_by_handle_at, and a lookup of it no name_to_handle_at', async (t) => {
  const { sys, calls } = countingSys(['openByHandleAt', 'nameToHandleAt']);
  const m = await mount(t, { inodeFileHandles: 'mandatory' }, { sys });
  fs.writeFileSync(m.p('f'), 'x');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  calls.clear();
  for (let i = 0; i < 10; i++) {
    await m.fs.getattr(c(), e.nodeid, undefined);
    t.is((await m.fs.lookup(c(), 1n, b('f'))).nodeid, e.nodeid);
  }
  t.is(calls.get('openByHandleAt') ?? 0, 0);
  t.is(calls.get('nameToHandleAt') ?? 0, 0);
  t.true(m.fs.fdCacheStats().hits >= 10);
});

test('3. an fd in use by a request in flight is not evicted under it', async (t) => {
  const g = gatedSys('statx');
  const m = await mount(t, { inodeFileHandles: 'mandatory', handleFdCacheSize: 1 }, { sys: g.sys });
  fs.writeFileSync(m.p('a'), 'aaaa');
  fs.writeFileSync(m.p('b'), 'bb');
  const a = await m.fs.lookup(c(), 1n, b('a'));
  const reached = g.arm();
  const pending = m.fs.getattr(c(), a.nodeid, undefined);
  await reached; // GETATTR holds a's cached fd, its statx not yet run
  await m.fs.lookup(c(), 1n, b('b')); // the cache (capacity 1) must make room, but not with a's fd
  t.is(m.fs.fdCacheStats().size, 1);
  g.release();
  t.is((await pending).attr.size, 4n, 'the held GETATTR finished on its own fd');
});

test.serial('4. FORGET closes a forgotten inode\'s cached fd; DESTROY closes them all', async (t) => {
  const m = await mount(t, { inodeFileHandles: 'mandatory' });
  for (let i = 0; i < 10; i++) fs.writeFileSync(m.p(`f${i}`), '');
  await settle();
  const base = fdCount();
  const ids: bigint[] = [];
  for (let i = 0; i < 10; i++) ids.push((await m.fs.lookup(c(), 1n, b(`f${i}`))).nodeid);
  await settle();
  t.is(fdCount(), base + 10);
  for (const id of ids.slice(0, 5)) await m.fs.forget(c(), id, 1n);
  await settle();
  t.is(fdCount(), base + 5);
  t.is(m.fs.fdCacheStats().size, 5);
  await m.fs.destroy();
  await settle();
  t.is(m.fs.fdCacheStats().size, 0);
  t.true(fdCount() <= base - 1, 'the root and mount fds went too');
});

test('5. while cached, a file deleted on the host stays reachable through its nodeid', async (t) => {
  const m = await mount(t, { inodeFileHandles: 'mandatory' });
  fs.writeFileSync(m.p('f'), 'data');
  const e = await m.fs.lookup(c(), 1n, b('f'));
  fs.rmSync(m.p('f'));
  const a = await m.fs.getattr(c(), e.nodeid, undefined);
  t.is(a.attr.nlink, 0);
  t.is(a.attr.size, 4n);
});

test('6. the default capacity is a quarter of RLIMIT_NOFILE, within 16..65536', (t) => {
  const at = (soft: number) => defaultFdCacheCapacity({ getrlimit: () => ({ soft, hard: soft }) } as unknown as Sys);
  t.is(at(1024), 256);
  t.is(at(20000), 5000);
  t.is(at(32), 16);
  t.is(at(1 << 20), 65536);
  t.is(at(Infinity), 65536);
});

test('7. READDIRPLUS: an uncached inode is found by ids and handle bytes; a different handle under the same ids is not taken for it', async (t) => {
  let flip = false;
  let opens = 0;
  const sys = new Proxy(n, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (prop === 'openStatNames') {
        return (...args: unknown[]) => {
          opens++;
          return (v as (...a: unknown[]) => unknown)(...args);
        };
      }
      if (prop === 'statxNamesRecords') {
        return async (...args: unknown[]) => {
          const recs = (await (v as (...a: unknown[]) => Promise<n.StatxRecords>)(...args)) as n.StatxRecords;
          // As if each name now were another file that got the same inode number (a new generation).
          if (flip) {
            const raw = (recs as unknown as { raw: Buffer }).raw;
            for (let o = 0; o < raw.length; o += 408) raw[o + 280] = raw[o + 280]! ^ 0xff;
          }
          return recs;
        };
      }
      return v;
    },
  }) as Sys;
  const m = await mount(t, { inodeFileHandles: 'mandatory', handleFdCacheSize: 0 }, { sys });
  fs.mkdirSync(m.p('d'));
  for (let i = 0; i < 5; i++) fs.writeFileSync(m.p('d', `f${i}`), '');
  const d = (await m.fs.lookup(c(), 1n, b('d'))).nodeid;
  const held = new Map<string, bigint>();
  for (let i = 0; i < 5; i++) held.set(`f${i}`, (await m.fs.lookup(c(), d, b(`f${i}`))).nodeid);
  const list = async (): Promise<Map<string, bigint>> => {
    const { fh } = await m.fs.opendir(c(), d, 0);
    const sink = new ListPlusSink(65536);
    await m.fs.readdirplus(c(), d, fh, 0n, sink);
    await m.fs.releasedir(c(), d, fh, 0);
    const named = sink.entries.filter((x) => x.e !== null).map((x): [string, bigint] => [Buffer.from(x.d.name).toString(), x.e!.nodeid]);
    return new Map(named.sort(([x], [y]) => (x < y ? -1 : 1)));
  };
  opens = 0;
  t.deepEqual(await list(), held, 'the held nodeids');
  t.is(opens, 0, 'found without opening a name');
  flip = true;
  // Another handle: not the held inode by ids alone. The names are opened and resolved (by their real handles).
  t.deepEqual(await list(), held);
  t.is(opens, 1, 'one openStatNames job for the five names');
});

test('8. a statx pass asks for file handles only while some handle-backed inode has no cached fd', async (t) => {
  for (const [size, handles] of [[16, false], [2, true]] as const) {
    const asked: (number | undefined)[] = [];
    const sys = new Proxy(n, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (prop !== 'statxNamesRecords') return v;
        return (...args: unknown[]) => {
          asked.push(args[4] as number | undefined);
          return (v as (...a: unknown[]) => unknown)(...args);
        };
      },
    }) as Sys;
    // inlineCalls off: every LOOKUP takes the pool's statx pass.
    const m = await mount(t, { inodeFileHandles: 'mandatory', handleFdCacheSize: size, inlineCalls: false }, { sys });
    for (let i = 0; i < 5; i++) fs.writeFileSync(m.p(`f${i}`), '');
    const first: bigint[] = [];
    for (let i = 0; i < 5; i++) first.push((await m.fs.lookup(c(), 1n, b(`f${i}`))).nodeid);
    asked.length = 0;
    for (let i = 0; i < 5; i++) t.is((await m.fs.lookup(c(), 1n, b(`f${i}`))).nodeid, first[i]!, `f${i} with a cache of ${size}`);
    t.deepEqual(asked, new Array(5).fill(handles ? 0 : undefined), `cache of ${size}: handles ${handles ? '' : 'not '}asked for`);
  }
});
