/**
 * MemoryFileSystem: a small in-memory FileSystem for tests, fuzzing and transport benchmarks (a daemon
 * path with no disk behind it). It keeps the lookup-count contract exactly — tests can read a node's
 * count with lookupCount() — and frees a node once it is unlinked, forgotten and closed. It does no
 * permission checks and has no locks beyond "everything succeeds".
 */
import { FUSE_ROOT_ID, RENAME_EXCHANGE, RENAME_NOREPLACE } from '../../protocol/fuse-opcodes.js';
import type { FuseAttr } from '../../protocol/fuse-structs.js';
import { FuseError } from './errors.js';
import type {
  AttrReply,
  Context,
  CreateReply,
  DirentPlusSink,
  DirentSink,
  Entry,
  FuseFileLock,
  FuseKstatfs,
  FuseSetattrIn,
  InitInfo,
  OpenReply,
} from './filesystem.js';
import { NullFileSystem } from './null-filesystem.js';
import { FATTR_ATIME, FATTR_ATIME_NOW, FATTR_GID, FATTR_MODE, FATTR_MTIME, FATTR_MTIME_NOW, FATTR_SIZE, FATTR_UID } from '../../protocol/fuse-flags.js';

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const O_TRUNC = 0o1000;
const O_EXCL = 0o200;
const O_ACCMODE = 3;
const F_UNLCK = 2;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

interface Node {
  nodeid: bigint;
  generation: bigint;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  nlink: number;
  data: Buffer;
  size: number;
  children: Map<string, bigint>;
  parent: bigint;
  target: Buffer;
  xattrs: Map<string, Buffer>;
  atime: number;
  mtime: number;
  ctime: number;
  lookups: bigint;
  opens: number;
}

export interface MemoryFileSystemOptions {
  /** Cache timeouts handed to the kernel, seconds. Default 1. */
  timeout?: number;
  /** INIT flags to ask for. Default none. */
  want?: bigint;
}

export class MemoryFileSystem extends NullFileSystem {
  private nodes = new Map<bigint, Node>();
  private handles = new Map<bigint, { nodeid: bigint; flags: number }>();
  private nextId = 2n;
  private nextFh = 1n;
  private readonly generation = 1n;
  private readonly t: number;
  private readonly want: bigint;

  constructor(opts: MemoryFileSystemOptions = {}) {
    super();
    this.t = opts.timeout ?? 1;
    this.want = opts.want ?? 0n;
    this.newNode(S_IFDIR | 0o755, { uid: 0, gid: 0 } as Context, FUSE_ROOT_ID, FUSE_ROOT_ID);
  }

  /** The kernel's current reference count on `nodeid` (undefined once the node is gone). */
  lookupCount(nodeid: bigint): bigint | undefined {
    return this.nodes.get(nodeid)?.lookups;
  }

  /** Number of live nodes, root included. */
  get nodeCount(): number {
    return this.nodes.size;
  }

  // ---- host-side access by path (no lookup references are taken: the kernel's counts stay exact) ----

  /** The node at an absolute path such as '/dir/file', or undefined. */
  private walk(p: string): Node | undefined {
    let n: Node | undefined = this.nodes.get(FUSE_ROOT_ID);
    for (const part of p.split('/')) {
      if (part === '' || n === undefined) continue;
      if ((n.mode & S_IFMT) !== S_IFDIR) return undefined;
      const id = n.children.get(Buffer.from(part, 'utf8').toString('latin1'));
      n = id === undefined ? undefined : this.nodes.get(id);
    }
    return n;
  }

