/**
 * Coverage-guided fuzz targets: the pure decoders of protocol/ (vhost-user framing, request table and
 * payload codecs; FUSE structs, dirents, request extensions). Each target accepts any bytes; the only
 * allowed failure is a ProtocolError (the decoders' one error type). Every value a decoder accepts must
 * survive its encoder: decode(encode(decode(x))) equals decode(x), and the encoder must not refuse it.
 * Seeds come from the independent builders in test/helpers/builders.
 */
import { isDeepStrictEqual } from 'node:util';
import { ProtocolError } from '../../../protocol/errors.js';
import * as vu from '../../../protocol/vhost-user.js';
import * as F from '../../../protocol/fuse.js';
import type { StructDef } from '../../../protocol/fuse-layout.js';
import * as B from '../../helpers/builders/fuse.js';
import * as b from '../../helpers/builders/vhost-user.js';
import { InvariantError, type Target } from './engine.js';

const expected = (e: unknown) => e instanceof ProtocolError;

/** decode(encode(v)) must give v back. */
function roundTrip<T>(what: string, v: T, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T): void {
  let bytes: Uint8Array;
  try {
    bytes = encode(v);
  } catch (e) {
    throw new InvariantError(`${what}: the decoder accepted a value its encoder refuses: ${(e as Error).message}`);
  }
  const again = decode(bytes);
  if (!isDeepStrictEqual(again, v)) throw new InvariantError(`${what}: decode(encode(v)) differs from v`);
}

/** Catch a ProtocolError from one decoder so the target goes on with the next one. */
function tolerate(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!expected(e)) throw e;
  }
}

/** decode → encode → decode must give the value back: the payload kinds with nothing more to check. */
const codec = <T>(what: string, decode: (b: Uint8Array) => T, encode: (v: T) => Uint8Array) => (p: Uint8Array) => roundTrip(what, decode(p), encode, decode);
const ROUND_TRIP: Partial<Record<vu.PayloadKind, (p: Uint8Array) => void>> = {
  'vring-addr': codec('vring addr', vu.decodeVringAddr, vu.encodeVringAddr),
  'log': codec('log', vu.decodeLog, vu.encodeLog),
  'iotlb': codec('iotlb', vu.decodeIotlb, vu.encodeIotlb),
  'config': codec('config', vu.decodeConfig, vu.encodeConfig),
  'vring-area': codec('vring area', vu.decodeVringArea, vu.encodeVringArea),
  'inflight': codec('inflight', vu.decodeInflight, vu.encodeInflight),
  'shared-object': codec('shared object', vu.decodeSharedObject, vu.encodeSharedObject),
  'mmap': codec('mmap', vu.decodeMmapRequest, vu.encodeMmapRequest),
  'shmem-config': codec('shmem config', vu.decodeShmemConfig, vu.encodeShmemConfig),
};

