/**
 * The front-end's end of a vhost-user socket: whole messages in and out, with fds (SCM_RIGHTS).
 * Non-blocking, driven by a readiness watcher on Node's loop; every operation is async.
 *
 * The same class serves the back-end request channel (SET_BACKEND_REQ_FD), where the roles flip:
 * messages with the REPLY bit go to whoever awaits a reply, the others to `onRequest`.
 *
 * fd ownership: fds passed to `send` stay the caller's (the kernel duplicates them); fds in a
 * received message belong to whoever receives the message.
 */
import * as native from '../native/index.js';
import { VHOST_USER_HDR_SIZE, VHOST_USER_MAX_FDS } from '../../protocol/vhost-user-constants.js';
import { encodeMessage, isReply, splitMessage, type VhostUserHeader } from '../../protocol/vhost-user-header.js';

/** An error of the front-end with a stable `code` (VHOST_USER_DISCONNECTED, VHOST_USER_BAD_REPLY, ...). */
export class FrontendError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'FrontendError';
    this.code = code;
  }
}

/** One received message. `payload` is a copy; `fds` are the receiver's to close. */
export interface VhostUserMessage {
  header: VhostUserHeader;
  payload: Uint8Array;
  fds: number[];
}

const RECV_CHUNK = 64 * 1024;

interface Waiter {
  resolve: (m: VhostUserMessage) => void;
  reject: (e: Error) => void;
}

export class VhostUserConnection {
  /** Called for each message without the REPLY bit (back-end requests on the back-end channel). */
  onRequest: ((msg: VhostUserMessage) => void) | null = null;
  /** Called once when the peer closes or the stream breaks; `error` says why. */
  onClose: ((error: Error) => void) | null = null;

  private fd: number;
  private poll: native.PollHandle | null = null;
  private pollEvents = 0;
  private rx = new Uint8Array(RECV_CHUNK);
  private rxStart = 0;
  private rxEnd = 0;
  /** Absolute stream position of rx[rxStart]. */
  private rxPos = 0;
  /**
   * fds received with the chunk that ended at absolute stream position `end`. A unix stream read
   * may glue fd-less messages before the one that carries fds, but stops right after the segment
   * with fds; so the fds belong to the last message that starts before `end`: the one with
   * start < end <= its own end.
   */
  private rxFds: Array<{ end: number; fds: number[] }> = [];
  private readonly chunk = new Uint8Array(RECV_CHUNK);
  private waiters: Waiter[] = [];
  private replies: VhostUserMessage[] = [];
  private writable: Array<() => void> = [];
  private failure: Error | null = null;
  private closedByUs = false;

  private constructor(fd: number) {
    this.fd = fd;
    this.watch(native.POLL_READABLE);
  }

