/**
 * The async filesystem shims against the real kernel on a tmp dir: every function, its success and
 * an error path (the errno name asserted), names as non-UTF-8 bytes, and concurrency.
 * Credentials are in native-fs-creds.test.ts, locks in native-fs-locks.test.ts, the getdents64
 * parser in native-fs-dirents.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as f from '../../src/native/fs.js';

interface Scratch {
  dir: string;
  /** An O_DIRECTORY fd of `dir`. */
  dfd: number;
}

function scratch(t: ExecutionContext): Scratch {
  const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-fs-'));
  const dfd = f.openatSync(f.AT_FDCWD, dir, f.O_RDONLY | f.O_DIRECTORY);
  t.teardown(() => {
    nodefs.closeSync(dfd);
    nodefs.rmSync(dir, { recursive: true, force: true });
  });
  return { dir, dfd };
}

/** Open an fd that teardown closes: never close it in the test (another test may own the number by then). */
async function open(t: ExecutionContext, dirfd: number, name: f.Name, flags: number, mode = 0o644): Promise<number> {
  const fd = await f.openat(dirfd, name, flags, mode);
  t.teardown(() => {
    try {
      nodefs.closeSync(fd);
    } catch {
      /* closed by the test */
    }
  });
  return fd;
}

const NON_UTF8 = Buffer.from([0x66, 0xff, 0xfe, 0x80, 0x2e, 0xc3]); // "f", invalid bytes, ".", truncated sequence

test('openat creates, O_EXCL rejects EEXIST, a missing name rejects ENOENT; the fd is close-on-exec', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'a', f.O_CREAT | f.O_EXCL | f.O_RDWR, 0o640);
  t.true(nodefs.statSync(path.join(s.dir, 'a')).isFile());
  t.is(nodefs.statSync(path.join(s.dir, 'a')).mode & 0o777, 0o640 & ~process.umask());
  t.true(nodefs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').includes('flags:\t02'), 'O_CLOEXEC set');
  await t.throwsAsync(f.openat(s.dfd, 'a', f.O_CREAT | f.O_EXCL | f.O_RDWR, 0o644), { code: 'EEXIST' });
  const e = await t.throwsAsync(f.openat(s.dfd, 'missing', f.O_RDONLY));
  t.like(e, { code: 'ENOENT', errno: os.constants.errno.ENOENT, syscall: 'openat' });
});

test('openatSync opens on the JS thread and throws synchronously', (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'x'), 'hi');
  const fd = f.openatSync(s.dfd, 'x', f.O_RDONLY);
  t.is(nodefs.readFileSync(fd, 'utf8'), 'hi');
  nodefs.closeSync(fd);
  t.throws(() => f.openatSync(s.dfd, 'nope', f.O_RDONLY), { code: 'ENOENT' });
});

test('openat2 confines: RESOLVE_BENEATH rejects EXDEV on "..", absolute names and escaping symlinks', async (t) => {
  const s = scratch(t);
  nodefs.mkdirSync(path.join(s.dir, 'sub'));
  nodefs.writeFileSync(path.join(s.dir, 'sub', 'in'), 'x');
  nodefs.symlinkSync('../../etc', path.join(s.dir, 'sub', 'out'));
  nodefs.symlinkSync('in', path.join(s.dir, 'sub', 'rel'));
  const sub = await open(t, s.dfd, 'sub', f.O_PATH | f.O_DIRECTORY);
  const fd = await open(t, sub, 'in', 0);
  t.true(fd >= 0);
  const how = { flags: f.O_RDONLY, resolve: f.RESOLVE_BENEATH };
  await t.throwsAsync(f.openat2(sub, '../sub/in', how), { code: 'EXDEV' });
  await t.throwsAsync(f.openat2(sub, '/etc/passwd', how), { code: 'EXDEV' });
  await t.throwsAsync(f.openat2(sub, 'out/passwd', how), { code: 'EXDEV' });
  // A symlink that stays inside is fine under BENEATH, not under NO_SYMLINKS.
  t.true((await f.openat2(sub, 'rel', how).then(async (x) => (await f.close(x), x))) >= 0);
  await t.throwsAsync(f.openat2(sub, 'rel', { flags: f.O_RDONLY, resolve: f.RESOLVE_BENEATH | f.RESOLVE_NO_SYMLINKS }), { code: 'ELOOP' });
});

test('openat2: RESOLVE_NO_MAGICLINKS refuses /proc/self/fd links; mode without O_CREAT is EINVAL', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'f'), 'x');
  const fd = await open(t, s.dfd, 'f', f.O_PATH);
  await t.throwsAsync(f.openat2(f.AT_FDCWD, `/proc/self/fd/${fd}`, { flags: f.O_RDONLY, resolve: f.RESOLVE_NO_MAGICLINKS }), { code: 'ELOOP' });
  const viaProc = await f.openat2(f.AT_FDCWD, `/proc/self/fd/${fd}`, { flags: f.O_RDONLY });
  await f.close(viaProc);
  await t.throwsAsync(f.openat2(s.dfd, 'f', { flags: f.O_RDONLY, mode: 0o644 }), { code: 'EINVAL' });
  const created = await f.openat2(s.dfd, 'new', { flags: f.O_CREAT | f.O_WRONLY, mode: 0o600, resolve: f.RESOLVE_BENEATH });
  await f.close(created);
  t.true(nodefs.existsSync(path.join(s.dir, 'new')));
});

test('close: ok; EBADF for a bad fd', async (t) => {
  // (Closing the same number twice is not testable here: concurrent tests reuse fd numbers.)
  const s = scratch(t);
  const fd = await f.openat(s.dfd, 'c', f.O_CREAT | f.O_WRONLY, 0o600);
  const target = nodefs.readlinkSync(`/proc/self/fd/${fd}`);
  await f.close(fd);
  t.not(nodefs.existsSync(`/proc/self/fd/${fd}`) ? nodefs.readlinkSync(`/proc/self/fd/${fd}`) : null, target);
  await t.throwsAsync(f.close(999_999), { code: 'EBADF' });
  await t.throwsAsync(f.close(-1), { code: 'EBADF' });
});

