/**
 * Fuzzing FUSE requests: sequences of INIT then random requests (random and unknown opcodes, header
 * lengths that disagree with the bytes, argument structs cut short or padded, names without NUL or
 * with '/', '.', '..', over NAME_MAX, huge sizes and counts, bogus nodeids and fhs, lying extension
 * lengths, requests split anywhere into segments, writable space from 0 bytes up), against the real
 * FuseServer over:
 *   - NullFileSystem (every op ENOSYS: the decoding alone);
 *   - MemoryFileSystem (a real tree: nodeids and fhs from earlier replies are reused);
 *   - PassthroughFs on a scratch share next to a canary tree: after every case the canary and the
 *     sandbox root are unchanged (names, sizes, modes, owners, link counts, mtimes, ctimes, contents),
 *     and after DESTROY the process is back to its fd baseline;
 *   - the daemon: the virtio-fs device over MemoryFileSystem, through our front-end and a real ring
 *     (every chain used exactly once, with the reply inside its writable buffers).
 * The reply rules are in helpers/fuse-run.ts.
 */
import test from 'ava';
import fc from 'fast-check';
import { MemoryFileSystem } from '../../src/fuse/memory-filesystem.js';
import { NullFileSystem } from '../../src/fuse/null-filesystem.js';
import type { FileSystem } from '../../src/fuse/filesystem.js';
import { FuseServer } from '../../src/fuse/server.js';
import { PassthroughFs } from '../../src/passthrough/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import * as B from '../helpers/builders/fuse.js';
import { checkProperty, waitFor, within } from './helpers/fuzz.js';
import { newFds, openFds } from './helpers/health.js';
import { fuseCase, describeReq, opcodes, type FuseCase } from './helpers/fuse-gen.js';
import { makeSandbox, newStats, passthroughClamp, runCase, type RunStats, type Transport } from './helpers/fuse-run.js';
import { checkNoFdLeak, roundTrip, settle, startFuzzDaemon } from './helpers/daemon-fuzz.js';
import { configureLog, type LogLevel } from '../../src/log.js';

// Rejected requests are the point here: their log lines are noise.
configureLog({ level: (process.env.VFS_FUZZ_LOG_LEVEL as LogLevel | undefined) ?? 'off' });

const described = (c: FuseCase) => Object.assign(c, { [fc.toStringMethod]: () => `init=${c.init ? Buffer.from(c.init).toString('hex').slice(0, 40) : 'none'} reqs=[\n  ${c.reqs.map(describeReq).join('\n  ')}]` });

/** The server in process: segments in, writable buffers of the asked sizes out. */
function direct(server: FuseServer): Transport {
  return async (segments, writable) => {
    const w = writable.map((n) => new Uint8Array(n).fill(0xee));
    const used = await server.handle(segments, w);
    return { used, reply: B.concat(...w) };
  };
}

function logStats(t: import('ava').ExecutionContext, s: RunStats): void {
  const errs = [...s.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([e, n]) => `${e}:${n}`).join(' ');
  t.log(`${s.requests} requests, ${s.ok} succeeded; errnos ${errs}`);
}

for (const [name, make, runs] of [
  ['NullFileSystem', () => new NullFileSystem(), 1500],
  ['MemoryFileSystem', () => new MemoryFileSystem(), 1500],
] as [string, () => FileSystem, number][]) {
  test(`FUSE fuzz (${name}): every request answered exactly once, inside its writable space, never a throw`, async (t) => {
    const stats = newStats();
    const prop = fc.asyncProperty(fuseCase().map(described), async (c) => {
      const server = new FuseServer(make());
      await runCase(c, direct(server), stats);
      await server.reset();
    });
    await checkProperty(t, `fuse/${name}`, prop, runs);
    logStats(t, stats);
  });
}

test.serial('FUSE fuzz (PassthroughFs): answered exactly once; the canary tree next to the share is untouched; no fd left after DESTROY', async (t) => {
  const box = makeSandbox();
  t.teardown(() => box.remove());
  const pfs = new PassthroughFs({ sharedDir: box.share, xattr: true });
  t.teardown(() => pfs.close());
  const server = new FuseServer(pfs);
  // Baseline after one session: the worker pool and /proc fds exist by then.
  await runCase({ init: B.initIn(7, 38, 1 << 17, 0x7fffffff, 0x7), reqs: [] }, direct(server), newStats());
  await server.reset();
  const baseline = openFds();
  const canary = box.snapshot();
  const stats = newStats();
  // SETLKW may rightly wait forever for a lock another owner holds (the kernel would INTERRUPT it).
  const prop = fc.asyncProperty(fuseCase(opcodes([B.OP.SETLKW]), 25).map(described), async (c) => {
    try {
      await runCase(c, direct(server), stats, passthroughClamp);
    } finally {
      await server.reset();
    }
    const now = box.snapshot();
    if (now !== canary) throw new Error(`the canary tree changed:\n--- before\n${canary}\n--- after\n${now}`);
    // DESTROY closes the inode fds on the worker pool without waiting: give the closes a moment.
    await waitFor(() => newFds(baseline).length === 0, 2000, 'the fds of the session to close').catch(() => {
      throw new Error(`fds still open after DESTROY: ${newFds(baseline).join(', ')}`);
    });
  });
  await checkProperty(t, 'fuse/PassthroughFs', prop, 800);
  logStats(t, stats);
  await within(pfs.close(), 10_000, 'PassthroughFs.close() after the fuzz cases');
});

test.serial('FUSE fuzz through the daemon (virtio-fs over MemoryFileSystem): every chain used exactly once with its reply; no fd leak', async (t) => {
  const f = await startFuzzDaemon('virtio-fs', { fs: () => new MemoryFileSystem() });
  t.teardown(() => f.d.stop());
  const stats = newStats();
  let cases = 0;
  const prop = fc.asyncProperty(fuseCase(undefined, 12).map(described), async (c) => {
    const fe = await VhostUserFrontend.connect({ socketPath: f.d.socketPath, watchdogMs: 0, queues: 2, queueSize: 16, memory: { regions: 1, regionSize: 4 << 20 } });
    try {
      const send: Transport = async (segments, writable, queue) => {
        const readable = segments.filter((s) => s.length > 0);
        const len = writable.reduce((a, n) => a + n, 0);
        const done = await fe.request(queue, readable, len, { writableSegments: Math.max(1, writable.filter((n) => n > 0).length) });
        if (done.usedLen > len) throw new Error(`used length ${done.usedLen} > writable ${len}`);
        return { used: done.usedLen, reply: done.data };
      };
      await runCase(c, send, stats);
      if (f.d.backend().vrings.some((v) => v.broken)) throw new Error('a queue was marked broken by well-formed chains');
    } finally {
      fe.close();
    }
    await settle(f);
    checkNoFdLeak(f, 'a FUSE case');
    if (cases++ % 10 === 0) await roundTrip(f);
  });
  await checkProperty(t, 'fuse/daemon', prop, 200);
  logStats(t, stats);
});
