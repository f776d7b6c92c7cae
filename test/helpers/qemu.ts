/**
 * Runs a real QEMU 10 guest (TCG: this machine has no usable KVM) on the guest kit, optionally
 * with vhost-user-fs devices pointing at a daemon's socket.
 *
 * runGuest(): boot, run the script, power off, return the console and the script's exit status.
 * startGuest(): the same guest as a handle (console waits, QMP) for hot-plug or migration tests.
 * No ava import here, so bench/ and demo programs can boot guests too; test registration helpers
 * (e2eTest, requireQemu) live in e2e.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureGuestKit, makeScriptInitramfs, type ExtraFile } from './guest-kit.js';
import { QmpClient } from './qmp.js';

export const QEMU = 'qemu-system-x86_64';

/** One `-device vhost-user-fs-pci` backed by a daemon listening on `socket`. */
export interface VhostUserFsDevice {
  socket: string;
  tag: string;
  /** QEMU device id (for device_del); default fsN. */
  id?: string;
  queueSize?: number;
  numRequestQueues?: number;
  packed?: boolean;
}

export interface GuestOptions {
  /** Content of the guest's /test.sh (run by /init with sh). Ignored when `initramfs` is given. */
  script?: string;
  extraFiles?: ExtraFile[];
  /** A ready initramfs (e.g. from makeScriptInitramfs); default: built from `script`. */
  initramfs?: string;
  kernel?: string;
  /** Guest RAM in MiB, all of it a shared memfd as vhost-user needs. Default 512. */
  memoryMiB?: number;
  /** 'private': plain `-m` RAM that a vhost-user back-end cannot map (a user mistake tests make on purpose). */
  memoryKind?: 'shared' | 'private';
  /** Room for memory hot-plug: `-m SIZE,slots=N,maxmem=M` (pc-dimm devices added over QMP). */
  hotplugSlots?: number;
  maxMemMiB?: number;
  cpus?: number;
  fs?: VhostUserFsDevice[];
  /** A QMP socket path, or true for one in workDir. Default: false for runGuest, true for startGuest. */
  qmp?: string | boolean;
  /** Appended to the kernel command line. */
  cmdline?: string;
  extraArgs?: string[];
  /** QEMU is killed with SIGKILL after this long. Default 120 s. */
  timeoutMs?: number;
  /** Holds console.log (and the QMP socket); default: a new folder under the system tmp dir. */
  workDir?: string;
}

export interface GuestResult {
  /** Everything the guest wrote to its serial console (CR removed). */
  console: string;
  /** The script's exit status from the `VFS-GUEST: exit N` marker; null if none was printed. */
  exitCode: number | null;
  /** /init printed `VFS-GUEST: boot ok`: kernel and modules are up. */
  bootOk: boolean;
  /** Milliseconds from QEMU's start to the boot marker. */
  bootMs: number | null;
  qemuExitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The host timeout expired and QEMU was killed. */
  timedOut: boolean;
  durationMs: number;
  stderr: string;
  logFile: string;
  /** A few lines explaining the outcome, for assertion messages. */
  summary: string;
}

export interface GuestHandle {
  readonly pid: number;
  readonly workDir: string;
  readonly logFile: string;
  readonly qmpSocket: string | null;
  console(): string;
  /** Resolves with the first match at or after offset `since` of the console. */
  waitForConsole(re: RegExp, timeoutMs?: number, since?: number): Promise<RegExpExecArray>;
  /** Types into the serial console (the guest reads it as its stdin). */
  sendConsole(text: string): void;
  /** The QMP client of this guest (connected once, shared). */
  qmp(): Promise<QmpClient>;
  /** SIGKILLs QEMU; resolves when it is gone. */
  kill(): Promise<GuestResult>;
  readonly exited: Promise<GuestResult>;
}

const live = new Set<import('node:child_process').ChildProcess>();
process.on('exit', () => live.forEach((c) => c.kill('SIGKILL')));

/** QEMU splits option values at commas; a literal comma is written twice. */
const q = (s: string) => s.replaceAll(',', ',,');

