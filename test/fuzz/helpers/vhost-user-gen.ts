/**
 * fast-check arbitraries for vhost-user front-end traffic: the handshake QEMU 10 sends, then random
 * requests with plausible payloads, each possibly mutated (wrong payload size, a header size that
 * lies, unknown request numbers, bad header flags, missing/extra/wrong-kind fds, raw garbage), and the
 * bytes cut into several writes. Payloads come from the independent builder
 * (test/helpers/builders/vhost-user.ts), request numbers from the spec's table below, never from the
 * code under test.
 */
import fc from 'fast-check';
import * as b from '../../helpers/builders/vhost-user.js';

/** Request numbers, from the spec ("Front-end message types"). */
export const REQ = {
  GET_FEATURES: 1, SET_FEATURES: 2, SET_OWNER: 3, RESET_OWNER: 4, SET_MEM_TABLE: 5, SET_LOG_BASE: 6, SET_LOG_FD: 7,
  SET_VRING_NUM: 8, SET_VRING_ADDR: 9, SET_VRING_BASE: 10, GET_VRING_BASE: 11, SET_VRING_KICK: 12, SET_VRING_CALL: 13,
  SET_VRING_ERR: 14, GET_PROTOCOL_FEATURES: 15, SET_PROTOCOL_FEATURES: 16, GET_QUEUE_NUM: 17, SET_VRING_ENABLE: 18,
  SEND_RARP: 19, NET_SET_MTU: 20, SET_BACKEND_REQ_FD: 21, IOTLB_MSG: 22, SET_VRING_ENDIAN: 23, GET_CONFIG: 24,
  SET_CONFIG: 25, CREATE_CRYPTO_SESSION: 26, CLOSE_CRYPTO_SESSION: 27, POSTCOPY_ADVISE: 28, POSTCOPY_LISTEN: 29,
  POSTCOPY_END: 30, GET_INFLIGHT_FD: 31, SET_INFLIGHT_FD: 32, GPU_SET_SOCKET: 33, RESET_DEVICE: 34, VRING_KICK: 35,
  GET_MAX_MEM_SLOTS: 36, ADD_MEM_REG: 37, REM_MEM_REG: 38, SET_STATUS: 39, GET_STATUS: 40, GET_SHARED_OBJECT: 41,
  SET_DEVICE_STATE_FD: 42, CHECK_DEVICE_STATE: 43, GET_SHMEM_CONFIG: 44,
} as const;

/** Header flags: version 1, and NEED_REPLY. */
export const V1 = 1;
export const NEED_REPLY = 1 << 3;
const MAX_PAYLOAD = 0x1000;

/** The guest memory a well-behaved step shares: one region of MEM bytes at GPA 0. */
export const MEM = 1 << 20;
export const UBASE = 0x7f00_0000_0000n;
/** Where queue q's ring lives inside that region. */
export const ringOffset = (q: number): number => q * 0x10000;

/** Protocol features both our devices offer (MQ, REPLY_ACK, BACKEND_REQ, BACKEND_SEND_FD, RESET_DEVICE, CONFIGURE_MEM_SLOTS, STATUS). */
export const PROTOCOL_FEATURES = [0, 3, 5, 10, 13, 15, 16].reduce((m, bit) => m | (1n << BigInt(bit)), 0n);
/** VERSION_1 | PROTOCOL_FEATURES | EVENT_IDX | INDIRECT_DESC. */
export const VIRTIO_FEATURES = (1n << 32n) | (1n << 30n) | (1n << 29n) | (1n << 28n);

/**
 * The kinds of fd a step can carry. 'memfd' is MEM bytes holding a ready ring image (ringImage);
 * 'memfd-short' is one page (smaller than any region that names it); 'socket' is one end of a
 * socketpair whose other end we close at once.
 */
export type FdKind = 'eventfd' | 'memfd' | 'memfd-short' | 'socket';

export interface Step {
  label: string;
  /** Bytes on the wire. */
  bytes: Uint8Array;
  fds: FdKind[];
  /** Offsets at which the bytes are cut into separate writes (sorted, inside the message). */
  cuts: number[];
  /** The header as sent, when the bytes start with a 12-byte header. */
  header?: { request: number; flags: number; size: number };
  /** After this step message boundaries no longer line up, or the back-end must drop the connection. */
  breaksStream: boolean;
  /** Instead of a message: signal the last kick eventfd we sent. */
  kick?: boolean;
}

interface Template {
  label: string;
  request: number;
  payload: Uint8Array;
  fds: FdKind[];
}