  /**
   * Connect to the unix socket at `path`, retrying while it does not exist yet or refuses
   * (a daemon that is still starting), up to `timeoutMs`.
   */
  static async connect(path: string, opts: { timeoutMs?: number } = {}): Promise<VhostUserConnection> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    for (;;) {
      const fd = native.socket(0);
      try {
        // A unix-socket connect completes (or fails) at once, so a blocking one is fine here.
        native.connect(fd, path);
        native.setNonblock(fd);
        return new VhostUserConnection(fd);
      } catch (e) {
        native.closeQuietly(fd);
        const retry = native.isErrno(e, 'ENOENT') || native.isErrno(e, 'ECONNREFUSED') || native.isErrno(e, 'EAGAIN');
        if (!retry || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Wrap a connected stream socket (e.g. one end of a socketpair). Takes ownership of `fd`. */
  static fromFd(fd: number): VhostUserConnection {
    native.setNonblock(fd);
    return new VhostUserConnection(fd);
  }

  /** The socket fd (still owned by this connection). */
  get socketFd(): number {
    return this.fd;
  }

  /** Whether the connection is closed or broken. */
  get closed(): boolean {
    return this.failure !== null;
  }

  /** Send one message. `flags` must include the version bits (see headerFlags). */
  async send(request: number, flags: number, payload?: Uint8Array, fds: number[] = []): Promise<void> {
    await this.sendRaw(encodeMessage(request, flags, payload), fds);
  }

  /**
   * Send arbitrary bytes (need not be a valid message: fuzzing). The fds go with the first byte,
   * as the spec asks; a short write continues without them once the socket is writable.
   */
  async sendRaw(bytes: Uint8Array, fds: number[] = []): Promise<void> {
    let off = 0;
    let pendingFds = fds;
    while (off < bytes.byteLength || pendingFds.length > 0) {
      this.throwIfFailed();
      try {
        const n = native.sendmsg(this.fd, bytes.subarray(off), pendingFds);
        off += n;
        pendingFds = [];
      } catch (e) {
        if (!native.isErrno(e, 'EAGAIN')) throw this.fail(new FrontendError('VHOST_USER_SEND_FAILED', `sendmsg: ${(e as Error).message}`));
        await this.waitWritable();
      }
      if (bytes.byteLength === 0) break;
    }
  }

  /** The next reply (a message with the REPLY bit), in arrival order. */
  nextReply(): Promise<VhostUserMessage> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Send a request and await its reply; the reply must carry the REPLY bit and the same request
   * number (VHOST_USER_BAD_REPLY otherwise; its fds are closed).
   */
  async call(request: number, flags: number, payload?: Uint8Array, fds: number[] = []): Promise<VhostUserMessage> {
    await this.send(request, flags, payload, fds);
    const reply = await this.nextReply();
    if (reply.header.request !== request) {
      reply.fds.forEach(native.closeQuietly);
      throw this.fail(new FrontendError('VHOST_USER_BAD_REPLY', `reply to request ${request} has request ${reply.header.request}`));
    }
    return reply;
  }

  /** Close the socket; pending waiters fail with VHOST_USER_DISCONNECTED. Idempotent. */
  close(): void {
    if (this.fd < 0) return;
    this.closedByUs = true;
    this.fail(new FrontendError('VHOST_USER_DISCONNECTED', 'connection closed by the front-end'));
    native.closeQuietly(this.fd);
    this.fd = -1;
  }

  // ---- internals -------------------------------------------------------------------------------

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private watch(events: number): void {
    if (this.poll !== null && this.pollEvents === events) return;
    // One watcher per fd (libuv does not support two on the same fd): restart with the new mask.
    if (this.poll !== null) native.pollStop(this.poll);
    this.poll = null;
    this.pollEvents = events;
    if (events === 0) return;
    this.poll = native.pollStart(this.fd, events, (status, ev) => this.onReady(status, ev));
  }

  private waitWritable(): Promise<void> {
    return new Promise((resolve) => {
      this.writable.push(resolve);
      this.watch(native.POLL_READABLE | native.POLL_WRITABLE);
    });
  }

  private onReady(status: number, events: number): void {
    if (this.failure !== null) return;
    if (status < 0) {
      this.fail(new FrontendError('VHOST_USER_DISCONNECTED', `poll error ${status}`));
      return;
    }
    if (events & native.POLL_WRITABLE) {
      const w = this.writable;
      this.writable = [];
      this.watch(native.POLL_READABLE);
      w.forEach((r) => r());
    }
    if (events & native.POLL_READABLE) this.drain();
  }

  /** Read everything available, then hand out every complete message. */
  private drain(): void {
    for (;;) {
      let r: native.RecvResult;
      try {
        r = native.recvmsg(this.fd, this.chunk, VHOST_USER_MAX_FDS * 2);
      } catch (e) {
        if (native.isErrno(e, 'EAGAIN')) break;
        this.fail(new FrontendError('VHOST_USER_DISCONNECTED', `recvmsg: ${(e as Error).message}`));
        return;
      }
      if (r.bytes === 0) {
        r.fds.forEach(native.closeQuietly);
        this.fail(new FrontendError('VHOST_USER_DISCONNECTED', 'the back-end closed the connection'));
        return;
      }
      this.append(this.chunk.subarray(0, r.bytes));
      if (r.fds.length > 0) this.rxFds.push({ end: this.rxPos + (this.rxEnd - this.rxStart), fds: r.fds });
      if (r.bytes < this.chunk.byteLength) break;
    }
    this.deliver();
  }

  private append(bytes: Uint8Array): void {
    const live = this.rxEnd - this.rxStart;
    if (this.rxEnd + bytes.byteLength > this.rx.byteLength) {
      const bigger = live + bytes.byteLength > this.rx.byteLength ? new Uint8Array(Math.max(this.rx.byteLength * 2, live + bytes.byteLength)) : this.rx;
      bigger.set(this.rx.subarray(this.rxStart, this.rxEnd), 0);
      this.rx = bigger;
      this.rxStart = 0;
      this.rxEnd = live;
    }
    this.rx.set(bytes, this.rxEnd);
    this.rxEnd += bytes.byteLength;
  }

  private deliver(): void {
    while (this.failure === null && this.rxEnd - this.rxStart >= VHOST_USER_HDR_SIZE) {
      let split;
      try {
        split = splitMessage(this.rx.subarray(this.rxStart, this.rxEnd));
      } catch (e) {
        this.fail(e as Error);
        return;
      }
      if (!split.complete) return;
      const end = this.rxPos + split.consumed;
      const fds: number[] = [];
      while (this.rxFds.length > 0 && this.rxFds[0]!.end <= end) fds.push(...this.rxFds.shift()!.fds);
      const msg: VhostUserMessage = { header: split.header, payload: split.payload.slice(), fds };
      this.rxStart += split.consumed;
      this.rxPos = end;
      if (this.rxStart === this.rxEnd) this.rxStart = this.rxEnd = 0;
      if (isReply(msg.header.flags)) {
        const w = this.waiters.shift();
        if (w !== undefined) w.resolve(msg);
        else this.replies.push(msg);
      } else if (this.onRequest !== null) {
        this.onRequest(msg);
      } else {
        // Nobody serves requests on this channel: an unexpected message; drop its fds.
        fds.forEach(native.closeQuietly);
      }
    }
  }

  private fail(error: Error): Error {
    if (this.failure !== null) return this.failure;
    this.failure = error;
    if (this.poll !== null) native.pollStop(this.poll);
    this.poll = null;
    for (const w of this.waiters) w.reject(error);
    this.waiters = [];
    for (const f of this.rxFds) f.fds.forEach(native.closeQuietly);
    this.rxFds = [];
    const wr = this.writable;
    this.writable = [];
    wr.forEach((r) => r());
    if (!this.closedByUs) this.onClose?.(error);
    return error;
  }
}
