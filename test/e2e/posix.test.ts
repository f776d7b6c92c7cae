/**
 * POSIX behaviour of our daemon as a real Linux guest sees it (issue 4 acceptance, e2e part).
 *  1. start virtiofsd-ts --xattr on a fresh share (mode 0755, so a non-root guest user can enter it)
 *  2. boot a QEMU 10 guest that mounts the share and runs fstest (fixtures/guest/fstest) on it: one
 *     `ok NAME` line per check; every expected check must say ok and the program must exit 0
 *  3. from the host, look at what the guest left behind: owners (root's chown, uid 1000's file, the
 *     setgid directory's group), the xattr, the FIFO, links, times, the O_TMPFILE file, 10,000 files,
 *     and the statfs numbers the guest saw against the host's own
 *
 * VFS_POSIX_PEER=virtiofsd-rust (or virtiofsd-c) runs the same test against a peer daemon fetched by
 * scripts/fetch-peers.sh instead of ours, to tell a guest-kit or fstest problem from a daemon bug.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { e2eTest } from '../helpers/e2e.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { peerBinary, type PeerName } from '../helpers/peers.js';
import { parseFstest, runFstestGuest } from './posix-fstest.js';

/** Every check fstest prints, by group; a check that never reports is a failure too. */
const CHECKS = [
  // files
  'create_write_read', 'pwrite_pread', 'append', 'open_trunc', 'rename', 'renameat2_noreplace', 'renameat2_exchange',
  'link', 'symlink_readlink', 'unlink', 'mkdir_rmdir', 'mknod_fifo', 'err_enoent', 'err_eexist', 'err_enametoolong',
  'err_eloop', 'err_enotdir_eisdir', 'fsync',
  // space
  'truncate_ftruncate', 'fallocate', 'lseek_data_hole', 'copy_file_range', 'statfs', 'o_tmpfile', 'mmap_shared',
  // perm
  'chmod', 'chown_root', 'utimensat', 'nonroot_eacces', 'nonroot_eperm_root_file', 'nonroot_create_owner', 'nonroot_setgid_dir',
  // xattr
  'xattr',
  // locks
  'fcntl_lock_posix', 'fcntl_lock_shared', 'fcntl_lock_close_releases', 'fcntl_lock_ofd', 'fcntl_lock_ofd_close_releases', 'flock',
  // dir
  'readdir_10000',
];

/**
 * Checks that fail because of a daemon bug owned elsewhere: name -> the bug, as reported. Such a
 * check is logged as KNOWN BUG instead of failing this test; remove the entry once the bug is fixed.
 */
const KNOWN_BUGS: Record<string, string> = {};

const peer = process.env.VFS_POSIX_PEER as PeerName | undefined;

/** The daemon under test: ours with --xattr, or the peer named by VFS_POSIX_PEER with xattrs on. */
function daemonCommand(): string[] | undefined {
  if (peer === undefined) return undefined;
  const bin = peerBinary(peer);
  if (bin === null) throw new Error(`VFS_POSIX_PEER=${peer}: not fetched (run scripts/fetch-peers.sh)`);
  return peer === 'virtiofsd-c'
    ? [bin, '--socket-path={socket}', '-o', 'source={dir}', '-o', 'xattr', '-o', 'cache=auto']
    : [bin, '--socket-path={socket}', '--shared-dir={dir}', '--sandbox=none', '--xattr', '--cache=auto'];
}

