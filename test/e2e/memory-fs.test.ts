/**
 * The library API end to end: a real QEMU 10 guest mounts a filesystem that lives in this test
 * process's memory, served through serve() (the example's ExampleFs: MemoryFileSystem + one rule).
 *  1. serve() the example tree (hello.txt, docs/readme.md, an empty inbox/) plus a file added by the test;
 *  2. boot a guest that mounts it, lists it, cats the pre-populated files, fails to delete the .md file
 *     (the example's rule: EPERM), writes inbox/guest.txt, makes a directory, and reads its own write back after a
 *     remount (so from the daemon, not the guest's page cache);
 *  3. the test reads the guest's write through the filesystem object it holds; the console shows the
 *     listing and the file contents; metrics counted the guest's requests; `done` resolves after QEMU goes.
 */
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { runGuest } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/daemon.js';
import { serve } from '../../src/index.js';
import { FuseOpcode } from '../../protocol/fuse-opcodes.js';
import { createExampleFs, EXAMPLE_FILES } from '../../examples/memory-fs.js';

e2eTest('a QEMU 10 guest sees an in-memory filesystem served through serve(), and its writes land in the object', async (t) => {
  const socketPath = path.join(tmpDir('vfs-memfs-'), 'vhost.sock');
  const filesystem = createExampleFs();
  filesystem.writeFile('/added-by-test.txt', 'added after createExampleFs()\n');
  const server = await serve({ socketPath, filesystem, metrics: true, logLevel: 'warn' });
  t.teardown(() => server.stop());
  const script = [
    'mount -t virtiofs memfs /mnt || exit 10',
    'echo LS-BEGIN; ls /mnt; echo LS-END',
    'ls -la /mnt /mnt/docs',
    'cat /mnt/hello.txt || exit 11',
    'cat /mnt/docs/readme.md || exit 12',
    'cat /mnt/added-by-test.txt || exit 13',
    'if rm /mnt/docs/readme.md; then echo MD-DELETED; exit 19; fi',
    'echo "written by the guest" > /mnt/inbox/guest.txt || exit 14',
    'mkdir /mnt/inbox/sub || exit 15',
    'sync',
    'umount /mnt || exit 16',
    'mount -t virtiofs memfs /mnt || exit 17',
    'echo "READBACK: $(cat /mnt/inbox/guest.txt)"',
    'umount /mnt || exit 18',
    'echo GUEST-DONE',
  ].join('\n');
  const r = await runGuest({ script, fs: [{ socket: socketPath, tag: 'memfs' }], timeoutMs: 90_000 });
  t.is(r.exitCode, 0, r.summary);
  const listing = /LS-BEGIN\s+([\s\S]*?)LS-END/.exec(r.console)?.[1]?.split(/\s+/).filter(Boolean).sort();
  t.deepEqual(listing, ['added-by-test.txt', 'docs', 'hello.txt', 'inbox'], 'ls shows the tree');
  t.true(r.console.includes(EXAMPLE_FILES['/hello.txt']!.trim()), 'cat hello.txt');
  t.true(r.console.includes(EXAMPLE_FILES['/docs/readme.md']!.split('\n')[1]!), 'cat docs/readme.md');
  t.true(r.console.includes('added after createExampleFs()'));
  t.false(r.console.includes('MD-DELETED'));
  t.regex(r.console, /rm: .*readme\.md.*Operation not permitted/, 'the example rule: EPERM reaches the guest');
  t.truthy(filesystem.readFile('/docs/readme.md'), 'the .md file is still there');
  t.true(r.console.includes('READBACK: written by the guest'), 'the guest read its write back after a remount');
  t.true(r.console.includes('GUEST-DONE'));
  t.is(filesystem.readFile('/inbox/guest.txt')?.toString(), 'written by the guest\n', 'the write is in the filesystem object');
  t.deepEqual(filesystem.list('/inbox')?.sort(), ['guest.txt', 'sub']);
  t.true((server.metrics?.requestCount(FuseOpcode.FUSE_LOOKUP) ?? 0) > 0, 'metrics counted the guest');
  t.true((server.metrics?.requestCount(FuseOpcode.FUSE_WRITE) ?? 0) >= 1);
  const ended = await Promise.race([server.done.then(() => 'done'), new Promise((res) => setTimeout(() => res('still serving'), 10_000))]);
  t.is(ended, 'done', 'without persistent, serving ends when QEMU goes away');
});
