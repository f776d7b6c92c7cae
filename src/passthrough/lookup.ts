/**
 * Looking names up: LOOKUP, the creating calls (which look the new name up) and READDIRPLUS (which
 * looks up every record it sends), each giving one new lookup reference per entry.
 *
 * Pool jobs per lookup (each job is one hand-off to the native pool, the expensive part):
 *  - on a local filesystem (inline.ts), a name in the dentry cache: none. Its statx is read through
 *    an O_PATH fd opened with RESOLVE_CACHED on this thread; an inode we hold is found by its ids,
 *    any other is opened the same way (with its handle) for resolve();
 *  - otherwise, a name whose inode we hold: one statxNames job (statx, and the handle of the name
 *    unless every handle-backed inode has its fd cached; no fd);
 *  - a name we do not hold: one more, openStat (the confined O_PATH open, statx, handle);
 *  - a name MKDIR, MKNOD or SYMLINK has just made (created()): only that open (on a local filesystem,
 *    from the dentry cache on this thread), as its inode is new;
 *  - READDIRPLUS: one statxNames job for all the records that fit the reply, and one openStatNames
 *    job for those not held yet; only the openStatNames job while a listing's names are mostly new;
 *  - "..": the parent, checked to be inside the shared directory (rare: the guest caches it).
 */
import { direntplusSize } from '../../protocol/fuse-records.js';
import { FUSE_ATTR_SUBMOUNT } from '../../protocol/fuse-flags.js';
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { FuseError } from '../fuse/errors.js';
import type { DirentPlusSink, Entry } from '../fuse/filesystem.js';
import * as native from '../native/fs.js';
import type { DirStream, Handle } from './handles.js';
import { isDot, isDotDot, isDotOrDotDot, type Host, type Sys } from './host.js';
import { closeLogged, type Inode, type InodeStore, type MadeHandle } from './inode-store.js';
import type { InlinePolicy } from './inline.js';
import { LOOKUP_MASK, type ChildOpener } from './open-stat.js';
import { readDirBatches } from './readdir.js';

/** statx flags for an fd itself, never a symlink's target. */
const AT_FD = native.AT_EMPTY_PATH | native.AT_SYMLINK_NOFOLLOW;
/** statx flags for one component of a directory: what an O_PATH | O_NOFOLLOW open of it would reach. */
const AT_NAME = native.AT_SYMLINK_NOFOLLOW | native.AT_NO_AUTOMOUNT;
const DOT = Buffer.from('.');
/**
 * The inline lookup's open: O_PATH from the dentry cache only (else EAGAIN), not into another mount
 * (EXDEV: that filesystem may not be local), confined as ChildOpener's opens are.
 */
const CACHED_OPEN = native.O_PATH | native.O_NOFOLLOW;
const CACHED_RESOLVE = native.RESOLVE_CACHED | native.RESOLVE_NO_XDEV | native.RESOLVE_BENEATH | native.RESOLVE_NO_MAGICLINKS | native.RESOLVE_NO_SYMLINKS;

/** A READDIRPLUS lookup: the entry (one reference), the error, or "." / ".." (not looked up). */
type Found = Entry | Error | 'dot';

/** What lookups need from the file system. */
export interface LookupContext {
  sys: Sys;
  host: Host;
  inodes: InodeStore;
  opener: ChildOpener;
  /** Which calls may run on the event-loop thread. */
  inline: InlinePolicy;
  /** FUSE_ATTR_SUBMOUNT is announced in this session. */
  submounts(): boolean;
  /** The reply entry for `inode`, which has just taken a reference. */
  entry(inode: Inode, st: native.Statx, attrFlags?: number): Entry;
}

const errnoError = (code: string, syscall: string): Error => Object.assign(new Error(`${syscall}: ${code}`), { code, syscall });

export class Lookups {
  constructor(private readonly cx: LookupContext) {}

  private get handleFlags(): number | undefined {
    return this.cx.inodes.handles !== 'never' ? 0 : undefined;
  }

  /**
   * handleFlags for a statx pass that looks for held inodes: none while every handle-backed inode
   * has its fd cached (ids find them all), saving a name_to_handle_at per name (a second path walk;
   * a FUSE round trip on ceph-fuse when the dentry is stale).
   */
  private get statHandleFlags(): number | undefined {
    return this.handleFlags !== undefined && !this.cx.inodes.handlesCached ? 0 : undefined;
  }

