/**
 * An independent byte builder for vhost-user messages, written from the spec's tables with a
 * DataView by hand. Tests compare the codecs in protocol/vhost-user*.ts against these bytes; it
 * must never call those codecs.
 */

/** One field: its width and value. 'pad' writes `n` zero bytes. */
export type Field = ['u8' | 'u16' | 'u32', number] | ['u64', bigint | number] | ['pad', number] | ['bytes', Uint8Array];

/** Lay fields out back to back, little-endian. */
export function fields(list: readonly Field[]): Uint8Array {
  let len = 0;
  const width = { u8: 1, u16: 2, u32: 4, u64: 8 } as const;
  for (const f of list) {
    switch (f[0]) {
      case 'pad':
        len += f[1];
        break;
      case 'bytes':
        len += f[1].byteLength;
        break;
      default:
        len += width[f[0]];
    }
  }
  const out = new Uint8Array(len);
  const d = new DataView(out.buffer);
  let o = 0;
  for (const f of list) {
    switch (f[0]) {
      case 'u8':
        d.setUint8(o, f[1]);
        o += 1;
        break;
      case 'u16':
        d.setUint16(o, f[1], true);
        o += 2;
        break;
      case 'u32':
        d.setUint32(o, f[1], true);
        o += 4;
        break;
      case 'u64':
        d.setBigUint64(o, BigInt(f[1]), true);
        o += 8;
        break;
      case 'pad':
        o += f[1];
        break;
      case 'bytes':
        out.set(f[1], o);
        o += f[1].byteLength;
        break;
    }
  }
  return out;
}

/** A whole message: request, flags, size (defaults to the payload length), payload. */
export function message(request: number, flags: number, payload: Uint8Array = new Uint8Array(0), size = payload.byteLength): Uint8Array {
  return fields([
    ['u32', request],
    ['u32', flags],
    ['u32', size],
    ['bytes', payload],
  ]);
}

export const u64 = (v: bigint | number): Uint8Array => fields([['u64', v]]);
export const vringState = (index: number, num: number): Uint8Array => fields([['u32', index], ['u32', num]]);

export function vringAddr(index: number, flags: number, desc: bigint, used: bigint, avail: bigint, log: bigint): Uint8Array {
  return fields([['u32', index], ['u32', flags], ['u64', desc], ['u64', used], ['u64', avail], ['u64', log]]);
}

export interface Region {
  gpa: bigint;
  size: bigint;
  uaddr: bigint;
  offset: bigint;
}

export const region = (r: Region): Field[] => [['u64', r.gpa], ['u64', r.size], ['u64', r.uaddr], ['u64', r.offset]];

/** SET_MEM_TABLE payload; `declared` overrides num regions (to build inconsistent tables). */
export function memTable(regions: Region[], declared = regions.length): Uint8Array {
  return fields([['u32', declared], ['pad', 4], ...regions.flatMap(region)]);
}

/** ADD_MEM_REG / REM_MEM_REG payload. */
export const memReg = (r: Region): Uint8Array => fields([['pad', 8], ...region(r)]);

export const log = (size: bigint, offset: bigint): Uint8Array => fields([['u64', size], ['u64', offset]]);

/** struct vhost_iotlb_msg with its 6 bytes of tail padding. */
export function iotlb(iova: bigint, size: bigint, uaddr: bigint, perm: number, type: number): Uint8Array {
  return fields([['u64', iova], ['u64', size], ['u64', uaddr], ['u8', perm], ['u8', type], ['pad', 6]]);
}

/** Config space; `declared` overrides the size field. */
export function config(offset: number, flags: number, data: Uint8Array, declared = data.byteLength): Uint8Array {
  return fields([['u32', offset], ['u32', declared], ['u32', flags], ['bytes', data]]);
}

export const vringArea = (u: bigint | number, size: bigint, offset: bigint): Uint8Array => fields([['u64', u], ['u64', size], ['u64', offset]]);

export function inflight(mmapSize: bigint, mmapOffset: bigint, numQueues: number, queueSize: number): Uint8Array {
  return fields([['u64', mmapSize], ['u64', mmapOffset], ['u16', numQueues], ['u16', queueSize], ['pad', 4]]);
}

export const deviceState = (direction: number, phase: number): Uint8Array => fields([['u32', direction], ['u32', phase]]);

export function mmapReq(shmid: number, fdOffset: bigint, shmOffset: bigint, len: bigint, flags: bigint): Uint8Array {
  return fields([['u8', shmid], ['pad', 7], ['u64', fdOffset], ['u64', shmOffset], ['u64', len], ['u64', flags]]);
}

/** GET_SHMEM_CONFIG reply: num regions, padding, 256 sizes (missing ones are 0). */
export function shmemConfig(numRegions: number, sizes: bigint[]): Uint8Array {
  const all: Field[] = [];
  for (let i = 0; i < 256; i++) all.push(['u64', sizes[i] ?? 0n]);
  return fields([['u32', numRegions], ['pad', 4], ...all]);
}
