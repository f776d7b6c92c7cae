/**
 * fstest (fixtures/guest/fstest) in a real QEMU guest whose share is a CephFS directory: the same
 * POSIX checks as posix.test.ts, with our daemon exporting a directory on the ceph-fuse mount of the
 * one-machine cluster (scripts/ceph-cluster.sh) with --inode-file-handles=mandatory.
 *
 *  1. start virtiofsd-ts --xattr --inode-file-handles=mandatory on a fresh CephFS directory
 *  2. boot a guest that mounts it and runs every fstest group; every check must say ok, except the
 *     ones CephFS itself refuses (CEPH_REFUSES below, each with the errno the guest must get and why),
 *     which must fail in exactly that way: with the host's errno, not EIO, and leaving nothing behind
 *  3. from the host (the ceph-fuse mount), look at what the guest left: owners, xattrs, links, times,
 *     the 10,000 files, the statfs numbers, the inode numbers (Ceph's, above 2^32)
 *
 * Run with `VFS_CEPH=1 npx ava dist/test/e2e/ceph-posix.test.js` (mandatory under CI).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../../src/native/fs.js';
import { cephTest } from '../helpers/ceph-test.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { requireQemu } from '../helpers/e2e.js';
import { parseFstest, runFstestGuest } from './posix-fstest.js';

/** Every check fstest prints (as in posix.test.ts); a check that never reports is a failure too. */
const CHECKS = [
  'create_write_read', 'pwrite_pread', 'append', 'open_trunc', 'rename', 'renameat2_noreplace', 'renameat2_exchange',
  'link', 'symlink_readlink', 'unlink', 'mkdir_rmdir', 'mknod_fifo', 'err_enoent', 'err_eexist', 'err_enametoolong',
  'err_eloop', 'err_enotdir_eisdir', 'fsync',
  'truncate_ftruncate', 'fallocate', 'lseek_data_hole', 'copy_file_range', 'statfs', 'o_tmpfile', 'mmap_shared',
  'chmod', 'chown_root', 'utimensat', 'nonroot_eacces', 'nonroot_eperm_root_file', 'nonroot_create_owner', 'nonroot_setgid_dir',
  'xattr',
  'fcntl_lock_posix', 'fcntl_lock_shared', 'fcntl_lock_close_releases', 'fcntl_lock_ofd', 'fcntl_lock_ofd_close_releases', 'flock',
  'readdir_10000',
];

/**
 * Checks CephFS cannot pass, by what ceph-fuse itself answers (test/integration/ceph-cluster.test.ts
 * shows each on the host, without our daemon). Each must fail exactly so: `line` matches the
 * "not ok" line (the errno the guest got), or, for a check that reports a refusal as info, `info`
 * matches its info line. Anything else, including EIO, fails the test.
 */
const CEPH_REFUSES: Record<string, { why: string; line?: RegExp; info?: Record<string, string> }> = {
  renameat2_noreplace: {
    why: 'ceph-fuse has no renameat2 flags: RENAME_NOREPLACE to a free name is refused with EINVAL (the refusal onto an existing name, EEXIST, comes from the guest VFS and passes)',
    line: /\(EINVAL\)/,
  },
  renameat2_exchange: {
    why: 'ceph-fuse has no renameat2 flags: RENAME_EXCHANGE is refused with EINVAL',
    line: /\(EINVAL\)/,
  },
  fallocate: {
    why: 'CephFS reports st_blocks as the size in 512-byte units, not the space allocated, so a punched hole frees no blocks in stat (the range does read back as zeros: checked from the host below)',
    line: /blocks (\d+) -> \1: the punch freed nothing/,
  },
  lseek_data_hole: {
    why: 'ceph-fuse does not track holes: SEEK_HOLE answers the end of the file (the generic "all data" answer POSIX allows); the host\'s own lseek says the same (checked below)',
    line: /SEEK_HOLE from 0 = \d+, want 4096/,
  },
  o_tmpfile: {
    why: 'ceph-fuse has no O_TMPFILE: open answers EOPNOTSUPP, which fstest reports as "info o_tmpfile skipped=EOPNOTSUPP"',
    info: { skipped: 'EOPNOTSUPP' },
  },
};