test('statx matches the kernel as Node sees it, incl. AT_EMPTY_PATH on O_PATH and AT_SYMLINK_NOFOLLOW', async (t) => {
  const s = scratch(t);
  const p = path.join(s.dir, 'st');
  nodefs.writeFileSync(p, Buffer.alloc(10000, 1));
  nodefs.symlinkSync('st', path.join(s.dir, 'ln'));
  const n = nodefs.statSync(p, { bigint: true });
  const x = await f.statx(s.dfd, 'st', 0);
  t.is(x.ino, n.ino);
  t.is(x.size, 10000n);
  t.is(x.mode, Number(n.mode));
  t.is(x.nlink, 1);
  t.is(x.uid, Number(n.uid));
  t.is(x.gid, Number(n.gid));
  t.is(x.blocks, n.blocks);
  t.is(x.blksize, Number(n.blksize));
  t.is(BigInt(x.dev), n.dev);
  t.is(BigInt(x.mtimeSec) * 1_000_000_000n + BigInt(x.mtimeNsec), n.mtimeNs);
  t.is(BigInt(x.ctimeSec) * 1_000_000_000n + BigInt(x.ctimeNsec), n.ctimeNs);
  t.is(BigInt(x.atimeSec) * 1_000_000_000n + BigInt(x.atimeNsec), n.atimeNs);
  t.true((x.mask & f.STATX_MNT_ID) !== 0 && x.mntId > 0n);
  t.true((x.mask & f.STATX_BASIC_STATS) === f.STATX_BASIC_STATS);

  const opath = await open(t, s.dfd, 'st', f.O_PATH);
  t.is((await f.statx(opath, '', f.AT_EMPTY_PATH)).ino, n.ino);
  const l = await f.statx(s.dfd, 'ln', f.AT_SYMLINK_NOFOLLOW);
  t.is(l.mode & f.S_IFMT, f.S_IFLNK);
  t.is((await f.statx(s.dfd, 'ln', 0)).ino, n.ino);
  await t.throwsAsync(f.statx(s.dfd, 'missing', 0), { code: 'ENOENT' });
  await t.throwsAsync(f.statx(opath, '', 0), { code: 'ENOENT' }, 'empty name without AT_EMPTY_PATH');
  t.is(f.statxSync(s.dfd, 'st', 0).ino, n.ino);
  t.throws(() => f.statxSync(s.dfd, 'missing', 0), { code: 'ENOENT' });
});

test('statx: rdev of /dev/null is 1:3; dev numbers encode like the kernel', async (t) => {
  const x = await f.statx(f.AT_FDCWD, '/dev/null', 0);
  t.is(x.mode & f.S_IFMT, f.S_IFCHR);
  t.is(x.rdevMajor, 1);
  t.is(x.rdevMinor, 3);
  t.is(x.rdev, 0x103);
  t.is(BigInt(x.rdev), nodefs.statSync('/dev/null', { bigint: true }).rdev);
  t.is(f.makedev(259, 0x12345), 0x12345 & 0xff | (259 << 8) | ((0x12345 & ~0xff) << 12));
  t.is(f.major(f.makedev(259, 0x12345)), 259);
  t.is(f.minor(f.makedev(259, 0x12345)), 0x12345);
});

test('fstatfs matches statfs(2) as Node sees it; EBADF on a closed fd', async (t) => {
  const s = scratch(t);
  const st = await f.fstatfs(s.dfd);
  const n = nodefs.statfsSync(s.dir);
  t.is(st.type, n.type);
  t.is(st.bsize, n.bsize);
  t.is(st.blocks, BigInt(n.blocks));
  t.is(st.files, BigInt(n.files));
  t.true(st.namelen >= 255);
  t.true(st.frsize > 0);
  t.is(st.flags & f.ST_RDONLY, 0);
  await t.throwsAsync(f.fstatfs(999_999), { code: 'EBADF' });
});

test('mkdirat and mknodat (FIFO, char device); EEXIST', async (t) => {
  const s = scratch(t);
  await f.mkdirat(s.dfd, 'd', 0o750);
  t.true(nodefs.statSync(path.join(s.dir, 'd')).isDirectory());
  await t.throwsAsync(f.mkdirat(s.dfd, 'd', 0o750), { code: 'EEXIST' });
  await f.mknodat(s.dfd, 'fifo', f.S_IFIFO | 0o600);
  t.true(nodefs.statSync(path.join(s.dir, 'fifo')).isFIFO());
  await t.throwsAsync(f.mknodat(s.dfd, 'fifo', f.S_IFIFO | 0o600), { code: 'EEXIST' });
  if (process.getuid?.() === 0) {
    await f.mknodat(s.dfd, 'null', f.S_IFCHR | 0o600, f.makedev(1, 3));
    const x = await f.statx(s.dfd, 'null', 0);
    t.is(x.rdevMajor, 1);
    t.is(x.rdevMinor, 3);
  }
});

test('symlinkat + readlinkat return the target bytes exactly; EINVAL on a non-link, ENOENT', async (t) => {
  const s = scratch(t);
  await f.symlinkat('some/where', s.dfd, 'l');
  t.deepEqual(await f.readlinkat(s.dfd, 'l'), Buffer.from('some/where'));
  await f.symlinkat(NON_UTF8, s.dfd, 'bin');
  t.deepEqual(await f.readlinkat(s.dfd, 'bin'), NON_UTF8);
  const lfd = await open(t, s.dfd, 'l', f.O_PATH | f.O_NOFOLLOW);
  t.deepEqual(await f.readlinkat(lfd, ''), Buffer.from('some/where'), 'empty name reads an O_PATH fd of the link');
  nodefs.writeFileSync(path.join(s.dir, 'reg'), '');
  await t.throwsAsync(f.readlinkat(s.dfd, 'reg'), { code: 'EINVAL' });
  await t.throwsAsync(f.readlinkat(s.dfd, 'missing'), { code: 'ENOENT' });
  await t.throwsAsync(f.symlinkat('x', s.dfd, 'l'), { code: 'EEXIST' });
});

