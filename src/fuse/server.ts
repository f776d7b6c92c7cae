/**
 * The FUSE server: turns one request (the readable half of a descriptor chain) into one reply (written
 * into the writable half) by way of a FileSystem. Generic over where the bytes live: the segments may be
 * views of guest memory (virtio-fs) or plain buffers (/dev/fuse, tests).
 *
 * handle() never throws for anything the guest sends. A request whose header cannot be read is dropped
 * (used length 0, logged); every other failure becomes an error reply in replyError(), the only place an
 * errno is written. Requests the kernel expects no answer to (FORGET, BATCH_FORGET, INTERRUPT,
 * NOTIFY_REPLY) always complete with used length 0.
 */
import createDebug from 'debug';
import { Errno, errnoName, errnoOf } from '../../protocol/errno.js';
import { ProtocolError } from '../../protocol/errors.js';
import {
  FUSE_ASYNC_DIO,
  FUSE_ASYNC_READ,
  FUSE_AUTO_INVAL_DATA,
  FUSE_BIG_WRITES,
  FUSE_CREATE_SUPP_GROUP,
  FUSE_INIT_EXT,
  FUSE_MAP_ALIGNMENT,
  FUSE_MAX_PAGES,
  FUSE_PARALLEL_DIROPS,
  FUSE_SECURITY_CTX,
  joinInitFlags,
  splitInitFlags,
} from '../../protocol/fuse-flags.js';
import {
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MIN_KERNEL_MINOR_VERSION,
  FuseOpcode as Op,
  fuseOpcodeName,
} from '../../protocol/fuse-opcodes.js';
import {
  fuse_in_header,
  fuse_init_in_compat,
  fuse_init_in_ext,
  fuse_init_out,
  fuse_out_header,
  type FuseInHeader,
  type FuseInitOut,
} from '../../protocol/fuse-structs.js';
import { FuseError } from './errors.js';
import type { FileSystem } from './filesystem.js';
import { NO_REPLY, OPS } from './ops.js';
import { SegmentReader } from './reader.js';
import { Request, part, type Session } from './request.js';
import { SegmentWriter } from './writer.js';

const debug = createDebug('virtiofsd-ts:fuse');
const warn = createDebug('virtiofsd-ts:fuse:warn');

/** Flags the server implements by itself, offered whatever the file system asks for. */
export const SERVER_INIT_FLAGS =
  FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA | FUSE_ASYNC_DIO | FUSE_MAX_PAGES | FUSE_INIT_EXT;

/** Flags whose request format needs protocol 7.38 (extension headers). */
const NEEDS_7_38 = FUSE_SECURITY_CTX | FUSE_CREATE_SUPP_GROUP;

export interface FuseServerOptions {
  /** fuse_init_out.max_write: the largest WRITE accepted. Default 1 MiB. */
  maxWrite?: number;
  /** Page size used to derive max_pages. Default 4096. */
  pageSize?: number;
  /** fuse_init_out.max_pages. Default ceil(maxWrite / pageSize). */
  maxPages?: number;
  /** fuse_init_out.max_background. Default 65535. */
  maxBackground?: number;
  /** fuse_init_out.congestion_threshold. Default 3/4 of maxBackground. */
  congestionThreshold?: number;
  /** fuse_init_out.time_gran in ns. Default 1. */
  timeGran?: number;
  /** fuse_init_out.map_alignment (log2), sent with FUSE_MAP_ALIGNMENT when the file system asks for it. Default 0. */
  mapAlignment?: number;
  /** The server's own INIT flags. Default SERVER_INIT_FLAGS. */
  serverFlags?: bigint;
}

/** The outcome of INIT, for callers that want to inspect it. */
export interface NegotiatedSession extends Session {
  readonly initialized: boolean;
  /** The kernel's protocol minor. */
  readonly kernelMinor: number;
}

/** The FUSE session as migration carries it (protocol/device-state.ts, SECTION_FUSE). */
export interface SessionState {
  initialized: boolean;
  /** Negotiated INIT flags (flags | flags2 << 32), decimal. */
  flags: string;
  minor: number;
  kernelMinor: number;
}

/** The extension area of the requests that have none (most): shared, it has no bytes to change. */
const NO_EXTENSIONS = new Uint8Array(0);

export class FuseServer {
  private readonly o: Required<FuseServerOptions>;
  private state: { initialized: boolean; flags: bigint; minor: number; kernelMinor: number } = {
    initialized: false,
    flags: 0n,
    minor: 0,
    kernelMinor: 0,
  };
  /** `session`, built at the first request after each change of `state`. */
  private view: NegotiatedSession | undefined;

  constructor(
    readonly fs: FileSystem,
    options: FuseServerOptions = {},
  ) {
    const maxWrite = options.maxWrite ?? 1 << 20;
    const pageSize = options.pageSize ?? 4096;
    const maxBackground = options.maxBackground ?? 0xffff;
    this.o = {
      maxWrite,
      pageSize,
      maxPages: Math.min(0xffff, options.maxPages ?? Math.ceil(maxWrite / pageSize)),
      maxBackground,
      congestionThreshold: options.congestionThreshold ?? Math.floor((maxBackground * 3) / 4),
      timeGran: options.timeGran ?? 1,
      mapAlignment: options.mapAlignment ?? 0,
      serverFlags: options.serverFlags ?? SERVER_INIT_FLAGS,
    };
  }

