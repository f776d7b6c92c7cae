/**
 * One request in flight: its header, a reader over its argument area, the extension area, the writer
 * for its reply and the Context handed to the file system. Holds the decoding rules shared by the
 * operation table (names, extensions) and the success-reply encoder. Errors are thrown, never written
 * here: the server's replyError is the only place an errno becomes a reply.
 */
import type { ErrnoName } from '../../protocol/errno.js';
import { check } from '../../protocol/errors.js';
import type { StructDef } from '../../protocol/fuse-layout.js';
import { NAME_MAX } from '../../protocol/fuse-opcodes.js';
import { FUSE_CREATE_SUPP_GROUP, FUSE_SECURITY_CTX } from '../../protocol/fuse-flags.js';
import { parseExtensions } from '../../protocol/fuse-records.js';
import { fuse_out_header, type FuseEntryOut, type FuseInHeader } from '../../protocol/fuse-structs.js';
import { FuseError } from './errors.js';
import type { Context, Entry } from './filesystem.js';
import type { SegmentReader } from './reader.js';
import type { SegmentWriter } from './writer.js';

/** What the operation table needs to know about the session. */
export interface Session {
  /** Negotiated INIT flags. */
  readonly flags: bigint;
  /** Negotiated protocol minor. */
  readonly minor: number;
  /** fuse_init_out.max_write we announced. */
  readonly maxWrite: number;
}

type MutableContext = { -readonly [K in keyof Context]: Context[K] };

/** How a single path component is checked. */
export type NameRule =
  /** LOOKUP: any component, "." and ".." included (with FUSE_EXPORT_SUPPORT the kernel sends them). */
  | 'lookup'
  /** Ops that create, remove or rename a name: "." and ".." are refused (the VFS never sends them). */
  | 'entry';

/** A reply part: a struct with its value, or raw bytes. */
export type ReplyPart = readonly [StructDef<never>, unknown] | Uint8Array;

export class Request {
  readonly ctx: MutableContext;
  /** Set by FORGET-like handlers: the chain completes with used length 0. */
  noReply = false;

  constructor(
    readonly h: FuseInHeader,
    /** The argument area: len - header - extensions. */
    readonly r: SegmentReader,
    /** The extension area (total_extlen * 8 bytes, copied). */
    readonly ext: Uint8Array,
    readonly w: SegmentWriter,
    readonly session: Session,
    queue?: number,
  ) {
    this.ctx = { unique: h.unique, opcode: h.opcode, uid: h.uid, gid: h.gid, pid: h.pid };
    if (queue !== undefined) this.ctx.queue = queue;
  }

  /** Decode the next fixed-size argument struct. */
  arg<T>(def: StructDef<T>): T {
    return this.r.readStruct(def);
  }

  /** The rest of the argument area, copied (the guest cannot change it under us); at most `max` bytes. */
  rest(max: number, what: string, tooLong: ErrnoName = 'ENAMETOOLONG'): Buffer {
    if (this.r.remaining > max) throw new FuseError(tooLong, `${what}: ${this.r.remaining} bytes`);
    return this.r.readCopy(this.r.remaining, what);
  }

  /** The rest of the argument area as exactly one NUL-terminated component. */
  name(rule: NameRule, what = 'name'): Buffer {
    const buf = this.rest(NAME_MAX + 1, what);
    const nul = buf.indexOf(0);
    check(nul >= 0, 'FUSE_BAD_NAME', `${what}: not NUL-terminated`);
    check(nul === buf.length - 1, 'FUSE_BAD_NAME', `${what}: ${buf.length - 1 - nul} bytes after the NUL`);
    return checkComponent(buf.subarray(0, nul), rule, what);
  }

  /**
   * Parse the extension area into the Context (create-type ops only), honouring only what was
   * negotiated: an extension the session did not enable is ignored.
   */
  applyExtensions(): void {
    const f = this.session.flags;
    if (this.ext.length === 0 || (f & (FUSE_SECURITY_CTX | FUSE_CREATE_SUPP_GROUP)) === 0n) return;
    const x = parseExtensions(this.ext);
    if (x.groups !== undefined && (f & FUSE_CREATE_SUPP_GROUP) !== 0n) this.ctx.supplementaryGroups = x.groups;
    if (x.secctx !== undefined && (f & FUSE_SECURITY_CTX) !== 0n) this.ctx.securityContext = x.secctx;
  }

