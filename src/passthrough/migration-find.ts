/**
 * The destination's search for a migrated inode (migration.ts drives it), and the host helpers both
 * sides share. The state is untrusted, so whatever is found must be proven to lie inside the shared
 * directory:
 *  - a path is resolved beneath it only (host.openBeneath);
 *  - a file handle names any inode of the whole filesystem, so what open_by_handle_at opens counts
 *    only when the kernel places it below the shared dir (readlink of the fd). Directories it always
 *    places (the kernel reconnects them); a file it has not met since mounting (CephFS: one that only
 *    another host touched) comes back disconnected, and is accepted only when the state's path leads
 *    to it, or when it is found by name in a directory already proven inside: one of the directories
 *    the guest holds (findInDirs). That covers a file renamed on another host within or between
 *    directories the guest knows; a file moved anywhere else cannot be proven inside and is not found.
 */
import * as native from '../native/fs.js';
import type { MigrationOptions } from '../migration/migratable.js';
import { closeLogged } from './inode-store.js';
import type { MigrationContext } from './migration.js';
import { typeName, type ParsedInode } from './migration-state.js';

/** statx flags for an fd itself. */
const AT_FD = native.AT_EMPTY_PATH | native.AT_SYMLINK_NOFOLLOW;
/** Most directory entries findInDirs reads in one call. */
export const MAX_SCAN_ENTRIES = 1 << 20;
const DIRBUF = 64 * 1024;

/** Where the destination looks. */
export interface Where {
  rootFd: number;
  /** A real fd on the shared dir for open_by_handle_at; -1 unless file-handles mode. */
  mountFd: number;
  /** The shared dir's current path and a '/'. */
  prefix: Buffer;
  /** The source's shared dir had our st_dev: (dev, ino) comparisons may include dev. */
  sameDev: boolean;
}

/** An O_PATH fd (the caller's) of the inode found. */
export interface Hit {
  fd: number;
  st: native.Statx;
  by: 'handle' | 'path' | 'scan';
}

/** Opened by its handle, but not placed inside the shared dir yet: findInDirs may still place it. */
export interface Unplaced {
  r: ParsedInode;
  fd: number;
  st: native.Statx;
  why: string;
}

export type Found = Hit | Unplaced | { why: string };

/** Find the inode of a state record on this host. Every fd in the result is the caller's. */
export async function find(cx: MigrationContext, r: ParsedInode, o: MigrationOptions, w: Where): Promise<Found> {
  let why = 'the state has neither a path nor (in file-handles mode) a file handle for it';
  let unplaced: Unplaced | undefined;
  if (w.mountFd >= 0 && r.handle !== undefined) {
    const h = await openByHandle(cx, r, w);
    if ('fd' in h) {
      if (h.placed) return { fd: h.fd, st: h.st, by: 'handle' };
      why = 'its file handle opens an inode the kernel does not place inside the shared directory';
      unplaced = { r, fd: h.fd, st: h.st, why };
    } else {
      why = h.why;
    }
  }
  if (r.path === undefined) return unplaced ?? { why };
  const byPath = await findByPath(cx, r, o, w, unplaced?.st);
  if ('fd' in byPath) {
    if (unplaced !== undefined) await closeLogged(cx.sys, unplaced.fd);
    return byPath;
  }
  const both = `${unplaced !== undefined || (w.mountFd >= 0 && r.handle !== undefined) ? `${why}; ` : ''}${byPath.why}`;
  if (unplaced !== undefined) return { ...unplaced, why: both };
  return { why: both };
}

/** By the state's path; with `mustBe` (what the handle opened) the path must lead to that very inode. */
async function findByPath(cx: MigrationContext, r: ParsedInode, o: MigrationOptions, w: Where, mustBe: native.Statx | undefined): Promise<Hit | { why: string }> {
  let fd: number;
  try {
    fd = await cx.host.openBeneath(w.rootFd, r.path!);
  } catch (e) {
    return { why: `its path: ${errText(e)}` };
  }
  try {
    const st = await stat(cx, fd);
    let mismatch: string | undefined;
    if ((st.mode & native.S_IFMT) !== r.type) mismatch = `its path leads to a ${typeName(st.mode)}, not a ${typeName(r.type)}`;
    else if (mustBe !== undefined && (st.dev !== mustBe.dev || st.ino !== mustBe.ino)) mismatch = 'its path leads to another inode';
    else if (mustBe === undefined && o.verifyHandles && !(await sameInode(cx, fd, st, r, w.sameDev))) mismatch = 'its path leads to another inode (--migration-verify-handles)';
    if (mismatch === undefined) return { fd, st, by: 'path' };
    await closeLogged(cx.sys, fd);
    return { why: mismatch };
  } catch (e) {
    await closeLogged(cx.sys, fd);
    return { why: `its path: ${errText(e)}` };
  }
}

