/**
 * Several guests, one CephFS directory (issue 7): what Docker's CephFS volume plugins got wrong.
 * Two QEMU guests, each with its own daemons, each daemon on its own ceph-fuse client of the same
 * CephFS directory (as two hosts would be): guest 1's daemons on the shared test mount, guest 2's on
 * a second ceph-fuse mount. Each guest mounts two shares of that directory: /n from a daemon with
 * --cache=never and /a from one with --cache=auto. The guests run a command loop on their consoles,
 * so the host drives both step by step.
 *
 *  1. boot both guests (at once) and wait until each has mounted /n and /a
 *  2. cache=never: a file guest 1 writes and fsyncs, guest 2 reads at once; an append likewise
 *  3. cache=auto: guest 2 has read (and cached) a file; guest 1 rewrites it longer and fsyncs; after
 *     the 1 s cache timeout guest 2 reads the new content (what it reads before is only logged)
 *  4. locks pass to the host, so they cross guests: for posix, ofd and flock, guest 1 holds a write
 *     lock; guest 2's non-blocking attempt is refused with EAGAIN (EWOULDBLOCK for flock), F_GETLK
 *     reports a write lock, a host process on the second Ceph client is refused too, and guest 2's
 *     blocking attempt waits until guest 1 lets go
 *  5. storms: both guests at once, for a few seconds (bounded loops of busybox sh), create files
 *     under temporary names and rename them into place, unlink seven in eight, rename onto the
 *     same shared names from both sides, and make, rename and remove directories; afterwards each
 *     guest lists the directory through both shares: every listing has no duplicates and no
 *     temporary name and is exactly what both Ceph clients list, which is exactly what the two
 *     loops must have left; every file holds what its creator wrote
 *  6. no error line in any daemon's log
 *
 * Run with `VFS_CEPH=1 npx ava dist/test/e2e/ceph-multiguest.test.js` (mandatory under CI).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { cephCluster, cephMountDir } from '../helpers/ceph.js';
import { cephTest } from '../helpers/ceph-test.js';
import { spawnDaemon, type DaemonProcess } from '../helpers/daemon-process.js';
import { requireQemu } from '../helpers/e2e.js';
import { startGuest, type GuestHandle } from '../helpers/qemu.js';
import { GUEST_FSTEST, fstestFile, hostFstest, parseFstest } from './posix-fstest.js';

const execFileP = promisify(execFile);

/** Each storm loop runs at least this long and at least STORM_MIN iterations (both, unless STORM_LIMIT_SECONDS or STORM_MAX come first). */
const STORM_SECONDS = 5;
/**
 * A rate over a few seconds says little here: the MDS hands capabilities between the two Ceph
 * clients and one hand-over can stall a loop for seconds (CI runs saw 7 to 50 iterations in 5 s).
 * So a loop goes on past STORM_SECONDS until it has STORM_MIN iterations, and the test fails only
 * if STORM_LIMIT_SECONDS pass first.
 */
const STORM_MIN = 10;
const STORM_LIMIT_SECONDS = 60;
/**
 * And at most this many iterations: every name a loop leaves costs the other Ceph client a first
 * stat of ~5 s afterwards (see step 5), and a fast guest would otherwise leave dozens.
 */
const STORM_MAX = 64;
/** How long guest 1 keeps a lock after guest 2 said it is waiting. */
const HOLD_MS = 1500;
/** Longer than --cache=auto's 1 s entry and attribute timeouts. */
const AUTO_TIMEOUT_MS = 1500;

/**
 * A guest's command loop: one line from the console at a time, evaluated, then a newline and
 * "@@ N rc=S" with the line's number. Echo is off, so what the host types never shows up as output; the marker's text is
 * made by the loop, so a command line cannot contain it.
 */
const LOOP = [
  'stty -echo 2>/dev/null',
  'mkdir -p /n /a',
  'mount -t virtiofs never /n || exit 10',
  'mount -t virtiofs auto /a || exit 11',
  'echo "MOUNTED $(cut -d" " -f1 /proc/uptime)"',
  'n=0',
  // The marker starts on a line of its own even after output without a final newline.
  'while [ -z "$quit" ] && read -r line; do n=$((n+1)); eval "$line"; printf \'\\n@@ %s rc=%s\\n\' $n $?; done',
  'umount /n; umount /a',
  'exit 0',
].join('\n');

