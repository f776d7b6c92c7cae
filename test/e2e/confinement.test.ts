/**
 * Escape attempts from INSIDE a real guest against a share that sits next to a canary directory:
 *
 *   HOSTTMP/share           the shared directory, holding host-made symlinks that point out of it
 *   HOSTTMP/canary/secret   a marker the guest must never see or change
 *   HOSTTMP/outside.txt     another marker, outside the share, named by an absolute symlink
 *
 * Each test (one per attempt):
 *  1. builds that layout, snapshots everything under HOSTTMP but the share (names, sizes, modes, link
 *     counts, inode numbers, atime/mtime/ctime: the markers' atime is old, so even a read shows)
 *  2. starts our daemon, boots a guest that mounts the share and runs the attempt with `fstest try`
 *     (one "try OP ARG: RESULT" line each, RESULT "ok …" or an errno name)
 *  3. asserts each result, that no marker appears on the guest console, and that the snapshot is
 *     unchanged
 *
 * Why symlinks cannot lead out: the guest kernel resolves every symlink itself, in the guest's own
 * namespace (a relative target against the guest directory holding the link, an absolute one from the
 * guest's root); the daemon only ever receives single names under node ids it handed out, and never
 * follows a symlink on the host.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { e2eTest } from '../helpers/e2e.js';
import { runGuest, type GuestResult } from '../helpers/qemu.js';
import { spawnDaemon } from '../helpers/daemon-process.js';
import { tmpDir } from '../helpers/daemon.js';
import { GUEST_FSTEST, fstestFile, snapshotTree, type TreeEntry } from './posix-fstest.js';

/** The guest's own /etc/passwd, to tell it apart from the host's. */
const GUEST_PASSWD = 'guestonly:x:4242:4242:the guest passwd:/:/bin/sh\n';
/** An old time for the markers: relatime then updates atime on any read, so the snapshot shows reads. */
const OLD = new Date('2001-02-03T04:05:06Z');

interface Layout {
  hostTmp: string;
  share: string;
  canary: string;
  secret: string;
  outsideMarker: string;
  before: Record<string, TreeEntry>;
}

function layout(): Layout {
  const hostTmp = tmpDir('vfs-confine-');
  const share = path.join(hostTmp, 'share');
  const canary = path.join(hostTmp, 'canary');
  fs.mkdirSync(share, { mode: 0o755 });
  fs.mkdirSync(path.join(canary, 'sub'), { recursive: true });
  const secret = `CANARY-${randomBytes(8).toString('hex')}`;
  const outsideMarker = `OUTSIDE-${randomBytes(8).toString('hex')}`;
  for (const [p, text] of [
    [path.join(canary, 'secret'), `${secret}\n`],
    [path.join(canary, 'sub/deeper.txt'), `${secret}-deeper\n`],
    [path.join(hostTmp, 'outside.txt'), `${outsideMarker}\n`],
  ] as const) {
    fs.writeFileSync(p, text);
    fs.utimesSync(p, OLD, OLD);
  }
  fs.writeFileSync(path.join(share, 'inside.txt'), 'inside the share\n');
  fs.mkdirSync(path.join(share, 'dir'));
  fs.symlinkSync('../canary/secret', path.join(share, 'up-secret'));
  fs.symlinkSync('../'.repeat(12) + 'canary/secret', path.join(share, 'up-deep'));
  fs.symlinkSync(path.join(hostTmp, 'outside.txt'), path.join(share, 'abs-outside'));
  fs.symlinkSync('/etc/passwd', path.join(share, 'abs-passwd'));
  fs.symlinkSync('../canary', path.join(share, 'link-to-canary'));
  fs.symlinkSync(canary, path.join(share, 'abs-link-to-canary'));
  // Read the directories once: relatime stamps their atime now, so our own later walk changes nothing.
  snapshotTree(hostTmp, new Set(['share']));
  return { hostTmp, share, canary, secret, outsideMarker, before: snapshotTree(hostTmp, new Set(['share'])) };
}

