/**
 * What a passthrough daemon exporting a CephFS meets, checked on a real ceph-fuse mount of the
 * one-machine cluster (scripts/ceph-cluster.sh), with plain Node and the native shims: no daemon
 * yet. Each test documents one behaviour the passthrough must handle:
 *
 *  1. name_to_handle_at gives FUSE's 12-byte handle (type 0x81: node id high word, low word,
 *     generation), and open_by_handle_at opens it, after a rename and from another client's mount:
 *     handles outlive the client, so `--inode-file-handles` style operation is possible.
 *  2. Inode numbers are Ceph's (2^40 and up): above 2^32, under 2^53; d_ino agrees with statx.
 *  3. ceph.* virtual xattrs are readable by name but not listed by listxattr.
 *  4. O_TMPFILE fails with EOPNOTSUPP.
 *  5. renameat2 with RENAME_NOREPLACE fails with EINVAL when the target is missing (EEXIST from the
 *     VFS when it exists); RENAME_EXCHANGE fails with EINVAL: the daemon must pass these on cleanly.
 *  6. A directory's st_size is its entry count (client_dirsize_rbytes = false), not a byte count.
 *  7. statfs: FUSE's magic and Ceph's 4 MiB block size.
 *  8. POSIX ACLs are stored and enforced into the mode (client_acl_type = posix_acl).
 *
 * Run with `VFS_CEPH=1 npx ava dist/test/integration/ceph-cluster.test.js` (mandatory under CI).
 */
import type { ExecutionContext } from 'ava';
import { execFileSync } from 'node:child_process';
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as f from '../../src/native/fs.js';
import { cephCluster } from '../helpers/ceph.js';
import { cephTest } from '../helpers/ceph-test.js';

/** linux/magic.h FUSE_SUPER_MAGIC. */
const FUSE_SUPER_MAGIC = 0x65735546;
/** FILEID_INO64_GEN-like type FUSE uses for handles of regular (non-root-relative) inodes. */
const FUSE_HANDLE_TYPE = 0x81;

/** An O_DIRECTORY fd of `dir`, closed at teardown. */
function openDir(t: ExecutionContext, dir: string): number {
  const fd = f.openatSync(f.AT_FDCWD, dir, f.O_RDONLY | f.O_DIRECTORY);
  t.teardown(() => nodefs.closeSync(fd));
  return fd;
}

async function readAll(fd: number): Promise<string> {
  try {
    return nodefs.readFileSync(fd, 'utf8');
  } finally {
    nodefs.closeSync(fd);
  }
}

/** A struct file_handle, decoded by hand (not by code under test). */
function decodeHandle(h: Buffer): { bytes: number; type: number; nodeid: bigint; generation: number } {
  const bytes = h.readUInt32LE(0);
  const type = h.readInt32LE(4);
  // FUSE encodes u32 words: node id high, node id low, generation.
  const nodeid = (BigInt(h.readUInt32LE(8)) << 32n) | BigInt(h.readUInt32LE(12));
  return { bytes, type, nodeid, generation: h.readUInt32LE(16) };
}

cephTest('the mount is ceph-fuse: FUSE magic, 4 MiB blocks, 255-byte names', async (t, dir) => {
  const s = await f.fstatfs(openDir(t, dir));
  t.is(s.type, FUSE_SUPER_MAGIC);
  t.is(s.bsize, 4 << 20);
  t.is(s.namelen, 255);
});

cephTest('file handles: 12-byte type 0x81 handles of the inode; they open after a rename and on another client', async (t, dir) => {
  nodefs.writeFileSync(path.join(dir, 'f'), 'hello');
  const dfd = openDir(t, dir);
  const { handle } = await f.nameToHandleAt(dfd, 'f');
  const st = await f.statx(dfd, 'f', 0);
  const h = decodeHandle(handle);
  t.is(h.bytes, 12);
  t.is(h.type, FUSE_HANDLE_TYPE);
  t.is(h.nodeid, st.ino, 'the handle carries the inode number (ceph-fuse node id = Ceph ino)');

  t.is(await readAll(await f.openByHandleAt(dfd, handle, f.O_RDONLY)), 'hello');
  nodefs.renameSync(path.join(dir, 'f'), path.join(dir, 'g'));
  t.is(await readAll(await f.openByHandleAt(dfd, handle, f.O_RDONLY)), 'hello', 'after a rename');

  // A second ceph-fuse client has never seen the inode: it must look it up by number at the MDS.
  // That is what a restarted daemon (or a migration destination) does with saved handles.
  const other = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-ceph-client2-'));
  await cephCluster('mount', other);
  t.teardown(async () => {
    await cephCluster('umount', other);
    nodefs.rmdirSync(other);
  });
  const ofd = f.openatSync(f.AT_FDCWD, other, f.O_RDONLY | f.O_DIRECTORY);
  try {
    const fd = await f.openByHandleAt(ofd, handle, f.O_RDONLY);
    const ost = await f.statx(fd, '', f.AT_EMPTY_PATH);
    t.is(await readAll(fd), 'hello', 'opened through the other client');
    t.is(ost.ino, st.ino, 'same inode number on both clients');
  } finally {
    nodefs.closeSync(ofd);
  }
  // Not asserted: after unlink a handle may still open while ceph-fuse caches the inode, so a
  // daemon cannot count on ESTALE to notice a deleted file.
});

