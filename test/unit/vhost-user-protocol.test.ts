/**
 * protocol/vhost-user*.ts against bytes from the independent builder (test/helpers/builders/
 * vhost-user.ts): header validation and stream framing split at every position, every payload's
 * round trip, every size error, and the per-request table.
 */
import test, { type ExecutionContext } from 'ava';
import { ProtocolError } from '../../protocol/errors.js';
import * as vu from '../../protocol/vhost-user.js';
import { FrontendReq as R, VhostUserProtocolFeature as PF } from '../../protocol/vhost-user.js';
import * as b from '../helpers/builders/vhost-user.js';

/** Assert that fn throws a ProtocolError with this stable code. */
function code(t: ExecutionContext, fn: () => unknown, expected: string): void {
  const err = t.throws(fn, { instanceOf: ProtocolError });
  t.is(err?.code, expected, err?.message);
}

const REG = { gpa: 0x1000_0000n, size: 0x20_0000n, uaddr: 0x7f00_0000_0000n, offset: 0x1000n };
const REG_DECODED = { guestPhysAddr: REG.gpa, memorySize: REG.size, userspaceAddr: REG.uaddr, mmapOffset: REG.offset };

// ---- constants -------------------------------------------------------------------------------

test('spec numbers: requests, back-end requests, protocol features, feature bits', (t) => {
  t.is(vu.VHOST_USER_HDR_SIZE, 12);
  t.is(R.GET_FEATURES, 1);
  t.is(R.GET_PROTOCOL_FEATURES, 15);
  t.is(R.SET_BACKEND_REQ_FD, 21);
  t.is(R.RESET_DEVICE, 34);
  t.is(R.ADD_MEM_REG, 37);
  t.is(R.SET_DEVICE_STATE_FD, 42);
  t.is(R.CHECK_DEVICE_STATE, 43);
  t.is(R.GET_SHMEM_CONFIG, 44);
  t.is(vu.BackendReq.SHARED_OBJECT_LOOKUP, 8);
  t.is(vu.BackendReq.SHMEM_UNMAP, 10);
  t.is(PF.REPLY_ACK, 3);
  t.is(PF.CONFIGURE_MEM_SLOTS, 15);
  t.is(PF.DEVICE_STATE, 19);
  t.is(vu.VHOST_USER_F_PROTOCOL_FEATURES, 30n);
  t.is(vu.VIRTIO_F_VERSION_1, 32n);
  t.is(vu.VIRTIO_F_RING_RESET, 40n);
  // What the Rust virtiofsd offers (FACTS.md): VERSION_1, PROTOCOL_FEATURES, EVENT_IDX, INDIRECT_DESC, LOG_ALL.
  const offered = [vu.VIRTIO_F_VERSION_1, vu.VHOST_USER_F_PROTOCOL_FEATURES, vu.VIRTIO_RING_F_EVENT_IDX, vu.VIRTIO_RING_F_INDIRECT_DESC, vu.VHOST_F_LOG_ALL].reduce(
    (m, bit) => m | vu.featureBit(bit),
    0n,
  );
  t.is(offered, 0x174000000n);
  t.true(vu.hasFeature(offered, vu.VIRTIO_RING_F_EVENT_IDX));
  t.false(vu.hasFeature(offered, vu.VIRTIO_F_RING_PACKED));
});

test('names: spec names for known numbers, UNKNOWN(n) otherwise', (t) => {
  t.is(vu.frontendReqName(1), 'VHOST_USER_GET_FEATURES');
  t.is(vu.frontendReqName(21), 'VHOST_USER_SET_BACKEND_REQ_FD');
  t.is(vu.frontendReqName(0), 'VHOST_USER_UNKNOWN(0)');
  t.is(vu.frontendReqName(999), 'VHOST_USER_UNKNOWN(999)');
  t.is(vu.backendReqName(3), 'VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG');
  t.is(vu.protocolFeatureName(13), 'VHOST_USER_PROTOCOL_F_RESET_DEVICE');
  t.true(vu.isFrontendReq(44));
  t.false(vu.isFrontendReq(45));
  t.false(vu.isFrontendReq(0));
  t.true(vu.isBackendReq(10));
  t.false(vu.isBackendReq(11));
});

// ---- header ----------------------------------------------------------------------------------

