/**
 * Live migration of the passthrough: what the guest holds (nodeids with lookup counts, open handles,
 * the next ids) leaves the source as JSON (layout and validation: migration-state.ts; the operator's
 * view: docs/migration.md) and is installed under the same ids on the destination, another daemon
 * on the same directory (same host, or another host on the same CephFS).
 *
 * Source (exportState, every ring stopped): each inode is described by
 *  - its path relative to the shared dir: readlink(/proc/self/fd/N) of its O_PATH fd, which the kernel
 *    keeps up to date across renames (a host-side rename included), minus the shared dir's own current
 *    path. " (deleted)" with no links left means the inode is gone from the namespace.
 *    --migration-confirm-paths resolves that path again beneath the shared dir and checks it leads to
 *    this very inode (dev, ino); if not (a network filesystem's stale name), it asks the kernel once
 *    more after the failed lookup refreshed it;
 *  - when the kernel has no usable name for it (another CephFS client renamed it: the source's
 *    kernel then says " (deleted)"), a second chance: the inode is looked for by name in the
 *    directories the guest holds whose paths are known (findInDirs, migration-find.ts);
 *  - its file handle (name_to_handle_at) and (dev, ino), to find or verify it.
 * An inode with no path (find-paths) or neither path nor handle (file-handles) is lost:
 * --migration-on-error=abort fails the save (QEMU then cancels the migration and the source keeps
 * running), guest-error sends it marked stale.
 *
 * Destination (importState, after the FUSE session is restored, before any request):
 *  - file-handles: open_by_handle_at on the shared dir's mount, accepted only once proven inside the
 *    shared dir (a handle names any inode of the filesystem, and the state is untrusted): the kernel
 *    places it there, or the state's path leads to it, or it is found by name in one of the
 *    directories the guest holds (migration-find.ts); if the handle fails, the path;
 *  - a path is resolved beneath the shared dir only (host.openBeneath: plain components, no symlink);
 *  - the file type must match; --migration-verify-handles also compares the file handle (or ino, and
 *    dev when the source's shared dir had the same dev) and treats a mismatch as not found;
 *  - not found: abort → importState throws (CHECK_DEVICE_STATE fails); guest-error → the nodeid stays
 *    known as stale (every operation ESTALE, its handles too), never another file.
 * Open handles are opened again with their flags minus O_CREAT/O_EXCL/O_TRUNC (REOPEN_FLAGS). The
 * counters continue above every migrated id. A failed import leaves nothing behind but the root.
 * Lock owners are not migrated: host locks belong to the source process and end with it.
 */
import { FUSE_ROOT_ID } from '../../protocol/fuse-opcodes.js';
import { logger } from '../log.js';
import * as native from '../native/fs.js';
import type { MigrationOptions } from '../migration/migratable.js';
import type { HandleTable, Handle } from './handles.js';
import type { Host } from './host.js';
import { closeLogged, type Inode, type InodeStore } from './inode-store.js';
import { below, dirPrefix, errText, find, findInDirs, handleOf, sameInode, stat, type Hit, type Unplaced, type Where } from './migration-find.js';
import {
  PASSTHROUGH_STATE_FORMAT,
  PASSTHROUGH_STATE_VERSION,
  REOPEN_FLAGS,
  parseState,
  typeName,
  type HandleRecord,
  type InodeRecord,
  type ParsedInode,
  type PassthroughStateV1,
} from './migration-state.js';

const hex = (b: Buffer | undefined): string | null => (b === undefined ? null : b.toString('hex'));

const log = logger('migration');

/** Host calls in flight at once while saving or loading. */
const PARALLEL = 16;
/** Per-inode warnings logged before only a count is kept. */
const WARN_LIMIT = 20;
const DELETED = Buffer.from(' (deleted)');

