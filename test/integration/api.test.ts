/**
 * The library API over a real socket: serve() a MemoryFileSystem (the example's), drive it with the
 * in-repo front-end, and check what the FUSE side sees against the filesystem object the caller holds.
 *  1. serve({ socketPath, filesystem, metrics }) resolves once listening;
 *  2. READDIR lists the example's tree; READ returns the pre-populated file; the example's rule
 *     (Markdown files cannot be unlinked) answers EPERM;
 *  3. a CREATE + WRITE through FUSE is readable with filesystem.readFile(); a host-side writeFile() is
 *     readable through FUSE;
 *  4. metrics counted it (in memory and on the endpoint); connected flips;
 *  5. without `persistent`, `done` resolves when the front-end leaves; stop() is idempotent;
 *  6. bad options reject with stable codes.
 */
import test from 'ava';
import path from 'node:path';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { FUSE_ROOT_ID, FuseOpcode } from '../../protocol/fuse-opcodes.js';
import { serve, ServeError, NullFileSystem, MemoryFileSystem } from '../../src/index.js';
import { createExampleFs, EXAMPLE_FILES } from '../../examples/memory-fs.js';
import { tmpDir } from '../helpers/daemon.js';
import * as native from '../../src/native/index.js';

const O_RDWR = 2;
const O_CREAT = 0o100;