test('unlinkat: files, AT_REMOVEDIR, EISDIR/ENOTEMPTY/ENOENT', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'f'), '');
  nodefs.mkdirSync(path.join(s.dir, 'd'));
  nodefs.writeFileSync(path.join(s.dir, 'd', 'x'), '');
  await t.throwsAsync(f.unlinkat(s.dfd, 'd'), { code: 'EISDIR' });
  await t.throwsAsync(f.unlinkat(s.dfd, 'd', f.AT_REMOVEDIR), { code: 'ENOTEMPTY' });
  await f.unlinkat(s.dfd, 'f');
  t.false(nodefs.existsSync(path.join(s.dir, 'f')));
  nodefs.unlinkSync(path.join(s.dir, 'd', 'x'));
  await f.unlinkat(s.dfd, 'd', f.AT_REMOVEDIR);
  t.false(nodefs.existsSync(path.join(s.dir, 'd')));
  await t.throwsAsync(f.unlinkat(s.dfd, 'f'), { code: 'ENOENT' });
});

test('renameat2: plain, RENAME_NOREPLACE rejects EEXIST, RENAME_EXCHANGE swaps', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'a'), 'A');
  nodefs.writeFileSync(path.join(s.dir, 'b'), 'B');
  await t.throwsAsync(f.renameat2(s.dfd, 'a', s.dfd, 'b', f.RENAME_NOREPLACE), { code: 'EEXIST' });
  await f.renameat2(s.dfd, 'a', s.dfd, 'b', f.RENAME_EXCHANGE);
  t.is(nodefs.readFileSync(path.join(s.dir, 'a'), 'utf8'), 'B');
  t.is(nodefs.readFileSync(path.join(s.dir, 'b'), 'utf8'), 'A');
  await f.renameat2(s.dfd, 'a', s.dfd, 'c');
  t.is(nodefs.readFileSync(path.join(s.dir, 'c'), 'utf8'), 'B');
  await t.throwsAsync(f.renameat2(s.dfd, 'a', s.dfd, 'd'), { code: 'ENOENT' });
  await t.throwsAsync(f.renameat2(s.dfd, 'c', s.dfd, 'zz', f.RENAME_EXCHANGE), { code: 'ENOENT' });
});

test('linkat: by name, and AT_EMPTY_PATH links an O_PATH fd (also an O_TMPFILE); EEXIST', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'orig'), 'x');
  await f.linkat(s.dfd, 'orig', s.dfd, 'hard');
  t.is((await f.statx(s.dfd, 'orig', 0)).nlink, 2);
  const opath = await open(t, s.dfd, 'orig', f.O_PATH);
  await f.linkat(opath, '', s.dfd, 'viafd', f.AT_EMPTY_PATH);
  t.is((await f.statx(s.dfd, 'orig', 0)).nlink, 3);
  await t.throwsAsync(f.linkat(s.dfd, 'orig', s.dfd, 'hard'), { code: 'EEXIST' });
  await t.throwsAsync(f.linkat(s.dfd, 'missing', s.dfd, 'x'), { code: 'ENOENT' });
  const tmp = await open(t, s.dfd, '.', f.O_TMPFILE | f.O_RDWR, 0o600);
  await f.pwrite(tmp, Buffer.from('tmp'), 0);
  await f.linkat(tmp, '', s.dfd, 'fromtmp', f.AT_EMPTY_PATH);
  t.is(nodefs.readFileSync(path.join(s.dir, 'fromtmp'), 'utf8'), 'tmp');
});

test('fchmod, fchmodat (flags via fchmodat2: AT_EMPTY_PATH on O_PATH, EOPNOTSUPP on a symlink)', async (t) => {
  const s = scratch(t);
  const p = path.join(s.dir, 'm');
  nodefs.writeFileSync(p, '');
  nodefs.symlinkSync('m', path.join(s.dir, 'l'));
  const fd = await open(t, s.dfd, 'm', f.O_RDONLY);
  await f.fchmod(fd, 0o604);
  t.is(nodefs.statSync(p).mode & 0o7777, 0o604);
  await f.fchmodat(s.dfd, 'm', 0o640);
  t.is(nodefs.statSync(p).mode & 0o7777, 0o640);
  await t.throwsAsync(f.fchmodat(s.dfd, 'missing', 0o640), { code: 'ENOENT' });
  const opath = await open(t, s.dfd, 'm', f.O_PATH);
  await t.throwsAsync(f.fchmod(opath, 0o600), { code: 'EBADF' }, 'fchmod on O_PATH is EBADF: hence fchmodat2');
  try {
    await f.fchmodat(opath, '', 0o600, f.AT_EMPTY_PATH);
    t.is(nodefs.statSync(p).mode & 0o7777, 0o600);
    await t.throwsAsync(f.fchmodat(s.dfd, 'l', 0o600, f.AT_SYMLINK_NOFOLLOW), { code: 'EOPNOTSUPP' });
  } catch (e) {
    t.is((e as NodeJS.ErrnoException).code, 'ENOSYS', 'kernel without fchmodat2');
  }
});

