/**
 * Pieces the single-layer micro-benchmarks share (native-fs-overhead.ts, lookup-layers.ts,
 * create-floor.ts): a window of calls in flight, and a FUSE request as FuseServer.handle takes it.
 */
import * as S from '../protocol/fuse-structs.js';

/** Make `total` calls of `call`, `window` of them in flight (each slot one call after another). Returns seconds. */
export async function windowed(total: number, window: number, call: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (started < total) {
        started++;
        await call();
      }
    }),
  );
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** A request's readable segments: its fuse_in_header (uid and gid 0, unique 1), then `body`. */
export function fuseRequest(opcode: number, nodeid: bigint, ...body: Uint8Array[]): Uint8Array[] {
  const len = S.fuse_in_header.size + body.reduce((n, b) => n + b.length, 0);
  return [S.fuse_in_header.toBytes({ len, opcode, unique: 1n, nodeid, uid: 0, gid: 0, pid: 1, total_extlen: 0 }), ...body];
}