  /**
   * Look `name` up in `parent` (whose O_PATH or directory fd is `parentFd`): one new lookup reference.
   * ".." of the root is the root; ".." elsewhere must still be inside the shared directory.
   */
  async at(parent: Inode, parentFd: number, name: Uint8Array): Promise<Entry> {
    if (isDotDot(name)) return this.dotDot(parent, parentFd);
    const child = isDot(name) ? DOT : name;
    // Usually the guest looks up a name whose inode we hold (its dentry timed out). On a local
    // filesystem, with the name in the dentry cache, that is answered here (statCached).
    const cached = this.statCached(parent, parentFd, child);
    if (cached !== undefined) {
      const held = this.cx.inodes.known(cached);
      if (held !== undefined) return this.cx.entry(this.cx.inodes.ref(held), cached, this.submountFlag(parent, held, cached));
      // Not held by its ids: a new inode, or one held by its handle. Open it here too, with its
      // handle, and let resolve() tell which (one open, as fresh() would make on the pool).
      const opened = this.openCached(parentFd, child);
      if (opened !== undefined) return this.entryOfOpened(parent, opened.fd, opened.statx, opened);
    }
    // On the pool: statx of the name finds a held inode with no fd opened and closed. statx of one
    // component without following a symlink or an automount reaches what the confined O_PATH open would.
    const recs = await this.cx.sys.statxNamesRecords(parentFd, [child], AT_NAME, LOOKUP_MASK, this.statHandleFlags);
    const error = recs.error(0);
    if (error !== undefined) throw errnoError(error, 'statx');
    const st = recs.st(0);
    const known = this.cx.inodes.knownInRecords(st, recs, 0);
    if (known !== undefined) return this.cx.entry(this.cx.inodes.ref(known), st, this.submountFlag(parent, known, st));
    return this.fresh(parent, parentFd, child);
  }

  /**
   * Look up a name the caller has just created (MKDIR, MKNOD, SYMLINK): one new lookup reference. Its
   * inode is new, so there is no pass looking for a held one: the name is opened with its handle at
   * once (on this thread from the dentry cache where statCached's rules allow, else on the pool), and
   * resolve() still finds the inode if it is held after all (the name replaced on the host meanwhile).
   */
  async created(parent: Inode, parentFd: number, name: Uint8Array): Promise<Entry> {
    const opened = this.cx.inline.knownInline(parent.ids) ? this.openCached(parentFd, name) : undefined;
    return opened === undefined ? this.fresh(parent, parentFd, name) : this.entryOfOpened(parent, opened.fd, opened.statx, opened);
  }

  /** The entry (one new reference) of a name just opened as `fd` (consumed), with its handle in `made`. */
  private async entryOfOpened(parent: Inode, fd: number, st: native.Statx, made: MadeHandle): Promise<Entry> {
    const inode = await this.cx.inodes.resolve(fd, st, this.handleFlags !== undefined ? made : undefined);
    return this.cx.entry(inode, st, this.submountFlag(parent, inode, st));
  }

  /**
   * The name's attributes, on this thread (inline.ts), where nothing can wait: the parent is on a
   * filesystem known to keep attributes in memory, and the name is opened O_PATH from the dentry
   * cache, on the same mount, then statx'd through that fd. Enough when they name an inode we hold
   * (by its ids); otherwise at() opens the name (openCached) for resolve(). undefined: not here
   * (unknown or remote filesystem, a name not cached, a mount point, ENOENT...): the pool job answers.
   */
  private statCached(parent: Inode, parentFd: number, name: Uint8Array): native.Statx | undefined {
    if (!this.cx.inline.knownInline(parent.ids)) return undefined;
    const r = this.cx.sys.statxOpenedSync(parentFd, name, CACHED_OPEN, CACHED_RESOLVE, LOOKUP_MASK);
    return typeof r === 'number' ? undefined : r;
  }

  /** fresh()'s open on this thread, under statCached()'s rules (which the caller has just checked). */
  private openCached(parentFd: number, name: Uint8Array): native.OpenStat | undefined {
    const r = this.cx.sys.openStatSync(parentFd, name, { flags: CACHED_OPEN, resolve: CACHED_RESOLVE }, { mask: LOOKUP_MASK, handleFlags: this.handleFlags });
    return typeof r === 'number' ? undefined : r;
  }

