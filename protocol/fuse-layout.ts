/**
 * A declarative layout for the fixed-size little-endian C structs of the FUSE ABI. A struct is declared
 * once as an ordered list of fields (named verbatim after include/uapi/linux/fuse.h) and gets its size,
 * decoder and encoder from the declaration, so the struct tables in fuse-structs.ts carry no logic.
 *
 * Types: u8/u16/u32/i32 decode to `number`, u64/i64 to `bigint`; a nested StructDef decodes to its value;
 * `pad(n)` is reserved/padding space (skipped on decode, zeroed on encode, absent from the value).
 * No implicit alignment is inserted: the FUSE structs are already padded to natural alignment.
 */
import { ProtocolError } from './errors.js';

export type Scalar = 'u8' | 'u16' | 'u32' | 'i32' | 'u64' | 'i64';

/** Reserved or padding bytes (`padding`, `dummy`, `unused[N]`, `spare[N]` in fuse.h). */
export interface Pad {
  readonly pad: number;
}

/** n reserved bytes. */
export function pad(n: number): Pad {
  return { pad: n };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- T is invariant; any nested struct is a valid field.
export type FieldSpec = Scalar | Pad | StructDef<any>;
export type Fields = Readonly<Record<string, FieldSpec>>;

type FieldValue<S> = S extends 'u64' | 'i64' ? bigint : S extends StructDef<infer T> ? T : number;

/** The decoded value of a struct with fields F (padding omitted). */
export type StructValue<F extends Fields> = {
  -readonly [K in keyof F as F[K] extends Pad ? never : K]: FieldValue<F[K]>;
};

export interface StructDef<T> {
  /** The C name, for error messages. */
  readonly name: string;
  /** sizeof(struct). */
  readonly size: number;
  /** Decode from `bytes` at `offset`; throws ProtocolError FUSE_TRUNCATED when fewer than `size` bytes remain. */
  decode(bytes: Uint8Array, offset?: number): T;
  /** Encode into `bytes` at `offset` (padding written as zero); throws FUSE_NO_ROOM if it does not fit. */
  encode(value: T, bytes: Uint8Array, offset?: number): void;
  /** Encode into a new buffer of `size` bytes. */
  toBytes(value: T): Uint8Array;
  /** @internal decode/encode through an existing DataView at an absolute offset (nested structs). */
  readonly read: (dv: DataView, at: number) => T;
  readonly write: (dv: DataView, at: number, value: T) => void;
}

interface Slot {
  readonly key: string;
  readonly spec: FieldSpec;
  readonly at: number;
}

function sizeOf(spec: FieldSpec): number {
  if (typeof spec === 'string') {
    switch (spec) {
      case 'u8':
        return 1;
      case 'u16':
        return 2;
      case 'u32':
      case 'i32':
        return 4;
      case 'u64':
      case 'i64':
        return 8;
    }
  }
  if ('pad' in spec) return spec.pad;
  return spec.size;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Declare a struct. Field order is wire order. */
export function struct<const F extends Fields>(name: string, fields: F): StructDef<StructValue<F>> {
  type T = StructValue<F>;
  const slots: Slot[] = [];
  let size = 0;
  for (const [key, spec] of Object.entries(fields)) {
    slots.push({ key, spec, at: size });
    size += sizeOf(spec);
  }
  const read = (dv: DataView, base: number): T => {
    const out: Record<string, unknown> = {};
    for (const { key, spec, at } of slots) {
      const o = base + at;
      if (typeof spec === 'string') {
        switch (spec) {
          case 'u8':
            out[key] = dv.getUint8(o);
            break;
          case 'u16':
            out[key] = dv.getUint16(o, true);
            break;
          case 'u32':
            out[key] = dv.getUint32(o, true);
            break;
          case 'i32':
            out[key] = dv.getInt32(o, true);
            break;
          case 'u64':
            out[key] = dv.getBigUint64(o, true);
            break;
          case 'i64':
            out[key] = dv.getBigInt64(o, true);
            break;
        }
      } else if (!('pad' in spec)) {
        out[key] = spec.read(dv, o);
      }
    }
    return out as T;
  };
  const write = (dv: DataView, base: number, value: T): void => {
    const v = value as Record<string, unknown>;
    for (const { key, spec, at } of slots) {
      const o = base + at;
      if (typeof spec === 'string') {
        const x = v[key];
        switch (spec) {
          case 'u8':
            dv.setUint8(o, Number(x ?? 0));
            break;
          case 'u16':
            dv.setUint16(o, Number(x ?? 0), true);
            break;
          case 'u32':
            dv.setUint32(o, Number(x ?? 0) >>> 0, true);
            break;
          case 'i32':
            dv.setInt32(o, Number(x ?? 0) | 0, true);
            break;
          case 'u64':
          case 'i64':
            // asUintN accepts negative values (times before 1970, -1 sentinels) and wraps them.
            dv.setBigUint64(o, BigInt.asUintN(64, BigInt((x as bigint | number | undefined) ?? 0n)), true);
            break;
        }
      } else if ('pad' in spec) {
        for (let i = 0; i < spec.pad; i++) dv.setUint8(o + i, 0);
      } else {
        spec.write(dv, o, v[key] as object);
      }
    }
  };
  return {
    name,
    size,
    read,
    write,
    decode(bytes: Uint8Array, offset = 0): T {
      if (offset < 0 || bytes.byteLength - offset < size) {
        throw new ProtocolError('FUSE_TRUNCATED', `${name}: need ${size} bytes, have ${Math.max(0, bytes.byteLength - offset)}`);
      }
      return read(dataView(bytes), offset);
    },
    encode(value: T, bytes: Uint8Array, offset = 0): void {
      if (offset < 0 || bytes.byteLength - offset < size) {
        throw new ProtocolError('FUSE_NO_ROOM', `${name}: need ${size} bytes, have ${Math.max(0, bytes.byteLength - offset)}`);
      }
      write(dataView(bytes), offset, value);
    },
    toBytes(value: T): Uint8Array {
      const b = new Uint8Array(size);
      write(dataView(b), 0, value);
      return b;
    },
  };
}

/** FUSE_REC_ALIGN: round up to the 64-bit boundary that variable-length records are padded to. */
export function FUSE_REC_ALIGN(x: number): number {
  return (x + 7) & ~7;
}
