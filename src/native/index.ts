/**
 * The only module that loads the C addon. Every function is a thin syscall shim; failures throw an
 * Error whose `code` is the errno name (see NativeError). Callers own every fd they get back.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** An error thrown by a shim: `code` is the errno name, `errno` its number, `syscall` the call. */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
}

export interface RecvResult {
  /** Bytes received; 0 means the peer closed the connection. */
  bytes: number;
  /** Received fds (close-on-exec). The caller owns them. */
  fds: number[];
  /** The kernel dropped fds because maxFds was too small (MSG_CTRUNC). */
  truncated: boolean;
}

/** Opaque handle of a readiness watcher. */
export type PollHandle = { readonly __poll: unique symbol };

type Bytes = ArrayBufferView | ArrayBuffer;

interface Addon {
  mmap(fd: number, length: number | bigint, offset: number | bigint, writable: boolean): ArrayBuffer;
  munmap(buf: ArrayBuffer): void;
  mprotect(buf: ArrayBuffer, offset: number, length: number, prot: number): void;
  memfdCreate(name: string, flags: number): number;
  ftruncate(fd: number, length: number | bigint): void;
  pageSize(): number;
  atomicOr8(buf: ArrayBuffer, index: number, bits: number): void;
  eventfd(initval: number, flags: number): number;
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: number | bigint): void;
  close(fd: number): void;
  dup(fd: number): number;
  setNonblock(fd: number): void;
  pollStart(fd: number, events: number, cb: (status: number, events: number) => void): PollHandle;
  pollStop(handle: PollHandle): void;
  socket(flags: number): number;
  socketpair(flags: number): [number, number];
  bind(fd: number, path: string): void;
  listen(fd: number, backlog: number): void;
  accept4(fd: number, flags: number): number;
  connect(fd: number, path: string): void;
  recvmsg(fd: number, buf: Bytes, maxFds: number): RecvResult;
  sendmsg(fd: number, buf: Bytes, fds: number[]): number;
  shutdown(fd: number, how: number): void;
  execve(path: string, argv: string[], envp: string[]): never;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  pivotRoot(newRoot: string, putOld: string): void;
  chroot(path: string): void;
  fchdir(fd: number): void;
  capget(): [bigint, bigint, bigint];
  prctl(option: number, a2: number | bigint, a3: number | bigint, a4: number | bigint, a5: number | bigint): number;
  dup3(oldfd: number, newfd: number, flags: number): void;
  unlinkatSync(dirfd: number, name: string, flags: number): void;
  setFdFlags(fd: number, flags: number): void;
  seccompFilter(program: Uint8Array): void;
  busFaultFd(): number;
  busFaults(): [bigint, bigint];
}

function load(): Addon {
  const candidates = ['build/Release/vfsnative.node', 'build/Debug/vfsnative.node'];
  let lastError: unknown;
  for (const c of candidates) {
    try {
      return require(path.join(root, c)) as Addon;
    } catch (e) {
      lastError = e;
    }
  }
  const err = new Error(`native addon not built: run \`npm install\` (or \`npm run install\`) in ${root}: ${String(lastError)}`);
  (err as NodeJS.ErrnoException).code = 'ERR_NATIVE_NOT_BUILT';
  throw err;
}

const addon = load();

/** Linux constants used with the shims. */
export const EFD_NONBLOCK = 0o4000;
export const EFD_SEMAPHORE = 1;
export const SOCK_NONBLOCK = 0o4000;
export const MFD_ALLOW_SEALING = 2;
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_READ_WRITE = 3;

/** Map `length` bytes of `fd` at `offset` (page aligned), MAP_SHARED. The buffer owns the mapping. */
export const mmap = addon.mmap;
/** Detach the buffer (later access sees length 0) and unmap it. */
export const munmap = addon.munmap;
/** Change protection of part of a mapping (tests use PROT_NONE guard pages). */
export const mprotect = addon.mprotect;
/** memfd_create(name, flags | MFD_CLOEXEC) */
export const memfdCreate = addon.memfdCreate;
export const ftruncate = addon.ftruncate;
export const pageSize = addon.pageSize;
/** Atomically OR `bits` into byte `index` of a (shared) mapping. */
export const atomicOr8 = addon.atomicOr8;
/** eventfd(initval, flags | EFD_CLOEXEC) */
export const eventfd = addon.eventfd;
/** Read and reset an eventfd's counter; EAGAIN if non-blocking and zero. */
export const eventfdRead = addon.eventfdRead;
export const eventfdWrite = addon.eventfdWrite;
export const close = addon.close;
export const dup = addon.dup;
/** fcntl(F_SETFL, | O_NONBLOCK) */
export const setNonblock = addon.setNonblock;
/** Watch fd on Node's event loop; cb(status, events) on readiness. Stop before closing the fd. */
export const pollStart = addon.pollStart;
export const pollStop = addon.pollStop;
export const socket = addon.socket;
export const socketpair = addon.socketpair;
export const bind = addon.bind;
export const listen = addon.listen;
export const accept4 = addon.accept4;
export const connect = addon.connect;
export const recvmsg = addon.recvmsg;
export const sendmsg = addon.sendmsg;
export const shutdown = addon.shutdown;

// ---- sandbox (src/sandbox/): synchronous, used once at start-up ----
/** execve(2): replaces the process (same pid); returns only by throwing. */
export const execve = addon.execve;
/** mount(2); null for an absent source, type or data. */
export const mount = addon.mount;
export const umount2 = addon.umount2;
export const pivotRoot = addon.pivotRoot;
export const chroot = addon.chroot;
export const fchdir = addon.fchdir;
/** The calling thread's [effective, permitted, inheritable] capability masks. */
export const capget = addon.capget;
export const prctl = addon.prctl;
/** dup3(oldfd, newfd, flags): newfd now refers to oldfd's open file. */
export const dup3 = addon.dup3;
/** unlinkat(2), synchronous. */
export const unlinkatSync = addon.unlinkatSync;
/** fcntl(F_SETFD): 0 clears FD_CLOEXEC. */
export const setFdFlags = addon.setFdFlags;
/** The eventfd native/bus.c signals when it rescued a SIGBUS on guest memory (watch it readable). */
export const busFaultFd = addon.busFaultFd;
/** [rescued SIGBUS faults so far, the last faulting address]. */
export const busFaults = addon.busFaults;
/** Install a seccomp filter (struct sock_filter array) on every thread of the process (TSYNC). */
export const seccompFilter = addon.seccompFilter;

/** Type guard for errors thrown by the shims (and by Node's fs, which uses the same shape). */
export function isErrno(e: unknown, code?: string): e is NativeError {
  return e instanceof Error && typeof (e as NativeError).code === 'string' && (code === undefined || (e as NativeError).code === code);
}

/** Close an fd, ignoring EBADF/EINTR. For cleanup paths. */
export function closeQuietly(fd: number | undefined | null): void {
  if (fd === undefined || fd === null || fd < 0) return;
  try {
    addon.close(fd);
  } catch {
    /* already closed */
  }
}
