/**
 * READ and WRITE between a host fd and the guest's memory: preadv2/pwritev2 straight into and out of
 * the views the server hands us (guest memory itself: no intermediate copy), looping over short
 * transfers and over more views than one call takes (IOV_MAX).
 */
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
export async function readInto(sys: Sys, fd: number, dest: readonly Uint8Array[], offset: bigint): Promise<number> {
  const want = total(dest);
  let done = 0;
  while (done < want) {
    const iov = after(dest, done);
    const n = await sys.preadv(fd, iov, offset + BigInt(done), 0);
    done += n;
    if (n < total(iov)) break;
  }
  return done;
}

/**
 * Write all of `data` at `offset` (with RWF_APPEND in `rwf` the kernel appends and ignores the offset).
 * Returns the bytes written; an error after a partial write reports the partial count, as write(2) does.
 */
export async function writeFrom(sys: Sys, fd: number, data: readonly Uint8Array[], offset: bigint, rwf: number): Promise<number> {
  const want = total(data);
  let done = 0;
  while (done < want) {
    let n: number;
    try {
      n = await sys.pwritev(fd, after(data, done), offset + BigInt(done), rwf);
    } catch (e) {
      if (done > 0) break;
      throw e;
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}
