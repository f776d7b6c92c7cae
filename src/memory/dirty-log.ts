/**
 * The vhost-user dirty log (SET_LOG_BASE with LOG_SHMFD): a bitmap shared with the front-end, one
 * bit per VHOST_LOG_PAGE (4 KiB) of guest physical memory, bit n of byte n/8 for page n. QEMU reads
 * and clears it with atomic exchanges while the back-end writes, so every bit is set with an atomic
 * OR (native.atomicOr8): a bit set between QEMU's read and clear is never lost.
 */
import * as native from '../native/index.js';
import { VHOST_LOG_PAGE } from '../../protocol/vhost-user.js';
import type { WriteLogger } from './guest-memory.js';
import { logger } from '../log.js';

const log = logger('dirty-log');

export class DirtyLog implements WriteLogger {
  private readonly ab: ArrayBuffer;
  private readonly base: number;
  readonly size: number;
  private warned = false;
  /** Pages marked since creation (tests and metrics). */
  marked = 0;

  /** Maps `size` bytes of `fd` at `offset`. Takes ownership of fd (kept for a live upgrade, closed by close()). */
  constructor(readonly fd: number, size: number, readonly offset: number) {
    const page = native.pageSize();
    const delta = offset % page;
    try {
      this.ab = native.mmap(fd, size + delta, offset - delta, true);
    } catch (e) {
      native.closeQuietly(fd);
      throw e;
    }
    this.base = delta;
    this.size = size;
  }

  /** Mark every log page touched by [gpa, gpa + len). */
  logWrite(gpa: number, len: number): void {
    if (len <= 0) return;
    const first = Math.floor(gpa / VHOST_LOG_PAGE);
    const last = Math.floor((gpa + len - 1) / VHOST_LOG_PAGE);
    let byte = -1;
    let bits = 0;
    for (let p = first; p <= last; p++) {
      const b = p >>> 3;
      if (b !== byte) {
        if (bits !== 0) this.or(byte, bits);
        byte = b;
        bits = 0;
      }
      bits |= 1 << (p & 7);
    }
    if (bits !== 0) this.or(byte, bits);
    this.marked += last - first + 1;
  }

  private or(byte: number, bits: number): void {
    if (byte >= this.size) {
      if (!this.warned) log.warn(`dirty log of ${this.size} bytes is too small for page ${byte * 8}: writes beyond it are not logged`);
      this.warned = true;
      return;
    }
    native.atomicOr8(this.ab, this.base + byte, bits);
  }

  /** Is page `page` marked? (tests) */
  isDirty(page: number): boolean {
    const b = page >>> 3;
    return b < this.size && (new Uint8Array(this.ab)[this.base + b]! & (1 << (page & 7))) !== 0;
  }

  close(): void {
    try {
      native.munmap(this.ab);
    } catch {
      /* already unmapped */
    }
    native.closeQuietly(this.fd);
  }
}
