/** The live-upgrade frame format and state validation (protocol/upgrade.ts). */
import test from 'ava';
import { UPGRADE_HDR_SIZE, UPGRADE_MAGIC, UpgradeMsg, decodeFrameHeader, encodeFrame, validateLiveState } from '../../protocol/upgrade.js';

const good = {
  version: 1, fdCount: 3, listener: 0, connection: 1, backendReq: null, features: '5100273664', protocolFeatures: '123', status: 15, owner: true,
  memory: [{ guestPhysAddr: 0, memorySize: 4096, userspaceAddr: 1 << 20, mmapOffset: 0, fd: 2 }], dirtyLog: null,
  vrings: [{ index: 0, size: 1024, addrs: { desc: 0, avail: 16384, used: 20480 }, base: 7, enabled: true, started: true, kick: null, call: null, err: null }],
  device: null,
};

test('frames round-trip; the header is checked', (t) => {
  const f = encodeFrame(UpgradeMsg.HELLO, { maxVersion: 1 });
  const h = decodeFrameHeader(f);
  t.is(h.type, UpgradeMsg.HELLO);
  t.is(h.length, f.length - UPGRADE_HDR_SIZE);
  const bad = f.slice();
  bad[0] = bad[0]! ^ 1;
  t.is((t.throws(() => decodeFrameHeader(bad)) as { code?: string }).code, 'UPGRADE_BAD_MAGIC');
  const dv = new DataView(bad.buffer);
  dv.setUint32(0, UPGRADE_MAGIC, true);
  dv.setUint32(4, 99, true);
  t.is((t.throws(() => decodeFrameHeader(bad)) as { code?: string }).code, 'UPGRADE_BAD_TYPE');
  t.is((t.throws(() => decodeFrameHeader(f.subarray(0, 5))) as { code?: string }).code, 'UPGRADE_SHORT_HEADER');
});

test('validateLiveState accepts a good state, refuses a newer version and malformed fields', (t) => {
  t.notThrows(() => validateLiveState(good));
  t.is((t.throws(() => validateLiveState({ ...good, version: 2 })) as { code?: string }).code, 'UPGRADE_UNSUPPORTED_VERSION');
  for (const bad of [
    { ...good, connection: 3 },
    { ...good, features: 'x' },
    { ...good, memory: [{ ...good.memory[0], fd: -1 }] },
    { ...good, vrings: [{ ...good.vrings[0], base: 70000 }] },
    { ...good, vrings: [{ ...good.vrings[0], addrs: { desc: -1, avail: 0, used: 0 } }] },
    { ...good, dirtyLog: { fd: 9, size: 1, offset: 0 } },
    null,
  ]) {
    t.is((t.throws(() => validateLiveState(bad)) as { code?: string }).code, 'UPGRADE_BAD_STATE', JSON.stringify(bad));
  }
});
