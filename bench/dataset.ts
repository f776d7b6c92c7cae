/**
 * The shared directory every daemon serves during a run: built once, on the host, before any
 * daemon starts, so all of them read the same files from the same (hot) page cache.
 *
 *   meta/f0000..        small files for LOOKUP and GETATTR (the "cached inodes")
 *   big.bin             the read target: pre-written, not sparse, so READ copies real page-cache
 *                       pages (a hole would be served from the zero page), then read once to warm it
 *   dir10k/e00000..     10,000 empty files for READDIRPLUS
 *   scratch-<daemon>/   each daemon's own place for CREATE/UNLINK and WRITE
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface DatasetOptions {
  /** Size of big.bin in bytes (default 1 GiB). */
  bigFileBytes: number;
  /** Files in meta/. */
  metaFiles: number;
  /** Entries in dir10k/. */
  dirEntries: number;
  /** Reuse this folder if it already holds a matching dataset (else build under the system tmp). */
  dir?: string;
}

export interface Dataset {
  root: string;
  bigFileBytes: number;
  metaNames: string[];
  dirEntries: number;
  /** Whether this run built it (and so should remove it). */
  built: boolean;
}

/** The 32-bit word at byte `i` (a multiple of 8) of every 4 MiB chunk of big.bin. */
export const patternWord = (i: number): number => Math.imul(i, 0x9e3779b1) >>> 0;

export const metaName = (i: number) => `f${String(i).padStart(5, '0')}`;
export const dirEntryName = (i: number) => `e${String(i).padStart(5, '0')}`;

/** Build (or reuse) the dataset; `progress` hears what is going on. */
export function buildDataset(o: DatasetOptions, progress: (msg: string) => void = () => {}): Dataset {
  const root = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-bench-data-'));
  const stampFile = path.join(root, '.bench-dataset');
  const stamp = JSON.stringify({ v: 1, big: o.bigFileBytes, meta: o.metaFiles, dir: o.dirEntries });
  const metaNames = Array.from({ length: o.metaFiles }, (_, i) => metaName(i));
  const reuse = o.dir !== undefined && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp;
  if (!reuse) {
    fs.mkdirSync(root, { recursive: true });
    progress(`dataset: ${o.metaFiles} small files`);
    fs.mkdirSync(path.join(root, 'meta'), { recursive: true });
    for (const n of metaNames) fs.writeFileSync(path.join(root, 'meta', n), 'x');
    progress(`dataset: ${o.dirEntries}-entry directory`);
    fs.mkdirSync(path.join(root, 'dir10k'), { recursive: true });
    for (let i = 0; i < o.dirEntries; i++) fs.closeSync(fs.openSync(path.join(root, 'dir10k', dirEntryName(i)), 'w'));
    progress(`dataset: writing ${o.bigFileBytes >> 20} MiB big.bin`);
    writeBigFile(path.join(root, 'big.bin'), o.bigFileBytes);
    fs.writeFileSync(stampFile, stamp);
  }
  progress('dataset: warming the page cache');
  warm(path.join(root, 'big.bin'));
  return { root, bigFileBytes: o.bigFileBytes, metaNames, dirEntries: o.dirEntries, built: o.dir === undefined };
}

/** A fresh, empty scratch folder for one daemon. */
export function scratchDir(ds: Dataset, daemon: string): string {
  const d = path.join(ds.root, `scratch-${daemon}`);
  fs.rmSync(d, { recursive: true, force: true });
  fs.mkdirSync(d);
  return `scratch-${daemon}`;
}

export function removeDataset(ds: Dataset): void {
  if (ds.built) fs.rmSync(ds.root, { recursive: true, force: true });
}

function writeBigFile(file: string, bytes: number): void {
  // Non-zero, varying content (each 4 KiB block differs), so nothing can short-cut it as zeroes.
  const chunk = Buffer.alloc(4 << 20);
  for (let i = 0; i < chunk.length; i += 8) chunk.writeUInt32LE(patternWord(i), i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += chunk.length) {
      chunk.writeUInt32LE(off >>> 12, 4); // mark the chunk
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - off), off);
    }
    // Written back now, not by the flusher during the first measurements.
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function warm(file: string): void {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4 << 20);
  try {
    let off = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, off);
      if (n <= 0) break;
      off += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
