/**
 * The DirentSink / DirentPlusSink handed to readdir/readdirplus: each record is encoded straight into
 * the reply's writable segments (guest memory), padded to FUSE_DIRENT_ALIGN, until the kernel's
 * requested size is used up.
 */
import { NAME_MAX } from '../../protocol/fuse-opcodes.js';
import { direntSize, direntplusSize, encodeDirent, encodeDirentplus } from '../../protocol/fuse-records.js';
import type { FuseEntryOut } from '../../protocol/fuse-structs.js';
import { FuseError } from './errors.js';
import type { DirEntry, DirentPlusSink, DirentSink, Entry } from './filesystem.js';
import { entryOut } from './request.js';
import type { SegmentWriter } from './writer.js';

function nameBytes(name: Uint8Array | string): Uint8Array {
  const b = typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
  // A file system bug must not produce a record the kernel rejects (it fails the whole readdir with EIO).
  if (b.length === 0 || b.length > NAME_MAX || b.includes(0x2f) || b.includes(0)) {
    throw new FuseError('EIO', `readdir: invalid entry name ${JSON.stringify(Buffer.from(b).toString('latin1'))}`);
  }
  return b;
}

abstract class SinkBase {
  protected used = 0;
  count = 0;
  constructor(
    protected readonly w: SegmentWriter,
    /** Bytes the kernel asked for (fuse_read_in.size), already capped to the writable room. */
    protected readonly limit: number,
  ) {}
  /** Bytes of records written. */
  get bytes(): number {
    return this.used;
  }
  /** Bytes still free for records. */
  get room(): number {
    return this.limit - this.used;
  }
  protected abstract sizeFor(nameLen: number): number;
  fits(nameLen: number): boolean {
    return this.used + this.sizeFor(nameLen) <= this.limit;
  }
}

export class WriterDirentSink extends SinkBase implements DirentSink {
  protected sizeFor(nameLen: number): number {
    return direntSize(nameLen);
  }
  add(d: DirEntry): boolean {
    const name = nameBytes(d.name);
    const size = direntSize(name.length);
    if (this.used + size > this.limit) return false;
    this.w.fill(size, (buf, off) => encodeDirent(buf, off, d, name), 'fuse_dirent');
    this.used += size;
    this.count++;
    return true;
  }
}

export class WriterDirentPlusSink extends SinkBase implements DirentPlusSink {
  protected sizeFor(nameLen: number): number {
    return direntplusSize(nameLen);
  }
  add(d: DirEntry, entry: Entry | null): boolean {
    const name = nameBytes(d.name);
    const size = direntplusSize(name.length);
    if (this.used + size > this.limit) return false;
    const out: FuseEntryOut = entry !== null ? entryOut(entry) : negativeEntry(d);
    this.w.fill(size, (buf, off) => encodeDirentplus(buf, off, out, d, name), 'fuse_direntplus');
    this.used += size;
    this.count++;
    return true;
  }
}

/** "." and "..": nodeid 0 (no reference, no caching), only ino and the type bits filled in. */
function negativeEntry(d: DirEntry): FuseEntryOut {
  return {
    nodeid: 0n,
    generation: 0n,
    entry_valid: 0n,
    attr_valid: 0n,
    entry_valid_nsec: 0,
    attr_valid_nsec: 0,
    attr: {
      ino: d.ino,
      size: 0n,
      blocks: 0n,
      atime: 0n,
      mtime: 0n,
      ctime: 0n,
      atimensec: 0,
      mtimensec: 0,
      ctimensec: 0,
      mode: (d.type & 0xf) << 12,
      nlink: 0,
      uid: 0,
      gid: 0,
      rdev: 0,
      blksize: 0,
      flags: 0,
    },
  };
}