test('fchownat: by name, AT_EMPTY_PATH on O_PATH, -1 leaves a field; ENOENT', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('needs root');
  const s = scratch(t);
  const p = path.join(s.dir, 'o');
  nodefs.writeFileSync(p, '');
  await f.fchownat(s.dfd, 'o', 1000, 2000);
  t.like(nodefs.statSync(p), { uid: 1000, gid: 2000 });
  const opath = await open(t, s.dfd, 'o', f.O_PATH);
  await f.fchownat(opath, '', 3000, -1, f.AT_EMPTY_PATH);
  t.like(nodefs.statSync(p), { uid: 3000, gid: 2000 });
  nodefs.symlinkSync('o', path.join(s.dir, 'l'));
  await f.fchownat(s.dfd, 'l', 4000, 4000, f.AT_SYMLINK_NOFOLLOW);
  t.like(nodefs.lstatSync(path.join(s.dir, 'l')), { uid: 4000, gid: 4000 });
  t.like(nodefs.statSync(p), { uid: 3000 });
  await t.throwsAsync(f.fchownat(s.dfd, 'missing', 0, 0), { code: 'ENOENT' });
});

test('utimensat: explicit times, UTIME_OMIT, UTIME_NOW, AT_EMPTY_PATH on O_PATH; EINVAL on bad nsec', async (t) => {
  const s = scratch(t);
  const p = path.join(s.dir, 't');
  nodefs.writeFileSync(p, '');
  await f.utimensat(s.dfd, 't', { sec: 1_000_000, nsec: 5 }, { sec: 2_000_000n, nsec: 7 });
  let x = await f.statx(s.dfd, 't', 0);
  t.deepEqual([x.atimeSec, x.atimeNsec, x.mtimeSec, x.mtimeNsec], [1_000_000, 5, 2_000_000, 7]);
  const opath = await open(t, s.dfd, 't', f.O_PATH);
  await f.utimensat(opath, '', { sec: 0, nsec: f.UTIME_OMIT }, { sec: 0, nsec: f.UTIME_NOW }, f.AT_EMPTY_PATH);
  x = await f.statx(s.dfd, 't', 0);
  t.is(x.atimeSec, 1_000_000);
  t.true(Math.abs(x.mtimeSec - Date.now() / 1000) < 60);
  // Before 1970 and past 2^32 s: the 64-bit seconds decode with their sign.
  await f.utimensat(s.dfd, 't', { sec: -1_234_567_890, nsec: 1 }, { sec: 2 ** 33 + 5, nsec: 2 });
  x = await f.statx(s.dfd, 't', 0);
  t.deepEqual([x.atimeSec, x.mtimeSec], [-1_234_567_890, 2 ** 33 + 5]);
  await t.throwsAsync(f.utimensat(s.dfd, 't', { sec: 0, nsec: 2e9 }, { sec: 0, nsec: 0 }), { code: 'EINVAL' });
  await t.throwsAsync(f.utimensat(s.dfd, 'missing', { sec: 0, nsec: 0 }, { sec: 0, nsec: 0 }), { code: 'ENOENT' });
});

test('pread/pwrite into views of a larger buffer (zero copy, offsets honoured); EBADF', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'rw', f.O_CREAT | f.O_RDWR);
  const mem = new Uint8Array(64);
  mem.set([1, 2, 3, 4], 10);
  t.is(await f.pwrite(fd, mem.subarray(10, 14), 100), 4);
  const into = new Uint8Array(mem.buffer, 40, 8);
  t.is(await f.pread(fd, into, 99), 5);
  t.deepEqual([...mem.subarray(40, 46)], [0, 1, 2, 3, 4, 0]);
  t.is(await f.pread(fd, into, 1000), 0, 'EOF');
  t.is(await f.pwrite(fd, new DataView(new ArrayBuffer(3)), 0n), 3, 'DataView and bigint offset');
  const ro = await open(t, s.dfd, 'rw', f.O_RDONLY);
  await t.throwsAsync(f.pwrite(ro, mem, 0), { code: 'EBADF' });
  await t.throwsAsync(f.pread(fd, mem, -1), { code: 'EINVAL' });
});

test('preadv/pwritev scatter and gather across several buffers', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'v', f.O_CREAT | f.O_RDWR);
  t.is(await f.pwritev(fd, [Buffer.from('abc'), new Uint8Array(0), Buffer.from('defg')], 2), 7);
  const a = Buffer.alloc(4);
  const b = Buffer.alloc(10);
  t.is(await f.preadv(fd, [a, b], 0), 9);
  t.deepEqual(Buffer.concat([a, b.subarray(0, 5)]), Buffer.from('\0\0abcdefg'));
  const many = Array.from({ length: 20 }, () => Buffer.alloc(1));
  t.is(await f.preadv(fd, many, 2), 7, 'more buffers than fit inline');
  t.is(Buffer.concat(many.slice(0, 7)).toString(), 'abcdefg');
  await t.throwsAsync(f.preadv(fd, Array.from({ length: 1025 }, () => a), 0), { code: 'EINVAL' }, 'over IOV_MAX');
  await t.throwsAsync(f.pwritev(999_999, [a], 0), { code: 'EBADF' });
});

test('copyFileRange with explicit offsets and with file positions; EBADF', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'src'), '0123456789');
  const src = await open(t, s.dfd, 'src', f.O_RDONLY);
  const dst = await open(t, s.dfd, 'dst', f.O_CREAT | f.O_RDWR);
  t.is(await f.copyFileRange(src, 2, dst, 0, 5), 5);
  t.is(nodefs.readFileSync(path.join(s.dir, 'dst'), 'utf8'), '23456');
  t.is(await f.copyFileRange(src, null, dst, null, 3), 3, 'from both positions (0 and 0)');
  t.is(nodefs.readFileSync(path.join(s.dir, 'dst'), 'utf8'), '01256');
  await t.throwsAsync(f.copyFileRange(999_999, 0, dst, 0, 1), { code: 'EBADF' });
});