/** A migration that cannot go on; `code` is stable. */
export class MigrationError extends Error {
  constructor(
    readonly code: 'MIGRATION_SOURCE_LOST' | 'MIGRATION_NOT_FOUND' | 'MIGRATION_NOT_REOPENED' | 'STATE_NOT_FRESH' | 'STATE_WRONG_SHARED_DIR',
    message: string,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** What of PassthroughFs the migration works on. */
export interface MigrationContext {
  sys: typeof native;
  host: Host;
  inodes: InodeStore;
  handles: HandleTable;
  /** O_DIRECT may be kept on re-opened handles (--allow-direct-io). */
  allowDirectIo: boolean;
}

// ---- source ------------------------------------------------------------------------------------

export async function exportState(cx: MigrationContext, o: MigrationOptions): Promise<PassthroughStateV1> {
  const base = {
    format: PASSTHROUGH_STATE_FORMAT,
    version: PASSTHROUGH_STATE_VERSION,
    mode: o.mode,
    nextNodeid: cx.inodes.nextId.toString(),
    nextFh: cx.handles.nextFh.toString(),
  } as const;
  const root = cx.inodes.root;
  if (root === undefined) return { ...base, root: null, inodes: [], handles: [] };
  const prefix = dirPrefix(await cx.host.whereIs(root.fd));
  const rootSt = await stat(cx, root.fd);
  const rootRec = { dev: rootSt.dev, ino: rootSt.ino.toString(), handle: hex(await handleOf(cx, root.fd)) };
  const warn = limitedWarn();
  let stale = 0;
  let byHandleOnly = 0;
  let byScan = 0;
  /** Paths found, by nodeid (directories: where the second chance looks). */
  const paths = new Map<bigint, Buffer>([[FUSE_ROOT_ID, Buffer.alloc(0)]]);
  /** Inodes with no path yet: a second chance below. */
  const pathless: { inode: Inode; rec: InodeRecord; st: native.Statx | undefined; why: string }[] = [];

  const inodes = await mapLimit(cx.inodes.all().filter((i) => i.nodeid !== FUSE_ROOT_ID), PARALLEL, async (inode): Promise<InodeRecord> => {
    const rec: InodeRecord = {
      nodeid: inode.nodeid.toString(),
      nlookup: inode.refcount.toString(),
      generation: '0',
      type: typeName(inode.mode),
      handle: null,
      dev: inode.ids.dev,
      ino: inode.ids.ino.toString(),
    };
    if (inode.stale) {
      stale++;
      rec.stale = 'lost in an earlier migration';
      return rec;
    }
    let st: native.Statx | undefined;
    try {
      await cx.inodes.with(inode.nodeid, async (fd) => {
        st = await stat(cx, fd);
        rec.dev = st.dev;
        rec.ino = st.ino.toString();
        rec.handle = hex(await handleOf(cx, fd));
        const p = await pathOf(cx, root.fd, fd, st, prefix, o.confirmPaths);
        if (p.path !== undefined) {
          setPath(rec, p.path);
          paths.set(inode.nodeid, p.path);
        } else {
          pathless.push({ inode, rec, st, why: p.why });
        }
      });
    } catch (e) {
      pathless.push({ inode, rec, st: undefined, why: `it cannot be reached (${errText(e)})` });
    }
    return rec;
  });

  // Second chance: a name in one of the directories the guest holds (a network filesystem's client
  // may not know the new name of a file another host renamed, and "(deleted)" names it then).
  const alive = pathless.filter((l): l is typeof l & { st: native.Statx } => l.st !== undefined);
  const dirs = [...paths.keys()].filter((id) => id === FUSE_ROOT_ID || cx.inodes.get(id)?.isDir === true);
  const hits = alive.length > 0 ? await findInDirs(cx, alive, dirs) : new Map();
  for (const l of pathless) {
    const hit = hits.get(l);
    if (hit !== undefined) {
      await closeLogged(cx.sys, hit.fd);
      const dir = paths.get(hit.dir)!;
      setPath(l.rec, dir.length === 0 ? hit.name : Buffer.concat([dir, Buffer.from('/'), hit.name]));
      byScan++;
      continue;
    }
    if (o.mode === 'file-handles' && l.rec.handle !== null) {
      byHandleOnly++;
      continue;
    }
    const what = `nodeid ${l.inode.nodeid} (${l.rec.type}, ino ${l.rec.ino}): ${l.why}`;
    if (o.onError === 'abort') {
      for (const h of hits.values()) await closeLogged(cx.sys, h.fd);
      throw new MigrationError('MIGRATION_SOURCE_LOST', `cannot describe ${what} (--migration-on-error=abort)`);
    }
    warn(`sending ${what}: the guest will get ESTALE for it`);
    stale++;
    l.rec.stale = l.why;
  }

  const exported = new Set(inodes.map((r) => r.nodeid));
  exported.add(FUSE_ROOT_ID.toString());
  const handles: HandleRecord[] = [];
  for (const h of cx.handles.all()) {
    if (!exported.has(h.nodeid.toString())) {
      warn(`fh ${h.fh} is on nodeid ${h.nodeid}, which the guest forgot: not sent`);
      continue;
    }
    const r: HandleRecord = { fh: h.fh.toString(), nodeid: h.nodeid.toString(), flags: h.hostFlags, dir: h.dir !== undefined };
    if (h.stale) r.stale = true;
    handles.push(r);
  }
  log.info(`migration: saved ${inodes.length} inodes (${byScan} found again in a directory the guest holds, ${byHandleOnly} by file handle only, ${stale} stale) and ${handles.length} open handles`);
  return { ...base, root: rootRec, inodes, handles };
}

/**
 * The path of the inode `fd` holds, relative to the shared dir (`prefix`: its current path and a
 * '/'), or why there is none.
 */
async function pathOf(cx: MigrationContext, rootFd: number, fd: number, st: native.Statx, prefix: Buffer, confirm: boolean): Promise<{ path?: Buffer; why: string }> {
  const where = await cx.host.whereIs(fd);
  const rel = below(where, prefix);
  if (rel === undefined) return { why: `it is not inside the shared directory (the kernel says ${where.toString()})` };
  const deleted = rel.length > DELETED.length && rel.subarray(rel.length - DELETED.length).equals(DELETED);
  if (deleted && st.nlink === 0) return { why: 'it was deleted on the host' };
  if (!confirm && !deleted) return { path: rel, why: '' };
  // A name really ending in " (deleted)", or --migration-confirm-paths: the path must lead to this inode.
  if (await leadsTo(cx, rootFd, rel, st)) return { path: rel, why: '' };
  if (deleted) return { why: 'its name was removed on the host' };
  // The kernel's name was stale (another client renamed it); the failed lookup refreshed it: ask again.
  const again = below(await cx.host.whereIs(fd), prefix);
  if (again !== undefined && !again.equals(rel) && (await leadsTo(cx, rootFd, again, st))) return { path: again, why: '' };
  return { why: `its path "${rel.toString()}" does not lead to it any more` };
}

/** Whether `rel` beneath the shared dir is the inode described by `st` (same dev and ino). */
async function leadsTo(cx: MigrationContext, rootFd: number, rel: Buffer, st: native.Statx): Promise<boolean> {
  let fd: number;
  try {
    fd = await cx.host.openBeneath(rootFd, rel);
  } catch {
    return false;
  }
  try {
    const s = await stat(cx, fd);
    return s.dev === st.dev && s.ino === st.ino;
  } catch {
    return false;
  } finally {
    await closeLogged(cx.sys, fd);
  }
}

function setPath(rec: InodeRecord, p: Buffer): void {
  try {
    rec.path = new TextDecoder('utf-8', { fatal: true }).decode(p);
  } catch {
    rec.pathBase64 = p.toString('base64');
  }
}

// ---- destination -------------------------------------------------------------------------------

export async function importState(cx: MigrationContext, state: unknown, o: MigrationOptions): Promise<void> {
  const st = parseState(state);
  const root = cx.inodes.root;
  if (cx.inodes.size > (root === undefined ? 0 : 1) || cx.handles.size > 0) {
    throw new MigrationError('STATE_NOT_FRESH', 'device state must be loaded before any request: this file system already holds inodes or handles');
  }
  if (st.root === undefined || root === undefined) {
    if (st.inodes.length > 0 || st.handles.length > 0) throw new MigrationError('STATE_NOT_FRESH', 'the state holds inodes but the FUSE session was not initialized');
    cx.inodes.reserveIds(st.nextNodeid);
    cx.handles.reserve(st.nextFh);
    return;
  }
  const rootSt = await stat(cx, root.fd);
  const sameDev = st.root.dev === rootSt.dev;
  if (o.verifyHandles && !(await sameInode(cx, root.fd, rootSt, st.root, sameDev))) {
    throw new MigrationError('STATE_WRONG_SHARED_DIR', `the source's shared directory (ino ${st.root.ino}) is not this one (ino ${rootSt.ino}) (--migration-verify-handles)`);
  }
  // open_by_handle_at needs a real open fd on the filesystem: the shared dir, read-only.
  const mountFd = o.mode === 'file-handles' ? await cx.host.reopen(root.fd, rootSt.mode, native.O_RDONLY | native.O_DIRECTORY) : -1;
  const where: Where = { rootFd: root.fd, mountFd, prefix: dirPrefix(await cx.host.whereIs(root.fd)), sameDev };
  const adoptedInodes: Inode[] = [];
  const adoptedHandles: Handle[] = [];
  let unplaced: Unplaced[] = [];
  const warn = limitedWarn();
  const count = { handle: 0, path: 0, scan: 0, stale: 0, staleHandles: 0 };
  const notFound = (r: ParsedInode, why: string): void => {
    const what = `nodeid ${r.nodeid} (${typeName(r.type)}${r.path !== undefined ? ` "${r.path.toString()}"` : ''}, ino ${r.ino} on the source)`;
    if (o.onError === 'abort') throw new MigrationError('MIGRATION_NOT_FOUND', `${what} not found: ${why} (--migration-on-error=abort)`);
    warn(`${what} not found: ${why}; the guest gets ESTALE for it`);
    adoptedInodes.push(cx.inodes.adoptStale(r.nodeid, r.nlookup, r.type));
    count.stale++;
  };
  const install = async (r: ParsedInode, hit: Hit): Promise<void> => {
    adoptedInodes.push(await cx.inodes.adopt(r.nodeid, r.nlookup, hit.fd, hit.st));
    count[hit.by]++;
  };
  try {
    await mapLimit(st.inodes, PARALLEL, async (r) => {
      if (r.stale !== undefined) {
        adoptedInodes.push(cx.inodes.adoptStale(r.nodeid, r.nlookup, r.type));
        count.stale++;
        return;
      }
      const found = await find(cx, r, o, where);
      if ('by' in found) await install(r, found);
      else if ('fd' in found) unplaced.push(found);
      else notFound(r, found.why);
    });
    if (unplaced.length > 0) {
      // Files the handles opened but the kernel could not place: look for them in the directories the guest holds.
      const dirs = [FUSE_ROOT_ID, ...adoptedInodes.filter((i) => i.isDir && !i.stale).map((i) => i.nodeid)];
      const placed = await findInDirs(cx, unplaced, dirs);
      const todo = unplaced;
      unplaced = [];
      for (const [k, u] of todo.entries()) {
        await closeLogged(cx.sys, u.fd);
        const hit = placed.get(u);
        try {
          if (hit !== undefined) await install(u.r, hit);
          else notFound(u.r, `${u.why}, nor is it in a directory the guest holds`);
        } catch (e) {
          for (const rest of todo.slice(k + 1)) {
            await closeLogged(cx.sys, rest.fd);
            const h = placed.get(rest);
            if (h !== undefined) await closeLogged(cx.sys, h.fd);
          }
          throw e;
        }
      }
    }
    cx.inodes.reserveIds(st.nextNodeid);

    await mapLimit(st.handles, PARALLEL, async (r) => {
      const inode = cx.inodes.get(r.nodeid)!;
      let fd = -1;
      if (!r.stale && !inode.stale) {
        let flags = r.flags & REOPEN_FLAGS;
        if (!cx.allowDirectIo) flags &= ~native.O_DIRECT;
        try {
          fd = await cx.inodes.with(r.nodeid, (pathFd, i) => cx.host.reopen(pathFd, i.mode, flags));
        } catch (e) {
          const what = `fh ${r.fh} on nodeid ${r.nodeid}: cannot open it again (${errText(e)})`;
          if (o.onError === 'abort') throw new MigrationError('MIGRATION_NOT_REOPENED', `${what} (--migration-on-error=abort)`);
          warn(`${what}; the guest gets ESTALE for it`);
        }
      }
      if (fd < 0) count.staleHandles++;
      try {
        adoptedHandles.push(cx.handles.adopt(r.fh, r.nodeid, fd, r.flags & REOPEN_FLAGS, r.dir));
      } catch (e) {
        if (fd >= 0) await closeLogged(cx.sys, fd);
        throw e;
      }
    });
    cx.handles.reserve(st.nextFh);
  } catch (e) {
    for (const u of unplaced) await closeLogged(cx.sys, u.fd);
    for (const h of adoptedHandles) cx.handles.discard(h);
    for (const i of adoptedInodes) cx.inodes.discard(i);
    throw e;
  } finally {
    if (mountFd >= 0) await closeLogged(cx.sys, mountFd);
  }
  log.info(
    `migration: restored ${st.inodes.length} inodes (${count.handle} by file handle, ${count.path} by path, ${count.scan} by handle and directory scan, ${count.stale} stale) ` +
      `and ${st.handles.length} open handles (${count.staleHandles} stale)`,
  );
}

/** log.warn the first WARN_LIMIT messages, then only count them (a summary at the end is the caller's). */
function limitedWarn(): (msg: string) => void {
  let n = 0;
  return (msg) => {
    if (++n <= WARN_LIMIT) log.warn(`migration: ${msg}`);
    else if (n === WARN_LIMIT + 1) log.warn('migration: more inodes in the same state; not listing them all');
  };
}

/** Run fn over items with at most `limit` in flight; the first failure rejects (after the calls in flight settle). */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad !== undefined) throw bad.reason;
  return out;
}
