/**
 * The syscall shim against the real kernel: every exported function, success and error path.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as n from '../../src/native/index.js';

function tmpSock(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-native-')), 's');
}

/** Resolve once fd is readable, via pollStart. */
function readable(fd: number, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      n.pollStop(h);
      reject(new Error('timeout waiting for readability'));
    }, timeoutMs);
    const h = n.pollStart(fd, n.POLL_READABLE, (status, events) => {
      clearTimeout(timer);
      n.pollStop(h);
      resolve(status < 0 ? status : events);
    });
  });
}

test('memfdCreate + ftruncate + mmap: writes through one mapping are seen through another', (t) => {
  const fd = n.memfdCreate('vfs-test', 0);
  n.ftruncate(fd, 2 * n.pageSize());
  const a = new Uint8Array(n.mmap(fd, 2 * n.pageSize(), 0, true));
  const b = new Uint8Array(n.mmap(fd, n.pageSize(), n.pageSize(), false));
  a[n.pageSize() + 7] = 0xab;
  t.is(b[7], 0xab);
  // the file itself sees it too
  const out = Buffer.alloc(1);
  fs.readSync(fd, out, 0, 1, n.pageSize() + 7);
  t.is(out[0], 0xab);
  n.munmap(a.buffer as ArrayBuffer);
  n.munmap(b.buffer as ArrayBuffer);
  n.close(fd);
});

test('munmap detaches the buffer, and a second munmap is EINVAL', (t) => {
  const fd = n.memfdCreate('vfs-test', 0);
  n.ftruncate(fd, n.pageSize());
  const ab = n.mmap(fd, n.pageSize(), 0, true);
  n.munmap(ab);
  t.is(ab.byteLength, 0);
  t.throws(() => n.munmap(ab), { code: 'EINVAL' });
  t.throws(() => n.munmap(new ArrayBuffer(8)), { code: 'EINVAL' });
  n.close(fd);
});

test('mmap error paths: bad fd, zero length, unaligned offset', (t) => {
  t.throws(() => n.mmap(-1, 4096, 0, true), { code: 'EBADF' });
  const fd = n.memfdCreate('vfs-test', 0);
  n.ftruncate(fd, n.pageSize());
  t.throws(() => n.mmap(fd, 0, 0, true), { code: 'EINVAL' });
  t.throws(() => n.mmap(fd, 4096, 1, true), { code: 'EINVAL' });
  t.throws(() => n.mmap(fd, 4096, 0, 'yes' as unknown as boolean), { code: 'ERR_INVALID_ARG' });
  n.close(fd);
});

test('mprotect: a PROT_NONE page cannot be mapped out of range; valid calls succeed', (t) => {
  const fd = n.memfdCreate('vfs-test', 0);
  n.ftruncate(fd, 2 * n.pageSize());
  const ab = n.mmap(fd, 2 * n.pageSize(), 0, true);
  n.mprotect(ab, n.pageSize(), n.pageSize(), n.PROT_NONE);
  n.mprotect(ab, n.pageSize(), n.pageSize(), n.PROT_READ_WRITE);
  t.throws(() => n.mprotect(ab, n.pageSize(), 2 * n.pageSize(), n.PROT_NONE), { code: 'EINVAL' });
  n.munmap(ab);
  n.close(fd);
});

test('atomicOr8 sets bits in a shared mapping, seen through the other mapping; bounds checked', (t) => {
  const fd = n.memfdCreate('vfs-log', 0);
  n.ftruncate(fd, n.pageSize());
  const a = n.mmap(fd, n.pageSize(), 0, true);
  const b = new Uint8Array(n.mmap(fd, n.pageSize(), 0, true));
  n.atomicOr8(a, 5, 0x81);
  n.atomicOr8(a, 5, 0x02);
  t.is(b[5], 0x83);
  t.throws(() => n.atomicOr8(a, n.pageSize(), 1), { code: 'EINVAL' });
  t.throws(() => n.atomicOr8(a, 0, 256), { code: 'EINVAL' });
  t.throws(() => n.atomicOr8(new Uint8Array(4) as unknown as ArrayBuffer, 0, 1), { code: 'ERR_INVALID_ARG' });
  n.munmap(a);
  n.munmap(b.buffer as ArrayBuffer);
  n.close(fd);
});