/** A guest running LOOP, and how to give it commands. */
class Guest {
  private n = 0;
  constructor(
    readonly name: string,
    readonly g: GuestHandle,
  ) {}

  /** Types `cmd` without waiting; returns its line number and where its output starts. */
  send(cmd: string): { n: number; since: number } {
    const since = this.g.console().length;
    this.n++;
    this.g.sendConsole(cmd + '\n');
    return { n: this.n, since };
  }

  /** Waits for command `n` to finish: its exit status and everything it printed. */
  async done(c: { n: number; since: number }, timeoutMs = 60_000): Promise<{ rc: number; out: string }> {
    const m = await this.g.waitForConsole(new RegExp(`^@@ ${c.n} rc=(\\d+)\\n`, 'm'), timeoutMs, c.since);
    // Output ends before the newline the loop put ahead of the marker.
    return { rc: Number(m[1]), out: this.g.console().slice(c.since, m.index - 1) };
  }

  async run(cmd: string, timeoutMs?: number): Promise<{ rc: number; out: string }> {
    return this.done(this.send(cmd), timeoutMs);
  }
}

/** The storm loop for guest K on DIR: see step 5 of the file comment. Prints "STORM-DONE K COUNT SECONDS". */
function stormScript(k: number, dir: string): string {
  const g = `g${k}`;
  return [
    `i=0; t0=$(cut -d. -f1 /proc/uptime); end=$((t0 + ${STORM_SECONDS})); limit=$((t0 + ${STORM_LIMIT_SECONDS}));`,
    `while [ $i -lt ${STORM_MAX} ] && { now=$(cut -d. -f1 /proc/uptime); [ $now -lt $limit ]; } && { [ $i -lt ${STORM_MIN} ] || [ $now -lt $end ]; }; do`,
    `echo "${g} $i" > ${dir}/${g}-$i.tmp || echo "STORM-ERR create $i";`,
    `mv ${dir}/${g}-$i.tmp ${dir}/${g}-$i || echo "STORM-ERR rename $i";`,
    `if [ $((i % 8)) != 0 ]; then rm ${dir}/${g}-$i || echo "STORM-ERR unlink $i"; fi;`,
    `if [ $((i % 5)) = 0 ]; then echo "${g} $i" > ${dir}/${g}-s$i.tmp && mv ${dir}/${g}-s$i.tmp ${dir}/shared-$((i / 5 % 3)) || echo "STORM-ERR shared $i"; fi;`,
    `if [ $((i % 4)) = 0 ]; then mkdir ${dir}/${g}-d && mv ${dir}/${g}-d ${dir}/${g}-d2 && rmdir ${dir}/${g}-d2 || echo "STORM-ERR dir $i"; fi;`,
    `i=$((i + 1)); done; echo "STORM-DONE ${k} $i $(( $(cut -d. -f1 /proc/uptime) - t0 ))"`,
  ].join(' ');
}

/** What the storm loops of guests 1 and 2 must leave, given how many iterations each ran. */
function stormExpected(counts: [number, number]): Set<string> {
  const names = new Set<string>();
  counts.forEach((count, idx) => {
    for (let i = 0; i < count; i++) {
      if (i % 8 === 0) names.add(`g${idx + 1}-${i}`);
      if (i % 5 === 0) names.add(`shared-${Math.floor(i / 5) % 3}`);
    }
  });
  return names;
}

/** Names printed one a line between "BEGIN-LS" and "END-LS". */
function parseListing(out: string): string[] {
  const m = /^BEGIN-LS\n([\s\S]*?)^END-LS$/m.exec(out);
  if (!m) throw new Error(`no listing in:\n${out}`);
  return m[1]!.split('\n').filter((x) => x !== '' && x !== '.' && x !== '..');
}

const duplicates = (names: string[]) => names.filter((x, i) => names.indexOf(x) !== i);