cephTest('fstest in a QEMU guest on a CephFS share: every POSIX check passes but those CephFS refuses, which fail with its errno', async (t, share) => {
  if (!requireQemu(t)) return;
  t.timeout(400_000);
  const started = Date.now();
  fs.chmodSync(share, 0o755);
  const d = await spawnDaemon({ sharedDir: share, args: ['--xattr', '--inode-file-handles=mandatory'] });
  const { r, why, seconds } = await runFstestGuest(d, { after: ['ls -i /mnt/fstest/link-a'], timeoutMs: 360_000 });
  t.true(r.bootOk, why());
  if (seconds !== undefined) t.log(`fstest ran ${seconds.toFixed(1)} s in the guest (boot ${r.bootMs} ms, QEMU total ${r.durationMs} ms)`);

  // 2. every check, by name
  const rep = parseFstest(r.console);
  for (const name of CHECKS) {
    const refused = CEPH_REFUSES[name];
    const line = rep.notOk.get(name);
    if (refused?.line !== undefined) {
      t.truthy(line, `${name}: expected to fail on CephFS (${refused.why}), but it ${rep.ok.includes(name) ? 'passed: remove it from CEPH_REFUSES' : 'never reported'}`);
      if (line !== undefined) {
        t.regex(line, refused.line, `${name}: ${refused.why}`);
        t.log(`expected failure on CephFS: ${line} -- ${refused.why}`);
      }
      continue;
    }
    t.true(rep.ok.includes(name), line ?? `check ${name} never reported\n${why()}`);
    if (refused?.info !== undefined) {
      t.like(rep.info.get(name) ?? {}, refused.info, `${name}: ${refused.why}`);
      t.log(`refused on CephFS as expected: ${name} ${JSON.stringify(rep.info.get(name))} -- ${refused.why}`);
    }
  }
  const unexpected = [...rep.ok, ...rep.notOk.keys()].filter((n) => !CHECKS.includes(n));
  t.deepEqual(unexpected, [], 'fstest printed checks this test does not know');
  const failing = Object.values(CEPH_REFUSES).some((x) => x.line !== undefined);
  t.is(r.exitCode, failing ? 1 : 0, `fstest exits 1 exactly when (only expected) checks fail\n${why()}`);
  for (const [name, kv] of rep.info) t.log(`info ${name}: ${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  t.notRegex(d.log(), / ERROR /, 'no error line in the daemon log');

  // 3. what the host sees
  const F = (p: string) => path.join(share, 'fstest', p);
  const owner = (p: string) => {
    const st = fs.lstatSync(F(p));
    return `${st.uid}:${st.gid}`;
  };
  t.is(owner('open-0777/by-1000'), '1000:1000', 'the non-root guest user created a file owned 1000:1000 on CephFS');
  t.false(fs.existsSync(F('root-0755/by-1000')), 'EACCES left nothing behind');
  t.is(owner('sgid-dir/file'), '1000:2000', 'a file created in a setgid directory took its group');
  t.is(owner('chown'), '1234:5678', "root's chown reached CephFS");
  const getfattr = (name: string) => execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, F('xattr')], { encoding: 'utf8' });
  t.is(getfattr('user.fstest.keep'), 'kept-by-guest', 'the host reads the xattr the guest set');
  t.true(fs.lstatSync(F('fifo')).isFIFO(), 'the guest mknod made a FIFO on CephFS');
  const a = fs.statSync(F('link-a'), { bigint: true });
  t.is(a.ino, fs.statSync(F('link-b'), { bigint: true }).ino, 'the hard link is one inode');
  t.true(a.ino > 2n ** 32n, `a Ceph inode number (${a.ino})`);
  t.regex(r.console, new RegExp(`^${a.ino}\\s+/mnt/fstest/link-a$`, 'm'), 'the guest sees the same (64-bit) inode number as the host');
  t.is(fs.readlinkSync(F('symlink')), 'symlink-target');
  // The refused renames moved nothing.
  t.is(fs.readFileSync(F('nr-src'), 'utf8'), 'src', 'the refused RENAME_NOREPLACE left its source');
  t.is(fs.readFileSync(F('nr-dst'), 'utf8'), 'dst', 'and its target');
  t.false(fs.existsSync(F('nr-new')));
  t.is(fs.readFileSync(F('xchg-a'), 'utf8'), 'A-content', 'the refused RENAME_EXCHANGE swapped nothing');
  t.is(fs.readFileSync(F('xchg-b'), 'utf8'), 'B-content');
  t.false(fs.existsSync(F('tmpfile-named')), 'no O_TMPFILE file');

  const times = fs.statSync(F('times'), { bigint: true });
  t.is(times.mtimeNs, 1_200_000_000_500_000_000n, 'explicit mtime, to the nanosecond');
  const falloc = fs.readFileSync(F('falloc'));
  t.is(falloc.length, 1 << 20);
  t.true(falloc.subarray(256 << 10, 512 << 10).every((x) => x === 0), 'the punched range reads as zeros on the host');
  t.true(falloc.subarray(0, 256 << 10).every((x) => x === 0xa5) && falloc.subarray(512 << 10).every((x) => x === 0xa5), 'the data around the hole is intact');
  t.is(fs.statSync(F('cfr-dst')).size, 401_000);

  const big = fs.readdirSync(F('big'));
  t.is(big.length, 10_000, 'the 10,000 files exist on CephFS');
  t.is(fs.statSync(F('big')).size, 10_000, "the directory's size is its entry count");

  // What the guest's SEEK_HOLE got is what ceph-fuse answers on the host.
  const sparseFd = fs.openSync(F('sparse'), 'r');
  try {
    const hostHole = await native.lseek(sparseFd, 0, native.SEEK_HOLE);
    t.is(hostHole, BigInt(fs.fstatSync(sparseFd).size), 'ceph-fuse: the only hole is at the end of the file');
    t.regex(rep.notOk.get('lseek_data_hole') ?? '', new RegExp(`SEEK_HOLE from 0 = ${hostHole},`), 'the guest got the host\'s answer');
  } finally {
    fs.closeSync(sparseFd);
  }

  const sf = rep.info.get('statfs');
  const host = fs.statfsSync(share);
  t.is(Number(sf?.bsize), host.bsize, 'statfs f_bsize as on the host (4 MiB)');
  // f_files counts the inodes of the whole CephFS, so it moves with
  // every file anyone creates (fstest's own 10,000 among them) and is not compared.
  // f_blocks (used + available, from the OSDs) drifts by a few blocks as BlueStore's overhead changes.
  t.true(Math.abs(Number(sf?.blocks) - host.blocks) <= host.blocks / 100, `statfs f_blocks ${sf?.blocks} as on the host (${host.blocks}), within 1%`);
  t.is(Number(sf?.namelen), 255);
  t.log(`CephFS fstest: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
