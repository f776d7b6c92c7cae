/**
 * Registration of tests that need a real CephFS (see ceph.ts). A Ceph cluster costs ~400 MB of
 * RAM and, the first time, a ~60 MB install, so on a developer machine these tests run only when
 * asked for with VFS_CEPH=1; under CI=true they are mandatory, and a machine that cannot run
 * them fails them.
 */
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import { cephMissingReason, ensureCephMount } from './ceph.js';

/** A Ceph test body: `dir` is a fresh directory of its own on the shared ceph-fuse mount. */
export type CephImplementation = (t: ExecutionContext, dir: string) => Promise<void> | void;

const enable = 'VFS_CEPH=1 npm test';
let logged = false;

/** True when Ceph tests run in this process: under CI=true or with VFS_CEPH=1. */
export function cephTestsEnabled(): boolean {
  return process.env.CI === 'true' || process.env.VFS_CEPH === '1';
}

/**
 * Registers a test on the shared CephFS mount. Skipped (with a hint printed once) unless CI=true
 * or VFS_CEPH=1; when enabled on a machine that cannot run Ceph, registered as a failing test.
 * The test's directory is removed after a pass and kept (its path logged) after a failure.
 */
export function cephTest(title: string, fn: CephImplementation): void {
  if (!cephTestsEnabled()) {
    if (!logged) console.error(`Ceph tests skipped: run \`${enable}\` to run them (brings up a one-machine Ceph cluster)`);
    logged = true;
    test.skip(title, () => {});
    return;
  }
  const reason = cephMissingReason();
  if (reason !== null) {
    test(title, (t) => t.fail(`${reason} (Ceph tests are ${process.env.CI === 'true' ? 'mandatory under CI' : 'enabled by VFS_CEPH=1'})`));
    return;
  }
  test(title, async (t) => {
    const dir = await ensureCephMount(title);
    t.teardown(() => {
      if (t.passed) fs.rmSync(dir, { recursive: true, force: true });
      else t.log(`kept for inspection: ${dir}`);
    });
    await fn(t, dir);
  });
}
