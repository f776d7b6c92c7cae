/**
 * The listening socket: a unix stream socket at --socket-path (stale socket files are replaced,
 * anything else there is an error), or an inherited listening fd (--fd, as libvirt passes it).
 * accept() hands out one connection at a time.
 */
import fs from 'node:fs';
import * as native from '../native/index.js';
import { pinForRemoval, removePath } from '../sandbox/host-paths.js';

export interface ListenOptions {
  socketPath?: string;
  fd?: number;
  /** Group name or number to own the socket file (--socket-group). */
  socketGroup?: string;
}

export class ListenError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class Listener {
  readonly fd: number;
  private readonly ownsPath: string | undefined;
  private poll: native.PollHandle | undefined;
  private pendingReject: ((e: Error) => void) | undefined;

  constructor(opts: ListenOptions) {
    if (opts.fd !== undefined) {
      this.fd = opts.fd;
      // A listener handed over by a previous daemon still lives at its path: remove it at exit.
      this.ownsPath = opts.socketPath;
      if (this.ownsPath !== undefined) pinForRemoval(this.ownsPath);
      native.setNonblock(this.fd);
      return;
    }
    const p = opts.socketPath;
    if (p === undefined) throw new ListenError('ERR_NO_SOCKET', 'either --socket-path or --fd is required');
    removeStaleSocket(p);
    const fd = native.socket(native.SOCK_NONBLOCK);
    try {
      native.bind(fd, p);
      if (opts.socketGroup !== undefined) fs.chownSync(p, -1, groupId(opts.socketGroup));
      fs.chmodSync(p, opts.socketGroup !== undefined ? 0o660 : 0o600);
      native.listen(fd, 1);
    } catch (e) {
      native.closeQuietly(fd);
      throw new ListenError('ERR_LISTEN', `cannot listen on ${p}: ${(e as Error).message}`);
    }
    this.fd = fd;
    this.ownsPath = p;
    pinForRemoval(p); // removed at close even from inside the sandbox
  }

  /** Wait for the next front-end; resolves with the connected fd (the caller owns it). */
  accept(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingReject = reject;
      const tryAccept = (): boolean => {
        try {
          resolve(native.accept4(this.fd, native.SOCK_NONBLOCK));
          return true;
        } catch (e) {
          if (native.isErrno(e, 'EAGAIN')) return false;
          reject(e);
          return true;
        }
      };
      if (tryAccept()) return;
      this.poll = native.pollStart(this.fd, native.POLL_READABLE, () => {
        if (tryAccept()) this.stopPoll();
      });
    });
  }

  private stopPoll(): void {
    if (this.poll !== undefined) native.pollStop(this.poll);
    this.poll = undefined;
  }

  close(): void {
    this.stopPoll();
    this.pendingReject?.(new ListenError('ERR_LISTENER_CLOSED', 'the listener was closed'));
    this.pendingReject = undefined;
    native.closeQuietly(this.fd);
    if (this.ownsPath !== undefined) {
      try {
        removePath(this.ownsPath);
      } catch {
        /* already gone */
      }
    }
  }
}

function removeStaleSocket(p: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new ListenError('ERR_SOCKET_PATH_TAKEN', `${p} exists and is not a socket; refusing to replace it`);
  // A socket nobody listens on is stale; one that accepts is another daemon's. Non-blocking: a
  // listener that never accepts (a hung daemon, a full backlog) answers EAGAIN instead of hanging us.
  const probe = native.socket(native.SOCK_NONBLOCK);
  try {
    native.connect(probe, p);
    throw new ListenError('ERR_SOCKET_IN_USE', `another process is listening on ${p}`);
  } catch (e) {
    if (e instanceof ListenError) throw e;
    if (native.isErrno(e, 'EAGAIN')) throw new ListenError('ERR_SOCKET_IN_USE', `another process is listening on ${p} (and not accepting)`);
    fs.unlinkSync(p);
  } finally {
    native.closeQuietly(probe);
  }
}

function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of fs.readFileSync('/etc/group', 'utf8').split('\n')) {
    const [g, , id] = line.split(':');
    if (g === name && id !== undefined) return Number(id);
  }
  throw new ListenError('ERR_NO_SUCH_GROUP', `--socket-group: no group named ${name}`);
}
