/**
 * Per-call credentials and umask on the fs worker threads (needs root: skipped otherwise).
 * Each call switches only its own worker thread (raw setresuid/setresgid/setgroups): the JS thread,
 * the other workers and the process keep running as root.
 */
import test, { type ExecutionContext } from 'ava';
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as f from '../../src/native/fs.js';

const asRoot = process.getuid?.() === 0 ? test : test.skip;

const GUEST: f.Creds = { uid: 1234, gid: 5678 };

function scratch(t: ExecutionContext): { dir: string; dfd: number } {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-creds-'));
  nodefs.chmodSync(dir, 0o777);
  const dfd = f.openatSync(f.AT_FDCWD, dir, f.O_RDONLY | f.O_DIRECTORY);
  t.teardown(() => {
    nodefs.closeSync(dfd);
    nodefs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, dfd };
}

function owner(p: string): [number, number] {
  const st = nodefs.lstatSync(p);
  return [st.uid, st.gid];
}

asRoot('files, directories, nodes and symlinks created under creds belong to uid:gid', async (t) => {
  const s = scratch(t);
  await f.close(await f.openat(s.dfd, 'file', f.O_CREAT | f.O_WRONLY, 0o644, GUEST));
  await f.mkdirat(s.dfd, 'dir', 0o755, GUEST);
  await f.mknodat(s.dfd, 'fifo', f.S_IFIFO | 0o644, 0, GUEST);
  await f.symlinkat('file', s.dfd, 'link', GUEST);
  for (const n of ['file', 'dir', 'fifo', 'link']) t.deepEqual(owner(path.join(s.dir, n)), [1234, 5678], n);
  await f.close(await f.openat(s.dfd, 'rootfile', f.O_CREAT | f.O_WRONLY, 0o644));
  t.deepEqual(owner(path.join(s.dir, 'rootfile')), [0, 0], 'the next call without creds is root again');
});

asRoot('a 0600 root-owned file: EACCES under creds, readable without', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'secret'), 's', { mode: 0o600 });
  await t.throwsAsync(f.openat(s.dfd, 'secret', f.O_RDONLY, 0, GUEST), { code: 'EACCES' });
  await t.throwsAsync(f.fchmodat(s.dfd, 'secret', 0o666, 0, GUEST), { code: 'EPERM' }, 'no CAP_FOWNER either');
  await f.close(await f.openat(s.dfd, 'secret', f.O_RDONLY));
  await f.unlinkat(s.dfd, 'secret', 0, GUEST); // governed by the 0777 directory, not the file
  t.false(nodefs.existsSync(path.join(s.dir, 'secret')));
});

asRoot('concurrent calls with and without creds each run as their own identity', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'secret'), 's', { mode: 0o600 });
  const other: f.Creds = { uid: 4321, gid: 8765 };
  const work: Promise<unknown>[] = [];
  for (let i = 0; i < 60; i++) {
    const ctx = i % 3 === 0 ? GUEST : i % 3 === 1 ? other : undefined;
    work.push(f.openat(s.dfd, `n${i}`, f.O_CREAT | f.O_WRONLY, 0o644, ctx).then(f.close));
    if (ctx === undefined) work.push(f.openat(s.dfd, 'secret', f.O_RDONLY).then(f.close)); // must not fail
    else work.push(t.throwsAsync(f.openat(s.dfd, 'secret', f.O_RDONLY, 0, ctx), { code: 'EACCES' }));
  }
  await Promise.all(work);
  for (let i = 0; i < 60; i++) {
    const want = i % 3 === 0 ? [1234, 5678] : i % 3 === 1 ? [4321, 8765] : [0, 0];
    t.deepEqual(owner(path.join(s.dir, `n${i}`)), want, `n${i}`);
  }
  t.is(process.geteuid?.(), 0, 'the JS thread is still root');
});

asRoot('supplementary groups: granted when listed, and the daemon\'s own groups never leak in', async (t) => {
  const s = scratch(t);
  const g = path.join(s.dir, 'g4242');
  nodefs.mkdirSync(g, 0o070);
  nodefs.chownSync(g, 0, 4242);
  nodefs.chmodSync(g, 0o070);
  const open = (ctx: f.Creds) => f.openat(s.dfd, 'g4242', f.O_RDONLY | f.O_DIRECTORY, 0, ctx).then(f.close);
  await open({ uid: 1234, gid: 5678, groups: [1, 4242] });
  await open({ uid: 1234, gid: 4242 });
  await t.throwsAsync(open(GUEST), { code: 'EACCES' });
  const r = path.join(s.dir, 'groot');
  nodefs.mkdirSync(r);
  nodefs.chmodSync(r, 0o070); // group root (0): the daemon is in it, the guest user is not
  await t.throwsAsync(f.openat(s.dfd, 'groot', f.O_RDONLY | f.O_DIRECTORY, 0, GUEST), { code: 'EACCES' });
  t.throws(() => f.openat(s.dfd, 'x', 0, 0, { uid: 1, gid: 1, groups: Array.from({ length: 65 }, (_, i) => i) }), { code: 'ERR_INVALID_ARG' });
});

