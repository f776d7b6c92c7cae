/**
 * --syslog: Node has no unix datagram sockets, so /dev/log is reached through ONE long-lived
 * logger(1) child fed line by line on its stdin, each line with its own <PRI> prefix
 * (`--prio-prefix`; facility daemon). If logger is missing or dies, lines go to stderr again, with a
 * warning, so nothing is lost silently.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { LogLevel } from '../log.js';
import { which } from '../which.js';

const LOG_DAEMON = 3;
const SEVERITY: Record<LogLevel, number> = { off: 7, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

export interface SyslogSink {
  sink(line: string, level?: LogLevel): void;
  close(): void;
}

/**
 * Start the logger child. Returns undefined (the caller keeps stderr and warns) when logger(1) is
 * not installed or there is no /dev/log. `socket` overrides /dev/log (tests).
 */
export function startSyslog(opts: { tag?: string; socket?: string; fallback?: (line: string) => void } = {}): SyslogSink | undefined {
  const bin = which('logger');
  // Without a syslog socket logger exits at once and the first lines would be lost in its pipe.
  if (bin === undefined || !fs.existsSync(opts.socket ?? '/dev/log')) return undefined;
  const fallback = opts.fallback ?? ((line: string) => process.stderr.write(line + '\n'));
  const args = ['--socket-errors=off', '--prio-prefix', '-t', opts.tag ?? 'virtiofsd-ts', `--id=${process.pid}`];
  if (opts.socket !== undefined) args.push('--socket', opts.socket);
  let child: ChildProcess | undefined = spawn(bin, args, { stdio: ['pipe', 'ignore', 'inherit'] });
  const lost = (why: string) => {
    if (child === undefined) return;
    child = undefined;
    fallback(`[${new Date().toISOString()} WARN log] syslog: logger(1) ${why}; logging to stderr from now on`);
  };
  child.on('error', (e) => lost(`failed: ${e.message}`));
  child.on('exit', (code, sig) => lost(`exited (${code ?? sig})`));
  child.stdin!.on('error', (e) => lost(`stdin: ${e.message}`));
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  return {
    sink(line, level = 'info') {
      if (child === undefined) return fallback(line);
      const pri = `<${LOG_DAEMON * 8 + SEVERITY[level]}>`;
      child.stdin!.write(pri + line.split('\n').join('\n' + pri) + '\n');
    },
    close() {
      const c = child;
      child = undefined;
      c?.stdin?.end();
    },
  };
}
