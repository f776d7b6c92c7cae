/**
 * --sandbox=namespace|chroot (issue 8, part 5), on the real daemon process driven by our front-end:
 * what the daemon can see (its root, its mount namespace), what it may do (capabilities per thread),
 * that serving works through the sandbox (data, xattrs on a file and a symlink, renames, a submount
 * of the shared directory), that the host's mounts are untouched, and that the socket and pid file
 * are still removed at exit. Needs root (as the sandbox does).
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FuseClient, FuseReplyError } from '../../src/frontend/fuse-client.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { NODE_FLAGS, SANDBOX_ENV } from '../../src/sandbox/sandbox.js';
import { keptCapabilities } from '../../src/sandbox/capabilities.js';

const O_RDWR = 2;
const root = process.geteuid?.() === 0;
const rootTest = root ? test : test.skip;

/** CapEff of every thread of `pid`, as bigints. */
function threadCaps(pid: number): bigint[] {
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const m = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'));
      return m ? [BigInt(`0x${m[1]}`)] : [];
    } catch {
      return []; // the thread ended
    }
  });
}

async function connect(d: DaemonProcess): Promise<{ fe: VhostUserFrontend; c: FuseClient }> {
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queueSize: 64, watchdogMs: 0 });
  const c = new FuseClient(fe);
  await c.init();
  return { fe, c };
}

async function errno(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof FuseReplyError) return e.code;
    throw e;
  }
}

/** The same round of file operations in every mode; returns what the host sees afterwards. */
async function exercise(c: FuseClient, share: string): Promise<void> {
  const made = await c.create(1n, 'made.txt', 0o100644, O_RDWR);
  await c.write(made.entry.nodeid, made.open.fh, 0n, Buffer.from('written through the sandbox'));
  const back = await c.read(made.entry.nodeid, made.open.fh, 0n, 100);
  if (back.toString() !== 'written through the sandbox') throw new Error(`read back ${back.toString()}`);
  await c.setxattr(made.entry.nodeid, 'user.k', 'v1');
  if ((await c.getxattr(made.entry.nodeid, 'user.k')).toString() !== 'v1') throw new Error('xattr on a file');
  const link = await c.symlink(1n, 'link', 'made.txt');
  // Path-only xattr calls (no fd for a symlink) go through /proc/self/fd/N: /proc must be there.
  const onLink = await errno(c.listxattr(link.nodeid));
  if (onLink !== 'ok') throw new Error(`listxattr on a symlink: ${onLink}`);
  const sub = await c.mkdir(1n, 'sub', 0o755);
  await c.rename(1n, 'made.txt', sub.nodeid, 'moved.txt');
  const existing = await c.lookup(1n, 'before.txt');
  const opened = await c.open(existing.nodeid, 0);
  if ((await c.read(existing.nodeid, opened.fh, 0n, 100)).toString() !== 'from the host\n') throw new Error('read of a host file');
  if (!fs.existsSync(path.join(share, 'sub/moved.txt'))) throw new Error('the host does not see the renamed file');
}