test('ftruncate, fallocate (extend, KEEP_SIZE, PUNCH_HOLE), lseek SEEK_DATA/SEEK_HOLE; ENXIO, EBADF', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'sparse', f.O_CREAT | f.O_RDWR);
  await f.ftruncate(fd, 1 << 20);
  t.is((await f.statx(fd, '', f.AT_EMPTY_PATH)).size, 1n << 20n);
  await f.pwrite(fd, Buffer.alloc(4096, 1), 65536);
  t.is(await f.lseek(fd, 0, f.SEEK_DATA), 65536n);
  t.is(await f.lseek(fd, 65536, f.SEEK_HOLE), 65536n + 4096n);
  await t.throwsAsync(f.lseek(fd, 2 << 20, f.SEEK_DATA), { code: 'ENXIO' });
  await f.fallocate(fd, 0, 0, 2 << 20);
  t.is((await f.statx(fd, '', f.AT_EMPTY_PATH)).size, 2n << 20n);
  await f.fallocate(fd, f.FALLOC_FL_KEEP_SIZE, 0, 3 << 20);
  t.is((await f.statx(fd, '', f.AT_EMPTY_PATH)).size, 2n << 20n);
  await f.fallocate(fd, f.FALLOC_FL_PUNCH_HOLE | f.FALLOC_FL_KEEP_SIZE, 65536, 4096);
  const back = Buffer.alloc(4096, 9);
  await f.pread(fd, back, 65536);
  t.true(back.every((b) => b === 0));
  await t.throwsAsync(f.fallocate(fd, f.FALLOC_FL_PUNCH_HOLE, 0, 4096), { code: 'EOPNOTSUPP' }, 'PUNCH_HOLE needs KEEP_SIZE');
  await t.throwsAsync(f.ftruncate(fd, -1), { code: 'EINVAL' });
  const ro = await open(t, s.dfd, 'sparse', f.O_RDONLY);
  await t.throwsAsync(f.ftruncate(ro, 0), { code: 'EINVAL' });
});

test('fsync, fdatasync, syncfs; EBADF', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'sync', f.O_CREAT | f.O_RDWR);
  await f.pwrite(fd, Buffer.from('x'), 0);
  await f.fsync(fd);
  await f.fdatasync(fd);
  await f.syncfs(fd);
  await t.throwsAsync(f.fsync(999_999), { code: 'EBADF' });
  await t.throwsAsync(f.fdatasync(999_999), { code: 'EBADF' });
  await t.throwsAsync(f.syncfs(999_999), { code: 'EBADF' });
  t.pass();
});

test('getdents64 lists a directory like readdir, incl. a non-UTF-8 name; ENOTDIR', async (t) => {
  const s = scratch(t);
  for (const n of ['a', 'bb', 'ccc']) nodefs.writeFileSync(path.join(s.dir, n), '');
  nodefs.mkdirSync(path.join(s.dir, 'sub'));
  await (await f.openat(s.dfd, NON_UTF8, f.O_CREAT | f.O_WRONLY, 0o600).then(f.close));
  const dfd = await open(t, s.dfd, '.', f.O_RDONLY | f.O_DIRECTORY);
  const buf = Buffer.alloc(64); // small: forces several calls
  const seen: f.Dirent64[] = [];
  for (;;) {
    const n = await f.getdents64(dfd, buf);
    if (n === 0) break;
    seen.push(...f.parseDirents(buf, n));
  }
  const names = seen.map((d) => d.name.toString('latin1')).sort();
  t.deepEqual(names, ['.', '..', 'a', 'bb', 'ccc', NON_UTF8.toString('latin1'), 'sub'].sort());
  const sub = seen.find((d) => d.name.equals(Buffer.from('sub')))!;
  t.is(sub.type, f.DT_DIR);
  t.is(sub.ino, nodefs.statSync(path.join(s.dir, 'sub'), { bigint: true }).ino);
  t.is(seen.find((d) => d.name.equals(NON_UTF8))!.type, f.DT_REG);
  // d_off of an entry seeks to just after it.
  const first = seen[0]!;
  await f.lseek(dfd, first.off, f.SEEK_SET);
  const again = f.parseDirents(buf, await f.getdents64(dfd, buf));
  t.deepEqual(again[0]!.name, seen[1]!.name);
  const file = await open(t, s.dfd, 'a', f.O_RDONLY);
  await t.throwsAsync(f.getdents64(file, buf), { code: 'ENOTDIR' });
  await t.throwsAsync(f.getdents64(dfd, Buffer.alloc(8)), { code: 'EINVAL' }, 'buffer smaller than a record');
});

test('fd xattrs: set, size query, read, ERANGE, list, XATTR_CREATE/REPLACE, remove, ENODATA', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'x', f.O_CREAT | f.O_RDWR);
  const value = Buffer.from([0, 1, 2, 0xff]);
  await f.fsetxattr(fd, 'user.one', value);
  await f.fsetxattr(fd, Buffer.from('user.two'), Buffer.from('2'), f.XATTR_CREATE);
  await t.throwsAsync(f.fsetxattr(fd, 'user.two', Buffer.from('2'), f.XATTR_CREATE), { code: 'EEXIST' });
  await t.throwsAsync(f.fsetxattr(fd, 'user.three', Buffer.from('3'), f.XATTR_REPLACE), { code: 'ENODATA' });
  t.is(await f.fgetxattr(fd, 'user.one', null), 4, 'size query');
  const out = Buffer.alloc(16);
  t.is(await f.fgetxattr(fd, 'user.one', out), 4);
  t.deepEqual(out.subarray(0, 4), value);
  await t.throwsAsync(f.fgetxattr(fd, 'user.one', Buffer.alloc(2)), { code: 'ERANGE' });
  await t.throwsAsync(f.fgetxattr(fd, 'user.none', out), { code: 'ENODATA' });
  const need = await f.flistxattr(fd, null);
  const list = Buffer.alloc(need);
  t.is(await f.flistxattr(fd, list), need);
  t.deepEqual(list.toString().split('\0').filter(Boolean).sort(), ['user.one', 'user.two']);
  await t.throwsAsync(f.flistxattr(fd, Buffer.alloc(1)), { code: 'ERANGE' });
  await f.fremovexattr(fd, 'user.one');
  await t.throwsAsync(f.fremovexattr(fd, 'user.one'), { code: 'ENODATA' });
  await t.throwsAsync(f.fsetxattr(fd, 'bogus.ns', value), { code: 'EOPNOTSUPP' });
});