  /** The negotiated session (flags 0 and initialized false before INIT). Frozen; a new object after each change. */
  get session(): NegotiatedSession {
    // Built once per session, not per request (a spread per request was 3-5% of the JS thread).
    return (this.view ??= Object.freeze({ ...this.state, maxWrite: this.o.maxWrite }));
  }

  /**
   * Handle one request. `readable`: the request bytes (header, arguments, data) in order, any split;
   * `writable`: room for the reply. Returns the number of bytes written to `writable` (the used length),
   * 0 when no reply is due or the request was unreadable. Never rejects.
   */
  async handle(readable: Uint8Array[], writable: Uint8Array[], queue?: number): Promise<number> {
    let h: FuseInHeader;
    let r: SegmentReader;
    try {
      r = new SegmentReader(readable);
      if (r.remaining < fuse_in_header.size) {
        warn('dropping request: %d readable bytes, fuse_in_header needs %d', r.remaining, fuse_in_header.size);
        return 0;
      }
      h = r.readStruct(fuse_in_header);
    } catch (e) {
      warn('dropping request: unreadable header: %s', (e as Error).message);
      return 0;
    }
    const w = new SegmentWriter(writable);
    try {
      if (debug.enabled) debug('unique=%s %s nodeid=%s len=%d pid=%d', String(h.unique), fuseOpcodeName(h.opcode), String(h.nodeid), h.len, h.pid);
      // One async frame per request: dispatch() is synchronous up to the operation's own promise.
      const q = this.request(h, r, w, queue);
      const pending = this.dispatch(q);
      if (pending !== undefined) await pending;
      return q.noReply ? 0 : w.written;
    } catch (e) {
      try {
        return this.replyError(h, w, e);
      } catch (again) {
        warn('unique=%s: could not write an error reply: %s', String(h.unique), (again as Error)?.message);
        return 0;
      }
    }
  }

  /** Migration and live upgrade: the negotiated session, as plain JSON (flags as a decimal string). */
  exportSession(): SessionState {
    const st = this.state;
    return { initialized: st.initialized, flags: st.flags.toString(), minor: st.minor, kernelMinor: st.kernelMinor };
  }

  /**
   * Restore a session exported by another daemon, before any request arrives. The file system's
   * init() runs again with the negotiated flags as `capable`, so it takes the same session options.
   */
  async importSession(s: SessionState): Promise<void> {
    if (typeof s !== 'object' || s === null || typeof s.initialized !== 'boolean' || typeof s.flags !== 'string' || !/^\d+$/.test(s.flags) ||
        !Number.isInteger(s.minor) || !Number.isInteger(s.kernelMinor)) {
      throw new ProtocolError('STATE_BAD_SESSION', 'FUSE session state is malformed');
    }
    if (s.initialized && (s.minor < FUSE_MIN_KERNEL_MINOR_VERSION || s.minor > FUSE_KERNEL_MINOR_VERSION)) {
      throw new ProtocolError('STATE_BAD_SESSION', `FUSE session minor 7.${s.minor} is outside what this daemon speaks (7.${FUSE_MIN_KERNEL_MINOR_VERSION}..7.${FUSE_KERNEL_MINOR_VERSION})`);
    }
    const flags = BigInt(s.flags);
    if (s.initialized) await this.fs.init({ minor: s.minor, capable: flags, maxReadahead: 0 });
    this.view = undefined;
    this.state = { initialized: s.initialized, flags, minor: s.minor, kernelMinor: s.kernelMinor };
  }

  /** End requests that wait indefinitely (lock waits) with EINTR: the device is stopping. */
  abortBlocking(): void {
    this.fs.abortBlocking?.();
  }

  /** Device reset or disconnect: drop the session and everything the file system holds. */
  async reset(): Promise<void> {
    this.view = undefined;
    this.state = { initialized: false, flags: 0n, minor: 0, kernelMinor: 0 };
    await this.fs.destroy();
  }

  /** Check the header's lengths against what was readable and build the Request. */
  private request(h: FuseInHeader, r: SegmentReader, w: SegmentWriter, queue?: number): Request {
    const available = fuse_in_header.size + r.remaining;
    if (h.len < fuse_in_header.size || h.len > available) {
      throw new ProtocolError('FUSE_BAD_LEN', `len ${h.len}, ${available} bytes readable`);
    }
    const extLen = h.total_extlen * 8;
    const argLen = h.len - fuse_in_header.size - extLen;
    if (argLen < 0) throw new ProtocolError('FUSE_BAD_LEN', `total_extlen ${h.total_extlen} exceeds len ${h.len}`);
    if (extLen === 0) {
      // Most requests: the arguments are the rest of `len`, read through the same reader.
      r.limit(argLen);
      return new Request(h, r, NO_EXTENSIONS, w, this.session, queue);
    }
    const args = new SegmentReader(r.takeViews(argLen));
    const ext = r.readCopy(extLen, 'extensions');
    return new Request(h, args, ext, w, this.session, queue);
  }