const t = (label: string, request: number, payload: Uint8Array = new Uint8Array(0), fds: FdKind[] = []): Template => ({ label, request, payload, fds });

/** A ring address triple for queue q inside the standard region (desc, used, avail). */
function ringAddr(q: number, index = q, flags = 0, log = 0n): Uint8Array {
  const base = UBASE + BigInt(ringOffset(q));
  return b.vringAddr(index, flags, base, base + 0x200n, base + 0x100n, log);
}

/** The standard region, as the builder wants it. */
export const STD_REGION: b.Region = { gpa: 0n, size: BigInt(MEM), uaddr: UBASE, offset: 0n };

/** What QEMU 10 sends to start queue 1 (FACTS.md), with the standard region and ring. */
export function handshake(queue = 1): Template[] {
  return [
    t('GET_FEATURES', REQ.GET_FEATURES),
    t('GET_PROTOCOL_FEATURES', REQ.GET_PROTOCOL_FEATURES),
    t('SET_PROTOCOL_FEATURES', REQ.SET_PROTOCOL_FEATURES, b.u64(PROTOCOL_FEATURES)),
    t('GET_QUEUE_NUM', REQ.GET_QUEUE_NUM),
    t('GET_MAX_MEM_SLOTS', REQ.GET_MAX_MEM_SLOTS),
    t('SET_BACKEND_REQ_FD', REQ.SET_BACKEND_REQ_FD, undefined, ['socket']),
    t('SET_OWNER', REQ.SET_OWNER),
    t('SET_VRING_CALL', REQ.SET_VRING_CALL, b.u64(queue), ['eventfd']),
    t('SET_VRING_ERR', REQ.SET_VRING_ERR, b.u64(queue), ['eventfd']),
    t('SET_FEATURES', REQ.SET_FEATURES, b.u64(VIRTIO_FEATURES)),
    t('ADD_MEM_REG', REQ.ADD_MEM_REG, b.memReg(STD_REGION), ['memfd']),
    t('SET_VRING_NUM', REQ.SET_VRING_NUM, b.vringState(queue, 8)),
    t('SET_VRING_BASE', REQ.SET_VRING_BASE, b.vringState(queue, 0)),
    t('SET_VRING_ADDR', REQ.SET_VRING_ADDR, ringAddr(queue)),
    t('SET_VRING_KICK', REQ.SET_VRING_KICK, b.u64(queue), ['eventfd']),
    t('SET_VRING_ENABLE', REQ.SET_VRING_ENABLE, b.vringState(queue, 1)),
  ];
}

// ---- values --------------------------------------------------------------------------------------

const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 7, 8, 255, 256, 0x7fff, 0x8000, 0x8001, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff), fc.nat({ max: 0xffffffff }));
const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 0xffn, 0x100n, 0x1000n, 0xffffffffn, 1n << 32n, 1n << 52n, 1n << 53n, (1n << 53n) - 1n, 1n << 63n, (1n << 64n) - 1n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const queueIndex = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: u32 });
const queueNum = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(1, 2, 4, 8, 256, 1024, 32768) }, { weight: 1, arbitrary: u32 });
const features = fc.oneof(fc.constant(VIRTIO_FEATURES), fc.bigInt({ min: 0n, max: VIRTIO_FEATURES }).map((x) => x & VIRTIO_FEATURES), u64);
const protocolFeatures = fc.oneof(fc.constant(PROTOCOL_FEATURES), fc.bigInt({ min: 0n, max: PROTOCOL_FEATURES }).map((x) => x & PROTOCOL_FEATURES), u64);

/** Memory regions: mostly the standard one, else edges and nonsense. */
export const region: fc.Arbitrary<b.Region> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(STD_REGION) },
  {
    weight: 2,
    arbitrary: fc.record({
      gpa: fc.constantFrom(0n, BigInt(MEM), BigInt(2 * MEM), 0x1000n, 1n << 40n, (1n << 53n) - 4096n, (1n << 64n) - 4096n),
      size: fc.constantFrom(BigInt(MEM), 4096n, 0n, 1n, BigInt(MEM) + 1n, BigInt(2 * MEM), 1n << 40n, 1n << 53n, (1n << 64n) - 1n),
      uaddr: fc.constantFrom(UBASE, UBASE + BigInt(MEM), 0n, (1n << 64n) - 4096n),
      offset: fc.constantFrom(0n, 4096n, 1n, BigInt(MEM), BigInt(MEM) - 4096n, 1n << 63n),
    }),
  },
  { weight: 1, arbitrary: fc.record({ gpa: u64, size: u64, uaddr: u64, offset: u64 }) },
);