test('path xattrs on /proc/self/fd/N of an O_PATH fd: the following forms reach the file, l* do not', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'p'), '');
  const opath = await open(t, s.dfd, 'p', f.O_PATH);
  await t.throwsAsync(f.fgetxattr(opath, 'user.k', null), { code: 'EBADF' }, 'no fd xattrs on O_PATH');
  const proc = `/proc/self/fd/${opath}`;
  await f.setxattr(proc, 'user.k', Buffer.from('v'));
  const buf = Buffer.alloc(8);
  t.is(await f.getxattr(proc, 'user.k', buf), 1);
  t.is(buf.toString('utf8', 0, 1), 'v');
  t.true((await f.listxattr(proc, null)) > 0);
  const fd = await open(t, s.dfd, 'p', f.O_RDONLY);
  t.is(await f.fgetxattr(fd, 'user.k', null), 1, 'the file itself has it');
  await t.throwsAsync(f.lgetxattr(proc, 'user.k', buf), { message: /ENODATA|EOPNOTSUPP/ }, 'l* acts on the /proc link');
  await f.removexattr(proc, 'user.k');
  await t.throwsAsync(f.getxattr(proc, 'user.k', buf), { code: 'ENODATA' });
  // l* forms on a real path.
  await f.lsetxattr(path.join(s.dir, 'p'), 'user.l', Buffer.from('L'));
  t.is(await f.lgetxattr(path.join(s.dir, 'p'), 'user.l', buf), 1);
  t.true((await f.llistxattr(path.join(s.dir, 'p'), null)) > 0);
  await f.lremovexattr(path.join(s.dir, 'p'), 'user.l');
  await t.throwsAsync(f.lremovexattr(path.join(s.dir, 'p'), 'user.l'), { code: 'ENODATA' });
});

test('nameToHandleAt + openByHandleAt round trip; ESTALE once deleted; EINVAL for a bad blob', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('open_by_handle_at needs CAP_DAC_READ_SEARCH');
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'h'), 'handle');
  const { handle, mountId } = await f.nameToHandleAt(s.dfd, 'h');
  t.is(handle.readUInt32LE(0), handle.length - 8, 'handle_bytes header');
  t.is(mountId, (await f.statx(s.dfd, 'h', 0, f.STATX_MNT_ID)).mntId);
  const fd = await f.openByHandleAt(s.dfd, handle, f.O_RDONLY);
  const buf = Buffer.alloc(6);
  await f.pread(fd, buf, 0);
  await f.close(fd);
  t.is(buf.toString(), 'handle');
  const opath = await f.openat(s.dfd, 'h', f.O_PATH);
  t.deepEqual((await f.nameToHandleAt(opath, '', f.AT_EMPTY_PATH)).handle, handle);
  await t.throwsAsync(f.nameToHandleAt(s.dfd, 'missing'), { code: 'ENOENT' });
  await t.throwsAsync(f.openByHandleAt(s.dfd, handle.subarray(0, 6), f.O_RDONLY), { code: 'EINVAL' });
  nodefs.closeSync(opath);
  nodefs.unlinkSync(path.join(s.dir, 'h'));
  await t.throwsAsync(f.openByHandleAt(s.dfd, handle, f.O_RDONLY), { code: 'ESTALE' });
});

test('StatxRecords.handleIs compares a record\'s handle in place: equal bytes and mount only', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'a'), 'a');
  nodefs.writeFileSync(path.join(s.dir, 'b'), 'b');
  const a = await f.nameToHandleAt(s.dfd, 'a');
  const b = await f.nameToHandleAt(s.dfd, 'b');
  const recs = await f.statxNamesRecords(s.dfd, [Buffer.from('a'), Buffer.from('b'), Buffer.from('gone')], 0, f.STATX_BASIC_STATS | f.STATX_MNT_ID, 0);
  // The bytes one char each after a prefix, as the inode store keys them.
  const key = (h: f.FileHandle) => `${h.mountId}:${h.handle.toString('latin1')}`;
  const from = (k: string) => k.indexOf(':') + 1;
  t.true(recs.handleIs(0, a.mountId, key(a), from(key(a))));
  t.true(recs.handleIs(1, b.mountId, key(b), from(key(b))));
  t.false(recs.handleIs(0, b.mountId, key(b), from(key(b))), 'another file');
  t.false(recs.handleIs(0, a.mountId + 1n, key(a), from(key(a))), 'another mount');
  const flipped = Buffer.from(a.handle);
  flipped[flipped.length - 1]! ^= 1;
  t.false(recs.handleIs(0, a.mountId, `x:${flipped.toString('latin1')}`, 2), 'one byte differs');
  t.false(recs.handleIs(0, a.mountId, `x:${a.handle.subarray(0, a.handle.length - 1).toString('latin1')}`, 2), 'shorter');
  t.false(recs.handleIs(2, a.mountId, key(a), from(key(a))), 'statx failed: no handle');
  t.is(recs.error(2), 'ENOENT');
  const noHandles = await f.statxNamesRecords(s.dfd, [Buffer.from('a')], 0, f.STATX_BASIC_STATS | f.STATX_MNT_ID);
  t.false(noHandles.handleIs(0, a.mountId, key(a), from(key(a))), 'handles not asked for');
});