  /** Start the request's operation: its promise, or undefined when it is done already. Throws what it refuses. */
  private dispatch(q: Request): Promise<void> | undefined {
    const opcode = q.h.opcode;
    if (opcode === Op.FUSE_INIT) return this.init(q);
    if (!this.state.initialized) {
      if (NO_REPLY.has(opcode)) {
        q.noReply = true;
        return undefined;
      }
      throw new FuseError('EIO', `${fuseOpcodeName(opcode)} before FUSE_INIT`);
    }
    if (opcode === Op.FUSE_DESTROY) return this.reset().then(() => q.ok());
    const op = OPS[opcode];
    if (op === undefined) throw new FuseError('ENOSYS', `unknown opcode ${opcode}`);
    return op(q, this.fs);
  }

  /** FUSE_INIT: version negotiation, then the flag intersection capable & (server | file system). */
  private async init(q: Request): Promise<void> {
    const a = q.arg(fuse_init_in_compat);
    const hasExt = (BigInt(a.flags) & FUSE_INIT_EXT) !== 0n;
    const flags2 = hasExt && q.r.remaining >= fuse_init_in_ext.size ? q.arg(fuse_init_in_ext).flags2 : 0;
    const ours: FuseInitOut = {
      major: FUSE_KERNEL_VERSION,
      minor: FUSE_KERNEL_MINOR_VERSION,
      max_readahead: 0,
      flags: 0,
      max_background: 0,
      congestion_threshold: 0,
      max_write: 0,
      time_gran: 0,
      max_pages: 0,
      map_alignment: 0,
      flags2: 0,
      max_stack_depth: 0,
      request_timeout: 0,
    };
    if (a.major < FUSE_KERNEL_VERSION) throw new FuseError('EPROTO', `FUSE ${a.major}.${a.minor} is too old`);
    if (a.major > FUSE_KERNEL_VERSION) {
      // The kernel retries INIT with our major when we answer with it.
      debug('INIT %d.%d: answering major %d only', a.major, a.minor, FUSE_KERNEL_VERSION);
      return q.ok(part(fuse_init_out, ours));
    }
    if (a.minor < FUSE_MIN_KERNEL_MINOR_VERSION) throw new FuseError('EPROTO', `FUSE 7.${a.minor} < 7.${FUSE_MIN_KERNEL_MINOR_VERSION}`);

    const minor = Math.min(a.minor, FUSE_KERNEL_MINOR_VERSION);
    const capable = joinInitFlags(a.flags, flags2);
    const want = await this.fs.init({ minor, capable, maxReadahead: a.max_readahead });
    let enabled = capable & (want | this.o.serverFlags);
    if (minor < 38) enabled &= ~NEEDS_7_38;
    this.view = undefined;
    this.state = { initialized: true, flags: enabled, minor, kernelMinor: a.minor };

    const split = splitInitFlags(enabled);
    const out: FuseInitOut = {
      ...ours,
      max_readahead: a.max_readahead,
      flags: split.flags,
      flags2: (enabled & FUSE_INIT_EXT) !== 0n ? split.flags2 : 0,
      max_background: this.o.maxBackground,
      congestion_threshold: this.o.congestionThreshold,
      max_write: this.o.maxWrite,
      time_gran: this.o.timeGran,
      max_pages: this.o.maxPages,
      map_alignment: (enabled & FUSE_MAP_ALIGNMENT) !== 0n ? this.o.mapAlignment : 0,
    };
    debug('INIT 7.%d (kernel 7.%d): flags 0x%s', minor, a.minor, enabled.toString(16));
    q.ok(part(fuse_init_out, out));
  }

  /**
   * THE place an error becomes a reply: FuseError / errno-coded errors keep their errno, malformed input
   * (ProtocolError) is EINVAL, anything else EIO. The half-written reply, if any, is discarded.
   */
  private replyError(h: FuseInHeader, w: SegmentWriter, e: unknown): number {
    const name = fuseOpcodeName(h.opcode);
    if (NO_REPLY.has(h.opcode)) {
      warn('unique=%s %s failed (no reply due): %s', String(h.unique), name, (e as Error)?.message ?? e);
      return 0;
    }
    let errno: number;
    if (e instanceof ProtocolError) {
      errno = Errno.EINVAL;
      warn('unique=%s %s malformed (%s): %s', String(h.unique), name, e.code, e.message);
    } else {
      errno = errnoOf(e);
      if (errno === Errno.EIO && !(e instanceof FuseError)) warn('unique=%s %s: unexpected error: %O', String(h.unique), name, e);
      else debug('unique=%s %s -> %s', String(h.unique), name, errnoName(errno));
    }
    w.reset();
    if (w.available < fuse_out_header.size) {
      warn('unique=%s %s: no room for a reply (%d writable bytes)', String(h.unique), name, w.capacity);
      return 0;
    }
    w.writeStruct(fuse_out_header, { len: fuse_out_header.size, error: -errno, unique: h.unique });
    return w.written;
  }
}