  /** Create the directory `p` and any missing parents (mode 0755, owned by root). */
  addDirectory(p: string): void {
    let n = this.nodes.get(FUSE_ROOT_ID)!;
    for (const part of p.split('/')) {
      if (part === '') continue;
      const name = Buffer.from(part, 'utf8');
      const c = this.child(n, name);
      if (c !== undefined && (c.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR', `${p}: ${part} is not a directory`);
      n = c ?? this.add(n, name, S_IFDIR | 0o755, { uid: 0, gid: 0 } as Context);
    }
  }

  /** Create or replace the regular file `p` (parents are created) with `data`. */
  writeFile(p: string, data: string | Uint8Array, mode = 0o644): void {
    const slash = p.lastIndexOf('/');
    this.addDirectory(p.slice(0, Math.max(0, slash)));
    const parent = this.walk(p.slice(0, Math.max(0, slash)))!;
    const name = Buffer.from(p.slice(slash + 1), 'utf8');
    if (name.length === 0) throw new FuseError('EINVAL', `${p}: no file name`);
    let n = this.child(parent, name);
    if (n !== undefined && (n.mode & S_IFMT) !== S_IFREG) throw new FuseError('EEXIST', `${p} exists and is not a regular file`);
    n ??= this.add(parent, name, S_IFREG | (mode & 0o7777), { uid: 0, gid: 0 } as Context);
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    n.data = b;
    n.size = b.length;
    n.mtime = n.ctime = Date.now() / 1000;
  }

  /** A copy of the regular file `p`'s contents, or undefined if there is none. */
  readFile(p: string): Buffer | undefined {
    const n = this.walk(p);
    if (n === undefined || (n.mode & S_IFMT) !== S_IFREG) return undefined;
    return Buffer.from(n.data.subarray(0, n.size));
  }

  /** The names in directory `p`, or undefined if it is not a directory. */
  list(p: string): string[] | undefined {
    const n = this.walk(p);
    if (n === undefined || (n.mode & S_IFMT) !== S_IFDIR) return undefined;
    return [...n.children.keys()].map((k) => Buffer.from(k, 'latin1').toString('utf8'));
  }

  private newNode(mode: number, ctx: Context, parent: bigint, id = this.nextId++): Node {
    const now = Date.now() / 1000;
    const n: Node = {
      nodeid: id,
      generation: this.generation,
      mode,
      uid: ctx.uid,
      gid: ctx.gid,
      rdev: 0,
      nlink: (mode & S_IFMT) === S_IFDIR ? 2 : 1,
      data: Buffer.alloc(0),
      size: 0,
      children: new Map(),
      parent,
      target: Buffer.alloc(0),
      xattrs: new Map(),
      atime: now,
      mtime: now,
      ctime: now,
      lookups: 0n,
      opens: 0,
    };
    this.nodes.set(id, n);
    return n;
  }

  private node(nodeid: bigint): Node {
    const n = this.nodes.get(nodeid);
    if (n === undefined) throw new FuseError('ESTALE', `nodeid ${nodeid}`);
    return n;
  }

  private dir(nodeid: bigint): Node {
    const n = this.node(nodeid);
    if ((n.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR');
    return n;
  }

  private attr(n: Node): FuseAttr {
    const sec = (x: number) => BigInt(Math.floor(x));
    const ns = (x: number) => Math.floor((x % 1) * 1e9);
    const size = (n.mode & S_IFMT) === S_IFLNK ? n.target.length : (n.mode & S_IFMT) === S_IFDIR ? 4096 : n.size;
    return {
      ino: n.nodeid,
      size: BigInt(size),
      blocks: BigInt(Math.ceil(size / 512)),
      atime: sec(n.atime),
      mtime: sec(n.mtime),
      ctime: sec(n.ctime),
      atimensec: ns(n.atime),
      mtimensec: ns(n.mtime),
      ctimensec: ns(n.ctime),
      mode: n.mode,
      nlink: n.nlink,
      uid: n.uid,
      gid: n.gid,
      rdev: n.rdev,
      blksize: 4096,
      flags: 0,
    };
  }

  /** Hand out one lookup reference. */
  private entry(n: Node): Entry {
    n.lookups++;
    return { nodeid: n.nodeid, generation: n.generation, attr: this.attr(n), entryTimeout: this.t, attrTimeout: this.t };
  }

  private maybeFree(n: Node): void {
    if (n.nodeid !== FUSE_ROOT_ID && n.nlink === 0 && n.lookups === 0n && n.opens === 0) this.nodes.delete(n.nodeid);
  }

  private child(parent: Node, name: Buffer): Node | undefined {
    const id = parent.children.get(name.toString('latin1'));
    return id === undefined ? undefined : this.nodes.get(id);
  }

  private add(parent: Node, name: Buffer, mode: number, ctx: Context): Node {
    if (this.child(parent, name) !== undefined) throw new FuseError('EEXIST');
    const n = this.newNode(mode, ctx, parent.nodeid);
    parent.children.set(name.toString('latin1'), n.nodeid);
    if ((mode & S_IFMT) === S_IFDIR) parent.nlink++;
    parent.mtime = parent.ctime = Date.now() / 1000;
    return n;
  }

  private masked(mode: number, ctx: Context): number {
    return mode & ~(ctx.umask ?? 0) & 0o7777;
  }

  override async init(_info: InitInfo): Promise<bigint> {
    return this.want;
  }
  /** The kernel let go (DESTROY, unmount, device reset): its references and open handles are gone, the tree stays. */
  override async destroy(): Promise<void> {
    this.handles.clear();
    for (const n of [...this.nodes.values()]) {
      n.lookups = 0n;
      n.opens = 0;
      this.maybeFree(n);
    }
  }
  override async lookup(_ctx: Context, parent: bigint, name: Buffer): Promise<Entry> {
    const p = this.dir(parent);
    const s = name.toString('latin1');
    const n = s === '.' ? p : s === '..' ? this.node(p.parent) : this.child(p, name);
    if (n === undefined) throw new FuseError('ENOENT');
    return this.entry(n);
  }
  override async forget(_ctx: Context, nodeid: bigint, nlookup: bigint): Promise<void> {
    const n = this.nodes.get(nodeid);
    if (n === undefined) return;
    n.lookups = n.lookups > nlookup ? n.lookups - nlookup : 0n;
    this.maybeFree(n);
  }
  override async batchForget(ctx: Context, items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void> {
    for (const i of items) await this.forget(ctx, i.nodeid, i.nlookup);
  }
  override async getattr(_ctx: Context, nodeid: bigint): Promise<AttrReply> {
    return { attr: this.attr(this.node(nodeid)), timeout: this.t };
  }
  override async setattr(_ctx: Context, nodeid: bigint, a: FuseSetattrIn): Promise<AttrReply> {
    const n = this.node(nodeid);
    const now = Date.now() / 1000;
    if (a.valid & FATTR_MODE) n.mode = (n.mode & S_IFMT) | (a.mode & 0o7777);
    if (a.valid & FATTR_UID) n.uid = a.uid;
    if (a.valid & FATTR_GID) n.gid = a.gid;
    if (a.valid & FATTR_SIZE) this.resize(n, Number(a.size));
    if (a.valid & FATTR_ATIME) n.atime = a.valid & FATTR_ATIME_NOW ? now : Number(a.atime) + a.atimensec / 1e9;
    if (a.valid & FATTR_MTIME) n.mtime = a.valid & FATTR_MTIME_NOW ? now : Number(a.mtime) + a.mtimensec / 1e9;
    n.ctime = now;
    return { attr: this.attr(n), timeout: this.t };
  }
  override async readlink(_ctx: Context, nodeid: bigint): Promise<Uint8Array> {
    const n = this.node(nodeid);
    if ((n.mode & S_IFMT) !== S_IFLNK) throw new FuseError('EINVAL');
    return n.target;
  }
  override async symlink(ctx: Context, parent: bigint, name: Buffer, target: Buffer): Promise<Entry> {
    const n = this.add(this.dir(parent), name, S_IFLNK | 0o777, ctx);
    n.target = Buffer.from(target);
    return this.entry(n);
  }
  override async mknod(ctx: Context, parent: bigint, name: Buffer, mode: number, rdev: number): Promise<Entry> {
    const n = this.add(this.dir(parent), name, (mode & S_IFMT) | this.masked(mode, ctx), ctx);
    n.rdev = rdev;
    return this.entry(n);
  }
  override async mkdir(ctx: Context, parent: bigint, name: Buffer, mode: number): Promise<Entry> {
    return this.entry(this.add(this.dir(parent), name, S_IFDIR | this.masked(mode, ctx), ctx));
  }
  override async unlink(_ctx: Context, parent: bigint, name: Buffer): Promise<void> {
    const p = this.dir(parent);
    const n = this.child(p, name);
    if (n === undefined) throw new FuseError('ENOENT');
    if ((n.mode & S_IFMT) === S_IFDIR) throw new FuseError('EISDIR');
    p.children.delete(name.toString('latin1'));
    n.nlink--;
    n.ctime = p.mtime = Date.now() / 1000;
    this.maybeFree(n);
  }
  override async rmdir(_ctx: Context, parent: bigint, name: Buffer): Promise<void> {
    const p = this.dir(parent);
    const n = this.child(p, name);
    if (n === undefined) throw new FuseError('ENOENT');
    if ((n.mode & S_IFMT) !== S_IFDIR) throw new FuseError('ENOTDIR');
    if (n.children.size > 0) throw new FuseError('ENOTEMPTY');
    p.children.delete(name.toString('latin1'));
    p.nlink--;
    n.nlink = 0;
    this.maybeFree(n);
  }
  override async rename(_ctx: Context, parent: bigint, name: Buffer, newParent: bigint, newName: Buffer, flags: number): Promise<void> {
    const p = this.dir(parent);
    const np = this.dir(newParent);
    const n = this.child(p, name);
    if (n === undefined) throw new FuseError('ENOENT');
    const victim = this.child(np, newName);
    const [from, to] = [name.toString('latin1'), newName.toString('latin1')];
    if (flags & RENAME_EXCHANGE) {
      if (victim === undefined) throw new FuseError('ENOENT');
      p.children.set(from, victim.nodeid);
      np.children.set(to, n.nodeid);
      [n.parent, victim.parent] = [np.nodeid, p.nodeid];
      return;
    }
    if (victim !== undefined) {
      if (flags & RENAME_NOREPLACE) throw new FuseError('EEXIST');
      if (victim === n) return;
      if ((victim.mode & S_IFMT) === S_IFDIR) {
        if (victim.children.size > 0) throw new FuseError('ENOTEMPTY');
        victim.nlink = 0;
        np.nlink--;
      } else victim.nlink--;
      this.maybeFree(victim);
    }
    p.children.delete(from);
    np.children.set(to, n.nodeid);
    n.parent = np.nodeid;
    if ((n.mode & S_IFMT) === S_IFDIR && p !== np) {
      p.nlink--;
      np.nlink++;
    }
  }
  override async link(_ctx: Context, nodeid: bigint, newParent: bigint, newName: Buffer): Promise<Entry> {
    const n = this.node(nodeid);
    if ((n.mode & S_IFMT) === S_IFDIR) throw new FuseError('EPERM');
    const np = this.dir(newParent);
    if (this.child(np, newName) !== undefined) throw new FuseError('EEXIST');
    np.children.set(newName.toString('latin1'), n.nodeid);
    n.nlink++;
    return this.entry(n);
  }

  private openNode(n: Node, flags: number): OpenReply {
    const fh = this.nextFh++;
    this.handles.set(fh, { nodeid: n.nodeid, flags });
    n.opens++;
    return { fh };
  }
  private handle(fh: bigint): Node {
    const h = this.handles.get(fh);
    if (h === undefined) throw new FuseError('EBADF');
    return this.node(h.nodeid);
  }
  private resize(n: Node, size: number): void {
    if (size > n.data.length) {
      const grown = Buffer.alloc(Math.max(size, n.data.length * 2));
      n.data.copy(grown, 0, 0, n.size);
      n.data = grown;
    } else if (size < n.size) n.data.fill(0, size, n.size);
    n.size = size;
    n.mtime = n.ctime = Date.now() / 1000;
  }

  override async open(_ctx: Context, nodeid: bigint, flags: number): Promise<OpenReply> {
    const n = this.node(nodeid);
    if ((n.mode & S_IFMT) === S_IFDIR && (flags & O_ACCMODE) !== 0) throw new FuseError('EISDIR');
    if (flags & O_TRUNC) this.resize(n, 0);
    return this.openNode(n, flags);
  }
  override async create(ctx: Context, parent: bigint, name: Buffer, mode: number, flags: number): Promise<CreateReply> {
    const p = this.dir(parent);
    let n = this.child(p, name);
    if (n !== undefined && flags & O_EXCL) throw new FuseError('EEXIST');
    if (n === undefined) n = this.add(p, name, S_IFREG | this.masked(mode, ctx), ctx);
    else if (flags & O_TRUNC) this.resize(n, 0);
    return { ...this.openNode(n, flags), entry: this.entry(n) };
  }
  override async tmpfile(ctx: Context, parent: bigint, mode: number, flags: number): Promise<CreateReply> {
    this.dir(parent);
    const n = this.newNode(S_IFREG | this.masked(mode, ctx), ctx, parent);
    n.nlink = 0;
    return { ...this.openNode(n, flags), entry: this.entry(n) };
  }
  override async read(_c: Context, _nodeid: bigint, fh: bigint, offset: bigint, size: number, _f: number, dest: Uint8Array[]): Promise<number> {
    const n = this.handle(fh);
    const start = Math.min(Number(offset), n.size);
    let src = n.data.subarray(start, Math.min(n.size, start + size));
    const total = src.length;
    for (const d of dest) {
      if (src.length === 0) break;
      const take = Math.min(d.length, src.length);
      d.set(src.subarray(0, take));
      src = src.subarray(take);
    }
    return total;
  }
  override async write(_c: Context, _nodeid: bigint, fh: bigint, offset: bigint, data: Uint8Array[]): Promise<number> {
    const n = this.handle(fh);
    let off = Number(offset);
    const len = data.reduce((a, d) => a + d.length, 0);
    if (off + len > n.size) this.resize(n, off + len);
    for (const d of data) {
      n.data.set(d, off);
      off += d.length;
    }
    n.mtime = n.ctime = Date.now() / 1000;
    return len;
  }
  override async flush(): Promise<void> {}
  override async fsync(): Promise<void> {}
  override async fsyncdir(): Promise<void> {}
  override async syncfs(): Promise<void> {}
  override async release(_c: Context, _nodeid: bigint, fh: bigint): Promise<void> {
    const n = this.handle(fh);
    this.handles.delete(fh);
    n.opens--;
    this.maybeFree(n);
  }
  override async opendir(_c: Context, nodeid: bigint, flags: number): Promise<OpenReply> {
    return this.openNode(this.dir(nodeid), flags);
  }
  override async releasedir(c: Context, nodeid: bigint, fh: bigint): Promise<void> {
    return this.release(c, nodeid, fh);
  }
  private listing(n: Node): Array<[string, Node]> {
    return [['.', n] as [string, Node], ['..', this.node(n.parent)] as [string, Node], ...[...n.children].map(([k, id]) => [k, this.node(id)] as [string, Node])];
  }
  override async readdir(_c: Context, _nodeid: bigint, fh: bigint, offset: bigint, sink: DirentSink): Promise<void> {
    const list = this.listing(this.handle(fh));
    for (let i = Number(offset); i < list.length; i++) {
      const [name, n] = list[i]!;
      if (!sink.add({ ino: n.nodeid, off: BigInt(i + 1), type: (n.mode & S_IFMT) >> 12, name: Buffer.from(name, 'latin1') })) return;
    }
  }
  override async readdirplus(_c: Context, _nodeid: bigint, fh: bigint, offset: bigint, sink: DirentPlusSink): Promise<void> {
    const list = this.listing(this.handle(fh));
    for (let i = Number(offset); i < list.length; i++) {
      const [name, n] = list[i]!;
      if (!sink.fits(name.length)) return;
      const d = { ino: n.nodeid, off: BigInt(i + 1), type: (n.mode & S_IFMT) >> 12, name: Buffer.from(name, 'latin1') };
      sink.add(d, name === '.' || name === '..' ? null : this.entry(n));
    }
  }
  override async statfs(): Promise<FuseKstatfs> {
    return { blocks: 1n << 20n, bfree: 1n << 19n, bavail: 1n << 19n, files: 1n << 16n, ffree: BigInt((1 << 16) - this.nodes.size), bsize: 4096, namelen: 255, frsize: 4096 };
  }
  override async access(_c: Context, nodeid: bigint): Promise<void> {
    this.node(nodeid);
  }
  override async setxattr(_c: Context, nodeid: bigint, name: Buffer, value: Buffer, flags: number): Promise<void> {
    const n = this.node(nodeid);
    const k = name.toString('latin1');
    if (flags & 1 && n.xattrs.has(k)) throw new FuseError('EEXIST'); // XATTR_CREATE
    if (flags & 2 && !n.xattrs.has(k)) throw new FuseError('ENODATA'); // XATTR_REPLACE
    n.xattrs.set(k, Buffer.from(value));
  }
  override async getxattr(_c: Context, nodeid: bigint, name: Buffer): Promise<Uint8Array> {
    const v = this.node(nodeid).xattrs.get(name.toString('latin1'));
    if (v === undefined) throw new FuseError('ENODATA');
    return v;
  }
  override async listxattr(_c: Context, nodeid: bigint): Promise<Uint8Array> {
    return Buffer.concat([...this.node(nodeid).xattrs.keys()].map((k) => Buffer.from(`${k}\0`, 'latin1')));
  }
  override async removexattr(_c: Context, nodeid: bigint, name: Buffer): Promise<void> {
    if (!this.node(nodeid).xattrs.delete(name.toString('latin1'))) throw new FuseError('ENODATA');
  }
  override async getlk(_c: Context, _n: bigint, _fh: bigint, _o: bigint, lock: FuseFileLock): Promise<FuseFileLock> {
    return { ...lock, type: F_UNLCK };
  }
  override async setlk(): Promise<void> {}
  override async fallocate(_c: Context, _n: bigint, fh: bigint, offset: bigint, length: bigint, mode: number): Promise<void> {
    const n = this.handle(fh);
    if (mode !== 0) throw new FuseError('EOPNOTSUPP');
    if (Number(offset + length) > n.size) this.resize(n, Number(offset + length));
  }
  override async lseek(_c: Context, _n: bigint, fh: bigint, offset: bigint, whence: number): Promise<bigint> {
    const n = this.handle(fh);
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) throw new FuseError('EINVAL');
    if (offset >= BigInt(n.size)) throw new FuseError('ENXIO');
    return whence === SEEK_DATA ? offset : BigInt(n.size);
  }
  override async copyFileRange(
    c: Context,
    nIn: bigint,
    fhIn: bigint,
    offIn: bigint,
    nOut: bigint,
    fhOut: bigint,
    offOut: bigint,
    len: bigint,
  ): Promise<number> {
    const src = this.handle(fhIn);
    const start = Math.min(Number(offIn), src.size);
    const chunk = Buffer.from(src.data.subarray(start, Math.min(src.size, start + Number(len))));
    void nIn;
    return this.write(c, nOut, fhOut, offOut, [chunk]);
  }
}
