/**
 * The transport of one vhost-user connection: whole messages with their fds, over a non-blocking
 * unix stream socket. Reads are sized so one recvmsg never crosses a message boundary: first the
 * 12-byte header (the fds arrive with its first byte), then exactly the payload. Messages are handed
 * to `onMessage` one at a time: reading pauses until its promise settles, so handlers run in order.
 */
import * as native from '../native/index.js';
import { VHOST_USER_HDR_SIZE, VHOST_USER_MAX_FDS, decodeHeader, encodeMessage, type VhostUserHeader } from '../../protocol/vhost-user.js';

export interface Message {
  header: VhostUserHeader;
  payload: Uint8Array;
  /** Fds that came with the message. The handler owns them: keep or close each one. */
  fds: number[];
}

export class ConnectionError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export class Connection {
  private buf = new Uint8Array(VHOST_USER_HDR_SIZE + 0x1000);
  private have = 0;
  private header: VhostUserHeader | undefined;
  private fds: number[] = [];
  private poll: native.PollHandle | undefined;
  private busy = false;
  private closed = false;
  private suspended = false;
  /** The socket was handed to a successor process (live upgrade): closed here, alive there. */
  handedOver = false;
  private resolveClosed!: (reason: Error | undefined) => void;
  /** Settles when the connection ends: undefined for a clean EOF, the error otherwise. */
  readonly done: Promise<Error | undefined> = new Promise((r) => (this.resolveClosed = r));

  /** Takes ownership of `fd`. `suspended`: do not read until unsuspend() (an adopted connection). */
  constructor(readonly fd: number, private readonly onMessage: (m: Message) => Promise<void> | void, suspended = false) {
    native.setNonblock(fd);
    this.suspended = suspended;
    this.resume();
  }

  private resume(): void {
    if (this.closed || this.suspended || this.poll !== undefined) return;
    this.poll = native.pollStart(this.fd, native.POLL_READABLE, () => this.readable());
  }

  private pause(): void {
    if (this.poll !== undefined) native.pollStop(this.poll);
    this.poll = undefined;
  }

  private readable(): void {
    if (this.busy || this.closed) return;
    try {
      for (;;) {
        const need = this.header === undefined ? VHOST_USER_HDR_SIZE : VHOST_USER_HDR_SIZE + this.header.size;
        if (this.have < need) {
          const r = native.recvmsg(this.fd, this.buf.subarray(this.have, need), VHOST_USER_MAX_FDS);
          this.fds.push(...r.fds);
          if (r.truncated) throw new ConnectionError('VHOST_USER_TOO_MANY_FDS', `front-end sent more than ${VHOST_USER_MAX_FDS} fds with one message`);
          if (r.bytes === 0) {
            if (this.have > 0) throw new ConnectionError('VHOST_USER_TRUNCATED', 'front-end closed the connection in the middle of a message');
            this.close();
            return;
          }
          this.have += r.bytes;
          if (this.have < need) continue;
        }
        if (this.header === undefined) {
          this.header = decodeHeader(this.buf);
          if (this.header.size > 0) continue;
        }
        const msg: Message = { header: this.header, payload: this.buf.slice(VHOST_USER_HDR_SIZE, VHOST_USER_HDR_SIZE + this.header.size), fds: this.fds };
        this.header = undefined;
        this.have = 0;
        this.fds = [];
        const p = this.onMessage(msg);
        if (p !== undefined) {
          this.busy = true;
          this.pause();
          p.then(
            () => {
              this.busy = false;
              this.resume();
              this.readable();
            },
            (e: unknown) => this.close(e instanceof Error ? e : new Error(String(e))),
          );
          return;
        }
      }
    } catch (e) {
      if (native.isErrno(e, 'EAGAIN')) return;
      this.close(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Live upgrade: resolve once no message is half-read and no handler runs, and stop reading. */
  async suspend(): Promise<void> {
    while (!this.closed && (this.busy || this.have > 0)) await new Promise((r) => setTimeout(r, 1));
    this.suspended = true;
    this.pause();
  }

  /** Undo suspend() (a failed hand-over): read again, including anything that arrived meanwhile. */
  unsuspend(): void {
    this.suspended = false;
    this.resume();
    this.readable();
  }

  /** The successor has its own copy of the socket: close ours without ending the session. */
  release(): void {
    this.handedOver = true;
    this.close();
  }

  /** Send one message (header + payload) with optional fds. Throws if the socket is gone. */
  send(request: number, flags: number, payload?: Uint8Array, fds: number[] = []): void {
    const bytes = encodeMessage(request, flags, payload);
    const n = native.sendmsg(this.fd, bytes, fds);
    if (n !== bytes.length) throw new ConnectionError('VHOST_USER_SHORT_WRITE', `sent ${n} of ${bytes.length} bytes`);
  }

  /** Close the socket and any fds received for an unfinished message. Idempotent. */
  close(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.pause();
    for (const fd of this.fds) native.closeQuietly(fd);
    this.fds = [];
    native.closeQuietly(this.fd);
    this.resolveClosed(err);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
