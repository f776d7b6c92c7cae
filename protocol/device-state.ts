/**
 * The virtio-fs device state that migration (SET_DEVICE_STATE_FD) and live upgrade carry from one
 * daemon to another. Versioned and documented here; JSON sections keep it readable and let a newer
 * daemon add fields without breaking an older reader of the same major version.
 *
 * Layout (little-endian):
 *   magic    8 bytes  "VFSTSDS\0"
 *   version  u32      STATE_VERSION (a reader refuses a higher version)
 *   flags    u32      0
 *   sections repeated: tag u32, reserved u32 (0), length u64, `length` bytes of UTF-8 JSON
 *   end      a section with tag SECTION_END and length 0
 *
 * Sections:
 *   SECTION_FUSE (1): the negotiated FUSE session { initialized, minor, kernelMinor, flags } with
 *     `flags` a decimal string (64-bit INIT flags).
 *   SECTION_FILESYSTEM (2): what the file system needs to keep the guest's nodeids and handles
 *     meaningful; the passthrough's layout is documented with its exporter (src/passthrough/).
 * 64-bit ids inside JSON are decimal strings.
 */
import { ProtocolError, check } from './errors.js';

export const STATE_MAGIC = new Uint8Array([0x56, 0x46, 0x53, 0x54, 0x53, 0x44, 0x53, 0x00]);
export const STATE_VERSION = 1;
export const SECTION_END = 0xffffffff;
export const SECTION_FUSE = 1;
export const SECTION_FILESYSTEM = 2;
/** A bound on one section, so a corrupt length cannot make a reader allocate without limit. */
export const MAX_SECTION_SIZE = 1 << 30;

export interface DeviceState {
  version: number;
  sections: Map<number, unknown>;
}

export function encodeDeviceState(sections: Map<number, unknown>): Uint8Array {
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(16);
  head.set(STATE_MAGIC);
  new DataView(head.buffer).setUint32(8, STATE_VERSION, true);
  parts.push(head);
  const section = (tag: number, body: Uint8Array) => {
    const h = new Uint8Array(16);
    const d = new DataView(h.buffer);
    d.setUint32(0, tag, true);
    d.setBigUint64(8, BigInt(body.length), true);
    parts.push(h, body);
  };
  for (const [tag, value] of sections) {
    check(tag !== SECTION_END, 'STATE_BAD_SECTION', 'SECTION_END cannot carry data');
    section(tag, new TextEncoder().encode(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))));
  }
  section(SECTION_END, new Uint8Array(0));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Decode and validate. Unknown section tags are kept (a newer writer of the same version may add some). */
export function decodeDeviceState(buf: Uint8Array): DeviceState {
  check(buf.length >= 16, 'STATE_TRUNCATED', `device state is ${buf.length} bytes, the header needs 16`);
  for (let i = 0; i < STATE_MAGIC.length; i++) check(buf[i] === STATE_MAGIC[i], 'STATE_BAD_MAGIC', 'not a virtiofsd-ts device state (bad magic)');
  const d = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = d.getUint32(8, true);
  check(version >= 1 && version <= STATE_VERSION, 'STATE_UNSUPPORTED_VERSION', `device state version ${version}; this daemon reads versions 1..${STATE_VERSION}`);
  check(d.getUint32(12, true) === 0, 'STATE_BAD_FLAGS', 'device state flags must be 0');
  const sections = new Map<number, unknown>();
  let o = 16;
  for (;;) {
    check(o + 16 <= buf.length, 'STATE_TRUNCATED', 'device state ends inside a section header');
    const tag = d.getUint32(o, true);
    check(d.getUint32(o + 4, true) === 0, 'STATE_BAD_SECTION', `section ${tag}: reserved field not 0`);
    const len = d.getBigUint64(o + 8, true);
    o += 16;
    if (tag === SECTION_END) {
      check(len === 0n, 'STATE_BAD_SECTION', 'end section with data');
      check(o === buf.length, 'STATE_TRAILING_DATA', `${buf.length - o} bytes after the end section`);
      return { version, sections };
    }
    check(len <= BigInt(Math.min(MAX_SECTION_SIZE, buf.length - o)), 'STATE_TRUNCATED', `section ${tag} claims ${len} bytes, ${buf.length - o} left`);
    check(!sections.has(tag), 'STATE_BAD_SECTION', `section ${tag} appears twice`);
    const n = Number(len);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(o, o + n)));
    } catch (e) {
      throw new ProtocolError('STATE_BAD_SECTION', `section ${tag} is not valid JSON: ${(e as Error).message}`);
    }
    sections.set(tag, value);
    o += n;
  }
}