test('memfdCreate rejects bad flags and names with NUL', (t) => {
  t.throws(() => n.memfdCreate('x', 0x7fff0000), { code: 'EINVAL' });
  t.throws(() => n.memfdCreate('a\0b', 0), { code: 'ERR_INVALID_ARG' });
  t.throws(() => n.ftruncate(-1, 10), { code: 'EBADF' });
});

test('eventfd: write adds, read returns and resets; non-blocking read of zero is EAGAIN', (t) => {
  const fd = n.eventfd(0, n.EFD_NONBLOCK);
  n.eventfdWrite(fd, 3);
  n.eventfdWrite(fd, 4n);
  t.is(n.eventfdRead(fd), 7n);
  t.throws(() => n.eventfdRead(fd), { code: 'EAGAIN' });
  t.throws(() => n.eventfdWrite(fd, 0xffffffffffffffffn), { code: 'EINVAL' });
  n.close(fd);
  t.throws(() => n.eventfdRead(fd), { code: 'EBADF' });
  t.throws(() => n.eventfdWrite(fd, 1), { code: 'EBADF' });
  t.throws(() => n.eventfd(0, 0x40000000), { code: 'EINVAL' });
});

test('pollStart fires when an eventfd becomes readable, and pollStop is idempotent', async (t) => {
  const fd = n.eventfd(0, n.EFD_NONBLOCK);
  const p = readable(fd);
  setTimeout(() => n.eventfdWrite(fd, 1), 10);
  t.is(await p, n.POLL_READABLE);
  t.is(n.eventfdRead(fd), 1n);
  const h = n.pollStart(fd, n.POLL_READABLE, () => t.fail('must not fire after stop'));
  n.pollStop(h);
  n.pollStop(h);
  n.eventfdWrite(fd, 1);
  await new Promise((r) => setTimeout(r, 30));
  n.close(fd);
});

test('pollStart watches many fds at once; only the ready one fires', async (t) => {
  const fds = Array.from({ length: 32 }, () => n.eventfd(0, n.EFD_NONBLOCK));
  const fired: number[] = [];
  const handles = fds.map((fd) => n.pollStart(fd, n.POLL_READABLE, () => {
    fired.push(fd);
    n.eventfdRead(fd);
  }));
  n.eventfdWrite(fds[17]!, 1);
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(fired, [fds[17]]);
  handles.forEach((h) => n.pollStop(h));
  fds.forEach((fd) => n.close(fd));
});

test('pollStart error paths', (t) => {
  t.throws(() => n.pollStart(-1, 1, () => {}), { code: 'EBADF' });
  t.throws(() => n.pollStart(0, 1, 'nope' as unknown as () => void), { code: 'ERR_INVALID_ARG' });
  t.throws(() => n.pollStop({} as n.PollHandle), { code: 'ERR_INVALID_ARG' });
});

test('dup, setNonblock and close', (t) => {
  const fd = n.eventfd(0, 0);
  const d = n.dup(fd);
  t.not(d, fd);
  n.eventfdWrite(d, 5);
  t.is(n.eventfdRead(fd), 5n);
  n.close(fd);
  n.close(d);
  t.throws(() => n.close(d), { code: 'EBADF' });
  t.throws(() => n.dup(-1), { code: 'EBADF' });
  const blocking = n.eventfd(0, 0);
  n.setNonblock(blocking);
  t.throws(() => n.eventfdRead(blocking), { code: 'EAGAIN' });
  n.close(blocking);
  t.throws(() => n.setNonblock(-1), { code: 'EBADF' });
  n.closeQuietly(d);
});

