/**
 * The front-end (src/frontend) against a scripted fake back-end on the other end of a socketpair.
 * The fake back-end is written with raw syscalls and the independent byte builder, never with
 * the front-end's own codecs, so it checks what the front-end really puts on the wire: the QEMU 10
 * sequence, fd counts, addresses, replies split across reads, NACKs, disconnects, and the ring
 * itself (the fake device maps the memfd it was given and serves one request by hand).
 */
import test from 'ava';
import * as n from '../../src/native/index.js';
import { VhostUserConnection } from '../../src/frontend/connection.js';
import { VhostUserFrontend } from '../../src/frontend/device.js';
import { FrontendGuestMemory } from '../../src/frontend/guest-memory.js';
import * as b from '../helpers/builders/vhost-user.js';

interface Msg {
  request: number;
  flags: number;
  payload: Uint8Array;
  fds: number[];
}

/** The back-end side: reads whole messages with recvmsg, answers with builder bytes. */
class FakeBackend {
  private buf = new Uint8Array(0);
  /** Absolute stream position of buf[0]. */
  private pos = 0;
  /** fds with the absolute end of the read that brought them (they belong to the last message starting in that read). */
  private fds: Array<{ end: number; fds: number[] }> = [];
  private waiters: Array<() => void> = [];
  private poll: n.PollHandle;
  eof = false;

  constructor(readonly fd: number) {
    n.setNonblock(fd);
    this.poll = n.pollStart(fd, n.POLL_READABLE, () => this.drain());
  }

