/**
 * The live-upgrade hand-over protocol between a running daemon (--upgrade-socket) and its successor
 * (--take-over), over a unix stream socket with SCM_RIGHTS. Versioned and documented here.
 *
 * Frame: magic u32 UPGRADE_MAGIC, type u32, length u32, then `length` bytes of UTF-8 JSON. Fds ride
 * on FDS frames (at most MAX_FDS_PER_FRAME each), in the order the state's fd indices count them.
 *
 *   successor → old   HELLO   { maxVersion, pid }          the newest state version it can load
 *   old → successor   REFUSE  { reason }                    successor too old: the old keeps serving
 *   old → successor   STATE   LiveState (version, fdCount, …)
 *   old → successor   FDS     { count } + fds, until fdCount fds have come
 *   successor → old   ACK     {}                            it serves now: the old exits 0
 *   successor → old   REFUSE  { reason }                    unknown newer version or bad state: the old resumes
 *
 * LiveState v1 (fd fields are indices into the fd list):
 *   { version: 1, fdCount, listener: fd|null, connection: fd|null, backendReq: fd|null,
 *     features, protocolFeatures (decimal strings), status, owner,
 *     memory: [{ guestPhysAddr, memorySize, userspaceAddr, mmapOffset, fd }],
 *     dirtyLog: { fd, size, offset } | null,
 *     vrings: [{ index, size, addrs: { desc, avail, used, log? } | null, base, enabled, started,
 *                kick: fd|null, call: fd|null, err: fd|null }],
 *     device: base64 of the device state (protocol/device-state.ts: FUSE session + file system) | null }
 */
import { ProtocolError, check } from './errors.js';

export const UPGRADE_MAGIC = 0x50554656; // "VFUP"
export const UPGRADE_VERSION = 1;
export const UPGRADE_HDR_SIZE = 12;
export const MAX_UPGRADE_FRAME = 256 << 20;
export const MAX_FDS_PER_FRAME = 60;

export enum UpgradeMsg {
  HELLO = 1,
  STATE = 2,
  FDS = 3,
  ACK = 4,
  REFUSE = 5,
}

export interface LiveRegion {
  guestPhysAddr: number;
  memorySize: number;
  userspaceAddr: number;
  mmapOffset: number;
  fd: number;
}

export interface LiveVring {
  index: number;
  size: number;
  addrs: { desc: number; avail: number; used: number; log?: number } | null;
  base: number;
  enabled: boolean;
  started: boolean;
  kick: number | null;
  call: number | null;
  err: number | null;
}

export interface LiveState {
  version: number;
  fdCount: number;
  listener: number | null;
  connection: number | null;
  backendReq: number | null;
  features: string;
  protocolFeatures: string;
  status: number;
  owner: boolean;
  memory: LiveRegion[];
  dirtyLog: { fd: number; size: number; offset: number } | null;
  vrings: LiveVring[];
  device: string | null;
}

export function encodeFrame(type: UpgradeMsg, body: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body));
  check(json.length <= MAX_UPGRADE_FRAME, 'UPGRADE_FRAME_TOO_LARGE', `frame of ${json.length} bytes`);
  const out = new Uint8Array(UPGRADE_HDR_SIZE + json.length);
  const d = new DataView(out.buffer);
  d.setUint32(0, UPGRADE_MAGIC, true);
  d.setUint32(4, type, true);
  d.setUint32(8, json.length, true);
  out.set(json, UPGRADE_HDR_SIZE);
  return out;
}

export function decodeFrameHeader(buf: Uint8Array): { type: UpgradeMsg; length: number } {
  check(buf.length >= UPGRADE_HDR_SIZE, 'UPGRADE_SHORT_HEADER', 'short frame header');
  const d = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  check(d.getUint32(0, true) === UPGRADE_MAGIC, 'UPGRADE_BAD_MAGIC', 'not a virtiofsd-ts upgrade peer (bad magic)');
  const type = d.getUint32(4, true);
  check(type >= UpgradeMsg.HELLO && type <= UpgradeMsg.REFUSE, 'UPGRADE_BAD_TYPE', `unknown frame type ${type}`);
  const length = d.getUint32(8, true);
  check(length <= MAX_UPGRADE_FRAME, 'UPGRADE_FRAME_TOO_LARGE', `frame of ${length} bytes`);
  return { type, length };
}

const isInt = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isFd = (v: unknown, n: number): boolean => v === null || isInt(v, 0, n - 1);

/**
 * Validate a STATE body. A version newer than this daemon reads throws UPGRADE_UNSUPPORTED_VERSION
 * (the caller refuses the hand-over); anything malformed throws UPGRADE_BAD_STATE.
 */
export function validateLiveState(s: unknown): LiveState {
  const o = s as LiveState;
  check(typeof o === 'object' && o !== null, 'UPGRADE_BAD_STATE', 'state is not an object');
  check(isInt(o.version, 1), 'UPGRADE_BAD_STATE', 'state has no version');
  if (o.version > UPGRADE_VERSION) {
    throw new ProtocolError('UPGRADE_UNSUPPORTED_VERSION', `the running daemon sent state version ${o.version}; this build reads versions up to ${UPGRADE_VERSION}`);
  }
  const n = o.fdCount;
  check(isInt(n, 0, 1 << 20), 'UPGRADE_BAD_STATE', 'bad fdCount');
  const bad = (what: string) => new ProtocolError('UPGRADE_BAD_STATE', `state: bad ${what}`);
  for (const k of ['listener', 'connection', 'backendReq'] as const) if (!isFd(o[k], n)) throw bad(k);
  if (typeof o.features !== 'string' || !/^\d+$/.test(o.features) || typeof o.protocolFeatures !== 'string' || !/^\d+$/.test(o.protocolFeatures)) throw bad('features');
  if (!isInt(o.status, 0, 255) || typeof o.owner !== 'boolean') throw bad('status');
  if (!Array.isArray(o.memory)) throw bad('memory');
  for (const r of o.memory) {
    if (![r.guestPhysAddr, r.memorySize, r.userspaceAddr, r.mmapOffset].every((v) => isInt(v)) || !isInt(r.fd, 0, n - 1)) throw bad('memory region');
  }
  if (o.dirtyLog !== null && (typeof o.dirtyLog !== 'object' || !isInt(o.dirtyLog.fd, 0, n - 1) || !isInt(o.dirtyLog.size, 1) || !isInt(o.dirtyLog.offset))) throw bad('dirtyLog');
  if (!Array.isArray(o.vrings)) throw bad('vrings');
  for (const v of o.vrings) {
    if (!isInt(v.index, 0, 255) || !isInt(v.size, 0, 32768) || !isInt(v.base, 0, 0xffff) || typeof v.enabled !== 'boolean' || typeof v.started !== 'boolean') throw bad('vring');
    if (!isFd(v.kick, n) || !isFd(v.call, n) || !isFd(v.err, n)) throw bad('vring fds');
    if (v.addrs !== null && (typeof v.addrs !== 'object' || ![v.addrs.desc, v.addrs.avail, v.addrs.used].every((a) => isInt(a)) || (v.addrs.log !== undefined && !isInt(v.addrs.log)))) throw bad('vring addrs');
  }
  if (o.device !== null && typeof o.device !== 'string') throw bad('device');
  return o;
}