asRoot('faccessat checks the real ids (root); faccessat2 with AT_EACCESS checks the creds', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'secret'), 's', { mode: 0o600 });
  await f.faccessat(s.dfd, 'secret', f.R_OK, GUEST);
  await t.throwsAsync(f.faccessat2(s.dfd, 'secret', f.R_OK, f.AT_EACCESS, GUEST), { code: 'EACCES' });
  await f.faccessat2(s.dfd, 'secret', f.R_OK, f.AT_EACCESS);
  t.pass();
});

test('umask per call: applied by the kernel on the worker only, concurrently different', async (t) => {
  const s = scratch(t);
  const before = process.umask();
  const work: Promise<void>[] = [];
  for (let i = 0; i < 40; i++) {
    const umask = i % 2 ? 0o077 : 0;
    work.push(f.openat(s.dfd, `u${i}`, f.O_CREAT | f.O_WRONLY, 0o666, { umask }).then(f.close));
  }
  work.push(f.mkdirat(s.dfd, 'd', 0o777, { umask: 0o027 }));
  await Promise.all(work);
  for (let i = 0; i < 40; i++) t.is(nodefs.statSync(path.join(s.dir, `u${i}`)).mode & 0o777, i % 2 ? 0o600 : 0o666, `u${i}`);
  t.is(nodefs.statSync(path.join(s.dir, 'd')).mode & 0o777, 0o750);
  t.is(process.umask(), before, 'the process umask is untouched');
  await f.close(await f.openat(s.dfd, 'default', f.O_CREAT | f.O_WRONLY, 0o666));
  t.is(nodefs.statSync(path.join(s.dir, 'default')).mode & 0o777, 0o666 & ~before, 'no umask: the process one');
  if (process.getuid?.() === 0) {
    await f.close(await f.openat(s.dfd, 'both', f.O_CREAT | f.O_WRONLY, 0o666, { ...GUEST, umask: 0o022 }));
    t.like(nodefs.statSync(path.join(s.dir, 'both')), { uid: 1234, mode: f.S_IFREG | 0o644 });
  }
  t.throws(() => f.openat(s.dfd, 'x', 0, 0, { umask: 0o1000 }), { code: 'ERR_INVALID_ARG' });
});

/** system.posix_acl_default value, built by hand: version 2, then (tag u16, perm u16, id u32). */
function aclXattr(entries: [tag: number, perm: number][]): Buffer {
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(0xffffffff, 8 + i * 8);
  });
  return b;
}
const ACL_USER_OBJ = 0x01;
const ACL_GROUP_OBJ = 0x04;
const ACL_OTHER = 0x20;

test('umask is ignored by the kernel under a default ACL, as FUSE_DONT_MASK semantics require', async (t) => {
  const s = scratch(t);
  nodefs.mkdirSync(path.join(s.dir, 'acl'));
  const acl = await f.openat(s.dfd, 'acl', f.O_RDONLY | f.O_DIRECTORY);
  t.teardown(() => nodefs.closeSync(acl));
  try {
    await f.fsetxattr(acl, 'system.posix_acl_default', aclXattr([[ACL_USER_OBJ, 7], [ACL_GROUP_OBJ, 7], [ACL_OTHER, 7]]));
  } catch (e) {
    return t.pass(`no POSIX ACLs here: ${(e as Error).message}`);
  }
  await f.close(await f.openat(acl, 'inherits', f.O_CREAT | f.O_WRONLY, 0o666, { umask: 0o077 }));
  t.is(nodefs.statSync(path.join(s.dir, 'acl', 'inherits')).mode & 0o777, 0o666, 'umask not applied: the ACL rules');
  await f.close(await f.openat(s.dfd, 'plain', f.O_CREAT | f.O_WRONLY, 0o666, { umask: 0o077 }));
  t.is(nodefs.statSync(path.join(s.dir, 'plain')).mode & 0o777, 0o600);
});
