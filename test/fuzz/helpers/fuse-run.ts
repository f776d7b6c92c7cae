/**
 * Runs a generated FUSE case against a FuseServer (in process, or through the daemon's virtqueue) and
 * checks each answer: handle() never rejects and never hangs; no-reply ops (FORGET, BATCH_FORGET,
 * INTERRUPT, NOTIFY_REPLY) complete with nothing written; every other request gets exactly one reply
 * whose length fits the writable space, whose header matches (len, unique, errno in 1..4095 with no
 * body), and whose body has the size fuse.h gives for that op. Also the passthrough sandbox: a shared
 * directory next to a canary tree whose every name, size, mode, owner, link count, mtime, ctime and
 * content is compared before and after.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as B from '../../helpers/builders/fuse.js';
import { within } from './fuzz.js';
import { NO_REPLY, OK_BODY, Pools, build, describeReq, learn, type FuseCase, type FuseReq } from './fuse-gen.js';

/** Something that answers one FUSE request: the server in process, or the daemon through a ring. */
export type Transport = (segments: Uint8Array[], writable: number[], queue: number) => Promise<{ used: number; reply: Uint8Array }>;

export interface RunStats {
  requests: number;
  ok: number;
  errors: Map<number, number>;
}

export function newStats(): RunStats {
  return { requests: 0, ok: 0, errors: new Map() };
}

/** Check one answer; returns the body of a success reply. */
export function checkAnswer(r: FuseReq, unique: bigint, used: number, reply: Uint8Array, capacity: number, stats: RunStats): Uint8Array | undefined {
  const what = () => `${describeReq(r)}: used ${used}`;
  if (used < 0 || used > capacity) throw new Error(`reply longer than the writable space (${capacity}): ${what()}`);
  if (NO_REPLY.has(r.opcode >>> 0)) {
    if (used !== 0) throw new Error(`a reply to a request that takes none: ${what()}`);
    return undefined;
  }
  if (capacity < 16) {
    if (used !== 0) throw new Error(`a reply without room for its header: ${what()}`);
    return undefined;
  }
  if (used < 16) throw new Error(`no reply: ${what()}`);
  const out = B.parseOut(reply.subarray(0, used));
  if (out.len !== used) throw new Error(`out header len ${out.len} != used length: ${what()}`);
  if (out.unique !== unique) throw new Error(`reply unique ${out.unique} for ${unique}: ${what()}`);
  if (out.error > 0 || out.error < -4095) throw new Error(`error field ${out.error}: ${what()}`);
  if (out.error !== 0) {
    if (used !== 16) throw new Error(`an error reply with a body: ${what()}`);
    stats.errors.set(-out.error, (stats.errors.get(-out.error) ?? 0) + 1);
    return undefined;
  }
  const want = OK_BODY[r.opcode];
  if (want !== undefined && out.body.length !== want) throw new Error(`success body of ${out.body.length} bytes, fuse.h says ${want}: ${what()}`);
  stats.ok++;
  return out.body;
}

/** Play a case: INIT (unless the case skips it), then each request; returns what the pools learned. */
export async function runCase(c: FuseCase, send: Transport, stats: RunStats, clamp?: (op: number, fixed: DataView) => void): Promise<Pools> {
  const pools = new Pools();
  let unique = 0x100n;
  if (c.init !== null) {
    unique += 2n;
    const init = B.request(B.OP.INIT, c.init, { unique });
    const { used } = await within(send([init], [8192], 1), 5000, 'FUSE_INIT');
    if (used < 16) throw new Error(`FUSE_INIT got no reply (${used})`);
  }
  for (const r of c.reqs) {
    unique += 2n;
    const b = build(r, pools, unique, clamp);
    stats.requests++;
    let answer: { used: number; reply: Uint8Array };
    try {
      answer = await within(send(b.segments, r.writable, r.queue), 5000, describeReq(r));
    } catch (e) {
      throw new Error(`handle() failed or hung on ${describeReq(r)}: ${(e as Error)?.stack ?? e}`);
    }
    const capacity = r.writable.reduce((a, n) => a + n, 0);
    const body = checkAnswer(r, unique, answer.used, answer.reply, capacity, stats);
    if (body !== undefined) learn(pools, r.opcode, body);
  }
  return pools;
}

