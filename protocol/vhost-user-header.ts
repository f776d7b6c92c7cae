/**
 * The vhost-user message header and message framing. All numbers are in the machine's native byte
 * order (the spec); every platform we run on is little-endian, so we read and write little-endian.
 * PURE: no I/O, no state.
 */
import { check } from './errors.js';
import {
  VHOST_USER_HDR_SIZE,
  VHOST_USER_KNOWN_FLAGS_MASK,
  VHOST_USER_MAX_PAYLOAD_SIZE,
  VHOST_USER_NEED_REPLY_MASK,
  VHOST_USER_REPLY_MASK,
  VHOST_USER_VERSION,
  VHOST_USER_VERSION_MASK,
} from './vhost-user-constants.js';

/** A decoded message header. `request` is not checked against the enums: that is the handler's job. */
export interface VhostUserHeader {
  /** Request number (FrontendReq or BackendReq, depending on the channel). */
  request: number;
  /** Raw flags: version in bits 0-1, REPLY bit 2, NEED_REPLY bit 3. */
  flags: number;
  /** Payload size in bytes, at most VHOST_USER_MAX_PAYLOAD_SIZE. */
  size: number;
}

function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Decode and validate the 12-byte header at the start of `buf`.
 * Throws ProtocolError: VHOST_USER_SHORT_HEADER (fewer than 12 bytes), VHOST_USER_BAD_VERSION
 * (version bits not 1), VHOST_USER_RESERVED_FLAGS (bits above 3 set), VHOST_USER_BAD_SIZE (size
 * above VHOST_USER_MAX_PAYLOAD_SIZE).
 */
export function decodeHeader(buf: Uint8Array): VhostUserHeader {
  check(buf.byteLength >= VHOST_USER_HDR_SIZE, 'VHOST_USER_SHORT_HEADER', () => `header needs ${VHOST_USER_HDR_SIZE} bytes, got ${buf.byteLength}`);
  const dv = view(buf);
  const request = dv.getUint32(0, true);
  const flags = dv.getUint32(4, true);
  const size = dv.getUint32(8, true);
  check((flags & VHOST_USER_VERSION_MASK) === VHOST_USER_VERSION, 'VHOST_USER_BAD_VERSION', () => `header version ${flags & VHOST_USER_VERSION_MASK}, expected ${VHOST_USER_VERSION}`);
  check((flags & ~VHOST_USER_KNOWN_FLAGS_MASK) >>> 0 === 0, 'VHOST_USER_RESERVED_FLAGS', () => `reserved header flag bits set: 0x${flags.toString(16)}`);
  check(size <= VHOST_USER_MAX_PAYLOAD_SIZE, 'VHOST_USER_BAD_SIZE', () => `payload size ${size} exceeds ${VHOST_USER_MAX_PAYLOAD_SIZE}`);
  return { request, flags, size };
}

/** Header flags for a message: version 1 plus the optional REPLY / NEED_REPLY bits. */
export function headerFlags(opts: { reply?: boolean; needReply?: boolean } = {}): number {
  return VHOST_USER_VERSION | (opts.reply ? VHOST_USER_REPLY_MASK : 0) | (opts.needReply ? VHOST_USER_NEED_REPLY_MASK : 0);
}

/** Whether the REPLY bit is set. */
export function isReply(flags: number): boolean {
  return (flags & VHOST_USER_REPLY_MASK) !== 0;
}

/** Whether the NEED_REPLY bit is set. */
export function needsReply(flags: number): boolean {
  return (flags & VHOST_USER_NEED_REPLY_MASK) !== 0;
}

/** Write a header into `out` at `offset` (default 0). Values are not validated: fuzzers use this. */
export function writeHeader(out: Uint8Array, hdr: VhostUserHeader, offset = 0): void {
  const dv = view(out);
  dv.setUint32(offset, hdr.request >>> 0, true);
  dv.setUint32(offset + 4, hdr.flags >>> 0, true);
  dv.setUint32(offset + 8, hdr.size >>> 0, true);
}

/** Encode a 12-byte header. */
export function encodeHeader(hdr: VhostUserHeader): Uint8Array {
  const out = new Uint8Array(VHOST_USER_HDR_SIZE);
  writeHeader(out, hdr);
  return out;
}

/**
 * Encode a whole message (header + payload) into one buffer, ready for one sendmsg.
 * Throws VHOST_USER_BAD_SIZE if the payload is larger than VHOST_USER_MAX_PAYLOAD_SIZE.
 */
export function encodeMessage(request: number, flags: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  check(payload.byteLength <= VHOST_USER_MAX_PAYLOAD_SIZE, 'VHOST_USER_BAD_SIZE', () => `payload size ${payload.byteLength} exceeds ${VHOST_USER_MAX_PAYLOAD_SIZE}`);
  const out = new Uint8Array(VHOST_USER_HDR_SIZE + payload.byteLength);
  writeHeader(out, { request, flags, size: payload.byteLength });
  out.set(payload, VHOST_USER_HDR_SIZE);
  return out;
}

/** Result of `splitMessage`. */
export type SplitResult =
  /** Not enough bytes yet: `need` is the total the first message needs (12 until the header is in). */
  | { complete: false; need: number }
  /** One whole message; `consumed` bytes of the input belong to it. `payload` is a view, not a copy. */
  | { complete: true; header: VhostUserHeader; payload: Uint8Array; consumed: number };

/**
 * Stream framing without state: look at the bytes received so far and say whether the first
 * message is complete. The header is validated as soon as its 12 bytes are in, so a bad size is
 * refused before anyone waits for (or buffers) its payload.
 */
export function splitMessage(buf: Uint8Array): SplitResult {
  if (buf.byteLength < VHOST_USER_HDR_SIZE) return { complete: false, need: VHOST_USER_HDR_SIZE };
  const header = decodeHeader(buf);
  const total = VHOST_USER_HDR_SIZE + header.size;
  if (buf.byteLength < total) return { complete: false, need: total };
  return { complete: true, header, payload: buf.subarray(VHOST_USER_HDR_SIZE, total), consumed: total };
}