cephTest('two guests, each with its own daemons on its own Ceph client, share one CephFS directory: data, cache timeouts, locks, storms', async (t, dir) => {
  if (!requireQemu(t)) return;
  t.timeout(540_000);
  const started = Date.now();
  const phase = (() => {
    let last = Date.now();
    return (what: string) => {
      const now = Date.now();
      t.log(`${what}: ${((now - last) / 1000).toFixed(1)} s`);
      last = now;
    };
  })();
  fs.chmodSync(dir, 0o755);

  // The second Ceph client (another host, in production).
  const mnt2 = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-ceph-client2-'));
  await cephCluster('mount', mnt2);
  t.teardown(async () => {
    await cephCluster('umount', mnt2);
    fs.rmdirSync(mnt2);
  });
  const dir2 = path.join(mnt2, path.relative(cephMountDir, dir));
  fs.writeFileSync(path.join(dir, 'lockfile'), 'lock me\n');

  const daemons: Record<string, DaemonProcess> = {};
  t.teardown(async () => {
    for (const d of Object.values(daemons)) await d.stop();
  });
  for (const [name, share, cache] of [['1n', dir, 'never'], ['1a', dir, 'auto'], ['2n', dir2, 'never'], ['2a', dir2, 'auto']] as const) {
    // VFS_CEPH_DEBUG=1: debug logs from every daemon, for a failure's post-mortem.
    const debug = process.env.VFS_CEPH_DEBUG === '1' ? ['--log-level=debug'] : [];
    daemons[name] = await spawnDaemon({ sharedDir: share, args: [`--cache=${cache}`, '--xattr', ...debug] });
  }
  const files = [await fstestFile()];
  const boot = (k: 1 | 2) =>
    startGuest({
      script: LOOP,
      extraFiles: files,
      fs: [{ socket: daemons[`${k}n`]!.socketPath, tag: 'never' }, { socket: daemons[`${k}a`]!.socketPath, tag: 'auto' }],
      timeoutMs: 500_000,
      qmp: false,
    });
  const [h1, h2] = await Promise.all([boot(1), boot(2)]);
  t.teardown(async () => {
    await Promise.all([h1.kill(), h2.kill()]);
  });
  const g1 = new Guest('guest 1', h1);
  const g2 = new Guest('guest 2', h2);
  const why = () =>
    ['--- guest 1 console tail ---', h1.console().slice(-2500), '--- guest 2 console tail ---', h2.console().slice(-2500)]
      .concat(Object.entries(daemons).map(([k, d]) => `--- daemon ${k} log tail ---\n${d.log().slice(-1500)}`))
      .join('\n');

  try {
    // 1. both up
    await Promise.all([h1.waitForConsole(/^MOUNTED/m, 240_000), h2.waitForConsole(/^MOUNTED/m, 240_000)]);
    phase('1. both guests booted and mounted /n and /a');

    // 2. --cache=never: written and fsync'd by one, read by the other at once.
    t.is((await g1.run(`printf 'line 1 from guest 1\\n' | dd of=/n/never.txt conv=fsync 2>/dev/null`)).rc, 0);
    t.is((await g2.run('cat /n/never.txt')).out, 'line 1 from guest 1\n', 'cache=never: guest 2 reads what guest 1 wrote');
    t.is((await g1.run(`printf 'line 2 from guest 1\\n' | dd of=/n/never.txt oflag=append conv=notrunc,fsync 2>/dev/null`)).rc, 0);
    t.is((await g2.run('cat /n/never.txt')).out, 'line 1 from guest 1\nline 2 from guest 1\n', 'cache=never: and the append, at once');
    t.is(fs.readFileSync(path.join(dir2, 'never.txt'), 'utf8'), 'line 1 from guest 1\nline 2 from guest 1\n', 'the second Ceph client agrees');
    phase('2. cache=never');

    // 3. --cache=auto: guest 2 caches the old content; after the timeout it reads the new.
    t.is((await g1.run(`printf 'v1\\n' | dd of=/a/auto.txt conv=fsync 2>/dev/null`)).rc, 0);
    t.is((await g2.run('cat /a/auto.txt')).out, 'v1\n', 'cache=auto: guest 2 reads the first version');
    t.is((await g1.run(`printf 'version 2, longer\\n' | dd of=/a/auto.txt conv=fsync 2>/dev/null`)).rc, 0);
    const early = (await g2.run('cat /a/auto.txt')).out;
    t.log(`cache=auto: guest 2 read ${JSON.stringify(early)} right after guest 1's fsync (within the cache timeout either version is allowed)`);
    await sleep(AUTO_TIMEOUT_MS);
    t.is((await g2.run('cat /a/auto.txt')).out, 'version 2, longer\n', 'cache=auto: after the cache timeout guest 2 reads the new content');
    t.is((await g2.run('cat /n/auto.txt')).out, 'version 2, longer\n', 'and through its cache=never share');
    phase('3. cache=auto');

    // 4. locks, guest 1 holding, guest 2 refused and then waiting.
    for (const mode of ['posix', 'ofd', 'flock'] as const) {
      const hold = g1.send(`${GUEST_FSTEST} lockhold /a/lockfile ${mode}`);
      await h1.waitForConsole(/lockhold: (locked|failed.*)/, 30_000, hold.since);
      t.regex(h1.console().slice(hold.since), /lockhold: locked/, `${mode}: guest 1 took the lock`);
      const busy = await g2.run(`${GUEST_FSTEST} trylock /a/lockfile ${mode}`);
      t.regex(busy.out, mode === 'flock' ? /trylock: busy (EAGAIN|EWOULDBLOCK)/ : /trylock: busy EAGAIN/, `${mode}: guest 2's non-blocking attempt`);
      const probe = await hostFstest(['trylock', path.join(dir2, 'lockfile'), mode]);
      t.is(await probe.exited, 1, `${mode}: a host process on the second Ceph client is refused too: ${probe.out()}`);
      const wait = g2.send(`${GUEST_FSTEST} lockwait /a/lockfile ${mode}`);
      await h2.waitForConsole(/lockwait: waiting/, 30_000, wait.since);
      await sleep(HOLD_MS);
      t.notRegex(h2.console().slice(wait.since), /_lock_waited/, `${mode}: guest 2 is still waiting while guest 1 holds the lock`);
      g1.g.sendConsole('release\n');
      t.is((await g1.done(hold)).rc, 0, `${mode}: guest 1's lockhold`);
      const w = await g2.done(wait);
      const rep = parseFstest(w.out);
      for (const check of [`${mode}_lock_refused`, ...(mode === 'flock' ? [] : [`${mode}_getlk_reports_holder`]), `${mode}_lock_waited`]) {
        t.true(rep.ok.includes(check), rep.notOk.get(check) ?? `${check} missing:\n${w.out}`);
      }
      const waited = Number(rep.info.get(`${mode}_lock_waited`)?.waited_ms);
      t.log(`${mode}: guest 2 waited ${waited} ms for guest 1's lock (held ${HOLD_MS} ms after guest 2 started waiting)`);
      t.true(waited >= HOLD_MS - 200 && waited < HOLD_MS + 15_000, `${mode}: waited ${waited} ms`);
      t.is(w.rc, 0, w.out);
    }
    phase('4. locks across guests');

    // 5. storms in both guests at once, on their cache=auto shares.
    fs.mkdirSync(path.join(dir, 'storm'));
    const s1 = g1.send(stormScript(1, '/a/storm'));
    const s2 = g2.send(stormScript(2, '/a/storm'));
    const [r1, r2] = await Promise.all([g1.done(s1, 120_000), g2.done(s2, 120_000)]);
    const done = [r1, r2].map((r, i) => new RegExp(`STORM-DONE ${i + 1} (\\d+) (\\d+)`).exec(r.out));
    const counts = done.map((m) => Number(m?.[1] ?? NaN)) as [number, number];
    const secs = done.map((m) => Number(m?.[2] ?? NaN));
    t.log(`storm: guest 1 ran ${counts[0]} iterations in ${secs[0]} s, guest 2 ${counts[1]} in ${secs[1]} s (at once; at least ${STORM_SECONDS} s and ${STORM_MIN} iterations each)`);
    phase('5. storms');
    t.deepEqual([r1.out, r2.out].join('').split('\n').filter((l) => l.includes('STORM-ERR') || /^(mv|rm|mkdir|rmdir|sh):/.test(l)), [], 'no command of either storm failed');
    t.true(counts.every((c) => c >= STORM_MIN), `each storm ran ${STORM_MIN} iterations within ${STORM_LIMIT_SECONDS} s: ${counts} in ${secs} s`);

    // The first stat from one Ceph client of a file another client just made waits ~5 s in the MDS
    // ("failed to rdlock, waiting"; also with plain shell loops on two ceph-fuse mounts, no daemon
    // involved), so one entry at a time a listing with attributes would take minutes: stat them
    // all at once from both clients first, and log what that cost.
    // Each stat in a process of its own: Node's lstat runs on libuv's 4 threads, so 4 waits at a time.
    const settleStart = Date.now();
    const stats = [dir, dir2].flatMap((base) =>
      fs.readdirSync(path.join(base, 'storm')).map((x) => execFileP('stat', ['--', path.join(base, 'storm', x)]).catch(() => undefined)),
    );
    await Promise.all(stats);
    t.log(`first stat of every storm entry from both Ceph clients (all at once): ${stats.length} entries, ${Date.now() - settleStart} ms`);

    const expected = [...stormExpected(counts)].sort();
    const host1 = fs.readdirSync(path.join(dir, 'storm')).sort();
    const host2 = fs.readdirSync(path.join(dir2, 'storm')).sort();
    t.deepEqual(host1, expected, 'Ceph client 1 lists exactly what the two loops must have left');
    t.deepEqual(host2, host1, 'Ceph client 2 lists the same');
    for (const [g, share] of [[g1, '/a'], [g1, '/n'], [g2, '/a'], [g2, '/n']] as const) {
      const lsStart = Date.now();
      const ls = await g.run(`echo BEGIN-LS; ls -a -1 ${share}/storm; echo END-LS`, 180_000);
      t.log(`${g.name} listed ${share}/storm in ${Date.now() - lsStart} ms`);
      const names = parseListing(ls.out);
      t.deepEqual(duplicates(names), [], `${g.name} ${share}: no name listed twice`);
      t.deepEqual(names.filter((x) => x.endsWith('.tmp')), [], `${g.name} ${share}: no temporary name`);
      t.deepEqual(names.filter((x) => !fs.existsSync(path.join(dir, 'storm', x))), [], `${g.name} ${share}: every listed name exists on the host`);
      t.deepEqual([...names].sort(), host1, `${g.name} ${share}: lists what the host lists`);
    }
    for (const name of host1) {
      const content = fs.readFileSync(path.join(dir, 'storm', name), 'utf8');
      if (name.startsWith('shared-')) t.regex(content, /^g[12] \d+\n$/, `${name}: written whole by one guest`);
      else t.is(content, `${name.replace('-', ' ')}\n`, `${name}: what its creator wrote`);
    }
    const shared = await g2.run('cat /a/storm/shared-0');
    t.is(shared.out, fs.readFileSync(path.join(dir, 'storm', 'shared-0'), 'utf8'), 'guest 2 reads the shared name as the host does');
    phase('5. storm checks');

    g1.g.sendConsole('quit=1\n');
    g2.g.sendConsole('quit=1\n');
    const [e1, e2] = await Promise.all([h1.exited, h2.exited]);
    t.is(e1.exitCode, 0, e1.summary);
    t.is(e2.exitCode, 0, e2.summary);
  } catch (e) {
    t.log(why());
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-ceph-multiguest-logs-'));
    for (const [name, d] of Object.entries(daemons)) fs.writeFileSync(path.join(logs, `daemon-${name}.log`), d.log());
    t.log(`daemon logs: ${logs}; guest consoles: ${h1.logFile}, ${h2.logFile}`);
    throw e;
  }

  if (process.env.VFS_CEPH_DEBUG === '1') {
    const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-ceph-multiguest-logs-'));
    for (const [name, d] of Object.entries(daemons)) fs.writeFileSync(path.join(logs, `daemon-${name}.log`), d.log());
    t.log(`daemon logs: ${logs}`);
  }

  // 6. no daemon error
  for (const [name, d] of Object.entries(daemons)) {
    await d.stop();
    t.deepEqual(d.log().split('\n').filter((l) => / (ERROR|WARN) /.test(l)), [], `daemon ${name}: no error or warning lines`);
  }
  t.log(`two-guest CephFS test: ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
