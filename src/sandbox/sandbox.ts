/**
 * --sandbox=namespace|chroot|none: what the daemon can see and do once it serves a guest.
 *
 * namespace (the default as root, as in virtiofsd) — in two steps, because Node is multithreaded
 * from its first instruction and unshare(CLONE_NEWNS) refuses a process whose threads share their
 * filesystem context:
 *  1. reexecInMountNamespace(): the command re-executes itself (execve: same pid, same fds, same
 *     arguments) through util-linux `unshare --mount --propagation slave`, which is single-threaded
 *     when it calls unshare(2). An environment variable carries the mount namespace it came from, so
 *     the second run can prove it is in a new one before it mounts anything.
 *  2. enterSandbox(), once the socket, the pid file, the metrics port and the file system's fds are
 *     set up and before the first guest request: a small tmpfs becomes the root, holding only
 *     /shared (a recursive bind mount of the shared directory, so its submounts come along) and
 *     /proc (a fresh proc mount limited to the processes: the passthrough re-opens inodes through
 *     /proc/self/fd); pivot_root into it, detach the host's tree, make the root read-only, point the
 *     file system's shared-directory and /proc fds at the new mounts (dup3 over the same numbers).
 * chroot — chroot(2) into the shared directory, for hosts where mount namespaces are not allowed.
 *  The /proc fd opened before stays valid; /proc paths do not (see the README for what that costs).
 * Both then drop capabilities (capabilities.ts): the bounding set, then this thread's sets, and set
 * no_new_privs. Capabilities belong to threads: the ones this thread starts afterwards (the fs
 * pool, the lock waiters, libuv's pool) inherit the reduced sets, pool workers that already exist
 * cut theirs before their next call (one mechanism: native/fs.ts dropCapabilities); V8's own helper threads, started
 * before any of our code ran, keep theirs (they run no syscall on a guest's behalf; the seccomp
 * filter, installed with TSYNC, does reach them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as native from '../native/index.js';
import * as nativeFs from '../native/fs.js';
import { AT_FDCWD, O_DIRECTORY, O_PATH } from '../native/fs-constants.js';
import { capabilityNames, keptCapabilities } from './capabilities.js';
import { logger } from '../log.js';
import { which } from '../which.js';
import type { SandboxMode } from './mode.js';

const log = logger('sandbox');

export type { SandboxMode } from './mode.js';

/** Set by step 1 for step 2: the mount namespace the daemon was started in. */
export const SANDBOX_ENV = 'VIRTIOFSD_TS_SANDBOX_FROM_MNTNS';

export class SandboxError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

// linux/mount.h, linux/prctl.h
const MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096, MS_REC = 16384, MS_SLAVE = 1 << 19;
const MNT_DETACH = 2;
const PR_SET_NO_NEW_PRIVS = 38, PR_CAP_AMBIENT = 47, PR_CAP_AMBIENT_CLEAR_ALL = 4;
const CAP_SYS_ADMIN = 21;
const O_CLOEXEC = 0o2000000;

function mountNamespace(): string {
  return fs.readlinkSync('/proc/self/ns/mnt');
}

/** True in step 2 of namespace mode (re-executed into a namespace of our own). */
export function inOwnMountNamespace(): boolean {
  const from = process.env[SANDBOX_ENV];
  if (from === undefined) return false;
  if (from === mountNamespace()) {
    throw new SandboxError('SANDBOX_SAME_NAMESPACE', `${SANDBOX_ENV} is set but this process is still in mount namespace ${from}; refusing to mount anything there`);
  }
  return true;
}

function hasCap(bit: number): boolean {
  return ((native.capget()[0] >> BigInt(bit)) & 1n) === 1n;
}

/** Our command (bin/virtiofsd-ts), which step 1 re-executes. */
const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/virtiofsd-ts');