function decodePayload(kind: vu.PayloadKind, p: Uint8Array, request: number): void {
  switch (kind) {
    case 'u64': {
      const v = vu.decodeU64(p);
      roundTrip('u64', v, vu.encodeU64, vu.decodeU64);
      if (request === vu.FrontendReq.SET_VRING_KICK || request === vu.FrontendReq.SET_VRING_CALL || request === vu.FrontendReq.SET_VRING_ERR) {
        const f = vu.decodeVringFdPayload(p);
        roundTrip('vring fd payload', f, vu.encodeVringFdPayload, vu.decodeVringFdPayload);
        tolerate(() => vu.checkVringFdCount(f.noFd, p[0]! % 2, 'fuzz'));
      }
      break;
    }
    case 'vring-state': {
      const s = vu.decodeVringState(p);
      roundTrip('vring state', s, vu.encodeVringState, vu.decodeVringState);
      tolerate(() => vu.decodeSplitVringBase(s.num));
      const pb = vu.decodePackedVringBase(s.num);
      if (vu.encodePackedVringBase(pb) !== s.num) throw new InvariantError('packed vring base does not round-trip');
      break;
    }
    case 'memory-table':
      for (const xenMmap of [false, true]) tolerate(() => roundTrip('memory table', vu.decodeMemoryTable(p, { xenMmap }), (r) => vu.encodeMemoryTable(r, { xenMmap }), (x) => vu.decodeMemoryTable(x, { xenMmap })));
      break;
    case 'mem-region':
      for (const xenMmap of [false, true]) tolerate(() => roundTrip('memory region', vu.decodeSingleMemoryRegion(p, { xenMmap }), (r) => vu.encodeSingleMemoryRegion(r, { xenMmap }), (x) => vu.decodeSingleMemoryRegion(x, { xenMmap })));
      break;
    case 'device-state':
      roundTrip('device state', vu.decodeDeviceStateTransfer(p), vu.encodeDeviceStateTransfer, vu.decodeDeviceStateTransfer);
      tolerate(() => roundTrip('device state reply', vu.decodeDeviceStateReply(p), vu.encodeDeviceStateReply, vu.decodeDeviceStateReply));
      break;
    case 'none':
    case 'opaque':
      break;
    default:
      ROUND_TRIP[kind]?.(p);
  }
}

/** A byte stream of vhost-user messages, as the back-end's socket would see it. */
export const vhostUser: Target = {
  name: 'vhost-user',
  isExpected: expected,
  seeds: [
    b.message(1, 1),
    b.message(2, 1, b.u64(0x170000000n)),
    b.message(5, 1, b.memTable([{ gpa: 0n, size: 1n << 20n, uaddr: 0x7f0000000000n, offset: 0n }])),
    b.message(9, 9, b.vringAddr(1, 0, 0x7f0000000000n, 0x7f0000000200n, 0x7f0000000100n, 0n)),
    b.message(12, 1, b.u64(0x101)),
    b.message(8, 1, b.vringState(1, 256)),
    b.message(37, 1, b.memReg({ gpa: 0n, size: 1n << 20n, uaddr: 0x7f0000000000n, offset: 0n })),
    b.message(24, 1, b.config(0, 0, new Uint8Array(44))),
    b.message(6, 1, b.log(4096n, 0n)),
    b.message(22, 1, b.iotlb(0n, 4096n, 0n, 3, 2)),
    b.message(31, 1, b.inflight(4096n, 0n, 2, 256)),
    b.message(42, 1, b.deviceState(0, 0)),
    b.message(41, 1, new Uint8Array(16)),
    B.concat(b.message(1, 1), b.message(15, 1), b.message(16, 1, b.u64(0x1a429n))),
  ],
  run(data) {
    let off = 0;
    for (let n = 0; n < 16 && off < data.length; n++) {
      const split = vu.splitMessage(data.subarray(off));
      if (!split.complete) return;
      off += split.consumed;
      const { request, flags, size } = split.header;
      vu.isReply(flags);
      vu.needsReply(flags);
      vu.frontendReqName(request);
      tolerate(() => vu.expectedBackendPayload(request));
      const nfds = (request + size) % 3;
      let spec: vu.RequestSpec;
      try {
        spec = vu.checkRequest(request, size, nfds);
        vu.hasReplyByDefinition(request, BigInt(flags) << 3n);
      } catch (e) {
        if (!expected(e)) throw e;
        continue;
      }
      tolerate(() => decodePayload(spec.payload, split.payload, request));
      if (spec.payload === 'memory-table') tolerate(() => vu.checkMemTableFdCount(vu.decodeMemoryTable(split.payload).length, nfds));
    }
  },
};

/** Every fixed-size struct protocol/fuse-structs declares, by name. */
const STRUCTS: StructDef<unknown>[] = (Object.values(F) as unknown[])
  .filter((v): v is StructDef<unknown> => typeof v === 'object' && v !== null && 'decode' in v && 'toBytes' in v && 'size' in v)
  .sort((x, y) => x.name.localeCompare(y.name));

