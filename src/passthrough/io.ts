/**
 * READ and WRITE between a host fd and the guest's memory: preadv2/pwritev2 straight into and out of
 * the views the server hands us (guest memory itself: no intermediate copy), looping over short
 * transfers and over more views than one call takes (IOV_MAX).
 */
import { constants } from 'node:os';
import { RWF_NOWAIT } from '../native/fs-constants.js';
import type { Sys } from './host.js';

/** IOV_MAX on Linux. */
const IOV_MAX = 1024;

/** The views after skipping the first n bytes, at most IOV_MAX of them. */
function after(views: readonly Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of views) {
    if (n >= v.length) {
      n -= v.length;
      continue;
    }
    out.push(n > 0 ? v.subarray(n) : v);
    n = 0;
    if (out.length === IOV_MAX) break;
  }
  return out;
}

const total = (views: readonly Uint8Array[]): number => views.reduce((s, v) => s + v.length, 0);

/**
 * Fill `dest` from `offset` on; returns the bytes read (fewer only at the end of the file). A short
 * preadv on a regular file means the end, so it is not retried (one syscall for a small file, not
 * two); only a full one that did not cover every view (more than IOV_MAX) is followed by the next.
 */
export async function readInto(sys: Sys, fd: number, dest: readonly Uint8Array[], offset: bigint, start = 0): Promise<number> {
  const want = total(dest);
  let done = start;
  while (done < want) {
    const iov = after(dest, done);
    const n = await sys.preadv(fd, iov, offset + BigInt(done), 0);
    done += n;
    if (n < total(iov)) break;
  }
  return done;
}

/** Reads up to this many bytes are first tried on the event-loop thread (readCached). */
export const CACHED_READ_MAX = 1024 * 1024;

/** What readCached needs of an open file; `cachedReads` goes false when its filesystem cannot say "not cached". */
export interface CachedReadTarget {
  readonly fd: number;
  cachedReads: boolean;
}

const { EOPNOTSUPP } = constants.errno;

/**
 * The page-cache fast path of READ: preadv2 with RWF_NOWAIT, on this thread. The kernel serves it
 * from the page cache and answers EAGAIN rather than wait for the disk or the network, so the event
 * loop is never stalled (the rule for every other call, which goes to the worker pool), and a hit
 * costs one syscall instead of two thread hand-offs. Filesystems that cannot promise that (CephFS,
 * NFS, FUSE, tmpfs) answer EOPNOTSUPP; that is remembered on the handle and it is not asked again.
 *
 * Returns the bytes read and whether that is all of it: `complete` is false when the rest (from
 * `done` on) must be read by readInto on the pool: not cached, an error (the pool call reports it),
 * or a read too large to copy on the event-loop thread. A short RWF_NOWAIT read may only mean the
 * rest is not cached, so the end of the file is known only by a 0.
 */
export function readCached(sys: Sys, h: CachedReadTarget, dest: readonly Uint8Array[], offset: bigint): { done: number; complete: boolean } {
  const want = total(dest);
  let done = 0;
  if (!h.cachedReads || want > CACHED_READ_MAX) return { done, complete: false };
  while (done < want) {
    const n = sys.preadvSync(h.fd, after(dest, done), offset + BigInt(done), RWF_NOWAIT);
    if (n === 0) break;
    if (n < 0) {
      if (n === -EOPNOTSUPP) h.cachedReads = false;
      return { done, complete: false };
    }
    done += n;
  }
  return { done, complete: true };
}

/**
 * Write all of `data` at `offset` (with RWF_APPEND in `rwf` the kernel appends and ignores the offset).
 * Returns the bytes written; an error after a partial write reports the partial count, as write(2) does.
 * `killSuidgid`: FUSE_WRITE_KILL_SUIDGID, done by the first call (pwritevKillSuidgid).
 */
export async function writeFrom(sys: Sys, fd: number, data: readonly Uint8Array[], offset: bigint, rwf: number, killSuidgid = false): Promise<number> {
  const want = total(data);
  let done = 0;
  while (done < want) {
    let n: number;
    try {
      // FUSE_WRITE_KILL_SUIDGID: the bits go in the first call's pool job, before anything is written.
      const at = offset + BigInt(done);
      n = await (killSuidgid && done === 0 ? sys.pwritevKillSuidgid(fd, data, at, rwf) : sys.pwritev(fd, after(data, done), at, rwf));
    } catch (e) {
      if (done > 0) break;
      throw e;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}