  /**
   * READDIRPLUS on the directory handle `h` of `parent` (pinned by the caller), from `offset`: the
   * records that fit the reply, each looked up (one reference each, the contract's READDIRPLUS rule).
   * An entry that vanished since getdents64 is skipped; one that would pass --max-inodes is listed
   * without an entry (as "." and ".."); any other lookup failure ends the reply (the server still
   * delivers what was added, and the error shows on the next call).
   */
  readdirPlus(parent: Inode, h: Handle, offset: bigint, sink: DirentPlusSink): Promise<void> {
    const rootIno = parent.nodeid === FUSE_ROOT_ID ? parent.ids.ino : undefined;
    return readDirBatches(this.cx.sys, h, offset, Math.floor(sink.room / direntplusSize(1)), async (ds) => {
      // The records that fit in what is left of the reply, then their lookups, in (at most) two pool jobs.
      let room = sink.room;
      let n = 0;
      for (; n < ds.length; n++) {
        const size = direntplusSize(ds[n]!.name.length);
        if (size > room) break;
        room -= size;
      }
      const batch = ds.slice(0, n);
      const found = await this.many(parent, h.fd, batch.map((d) => d.name), h.dir!);
      for (let i = 0; i < batch.length; i++) {
        const d = batch[i]!;
        const f = found[i]!;
        let added: boolean;
        // The records are this call's own (readDirBatches decodes them per call): filled in place.
        if (f === 'dot') {
          if (rootIno !== undefined && isDotDot(d.name)) d.ino = rootIno;
          added = sink.add(d, null);
        } else if (f instanceof Error) {
          const code = (f as { code?: string }).code;
          if (code === 'ENOENT') continue; // gone since getdents64: consumed, not listed
          // At --max-inodes the name is still listed, without an entry (nodeid 0: the guest looks it up itself).
          if (code !== 'ENFILE') {
            // Deliver what this batch added (the records' positions are kept); the error comes again next call.
            this.forgetFrom(found, i + 1);
            if (i > 0) return i;
            throw f;
          }
          added = sink.add(d, null);
        } else {
          d.ino = f.attr.ino;
          d.type = (f.attr.mode & native.S_IFMT) >> 12;
          added = sink.add(d, f);
        }
        if (!added) {
          this.forgetFrom(found, i);
          return i;
        }
      }
      return batch.length;
    });
  }

  /**
   * Several names of one directory, each with one new reference. Usually two pool jobs: a statx of
   * every name finds the inodes already held without opening them (most of a listing the guest has
   * seen before), then the others are opened. When most names of the stream's last reply were new
   * (a first listing), all are opened in one job, and held ones are found by resolve().
   */
  private async many(parent: Inode, dirFd: number, names: Uint8Array[], stream: DirStream): Promise<Found[]> {
    const { inodes } = this.cx;
    // Plain loops: this runs once per READDIRPLUS reply, for every record of it.
    const idx: number[] = [];
    const looked: Uint8Array[] = [];
    const out = new Array<Found | undefined>(names.length);
    for (let i = 0; i < names.length; i++) {
      const nm = names[i]!;
      if (isDotOrDotDot(nm)) out[i] = 'dot';
      else {
        idx.push(i);
        looked.push(nm);
      }
    }
    if (idx.length === 0) return out as Found[];
    if (stream.mostlyNew) {
      const held = await this.openResolve(parent, dirFd, names, idx, out);
      stream.mostlyNew = held * 2 < idx.length;
      return out as Found[];
    }
    const recs = await this.cx.sys.statxNamesRecords(dirFd, looked, AT_NAME, LOOKUP_MASK, this.statHandleFlags);
    const unknown: number[] = [];
    for (let k = 0; k < idx.length; k++) {
      const i = idx[k]!;
      const error = recs.error(k);
      if (error !== undefined) {
        out[i] = errnoError(error, 'statx');
        continue;
      }
      const st = recs.st(k);
      // Held inodes are found by their ids (a handle-backed one confirmed by comparing handles in place).
      const known = inodes.knownInRecords(st, recs, k);
      if (known === undefined) unknown.push(i);
      else out[i] = this.cx.entry(inodes.ref(known), st, this.submountFlag(parent, known, st));
    }
    stream.mostlyNew = unknown.length * 2 > idx.length;
    if (unknown.length > 0) await this.openResolve(parent, dirFd, names, unknown, out);
    return out as Found[];
  }