rootTest('--sandbox=namespace: root is {proc, shared}, own mount namespace, kept capabilities on the serving threads, files and xattrs work, host mounts untouched, socket and pid file removed', async (t) => {
  const share = tmpDir('vfs-sbx-');
  const work = tmpDir('vfs-sbxw-');
  fs.writeFileSync(path.join(share, 'before.txt'), 'from the host\n');
  const pidFile = path.join(work, 'pid');
  const d = await spawnDaemon({ sharedDir: share, args: ['--sandbox=namespace', '--xattr', '--persistent', '--pid-file', pidFile, '--log-level=info'] });
  try {
    await d.waitForLog(/sandbox: own mount namespace/);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    t.is(pid, d.proc.pid!, 'the re-executed daemon keeps its pid (execve)');
    t.true(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(NODE_FLAGS[0]!), 'the re-exec adds the V8 flags');
    t.not(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
    t.deepEqual(fs.readdirSync(`/proc/${pid}/root`).sort(), ['proc', 'shared']);
    t.is(fs.readFileSync(`/proc/${pid}/root/shared/before.txt`, 'utf8'), 'from the host\n');
    // Nothing the daemon mounted (a tmpfs on /tmp, with shared/ and proc/ in it) shows on the host.
    const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]);
    t.deepEqual(points.filter((p) => p === '/tmp' || p === '/tmp/shared' || p === '/tmp/proc'), []);

    const fullBefore = threadCaps(pid).filter((c) => c !== keptCapabilities({ fileHandles: true }).mask).length;
    const { fe, c } = await connect(d);
    await exercise(c, share);
    // trusted.* needs CAP_SYS_ADMIN, which the sandbox drops (as virtiofsd's does).
    const f = await c.lookup(1n, 'before.txt');
    t.is(await errno(c.setxattr(f.nodeid, 'trusted.x', 'v')), 'EPERM');

    const kept = keptCapabilities({ fileHandles: true }).mask;
    t.is(kept, 0x880000dfn, "chown dac_override dac_read_search fowner fsetid setgid setuid mknod setfcap");
    const caps = threadCaps(pid);
    t.is(caps[0], kept, 'the main thread keeps only the default set');
    // Threads started after the sandbox (the fs pool) inherit the reduced set; only threads that
    // existed before our code ran (V8's) keep theirs, and serving did not add any such thread.
    t.true(caps.filter((x) => x === kept).length >= 2, `threads with the kept set: ${caps.map((x) => x.toString(16)).join(' ')}`);
    t.true(caps.filter((x) => x !== kept).length <= fullBefore);
    // The default --seccomp=kill filter is on every thread, V8's included (TSYNC).
    const seccomp = fs.readdirSync(`/proc/${pid}/task`).map((tid) => /Seccomp:\s*(\d)/.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))?.[1]);
    t.deepEqual([...new Set(seccomp)], ['2']);
    await fe.close();
    t.is(await d.stop('SIGTERM'), 0);
    t.false(fs.existsSync(d.socketPath), 'socket removed from inside the sandbox');
    t.false(fs.existsSync(pidFile), 'pid file removed from inside the sandbox');
  } finally {
    await d.stop('SIGKILL');
  }
});

rootTest('--sandbox=namespace: a filesystem mounted below the shared directory is served (recursive bind)', async (t) => {
  const share = tmpDir('vfs-sbxm-');
  fs.writeFileSync(path.join(share, 'before.txt'), 'from the host\n');
  const mnt = path.join(share, 'mnt');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'sbxtest', mnt]);
  try {
    fs.writeFileSync(path.join(mnt, 'inside.txt'), 'on the submount\n');
    const d = await spawnDaemon({ sharedDir: share, args: ['--sandbox=namespace', '--log-level=info'] });
    try {
      await d.waitForLog(/sandbox: own mount namespace/);
      const { fe, c } = await connect(d);
      const m = await c.lookup(1n, 'mnt');
      const f = await c.lookup(m.nodeid, 'inside.txt');
      const o = await c.open(f.nodeid, 0);
      t.is((await c.read(f.nodeid, o.fh, 0n, 100)).toString(), 'on the submount\n');
      await fe.close();
    } finally {
      await d.stop('SIGKILL');
    }
  } finally {
    execFileSync('umount', [mnt]);
  }
});

rootTest('--sandbox=namespace with --modcaps=+sys_admin keeps CAP_SYS_ADMIN: trusted.* xattrs work', async (t) => {
  const share = tmpDir('vfs-sbxc-');
  fs.writeFileSync(path.join(share, 'before.txt'), 'from the host\n');
  const d = await spawnDaemon({ sharedDir: share, args: ['--sandbox=namespace', '--xattr', '--modcaps=+sys_admin:-mknod', '--log-level=info'] });
  try {
    const m = await d.waitForLog(/capabilities kept: ([a-z_,]+)/);
    t.true(m[1]!.split(',').includes('sys_admin'));
    t.false(m[1]!.split(',').includes('mknod'));
    const { fe, c } = await connect(d);
    const f = await c.lookup(1n, 'before.txt');
    t.is(await errno(c.setxattr(f.nodeid, 'trusted.x', 'v')), 'ok');
    // Without CAP_MKNOD a device node cannot be made; a FIFO still can.
    t.is(await errno(c.mknod(1n, 'null', 0o020666, (1 << 8) | 3)), 'EPERM');
    t.is(await errno(c.mknod(1n, 'fifo', 0o010644)), 'ok');
    await fe.close();
  } finally {
    await d.stop('SIGKILL');
  }
});

