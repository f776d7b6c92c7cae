/**
 * A real CephFS for tests: the one-machine cluster of scripts/ceph-cluster.sh (mon, mgr, one
 * BlueStore OSD, MDS, all on loopback) and one ceph-fuse mount of it that every test shares, each
 * test working in a fresh directory of its own.
 *
 * The cluster is brought up once per machine and left running for the next test run (a restart
 * with data takes ~3 s, from nothing ~15 s plus ~40 s to install Ceph the first time);
 * `bash scripts/ceph-cluster.sh down` stops it. Parallel test processes may all call
 * ensureCephMount(): the script serializes every command on one state dir with a lock file
 * (flock on <state>/lock), so the first process brings the cluster up and mounts it, and the
 * others find that done.
 *
 * No ava import here, so benchmarks and demos can use a CephFS too; test registration (cephTest)
 * lives in ceph-test.ts.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './guest-kit.js';

const run = promisify(execFile);

/** The cluster's state dir (config, keys, data, logs, the shared mount); VFS_CEPH_STATE overrides it. */
export const cephStateDir: string = process.env.VFS_CEPH_STATE ?? path.join(repoRoot, '.cache/ceph');
/** The ceph-fuse mount of the CephFS root that all tests share. */
export const cephMountDir: string = path.join(cephStateDir, 'mnt');
/** Test directories are made here, inside the mount. */
export const cephTestsDir: string = path.join(cephMountDir, 'tests');
const script = path.join(repoRoot, 'scripts/ceph-cluster.sh');

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Why ensureCephMount() cannot work on this machine, or null if it can: the script needs root
 * (daemons, FUSE mounts, and apt-get when Ceph is not installed yet) and /dev/fuse.
 */
export function cephMissingReason(): string | null {
  if (process.platform !== 'linux') return 'Ceph tests need Linux';
  if (process.getuid?.() !== 0) return 'Ceph tests need root (the cluster daemons and ceph-fuse)';
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return 'no usable /dev/fuse (ceph-fuse needs it)';
  }
  if (!onPath('ceph-fuse') && !onPath('apt-get')) return 'Ceph is not installed and there is no apt-get to install it';
  return null;
}

/** True when ensureCephMount() can bring up a cluster here (Ceph installed, or installable). */
export function cephAvailable(): boolean {
  return cephMissingReason() === null;
}

/** Runs scripts/ceph-cluster.sh with our state dir; rejects with its output when it fails. */
export async function cephCluster(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run('bash', [script, ...args, '--state', cephStateDir], {
      maxBuffer: 16 << 20,
      timeout: 10 * 60_000,
    });
    return stdout + stderr;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`ceph-cluster.sh ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}

let shared: Promise<void> | null = null;

/**
 * Brings the cluster up (once per process; a no-op when it already runs) and mounts it on
 * cephMountDir (shared by every test and every process), then returns a new, empty directory
 * inside the mount for the caller alone, named after `label`. The caller may remove it; nothing
 * else does. Rejects with the script's output when the cluster cannot be brought up.
 */
export async function ensureCephMount(label = 'test'): Promise<string> {
  shared ??= (async () => {
    await cephCluster('up');
    await cephCluster('mount', cephMountDir);
  })();
  try {
    await shared;
  } catch (e) {
    shared = null; // let a later call try again
    throw e;
  }
  fs.mkdirSync(cephTestsDir, { recursive: true });
  const slug = label.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 40) || 'test';
  return fs.mkdtempSync(path.join(cephTestsDir, `${slug}-`));
}