async function openByHandle(cx: MigrationContext, r: ParsedInode, w: Where): Promise<{ fd: number; st: native.Statx; placed: boolean } | { why: string }> {
  let fd: number;
  try {
    fd = await cx.sys.openByHandleAt(w.mountFd, r.handle!, native.O_PATH);
  } catch (e) {
    return { why: `its file handle: ${errText(e)}` };
  }
  try {
    const st = await stat(cx, fd);
    if ((st.mode & native.S_IFMT) !== r.type) {
      await closeLogged(cx.sys, fd);
      return { why: `its file handle opens a ${typeName(st.mode)}, not a ${typeName(r.type)}` };
    }
    // Placed: the kernel's path for it lies below the shared dir (the root itself is never another nodeid).
    return { fd, st, placed: below(await cx.host.whereIs(fd), w.prefix) !== undefined };
  } catch (e) {
    await closeLogged(cx.sys, fd);
    return { why: `its file handle: ${errText(e)}` };
  }
}

/** Where findInDirs found an inode: an O_PATH fd (the caller's), the directory's nodeid and the name in it. */
export interface DirHit extends Hit {
  dir: bigint;
  name: Buffer;
}

/**
 * Look for live inodes (`items`, each with its statx) by name in the directories `dirs` (nodeids
 * the store holds, proven inside the shared dir): an entry whose d_ino matches is opened beneath its
 * directory (no symlink followed) and must be that very inode (dev and ino: it is alive, so they
 * name it alone). At most MAX_SCAN_ENTRIES entries are read in all. The destination uses it for files
 * a handle opened disconnected, the source for inodes whose name the kernel lost.
 */
export async function findInDirs<T extends { st: native.Statx }>(cx: MigrationContext, items: readonly T[], dirs: readonly bigint[]): Promise<Map<T, DirHit>> {
  const found = new Map<T, DirHit>();
  const wanted = new Map<bigint, T[]>();
  for (const u of items) wanted.set(u.st.ino, [...(wanted.get(u.st.ino) ?? []), u]);
  let budget = MAX_SCAN_ENTRIES;
  const buf = new Uint8Array(DIRBUF);
  const scan = async (dir: bigint, dirPathFd: number): Promise<void> => {
    const dfd = await cx.host.reopen(dirPathFd, native.S_IFDIR, native.O_RDONLY | native.O_DIRECTORY);
    try {
      for (;;) {
        const n = await cx.sys.getdents64(dfd, buf);
        if (n === 0) return;
        for (const d of native.parseDirents(buf, n)) {
          budget--;
          const candidates = wanted.get(d.ino);
          if (candidates === undefined || d.name.equals(DOT) || d.name.equals(DOTDOT)) continue;
          const fd = await cx.host.openChild(dirPathFd, d.name, native.O_PATH).catch(() => -1);
          if (fd < 0) continue;
          const st = await stat(cx, fd).catch(() => undefined);
          const u = st === undefined ? undefined : candidates.find((c) => st.dev === c.st.dev && st.ino === c.st.ino);
          if (u === undefined || st === undefined) {
            await closeLogged(cx.sys, fd);
            continue;
          }
          found.set(u, { fd, st, by: 'scan', dir, name: d.name });
          const rest = candidates.filter((c) => c !== u);
          if (rest.length > 0) wanted.set(d.ino, rest);
          else wanted.delete(d.ino);
        }
        if (wanted.size === 0 || budget <= 0) return;
      }
    } finally {
      await closeLogged(cx.sys, dfd);
    }
  };
  for (const dir of dirs) {
    if (wanted.size === 0 || budget <= 0) break;
    // An unreadable or vanished directory finds nothing.
    await cx.inodes.with(dir, (fd) => scan(dir, fd)).catch(() => undefined);
  }
  return found;
}

const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

/** --migration-verify-handles: the inode at `fd` is the one recorded (file handle if both have one, else ino and maybe dev). */
export async function sameInode(cx: MigrationContext, fd: number, st: native.Statx, rec: { dev: number; ino: bigint; handle: Buffer | undefined }, sameDev: boolean): Promise<boolean> {
  if (rec.handle !== undefined) {
    const h = await handleOf(cx, fd);
    if (h !== undefined) return h.equals(rec.handle);
  }
  return st.ino === rec.ino && (!sameDev || st.dev === rec.dev);
}

// ---- helpers shared with the source side ----------------------------------------------------------

export function stat(cx: MigrationContext, fd: number): Promise<native.Statx> {
  return cx.sys.statx(fd, '', AT_FD, native.STATX_BASIC_STATS | native.STATX_MNT_ID);
}

/** The file handle of what fd holds, or undefined where the filesystem gives none. */
export async function handleOf(cx: MigrationContext, fd: number): Promise<Buffer | undefined> {
  try {
    return (await cx.sys.nameToHandleAt(fd, '', native.AT_EMPTY_PATH)).handle;
  } catch {
    return undefined;
  }
}

/** "/a/b" -> "/a/b/"; "/" stays. */
export function dirPrefix(p: Buffer): Buffer {
  return p.length === 1 && p[0] === 0x2f ? p : Buffer.concat([p, Buffer.from('/')]);
}

/** The part of `where` below `prefix` (non-empty), or undefined. */
export function below(where: Buffer, prefix: Buffer): Buffer | undefined {
  if (where.length <= prefix.length || !where.subarray(0, prefix.length).equals(prefix)) return undefined;
  return Buffer.from(where.subarray(prefix.length));
}

export function errText(e: unknown): string {
  const code = (e as { code?: string }).code;
  return `${code !== undefined ? `${code}: ` : ''}${(e as Error).message}`;
}