test('faccessat and faccessat2; EACCES/ENOENT', async (t) => {
  const s = scratch(t);
  nodefs.writeFileSync(path.join(s.dir, 'a'), '');
  nodefs.chmodSync(path.join(s.dir, 'a'), 0o644);
  await f.faccessat(s.dfd, 'a', f.R_OK | f.W_OK);
  await f.faccessat2(s.dfd, 'a', f.R_OK, f.AT_EACCESS);
  await t.throwsAsync(f.faccessat(s.dfd, 'missing', f.F_OK), { code: 'ENOENT' });
  await t.throwsAsync(f.faccessat2(s.dfd, 'a', f.X_OK, f.AT_EACCESS), { code: 'EACCES' }, 'no x bit for anyone, even root');
  await t.throwsAsync(f.faccessat2(s.dfd, 'a', f.F_OK, 0x8000), { code: 'EINVAL' });
});

test('dup, fcntlGetfl, fcntlSetfl; EBADF', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'd', f.O_CREAT | f.O_WRONLY);
  const d = await f.dup(fd);
  t.not(d, fd);
  t.is((await f.fcntlGetfl(d)) & f.O_ACCMODE, f.O_WRONLY);
  await f.fcntlSetfl(d, f.O_APPEND);
  t.truthy((await f.fcntlGetfl(fd)) & f.O_APPEND, 'shared open file description');
  await f.close(d);
  await t.throwsAsync(f.dup(999_999), { code: 'EBADF' });
  await t.throwsAsync(f.fcntlGetfl(999_999), { code: 'EBADF' });
  await t.throwsAsync(f.fcntlSetfl(999_999, 0), { code: 'EBADF' });
});

test('closeDup closes a duplicate in one call: the fd stays open and usable, no fd is left behind; EBADF', async (t) => {
  const s = scratch(t);
  const fd = await open(t, s.dfd, 'cd', f.O_CREAT | f.O_RDWR);
  // fds of this file only (the other tests of this file open and close fds at the same time)
  const target = nodefs.readlinkSync(`/proc/self/fd/${fd}`);
  const fds = () =>
    nodefs.readdirSync('/proc/self/fd').filter((n) => {
      try {
        return nodefs.readlinkSync(`/proc/self/fd/${n}`) === target;
      } catch {
        return false;
      }
    }).length;
  t.is(fds(), 1);
  await Promise.all(Array.from({ length: 20 }, () => f.closeDup(fd)));
  t.is(fds(), 1, 'no duplicate is left open');
  t.is(await f.pwrite(fd, Buffer.from('still open'), 0), 10, 'the original fd still writes');
  await t.throwsAsync(f.closeDup(999_999), { code: 'EBADF' });
});

test('pwritevKillSuidgid clears setuid, setgid only when group-executable, then writes; EBADF writes nothing', async (t) => {
  const s = scratch(t);
  for (const [mode, after] of [[0o6755, 0o755], [0o6745, 0o2745], [0o2775, 0o775], [0o644, 0o644]] as const) {
    const name = `k${mode.toString(8)}`;
    const fd = await open(t, s.dfd, name, f.O_CREAT | f.O_RDWR);
    await f.fchmod(fd, mode);
    t.is(await f.pwritevKillSuidgid(fd, [Buffer.from('ab'), Buffer.from('cd')], 1), 4);
    const st = await f.statx(fd, '', f.AT_EMPTY_PATH);
    t.is(st.mode & 0o7777, after, `mode ${mode.toString(8)} -> ${after.toString(8)}`);
    t.is(nodefs.readFileSync(path.join(s.dir, name), 'latin1'), '\0abcd');
  }
  await t.throwsAsync(f.pwritevKillSuidgid(999_999, [Buffer.from('x')], 0), { code: 'EBADF' });
});

test('getrlimit/setrlimit RLIMIT_NOFILE (synchronous); EINVAL for soft above hard', (t) => {
  const lim = f.getrlimit(f.RLIMIT_NOFILE);
  t.true(lim.soft > 0 && lim.soft <= lim.hard);
  f.setrlimit(f.RLIMIT_NOFILE, lim);
  t.deepEqual(f.getrlimit(f.RLIMIT_NOFILE), lim);
  if (lim.hard !== Infinity) t.throws(() => f.setrlimit(f.RLIMIT_NOFILE, { soft: lim.hard + 1, hard: lim.hard }), { code: 'EINVAL' });
  t.throws(() => f.getrlimit(-5), { code: 'EINVAL' });
});

test('non-UTF-8 byte names work in every name slot', async (t) => {
  const s = scratch(t);
  const dirName = Buffer.concat([NON_UTF8, Buffer.from('-dir')]);
  const other = Buffer.from([0xc0, 0xaf, 0x00].slice(0, 2));
  await f.mkdirat(s.dfd, dirName, 0o755);
  const d = await open(t, s.dfd, dirName, f.O_PATH | f.O_DIRECTORY);
  const fd = await open(t, d, NON_UTF8, f.O_CREAT | f.O_RDWR);
  await f.pwrite(fd, Buffer.from('data'), 0);
  await f.renameat2(d, NON_UTF8, s.dfd, other);
  await f.linkat(s.dfd, other, d, NON_UTF8);
  t.is((await f.statx(d, NON_UTF8, 0)).nlink, 2);
  await f.symlinkat(other, d, Buffer.from([0xfe]));
  t.deepEqual(await f.readlinkat(d, Buffer.from([0xfe])), other);
  await f.unlinkat(s.dfd, other);
  const listed = nodefs.readdirSync(Buffer.from(path.join(s.dir, dirName.toString('latin1')), 'latin1'), { encoding: 'buffer' });
  t.deepEqual(listed.map((b) => b.toString('hex')).sort(), [NON_UTF8.toString('hex'), 'fe'].sort());
});

