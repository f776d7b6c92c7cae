/**
 * NullFileSystem: every operation answers ENOSYS, like the default methods of virtiofsd's FileSystem
 * trait. Real file systems (the passthrough, the in-memory one) extend it and override what they
 * implement; it is also the fuzz target for the server's decoding. init() asks for nothing,
 * destroy/forget/batchForget/interrupt do nothing (they have no reply to carry an error).
 */
import { FuseError } from './errors.js';
import type {
  AttrReply,
  Context,
  CreateReply,
  DirentPlusSink,
  DirentSink,
  Entry,
  FileSystem,
  FuseFileLock,
  FuseKstatfs,
  FuseSetattrIn,
  InitInfo,
  IoctlReply,
  OpenReply,
  StatxReply,
} from './filesystem.js';

function enosys(): never {
  throw new FuseError('ENOSYS');
}

export class NullFileSystem implements FileSystem {
  async init(_info: InitInfo): Promise<bigint> {
    return 0n;
  }
  async destroy(): Promise<void> {}
  async lookup(_ctx: Context, _parent: bigint, _name: Buffer): Promise<Entry> {
    enosys();
  }
  async forget(_ctx: Context, _nodeid: bigint, _nlookup: bigint): Promise<void> {}
  async batchForget(_ctx: Context, _items: ReadonlyArray<{ nodeid: bigint; nlookup: bigint }>): Promise<void> {}
  async getattr(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined): Promise<AttrReply> {
    enosys();
  }
  async setattr(_ctx: Context, _nodeid: bigint, _attr: FuseSetattrIn, _fh: bigint | undefined): Promise<AttrReply> {
    enosys();
  }
  async readlink(_ctx: Context, _nodeid: bigint): Promise<Uint8Array> {
    enosys();
  }
  async symlink(_ctx: Context, _parent: bigint, _name: Buffer, _target: Buffer): Promise<Entry> {
    enosys();
  }
  async mknod(_ctx: Context, _parent: bigint, _name: Buffer, _mode: number, _rdev: number): Promise<Entry> {
    enosys();
  }
  async mkdir(_ctx: Context, _parent: bigint, _name: Buffer, _mode: number): Promise<Entry> {
    enosys();
  }
  async unlink(_ctx: Context, _parent: bigint, _name: Buffer): Promise<void> {
    enosys();
  }
  async rmdir(_ctx: Context, _parent: bigint, _name: Buffer): Promise<void> {
    enosys();
  }
  async rename(_ctx: Context, _parent: bigint, _name: Buffer, _newParent: bigint, _newName: Buffer, _flags: number): Promise<void> {
    enosys();
  }
  async link(_ctx: Context, _nodeid: bigint, _newParent: bigint, _newName: Buffer): Promise<Entry> {
    enosys();
  }
  async open(_ctx: Context, _nodeid: bigint, _flags: number, _openFlags: number): Promise<OpenReply> {
    enosys();
  }
  async create(_ctx: Context, _parent: bigint, _name: Buffer, _mode: number, _flags: number, _openFlags: number): Promise<CreateReply> {
    enosys();
  }
  async tmpfile(_ctx: Context, _parent: bigint, _mode: number, _flags: number, _openFlags: number): Promise<CreateReply> {
    enosys();
  }
  async read(
    _ctx: Context,
    _nodeid: bigint,
    _fh: bigint,
    _offset: bigint,
    _size: number,
    _flags: number,
    _dest: Uint8Array[],
    _lockOwner?: bigint,
  ): Promise<number> {
    enosys();
  }
  async write(
    _ctx: Context,
    _nodeid: bigint,
    _fh: bigint,
    _offset: bigint,
    _data: Uint8Array[],
    _flags: number,
    _writeFlags: number,
    _lockOwner?: bigint,
  ): Promise<number> {
    enosys();
  }
  async flush(_ctx: Context, _nodeid: bigint, _fh: bigint, _lockOwner: bigint): Promise<void> {
    enosys();
  }
  async release(_ctx: Context, _nodeid: bigint, _fh: bigint, _flags: number, _releaseFlags: number, _lockOwner?: bigint): Promise<void> {
    enosys();
  }
  async fsync(_ctx: Context, _nodeid: bigint, _fh: bigint, _datasync: boolean): Promise<void> {
    enosys();
  }
  async opendir(_ctx: Context, _nodeid: bigint, _flags: number): Promise<OpenReply> {
    enosys();
  }
  async readdir(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _sink: DirentSink): Promise<void> {
    enosys();
  }
  async readdirplus(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _sink: DirentPlusSink): Promise<void> {
    enosys();
  }
  async releasedir(_ctx: Context, _nodeid: bigint, _fh: bigint, _flags: number): Promise<void> {
    enosys();
  }
  async fsyncdir(_ctx: Context, _nodeid: bigint, _fh: bigint, _datasync: boolean): Promise<void> {
    enosys();
  }
  async statfs(_ctx: Context, _nodeid: bigint): Promise<FuseKstatfs> {
    enosys();
  }
  async access(_ctx: Context, _nodeid: bigint, _mask: number): Promise<void> {
    enosys();
  }
  async setxattr(_ctx: Context, _nodeid: bigint, _name: Buffer, _value: Buffer, _flags: number, _setxattrFlags: number): Promise<void> {
    enosys();
  }
  async getxattr(_ctx: Context, _nodeid: bigint, _name: Buffer, _size: number): Promise<Uint8Array> {
    enosys();
  }
  async listxattr(_ctx: Context, _nodeid: bigint, _size: number): Promise<Uint8Array> {
    enosys();
  }
  async removexattr(_ctx: Context, _nodeid: bigint, _name: Buffer): Promise<void> {
    enosys();
  }
  async getlk(_ctx: Context, _nodeid: bigint, _fh: bigint, _owner: bigint, _lock: FuseFileLock, _lkFlags: number): Promise<FuseFileLock> {
    enosys();
  }
  async setlk(
    _ctx: Context,
    _nodeid: bigint,
    _fh: bigint,
    _owner: bigint,
    _lock: FuseFileLock,
    _lkFlags: number,
    _sleep: boolean,
  ): Promise<void> {
    enosys();
  }
  async bmap(_ctx: Context, _nodeid: bigint, _block: bigint, _blocksize: number): Promise<bigint> {
    enosys();
  }
  async ioctl(
    _ctx: Context,
    _nodeid: bigint,
    _fh: bigint,
    _flags: number,
    _cmd: number,
    _arg: bigint,
    _input: Buffer,
    _outSize: number,
  ): Promise<IoctlReply> {
    enosys();
  }
  async poll(_ctx: Context, _nodeid: bigint, _fh: bigint, _kh: bigint, _flags: number, _events: number): Promise<number> {
    enosys();
  }
  async fallocate(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _length: bigint, _mode: number): Promise<void> {
    enosys();
  }
  async lseek(_ctx: Context, _nodeid: bigint, _fh: bigint, _offset: bigint, _whence: number): Promise<bigint> {
    enosys();
  }
  async copyFileRange(
    _ctx: Context,
    _nodeidIn: bigint,
    _fhIn: bigint,
    _offIn: bigint,
    _nodeidOut: bigint,
    _fhOut: bigint,
    _offOut: bigint,
    _len: bigint,
    _flags: bigint,
  ): Promise<number> {
    enosys();
  }
  async syncfs(_ctx: Context, _nodeid: bigint): Promise<void> {
    enosys();
  }
  async statx(_ctx: Context, _nodeid: bigint, _fh: bigint | undefined, _sxFlags: number, _sxMask: number): Promise<StatxReply> {
    enosys();
  }
  async setupMapping(
    _ctx: Context,
    _nodeid: bigint,
    _fh: bigint,
    _foffset: bigint,
    _len: bigint,
    _flags: bigint,
    _moffset: bigint,
  ): Promise<void> {
    enosys();
  }
  async removeMapping(_ctx: Context, _mappings: ReadonlyArray<{ moffset: bigint; len: bigint }>): Promise<void> {
    enosys();
  }
  async interrupt(_ctx: Context, _unique: bigint): Promise<void> {}
}