  /** Write a success reply: the out header then each part. Throws FUSE_NO_ROOM if it does not fit. */
  ok(...parts: ReplyPart[]): void {
    let len = fuse_out_header.size;
    for (const p of parts) len += p instanceof Uint8Array ? p.byteLength : p[0].size;
    check(len <= this.w.available, 'FUSE_NO_ROOM', () => `reply of ${len} bytes, ${this.w.available} writable`);
    this.w.writeStruct(fuse_out_header, { len, error: 0, unique: this.h.unique });
    for (const p of parts) {
      if (p instanceof Uint8Array) this.w.write(p);
      else this.w.writeStruct(p[0] as unknown as StructDef<unknown>, p[1]);
    }
  }
}

/** A reply part for a struct (keeps the value's type tied to the struct). */
export function part<T>(def: StructDef<T>, value: T): ReplyPart {
  return [def as unknown as StructDef<never>, value];
}

/** Validate one path component: non-empty, at most NAME_MAX bytes, no '/', and per `rule`. */
export function checkComponent(name: Buffer, rule: NameRule, what = 'name'): Buffer {
  check(name.length > 0, 'FUSE_BAD_NAME', `${what}: empty`);
  if (name.length > NAME_MAX) throw new FuseError('ENAMETOOLONG', `${what}: ${name.length} bytes`);
  check(name.indexOf(0x2f) < 0, 'FUSE_BAD_NAME', `${what}: contains '/'`);
  if (rule === 'entry') {
    const dots = name.length <= 2 && name.every((c) => c === 0x2e);
    check(!dots, 'FUSE_BAD_NAME', `${what}: '.' or '..'`);
  }
  return name;
}

/** Split `buf` at its first NUL: [before, after]; throws FUSE_BAD_NAME when there is none. */
export function splitAtNul(buf: Buffer, what: string): [Buffer, Buffer] {
  const nul = buf.indexOf(0);
  check(nul >= 0, 'FUSE_BAD_NAME', `${what}: not NUL-terminated`);
  return [buf.subarray(0, nul), buf.subarray(nul + 1)];
}

/** Take exactly one NUL-terminated string that fills `buf`. */
export function soleCString(buf: Buffer, what: string): Buffer {
  const [s, after] = splitAtNul(buf, what);
  check(after.length === 0, 'FUSE_BAD_NAME', `${what}: ${after.length} bytes after the NUL`);
  return s;
}

const MAX_TIMEOUT_SECS = 2 ** 32; // beyond any jiffies horizon; keeps the kernel's signed view positive

/** A FUSE timeout: whole seconds (u64) and nanoseconds (u32). Shared between calls: never modify one. */
export interface Timeout {
  readonly secs: bigint;
  readonly nsecs: number;
}

/** The last two timeouts converted: a daemon uses one or two (entry, attr), and every reply needs them. */
const recent: [number, Timeout][] = [];

/** Seconds (fractional, Infinity allowed) as the (u64 secs, u32 nsecs) pair FUSE uses. */
export function timeout(t: number): Timeout {
  for (const [k, v] of recent) if (k === t) return v;
  let v: Timeout;
  if (!(t > 0)) v = { secs: 0n, nsecs: 0 };
  else if (t >= MAX_TIMEOUT_SECS) v = { secs: BigInt(MAX_TIMEOUT_SECS), nsecs: 0 };
  else {
    const whole = Math.floor(t);
    v = { secs: BigInt(whole), nsecs: Math.min(999_999_999, Math.round((t - whole) * 1e9)) };
  }
  if (recent.unshift([t, v]) > 2) recent.pop();
  return v;
}

/** An Entry as struct fuse_entry_out. */
export function entryOut(e: Entry): FuseEntryOut {
  const ev = timeout(e.entryTimeout);
  const av = timeout(e.attrTimeout);
  return {
    nodeid: e.nodeid,
    generation: e.generation,
    entry_valid: ev.secs,
    attr_valid: av.secs,
    entry_valid_nsec: ev.nsecs,
    attr_valid_nsec: av.nsecs,
    attr: e.attr,
  };
}
