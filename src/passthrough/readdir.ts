/**
 * Reading a directory handle: getdents64 records handed out one at a time, resuming exactly where the
 * guest asks. The offsets the guest sees are the host's d_off values, so READDIR at offset X continues
 * after the record whose d_off was X, even across a RELEASEDIR/OPENDIR (lseek to a d_off is valid on a
 * new open of the same directory). Records read ahead of what fit in a reply stay buffered for the
 * next call at the same offset; any other offset seeks and drops them.
 */
import type { Dirent64 } from '../native/fs.js';
import { SEEK_SET, direntEnd, parseDirentsAt } from '../native/fs.js';
import type { Handle } from './handles.js';
import type { Sys } from './host.js';

/** getdents64 buffer size. */
const DIRBUF = 32 * 1024;

/** What the emitter did with a record: took it, skipped it (consumed, not sent), or had no room (stop). */
export type Emitted = 'added' | 'skipped' | 'full';

/**
 * Feed the records of directory handle `h` after `offset` to `emit` until it answers 'full' or the
 * directory ends. Serialized per handle (the fd position is shared).
 */
export function readDir(sys: Sys, h: Handle, offset: bigint, emit: (d: Dirent64) => Promise<Emitted>): Promise<void> {
  return readDirBatches(sys, h, offset, 1, async ([d]) => ((await emit(d!)) === 'full' ? 0 : 1));
}

/**
 * Like readDir, but `emit` gets the next records in order, up to `max` of those already read (at least
 * one), and answers how many it consumed (handed out or skipped): fewer than it got ends the call.
 * READDIRPLUS uses it to look a whole reply's worth of names up at once.
 */
export function readDirBatches(sys: Sys, h: Handle, offset: bigint, max: number, emit: (ds: Dirent64[]) => Promise<number>): Promise<void> {
  const s = h.dir!;
  return s.serialize(async () => {
    if (offset !== s.pos) {
      await sys.lseek(h.fd, offset, SEEK_SET);
      s.pos = offset;
      s.chunk = undefined;
      s.at = s.len = 0;
    }
    for (;;) {
      if (s.at >= s.len) {
        const buf = new Uint8Array(DIRBUF);
        const n = await sys.getdents64(h.fd, buf);
        if (n === 0) return;
        s.chunk = buf;
        s.at = 0;
        s.len = n;
      }
      // Only the records this call hands out are decoded (a reply takes a few dozen of the hundreds read).
      const chunk = s.chunk!;
      const batch: Dirent64[] = [];
      parseDirentsAt(chunk, s.len, s.at, Math.max(1, max), batch, false);
      const used = await emit(batch);
      for (let i = 0; i < used; i++) s.at = direntEnd(chunk, s.at);
      if (used > 0) s.pos = batch[used - 1]!.off;
      if (used < batch.length) return;
    }
  });
}