e2eTest(`fstest in a QEMU guest: every POSIX check passes on ${peer ?? 'our daemon'}, and the host sees what the guest did`, async (t) => {
  t.timeout(290_000);
  const share = tmpDir('vfs-posix-');
  fs.chmodSync(share, 0o755);
  const command = daemonCommand();
  const d = await spawnDaemon({ sharedDir: share, ...(command ? { command } : { args: ['--xattr'] }) });
  const { r, why, seconds } = await runFstestGuest(d, { timeoutMs: 270_000 });
  t.true(r.bootOk, why());
  if (seconds !== undefined) t.log(`fstest ran ${seconds.toFixed(1)} s in the guest (boot ${r.bootMs} ms, QEMU total ${r.durationMs} ms)`);

  // 2. every check, by name
  const rep = parseFstest(r.console);
  let knownFailures = 0;
  for (const name of CHECKS) {
    const line = rep.notOk.get(name);
    if (line !== undefined && peer === undefined && KNOWN_BUGS[name] !== undefined) {
      t.log(`KNOWN BUG: ${line} -- ${KNOWN_BUGS[name]}`);
      knownFailures++;
      continue;
    }
    t.true(rep.ok.includes(name), line ?? `check ${name} never reported\n${why()}`);
  }
  const unexpected = [...rep.ok, ...rep.notOk.keys()].filter((n) => !CHECKS.includes(n));
  t.deepEqual(unexpected, [], 'fstest printed checks this test does not know');
  if (knownFailures === 0) t.is(r.exitCode, 0, why());
  else t.is(r.exitCode, 1, 'fstest exits 1 when (only known-bug) checks fail');
  for (const [name, kv] of rep.info) t.log(`info ${name}: ${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' ')}`);

  // 3. what the host sees
  const F = (p: string) => path.join(share, 'fstest', p);
  const owner = (p: string) => {
    const st = fs.lstatSync(F(p));
    return `${st.uid}:${st.gid}`;
  };
  if (rep.ok.includes('nonroot_create_owner')) {
    t.is(owner('open-0777/by-1000'), '1000:1000', 'the non-root guest user created a file owned 1000:1000 on the host');
    t.is(fs.readFileSync(F('open-0777/by-1000'), 'utf8'), 'by uid 1000\n');
  }
  t.false(fs.existsSync(F('root-0755/by-1000')), 'EACCES left nothing behind');
  if (rep.ok.includes('nonroot_setgid_dir')) {
    t.is(owner('sgid-dir/file'), '1000:2000', 'a file created in a setgid directory took its group');
    t.true((fs.statSync(F('sgid-dir/subdir')).mode & 0o2000) !== 0, 'a subdirectory took the setgid bit');
  }
  if (rep.ok.includes('chown_root')) t.is(owner('chown'), '1234:5678', "root's chown reached the host");

  if (rep.ok.includes('xattr')) {
    const getfattr = (name: string) => execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', name, F('xattr')], { encoding: 'utf8' });
    t.is(getfattr('user.fstest.keep'), 'kept-by-guest', 'getfattr on the host reads the xattr the guest set');
    t.is(getfattr('user.fstest'), 'value2');
    const dump = execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', F('xattr')], { encoding: 'utf8' });
    t.false(dump.includes('user.fstest.bin'), 'the removed xattr is gone on the host');
  }

  const fifo = fs.lstatSync(F('fifo'));
  t.true(fifo.isFIFO(), 'the guest mknod made a FIFO on the host');
  t.is(fifo.mode & 0o7777, 0o640);

  const a = fs.statSync(F('link-a'));
  const b = fs.statSync(F('link-b'));
  t.is(a.ino, b.ino, 'the hard link is one inode on the host');
  t.is(a.nlink, 2);
  t.is(fs.readlinkSync(F('symlink')), 'symlink-target');
  t.is(fs.readFileSync(F('xchg-a'), 'utf8'), 'B-content', 'RENAME_EXCHANGE swapped the files on the host');
  t.is(fs.readFileSync(F('xchg-b'), 'utf8'), 'A-content');
  t.is(fs.readFileSync(F('nr-dst'), 'utf8'), 'dst', 'RENAME_NOREPLACE left the target alone');
  t.true(fs.lstatSync(F('n'.repeat(255))).isFile(), 'a 255-byte name works');

  const times = fs.statSync(F('times'), { bigint: true });
  t.is(times.mtimeNs, 1_200_000_000_500_000_000n, 'explicit mtime, to the nanosecond');
  t.is(times.atimeNs, 1_000_000_000_123_456_789n, 'explicit atime, to the nanosecond');
  t.is(fs.lstatSync(F('times-link'), { bigint: true }).mtimeNs, 1_100_000_000_000_000_000n, "the symlink's own mtime");

  if (rep.info.get('o_tmpfile')?.skipped === undefined) {
    t.is(fs.readFileSync(F('tmpfile-named'), 'utf8'), 'tmpdata', 'the O_TMPFILE file got its name on the host');
  } else if (peer !== undefined) {
    t.log(`${peer} refuses O_TMPFILE (${rep.info.get('o_tmpfile')?.skipped}) on ${fsType(share)}`);
  } else {
    t.fail(`O_TMPFILE was refused (${rep.info.get('o_tmpfile')?.skipped}) but the share is on ${fsType(share)}, which allows it`);
  }
  const sparse = fs.statSync(F('sparse'));
  t.is(sparse.size, 2 * 1024 * 1024 + 4096);
  t.true(sparse.blocks * 512 < 1024 * 1024, 'the sparse file stayed sparse on the host');
  t.is(fs.statSync(F('falloc')).size, 1 << 20);
  t.is(fs.statSync(F('cfr-dst')).size, 401_000);

  const big = fs.readdirSync(F('big'));
  t.is(big.length, 10_000, 'the 10,000 files exist on the host');
  const names = new Set(big);
  t.true(Array.from({ length: 10_000 }, (_, i) => `f${String(i).padStart(5, '0')}`).every((n) => names.has(n)), 'f00000 … f09999');

  const sf = rep.info.get('statfs');
  if (sf) {
    const host = fs.statfsSync(share);
    t.is(Number(sf.bsize), host.bsize, 'statfs f_bsize as on the host');
    t.is(Number(sf.blocks), host.blocks, 'statfs f_blocks as on the host');
    t.is(Number(sf.files), host.files, 'statfs f_files as on the host');
  } else t.fail('no statfs info line');
});

function fsType(dir: string): string {
  return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
}
