/**
 * libvirt drop-in: what libvirt reads from the daemon and what it passes to it.
 *  - `--print-capabilities` prints JSON that matches QEMU's docs/interop/vhost-user.json for a backend
 *    of type "fs" (VHostUserBackendCapabilities: `type` from VHostUserBackendType; `features` a list of
 *    VHostUserBackendFsFeature), with only the feature names libvirt's qemu_vhost_user.c knows;
 *  - the vhost-user descriptor file we ship matches the VhostUserBackend struct;
 *  - every command line libvirt's qemu_virtiofs.c builds (with and without the separate-options
 *    feature) parses, and means what libvirt meant.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseOptions, type Options } from '../../src/cli/options.js';
import { ourBinary, repoRoot } from '../helpers/daemon-process.js';

/** From QEMU's docs/interop/vhost-user.json (enum VHostUserBackendType). */
const BACKEND_TYPES = ['9p', 'balloon', 'block', 'caif', 'console', 'crypto', 'gpu', 'input', 'net', 'rng', 'rpmsg', 'rproc-serial', 'scsi', 'vsock', 'fs'];
/** VHostUserBackendFsFeature, as libvirt's qemuVhostUserFSFeature enumerates it. */
const FS_FEATURES = ['migrate-precopy', 'separate-options'];

test('--print-capabilities: vhost-user.json "fs" capabilities, exit 0, nothing on stderr', (t) => {
  const r = spawnSync(process.execPath, [ourBinary, '--print-capabilities'], { encoding: 'utf8' });
  t.is(r.status, 0);
  t.is(r.stderr, '');
  const caps = JSON.parse(r.stdout) as Record<string, unknown>;
  t.deepEqual(Object.keys(caps).sort(), ['features', 'type'], 'only the fields of VHostUserBackendCapabilities');
  t.true(BACKEND_TYPES.includes(caps.type as string));
  t.is(caps.type, 'fs');
  t.true(Array.isArray(caps.features));
  const features = caps.features as unknown[];
  for (const f of features) t.true(typeof f === 'string' && FS_FEATURES.includes(f), `feature ${String(f)} is one libvirt knows`);
  t.is(new Set(features).size, features.length, 'no duplicates');
  t.true(features.includes('separate-options'), 'libvirt then passes --shared-dir/--cache/--xattr, which we parse');
  t.true(features.includes('migrate-precopy'), 'we migrate with device state (QEMU 10)');
});

test('--print-capabilities ignores other flags (libvirt runs it bare, but be lenient like virtiofsd)', (t) => {
  const r = spawnSync(process.execPath, [ourBinary, '--print-capabilities', '--log-level', 'debug'], { encoding: 'utf8' });
  t.is(r.status, 0);
  t.is((JSON.parse(r.stdout) as { type: string }).type, 'fs');
});

test('the vhost-user descriptor we ship matches VhostUserBackend', (t) => {
  const d = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples/vhost-user/50-virtiofsd-ts.json'), 'utf8')) as Record<string, unknown>;
  for (const k of Object.keys(d)) t.true(['description', 'type', 'binary', 'tags'].includes(k), `field ${k}`);
  t.is(typeof d.description, 'string');
  t.is(d.type, 'fs');
  t.true(typeof d.binary === 'string' && path.isAbsolute(d.binary), 'binary is an absolute path');
  if (d.tags !== undefined) t.true(Array.isArray(d.tags) && d.tags.every((x) => typeof x === 'string'));
});

