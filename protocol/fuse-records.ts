/**
 * Variable-length FUSE records: directory entries (fuse_dirent / fuse_direntplus, padded with
 * FUSE_DIRENT_ALIGN) and the request extension area (fuse_ext_header chains carrying a security
 * context or supplementary groups). Pure functions; decoders throw ProtocolError.
 */
import { check } from './errors.js';
import { FUSE_REC_ALIGN } from './fuse-layout.js';
import { FuseExtType, NGROUPS_MAX } from './fuse-opcodes.js';
import {
  FUSE_NAME_OFFSET,
  FUSE_NAME_OFFSET_DIRENTPLUS,
  fuse_dirent,
  fuse_entry_out,
  fuse_ext_header,
  fuse_secctx,
  fuse_supp_groups,
  type FuseDirent,
  type FuseEntryOut,
} from './fuse-structs.js';

/** FUSE_DIRENT_ALIGN: directory records are padded to 8 bytes. */
export const FUSE_DIRENT_ALIGN = FUSE_REC_ALIGN;

/** FUSE_DIRENT_SIZE for a name of `namelen` bytes. */
export function direntSize(namelen: number): number {
  return FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
}

/** FUSE_DIRENTPLUS_SIZE for a name of `namelen` bytes. */
export function direntplusSize(namelen: number): number {
  return FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + namelen);
}

/** A decoded fuse_dirent with its name bytes. */
export interface DirentRecord extends FuseDirent {
  name: Uint8Array;
}

/** A decoded fuse_direntplus. */
export interface DirentplusRecord {
  entry_out: FuseEntryOut;
  dirent: DirentRecord;
}

/**
 * Encode one fuse_dirent (header, name, zero padding) at `off`. Returns the record size.
 * The caller checks room first with direntSize().
 */
export function encodeDirent(buf: Uint8Array, off: number, d: Omit<FuseDirent, 'namelen'>, name: Uint8Array): number {
  const size = direntSize(name.length);
  check(buf.length - off >= size, 'FUSE_NO_ROOM', `fuse_dirent: need ${size} bytes`);
  fuse_dirent.encode({ ino: d.ino, off: d.off, namelen: name.length, type: d.type }, buf, off);
  buf.set(name, off + FUSE_NAME_OFFSET);
  buf.fill(0, off + FUSE_NAME_OFFSET + name.length, off + size);
  return size;
}

/** Encode one fuse_direntplus at `off`. Returns the record size. */
export function encodeDirentplus(
  buf: Uint8Array,
  off: number,
  entry: FuseEntryOut,
  d: Omit<FuseDirent, 'namelen'>,
  name: Uint8Array,
): number {
  const size = direntplusSize(name.length);
  check(buf.length - off >= size, 'FUSE_NO_ROOM', `fuse_direntplus: need ${size} bytes`);
  fuse_entry_out.encode(entry, buf, off);
  encodeDirent(buf, off + fuse_entry_out.size, d, name);
  return size;
}

function checkName(namelen: number, at: number, avail: number, what: string): void {
  check(namelen > 0, 'FUSE_BAD_DIRENT', `${what} at ${at}: empty name`);
  check(namelen <= avail, 'FUSE_TRUNCATED', `${what} at ${at}: name of ${namelen} bytes overruns the buffer`);
}

/** Decode a READDIR reply body into its records. */
export function decodeDirents(buf: Uint8Array): DirentRecord[] {
  const out: DirentRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    const d = fuse_dirent.decode(buf, off);
    checkName(d.namelen, off, buf.length - off - FUSE_NAME_OFFSET, 'fuse_dirent');
    const size = direntSize(d.namelen);
    check(off + size <= buf.length, 'FUSE_TRUNCATED', `fuse_dirent at ${off}: padding overruns the buffer`);
    const start = off + FUSE_NAME_OFFSET;
    out.push({ ...d, name: buf.slice(start, start + d.namelen) });
    off += size;
  }
  return out;
}

/** Decode a READDIRPLUS reply body into its records. */
export function decodeDirentplus(buf: Uint8Array): DirentplusRecord[] {
  const out: DirentplusRecord[] = [];
  let off = 0;
  while (off < buf.length) {
    const entry_out = fuse_entry_out.decode(buf, off);
    const d = fuse_dirent.decode(buf, off + fuse_entry_out.size);
    checkName(d.namelen, off, buf.length - off - FUSE_NAME_OFFSET_DIRENTPLUS, 'fuse_direntplus');
    const size = direntplusSize(d.namelen);
    check(off + size <= buf.length, 'FUSE_TRUNCATED', `fuse_direntplus at ${off}: padding overruns the buffer`);
    const start = off + FUSE_NAME_OFFSET_DIRENTPLUS;
    out.push({ entry_out, dirent: { ...d, name: buf.slice(start, start + d.namelen) } });
    off += size;
  }
  return out;
}

// ---- request extensions ---------------------------------------------------------------------------

