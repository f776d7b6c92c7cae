/**
 * How long the passthrough's migration state takes to save and load, and how big it is: N files
 * looked up (in directories of 1000) and N/10 of them open, on the tmp filesystem. Source and
 * destination are two PassthroughFs on one directory, in-process; the state goes through JSON.
 * Prints a table. Run: `node dist/bench/migration-state.js [N]` (default 10000).
 */
import nodefs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MIGRATION, type MigrationOptions } from '../src/migration/migratable.js';
import * as f from '../src/native/fs.js';
import { PassthroughFs, type InodeFileHandles } from '../src/passthrough/index.js';
import { configureLog } from '../src/log.js';
import type { Context } from '../src/fuse/filesystem.js';

const N = Number(process.argv[2] ?? 10_000);
const PER_DIR = 1000;
const ctx = (): Context => ({ unique: 1n, opcode: 0, uid: 0, gid: 0, pid: 1, umask: 0o022 });
configureLog({ level: 'warn' });

async function fresh(dir: string, handles: InodeFileHandles): Promise<PassthroughFs> {
  const pfs = new PassthroughFs({ sharedDir: dir, inodeFileHandles: handles });
  await pfs.init({ minor: 38, capable: (1n << 64n) - 1n, maxReadahead: 0 });
  return pfs;
}

const dir = nodefs.mkdtempSync(path.join(os.tmpdir(), 'vfs-bench-mig-'));
for (let i = 0; i < N; i++) {
  const d = path.join(dir, `d${Math.floor(i / PER_DIR)}`);
  if (i % PER_DIR === 0) nodefs.mkdirSync(d);
  nodefs.writeFileSync(path.join(d, `f${i}`), '');
}

const rows: string[] = [];
for (const [handles, mode, confirmPaths] of [['never', 'find-paths', false], ['never', 'find-paths', true], ['prefer', 'file-handles', false]] as const) {
  const o: MigrationOptions = { ...DEFAULT_MIGRATION, mode, confirmPaths };
  const a = await fresh(dir, handles);
  for (let i = 0; i < N; i++) {
    const d = await a.lookup(ctx(), 1n, Buffer.from(`d${Math.floor(i / PER_DIR)}`));
    const e = await a.lookup(ctx(), d.nodeid, Buffer.from(`f${i}`));
    if (i % 10 === 0) await a.open(ctx(), e.nodeid, f.O_RDWR, 0);
  }
  let t0 = process.hrtime.bigint();
  const json = JSON.stringify(await a.exportState(o));
  const saveMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await a.close();
  const b = await fresh(dir, handles);
  t0 = process.hrtime.bigint();
  await b.importState(JSON.parse(json), o);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const st = b.stats();
  await b.close();
  rows.push(`| ${handles} | ${mode}${confirmPaths ? ' + confirm-paths' : ''} | ${st.inodes - 1} | ${st.handles} | ${(json.length / 1024).toFixed(0)} KiB | ${saveMs.toFixed(0)} | ${loadMs.toFixed(0)} |`);
}
nodefs.rmSync(dir, { recursive: true, force: true });
console.log(`passthrough migration state, N=${N} files looked up (${N / 10} open), ${os.tmpdir()}, load ${os.loadavg()[0]!.toFixed(1)}`);
console.log('| --inode-file-handles | --migration-mode | inodes | open handles | state (JSON) | save ms | load ms |');
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(r);