  /**
   * Open, stat and get the handle of names[i] for each i of `which` in one job, then resolve each into
   * out[i] (an entry with a new reference, or the error). Returns how many were inodes held already.
   */
  private async openResolve(parent: Inode, dirFd: number, names: Uint8Array[], which: number[], out: (Found | undefined)[]): Promise<number> {
    const { inodes } = this.cx;
    const handles = this.handleFlags !== undefined;
    const opened = await this.cx.opener.openMany(dirFd, which.map((i) => names[i]!), native.O_PATH, { handle: handles });
    let held = 0;
    await Promise.all(
      opened.map(async (c, k) => {
        const i = which[k]!;
        if (c instanceof Error) return void (out[i] = c);
        try {
          const inode = await inodes.resolve(c.fd, c.st, handles ? c : undefined);
          // A new inode starts with this one reference; a held one had some already.
          if (inode.refcount > 1) held++;
          out[i] = this.cx.entry(inode, c.st, this.submountFlag(parent, inode, c.st));
        } catch (e) {
          out[i] = e instanceof Error ? e : new Error(String(e));
        }
      }),
    );
    return held;
  }

  /** Undo the references many() took for the entries from `from` on, which will not be sent. */
  private forgetFrom(found: readonly Found[], from: number): void {
    for (let i = from; i < found.length; i++) {
      const f = found[i]!;
      if (f !== 'dot' && !(f instanceof Error)) this.cx.inodes.forget(f.nodeid, 1n);
    }
  }

  /** A name not held yet: open, stat and (if inodes are held by handles) its handle in one job; then resolve it. */
  private async fresh(parent: Inode, parentFd: number, name: Uint8Array): Promise<Entry> {
    const c = await this.cx.opener.open(parentFd, name, native.O_PATH, { handle: this.handleFlags !== undefined });
    return this.entryOfOpened(parent, c.fd, c.st, c);
  }

  private async dotDot(parent: Inode, parentFd: number): Promise<Entry> {
    if (parent.nodeid === FUSE_ROOT_ID) return this.rootEntry();
    const { sys } = this.cx;
    const fd = await sys.openat(parentFd, '..', native.O_PATH | native.O_NOFOLLOW | native.O_DIRECTORY, 0);
    let st: native.Statx;
    try {
      st = await sys.statx(fd, '', AT_FD, LOOKUP_MASK);
      await this.confineDotDot(fd, st);
    } catch (e) {
      closeLogged(sys, fd);
      throw e;
    }
    const inode = await this.cx.inodes.resolve(fd, st);
    return this.cx.entry(inode, st, this.submountFlag(parent, inode, st));
  }

  /** FUSE_ATTR_SUBMOUNT for a directory on another mount than its parent, when submounts are announced. */
  private submountFlag(parent: Inode, inode: Inode, st: native.Statx): number {
    return this.cx.submounts() && inode.isDir && (st.dev !== parent.ids.dev || st.mntId !== parent.ids.mntId) ? FUSE_ATTR_SUBMOUNT : 0;
  }

  private async rootEntry(): Promise<Entry> {
    const { inodes } = this.cx;
    const root = inodes.pin(FUSE_ROOT_ID);
    try {
      const st = await this.cx.sys.statx(root.fd, '', AT_FD, LOOKUP_MASK);
      return this.cx.entry(inodes.ref(root), st);
    } finally {
      inodes.unpin(root);
    }
  }

  /**
   * The parent of a directory inside the share is inside too — unless the host moved the directory out
   * meanwhile. The root is fine; anything else must sit below the root's current path.
   */
  private async confineDotDot(fd: number, st: native.Statx): Promise<void> {
    const root = this.cx.inodes.root;
    if (root === undefined) throw new FuseError('ESTALE', 'no root');
    if (st.dev === root.ids.dev && st.ino === root.ids.ino) return;
    const [where, rootWhere] = await Promise.all([this.cx.host.whereIs(fd), this.cx.host.whereIs(root.fd)]);
    const prefix = rootWhere.toString('latin1') === '/' ? '/' : rootWhere.toString('latin1') + '/';
    if (!where.toString('latin1').startsWith(prefix)) throw new FuseError('ENOENT', '".." leads outside the shared directory');
  }
}