async function connect(socketPath: string): Promise<{ fe: VhostUserFrontend; c: FuseClient }> {
  const fe = await VhostUserFrontend.connect({ socketPath, sequence: 'qemu10', queues: 2, queueSize: 64, memory: { regions: 1, regionSize: 4 << 20 }, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  return { fe, c };
}

test.serial('serve() a MemoryFileSystem: the front-end sees the tree; writes meet the filesystem object', async (t) => {
  const socketPath = path.join(tmpDir('vfs-api-'), 'vhost.sock');
  const filesystem = createExampleFs();
  const server = await serve({ socketPath, filesystem, metrics: { port: 0 } });
  t.teardown(() => server.stop());
  t.is(server.socketPath, socketPath);
  t.false(server.connected);
  t.regex(server.metricsUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

  const { fe, c } = await connect(socketPath);
  t.true(server.connected);
  const dh = (await c.opendir(FUSE_ROOT_ID)).fh;
  const names = (await c.readdir(FUSE_ROOT_ID, dh)).map((e) => e.name).filter((n) => n !== '.' && n !== '..').sort();
  await c.releasedir(FUSE_ROOT_ID, dh);
  t.deepEqual(names, ['docs', 'hello.txt', 'inbox']);

  const hello = await c.lookup(FUSE_ROOT_ID, 'hello.txt');
  const fh = (await c.open(hello.nodeid, 0)).fh;
  t.is((await c.read(hello.nodeid, fh, 0n, 4096)).toString(), EXAMPLE_FILES['/hello.txt']!);
  await c.release(hello.nodeid, fh);

  const missing = await c.lookup(FUSE_ROOT_ID, 'missing.txt').then(() => undefined, (x: unknown) => x);
  t.true(missing instanceof FuseReplyError && missing.code === 'ENOENT');
  const docs = await c.lookup(FUSE_ROOT_ID, 'docs');
  const kept = await c.unlink(docs.nodeid, 'readme.md').then(() => undefined, (x: unknown) => x);
  t.true(kept instanceof FuseReplyError && kept.code === 'EPERM', 'ExampleFs keeps Markdown files');
  t.truthy(filesystem.readFile('/docs/readme.md'));

  const inbox = await c.lookup(FUSE_ROOT_ID, 'inbox');
  const created = await c.create(inbox.nodeid, 'note.txt', 0o100644, O_RDWR | O_CREAT);
  t.is(await c.write(created.entry.nodeid, created.open.fh, 0n, Buffer.from('written through FUSE\n')), 21);
  await c.release(created.entry.nodeid, created.open.fh);
  t.is(filesystem.readFile('/inbox/note.txt')?.toString(), 'written through FUSE\n');
  t.deepEqual(filesystem.list('/inbox'), ['note.txt']);

  filesystem.writeFile('/inbox/from-host.txt', 'from the host\n');
  const fromHost = await c.lookup(inbox.nodeid, 'from-host.txt');
  const fh2 = (await c.open(fromHost.nodeid, 0)).fh;
  t.is((await c.read(fromHost.nodeid, fh2, 0n, 100)).toString(), 'from the host\n');
  await c.release(fromHost.nodeid, fh2);

  t.is(server.metrics?.requestCount(FuseOpcode.FUSE_LOOKUP), 5);
  const text = await (await fetch(server.metricsUrl!)).text();
  t.regex(text, /^virtiofsd_fuse_errors_total\{opcode="FUSE_LOOKUP",errno="ENOENT"\} 1$/m);
  t.regex(text, /^virtiofsd_fuse_written_bytes_total 21$/m);
  t.regex(text, /^virtiofsd_frontend_connected 1$/m);
  t.regex(text, /^virtiofsd_inodes \d+$/m, 'MemoryFileSystem reports its node count');

  fe.close();
  await server.done;
  t.false(server.connected);
  t.is(filesystem.readFile('/inbox/note.txt')?.toString(), 'written through FUSE\n', 'the tree outlives the connection');
  await server.stop();
  await server.stop();
});

test.serial('serve() with persistent serves one front-end after another until stop()', async (t) => {
  const socketPath = path.join(tmpDir('vfs-api-'), 'vhost.sock');
  const filesystem = new MemoryFileSystem();
  filesystem.writeFile('/a', 'A');
  const server = await serve({ socketPath, filesystem, persistent: true, metrics: true });
  for (let i = 0; i < 2; i++) {
    const { fe, c } = await connect(socketPath);
    t.is((await c.lookup(FUSE_ROOT_ID, 'a')).attr.size, 1n);
    fe.close();
    for (let w = 0; w < 100 && server.connected; w++) await new Promise((r) => setTimeout(r, 10));
  }
  t.regex(server.metrics!.render(), /^virtiofsd_frontend_connections_total 2$/m);
  let finished = false;
  void server.done.then(() => (finished = true));
  await new Promise((r) => setTimeout(r, 50));
  t.false(finished, 'still serving');
  await server.stop();
  t.true(finished);
});

test('serve() rejects bad options with stable codes', async (t) => {
  const socketPath = path.join(tmpDir('vfs-api-'), 'vhost.sock');
  const fs = new NullFileSystem();
  await t.throwsAsync(serve({ filesystem: fs }), { instanceOf: ServeError, code: 'ERR_SERVE_OPTIONS' });
  await t.throwsAsync(serve({ socketPath, fd: 3, filesystem: fs }), { code: 'ERR_SERVE_OPTIONS' });
  await t.throwsAsync(serve({ socketPath, filesystem: {} as NullFileSystem }), { code: 'ERR_SERVE_OPTIONS' });
  await t.throwsAsync(serve({ socketPath, filesystem: fs, requestQueues: 0 }), { code: 'ERR_SERVE_OPTIONS' });
  await t.throwsAsync(serve({ socketPath, filesystem: fs, metrics: { host: '0.0.0.0', port: 0 } }), { code: 'ERR_SERVE_OPTIONS', message: /allowRemote/ });
});

test.serial('serve({ fd }) serves on an inherited listening socket (as libvirt passes --fd)', async (t) => {
  const socketPath = path.join(tmpDir('vfs-api-'), 'vhost.sock');
  const fd = native.socket(native.SOCK_NONBLOCK);
  native.bind(fd, socketPath);
  native.listen(fd, 1);
  const filesystem = createExampleFs();
  const server = await serve({ fd, filesystem });
  const { fe, c } = await connect(socketPath);
  t.is((await c.lookup(FUSE_ROOT_ID, 'hello.txt')).attr.size, BigInt(EXAMPLE_FILES['/hello.txt']!.length));
  fe.close();
  await server.done;
});
