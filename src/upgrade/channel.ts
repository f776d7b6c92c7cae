/**
 * One hand-over connection: frames of protocol/upgrade.ts with fds, over a non-blocking unix stream
 * socket. Reads are sized to the frame (header, then body), so fds always belong to the frame whose
 * header they came with.
 */
import * as native from '../native/index.js';
import { MAX_FDS_PER_FRAME, UPGRADE_HDR_SIZE, UpgradeMsg, decodeFrameHeader, encodeFrame } from '../../protocol/upgrade.js';

export interface Frame {
  type: UpgradeMsg;
  body: unknown;
  fds: number[];
}

export class UpgradeChannel {
  private closed = false;

  /** Takes ownership of fd. */
  constructor(readonly fd: number) {
    native.setNonblock(fd);
  }

  send(type: UpgradeMsg, body: unknown, fds: number[] = []): void {
    if (fds.length > MAX_FDS_PER_FRAME) throw new Error(`at most ${MAX_FDS_PER_FRAME} fds per frame`);
    const bytes = encodeFrame(type, body);
    let o = 0;
    while (o < bytes.length) {
      try {
        o += native.sendmsg(this.fd, bytes.subarray(o), o === 0 ? fds : []);
      } catch (e) {
        if (!native.isErrno(e, 'EAGAIN')) throw e;
        // The peer reads slowly: a short synchronous wait is fine for the rare big STATE frame.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    }
  }

  /** Next frame; rejects on EOF, a bad frame or the timeout. */
  recv(timeoutMs: number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      let hdr: { type: UpgradeMsg; length: number } | undefined;
      let buf = new Uint8Array(UPGRADE_HDR_SIZE);
      let have = 0;
      const fds: number[] = [];
      const finish = (err: Error | undefined, f?: Frame) => {
        clearTimeout(timer);
        native.pollStop(poll);
        if (err !== undefined) {
          fds.forEach((fd) => native.closeQuietly(fd));
          reject(err);
        } else resolve(f!);
      };
      const step = (): void => {
        try {
          for (;;) {
            if (have < buf.length) {
              const r = native.recvmsg(this.fd, buf.subarray(have), MAX_FDS_PER_FRAME);
              fds.push(...r.fds);
              if (r.bytes === 0) return finish(Object.assign(new Error('the peer closed the hand-over connection'), { code: 'UPGRADE_EOF' }));
              have += r.bytes;
              continue;
            }
            if (hdr === undefined) {
              hdr = decodeFrameHeader(buf);
              buf = new Uint8Array(hdr.length);
              have = 0;
              continue;
            }
            const body: unknown = buf.length === 0 ? {} : JSON.parse(new TextDecoder().decode(buf));
            return finish(undefined, { type: hdr.type, body, fds: fds.splice(0) });
          }
        } catch (e) {
          if (native.isErrno(e, 'EAGAIN')) return;
          finish(e as Error);
        }
      };
      const timer = setTimeout(() => finish(Object.assign(new Error(`no hand-over frame within ${timeoutMs} ms`), { code: 'UPGRADE_TIMEOUT' })), timeoutMs);
      const poll = native.pollStart(this.fd, native.POLL_READABLE, step);
      step();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    native.closeQuietly(this.fd);
  }
}
