/**
 * The guest kit for end-to-end tests: a Debian kernel plus a busybox initramfs built by
 * fixtures/guest/build.sh, and per-test initramfs layers carrying the guest's /test.sh.
 *
 * The test script travels in its own cpio archive appended to the base one (Linux unpacks
 * concatenated archives in order), so it reaches the guest even when the virtio-fs share under
 * test is broken.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

const run = promisify(execFile);

/** The repository root: the nearest folder above this file holding package.json (src or dist). */
export const repoRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('guest-kit: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

/** Where build.sh puts the kit; GUEST_KIT_DIR overrides it. */
export const guestKitDir: string = process.env.GUEST_KIT_DIR ?? path.join(repoRoot, '.cache/guest');

export interface GuestKit {
  /** bzImage to pass to QEMU -kernel. */
  kernel: string;
  /** Base initramfs: busybox, the virtio-fs modules and /init (runs /test.sh if present). */
  initramfs: string;
  /** uname -r of the kernel. */
  kernelVersion: string;
}

let kitPromise: Promise<GuestKit> | undefined;

/**
 * Builds the kit once per process (build.sh caches across processes and serialises concurrent
 * builds with a lock). The first build downloads the kernel package (~70 MB).
 */
export function ensureGuestKit(): Promise<GuestKit> {
  kitPromise ??= (async () => {
    const script = path.join(repoRoot, 'fixtures/guest/build.sh');
    try {
      await run('bash', [script, guestKitDir], { maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as Error & { stdout?: string; stderr?: string };
      throw Object.assign(new Error(`guest kit build failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`), {
        code: 'GUEST_KIT_BUILD',
      });
    }
    return {
      kernel: path.join(guestKitDir, 'vmlinuz'),
      initramfs: path.join(guestKitDir, 'initramfs.cpio.gz'),
      kernelVersion: fs.readFileSync(path.join(guestKitDir, 'kernel-version'), 'utf8').trim(),
    };
  })();
  kitPromise.catch(() => (kitPromise = undefined));
  return kitPromise;
}

/** A file to place in the guest's root filesystem. */
export interface ExtraFile {
  /** Absolute path in the guest; missing parent folders are created. */
  guestPath: string;
  /** Host file to copy (its permission bits are kept unless `mode` is given)… */
  hostPath?: string;
  /** …or the content itself. */
  content?: string | Uint8Array;
  /** Permission bits; default: the host file's, or 0o644 for `content`. */
  mode?: number;
}

/** One entry of a "newc" cpio archive, the only format the kernel's initramfs unpacker reads. */
interface CpioEntry {
  name: string;
  mode: number;
  data: Uint8Array;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

/** Serialises entries as a newc archive: 110-byte ASCII header, NUL-ended name, 4-byte padding. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    size += b.length;
    const pad = (4 - (size % 4)) % 4;
    if (pad) {
      parts.push(Buffer.alloc(pad));
      size += pad;
    }
  };
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0, data: new Uint8Array() }]) {
    const name = Buffer.from(e.name + '\0');
    const nlink = e.mode & S_IFDIR ? 2 : 1;
    // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
    const fields = [ino++, e.mode, 0, 0, nlink, 0, e.data.length, 0, 0, 0, 0, name.length, 0];
    push(Buffer.concat([Buffer.from('070701' + fields.map(hex).join('')), name]));
    if (e.data.length) push(Buffer.from(e.data));
  }
  return Buffer.concat(parts);
}

let layerDir: string | undefined;

function runDir(): string {
  if (!layerDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-initramfs-'));
    layerDir = dir;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return layerDir;
}

/**
 * Returns the path of an initramfs = the kit's base + a layer holding /test.sh (run by /init with
 * `sh`; its exit status is printed as `VFS-GUEST: exit N`) and `extraFiles`. The file lives in a
 * per-process temporary folder removed when the process exits.
 */
export async function makeScriptInitramfs(script: string, extraFiles: ExtraFile[] = []): Promise<string> {
  const kit = await ensureGuestKit();
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const add = (guestPath: string, mode: number, data: Uint8Array) => {
    if (!path.posix.isAbsolute(guestPath)) throw new Error(`guest path must be absolute: ${guestPath}`);
    const rel = path.posix.normalize(guestPath).slice(1);
    const segs = rel.split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (!dirs.has(d)) entries.push({ name: d, mode: S_IFDIR | 0o755, data: new Uint8Array() });
      dirs.add(d);
    }
    entries.push({ name: rel, mode: S_IFREG | (mode & 0o7777), data });
  };
  add('/test.sh', 0o755, Buffer.from(script));
  for (const f of extraFiles) {
    if (f.hostPath !== undefined) {
      add(f.guestPath, f.mode ?? fs.statSync(f.hostPath).mode, fs.readFileSync(f.hostPath));
    } else if (f.content !== undefined) {
      add(f.guestPath, f.mode ?? 0o644, typeof f.content === 'string' ? Buffer.from(f.content) : f.content);
    } else {
      throw new Error(`extra file ${f.guestPath}: give hostPath or content`);
    }
  }
  const layer = gzipSync(cpioNewc(entries), { level: 1 });
  const base = fs.readFileSync(kit.initramfs);
  const hash = createHash('sha256').update(base).update(layer).digest('hex').slice(0, 16);
  const out = path.join(runDir(), `initramfs-${hash}.cpio.gz`);
  fs.writeFileSync(out, Buffer.concat([base, layer]));
  return out;
}

/**
 * Compiles a C program for the guest with `gcc -static -O2` (the guest has no libc) and returns
 * the binary's path, cached in <kit>/bin by a hash of the source and flags.
 */
export async function buildStaticBinary(cSource: string, extraFlags: string[] = []): Promise<string> {
  const src = fs.readFileSync(cSource);
  const flags = ['-static', '-O2', '-Wall', ...extraFlags];
  const hash = createHash('sha256').update(src).update(flags.join('\0')).digest('hex').slice(0, 16);
  const binDir = path.join(guestKitDir, 'bin');
  const out = path.join(binDir, `${path.basename(cSource).replace(/\.c$/, '')}-${hash}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(binDir, { recursive: true });
  // Build beside the target and rename, so a concurrent process never sees half a binary.
  const tmp = `${out}.tmp${process.pid}`;
  try {
    await run('gcc', [...flags, '-o', tmp, cSource]);
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw Object.assign(new Error(`gcc failed on ${cSource}:\n${err.stderr ?? err.message}`), { code: 'GUEST_GCC' });
  }
  fs.renameSync(tmp, out);
  return out;
}
