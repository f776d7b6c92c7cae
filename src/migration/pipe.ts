/**
 * Moving device state through the fd QEMU passes with SET_DEVICE_STATE_FD (a pipe): write it all
 * and close (EOF ends the transfer), or read to EOF. Both run on libuv's pool, so a front-end that
 * reads slowly blocks a pool thread, never the event loop.
 */
import fs from 'node:fs';
import { promisify } from 'node:util';

const write = promisify(fs.write);
const read = promisify(fs.read);

/** Write all of `data` to `fd`, then close it. Takes ownership of fd. */
export async function writeAllAndClose(fd: number, data: Uint8Array): Promise<void> {
  try {
    let o = 0;
    while (o < data.length) o += (await write(fd, data, o, Math.min(1 << 20, data.length - o))).bytesWritten;
  } finally {
    fs.closeSync(fd);
  }
}

/** Read `fd` to EOF (at most `limit` bytes), then close it. Takes ownership of fd. */
export async function readAllAndClose(fd: number, limit: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(1 << 20);
      const n = (await read(fd, buf, 0, buf.length, null)).bytesRead;
      if (n === 0) break;
      total += n;
      if (total > limit) throw Object.assign(new Error(`device state larger than ${limit} bytes`), { code: 'STATE_TOO_LARGE' });
      chunks.push(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return Buffer.concat(chunks, total);
}