const memFd = fc.oneof({ weight: 4, arbitrary: fc.constant<FdKind>('memfd') }, { weight: 1, arbitrary: fc.constantFrom<FdKind>('memfd-short', 'eventfd', 'socket') });
const notifyFd = fc.oneof({ weight: 4, arbitrary: fc.constant<FdKind>('eventfd') }, { weight: 1, arbitrary: fc.constantFrom<FdKind>('memfd', 'socket') });

// ---- one request ---------------------------------------------------------------------------------

const vringFd = (label: string, request: number) =>
  fc.tuple(queueIndex, fc.boolean(), fc.oneof({ weight: 5, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: u64 }), notifyFd).map(([q, nofd, junk, fd]) =>
    t(label, request, b.u64((BigInt(q & 0xff) | (nofd ? 0x100n : 0n)) | (junk & ~0x1ffn)), nofd ? [] : [fd]),
  );

/** One request with a payload of the right kind and plausible-to-hostile values. */
export const template: fc.Arbitrary<Template> = fc.oneof(
  fc.constant(t('GET_FEATURES', REQ.GET_FEATURES)),
  features.map((f) => t('SET_FEATURES', REQ.SET_FEATURES, b.u64(f))),
  fc.constant(t('SET_OWNER', REQ.SET_OWNER)),
  fc.constant(t('RESET_OWNER', REQ.RESET_OWNER)),
  fc.constant(t('GET_PROTOCOL_FEATURES', REQ.GET_PROTOCOL_FEATURES)),
  protocolFeatures.map((f) => t('SET_PROTOCOL_FEATURES', REQ.SET_PROTOCOL_FEATURES, b.u64(f))),
  fc.constant(t('GET_QUEUE_NUM', REQ.GET_QUEUE_NUM)),
  fc.constant(t('GET_MAX_MEM_SLOTS', REQ.GET_MAX_MEM_SLOTS)),
  fc.tuple(fc.array(region, { maxLength: 9 }), fc.option(fc.nat({ max: 12 })), memFd).map(([regions, declared, kind]) =>
    t('SET_MEM_TABLE', REQ.SET_MEM_TABLE, b.memTable(regions, declared ?? regions.length), regions.map(() => kind)),
  ),
  fc.tuple(region, memFd).map(([r, k]) => t('ADD_MEM_REG', REQ.ADD_MEM_REG, b.memReg(r), [k])),
  region.map((r) => t('REM_MEM_REG', REQ.REM_MEM_REG, b.memReg(r))),
  fc.tuple(queueIndex, queueNum).map(([q, n]) => t('SET_VRING_NUM', REQ.SET_VRING_NUM, b.vringState(q, n))),
  fc.tuple(queueIndex, fc.oneof(fc.constant(0), u32)).map(([q, n]) => t('SET_VRING_BASE', REQ.SET_VRING_BASE, b.vringState(q, n))),
  queueIndex.map((q) => t('GET_VRING_BASE', REQ.GET_VRING_BASE, b.vringState(q, 0))),
  fc.tuple(queueIndex, fc.constantFrom(1, 2), fc.constantFrom(0, 1)).map(([i, q, f]) => t('SET_VRING_ADDR', REQ.SET_VRING_ADDR, ringAddr(q, i, f))),
  fc.tuple(queueIndex, u32, u64, u64, u64, u64).map(([i, f, d, u, a, l]) => t('SET_VRING_ADDR', REQ.SET_VRING_ADDR, b.vringAddr(i, f, d, u, a, l))),
  vringFd('SET_VRING_KICK', REQ.SET_VRING_KICK),
  vringFd('SET_VRING_CALL', REQ.SET_VRING_CALL),
  vringFd('SET_VRING_ERR', REQ.SET_VRING_ERR),
  fc.tuple(queueIndex, fc.oneof(fc.constantFrom(0, 1), u32)).map(([q, n]) => t('SET_VRING_ENABLE', REQ.SET_VRING_ENABLE, b.vringState(q, n))),
  fc.constant(t('SET_BACKEND_REQ_FD', REQ.SET_BACKEND_REQ_FD, undefined, ['socket'])),
  fc.constant(t('RESET_DEVICE', REQ.RESET_DEVICE)),
  fc.constant(t('GET_STATUS', REQ.GET_STATUS)),
  u64.map((s) => t('SET_STATUS', REQ.SET_STATUS, b.u64(s & 0x1ffn))),
  fc.tuple(fc.oneof(fc.constantFrom(0, 4, 36, 40, 44, 0xffffffff), u32), fc.nat({ max: 300 }), u32).map(([off, n, flags]) =>
    t('GET_CONFIG', REQ.GET_CONFIG, b.config(off, flags, new Uint8Array(Math.min(n, 256)), n)),
  ),
  fc.tuple(fc.nat({ max: 64 }), fc.uint8Array({ maxLength: 64 })).map(([off, data]) => t('SET_CONFIG', REQ.SET_CONFIG, b.config(off, 0, data))),
  fc.tuple(u64, u64).map(([s, o]) => t('SET_LOG_BASE', REQ.SET_LOG_BASE, b.log(s, o), ['memfd'])),
  fc.constant(t('SET_LOG_FD', REQ.SET_LOG_FD, undefined, ['eventfd'])),
  fc.tuple(u64, u64, u64).map(([i, s, u]) => t('IOTLB_MSG', REQ.IOTLB_MSG, b.iotlb(i, s, u, 3, 2))),
  fc.tuple(u64, u64).map(([s, o]) => t('GET_INFLIGHT_FD', REQ.GET_INFLIGHT_FD, b.inflight(s, o, 2, 8))),
  fc.tuple(u64, u64).map(([s, o]) => t('SET_INFLIGHT_FD', REQ.SET_INFLIGHT_FD, b.inflight(s, o, 2, 8), ['memfd'])),
  queueIndex.map((q) => t('VRING_KICK', REQ.VRING_KICK, b.vringState(q, 0))),
  fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 2 })).map(([d, p]) => t('SET_DEVICE_STATE_FD', REQ.SET_DEVICE_STATE_FD, b.deviceState(d, p), ['socket'])),
  fc.constant(t('CHECK_DEVICE_STATE', REQ.CHECK_DEVICE_STATE)),
  fc.uint8Array({ minLength: 16, maxLength: 16 }).map((u) => t('GET_SHARED_OBJECT', REQ.GET_SHARED_OBJECT, u)),
  fc.constant(t('GET_SHMEM_CONFIG', REQ.GET_SHMEM_CONFIG)),
  fc.constantFrom(REQ.SEND_RARP, REQ.NET_SET_MTU, REQ.CLOSE_CRYPTO_SESSION, REQ.SET_VRING_ENDIAN).map((r) => t(`REQ_${r}`, r, b.u64(1))),
  fc.constantFrom(REQ.POSTCOPY_ADVISE, REQ.POSTCOPY_LISTEN, REQ.POSTCOPY_END, REQ.GPU_SET_SOCKET, REQ.CREATE_CRYPTO_SESSION).map((r) => t(`REQ_${r}`, r)),
);

