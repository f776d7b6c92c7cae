/**
 * Shared by the posix*.test.ts and confinement*.test.ts e2e tests: the fstest program
 * (fixtures/guest/fstest, a static C binary run in the guest and, for its lock tools, on the host),
 * its output parser, and a host-side snapshot of a directory tree.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { buildStaticBinary, repoRoot } from '../helpers/guest-kit.js';
import { runGuest, type GuestResult } from '../helpers/qemu.js';
import type { DaemonProcess } from '../helpers/daemon-process.js';

export const fstestDir = path.join(repoRoot, 'fixtures/guest/fstest');

/** Where the binary sits in the guest (an extraFiles entry: see fstestFile()). */
export const GUEST_FSTEST = '/bin/fstest';

let built: Promise<string> | undefined;

/**
 * Compiles fstest once per process. buildStaticBinary caches by the hash of the main source and the
 * flags only, so a hash of every source file rides along as a -D flag: editing any part rebuilds.
 */
export function buildFstest(): Promise<string> {
  built ??= (async () => {
    const files = fs.readdirSync(fstestDir).filter((f) => /\.[ch]$/.test(f)).sort();
    const h = createHash('sha256');
    for (const f of files) h.update(f).update('\0').update(fs.readFileSync(path.join(fstestDir, f)));
    const others = files.filter((f) => f.endsWith('.c') && f !== 'fstest.c').map((f) => path.join(fstestDir, f));
    return buildStaticBinary(path.join(fstestDir, 'fstest.c'), [`-DFSTEST_SOURCES=0x${h.digest('hex').slice(0, 16)}`, ...others]);
  })();
  built.catch(() => (built = undefined));
  return built;
}

/** The guest-kit extra file that installs fstest as GUEST_FSTEST. */
export async function fstestFile(): Promise<{ guestPath: string; hostPath: string; mode: number }> {
  return { guestPath: GUEST_FSTEST, hostPath: await buildFstest(), mode: 0o755 };
}

export interface FstestReport {
  ok: string[];
  /** Check name -> the whole "not ok" line. */
  notOk: Map<string, string>;
  /** Check name -> key=value pairs of its "info" lines. */
  info: Map<string, Record<string, string>>;
}

/** Reads the `ok NAME` / `not ok NAME: …` / `info NAME k=v …` lines out of console text. */
export function parseFstest(text: string): FstestReport {
  const r: FstestReport = { ok: [], notOk: new Map(), info: new Map() };
  for (const line of text.split('\n')) {
    let m = /^ok (\S+)$/.exec(line);
    if (m) {
      r.ok.push(m[1]!);
      continue;
    }
    m = /^not ok ([^\s:]+)/.exec(line);
    if (m) {
      r.notOk.set(m[1]!, line);
      continue;
    }
    m = /^info (\S+) (.*)$/.exec(line);
    if (m) {
      const kv = r.info.get(m[1]!) ?? {};
      for (const p of m[2]!.split(' ')) {
        const eq = p.indexOf('=');
        if (eq > 0) kv[p.slice(0, eq)] = p.slice(eq + 1);
      }
      r.info.set(m[1]!, kv);
    }
  }
  return r;
}

/** A host process running an fstest tool, with its output and a way to type a line to it. */
export interface HostTool {
  out(): string;
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  send(line: string): void;
  exited: Promise<number | null>;
  kill(): void;
}

/** Runs `fstest ARGS` on the host (the same static binary the guest runs). */
export async function hostFstest(args: string[]): Promise<HostTool> {
  const bin = await buildFstest();
  const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const watchers = new Set<() => void>();
  p.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    watchers.forEach((w) => w());
  });
  p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stdin.on('error', () => {});
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  return {
    out: () => out,
    send: (line) => void p.stdin.write(line + '\n'),
    kill: () => void p.kill('SIGKILL'),
    exited,
    waitFor: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (!re.test(out)) return;
          done();
          resolve();
        };
        const t = setTimeout(() => {
          done();
          reject(new Error(`host fstest ${args.join(' ')}: no ${re} within ${timeoutMs} ms; output:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(t);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      }),
  };
}

/** One entry of a tree snapshot: everything a write, a link, a chmod or even a read would change. */
export interface TreeEntry {
  type: string;
  size: number;
  mode: number;
  nlink: number;
  ino: string;
  atimeNs: string;
  mtimeNs: string;
  ctimeNs: string;
  target?: string;
}

/** lstat of every path under root (root itself included), keyed by the path relative to root; `skip` names are not entered. */
export function snapshotTree(root: string, skip: ReadonlySet<string> = new Set()): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    const st = fs.lstatSync(abs, { bigint: true });
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : 'other';
    out[rel || '.'] = {
      type,
      size: Number(st.size),
      mode: Number(st.mode),
      nlink: Number(st.nlink),
      ino: String(st.ino),
      atimeNs: String(st.atimeNs),
      mtimeNs: String(st.mtimeNs),
      ctimeNs: String(st.ctimeNs),
      ...(type === 'symlink' ? { target: fs.readlinkSync(abs) } : {}),
    };
    if (type === 'dir') for (const n of fs.readdirSync(abs).sort()) if (!skip.has(path.join(rel, n))) walk(path.join(rel, n));
  };
  walk('');
  return out;
}

/**
 * Boot a guest that mounts the daemon's share as `myfs`, runs every fstest check in /mnt/fstest
 * (then `after`, shell lines run before unmounting), and stops the daemon. Returns the guest result,
 * a `why()` for assertion messages (summary + daemon log tail) and the seconds fstest took in the guest.
 */
export async function runFstestGuest(d: DaemonProcess, opts: { after?: string[]; timeoutMs: number }): Promise<{ r: GuestResult; why: () => string; seconds: number | undefined }> {
  const script = [
    'mount -t virtiofs myfs /mnt || exit 10',
    `start=$(cut -d' ' -f1 /proc/uptime)`,
    `${GUEST_FSTEST} all /mnt/fstest`,
    'rc=$?',
    `echo "fstest-seconds $start $(cut -d' ' -f1 /proc/uptime)"`,
    ...(opts.after ?? []),
    'sync',
    'umount /mnt || echo "umount failed"',
    'exit $rc',
  ].join('\n');
  const r = await runGuest({ script, extraFiles: [await fstestFile()], fs: [{ socket: d.socketPath, tag: 'myfs' }], timeoutMs: opts.timeoutMs });
  await d.stop();
  const log = d.log();
  const secs = /fstest-seconds ([\d.]+) ([\d.]+)/.exec(r.console);
  return { r, why: () => r.summary + '\n--- daemon log tail ---\n' + log.slice(-4000), seconds: secs ? Number(secs[2]) - Number(secs[1]) : undefined };
}
