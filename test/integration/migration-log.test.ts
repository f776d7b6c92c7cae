/**
 * Dirty logging through the real back-end: after SET_LOG_BASE and SET_FEATURES with
 * VHOST_F_LOG_ALL, the log marks exactly the pages the back-end wrote (the written part of each
 * reply buffer and the used-ring fields it updated), nothing while logging is off, and again
 * after logging is turned off and on (a second migration).
 */
import test from 'ava';
import * as native from '../../src/native/index.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FrontendReq, encodeLog, encodeU64 } from '../../protocol/vhost-user.js';
import { EchoDevice, startTestDaemon } from '../helpers/daemon.js';

const PAGE = 4096;
const WRITE = 2;
const NEXT = 1;

function pages(gpa: number, len: number): number[] {
  const out: number[] = [];
  for (let p = Math.floor(gpa / PAGE); p <= Math.floor((gpa + len - 1) / PAGE); p++) out.push(p);
  return out;
}

test('the dirty log marks exactly the pages the back-end wrote, only while LOG_ALL is on', async (t) => {
  const d = startTestDaemon(new EchoDevice(2));
  const fe = await VhostUserFrontend.connect({ socketPath: d.socketPath, queues: 2, eventIdx: true, memory: { regions: 1, regionSize: 16 << 20 }, watchdogMs: 0 });
  const region = fe.memory.describe(0);
  const gpaBase = Number(region.guestPhysAddr);
  // One bit per 4 KiB page of guest physical memory from 0 to the end of the region.
  const logSize = Math.ceil((gpaBase + Number(region.memorySize)) / PAGE / 8);
  const logFd = native.memfdCreate('dirty-log', 0);
  native.ftruncate(logFd, logSize);
  const log = new Uint8Array(native.mmap(logFd, logSize, 0, true));
  const dirty = (): number[] => {
    const out: number[] = [];
    log.forEach((b, i) => {
      for (let k = 0; k < 8; k++) if (b & (1 << k)) out.push(i * 8 + k);
    });
    return out;
  };
  await fe.call(FrontendReq.SET_LOG_BASE, encodeLog({ mmapSize: BigInt(logSize), mmapOffset: 0n }), [logFd]);
  native.close(logFd);

  const q = fe.queues[1]!;
  // Raw descriptors below: the driver must not harvest used entries it did not make.
  q.stop();
  const size = q.size;
  const input = fe.memory.alloc(64, 8);
  fe.memory.write(input, Buffer.from('0123456789abcdef'));
  let head = 0;
  // A reply buffer straddling a page boundary, at a known GPA.
  const out = fe.memory.alloc(3 * PAGE, PAGE) + PAGE - 8;
  const usedBefore = () => new DataView(fe.memory.read(q.usedGpa + 2, 2).buffer).getUint16(0, true);
  const round = async (): Promise<{ slot: number }> => {
    const idx = usedBefore();
    const slot = idx % size;
    q.writeDescriptor(head, input, 16, NEXT, head + 1);
    q.writeDescriptor(head + 1, out, 64, WRITE, 0);
    q.publishRaw(head);
    const end = Date.now() + 5000;
    while (usedBefore() === idx) {
      if (Date.now() > end) { const v = d.backend().vrings[1]!; throw new Error(`no used entry: started=${v.started} enabled=${v.enabled} broken=${v.broken} paused=${v.paused} inflight=${v.inflight} lastAvail=${v.queue?.lastAvail} availIdx=${v.queue?.availIdx()} logMarked=${d.backend().dirtyLog?.marked}`); }
      await new Promise((r) => setTimeout(r, 2));
    }
    head += 2;
    return { slot };
  };

  await round();
  t.deepEqual(dirty(), [], 'nothing is logged before LOG_ALL');

  const features = fe.ackedFeatures | (1n << 26n);
  await fe.send(FrontendReq.SET_FEATURES, encodeU64(features), [], { needReply: true });
  const { slot } = await round();
  const expected = new Set([
    ...pages(out, 17), // 16 echoed bytes + the queue byte
    ...pages(q.usedGpa + 4 + 8 * slot, 8), // the used element
    ...pages(q.usedGpa + 2, 2), // used.idx
    ...pages(q.usedGpa + 4 + 8 * size, 2), // avail_event (EVENT_IDX)
  ]);
  t.deepEqual(dirty(), [...expected].sort((a, b) => a - b));

  // Logging off: nothing new; the front-end clears the log as QEMU does.
  log.fill(0);
  await fe.send(FrontendReq.SET_FEATURES, encodeU64(fe.ackedFeatures), [], { needReply: true });
  await round();
  t.deepEqual(dirty(), []);
  // And on again (a second migration).
  await fe.send(FrontendReq.SET_FEATURES, encodeU64(features), [], { needReply: true });
  await round();
  t.true(dirty().includes(Math.floor(out / PAGE)) && dirty().includes(Math.floor((out + 16) / PAGE)));
  native.munmap(log.buffer as ArrayBuffer);
  fe.close();
  await d.stop();
});