/** Runs `lines` in a guest that has mounted the share at /mnt; the result, checked for the basics. */
async function attempt(t: ExecutionContext, l: Layout, lines: string[], extraFiles: { guestPath: string; content: string }[] = []): Promise<GuestResult> {
  const d = await spawnDaemon({ sharedDir: l.share });
  const script = ['mount -t virtiofs myfs /mnt || exit 10', ...lines, 'umount /mnt || exit 11', 'echo ATTEMPT-DONE'].join('\n');
  const r = await runGuest({
    script,
    extraFiles: [await fstestFile(), ...extraFiles],
    fs: [{ socket: d.socketPath, tag: 'myfs' }],
    timeoutMs: 120_000,
  });
  await d.stop();
  t.is(r.exitCode, 0, r.summary + '\n--- daemon log tail ---\n' + d.log().slice(-3000));
  t.true(r.console.includes('ATTEMPT-DONE'), r.summary);
  t.false(r.console.includes(l.secret), 'the canary secret appeared in the guest');
  t.false(r.console.includes(l.outsideMarker), 'the outside marker appeared in the guest');
  t.deepEqual(snapshotTree(l.hostTmp, new Set(['share'])), l.before, 'nothing outside the share changed (names, sizes, times, links)');
  return r;
}

/** The RESULT of the "try OP ARG" line for `probe` ("read /mnt/x"), the n-th time it was printed. */
function result(r: GuestResult, probe: string, n = 0): string {
  const lines = r.console.split('\n').filter((s) => s.startsWith(`try ${probe}: `));
  return lines[n]?.slice(`try ${probe}: `.length) ?? `(no "try ${probe}" line)`;
}

const T = (probe: string) => `${GUEST_FSTEST} try ${probe}`;

e2eTest('escape by a host-made symlink to ../canary/secret: resolved in the guest, never reaches the canary', async (t) => {
  const l = layout();
  const r = await attempt(t, l, [
    T('readlink /mnt/up-secret'),
    T('read /mnt/up-secret'),
    T('read /mnt/up-deep'),
    T('read /mnt/dir/../up-secret'),
    T('read /mnt/link-to-canary/secret'),
    // The proof that the guest resolves it: give the guest a /canary of its own.
    'mkdir -p /canary && echo GUEST-OWN-CANARY > /canary/secret',
    T('read /mnt/up-secret'),
  ]);
  t.is(result(r, 'readlink /mnt/up-secret'), 'ok target=../canary/secret', 'the target is passed on unchanged');
  t.is(result(r, 'read /mnt/up-secret'), 'ENOENT', '../canary from /mnt is /canary in the guest, which does not exist');
  t.is(result(r, 'read /mnt/up-deep'), 'ENOENT');
  t.is(result(r, 'read /mnt/dir/../up-secret'), 'ENOENT');
  t.is(result(r, 'read /mnt/link-to-canary/secret'), 'ENOENT');
  t.is(result(r, 'read /mnt/up-secret', 1), 'ok content=GUEST-OWN-CANARY\\x0a', "with a /canary in the guest, the link reads the guest's file");
});

e2eTest("escape by absolute symlinks to the host's /etc/passwd and to a host file outside the share: the guest reads its own files or nothing", async (t) => {
  const l = layout();
  const hostPasswd = fs.readFileSync('/etc/passwd', 'utf8').split('\n')[0]!;
  const r = await attempt(
    t,
    l,
    [T('readlink /mnt/abs-passwd'), T('read /mnt/abs-passwd'), 'cat /mnt/abs-passwd', T('readlink /mnt/abs-outside'), T('read /mnt/abs-outside'), 'cat /mnt/abs-outside; true'],
    [{ guestPath: '/etc/passwd', content: GUEST_PASSWD }],
  );
  t.is(result(r, 'readlink /mnt/abs-passwd'), 'ok target=/etc/passwd');
  t.is(result(r, 'read /mnt/abs-passwd'), `ok content=${GUEST_PASSWD.replace('\n', '\\x0a')}`, "the guest's own /etc/passwd");
  t.false(r.console.includes(hostPasswd), "the host's /etc/passwd never shows");
  t.is(result(r, 'readlink /mnt/abs-outside'), `ok target=${path.join(l.hostTmp, 'outside.txt')}`);
  t.is(result(r, 'read /mnt/abs-outside'), 'ENOENT', 'the host path does not exist in the guest');
});