cephTest('inode numbers are above 2^32 (Ceph starts at 2^40) and below 2^53; d_ino agrees with statx', async (t, dir) => {
  nodefs.writeFileSync(path.join(dir, 'a'), 'a');
  nodefs.mkdirSync(path.join(dir, 'sub'));
  const dfd = openDir(t, dir);
  const buf = new Uint8Array(64 << 10);
  const ents = f.parseDirents(buf, await f.getdents64(dfd, buf));
  for (const name of ['a', 'sub']) {
    const st = await f.statx(dfd, name, f.AT_SYMLINK_NOFOLLOW);
    t.true(st.ino > 2n ** 32n, `${name}: ino ${st.ino} > 2^32: a 32-bit inode field would truncate it`);
    t.true(st.ino < 2n ** 53n, `${name}: ino ${st.ino} < 2^53`);
    t.is(ents.find((e) => e.name.toString() === name)?.ino, st.ino, `${name}: d_ino = st_ino`);
    t.is(nodefs.statSync(path.join(dir, name), { bigint: true }).ino, st.ino);
  }
});

cephTest('ceph.* virtual xattrs are readable by name (getfattr -n) but never listed', async (t, dir) => {
  const d = path.join(dir, 'd');
  nodefs.mkdirSync(d);
  nodefs.writeFileSync(path.join(d, 'file'), Buffer.alloc(4096, 1));
  nodefs.mkdirSync(path.join(d, 'sub'));
  nodefs.writeFileSync(path.join(d, 'sub', 'x'), 'x');
  nodefs.writeFileSync(path.join(d, 'plain'), '');
  await f.setxattr(path.join(d, 'plain'), 'user.k', Buffer.from('v'));

  const get = (file: string, name: string): string =>
    execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, file], { encoding: 'utf8' });
  t.is(get(d, 'ceph.dir.entries'), '3', 'entries: file, sub, plain');
  t.is(get(d, 'ceph.dir.files'), '2');
  t.is(get(d, 'ceph.dir.subdirs'), '1');
  // Recursive stats propagate lazily (seconds later): only their form is certain.
  t.regex(get(d, 'ceph.dir.rentries'), /^\d+$/);
  t.regex(get(d, 'ceph.dir.rbytes'), /^\d+$/);
  t.regex(get(path.join(d, 'file'), 'ceph.file.layout'), /^stripe_unit=\d+ stripe_count=\d+ object_size=\d+ pool=\S+$/);

  // Not listed: neither by getfattr -d -m - (listxattr) nor by the syscall.
  const dumped = execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', d, path.join(d, 'plain')], { encoding: 'utf8' });
  t.notRegex(dumped, /^ceph\./m);
  t.regex(dumped, /^user\.k="v"$/m, 'ordinary xattrs are listed');
  const buf = Buffer.alloc(4096);
  t.is(await f.listxattr(d, buf), 0, 'a directory with no xattrs lists none');
  const n = await f.listxattr(path.join(d, 'plain'), buf);
  t.deepEqual(buf.subarray(0, n).toString('latin1').split('\0').filter(Boolean), ['user.k']);
  // By the syscall, too: readable by name.
  const v = Buffer.alloc(64);
  t.is(v.subarray(0, await f.getxattr(d, 'ceph.dir.entries', v)).toString(), '3');
  await t.throwsAsync(f.getxattr(d, 'ceph.no.such.vxattr', v), { code: 'ENODATA' });
});