  private drain(): void {
    const chunk = new Uint8Array(65536);
    for (;;) {
      let r: n.RecvResult;
      try {
        r = n.recvmsg(this.fd, chunk, 16);
      } catch {
        break;
      }
      if (r.bytes === 0) {
        this.eof = true;
        n.pollStop(this.poll);
        break;
      }
      const next = new Uint8Array(this.buf.byteLength + r.bytes);
      next.set(this.buf);
      next.set(chunk.subarray(0, r.bytes), this.buf.byteLength);
      this.buf = next;
      if (r.fds.length > 0) this.fds.push({ end: this.pos + this.buf.byteLength, fds: r.fds });
    }
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** The next message, with the fds that came with it. */
  async next(): Promise<Msg> {
    for (;;) {
      if (this.buf.byteLength >= 12) {
        const d = new DataView(this.buf.buffer, this.buf.byteOffset);
        const size = d.getUint32(8, true);
        if (this.buf.byteLength >= 12 + size) {
          const end = this.pos + 12 + size;
          const fds: number[] = [];
          while (this.fds.length > 0 && this.fds[0]!.end <= end) fds.push(...this.fds.shift()!.fds);
          const m = { request: d.getUint32(0, true), flags: d.getUint32(4, true), payload: this.buf.slice(12, 12 + size), fds };
          this.buf = this.buf.slice(12 + size);
          this.pos = end;
          return m;
        }
      }
      if (this.eof) throw new Error('front-end closed');
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  send(bytes: Uint8Array, fds: number[] = []): void {
    n.sendmsg(this.fd, bytes, fds);
  }

  close(): void {
    if (!this.eof) n.pollStop(this.poll);
    n.closeQuietly(this.fd);
  }
}

const REPLY = 0x5;
const FEATURES = (1n << 32n) | (1n << 30n) | (1n << 29n) | (1n << 28n);
// MQ, REPLY_ACK, BACKEND_REQ, CONFIGURE_MEM_SLOTS
const PROTOCOL = (1n << 0n) | (1n << 3n) | (1n << 5n) | (1n << 15n);

/** Answer like a virtio-fs back-end until SET_VRING_ENABLE for `queues` queues; returns the log. */
async function serveHandshake(be: FakeBackend, queues: number, opts: { nackEnable?: boolean; splitReplies?: boolean } = {}): Promise<Msg[]> {
  const log: Msg[] = [];
  let enabled = 0;
  const reply = (bytes: Uint8Array): void => {
    if (!opts.splitReplies) return be.send(bytes);
    // One byte per write: the front-end must reassemble the header and payload.
    for (let i = 0; i < bytes.byteLength; i++) be.send(bytes.subarray(i, i + 1));
  };
  while (enabled < queues) {
    const m = await be.next();
    log.push(m);
    const u64 = (v: bigint): void => reply(b.message(m.request, REPLY, b.u64(v)));
    switch (m.request) {
      case 1:
        u64(FEATURES);
        continue;
      case 15:
        u64(PROTOCOL);
        continue;
      case 17:
        u64(BigInt(queues));
        continue;
      case 36:
        u64(509n);
        continue;
      case 18:
        if (new DataView(m.payload.buffer).getUint32(4, true) === 1) enabled++;
        if (m.flags & 0x8) u64(opts.nackEnable ? 1n : 0n);
        continue;
    }
    if (m.flags & 0x8) u64(0n);
  }
  return log;
}

test('the QEMU 10 sequence, fd counts and addresses, as a back-end sees them', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  const served = serveHandshake(be, 2);
  const dev = await VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), queues: 2, queueSize: 64, memory: { regions: 2, regionSize: 1 << 20 } });
  const log = await served;
  try {
    t.deepEqual(
      log.map((m) => [m.request, m.fds.length]),
      [
        [1, 0], [15, 0], [16, 0], [17, 0], [36, 0], [21, 1], [3, 0], [2, 0], [37, 1], [37, 1],
        [8, 0], [10, 0], [9, 0], [12, 1], [13, 1],
        [8, 0], [10, 0], [9, 0], [12, 1], [13, 1],
        [18, 0], [18, 0],
      ],
    );
    const setFeatures = new DataView(log[7]!.payload.buffer).getBigUint64(0, true);
    t.is(setFeatures, FEATURES, 'VERSION_1, PROTOCOL_FEATURES, EVENT_IDX, INDIRECT_DESC acknowledged');
    t.is(new DataView(log[2]!.payload.buffer).getBigUint64(0, true), PROTOCOL);
    t.is(log[5]!.flags, 0x9, 'SET_BACKEND_REQ_FD asks for a reply');
    // ADD_MEM_REG: padding, gpa, size, uaddr, mmap offset; the uaddr is not the GPA.
    const reg = new DataView(log[8]!.payload.buffer);
    t.is(log[8]!.payload.byteLength, 40);
    const gpa = reg.getBigUint64(8, true);
    const uaddr = reg.getBigUint64(24, true);
    t.is(gpa, 0x4000_0000n);
    t.is(reg.getBigUint64(16, true), 1n << 20n);
    t.not(uaddr, gpa);
    const reg2 = new DataView(log[9]!.payload.buffer);
    t.is(reg2.getBigUint64(8, true), gpa + (1n << 20n), 'regions are GPA-contiguous');
    t.not(reg2.getBigUint64(24, true), uaddr + (1n << 20n), 'but not contiguous in user addresses');
    // SET_VRING_ADDR carries user addresses inside region 0.
    const addr = new DataView(log[12]!.payload.buffer);
    const desc = addr.getBigUint64(8, true);
    t.true(desc >= uaddr && desc < uaddr + (1n << 20n));
    t.is(Number(desc - uaddr) % 16, 0);
    // The memfd the back-end got is the front-end's guest memory.
    const mapping = n.mmap(log[8]!.fds[0]!, 1 << 20, 0, true);
    dev.memory.write(0x4000_0000 + 4096, Uint8Array.of(1, 2, 3));
    t.deepEqual([...new Uint8Array(mapping, 4096, 3)], [1, 2, 3]);
    n.munmap(mapping);
  } finally {
    dev.close();
    for (const m of log) m.fds.forEach(n.closeQuietly);
    be.close();
  }
});