/** A security context (e.g. name "security.selinux") sent with FUSE_SECURITY_CTX. */
export interface SecurityContext {
  name: string;
  value: Uint8Array;
}

/** The decoded extension area of a request. */
export interface FuseExtensions {
  /** Present when a fuse_secctx_header was sent; `null` when it said nr_secctx = 0. */
  secctx?: SecurityContext | null;
  /** Present when a FUSE_EXT_GROUPS extension was sent. */
  groups?: number[];
}

function parseSecctx(nr: number, body: Uint8Array): SecurityContext | null {
  if (nr === 0) return null;
  // The kernel sends at most one context; more would need a policy for which one applies.
  check(nr === 1, 'FUSE_BAD_EXTENSION', `fuse_secctx_header: nr_secctx ${nr} > 1`);
  const sc = fuse_secctx.decode(body, 0);
  const nameStart = fuse_secctx.size;
  const nul = body.indexOf(0, nameStart);
  check(nul > nameStart, 'FUSE_BAD_EXTENSION', 'fuse_secctx: name missing or not NUL-terminated');
  const valueStart = nul + 1;
  check(sc.size > 0 && sc.size <= body.length - valueStart, 'FUSE_BAD_EXTENSION', `fuse_secctx: size ${sc.size} overruns the extension`);
  return {
    name: Buffer.from(body.subarray(nameStart, nul)).toString('latin1'),
    value: body.slice(valueStart, valueStart + sc.size),
  };
}

function parseGroups(body: Uint8Array): number[] {
  const { nr_groups } = fuse_supp_groups.decode(body, 0);
  check(nr_groups <= NGROUPS_MAX, 'FUSE_BAD_EXTENSION', `fuse_supp_groups: nr_groups ${nr_groups} > NGROUPS_MAX`);
  const need = fuse_supp_groups.size + 4 * nr_groups;
  // `body` excludes the 8-byte ext header; the whole extension is FUSE_REC_ALIGN'ed.
  check(FUSE_REC_ALIGN(8 + need) === 8 + body.length, 'FUSE_BAD_EXTENSION', `fuse_supp_groups: ${nr_groups} groups in ${body.length} bytes`);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const groups: number[] = [];
  for (let i = 0; i < nr_groups; i++) groups.push(dv.getUint32(4 + 4 * i, true));
  return groups;
}

/**
 * Parse a request's extension area (the last total_extlen * 8 bytes): a chain of fuse_ext_header
 * records, each `size` bytes (header included, a multiple of 8). Unknown types are skipped; a repeated
 * type, a bad size or a malformed body throws FUSE_BAD_EXTENSION.
 */
export function parseExtensions(area: Uint8Array): FuseExtensions {
  const out: FuseExtensions = {};
  let off = 0;
  while (off < area.length) {
    const { size, type } = fuse_ext_header.decode(area, off);
    check(size >= fuse_ext_header.size && size % 8 === 0, 'FUSE_BAD_EXTENSION', `fuse_ext_header at ${off}: bad size ${size}`);
    check(size <= area.length - off, 'FUSE_BAD_EXTENSION', `fuse_ext_header at ${off}: size ${size} overruns the area`);
    const body = area.subarray(off + fuse_ext_header.size, off + size);
    if (type <= FuseExtType.FUSE_MAX_NR_SECCTX) {
      check(out.secctx === undefined, 'FUSE_BAD_EXTENSION', 'security context sent twice');
      out.secctx = parseSecctx(type, body);
    } else if (type === FuseExtType.FUSE_EXT_GROUPS) {
      check(out.groups === undefined, 'FUSE_BAD_EXTENSION', 'supplementary groups sent twice');
      out.groups = parseGroups(body);
    }
    off += size;
  }
  return out;
}

/** Build a FUSE_EXT_GROUPS extension record (for front-ends and tests). */
export function encodeSuppGroupsExt(groups: readonly number[]): Uint8Array {
  const size = FUSE_REC_ALIGN(fuse_ext_header.size + fuse_supp_groups.size + 4 * groups.length);
  const buf = new Uint8Array(size);
  fuse_ext_header.encode({ size, type: FuseExtType.FUSE_EXT_GROUPS }, buf, 0);
  const dv = new DataView(buf.buffer);
  dv.setUint32(8, groups.length, true);
  groups.forEach((g, i) => dv.setUint32(12 + 4 * i, g >>> 0, true));
  return buf;
}

/** Build a security-context extension record with one context (for front-ends and tests). */
export function encodeSecctxExt(ctx: SecurityContext): Uint8Array {
  const name = Buffer.from(ctx.name, 'latin1');
  const size = FUSE_REC_ALIGN(fuse_ext_header.size + fuse_secctx.size + name.length + 1 + ctx.value.length);
  const buf = new Uint8Array(size);
  fuse_ext_header.encode({ size, type: 1 }, buf, 0);
  fuse_secctx.encode({ size: ctx.value.length }, buf, 8);
  buf.set(name, 16);
  buf.set(ctx.value, 16 + name.length + 1);
  return buf;
}
