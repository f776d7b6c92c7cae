/**
 * Registration helpers for tests that boot a real QEMU guest. A missing QEMU skips them with a
 * hint on a developer machine, and fails them under CI=true, where it means a broken machine.
 */
import test, { type ExecutionContext, type ImplementationFn } from 'ava';
import { qemuMissingReason } from './qemu.js';

const hint = 'run `sudo bash scripts/install-system-deps.sh`';
let logged = false;

/**
 * Registers an e2e test: test.serial (two TCG guests on two cores would slow each other past
 * their timeouts) when QEMU 10 is present; otherwise skipped with the reason printed once, or,
 * under CI=true, registered as a failing test.
 */
export function e2eTest(title: string, fn: ImplementationFn<[]>): void {
  const reason = qemuMissingReason();
  if (reason === null) {
    test.serial(title, fn);
  } else if (process.env.CI === 'true') {
    test.serial(title, (t) => t.fail(`${reason} (CI requires QEMU; ${hint})`));
  } else {
    if (!logged) console.error(`e2e tests skipped: ${reason}; ${hint}`);
    logged = true;
    test.skip(title, fn);
  }
}

/** For tests registered by other means: true if QEMU is usable; else fails (CI) or passes with a log. */
export function requireQemu(t: ExecutionContext): boolean {
  const reason = qemuMissingReason();
  if (reason === null) return true;
  if (process.env.CI === 'true') t.fail(`${reason} (CI requires QEMU; ${hint})`);
  else {
    t.log(`skipped: ${reason}; ${hint}`);
    t.pass();
  }
  return false;
}