cephTest('O_TMPFILE fails with EOPNOTSUPP', async (t, dir) => {
  const dfd = openDir(t, dir);
  const e = await t.throwsAsync(f.openat(dfd, '.', f.O_TMPFILE | f.O_RDWR, 0o600));
  t.is((e as NodeJS.ErrnoException).errno, os.constants.errno.EOPNOTSUPP, `got ${(e as NodeJS.ErrnoException).code}`);
  t.deepEqual(nodefs.readdirSync(dir), [], 'nothing was created');
});

cephTest('renameat2: NOREPLACE fails EINVAL (EEXIST from the VFS on an existing target), EXCHANGE EINVAL; plain rename works', async (t, dir) => {
  nodefs.writeFileSync(path.join(dir, 'a'), 'a');
  nodefs.writeFileSync(path.join(dir, 'b'), 'b');
  const dfd = openDir(t, dir);
  // ceph-fuse has no rename flags: the kernel's FUSE_RENAME2 is refused (EINVAL). The VFS itself
  // answers NOREPLACE onto an existing name and EXCHANGE onto a missing one before FUSE is asked.
  await t.throwsAsync(f.renameat2(dfd, 'a', dfd, 'new', f.RENAME_NOREPLACE), { code: 'EINVAL' });
  await t.throwsAsync(f.renameat2(dfd, 'a', dfd, 'b', f.RENAME_NOREPLACE), { code: 'EEXIST' });
  await t.throwsAsync(f.renameat2(dfd, 'a', dfd, 'b', f.RENAME_EXCHANGE), { code: 'EINVAL' });
  await t.throwsAsync(f.renameat2(dfd, 'a', dfd, 'new', f.RENAME_EXCHANGE), { code: 'ENOENT' });
  t.deepEqual(nodefs.readdirSync(dir).sort(), ['a', 'b'], 'no failed call moved anything');
  await f.renameat2(dfd, 'a', dfd, 'b', 0);
  t.deepEqual(nodefs.readdirSync(dir), ['b']);
  t.is(nodefs.readFileSync(path.join(dir, 'b'), 'utf8'), 'a');
});

cephTest('a directory st_size is its number of entries, not the bytes below it (client_dirsize_rbytes = false)', async (t, dir) => {
  const d = path.join(dir, 'd');
  nodefs.mkdirSync(d);
  t.is(nodefs.statSync(d).size, 0, 'empty');
  nodefs.writeFileSync(path.join(d, 'big'), Buffer.alloc(1 << 20));
  nodefs.mkdirSync(path.join(d, 'sub'));
  nodefs.writeFileSync(path.join(d, 'sub', 'x'), Buffer.alloc(1 << 16));
  t.is(nodefs.statSync(d).size, 2, 'big and sub (Ceph would report ~1.06 MB as rbytes)');
  t.is(nodefs.statSync(path.join(d, 'sub')).size, 1);
});

/** A system.posix_acl_access value (linux/posix_acl_xattr.h), built for the test. */
function aclXattr(entries: { tag: number; perm: number; id?: number }[]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0); // POSIX_ACL_XATTR_VERSION
  entries.forEach((e, i) => {
    b.writeUInt16LE(e.tag, 4 + 8 * i);
    b.writeUInt16LE(e.perm, 6 + 8 * i);
    b.writeUInt32LE(e.id ?? 0xffffffff, 8 + 8 * i); // ACL_UNDEFINED_ID for the *_OBJ, MASK, OTHER tags
  });
  return b;
}
const ACL_USER_OBJ = 0x01;
const ACL_USER = 0x02;
const ACL_GROUP_OBJ = 0x04;
const ACL_MASK = 0x10;
const ACL_OTHER = 0x20;

cephTest('POSIX ACLs: system.posix_acl_access is stored and its mask becomes the group bits (client_acl_type = posix_acl)', async (t, dir) => {
  const file = path.join(dir, 'f');
  nodefs.writeFileSync(file, '');
  nodefs.chmodSync(file, 0o600);
  const acl = aclXattr([
    { tag: ACL_USER_OBJ, perm: 6 },
    { tag: ACL_USER, perm: 4, id: 4242 },
    { tag: ACL_GROUP_OBJ, perm: 0 },
    { tag: ACL_MASK, perm: 4 },
    { tag: ACL_OTHER, perm: 0 },
  ]);
  await f.setxattr(file, 'system.posix_acl_access', acl);
  t.is(nodefs.statSync(file).mode & 0o777, 0o640, 'mask r-- shows as the group bits');
  const back = Buffer.alloc(256);
  t.deepEqual(back.subarray(0, await f.getxattr(file, 'system.posix_acl_access', back)), acl);
  t.regex(execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', file], { encoding: 'utf8' }), /system\.posix_acl_access/);
});