// ---- the passthrough sandbox ------------------------------------------------------------------------

export interface Sandbox {
  root: string;
  share: string;
  canary: string;
  /** Everything observable about the canary tree and the sandbox root. */
  snapshot(): string;
  remove(): void;
}

/**
 * root/{share,canary}: the share holds a file, a directory and symlinks that point out of it (to the
 * canary, to a canary file, to /); the canary holds files, a directory and a symlink.
 */
export function makeSandbox(): Sandbox {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-fuzz-pt-'));
  const share = path.join(root, 'share');
  const canary = path.join(root, 'canary');
  fs.mkdirSync(path.join(share, 'dir', 'sub'), { recursive: true });
  fs.writeFileSync(path.join(share, 'file'), 'shared file\n');
  fs.writeFileSync(path.join(share, 'dir', 'f'), 'inner\n');
  fs.symlinkSync('../canary', path.join(share, 'up'));
  fs.symlinkSync(path.join(canary, 'secret'), path.join(share, 'abs'));
  fs.symlinkSync('/', path.join(share, 'root'));
  fs.mkdirSync(path.join(canary, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(canary, 'secret'), 'do not touch\n');
  fs.writeFileSync(path.join(canary, 'sub', 'x'), 'x'.repeat(5000));
  fs.symlinkSync('secret', path.join(canary, 'link'));
  fs.chmodSync(path.join(canary, 'secret'), 0o640);
  const snapshot = (): string => {
    const lines: string[] = [];
    const rootSt = fs.lstatSync(root, { bigint: true });
    lines.push(`root mtime=${rootSt.mtimeNs} ctime=${rootSt.ctimeNs} names=${fs.readdirSync(root).sort().join(',')}`);
    const walk = (p: string, rel: string) => {
      const st = fs.lstatSync(p, { bigint: true });
      let extra = '';
      if (st.isFile()) extra = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
      else if (st.isSymbolicLink()) extra = fs.readlinkSync(p);
      lines.push(`${rel} mode=${st.mode.toString(8)} uid=${st.uid} gid=${st.gid} size=${st.size} nlink=${st.nlink} mtime=${st.mtimeNs} ctime=${st.ctimeNs} ${extra}`);
      if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n), `${rel}/${n}`);
    };
    walk(canary, 'canary');
    return lines.join('\n');
  };
  return { root, share, canary, snapshot, remove: () => fs.rmSync(root, { recursive: true, force: true }) };
}

const MiB = 1n << 20n;

/**
 * Keep the passthrough run from doing real damage to the machine running the tests: sizes it would
 * allocate on the host disk are capped, and MKNOD makes only regular files, fifos, sockets and
 * directories (as root, a guest could otherwise make a device node of a host disk — see docs/fuzzing.md).
 */
export function passthroughClamp(op: number, dv: DataView): void {
  const cap64 = (off: number, max: bigint) => {
    if (off + 8 <= dv.byteLength && dv.getBigUint64(off, true) > max) dv.setBigUint64(off, max, true);
  };
  switch (op) {
    case B.OP.FALLOCATE:
      cap64(8, 1024n * MiB);
      cap64(16, MiB);
      break;
    case B.OP.COPY_FILE_RANGE:
      cap64(40, MiB);
      break;
    case B.OP.SETATTR:
      cap64(16, 16n * MiB);
      break;
    case B.OP.WRITE:
      cap64(8, 1024n * MiB);
      break;
    case B.OP.MKNOD:
      if (dv.byteLength >= 8) {
        const type = dv.getUint32(0, true) & 0o170000;
        if (![0o100000, 0o010000, 0o140000, 0o040000].includes(type)) dv.setUint32(0, (dv.getUint32(0, true) & 0o7777) | 0o100000, true);
        dv.setUint32(4, 0, true);
      }
      break;
  }
}