// ---- mutations -----------------------------------------------------------------------------------

type Mutation =
  | { m: 'none' }
  /** Payload shortened or lengthened, header size matching: a wrong size the back-end can see. */
  | { m: 'resize'; len: number; fill: number }
  /** Header size that disagrees with the bytes that follow: the stream is out of step afterwards. */
  | { m: 'lie-size'; size: number }
  | { m: 'flags'; flags: number }
  | { m: 'request'; request: number }
  | { m: 'drop-fds' }
  | { m: 'extra-fds'; fds: FdKind[] }
  | { m: 'cut-short'; keep: number };

const fdKind = fc.constantFrom<FdKind>('eventfd', 'memfd', 'memfd-short', 'socket');

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 12, arbitrary: fc.constant<Mutation>({ m: 'none' }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('resize' as const), len: fc.oneof(fc.nat({ max: 48 }), fc.constantFrom(MAX_PAYLOAD, MAX_PAYLOAD + 1)), fill: fc.nat({ max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('lie-size' as const), size: fc.oneof(fc.nat({ max: 64 }), fc.constantFrom(MAX_PAYLOAD, MAX_PAYLOAD + 1, 0xffffffff)) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      m: fc.constant('flags' as const),
      flags: fc.oneof(fc.constantFrom(V1 | NEED_REPLY, V1 | 4, 0, 2, 3, V1 | 0x10, V1 | NEED_REPLY | 0x80000000), fc.nat({ max: 0xffffffff })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('request' as const), request: fc.oneof(fc.constantFrom(0, 45, 46, 99, 0x7fffffff, 0xffffffff), fc.integer({ min: 1, max: 44 })) }) },
  { weight: 1, arbitrary: fc.constant<Mutation>({ m: 'drop-fds' }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('extra-fds' as const), fds: fc.array(fdKind, { minLength: 1, maxLength: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('cut-short' as const), keep: fc.nat({ max: 40 }) }) },
);

function headerOk(flags: number, size: number): boolean {
  return (flags & 3) === 1 && (flags & ~0xf) === 0 && size <= MAX_PAYLOAD;
}

/** A short printable form of a step for fast-check's counterexample reports. */
function withToString(s: Step): Step {
  const hex = s.bytes.byteLength <= 48 ? Buffer.from(s.bytes).toString('hex') : `${Buffer.from(s.bytes.subarray(0, 48)).toString('hex')}…(${s.bytes.byteLength} bytes)`;
  return Object.assign(s, { [fc.toStringMethod]: () => `${s.label}[${hex}${s.fds.length ? ' fds=' + s.fds.join(',') : ''}${s.cuts.length ? ' cuts=' + s.cuts.join(',') : ''}]` });
}

/** Assemble a template and a mutation into the bytes and fds that go on the wire. */
export function build(tp: Template, mu: Mutation, needReply: boolean, cutFractions: number[]): Step {
  let request = tp.request;
  let flags = V1 | (needReply ? NEED_REPLY : 0);
  let payload = tp.payload;
  let fds = tp.fds;
  let size = payload.byteLength;
  let breaksStream = false;
  let label = tp.label;
  switch (mu.m) {
    case 'resize': {
      const p = new Uint8Array(mu.len).fill(mu.fill);
      p.set(payload.subarray(0, mu.len));
      payload = p;
      size = p.byteLength;
      label += `/resize(${mu.len})`;
      break;
    }
    case 'lie-size':
      size = mu.size;
      breaksStream = size !== payload.byteLength;
      label += `/lie-size(${mu.size})`;
      break;
    case 'flags':
      flags = mu.flags >>> 0;
      label += `/flags(0x${flags.toString(16)})`;
      break;
    case 'request':
      request = mu.request >>> 0;
      label += `/request(${request})`;
      break;
    case 'drop-fds':
      fds = [];
      label += '/no-fds';
      break;
    case 'extra-fds':
      fds = [...fds, ...mu.fds];
      label += `/fds+${mu.fds.length}`;
      break;
    case 'cut-short':
      label += `/cut(${mu.keep})`;
      break;
  }
  let bytes = b.message(request, flags, payload, size);
  if (mu.m === 'cut-short' && mu.keep < bytes.byteLength) {
    bytes = bytes.slice(0, mu.keep);
    breaksStream = true;
  }
  // A bad header, a payload over the limit or more fds than one message may carry: the back-end
  // drops the connection.
  if (!headerOk(flags, size) || fds.length > 8) breaksStream = true;
  const cuts = [...new Set(cutFractions.map((f) => Math.floor(f * bytes.byteLength)).filter((c) => c > 0 && c < bytes.byteLength))].sort((x, y) => x - y);
  return withToString({ label, bytes, fds, cuts, header: bytes.byteLength >= 12 ? { request, flags, size } : undefined, breaksStream });
}

const cutFractions = fc.oneof({ weight: 4, arbitrary: fc.constant<number[]>([]) }, { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }) });

/** One step of a case: a (possibly mutated) request, raw garbage, or a kick. */
export const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(template, mutation, fc.boolean(), cutFractions).map(([tp, mu, nr, cf]) => build(tp, mu, nr, cf)) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.array(fdKind, { maxLength: 2 })).map(([bytes, fds]) =>
      withToString({ label: `garbage(${bytes.length})`, bytes, fds, cuts: [], breaksStream: true }),
    ),
  },
  { weight: 2, arbitrary: fc.constant<Step>(withToString({ label: 'kick', bytes: new Uint8Array(0), fds: [], cuts: [], breaksStream: false, kick: true })) },
);

/** A whole case: a prefix of the QEMU handshake (so later steps meet a live device), then random steps. */
export function scenario(queue = 1): fc.Arbitrary<Step[]> {
  const hs = handshake(queue);
  return fc
    .tuple(fc.oneof({ weight: 1, arbitrary: fc.constant(hs.length) }, { weight: 1, arbitrary: fc.nat({ max: hs.length }) }), fc.boolean(), fc.array(step, { maxLength: 10 }))
    .map(([k, ack, rest]) => [...hs.slice(0, k).map((tp) => build(tp, { m: 'none' }, ack, [])), ...rest]);
}
