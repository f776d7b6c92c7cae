/**
 * The *xattrat shims (Linux 6.13) and Host.xattrCall: xattrs of the inode an O_PATH fd holds, named
 * relative to the /proc/self/fd dirfd (so a chroot without /proc still has them), a symlink's own
 * xattrs rather than its target's, errors as the kernel gives them, and the fall-back to the
 * /proc/self/fd/N path calls when the kernel answers ENOSYS.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../../src/native/fs.js';
import { Host, type Sys } from '../../src/passthrough/host.js';
import { tmpDir } from '../helpers/daemon.js';

const hasXattrAt = async (): Promise<boolean> => {
  const proc = native.openatSync(native.AT_FDCWD, '/proc/self/fd', native.O_PATH | native.O_DIRECTORY, 0);
  try {
    await native.listxattrat(proc, String(proc), 0, null);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOSYS';
  } finally {
    fs.closeSync(proc);
  }
};

test('getxattrat/setxattrat/listxattrat/removexattrat on (/proc/self/fd, "N"): file and symlink, ENODATA, ERANGE', async (t) => {
  if (!(await hasXattrAt())) {
    t.log('kernel without the *xattrat calls: Host.xattrCall falls back (tested below)');
    t.pass();
    return;
  }
  const dir = tmpDir('vfs-xat-');
  fs.writeFileSync(path.join(dir, 'f'), 'x');
  fs.symlinkSync('f', path.join(dir, 'l'));
  const proc = native.openatSync(native.AT_FDCWD, '/proc/self/fd', native.O_PATH | native.O_DIRECTORY, 0);
  const f = native.openatSync(native.AT_FDCWD, path.join(dir, 'f'), native.O_PATH, 0);
  const l = native.openatSync(native.AT_FDCWD, path.join(dir, 'l'), native.O_PATH | native.O_NOFOLLOW, 0);
  try {
    await native.setxattrat(proc, String(f), 0, 'user.a', Buffer.from('one'), 0);
    const buf = Buffer.alloc(16);
    t.is(await native.getxattrat(proc, String(f), 0, 'user.a', buf), 3);
    t.is(buf.subarray(0, 3).toString(), 'one');
    t.is(await native.getxattrat(proc, String(f), 0, 'user.a', null), 3, 'size probe');
    await t.throwsAsync(native.getxattrat(proc, String(f), 0, 'user.a', Buffer.alloc(1)), { code: 'ERANGE' });
    await t.throwsAsync(native.getxattrat(proc, String(f), 0, 'user.none', buf), { code: 'ENODATA' });
    const list = Buffer.alloc(64);
    const n = await native.listxattrat(proc, String(f), 0, list);
    t.true(list.subarray(0, n).toString().split('\0').includes('user.a'));
    await t.throwsAsync(native.setxattrat(proc, String(f), 0, 'user.a', Buffer.from('two'), 1 /* XATTR_CREATE */), { code: 'EEXIST' });
    await native.removexattrat(proc, String(f), 0, 'user.a');
    await t.throwsAsync(native.removexattrat(proc, String(f), 0, 'user.a'), { code: 'ENODATA' });
    // The magic link of a symlink's O_PATH fd is the symlink: user.* is not allowed on symlinks (EPERM),
    // and the target file is left alone.
    await t.throwsAsync(native.setxattrat(proc, String(l), 0, 'user.b', Buffer.from('v'), 0), { code: 'EPERM' });
    t.is(await native.listxattrat(proc, String(f), 0, null), 0, 'nothing reached the target');
  } finally {
    [proc, f, l].forEach((fd) => fs.closeSync(fd));
  }
});

test('Host.xattrCall uses the *xattrat form, and after an ENOSYS the /proc/self/fd/N path form for good', async (t) => {
  const calls: string[] = [];
  const enosys = Object.assign(new Error('getxattrat: Function not implemented (ENOSYS)'), { code: 'ENOSYS' });
  const host = new Host({} as Sys, 7);
  const at = async (d: number, n: string) => {
    calls.push(`at ${d} ${n}`);
    throw enosys;
  };
  const byPath = async (p: string) => {
    calls.push(`path ${p}`);
    return 5;
  };
  t.is(await host.xattrCall(12, at, byPath), 5);
  t.is(await host.xattrCall(13, at, byPath), 5);
  t.deepEqual(calls, ['at 7 12', 'path /proc/self/fd/12', 'path /proc/self/fd/13']);

  // Once the *at form worked, its errors (even ENOSYS from a file system) are the answer.
  const ok = new Host({} as Sys, 7);
  t.is(await ok.xattrCall(3, async () => 1, byPath), 1);
  await t.throwsAsync(ok.xattrCall(3, at, byPath), { code: 'ENOSYS' });
});
