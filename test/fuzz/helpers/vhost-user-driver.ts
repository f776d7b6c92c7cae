/**
 * Plays a generated vhost-user case against a daemon over a real unix socket: real eventfds, memfds
 * (holding a ready ring) and sockets go with each message, bytes are cut into several writes when the
 * step says so, replies are read as they come and checked for well-formedness. Every fd this side
 * makes is closed before play() returns, so the process fd count measures the daemon alone.
 */
import * as native from '../../../src/native/index.js';
import { VhostUserConnection, type VhostUserMessage } from '../../../src/frontend/connection.js';
import * as B from '../../helpers/builders/fuse.js';
import * as b from '../../helpers/builders/vhost-user.js';
import { MEM, REQ, V1, ringOffset, type FdKind, type Step } from './vhost-user-gen.js';
import { waitFor } from './fuzz.js';

/** The request a ready ring holds: FUSE_INIT, so an echo device and a virtio-fs device both answer it. */
const RING_REQUEST = B.request(B.OP.INIT, B.initIn(7, 38, 0, 0), { unique: 99n });

/**
 * Write a split ring for queues 1 and 2 into `ab` (one region of MEM bytes at GPA 0): desc[0] the
 * request (readable), desc[1] 256 writable bytes, avail.idx 1 with head 0.
 */
function writeRingImage(ab: ArrayBuffer): void {
  const dv = new DataView(ab);
  const u8 = new Uint8Array(ab);
  for (const q of [1, 2]) {
    const r = ringOffset(q);
    u8.set(RING_REQUEST, r + 0x1000);
    const desc = (i: number, addr: number, len: number, flags: number, next: number) => {
      dv.setBigUint64(r + 16 * i, BigInt(addr), true);
      dv.setUint32(r + 16 * i + 8, len, true);
      dv.setUint16(r + 16 * i + 12, flags, true);
      dv.setUint16(r + 16 * i + 14, next, true);
    };
    desc(0, r + 0x1000, RING_REQUEST.byteLength, 1, 1);
    desc(1, r + 0x2000, 256, 2, 0);
    dv.setUint16(r + 0x100 + 2, 1, true); // avail.idx
    dv.setUint16(r + 0x100 + 4, 0, true); // avail.ring[0]
  }
}

/** Make one fd of `kind`; the caller closes it. */
function makeFd(kind: FdKind): number {
  switch (kind) {
    case 'eventfd':
      return native.eventfd(0, native.EFD_NONBLOCK);
    case 'memfd':
    case 'memfd-short': {
      const fd = native.memfdCreate('fuzz-guest', 0);
      try {
        native.ftruncate(fd, kind === 'memfd' ? MEM : 4096);
        if (kind === 'memfd') {
          const ab = native.mmap(fd, MEM, 0, true);
          writeRingImage(ab);
          native.munmap(ab);
        }
      } catch (e) {
        native.closeQuietly(fd);
        throw e;
      }
      return fd;
    }
    case 'socket': {
      const [a, c] = native.socketpair(0);
      native.closeQuietly(c);
      return a;
    }
  }
}

export interface PlayResult {
  replies: VhostUserMessage[];
  /** Why the reply reader stopped (undefined: still connected when we closed). */
  readerError?: Error;
  /** The daemon closed the connection before we did. */
  droppedByDaemon: boolean;
  /** Steps actually sent. */
  sent: number;
  /** No step broke the message framing (then every reply answers a request we sent). */
  inStep: boolean;
}

/**
 * Connect, send every step, then sync: when the stream is still in step, a final GET_FEATURES must
 * be answered (all earlier replies come first, in order) within `syncTimeoutMs`, or the case is a
 * hang; otherwise wait briefly for the daemon to drop us. Closes the connection and every fd made.
 */
export async function play(socketPath: string, steps: Step[], syncTimeoutMs = 5000): Promise<PlayResult> {
  const conn = await VhostUserConnection.connect(socketPath);
  const replies: VhostUserMessage[] = [];
  let readerError: Error | undefined;
  const reader = (async () => {
    for (;;) {
      const m = await conn.nextReply();
      m.fds.forEach(native.closeQuietly);
      replies.push(m);
    }
  })().catch((e: Error) => {
    readerError = e;
  });
  const kicks: number[] = [];
  let inStep = true;
  let expectedFeatureReplies = 0;
  let sent = 0;
  let droppedByDaemon = false;
  try {
    for (const s of steps) {
      if (conn.closed) break;
      if (s.kick) {
        const k = kicks[kicks.length - 1];
        if (k !== undefined) native.eventfdWrite(k, 1);
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const fds = s.fds.map(makeFd);
      try {
        const pieces = [0, ...s.cuts, s.bytes.byteLength];
        for (let i = 0; i + 1 < pieces.length; i++) {
          await conn.sendRaw(s.bytes.subarray(pieces[i], pieces[i + 1]), i === 0 ? fds : []);
          if (i + 2 < pieces.length) await new Promise((r) => setImmediate(r));
        }
        if (s.bytes.byteLength === 0 && fds.length > 0) await conn.sendRaw(s.bytes, fds);
      } catch {
        break; // the daemon hung up (EPIPE/ECONNRESET): the rest of the case is moot
      } finally {
        // Keep kick eventfds so later 'kick' steps can signal them; close everything else now.
        fds.forEach((fd, i) => {
          if (s.fds[i] === 'eventfd' && s.header?.request === REQ.SET_VRING_KICK) kicks.push(fd);
          else native.closeQuietly(fd);
        });
      }
      sent++;
      if (s.breaksStream) inStep = false;
      else if (inStep && s.header?.request === REQ.GET_FEATURES) expectedFeatureReplies++;
    }
    if (inStep && !conn.closed) {
      expectedFeatureReplies++;
      // The daemon may hang up first (a fatal request such as rings without shared memory).
      await conn.sendRaw(b.message(REQ.GET_FEATURES, V1)).catch(() => undefined);
      await waitFor(
        () => conn.closed || replies.filter((m) => m.header.request === REQ.GET_FEATURES).length >= expectedFeatureReplies,
        syncTimeoutMs,
        `the reply to a final GET_FEATURES (${expectedFeatureReplies} expected; steps: ${steps.map((s) => s.label).join(' ')})`,
      );
    } else {
      await waitFor(() => conn.closed, 20, 'nothing').catch(() => undefined);
    }
  } finally {
    droppedByDaemon = conn.closed;
    conn.close();
    kicks.forEach(native.closeQuietly);
    await reader;
  }
  return { replies, readerError, droppedByDaemon, sent, inStep };
}