test('socketpair + sendmsg/recvmsg pass a real fd (SCM_RIGHTS), and the received fd works', (t) => {
  const [a, b] = n.socketpair(n.SOCK_NONBLOCK);
  const efd = n.eventfd(0, n.EFD_NONBLOCK);
  const sent = n.sendmsg(a, Buffer.from('hello'), [efd]);
  t.is(sent, 5);
  const buf = Buffer.alloc(64);
  const r = n.recvmsg(b, buf, 8);
  t.is(r.bytes, 5);
  t.is(buf.subarray(0, 5).toString(), 'hello');
  t.is(r.fds.length, 1);
  t.false(r.truncated);
  const got = r.fds[0]!;
  t.not(got, efd);
  n.eventfdWrite(efd, 9);
  t.is(n.eventfdRead(got), 9n);
  t.throws(() => n.recvmsg(b, buf, 8), { code: 'EAGAIN' });
  [a, b, efd, got].forEach((fd) => n.close(fd));
});

test('recvmsg: fds beyond maxFds are reported truncated; EOF is 0 bytes; sendmsg to a closed peer is EPIPE', (t) => {
  const [a, b] = n.socketpair(n.SOCK_NONBLOCK);
  const e1 = n.eventfd(0, 0);
  const e2 = n.eventfd(0, 0);
  // CMSG_SPACE rounds up: room for one int holds two, so send three.
  n.sendmsg(a, Buffer.from('x'), [e1, e2, e1]);
  const r = n.recvmsg(b, Buffer.alloc(4), 1);
  t.true(r.truncated);
  r.fds.forEach((fd) => n.close(fd));
  n.close(a);
  t.is(n.recvmsg(b, Buffer.alloc(4), 0).bytes, 0);
  t.throws(() => n.sendmsg(b, Buffer.from('x'), []), { code: 'EPIPE' });
  t.throws(() => n.sendmsg(b, Buffer.from('x'), new Array(65).fill(e1)), { code: 'EINVAL' });
  t.throws(() => n.sendmsg(b, Buffer.from('x'), [-5]), { code: 'EBADF' });
  [b, e1, e2].forEach((fd) => n.close(fd));
});

test('socket/bind/listen/accept4/connect over a unix stream socket path', async (t) => {
  const p = tmpSock();
  const l = n.socket(n.SOCK_NONBLOCK);
  n.bind(l, p);
  n.listen(l, 4);
  t.throws(() => n.accept4(l, n.SOCK_NONBLOCK), { code: 'EAGAIN' });
  const c = n.socket(0);
  n.connect(c, p);
  t.is(await readable(l), n.POLL_READABLE);
  const s = n.accept4(l, n.SOCK_NONBLOCK);
  n.sendmsg(c, Buffer.from('ping'), []);
  const buf = Buffer.alloc(8);
  await readable(s);
  t.is(n.recvmsg(s, buf, 0).bytes, 4);
  n.shutdown(c, 1);
  await readable(s);
  t.is(n.recvmsg(s, buf, 0).bytes, 0);
  const l2 = n.socket(0);
  t.throws(() => n.bind(l2, p), { code: 'EADDRINUSE' });
  t.throws(() => n.connect(l2, p + '-missing'), { code: 'ENOENT' });
  t.throws(() => n.listen(-1, 1), { code: 'EBADF' });
  t.throws(() => n.accept4(-1, 0), { code: 'EBADF' });
  t.throws(() => n.shutdown(-1, 2), { code: 'EBADF' });
  t.throws(() => n.socket(0x7000), { code: 'EINVAL' });
  t.throws(() => n.socketpair(0x7000), { code: 'EINVAL' });
  t.throws(() => n.bind(l2, 'x'.repeat(200)), { code: 'ERR_INVALID_ARG' });
  [l, c, s, l2].forEach((fd) => n.close(fd));
});
