/**
 * The daemon's log: levels as virtiofsd names them (error, warn, info, debug, trace, off), one line
 * per event on stderr, plain or JSON. Debug and trace lines go through the `debug` package's
 * namespaces (virtiofsd-ts:<area>), which `--log-level=debug` enables; DEBUG=... works as usual.
 */
import createDebug from 'debug';
import util from 'node:util';

export type LogLevel = 'off' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
const RANK: Record<LogLevel, number> = { off: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

let level: LogLevel = 'info';
let json = false;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');
const debuggers = new Map<string, createDebug.Debugger>();

export function configureLog(opts: { level?: LogLevel; format?: 'text' | 'json'; sink?: (line: string) => void }): void {
  if (opts.level !== undefined) level = opts.level;
  if (opts.format !== undefined) json = opts.format === 'json';
  if (opts.sink !== undefined) sink = opts.sink;
  if (RANK[level] >= RANK.debug) {
    const cur = process.env.DEBUG;
    createDebug.enable([cur, 'virtiofsd-ts:*'].filter(Boolean).join(','));
  }
  createDebug.log = (...args: unknown[]) => sink(util.format(...args));
}

export function logLevel(): LogLevel {
  return level;
}

function emit(lvl: LogLevel, area: string, msg: string, fields?: Record<string, unknown>): void {
  if (RANK[lvl] > RANK[level]) return;
  if (json) {
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, area, msg, ...fields }));
  } else {
    const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`).join(' ') : '';
    sink(`[${new Date().toISOString()} ${lvl.toUpperCase()} ${area}] ${msg}${extra}`);
  }
}

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  /** Through the `debug` package; cheap when disabled (check `debugEnabled` before building strings). */
  debug(msg: string, ...args: unknown[]): void;
  readonly debugEnabled: boolean;
}

/** A logger for one area of the daemon (vhost-user, fuse, passthrough, ...). */
export function logger(area: string): Logger {
  let d = debuggers.get(area);
  if (d === undefined) {
    d = createDebug(`virtiofsd-ts:${area}`);
    debuggers.set(area, d);
  }
  const dbg = d;
  return {
    error: (m, f) => emit('error', area, m, f),
    warn: (m, f) => emit('warn', area, m, f),
    info: (m, f) => emit('info', area, m, f),
    debug: (m, ...a) => dbg(m, ...a),
    get debugEnabled() {
      return dbg.enabled;
    },
  };
}