test('argument errors throw synchronously with ERR_INVALID_ARG; long names reject ENAMETOOLONG', async (t) => {
  const s = scratch(t);
  t.throws(() => f.openat(s.dfd, 'a\0b', f.O_RDONLY), { code: 'ERR_INVALID_ARG' });
  t.throws(() => f.openat(s.dfd, Buffer.from([0x61, 0, 0x62]), f.O_RDONLY), { code: 'ERR_INVALID_ARG' });
  t.throws(() => f.openat(s.dfd, 42 as unknown as string, f.O_RDONLY), { code: 'ERR_INVALID_ARG' });
  t.throws(() => f.pread(0, 'x' as unknown as Uint8Array, 0), { code: 'ERR_INVALID_ARG' });
  t.throws(() => f.openat(s.dfd, 'a', f.O_RDONLY, 0, 7 as unknown as f.Creds), { code: 'ERR_INVALID_ARG' });
  t.throws(() => f.openat(s.dfd, 'a', f.O_RDONLY, 0, { uid: 1 } as unknown as f.Creds), { code: 'ERR_INVALID_ARG' });
  await t.throwsAsync(f.openat(s.dfd, 'x'.repeat(4096), f.O_RDONLY), { code: 'ENAMETOOLONG' });
  await t.throwsAsync(f.openat(s.dfd, 'x'.repeat(300), f.O_RDONLY), { code: 'ENAMETOOLONG' }, 'from the kernel: NAME_MAX');
  await t.throwsAsync(f.openat(s.dfd, `${'d/'.repeat(200)}x`, f.O_RDONLY), { code: 'ENOENT' }, 'a long path over the inline buffer');
});

test('64 concurrent calls all complete, on at most the pool size of threads', async (t) => {
  const s = scratch(t);
  const before = f.poolStats().threads;
  const fds = await Promise.all(Array.from({ length: 64 }, (_, i) => f.openat(s.dfd, `c${i}`, f.O_CREAT | f.O_RDWR, 0o600)));
  t.is(new Set(fds).size, 64);
  const stats = await Promise.all(fds.map((fd) => f.statx(fd, '', f.AT_EMPTY_PATH)));
  t.is(new Set(stats.map((x) => x.ino)).size, 64);
  await Promise.all(fds.map((fd) => f.close(fd)));
  t.is(nodefs.readdirSync(s.dir).length, 64);
  t.is(f.poolStats().threads, Math.max(before, 4), 'no thread per call');
});

test('a call that hangs does not hold up the calls queued behind it (the pool wakes another worker)', async (t) => {
  // Many fast calls first, so the pool believes calls are quick and keeps few workers awake; then a
  // read from an empty FIFO that never ends by itself, then more calls: they must finish anyway.
  const s = scratch(t);
  await Promise.all(Array.from({ length: 2000 }, () => f.statx(s.dfd, '', f.AT_EMPTY_PATH)));
  await f.mknodat(s.dfd, 'fifo', f.S_IFIFO | 0o600);
  const fifo = await open(t, s.dfd, 'fifo', f.O_RDWR);
  const hung = f.preadv(fifo, [Buffer.alloc(1)], -1);
  const start = Date.now();
  const done = await Promise.all(Array.from({ length: 16 }, () => f.statx(s.dfd, '', f.AT_EMPTY_PATH)));
  t.is(done.length, 16);
  t.true(Date.now() - start < 1000, `queued calls took ${Date.now() - start} ms`);
  nodefs.writeSync(fifo, 'x');
  t.is(await hung, 1);
});

test('an in-flight call keeps the process alive, an idle pool does not', (t) => {
  // A child whose only pending work is a blocking-free call on the pool: it must print, then exit.
  const mod = new URL('../../src/native/fs.js', import.meta.url).href;
  const script = `import(${JSON.stringify(mod)}).then((f) => f.fsync(1).catch(() => 0).then(() => setTimeout(() => f.statx(-100, '/', 0).then(() => console.log('done')), 10)))`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'done');
});

test('constants agree with Node\'s own (fs.constants, os.constants) wherever Node has them', (t) => {
  const ours = f as unknown as Record<string, unknown>;
  const theirs: Record<string, number> = { ...nodefs.constants };
  let compared = 0;
  for (const [k, v] of Object.entries(theirs)) {
    if (!/^(O_|S_I|F_OK|R_OK|W_OK|X_OK)/.test(k) || ours[k] === undefined) continue;
    t.is(ours[k], v, k);
    compared++;
  }
  t.true(compared >= 25, `compared ${compared}`);
});

test('worker threads: each env gets its own completion port; terminating one (calls in flight) harms no other', (t) => {
  // In a child: a worker that was the addon's only user used to unload it under the pool threads.
  const mod = new URL('../../src/native/fs.js', import.meta.url).href;
  const worker = `import(${JSON.stringify(mod)}).then(async (f) => {
    const st = await f.statx(-100, '/', 0);
    for (let i = 0; i < 100; i++) f.statx(-100, '/', 0).catch(() => 0);
    (await import('node:worker_threads')).parentPort.postMessage(Number(st.ino));
  })`;
  const script = `
    import { Worker } from 'node:worker_threads';
    for (let round = 0; round < 4; round++) {
      const w = new Worker(${JSON.stringify(worker)}, { eval: true });
      await new Promise((r) => w.once('message', r));
      await w.terminate();
    }
    const f = await import(${JSON.stringify(mod)});
    await Promise.all(Array.from({ length: 64 }, () => f.statx(-100, '/', 0)));
    console.log('ok');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.is(r.status, 0, `${r.signal ?? ''} ${r.stderr}`);
  t.is(r.stdout.trim(), 'ok');
});