e2eTest('escape by cd /mnt/..: the guest stays in its own root', async (t) => {
  const l = layout();
  const r = await attempt(t, l, [
    T('chdir-ls /mnt/..'),
    T('chdir-ls /mnt/../..'),
    T('chdir-ls /mnt/dir/../..'),
    T('ls /mnt/dir/..'),
    T('stat /mnt/..'),
    T('stat /'),
    'cd /mnt/.. && echo "shell-pwd $(pwd)" && ls',
  ]);
  for (const probe of ['chdir-ls /mnt/..', 'chdir-ls /mnt/../..', 'chdir-ls /mnt/dir/../..']) {
    const res = result(r, probe);
    t.regex(res, /^ok cwd=\/ names=/, probe);
    const names = res.replace(/^ok cwd=\/ names=/, '').split('/');
    t.true(names.includes('init') && names.includes('test.sh') && names.includes('mnt'), `${probe}: the guest's root (${res})`);
    t.false(names.includes('canary') || names.includes('share') || names.includes('outside.txt'), `${probe}: not HOSTTMP (${res})`);
  }
  const parentOfShareDir = result(r, 'ls /mnt/dir/..').split('names=')[1]?.split('/') ?? [];
  t.true(parentOfShareDir.includes('inside.txt') && !parentOfShareDir.includes('canary'), '/mnt/dir/.. is the share root');
  t.is(result(r, 'stat /mnt/..'), result(r, 'stat /'), '/mnt/.. is the guest root (same device and inode)');
  t.regex(r.console, /^shell-pwd \/$/m);
});

e2eTest('escape by creating through a symlinked directory that points outside (mkdir /mnt/link-to-canary/x): nothing appears in the canary', async (t) => {
  const l = layout();
  const guestAbs = path.join(l.hostTmp, 'canary');
  const r = await attempt(t, l, [
    T('mkdir /mnt/link-to-canary/x'),
    T('create /mnt/link-to-canary/y'),
    T('write /mnt/link-to-canary/secret'),
    T('mkdir /mnt/abs-link-to-canary/x'),
    T('rename /mnt/inside.txt /mnt/link-to-canary/moved'),
    // Links the guest makes itself, relative and absolute.
    'ln -s ../canary /mnt/guest-link-to-canary',
    `ln -s ${guestAbs} /mnt/guest-abs-link`,
    T('mkdir /mnt/guest-link-to-canary/x'),
    T('create /mnt/guest-abs-link/z'),
    // With a /canary in the guest, the same mkdir lands there: in the guest.
    'mkdir /canary',
    T('mkdir /mnt/link-to-canary/x'),
    'ls /canary | sed "s/^/guest-canary: /"',
  ]);
  for (const probe of ['mkdir /mnt/link-to-canary/x', 'create /mnt/link-to-canary/y', 'write /mnt/link-to-canary/secret', 'mkdir /mnt/abs-link-to-canary/x',
    'rename /mnt/inside.txt /mnt/link-to-canary/moved', 'mkdir /mnt/guest-link-to-canary/x', 'create /mnt/guest-abs-link/z']) {
    t.is(result(r, probe), 'ENOENT', probe);
  }
  t.is(result(r, 'mkdir /mnt/link-to-canary/x', 1), 'ok');
  t.regex(r.console, /^guest-canary: x$/m, 'the directory was made in the guest');
  t.true(fs.existsSync(path.join(l.share, 'inside.txt')), 'the refused rename left the file in place');
  // The guest's own links reach the host as plain symlinks, targets as written (the daemon follows none).
  t.is(fs.readlinkSync(path.join(l.share, 'guest-link-to-canary')), '../canary');
  t.is(fs.readlinkSync(path.join(l.share, 'guest-abs-link')), guestAbs);
});

