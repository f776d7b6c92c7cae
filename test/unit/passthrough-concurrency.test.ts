/**
 * 64 requests at once against an artificially slow filesystem complete in parallel.
 *
 * The slowness is injected through PassthroughFs's `sys` (the native module, wrapped): before each
 * statx and preadv a worker-pool thread blocks for 200 ms (a read on a socket that a timer feeds), so
 * the delay occupies the pool exactly as a slow host filesystem (NFS, CephFS) would, without a FUSE
 * mount. Nothing in production code knows about it. With threadPoolSize 64 the 64 requests overlap:
 * about one delay in all, where one at a time would take 64.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { b, ctx, mount, views } from '../helpers/passthrough.js';
import { slowSys } from '../helpers/passthrough-sys.js';

const DELAY = 200;
const N = 64;

test('64 concurrent GETATTRs and READs on a slow filesystem overlap (threadPoolSize 64)', async (t) => {
  const slow = slowSys(DELAY, ['statx', 'preadv']);
  t.teardown(slow.close);
  const m = await mount(t, { threadPoolSize: N }, { sys: slow.sys });
  for (let i = 0; i < N; i++) fs.writeFileSync(m.p(`f${i}`), `data ${i}`);
  const entries = await Promise.all(Array.from({ length: N }, (_, i) => m.fs.lookup(ctx(), 1n, b(`f${i}`))));
  const fhs = await Promise.all(entries.map((e) => m.fs.open(ctx(), e.nodeid, n.O_RDONLY, 0)));

  let t0 = Date.now();
  const attrs = await Promise.all(entries.map((e) => m.fs.getattr(ctx(), e.nodeid, undefined)));
  const getattrMs = Date.now() - t0;
  attrs.forEach((a, i) => t.is(a.attr.size, BigInt(`data ${i}`.length)));

  t0 = Date.now();
  const dests = entries.map(() => views(32, 32));
  const got = await Promise.all(entries.map((e, i) => m.fs.read(ctx(), e.nodeid, fhs[i]!.fh, 0n, 32, 0, dests[i]!)));
  const readMs = Date.now() - t0;
  got.forEach((len, i) => t.is(Buffer.from(dests[i]![0]!.subarray(0, len)).toString(), `data ${i}`));

  t.log(`${N} getattrs: ${getattrMs} ms, ${N} reads: ${readMs} ms (${DELAY} ms each; serial would be ${N * DELAY} ms); peak ${slow.peak()} blocked at once`);
  t.is(slow.peak(), N, 'all 64 were in the slow call at the same time');
  // Generous bounds (the machine may be busy with other tests): one at a time would be 64 delays.
  t.true(getattrMs < 8 * DELAY, `getattrs took ${getattrMs} ms`);
  t.true(readMs < 8 * DELAY, `reads took ${readMs} ms`);
});
