/**
 * --metrics, scraped while a workload runs against the daemon process.
 *  1. start bin/virtiofsd-ts on a share with --metrics=127.0.0.1:0 and read the chosen port from its log;
 *  2. connect the in-repo front-end (QEMU 10's handshake) and FUSE_INIT;
 *  3. scrape a baseline, then run a known workload — 2 good lookups, 1 lookup of a missing name,
 *     reads of a 10,000-byte file, writes of 3,000 bytes — with GETATTRs running beside it, scraping
 *     in the middle;
 *  4. the counters moved by exactly the workload: LOOKUP requests, ENOENT errors, read/written bytes,
 *     the latency histogram's count equals its requests, connection gauge 1, inodes and handles;
 *  5. after the front-end leaves, the daemon exits 0 (the endpoint does not keep it alive).
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';

type Samples = Map<string, number>;

/** Parse the text exposition into `name{labels}` → value (an independent, minimal parser). */
function parse(text: string): Samples {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

async function scrape(url: string): Promise<Samples> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`scrape: HTTP ${r.status}`);
  if (!(r.headers.get('content-type') ?? '').startsWith('text/plain; version=0.0.4')) throw new Error(`content-type ${r.headers.get('content-type')}`);
  return parse(await r.text());
}

const v = (s: Samples, k: string) => s.get(k) ?? 0;

test('--metrics: counters move by exactly what a workload did', async (t) => {
  const share = tmpDir('vfs-metrics-');
  const content = Buffer.alloc(10_000, 'm');
  fs.writeFileSync(path.join(share, 'data.bin'), content);
  fs.mkdirSync(path.join(share, 'dir'));
  const d = await spawnDaemon({ sharedDir: share, args: ['--metrics=127.0.0.1:0'] });
  const url = (await d.waitForLog(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/))[1]!;
  t.teardown(() => void d.stop());

  const before = await scrape(url);
  t.is(v(before, 'virtiofsd_frontend_connected'), 0);
  t.is(v(before, 'virtiofsd_frontend_connections_total'), 0);

  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, sequence: 'qemu10', queues: 2, queueSize: 64, memory: { regions: 1, regionSize: 8 << 20 }, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  const base = await scrape(url);
  t.is(v(base, 'virtiofsd_frontend_connected'), 1);
  t.is(v(base, 'virtiofsd_frontend_connections_total'), 1);
  t.is(v(base, 'virtiofsd_fuse_requests_total{opcode="FUSE_INIT"}'), 1);

  // Background load: GETATTRs on the root while the measured workload runs.
  let stop = false;
  let getattrs = 0;
  const load = (async () => {
    while (!stop) {
      await c.getattr(FUSE_ROOT_ID);
      getattrs++;
    }
  })();

  const file = await c.lookup(FUSE_ROOT_ID, 'data.bin');
  await c.lookup(FUSE_ROOT_ID, 'dir');
  const missing = await c.lookup(FUSE_ROOT_ID, 'no-such-file').then(() => undefined, (e: unknown) => e);
  t.true(missing instanceof FuseReplyError && missing.code === 'ENOENT');
  const fh = (await c.open(file.nodeid, 2 /* O_RDWR */)).fh;
  const mid = await scrape(url);
  t.true(v(mid, 'virtiofsd_open_handles') >= 1, 'the open handle shows while it is open');
  t.true(v(mid, 'virtiofsd_inodes') >= 3, 'root, data.bin and dir are known inodes');
  t.true(v(mid, 'virtiofsd_fuse_requests_total{opcode="FUSE_GETATTR"}') > 0, 'the background load is counted while it runs');
  let read = 0;
  for (const off of [0, 4096, 8192]) read += (await c.read(file.nodeid, fh, BigInt(off), 4096)).length;
  t.is(read, 10_000);
  const written = await c.write(file.nodeid, fh, 10_000n, Buffer.alloc(3000, 'w'));
  t.is(written, 3000);
  await c.release(file.nodeid, fh);
  stop = true;
  await load;

  const after = await scrape(url);
  const delta = (k: string) => v(after, k) - v(base, k);
  t.is(delta('virtiofsd_fuse_requests_total{opcode="FUSE_LOOKUP"}'), 3);
  t.is(delta('virtiofsd_fuse_errors_total{opcode="FUSE_LOOKUP",errno="ENOENT"}'), 1);
  t.is(delta('virtiofsd_fuse_requests_total{opcode="FUSE_READ"}'), 3);
  t.is(delta('virtiofsd_fuse_read_bytes_total'), 10_000);
  t.is(delta('virtiofsd_fuse_written_bytes_total'), 3000);
  t.is(delta('virtiofsd_fuse_requests_total{opcode="FUSE_GETATTR"}'), getattrs);
  t.is(v(after, 'virtiofsd_fuse_requests_in_flight'), 0);
  t.is(v(after, 'virtiofsd_open_handles'), 0, 'RELEASE closed the handle');
  for (const op of ['FUSE_LOOKUP', 'FUSE_READ', 'FUSE_GETATTR']) {
    const count = v(after, `virtiofsd_fuse_request_duration_seconds_count{opcode="${op}"}`);
    t.is(count, v(after, `virtiofsd_fuse_requests_total{opcode="${op}"}`), `${op}: histogram count = requests`);
    t.is(v(after, `virtiofsd_fuse_request_duration_seconds_bucket{opcode="${op}",le="+Inf"}`), count);
    t.true(v(after, `virtiofsd_fuse_request_duration_seconds_sum{opcode="${op}"}`) > 0);
  }
  t.is(fs.statSync(path.join(share, 'data.bin')).size, 13_000);

  fe.close();
  const code = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))]);
  t.is(code, 0, 'the daemon exits 0 after the front-end leaves; the metrics endpoint does not keep it alive');
});

test('--metrics refuses a non-loopback host unless --metrics-allow-remote', async (t) => {
  const share = tmpDir('vfs-metrics-');
  const d = await spawnDaemon({ sharedDir: share, args: ['--metrics=0.0.0.0:0'] }).catch((e: Error) => e);
  t.true(d instanceof Error && /not a loopback address.*--metrics-allow-remote/s.test(d.message));
});