test('decodeHeader: fields, REPLY and NEED_REPLY bits', (t) => {
  const h = vu.decodeHeader(b.message(R.SET_VRING_ENABLE, 0x1 | 0x8, b.vringState(0, 1)));
  t.deepEqual(h, { request: 18, flags: 9, size: 8 });
  t.true(vu.needsReply(h.flags));
  t.false(vu.isReply(h.flags));
  t.true(vu.isReply(vu.decodeHeader(b.message(R.GET_FEATURES, 0x5, b.u64(1))).flags));
});

test('decodeHeader: short, wrong version, reserved flags, oversize', (t) => {
  code(t, () => vu.decodeHeader(new Uint8Array(11)), 'VHOST_USER_SHORT_HEADER');
  for (const version of [0, 2, 3]) code(t, () => vu.decodeHeader(b.message(1, version)), 'VHOST_USER_BAD_VERSION');
  for (const bit of [4, 5, 16, 31]) code(t, () => vu.decodeHeader(b.message(1, 0x1 | (1 << bit) >>> 0)), 'VHOST_USER_RESERVED_FLAGS');
  code(t, () => vu.decodeHeader(b.message(1, 1, new Uint8Array(0), vu.VHOST_USER_MAX_PAYLOAD_SIZE + 1)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeHeader(b.message(1, 1, new Uint8Array(0), 0xffffffff)), 'VHOST_USER_BAD_SIZE');
  t.is(vu.decodeHeader(b.message(1, 1, new Uint8Array(0), vu.VHOST_USER_MAX_PAYLOAD_SIZE)).size, vu.VHOST_USER_MAX_PAYLOAD_SIZE);
});

test('encodeHeader / encodeMessage produce the builder bytes', (t) => {
  t.deepEqual(vu.encodeHeader({ request: 5, flags: 1, size: 40 }), b.message(5, 1, new Uint8Array(0), 40));
  const flags = vu.headerFlags({ needReply: true });
  t.is(flags, 0x9);
  t.is(vu.headerFlags({ reply: true }), 0x5);
  t.deepEqual(vu.encodeMessage(R.SET_FEATURES, flags, vu.encodeU64(0x100000000n)), b.message(2, 9, b.u64(0x100000000n)));
  code(t, () => vu.encodeMessage(1, 1, new Uint8Array(vu.VHOST_USER_MAX_PAYLOAD_SIZE + 1)), 'VHOST_USER_BAD_SIZE');
});

test('splitMessage: input split at every position (start, inside header, inside payload, end)', (t) => {
  const first = b.message(R.SET_VRING_ADDR, 1, b.vringAddr(1, 0, 0x1000n, 0x2000n, 0x3000n, 0n));
  const second = b.message(R.GET_FEATURES, 1);
  const stream = new Uint8Array([...first, ...second]);
  for (let cut = 0; cut <= stream.byteLength; cut++) {
    const r = vu.splitMessage(stream.subarray(0, cut));
    if (cut < 12) t.deepEqual(r, { complete: false, need: 12 }, `cut ${cut}`);
    else if (cut < first.byteLength) t.deepEqual(r, { complete: false, need: first.byteLength }, `cut ${cut}`);
    else {
      if (!r.complete) return t.fail(`cut ${cut} incomplete`);
      t.is(r.consumed, first.byteLength);
      t.is(r.header.request, R.SET_VRING_ADDR);
      t.is(vu.decodeVringAddr(r.payload).availUserAddr, 0x3000n);
      const rest = vu.splitMessage(stream.subarray(r.consumed, cut));
      t.is(rest.complete, cut === stream.byteLength, `rest at cut ${cut}`);
    }
  }
});

test('splitMessage: a bad header is refused as soon as its 12 bytes are in', (t) => {
  const bad = b.message(1, 1, new Uint8Array(0), 0x7fffffff);
  t.deepEqual(vu.splitMessage(bad.subarray(0, 11)), { complete: false, need: 12 });
  code(t, () => vu.splitMessage(bad.subarray(0, 12)), 'VHOST_USER_BAD_SIZE');
});

// ---- payloads: round trips -------------------------------------------------------------------

test('u64 and vring fd payload', (t) => {
  t.is(vu.decodeU64(b.u64(0xffff_ffff_ffff_ffffn)), 0xffff_ffff_ffff_ffffn);
  t.deepEqual(vu.encodeU64(0x174000000n), b.u64(0x174000000n));
  t.deepEqual(vu.decodeVringFdPayload(b.u64(0x101)), { index: 1, noFd: true });
  t.deepEqual(vu.decodeVringFdPayload(b.u64(0xff)), { index: 255, noFd: false });
  t.deepEqual(vu.encodeVringFdPayload({ index: 3, noFd: true }), b.u64(0x103));
  code(t, () => vu.decodeVringFdPayload(b.u64(0x200)), 'VHOST_USER_RESERVED_BITS');
  code(t, () => vu.decodeVringFdPayload(b.u64(1n << 63n)), 'VHOST_USER_RESERVED_BITS');
  t.throws(() => vu.encodeVringFdPayload({ index: 256, noFd: false }), { instanceOf: RangeError });
});

test('vring state, split and packed vring base', (t) => {
  t.deepEqual(vu.decodeVringState(b.vringState(1, 1024)), { index: 1, num: 1024 });
  t.deepEqual(vu.encodeVringState({ index: 7, num: 0xffffffff }), b.vringState(7, 0xffffffff));
  t.is(vu.decodeSplitVringBase(0xffff), 0xffff);
  code(t, () => vu.decodeSplitVringBase(0x10000), 'VHOST_USER_RESERVED_BITS');
  const packed = { availIdx: 0x1234, availWrap: true, usedIdx: 0x7fff, usedWrap: true };
  const num = vu.encodePackedVringBase(packed);
  t.is(num, 0xffff9234);
  t.deepEqual(vu.decodePackedVringBase(num), packed);
  t.deepEqual(vu.decodePackedVringBase(5), { availIdx: 5, availWrap: false, usedIdx: 0, usedWrap: false });
});

test('vring address', (t) => {
  const bytes = b.vringAddr(2, vu.VHOST_VRING_F_LOG, 0x7f00_0000_1000n, 0x7f00_0000_3000n, 0x7f00_0000_2000n, 0x3000n);
  const a = vu.decodeVringAddr(bytes);
  t.deepEqual(a, { index: 2, flags: 1, descUserAddr: 0x7f00_0000_1000n, usedUserAddr: 0x7f00_0000_3000n, availUserAddr: 0x7f00_0000_2000n, logGuestAddr: 0x3000n });
  t.deepEqual(vu.encodeVringAddr(a), bytes);
  code(t, () => vu.decodeVringAddr(b.vringAddr(0, 2, 0n, 0n, 0n, 0n)), 'VHOST_USER_BAD_FLAGS');
});

test('memory table: 0, 1 and 8 regions; too many; inconsistent count; bad regions', (t) => {
  t.deepEqual(vu.decodeMemoryTable(b.memTable([])), []);
  t.deepEqual(vu.decodeMemoryTable(b.memTable([REG])), [REG_DECODED]);
  const eight = Array.from({ length: 8 }, (_, i) => ({ ...REG, gpa: BigInt(i) << 32n }));
  const dec = vu.decodeMemoryTable(b.memTable(eight));
  t.is(dec.length, 8);
  t.is(dec[7]?.guestPhysAddr, 7n << 32n);
  t.deepEqual(vu.encodeMemoryTable(dec), b.memTable(eight));
  code(t, () => vu.decodeMemoryTable(b.memTable([...eight, REG])), 'VHOST_USER_TOO_MANY_REGIONS');
  code(t, () => vu.decodeMemoryTable(b.memTable([REG], 2)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeMemoryTable(b.memTable([REG, REG], 1)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeMemoryTable(new Uint8Array(7)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeMemoryTable(b.memTable([{ ...REG, size: 0n }])), 'VHOST_USER_BAD_REGION');
  code(t, () => vu.decodeMemoryTable(b.memTable([{ ...REG, gpa: 0xffff_ffff_ffff_f000n }])), 'VHOST_USER_BAD_REGION');
  code(t, () => vu.decodeMemoryTable(b.memTable([{ ...REG, uaddr: 0xffff_ffff_ffff_f000n }])), 'VHOST_USER_BAD_REGION');
  code(t, () => vu.decodeMemoryTable(b.memTable([{ ...REG, offset: 0xffff_ffff_ffff_f000n }])), 'VHOST_USER_BAD_REGION');
});

test('single memory region (ADD/REM_MEM_REG), plain and XEN_MMAP layout', (t) => {
  t.deepEqual(vu.decodeSingleMemoryRegion(b.memReg(REG)), REG_DECODED);
  t.deepEqual(vu.encodeSingleMemoryRegion(REG_DECODED), b.memReg(REG));
  const xen = b.fields([['pad', 8], ...b.region(REG), ['u32', 0x101], ['u32', 7]]);
  t.deepEqual(vu.decodeSingleMemoryRegion(xen, { xenMmap: true }), { ...REG_DECODED, xenMmapFlags: 0x101, domid: 7 });
  t.deepEqual(vu.encodeSingleMemoryRegion({ ...REG_DECODED, xenMmapFlags: 0x101, domid: 7 }, { xenMmap: true }), xen);
  code(t, () => vu.decodeSingleMemoryRegion(xen), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeSingleMemoryRegion(b.memReg({ ...REG, size: 0n })), 'VHOST_USER_BAD_REGION');
});

test('log, IOTLB, config, vring area, inflight', (t) => {
  t.deepEqual(vu.decodeLog(b.log(0x1000n, 0x2000n)), { mmapSize: 0x1000n, mmapOffset: 0x2000n });
  t.deepEqual(vu.encodeLog({ mmapSize: 0x1000n, mmapOffset: 0x2000n }), b.log(0x1000n, 0x2000n));
  code(t, () => vu.decodeLog(b.log(0n, 0n)), 'VHOST_USER_BAD_LOG');
  code(t, () => vu.decodeLog(b.log(0x2000n, 0xffff_ffff_ffff_f000n)), 'VHOST_USER_BAD_LOG');

  const io = b.iotlb(0x1000n, 0x2000n, 0x7f00n, vu.VhostAccess.RW, vu.VhostIotlbType.UPDATE);
  t.deepEqual(vu.decodeIotlb(io), { iova: 0x1000n, size: 0x2000n, userAddr: 0x7f00n, perm: 3, type: 2 });
  t.deepEqual(vu.encodeIotlb({ iova: 0x1000n, size: 0x2000n, userAddr: 0x7f00n, perm: 3, type: 2 }), io);
  code(t, () => vu.decodeIotlb(b.iotlb(0n, 0n, 0n, 4, 2)), 'VHOST_USER_BAD_IOTLB');
  code(t, () => vu.decodeIotlb(b.iotlb(0n, 0n, 0n, 1, 0)), 'VHOST_USER_BAD_IOTLB');
  code(t, () => vu.decodeIotlb(b.iotlb(0n, 0n, 0n, 1, 5)), 'VHOST_USER_BAD_IOTLB');

  const data = Uint8Array.from({ length: 44 }, (_, i) => i);
  const cfg = b.config(0, vu.VHOST_SET_CONFIG_TYPE_MIGRATION, data);
  const c = vu.decodeConfig(cfg);
  t.is(c.offset, 0);
  t.is(c.flags, 1);
  t.deepEqual([...c.data], [...data]);
  t.deepEqual(vu.encodeConfig(c), cfg);
  t.is(vu.decodeConfig(b.config(0, 0, new Uint8Array(0))).data.byteLength, 0);
  t.is(vu.decodeConfig(b.config(0, 0, new Uint8Array(256))).data.byteLength, 256);
  code(t, () => vu.decodeConfig(b.config(0, 0, new Uint8Array(257))), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeConfig(b.config(0, 0, data, 45)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeConfig(b.config(0, 0, data, 43)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeConfig(new Uint8Array(11)), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.decodeConfig(b.config(0, 2, data)), 'VHOST_USER_BAD_CONFIG');
  code(t, () => vu.decodeConfig(b.config(0xffffffff, 0, data)), 'VHOST_USER_BAD_CONFIG');

  t.deepEqual(vu.decodeVringArea(b.vringArea(0x102, 0x1000n, 0x3000n)), { index: 2, noFd: true, size: 0x1000n, offset: 0x3000n });
  t.deepEqual(vu.encodeVringArea({ index: 2, noFd: false, size: 0x1000n, offset: 0x3000n }), b.vringArea(2, 0x1000n, 0x3000n));
  code(t, () => vu.decodeVringArea(b.vringArea(0x400, 0n, 0n)), 'VHOST_USER_RESERVED_BITS');

  t.deepEqual(vu.decodeInflight(b.inflight(0x4000n, 0n, 2, 1024)), { mmapSize: 0x4000n, mmapOffset: 0n, numQueues: 2, queueSize: 1024 });
  t.deepEqual(vu.encodeInflight({ mmapSize: 0x4000n, mmapOffset: 0n, numQueues: 2, queueSize: 1024 }), b.inflight(0x4000n, 0n, 2, 1024));
});

test('shared object, device state transfer and its reply, MMAP request, shmem config', (t) => {
  const uuid = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  t.deepEqual([...vu.decodeSharedObject(uuid)], [...uuid]);
  t.deepEqual(vu.encodeSharedObject(uuid), uuid);
  t.is(vu.uuidToString(uuid), 'a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf');

  t.deepEqual(vu.decodeDeviceStateTransfer(b.deviceState(1, 0)), { direction: vu.VhostTransferStateDirection.LOAD, phase: vu.VhostTransferStatePhase.STOPPED });
  t.deepEqual(vu.encodeDeviceStateTransfer({ direction: 0, phase: 0 }), b.deviceState(0, 0));
  code(t, () => vu.decodeDeviceStateTransfer(b.deviceState(2, 0)), 'VHOST_USER_BAD_TRANSFER_STATE');
  code(t, () => vu.decodeDeviceStateTransfer(b.deviceState(0, 1)), 'VHOST_USER_BAD_TRANSFER_STATE');
  t.deepEqual(vu.decodeDeviceStateReply(b.u64(0x100)), { error: 0, noFd: true });
  t.deepEqual(vu.decodeDeviceStateReply(b.u64(0)), { error: 0, noFd: false });
  t.deepEqual(vu.encodeDeviceStateReply({ error: 5, noFd: true }), b.u64(0x105));
  code(t, () => vu.decodeDeviceStateReply(b.u64(0x5)), 'VHOST_USER_BAD_TRANSFER_STATE');
  code(t, () => vu.decodeDeviceStateReply(b.u64(0x200)), 'VHOST_USER_RESERVED_BITS');

  const mm = b.mmapReq(3, 0x1000n, 0x2000n, 0x3000n, 1n);
  t.deepEqual(vu.decodeMmapRequest(mm), { shmid: 3, fdOffset: 0x1000n, shmOffset: 0x2000n, len: 0x3000n, flags: 1n });
  t.deepEqual(vu.encodeMmapRequest({ shmid: 3, fdOffset: 0x1000n, shmOffset: 0x2000n, len: 0x3000n, flags: 1n }), mm);
  code(t, () => vu.decodeMmapRequest(b.mmapReq(0, 0n, 0n, 0n, 0n)), 'VHOST_USER_BAD_MMAP');
  code(t, () => vu.decodeMmapRequest(b.mmapReq(0, 0n, 0n, 1n, 2n)), 'VHOST_USER_BAD_MMAP');
  code(t, () => vu.decodeMmapRequest(b.mmapReq(0, 0xffff_ffff_ffff_ffffn, 0n, 2n, 0n)), 'VHOST_USER_BAD_MMAP');

  const sc = vu.decodeShmemConfig(b.shmemConfig(2, [0x1000n, 0n, 0x2000n]));
  t.is(sc.numRegions, 2);
  t.is(sc.memorySizes.length, 256);
  t.is(sc.memorySizes[2], 0x2000n);
  t.deepEqual(vu.encodeShmemConfig({ numRegions: 2, memorySizes: [0x1000n, 0n, 0x2000n] }), b.shmemConfig(2, [0x1000n, 0n, 0x2000n]));
  code(t, () => vu.decodeShmemConfig(b.shmemConfig(257, [])), 'VHOST_USER_TOO_MANY_REGIONS');
});

test('every fixed-size decoder refuses one byte less, one byte more and nothing', (t) => {
  const cases: Array<[string, (u: Uint8Array) => unknown, number]> = [
    ['u64', vu.decodeU64, 8],
    ['vring fd', vu.decodeVringFdPayload, 8],
    ['vring state', vu.decodeVringState, 8],
    ['vring addr', vu.decodeVringAddr, 40],
    ['single region', (u) => vu.decodeSingleMemoryRegion(u), 40],
    ['single region xen', (u) => vu.decodeSingleMemoryRegion(u, { xenMmap: true }), 48],
    ['log', vu.decodeLog, 16],
    ['iotlb', vu.decodeIotlb, 32],
    ['vring area', vu.decodeVringArea, 24],
    ['inflight', vu.decodeInflight, 24],
    ['shared object', vu.decodeSharedObject, 16],
    ['device state', vu.decodeDeviceStateTransfer, 8],
    ['device state reply', vu.decodeDeviceStateReply, 8],
    ['mmap', vu.decodeMmapRequest, 40],
    ['shmem config', vu.decodeShmemConfig, 8 + 256 * 8],
  ];
  for (const [name, dec, size] of cases) {
    for (const len of [0, size - 1, size + 1]) {
      const err = t.throws(() => dec(new Uint8Array(len)), { instanceOf: ProtocolError }, `${name} len ${len}`);
      t.is(err?.code, 'VHOST_USER_BAD_SIZE', `${name} len ${len}`);
    }
  }
  // The codec size constants agree with the builder.
  t.is(vu.VHOST_USER_VRING_ADDR_SIZE, b.vringAddr(0, 0, 0n, 0n, 0n, 0n).byteLength);
  t.is(vu.VHOST_USER_IOTLB_SIZE, b.iotlb(0n, 0n, 0n, 0, 1).byteLength);
  t.is(vu.VHOST_USER_INFLIGHT_SIZE, b.inflight(0n, 0n, 0, 0).byteLength);
  t.is(vu.VHOST_USER_SHMEM_CONFIG_SIZE, b.shmemConfig(0, []).byteLength);
});

test('decoders read through a subarray view at a non-zero offset', (t) => {
  const msg = b.message(R.SET_VRING_ADDR, 1, b.vringAddr(1, 0, 0x10n, 0x20n, 0x30n, 0x40n));
  const framed = vu.splitMessage(new Uint8Array([0xee, ...msg]).subarray(1));
  if (!framed.complete) return t.fail();
  t.is(vu.decodeVringAddr(framed.payload).logGuestAddr, 0x40n);
});

// ---- request table ---------------------------------------------------------------------------

test('expectedPayload: every FrontendReq has an entry; unknown numbers refused', (t) => {
  const nums = Object.values(R).filter((v): v is number => typeof v === 'number');
  t.is(nums.length, 44);
  for (const n of nums) {
    const s = vu.expectedPayload(n);
    t.is(s.request, n);
    t.true(s.size.min <= s.size.max && s.size.max <= vu.VHOST_USER_MAX_PAYLOAD_SIZE, s.name);
    t.true(s.fds.min <= s.fds.max && s.fds.max <= vu.VHOST_USER_MAX_FDS, s.name);
  }
  code(t, () => vu.expectedPayload(0), 'VHOST_USER_UNKNOWN_REQUEST');
  code(t, () => vu.expectedPayload(45), 'VHOST_USER_UNKNOWN_REQUEST');
  code(t, () => vu.expectedBackendPayload(11), 'VHOST_USER_UNKNOWN_REQUEST');
  t.is(vu.expectedBackendPayload(vu.BackendReq.SHMEM_MAP).fds.min, 1);
});

test('expectedPayload: sizes and fds of the messages QEMU sends a vhost-user-fs back-end', (t) => {
  const shape = (r: R): [string, number, number, number, number] => {
    const s = vu.expectedPayload(r);
    return [s.payload, s.size.min, s.size.max, s.fds.min, s.fds.max];
  };
  t.deepEqual(shape(R.GET_FEATURES), ['none', 0, 0, 0, 0]);
  t.deepEqual(shape(R.SET_FEATURES), ['u64', 8, 8, 0, 0]);
  t.deepEqual(shape(R.SET_MEM_TABLE), ['memory-table', 8, 8 + 8 * 40, 0, 8]);
  t.deepEqual(shape(R.ADD_MEM_REG), ['mem-region', 40, 48, 1, 1]);
  t.deepEqual(shape(R.REM_MEM_REG), ['mem-region', 40, 48, 0, 1]);
  t.deepEqual(shape(R.SET_VRING_ADDR), ['vring-addr', 40, 40, 0, 0]);
  t.deepEqual(shape(R.SET_VRING_KICK), ['u64', 8, 8, 0, 1]);
  t.deepEqual(shape(R.SET_BACKEND_REQ_FD), ['none', 0, 0, 1, 1]);
  t.deepEqual(shape(R.SET_LOG_BASE), ['log', 16, 16, 1, 1]);
  t.deepEqual(shape(R.SET_DEVICE_STATE_FD), ['device-state', 8, 8, 1, 1]);
  t.deepEqual(shape(R.GET_CONFIG), ['config', 12, 268, 0, 0]);
  t.is(vu.expectedPayload(R.GET_VRING_BASE).reply?.payload, 'vring-state');
  t.is(vu.expectedPayload(R.SET_DEVICE_STATE_FD).reply?.fds.max, 1);
  t.is(vu.expectedPayload(R.GET_INFLIGHT_FD).reply?.fds.min, 1);
  t.is(vu.expectedPayload(R.ADD_MEM_REG).feature, PF.CONFIGURE_MEM_SLOTS);
  t.is(vu.expectedPayload(R.SET_OWNER).feature, undefined);
});

test('hasReplyByDefinition: GET_* always, SET_LOG_BASE only with LOG_SHMFD, SET_* never', (t) => {
  for (const r of [R.GET_FEATURES, R.GET_PROTOCOL_FEATURES, R.GET_VRING_BASE, R.GET_QUEUE_NUM, R.GET_MAX_MEM_SLOTS, R.GET_CONFIG, R.CHECK_DEVICE_STATE, R.SET_DEVICE_STATE_FD, R.IOTLB_MSG, R.GET_STATUS]) {
    t.true(vu.hasReplyByDefinition(r, 0n), vu.frontendReqName(r));
  }
  for (const r of [R.SET_FEATURES, R.SET_OWNER, R.SET_MEM_TABLE, R.ADD_MEM_REG, R.SET_VRING_ENABLE, R.SET_BACKEND_REQ_FD, R.RESET_DEVICE, R.SET_VRING_KICK]) {
    t.false(vu.hasReplyByDefinition(r, ~0n & 0xfffffn), vu.frontendReqName(r));
  }
  t.false(vu.hasReplyByDefinition(R.SET_LOG_BASE, 0n));
  t.true(vu.hasReplyByDefinition(R.SET_LOG_BASE, vu.featureBit(PF.LOG_SHMFD)));
  t.false(vu.hasReplyByDefinition(R.GET_INFLIGHT_FD, 0n));
  t.true(vu.hasReplyByDefinition(R.GET_INFLIGHT_FD, vu.featureBit(PF.INFLIGHT_SHMFD)));
});

test('checkRequest / fd-count helpers: sizes and fd counts that do not match', (t) => {
  t.is(vu.checkRequest(R.ADD_MEM_REG, 40, 1).name, 'VHOST_USER_ADD_MEM_REG');
  code(t, () => vu.checkRequest(R.ADD_MEM_REG, 40, 0), 'VHOST_USER_BAD_FD_COUNT');
  code(t, () => vu.checkRequest(R.ADD_MEM_REG, 40, 2), 'VHOST_USER_BAD_FD_COUNT');
  code(t, () => vu.checkRequest(R.ADD_MEM_REG, 32, 1), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.checkRequest(R.SET_FEATURES, 0, 0), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.checkRequest(R.SET_FEATURES, 8, 1), 'VHOST_USER_BAD_FD_COUNT');
  code(t, () => vu.checkRequest(R.GET_FEATURES, 8, 0), 'VHOST_USER_BAD_SIZE');
  code(t, () => vu.checkRequest(R.SET_MEM_TABLE, 8, 9), 'VHOST_USER_BAD_FD_COUNT');
  code(t, () => vu.checkRequest(99, 0, 0), 'VHOST_USER_UNKNOWN_REQUEST');
  t.notThrows(() => vu.checkVringFdCount(true, 0, 'kick'));
  t.notThrows(() => vu.checkVringFdCount(false, 1, 'kick'));
  code(t, () => vu.checkVringFdCount(true, 1, 'kick'), 'VHOST_USER_BAD_FD_COUNT');
  code(t, () => vu.checkVringFdCount(false, 0, 'kick'), 'VHOST_USER_BAD_FD_COUNT');
  t.notThrows(() => vu.checkMemTableFdCount(2, 2));
  code(t, () => vu.checkMemTableFdCount(2, 1), 'VHOST_USER_BAD_FD_COUNT');
});