rootTest('--sandbox=chroot: the daemon\'s root is the shared directory, capabilities dropped, files and xattrs (file and symlink, through the *xattrat calls) work', async (t) => {
  const share = tmpDir('vfs-sbxch-');
  fs.writeFileSync(path.join(share, 'before.txt'), 'from the host\n');
  const d = await spawnDaemon({ sharedDir: share, args: ['--sandbox=chroot', '--xattr', '--log-level=info'] });
  try {
    await d.waitForLog(/sandbox: chroot/);
    const pid = d.proc.pid!;
    t.is(fs.realpathSync(`/proc/${pid}/root`), fs.realpathSync(share));
    t.is(fs.readlinkSync(`/proc/${pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'), 'no namespace in chroot mode');
    const { fe, c } = await connect(d);
    await exercise(c, share);
    t.is(threadCaps(pid)[0], keptCapabilities({ fileHandles: true }).mask);
    await fe.close();
    t.is(await d.exited, 0);
    t.false(fs.existsSync(d.socketPath), 'socket removed from inside the chroot');
  } finally {
    await d.stop('SIGKILL');
  }
});

test('--take-over with --sandbox=chroot is a usage error (the successor\'s workers would keep the host root)', async (t) => {
  const d = await spawnDaemon({ sharedDir: tmpDir('vfs-sbxt-'), waitForSocket: false, args: ['--sandbox=chroot', '--upgrade-socket', '/tmp/nonexistent-upgrade.sock', '--take-over'] });
  t.is(await d.exited, 2);
  await t.notThrowsAsync(d.waitForLog(/--take-over cannot be combined with --sandbox=chroot/, 5000));
});

rootTest('workers started before the sandbox (a --take-over successor) drop their capabilities before their next call', async (t) => {
  const dir = tmpDir('vfs-sbxw-');
  const script = `
    const { execFileSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const nfs = await import(${JSON.stringify(path.resolve('dist/src/native/fs.js'))});
    await nfs.statx(nfs.AT_FDCWD, '/', 0, nfs.STATX_BASIC_STATS); // the pool starts: workers with every capability
    const keep = 0x880000dfn;
    nfs.dropCapabilities(keep); // this thread now, the workers before their next call
    // Four opens of FIFOs without writers: each occupies a worker until a writer comes.
    const fifos = [0, 1, 2, 3].map((i) => ${JSON.stringify(dir)} + '/f' + i);
    fifos.forEach((f) => execFileSync('mkfifo', [f]));
    const opens = fifos.map((f) => nfs.openat(nfs.AT_FDCWD, f, nfs.O_RDONLY, 0));
    await new Promise((r) => setTimeout(r, 300));
    const caps = fs.readdirSync('/proc/self/task').flatMap((tid) => {
      const st = fs.readFileSync('/proc/self/task/' + tid + '/status', 'utf8');
      return /^Name:\\s*vfs-fs-pool/m.test(st) ? [/CapEff:\\s*([0-9a-f]+)/.exec(st)[1] + '/' + /CapBnd:\\s*([0-9a-f]+)/.exec(st)[1]] : [];
    });
    console.log('pool', caps.join(' '));
    fifos.forEach((f) => fs.closeSync(fs.openSync(f, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)));
    (await Promise.all(opens)).forEach((fd) => fs.closeSync(fd));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  const m = /pool (.*)/.exec(r.stdout);
  t.truthy(m, r.stderr);
  const caps = m![1]!.split(' ');
  t.true(caps.length >= 4, `pool threads: ${m![1]}`);
  t.deepEqual([...new Set(caps)], ['00000000880000df/00000000880000df'], 'every worker: effective and bounding sets cut');
});

rootTest('a second run that claims a new namespace but shares ours refuses to mount anything', async (t) => {
  const share = tmpDir('vfs-sbxr-');
  const sock = path.join(tmpDir('vfs-sbxrs-'), 's.sock');
  const d = await spawnDaemon({
    sharedDir: share,
    socketPath: sock,
    waitForSocket: false,
    args: ['--sandbox=namespace'],
    env: { [SANDBOX_ENV]: fs.readlinkSync('/proc/self/ns/mnt') },
  });
  t.is(await d.exited, 1);
  await t.notThrowsAsync(d.waitForLog(/refusing to mount anything there/, 5000));
});

test('--modcaps with an unknown capability is a usage error (exit 2)', async (t) => {
  const d = await spawnDaemon({ sharedDir: tmpDir('vfs-sbxu-'), waitForSocket: false, args: ['--sandbox=none', '--modcaps=+sys_wizard'] });
  t.is(await d.exited, 2);
  await t.notThrowsAsync(d.waitForLog(/--modcaps: "\+sys_wizard"/, 5000));
});
