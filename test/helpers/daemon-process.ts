/**
 * Run a vhost-user-fs daemon as a child process (ours by default, or any peer command line) and
 * collect its log. Plain helper: no ava import, so demos and benchmarks can use it too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ourBinary = path.join(repoRoot, 'bin/virtiofsd-ts');

export interface DaemonProcess {
  proc: ChildProcess;
  socketPath: string;
  /** Everything the daemon printed so far (stdout + stderr). */
  log(): string;
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface SpawnOptions {
  sharedDir: string;
  socketPath?: string;
  /** Extra flags for our daemon. */
  args?: string[];
  /** Run this command instead of ours; `{socket}` and `{dir}` in its arguments are substituted. */
  command?: string[];
  env?: NodeJS.ProcessEnv;
  /** Wait until the socket file exists (default true; a --take-over successor reuses an existing one). */
  waitForSocket?: boolean;
}

export async function spawnDaemon(opts: SpawnOptions): Promise<DaemonProcess> {
  const socketPath = opts.socketPath ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vfs-sock-')), 'vhost.sock');
  const argv = opts.command !== undefined
    ? opts.command.map((a) => a.replaceAll('{socket}', socketPath).replaceAll('{dir}', opts.sharedDir))
    : [process.execPath, ourBinary, '--socket-path', socketPath, '--shared-dir', opts.sharedDir, ...(opts.args ?? [])];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    listeners.forEach((f) => f());
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  // 'close', not 'exit': 'exit' can come before the last output was read from the pipes.
  const exited = new Promise<number | string>((r) => proc.on('close', (code, sig) => r(code ?? sig ?? 'unknown')));
  const waitForLog = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(re);
        if (m) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`daemon did not log ${re} within ${timeoutMs} ms; log:\n${out.slice(-3000)}`));
      }, timeoutMs);
      listeners.add(check);
      void exited.then(() => setTimeout(check, 10));
      check();
    });
  // Ready when the socket exists and accepts (QEMU connects as a client and fails otherwise).
  const deadline = Date.now() + 15_000;
  while (opts.waitForSocket !== false && !fs.existsSync(socketPath)) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`daemon did not create ${socketPath}; log:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    proc,
    socketPath,
    log: () => out,
    waitForLog,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}