test('a request through the ring, served by hand by the fake device', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  const served = serveHandshake(be, 1);
  const dev = await VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), queues: 1, queueSize: 8, eventIdx: false, memory: { regions: 1, regionSize: 1 << 20 } });
  const log = await served;
  try {
    const region = new DataView(log.find((m) => m.request === 37)!.payload.buffer);
    const gpaBase = Number(region.getBigUint64(8, true));
    const uBase = region.getBigUint64(24, true);
    const memfd = log.find((m) => m.request === 37)!.fds[0]!;
    const map = n.mmap(memfd, 1 << 20, 0, true);
    const mem = new DataView(map);
    const ra = new DataView(log.find((m) => m.request === 9)!.payload.buffer);
    const off = (u: bigint): number => Number(u - uBase);
    const descOff = off(ra.getBigUint64(8, true));
    const usedOff = off(ra.getBigUint64(16, true));
    const availOff = off(ra.getBigUint64(24, true));
    const kick = log.find((m) => m.request === 12)!.fds[0]!;
    const call = log.find((m) => m.request === 13)!.fds[0]!;

    const pending = dev.request(0, [Uint8Array.of(10, 20), Uint8Array.of(30)], 5);
    // Wait for the kick, then walk the chain as a device would (GPAs translated by the table).
    await new Promise<void>((resolve) => {
      const h = n.pollStart(kick, n.POLL_READABLE, () => {
        n.pollStop(h);
        resolve();
      });
    });
    t.is(mem.getUint16(availOff + 2, true), 1, 'avail.idx published');
    const head = mem.getUint16(availOff + 4, true);
    const readable: number[] = [];
    let writeGpa = -1;
    let i = head;
    for (;;) {
      const d = descOff + 16 * i;
      const addr = Number(mem.getBigUint64(d, true)) - gpaBase;
      const len = mem.getUint32(d + 8, true);
      const flags = mem.getUint16(d + 12, true);
      if (flags & 2) writeGpa = addr;
      else readable.push(...new Uint8Array(map, addr, len));
      if (!(flags & 1)) break;
      i = mem.getUint16(d + 14, true);
    }
    t.deepEqual(readable, [10, 20, 30]);
    new Uint8Array(map, writeGpa, 3).set([7, 8, 9]);
    mem.setUint32(usedOff + 4, head, true);
    mem.setUint32(usedOff + 8, 3, true);
    mem.setUint16(usedOff + 2, 1, true);
    n.eventfdWrite(call, 1);
    const done = await pending;
    t.is(done.usedLen, 3);
    t.deepEqual([...done.data], [7, 8, 9]);
    n.munmap(map);
  } finally {
    dev.close();
    for (const m of log) m.fds.forEach(n.closeQuietly);
    be.close();
  }
});

test('replies written one byte at a time are reassembled', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  const served = serveHandshake(be, 1, { splitReplies: true });
  const dev = await VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), queues: 1, memory: { regionSize: 1 << 20 } });
  const log = await served;
  t.is(dev.maxMemSlots, 509);
  t.is(dev.offeredFeatures, FEATURES);
  dev.close();
  for (const m of log) m.fds.forEach(n.closeQuietly);
  be.close();
});

test('a NACK fails the handshake with VHOST_USER_NACK and releases everything', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  const served = serveHandshake(be, 1, { nackEnable: true });
  await t.throwsAsync(VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), queues: 1, memory: { regionSize: 1 << 20 } }), { code: 'VHOST_USER_NACK' } as never);
  (await served).forEach((m) => m.fds.forEach(n.closeQuietly));
  be.close();
});

test('the back-end hanging up mid-handshake fails it with VHOST_USER_DISCONNECTED', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  void be.next().then(() => be.close());
  await t.throwsAsync(VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), memory: { regionSize: 1 << 20 } }), { code: 'VHOST_USER_DISCONNECTED' } as never);
});

test('a reply for another request is VHOST_USER_BAD_REPLY', async (t) => {
  const [a, z] = n.socketpair(0);
  const be = new FakeBackend(z);
  void be.next().then(() => be.send(b.message(15, REPLY, b.u64(0))));
  await t.throwsAsync(VhostUserFrontend.connect({ connection: VhostUserConnection.fromFd(a), memory: { regionSize: 1 << 20 } }), { code: 'VHOST_USER_BAD_REPLY' } as never);
  be.close();
});

test('guest memory: allocations never cross a boundary unless asked, and are all returned', (t) => {
  const mem = FrontendGuestMemory.create({ regions: 2, regionSize: 64 * 1024 });
  try {
    const base = 0x4000_0000;
    const big = mem.alloc(60 * 1024);
    t.is(big, base);
    const span = mem.allocSpanning(1024, 100);
    t.is(span, base + 64 * 1024 - 100, 'spans the boundary with 100 bytes below it');
    const next = mem.alloc(8 * 1024);
    t.true(next >= base + 64 * 1024, 'does not straddle: goes to region 1');
    mem.write(span, Uint8Array.from({ length: 1024 }, (_, i) => i & 0xff));
    t.deepEqual([...mem.read(span + 98, 4)], [98, 99, 100, 101]);
    t.throws(() => mem.allocSpanning(1024, 100), { code: 'FRONTEND_NO_MEMORY' } as never);
    mem.release(span);
    mem.release(big);
    mem.release(next);
    t.is(mem.allocatedBytes, 0);
    t.is(mem.alloc(64 * 1024), base, 'freed space coalesced inside region 0');
    t.throws(() => mem.alloc(65 * 1024), { code: 'FRONTEND_NO_MEMORY' } as never);
    t.is(mem.gpaToUaddr(base + 64 * 1024) - mem.gpaToUaddr(base), 64n * 1024n + 0x100_0000n);
  } finally {
    mem.close();
  }
});
