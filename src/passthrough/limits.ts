/**
 * Per-connection caps on what a guest can make the daemon hold: nodeids (--max-inodes) and open
 * handles (--max-handles). A request that would go past a cap answers ENFILE ("too many open files in
 * system": the guest's view of the share is full, not the caller's fd table), and the daemon says so
 * at warn level — which cap, its value, and the flag that raises it — at most once a minute per cap, so
 * a guest hammering the limit cannot flood the log. Existing nodeids and handles keep working; FORGET
 * and RELEASE bring the count down.
 */
import { FuseError } from '../fuse/errors.js';
import { logger } from '../log.js';

const log = logger('passthrough');

/** How often a cap that keeps being hit is logged again. */
export const LIMIT_WARN_INTERVAL_MS = 60_000;

export class Limit {
  private lastWarn = -Infinity;

  constructor(
    /** What is counted, plural: "inodes", "open handles". */
    readonly what: string,
    readonly max: number,
    /** The command-line flag that sets max. */
    readonly flag: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throw ENFILE (and warn, rate-limited) unless one more can be added to `count`. */
  admit(count: number): void {
    if (count < this.max) return;
    throw this.refuse();
  }

  /** The ENFILE error for a request refused at the cap; warns at most once per LIMIT_WARN_INTERVAL_MS. */
  refuse(): FuseError {
    const msg = `${this.what} limit reached: ${this.max} held by the guest (raise it with ${this.flag})`;
    const t = this.now();
    if (t - this.lastWarn >= LIMIT_WARN_INTERVAL_MS) {
      this.lastWarn = t;
      log.warn(`${msg}; new ones answer ENFILE until the guest lets some go (further hits not logged for ${LIMIT_WARN_INTERVAL_MS / 1000} s)`);
    }
    return new FuseError('ENFILE', msg);
  }
}
