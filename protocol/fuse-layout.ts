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

/**
 * A DataView over the whole ArrayBuffer behind `bytes` (callers add bytes.byteOffset). One entry is
 * kept: requests and replies land in the same guest-memory chunk over and over, and a DataView per
 * struct was a measurable share of the daemon's event-loop thread. A buffer munmap()ed since is
 * detached, so a stale entry can only miss, never reach unmapped memory.
 */
let cachedBuffer: ArrayBufferLike | undefined;
let cachedView: DataView | undefined;
function wholeView(bytes: Uint8Array): DataView {
  const buf = bytes.buffer;
  if (buf !== cachedBuffer || cachedView === undefined || cachedView.byteLength !== buf.byteLength) {
    cachedBuffer = buf;
    cachedView = new DataView(buf);
  }
  return cachedView;
}

/** The expression that loads a `spec` at offset expression `o`. */
function getter(spec: Scalar, o: string): string {
  switch (spec) {
    case 'u8':
      return `dv.getUint8(${o})`;
    case 'u16':
      return `dv.getUint16(${o}, true)`;
    case 'u32':
      return `dv.getUint32(${o}, true)`;
    case 'i32':
      return `dv.getInt32(${o}, true)`;
    case 'u64':
      return `dv.getBigUint64(${o}, true)`;
    case 'i64':
      return `dv.getBigInt64(${o}, true)`;
  }
}

/** Statements that store the value `x` at `o` (the generic encoder's conversions, per type). */
function setter(spec: Scalar): string {
  switch (spec) {
    case 'u8':
      return 'dv.setUint8(o, Number(x ?? 0));';
    case 'u16':
      return 'dv.setUint16(o, Number(x ?? 0), true);';
    case 'u32':
      return 'dv.setUint32(o, Number(x ?? 0) >>> 0, true);';
    case 'i32':
      return 'dv.setInt32(o, Number(x ?? 0) | 0, true);';
    case 'u64':
    case 'i64':
      // asUintN accepts negative values (times before 1970, -1 sentinels) and wraps them.
      return "dv.setBigUint64(o, BigInt.asUintN(64, typeof x === 'bigint' ? x : BigInt(x ?? 0n)), true);";
  }
}

/** Zero n bytes at `at` (relative to b), widest stores first. */
function zeroes(at: number, n: number): string {
  const out: string[] = [];
  let i = 0;
  for (; i + 4 <= n; i += 4) out.push(`dv.setUint32(b + ${at + i}, 0);`);
  for (; i < n; i++) out.push(`dv.setUint8(b + ${at + i}, 0);`);
  return out.join('\n');
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
  // The decoder and encoder are generated from the declaration as straight-line code: one object
  // literal (so every decoded value of a struct has the same shape) and one store per field, instead
  // of a loop over the fields per call. Nested structs are called through `nested[i]`.
  const fn = name.replace(/\W/g, '_');
  const nested: StructDef<unknown>[] = [];
  const readParts: string[] = [];
  const writeParts: string[] = [];
  for (const { key, spec, at } of slots) {
    const k = JSON.stringify(key);
    if (typeof spec === 'string') {
      readParts.push(`${k}: ${getter(spec, `b + ${at}`)}`);
      writeParts.push(`{ const o = b + ${at}; const x = v[${k}]; ${setter(spec)} }`);
    } else if ('pad' in spec) {
      writeParts.push(zeroes(at, spec.pad));
    } else {
      nested.push(spec);
      const i = nested.length - 1;
      readParts.push(`${k}: nested[${i}].read(dv, b + ${at})`);
      writeParts.push(`nested[${i}].write(dv, b + ${at}, v[${k}]);`);
    }
  }
  // The source text comes from the field table above only: no guest or user input reaches it.
  const read = new Function('nested', `return function read_${fn}(dv, b) {\n  return {\n    ${readParts.join(',\n    ')}\n  };\n};`)(nested) as (dv: DataView, at: number) => T;
  const write = new Function('nested', `return function write_${fn}(dv, b, v) {\n  ${writeParts.join('\n  ')}\n};`)(nested) as (dv: DataView, at: number, value: T) => void;
  return {
    name,
    size,
    read,
    write,
    decode(bytes: Uint8Array, offset = 0): T {
      if (offset < 0 || bytes.byteLength - offset < size) {
        throw new ProtocolError('FUSE_TRUNCATED', `${name}: need ${size} bytes, have ${Math.max(0, bytes.byteLength - offset)}`);
      }
      return read(wholeView(bytes), bytes.byteOffset + offset);
    },
    encode(value: T, bytes: Uint8Array, offset = 0): void {
      if (offset < 0 || bytes.byteLength - offset < size) {
        throw new ProtocolError('FUSE_NO_ROOM', `${name}: need ${size} bytes, have ${Math.max(0, bytes.byteLength - offset)}`);
      }
      write(wholeView(bytes), bytes.byteOffset + offset, value);
    },
    toBytes(value: T): Uint8Array {
      const b = new Uint8Array(size);
      write(new DataView(b.buffer), 0, value);
      return b;
    },
  };
}

/** FUSE_REC_ALIGN: round up to the 64-bit boundary that variable-length records are padded to. */
export function FUSE_REC_ALIGN(x: number): number {
  return (x + 7) & ~7;
}