/**
 * V8 flags the daemon runs with. A young generation of 4 MiB semi-spaces (V8's default grows to
 * 16 MiB): a request's garbage dies young either way, and a smaller nursery keeps peak RSS down
 * (bench/inode-memory.ts, 100,000 known inodes: 127 MiB at 2, 133 at 4, 142 at 8, 171 at 16), while
 * 2 MiB ran the scavenger often enough to cost the mixed workload ~10% of its CPU
 * (docs/benchmarks.md, session 6). V8 reads heap sizes only at start-up, so they come with a re-exec.
 */
export const NODE_FLAGS = ['--max-semi-space-size=4'];

/**
 * The NODE_FLAGS not already given, on node's command line or in NODE_OPTIONS (which the command
 * line would override): a user's own heap size wins.
 */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)].map((a) => a.split('=')[0]);
  return NODE_FLAGS.filter((f) => !given.includes(f.split('=')[0]));
}

/** The script of this process when it is our command (bin/virtiofsd-ts), else undefined. */
function ourScript(): string | undefined {
  const script = process.argv[1] === undefined ? undefined : fs.realpathSync(process.argv[1]);
  return script === fs.realpathSync(BIN) ? script : undefined;
}

/** execve `wrapper...` + node (with NODE_FLAGS) + our script + the same arguments: same pid, same fds. */
function reexec(wrapper: string[], script: string, env: NodeJS.ProcessEnv, keepFds: number[]): never {
  const argv = [...wrapper, process.execPath, ...missingNodeFlags(), ...process.execArgv, script, ...process.argv.slice(2)];
  log.debug(`re-executing: ${argv.join(' ')}`);
  // Node marks stdio close-on-exec; the second run must log to the same place (and keep --fd).
  for (const fd of [0, 1, 2, ...keepFds]) {
    try {
      native.setFdFlags(fd, 0);
    } catch {
      /* not open */
    }
  }
  native.execve(argv[0]!, argv, Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`));
  throw new SandboxError('SANDBOX_EXEC', 'execve returned'); // not reached: execve throws or does not return
}

/**
 * Without a namespace re-exec to ride on: re-execute once with NODE_FLAGS when they are missing and
 * this process is our command (embedders keep their own flags). Returns when nothing is to be done.
 */
export function reexecWithNodeFlags(keepFds: number[] = []): void {
  const script = ourScript();
  if (script === undefined || missingNodeFlags().length === 0) return;
  reexec([], script, process.env, keepFds);
}

/**
 * Step 1 of namespace mode: re-execute the same command line in a new mount namespace (adding
 * NODE_FLAGS). Only returns by throwing (no CAP_SYS_ADMIN, no unshare(1), not our command).
 */
export function reexecInMountNamespace(keepFds: number[] = []): never {
  if (!hasCap(CAP_SYS_ADMIN)) {
    throw new SandboxError('SANDBOX_NOT_PERMITTED', '--sandbox=namespace needs CAP_SYS_ADMIN (run as root); use --sandbox=chroot (needs CAP_SYS_CHROOT) or --sandbox=none');
  }
  const script = ourScript();
  if (script === undefined) {
    throw new SandboxError('SANDBOX_NOT_COMMAND', `--sandbox=namespace re-executes the virtiofsd-ts command (${BIN}), but this process runs ${process.argv[1] ?? 'no script'}; use --sandbox=none when embedding`);
  }
  const unshare = which('unshare');
  if (unshare === undefined) {
    throw new SandboxError('SANDBOX_NO_UNSHARE', '--sandbox=namespace needs unshare(1) from util-linux on PATH; use --sandbox=chroot or --sandbox=none');
  }
  reexec([unshare, '--mount', '--propagation', 'slave', '--'], script, { ...process.env, [SANDBOX_ENV]: mountNamespace() }, keepFds);
}

/** The fds a file system holds on host paths, re-pointed once the sandbox's mounts exist. */
export interface HostFds {
  /** O_PATH fd of the shared directory. */
  shared: number;
  /** O_PATH fd of /proc/self/fd. */
  proc: number;
}

export interface SandboxOptions {
  mode: SandboxMode;
  sharedDir: string;
  fds: HostFds;
  /** Inodes are kept as file handles (keep dac_read_search). */
  fileHandles: boolean;
  /** --modcaps */
  modcaps?: string;
}

/** Enter the sandbox (step 2) and drop capabilities. Throws SandboxError; nothing is half-done that matters: the caller exits. */
export function enterSandbox(o: SandboxOptions): void {
  if (o.mode === 'none') return;
  const kept = keptCapabilities({ fileHandles: o.fileHandles, modcaps: o.modcaps });
  try {
    if (o.mode === 'namespace') pivotIntoSharedView(o.fds);
    else chrootIntoShared(o.sharedDir);
  } catch (e) {
    if (e instanceof SandboxError) throw e;
    throw new SandboxError('SANDBOX_SETUP', `--sandbox=${o.mode}: ${(e as Error).message}`);
  }
  dropCapabilities(kept.mask);
  log.info(`sandbox: ${o.mode === 'namespace' ? 'own mount namespace, root = {/shared, /proc}' : `chroot ${o.sharedDir}`}; capabilities kept: ${kept.names.join(',') || 'none'}`);
}

function pivotIntoSharedView(fds: HostFds): void {
  inOwnMountNamespace() || fail('SANDBOX_NOT_REEXECUTED', 'not in a mount namespace of our own (start through bin/virtiofsd-ts)');
  native.mount(null, '/', null, MS_REC | MS_SLAVE, null);
  const base = ['/tmp', '/run', '/mnt', '/var/tmp'].find(isDirectory) ?? fail('SANDBOX_NO_MOUNTPOINT', 'no /tmp, /run or /mnt to build the new root on');
  native.mount('tmpfs', base, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=0755,size=64k,nr_inodes=16');
  fs.mkdirSync(`${base}/shared`);
  fs.mkdirSync(`${base}/proc`);
  // The magic link names the directory the fd holds, wherever the path may lead now.
  native.mount(`/proc/self/fd/${fds.shared}`, `${base}/shared`, null, MS_BIND | MS_REC, null);
  try {
    native.mount('proc', `${base}/proc`, 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'subset=pid');
  } catch {
    native.mount('proc', `${base}/proc`, 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC, null); // kernels before 5.8
  }
  process.chdir(base);
  native.pivotRoot('.', '.');
  native.umount2('.', MNT_DETACH);
  process.chdir('/');
  native.mount(null, '/', null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, null);
  repoint(fds.shared, '/shared', true);
  repoint(fds.proc, '/proc/self/fd', false); // a new proc mount: other dev/ino, same meaning
}

/** Make `fd` refer to `p`; with `sameInode`, `p` must be the directory `fd` held, as seen in the new root. */
function repoint(fd: number, p: string, sameInode: boolean): void {
  const nfd = nativeFs.openatSync(AT_FDCWD, p, O_PATH | O_DIRECTORY, 0);
  try {
    const [a, b] = [fs.fstatSync(fd), fs.fstatSync(nfd)];
    if (sameInode && (a.dev !== b.dev || a.ino !== b.ino)) {
      fail('SANDBOX_MISMATCH', `${p} in the sandbox is not the directory the daemon opened (dev/ino ${b.dev}/${b.ino} vs ${a.dev}/${a.ino})`);
    }
    native.dup3(nfd, fd, O_CLOEXEC);
  } finally {
    native.closeQuietly(nfd);
  }
}

function chrootIntoShared(dir: string): void {
  process.chdir(dir);
  native.chroot('.');
  process.chdir('/');
}

function dropCapabilities(keep: bigint): void {
  const perm = native.capget()[1];
  nativeFs.dropCapabilities(keep); // this thread, and the pool's workers (a --take-over successor's already run)
  try {
    native.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  } catch {
    /* kernels without ambient capabilities */
  }
  native.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  log.debug(`capabilities dropped: ${capabilityNames(perm & ~keep).join(',')}`);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function fail(code: string, message: string): never {
  throw new SandboxError(code, message);
}