/**
 * FUSE: byte 0 picks what the rest is: a request (fuse_in_header, then the arguments as the struct of
 * byte 1's choice, then an extension area), a READDIR / READDIRPLUS reply body, or an extension area.
 */
export const fuse: Target = {
  name: 'fuse',
  isExpected: expected,
  seeds: [
    Uint8Array.of(0, 0, ...B.request(B.OP.INIT, B.initIn(7, 38, 1 << 17, 0x7fffffff, 7))),
    Uint8Array.of(0, 1, ...B.request(B.OP.LOOKUP, B.cstr('name'))),
    Uint8Array.of(0, 2, ...B.request(B.OP.WRITE, B.concat(B.writeIn(1n, 0n, 4), Uint8Array.of(1, 2, 3, 4)))),
    Uint8Array.of(0, 3, ...B.request(B.OP.MKDIR, B.concat(B.mkdirIn(0o755, 0o22), B.cstr('d')), {}, Uint8Array.of(16, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0))),
    Uint8Array.of(1, 0, ...new B.LE().u64(1n).u64(1n).u32(1).u32(4).bytes('a').zero(7).u64(2n).u64(2n).u32(2).u32(8).bytes('bc').zero(6).build()),
    Uint8Array.of(2, 0, ...new Uint8Array(128), ...new B.LE().u64(1n).u64(1n).u32(3).u32(4).bytes('abc').zero(5).build()),
    Uint8Array.of(3, 0, ...new B.LE().u32(24).u32(2).u32(2).u32(10).u32(11).zero(4).build()),
    Uint8Array.of(3, 0, ...new B.LE().u32(40).u32(1).u32(4).u32(0).bytes('security.x').u8(0).bytes('abcd').zero(2).build()),
  ],
  run(data) {
    if (data.length < 2) return;
    const body = data.subarray(2);
    switch (data[0]! % 4) {
      case 0: {
        const h = F.fuse_in_header.decode(body);
        roundTrip('fuse_in_header', h, (v) => F.fuse_in_header.toBytes(v), (x) => F.fuse_in_header.decode(x));
        F.fuseOpcodeName(h.opcode);
        const def = STRUCTS[data[1]! % STRUCTS.length]!;
        const args = body.subarray(F.fuse_in_header.size);
        tolerate(() => roundTrip(def.name, def.decode(args), (v) => def.toBytes(v), (x) => def.decode(x)));
        const extLen = h.total_extlen * 8;
        if (extLen > 0 && extLen <= args.length) tolerate(() => F.parseExtensions(args.subarray(args.length - extLen)));
        break;
      }
      case 1:
        for (const d of F.decodeDirents(body)) {
          const buf = new Uint8Array(F.direntSize(d.name.length));
          F.encodeDirent(buf, 0, d, d.name);
          const [again] = F.decodeDirents(buf);
          if (!isDeepStrictEqual(again, d)) throw new InvariantError('fuse_dirent does not round-trip');
        }
        break;
      case 2:
        for (const d of F.decodeDirentplus(body)) {
          const buf = new Uint8Array(F.direntplusSize(d.dirent.name.length));
          F.encodeDirentplus(buf, 0, d.entry_out, d.dirent, d.dirent.name);
          const [again] = F.decodeDirentplus(buf);
          if (!isDeepStrictEqual(again, d)) throw new InvariantError('fuse_direntplus does not round-trip');
        }
        break;
      case 3: {
        const x = F.parseExtensions(body);
        if (x.groups !== undefined) {
          const again = F.parseExtensions(F.encodeSuppGroupsExt(x.groups));
          if (!isDeepStrictEqual(again.groups, x.groups)) throw new InvariantError('supplementary groups do not round-trip');
        }
        if (x.secctx) {
          const again = F.parseExtensions(F.encodeSecctxExt(x.secctx));
          if (!isDeepStrictEqual(again.secctx, x.secctx)) throw new InvariantError('security context does not round-trip');
        }
        break;
      }
    }
  },
};

export const TARGETS: Target[] = [vhostUser, fuse];