/**
 * Why a hard link out of the share cannot be made from the guest:
 *  - the guest kernel refuses link(2)/linkat(2) and rename(2) between two mounts with EXDEV before
 *    anything reaches the daemon, /proc/self/fd tricks included (the source is still on the other mount);
 *  - FUSE_LINK names its source by node id, and node ids exist only for inodes the daemon found under
 *    the shared directory (single-name lookups, no symlink followed, ".." kept inside), so even a
 *    hostile guest kernel cannot name a host inode outside;
 *  - link(2) of a symlink links the symlink itself, which stays a symlink the guest resolves.
 */
e2eTest('escape by a hard link from the share to a path outside: EXDEV in the guest, nothing linked on the host', async (t) => {
  const l = layout();
  const r = await attempt(t, l, [
    T('link /mnt/inside.txt /tmp/hl'),
    T('link /etc/hostname /mnt/hl'),
    T('link-proc /etc/hostname /mnt/hl2'),
    T('rename /etc/hostname /mnt/moved'),
    T('link /mnt/up-secret /mnt/hl3'),
    T('read /mnt/hl3'),
    T('link-proc /mnt/up-secret /mnt/hl4'),
  ], [{ guestPath: '/etc/hostname', content: 'guest\n' }]);
  t.is(result(r, 'link /mnt/inside.txt /tmp/hl'), 'EXDEV');
  t.is(result(r, 'link /etc/hostname /mnt/hl'), 'EXDEV');
  t.is(result(r, 'link-proc /etc/hostname /mnt/hl2'), 'EXDEV');
  t.is(result(r, 'rename /etc/hostname /mnt/moved'), 'EXDEV');
  t.is(result(r, 'link /mnt/up-secret /mnt/hl3'), 'ok', 'link(2) of a symlink links the symlink itself');
  t.is(result(r, 'read /mnt/hl3'), 'ENOENT', 'and the new name still resolves in the guest');
  t.is(result(r, 'link-proc /mnt/up-secret /mnt/hl4'), 'ENOENT');
  const hl3 = fs.lstatSync(path.join(l.share, 'hl3'));
  t.true(hl3.isSymbolicLink(), 'on the host hl3 is the symlink, not the canary file');
  t.is(hl3.ino, fs.lstatSync(path.join(l.share, 'up-secret')).ino);
  for (const n of ['hl', 'hl2', 'moved', 'hl4']) t.false(fs.existsSync(path.join(l.share, n)), `${n} was not created`);
  t.is(fs.statSync(path.join(l.canary, 'secret')).nlink, 1, 'the secret has no second name anywhere');
});

e2eTest('escape by forged file handles (open_by_handle_at with made-up node ids): only inodes inside the share open', async (t) => {
  const l = layout();
  const outsideInos = Object.values(l.before).map((e) => e.ino);
  // Node ids are a counter the daemon starts at 1; the outside inode numbers are tried too, in case
  // a daemon used host inode numbers as node ids.
  const ids = ['1-3000', ...outsideInos, '0xfffffffffffffffe'].join(',');
  const r = await attempt(t, l, [
    'ls -laR /mnt >/dev/null; cat /mnt/inside.txt >/dev/null',
    `${GUEST_FSTEST} handles /mnt ${ids}`,
    'echo 2 > /proc/sys/vm/drop_caches',
    `${GUEST_FSTEST} handles /mnt ${ids}`,
  ]);
  t.regex(r.console, /^handles: root handle type=0x81 bytes=12 nodeid=1 gen=0$/m, 'forgeries have the shape of a real FUSE handle');
  const insideInos = new Set<string>([String(fs.statSync(l.share).ino)]);
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      const st = fs.lstatSync(p);
      insideInos.add(String(st.ino));
      if (st.isDirectory()) walk(p);
    }
  };
  walk(l.share);
  const opened = [...r.console.matchAll(/^handles: nodeid (\d+) opens ino=(\d+) .*$/gm)];
  t.true(opened.length >= 1, 'some forged handles open (the root at least): the probe works');
  for (const m of opened) t.true(insideInos.has(m[2]!), `a forged handle opened an inode outside the share: ${m[0]}`);
  const summaries = [...r.console.matchAll(/^handles: tried=(\d+) opened=(\d+) errors=(.*)$/gm)];
  t.is(summaries.length, 2, r.summary);
  for (const s of summaries) t.log(s[0]);
});