/** Starts QEMU and returns at once; see GuestHandle. */
export async function startGuest(opts: GuestOptions = {}): Promise<GuestHandle> {
  const kit = await ensureGuestKit();
  const initramfs = opts.initramfs ?? (await makeScriptInitramfs(opts.script ?? '', opts.extraFiles));
  const workDir = opts.workDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-guest-'));
  const logFile = path.join(workDir, 'console.log');
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const mem = opts.memoryMiB ?? 512;
  const qmpSocket = opts.qmp === true || opts.qmp === undefined ? path.join(workDir, 'qmp.sock') : opts.qmp || null;
  // The guest's own watchdog fires first, so a hung script is reported from inside the guest.
  const guestTimeout = Math.max(5, Math.floor(timeoutMs / 1000) - 10);
  const args = [
    '-accel', 'tcg', '-m', opts.hotplugSlots !== undefined ? `${mem}M,slots=${opts.hotplugSlots},maxmem=${opts.maxMemMiB ?? mem * 4}M` : `${mem}`, '-smp', `${opts.cpus ?? 1}`,
    ...(opts.memoryKind === 'private' ? [] : ['-object', `memory-backend-memfd,id=mem,size=${mem}M,share=on`, '-numa', 'node,memdev=mem']),
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', opts.kernel ?? kit.kernel, '-initrd', initramfs,
    '-append', `console=ttyS0 quiet panic=-1 vfs.timeout=${guestTimeout} ${opts.cmdline ?? ''}`.trim(),
  ];
  if (qmpSocket) args.push('-qmp', `unix:${q(qmpSocket)},server=on,wait=off`);
  (opts.fs ?? []).forEach((d, i) => {
    let dev = `vhost-user-fs-pci,chardev=char${i},tag=${q(d.tag)},id=${q(d.id ?? `fs${i}`)}`;
    if (d.queueSize !== undefined) dev += `,queue-size=${d.queueSize}`;
    if (d.numRequestQueues !== undefined) dev += `,num-request-queues=${d.numRequestQueues}`;
    if (d.packed) dev += ',packed=on';
    args.push('-chardev', `socket,id=char${i},path=${q(d.socket)}`, '-device', dev);
  });
  args.push(...(opts.extraArgs ?? []));

  const log = fs.openSync(logFile, 'w');
  fs.writeSync(log, `# ${QEMU} ${args.join(' ')}\n`);
  const started = Date.now();
  const child = spawn(QEMU, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let consoleText = '';
  let stderr = '';
  let bootMs: number | null = null;
  let timedOut = false;
  let result: GuestResult | undefined;
  const watchers = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    s = s.replaceAll('\r', '');
    consoleText += s;
    fs.writeSync(log, s);
    if (bootMs === null && consoleText.includes('VFS-GUEST: boot ok')) bootMs = Date.now() - started;
    watchers.forEach((w) => w());
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    fs.writeSync(log, `[qemu stderr] ${s}`);
  });
  child.stdin.on('error', () => {}); // QEMU gone: nothing to type into
  const timer = setTimeout(() => {
    timedOut = true;
    fs.writeSync(log, `\n[host] QEMU killed: no exit within ${timeoutMs} ms\n`);
    child.kill('SIGKILL');
  }, timeoutMs);

  const exited = new Promise<GuestResult>((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      fs.closeSync(log);
      reject(Object.assign(new Error(`cannot start ${QEMU}: ${e.message}`), { code: 'QEMU_SPAWN' }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      fs.closeSync(log);
      const exits = [...consoleText.matchAll(/VFS-GUEST: exit (\d+)/g)];
      const r: GuestResult = {
        console: consoleText,
        exitCode: exits.length ? Number(exits[exits.length - 1]![1]) : null,
        bootOk: bootMs !== null,
        bootMs,
        qemuExitCode: code,
        signal,
        timedOut,
        durationMs: Date.now() - started,
        stderr,
        logFile,
        summary: '',
      };
      r.summary = summarize(r, timeoutMs);
      result = r;
      watchers.forEach((w) => w());
      resolve(r);
    });
  });
  exited.catch(() => {}); // surfaced to whoever awaits it; never an unhandled rejection

  let qmpClient: Promise<QmpClient> | undefined;
  return {
    pid: child.pid ?? -1,
    workDir,
    logFile,
    qmpSocket,
    console: () => consoleText,
    sendConsole: (text) => void child.stdin.write(text),
    qmp() {
      if (!qmpSocket) return Promise.reject(new Error('startGuest: this guest has no QMP socket'));
      qmpClient ??= QmpClient.connect(qmpSocket);
      return qmpClient;
    },
    waitForConsole(re, waitMs = 60_000, since = 0) {
      return new Promise((resolve, reject) => {
        const rx = new RegExp(re.source, re.flags.replace('g', ''));
        const check = () => {
          const m = rx.exec(consoleText.slice(since));
          if (m) {
            m.index += since;
            done();
            resolve(m);
          } else if (result) {
            done();
            reject(Object.assign(new Error(`guest exited before ${re} appeared\n${result.summary}`), { code: 'GUEST_EXITED' }));
          }
        };
        const t = setTimeout(() => {
          done();
          reject(Object.assign(new Error(`no ${re} on the console within ${waitMs} ms\n${tail(consoleText)}`), { code: 'GUEST_TIMEOUT' }));
        }, waitMs);
        const done = () => {
          clearTimeout(t);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    kill() {
      child.kill('SIGKILL');
      return exited;
    },
    exited,
  };
}

/** Boots a guest, runs `opts.script`, and resolves when QEMU has exited (or was killed). */
export async function runGuest(opts: GuestOptions = {}): Promise<GuestResult> {
  const g = await startGuest({ ...opts, qmp: opts.qmp ?? false });
  return g.exited;
}

function tail(text: string, lines = 30): string {
  return text.split('\n').slice(-lines).join('\n');
}

function summarize(r: GuestResult, timeoutMs: number): string {
  const how = r.timedOut
    ? `QEMU killed after the ${timeoutMs} ms timeout`
    : `QEMU exited with ${r.signal ?? `code ${r.qemuExitCode}`} after ${r.durationMs} ms`;
  const guest = !r.bootOk
    ? 'guest never printed "VFS-GUEST: boot ok"'
    : r.exitCode === null
      ? `guest booted in ${r.bootMs} ms but printed no exit marker` +
        (/VFS-GUEST: timeout/.test(r.console) ? ' (its vfs.timeout watchdog fired: the script hung)' : '')
      : `guest booted in ${r.bootMs} ms, script exited ${r.exitCode}`;
  const err = r.stderr.trim() ? `\n--- qemu stderr ---\n${r.stderr.trim()}` : '';
  return `${how}; ${guest}${err}\n--- console tail (full log: ${r.logFile}) ---\n${tail(r.console)}`;
}

let missing: string | null | undefined;

/** Why e2e tests cannot run here (QEMU 10 absent), or null when they can. */
export function qemuMissingReason(): string | null {
  if (missing !== undefined) return missing;
  try {
    const v = execFileSync(QEMU, ['--version'], { encoding: 'utf8' });
    const major = Number(/version (\d+)/.exec(v)?.[1] ?? 0);
    missing = major >= 10 ? null : `${QEMU} is version ${major}, the e2e tests need 10`;
  } catch {
    missing = `${QEMU} is not installed`;
  }
  return missing;
}

export function qemuAvailable(): boolean {
  return qemuMissingReason() === null;
}