function parse(argv: string[]): Options {
  const p = parseOptions(argv);
  if (p.kind !== 'run') throw new Error(`parsed as ${p.kind}`);
  return p.options;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-libvirt-'));
const commaDir = path.join(dir, 'a,b');
fs.mkdirSync(commaDir);

test('libvirt with separate-options: --fd=N --shared-dir D --cache never --sandbox chroot --xattr --thread-pool-size=N --rlimit-nofile=N --log-level debug', (t) => {
  const o = parse(['--fd=3', '--shared-dir', dir, '--cache', 'never', '--sandbox', 'chroot', '--xattr', '--thread-pool-size=0', '--rlimit-nofile=65536', '--log-level', 'debug']);
  t.is(o.fd, 3);
  t.is(o.socketPath, undefined);
  t.is(o.sharedDir, dir);
  t.is(o.cache, 'never');
  t.is(o.sandbox, 'chroot');
  t.true(o.xattr);
  t.is(o.threadPoolSize, 0);
  t.is(o.pollUs, 100, 'adaptive busy polling up to 100 µs unless --poll-us says otherwise');
  t.true(o.inlineCalls, 'calls that cannot wait for I/O run inline unless --no-inline-calls');
  t.false(parse(['--fd=3', '--shared-dir', dir, '--no-inline-calls']).inlineCalls);
  t.is(o.rlimitNofile, 65536);
  t.is(o.logLevel, 'debug');
  t.is(parse(['--fd=3', '--shared-dir', dir, '--cache', 'always', '--sandbox', 'namespace']).cache, 'always');
});

test('libvirt without separate-options: -o source=…,cache=…,sandbox=…,xattr|no_xattr,flock|no_flock,posix_lock|no_posix_lock and -d', (t) => {
  const o = parse(['--fd=5', '-o', `source=${dir},cache=none,sandbox=namespace,xattr,flock,posix_lock`, '--thread-pool-size=4', '-d']);
  t.is(o.fd, 5);
  t.is(o.sharedDir, dir);
  t.is(o.cache, 'never', 'the C virtiofsd called it none');
  t.is(o.sandbox, 'namespace');
  t.true(o.xattr);
  t.is(o.threadPoolSize, 4);
  t.is(o.logLevel, 'debug');
  t.false(parse(['--fd=5', '-o', `source=${dir},cache=always,no_xattr,no_flock,no_posix_lock`]).xattr);
  t.is(parse(['--fd=5', '-o', `source=${dir},cache=auto`]).cache, 'auto');
});

test('libvirt unprivileged: --uid-map=:0:1000:1: --gid-map=:0:1000:1: are accepted (and validated)', (t) => {
  const o = parse(['--fd=3', '--shared-dir', dir, '--uid-map=:0:1000:1:', '--uid-map=:1:100000:65536:', '--gid-map=:0:1000:1:']);
  t.deepEqual(o.uidMap, [':0:1000:1:', ':1:100000:65536:']);
  t.deepEqual(o.gidMap, [':0:1000:1:']);
  t.throws(() => parse(['--fd=3', '--shared-dir', dir, '--uid-map=0:1000:1']), { message: /--uid-map/ });
});

test('--poll-us N takes microseconds 0..1000000 and refuses anything else', (t) => {
  t.is(parse(['--fd=3', '--shared-dir', dir, '--poll-us', '150']).pollUs, 150);
  t.is(parse(['--fd=3', '--shared-dir', dir, '--poll-us=0']).pollUs, 0);
  for (const bad of ['-1', '1.5', 'fast', '1000001']) t.throws(() => parse(['--fd=3', '--shared-dir', dir, `--poll-us=${bad}`]), { message: /--poll-us/ });
});

test('other flags virtiofsd documents for libvirt setups: --announce-submounts, --inode-file-handles, --posix-acl, --socket-path, --socket-group, --syslog', (t) => {
  const o = parse(['--socket-path', path.join(dir, 's.sock'), '--socket-group', 'kvm', '--shared-dir', dir, '--announce-submounts', '--inode-file-handles=mandatory', '--posix-acl', '--syslog']);
  t.true(o.announceSubmounts);
  t.is(o.inodeFileHandles, 'mandatory');
  t.true(o.posixAcl && o.xattr);
  t.is(o.socketGroup, 'kvm');
  t.true(o.syslog);
});

test('--metrics: HOST:PORT, :PORT, PORT, [::1]:PORT; loopback unless --metrics-allow-remote', (t) => {
  const m = (...a: string[]) => parse(['--socket-path', '/tmp/x.sock', '--shared-dir', dir, ...a]).metrics;
  t.deepEqual(m('--metrics=127.0.0.1:9100'), { host: '127.0.0.1', port: 9100 });
  t.deepEqual(m('--metrics', ':9100'), { host: '127.0.0.1', port: 9100 });
  t.deepEqual(m('--metrics', '9100'), { host: '127.0.0.1', port: 9100 });
  t.deepEqual(m('--metrics', '[::1]:0'), { host: '::1', port: 0 });
  t.deepEqual(m('--metrics', 'localhost:9100'), { host: 'localhost', port: 9100 });
  t.is(m(), undefined);
  t.throws(() => m('--metrics', '10.0.0.1:9100'), { message: /not a loopback address/ });
  t.deepEqual(m('--metrics', '10.0.0.1:9100', '--metrics-allow-remote'), { host: '10.0.0.1', port: 9100 });
  t.throws(() => m('--metrics', '127.0.0.1:99999'), { message: /--metrics/ });
  t.throws(() => m('--metrics', 'nonsense'), { message: /HOST:PORT/ });
});

test('every flag in --help is one the parser knows (the help text and the parser agree)', (t) => {
  const r = spawnSync(process.execPath, [ourBinary, '--help'], { encoding: 'utf8' });
  // "  --flag VALUE   text", "  -V, --version", "  --xattr / --no-xattr"
  const found = [...r.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)( [A-Z:][A-Z0-9:_]*)?(?: \/ (--[a-z0-9-]+))?/gm)];
  const flags = new Map<string, boolean>();
  for (const m of found) {
    flags.set(m[1]!, m[2] !== undefined);
    if (m[3] !== undefined) flags.set(m[3], false);
  }
  t.true(flags.size > 30, `found ${flags.size} flags in --help`);
  const sample: Record<string, string> = {
    '--socket-path': path.join(dir, 'h.sock'), '--fd': '3', '--socket-group': 'kvm', '--tag': 'x', '--max-request-queues': '2', '--pid-file': path.join(dir, 'p'),
    '--shared-dir': dir, '--cache': 'auto', '--inode-file-handles': 'never', '--rlimit-nofile': '1024', '--migration-mode': 'find-paths',
    '--migration-on-error': 'abort', '--thread-pool-size': '1', '--log-level': 'info', '--log-format': 'json', '--sandbox': 'none', '--modcaps': '+sys_admin', '--seccomp': 'none',
    '--metrics': '127.0.0.1:0', '--uid-map': ':0:0:1:', '--gid-map': ':0:0:1:',
  };
  for (const [f, takesValue] of flags) {
    const argv = ['--socket-path', path.join(dir, 'h.sock'), '--shared-dir', dir].filter((_a, i, all) => all[i - (i % 2)] !== f);
    if (f === '--fd') argv.splice(0, 2);
    argv.push(f);
    if (takesValue) argv.push(sample[f] ?? 'x');
    let err: Error | undefined;
    try {
      parseOptions(argv);
    } catch (e) {
      err = e as Error;
    }
    // Flags with a sample must parse; others (new ones, or ones needing a partner flag) must at least be known.
    if (sample[f] !== undefined) t.is(err, undefined, argv.join(' '));
    else t.false(/unknown option|argument missing|does not take an argument/i.test(err?.message ?? ''), `${f} is known to the parser: ${err?.message}`);
  }
});

test('docs/operations.md documents every flag --help lists', (t) => {
  const help = spawnSync(process.execPath, [ourBinary, '--help'], { encoding: 'utf8' }).stdout;
  const doc = fs.readFileSync(path.join(repoRoot, 'docs/operations.md'), 'utf8');
  const flags = new Set([...help.matchAll(/(?<![\w-])(--[a-z][a-z0-9-]+)/g)].map((m) => m[1]!));
  for (const f of flags) t.true(doc.includes('`' + f), `${f} has an entry in docs/operations.md`);
});
