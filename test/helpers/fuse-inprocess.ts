/**
 * A FuseTransport that calls FuseServer.handle() in this process, with the reply buffer split in two
 * (as a guest's scatter list would be) so segment handling is exercised. It logs each request's
 * opcode, unique, queue and segment count, and can tamper with replies (tests of the client's checks).
 */
import type { FuseTransport } from '../../src/frontend/fuse-client.js';
import type { FuseServer } from '../../src/fuse/server.js';
import { fuse_in_header } from '../../protocol/fuse-structs.js';

export interface SentRequest {
  opcode: number;
  unique: bigint;
  queue: number;
  writableLen: number;
  segments: number;
}

export class InProcessTransport implements FuseTransport {
  readonly sent: SentRequest[] = [];
  tamper?: (reply: Uint8Array) => void;

  /** `cut`: bytes in the first reply segment. */
  constructor(readonly server: FuseServer, private readonly cut = 40) {}

  async request(queue: number, readable: Uint8Array | Uint8Array[], writableLen: number) {
    const segs = Array.isArray(readable) ? readable : [readable];
    const h = fuse_in_header.decode(Buffer.concat(segs)); // a malformed request is a test bug: fail here
    this.sent.push({ opcode: h.opcode, unique: h.unique, queue, writableLen, segments: segs.length });
    const cut = Math.min(writableLen, this.cut);
    const w = writableLen > 0 ? [new Uint8Array(cut), new Uint8Array(writableLen - cut)] : [];
    const usedLen = await this.server.handle(segs, w, queue);
    const data = Buffer.concat(w).subarray(0, usedLen);
    this.tamper?.(data);
    return { usedLen, data };
  }
}
