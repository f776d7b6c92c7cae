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
/** Where lines go; `level` lets a sink such as syslog set each line's priority. */
export type LogSink = (line: string, level: LogLevel) => void;
let sink: LogSink = (line) => process.stderr.write(line + '\n');
const debuggers = new Map<string, createDebug.Debugger>();

export function configureLog(opts: { level?: LogLevel; format?: 'text' | 'json'; sink?: LogSink }): void {
  if (opts.level !== undefined) level = opts.level;
  if (opts.format !== undefined) json = opts.format === 'json';
  if (opts.sink !== undefined) sink = opts.sink;
  if (RANK[level] >= RANK.debug) {
    const cur = process.env.DEBUG;
    createDebug.enable([cur, 'virtiofsd-ts:*'].filter(Boolean).join(','));
  }
  createDebug.log = function (this: { namespace?: string }, ...args: unknown[]) {
    const text = util.format(...args);
    if (!json) return sink(text, 'debug');
    // The debug package put "<ISO date> <namespace> " in front when not on a TTY: keep the message only.
    const ns = this?.namespace ?? 'virtiofsd-ts';
    const at = text.indexOf(ns + ' ');
    const msg = at >= 0 && at < 40 ? text.slice(at + ns.length + 1) : text;
    const unique = /\bunique=(\d+)/.exec(msg)?.[1];
    sink(JSON.stringify({ time: new Date().toISOString(), level: 'debug', area: ns.replace(/^virtiofsd-ts:/, ''), msg, ...(unique !== undefined ? { unique } : {}) }), 'debug');
  };
}

export function logLevel(): LogLevel {
  return level;
}

function emit(lvl: LogLevel, area: string, msg: string, fields?: Record<string, unknown>): void {
  if (RANK[lvl] > RANK[level]) return;
  if (json) {
    sink(JSON.stringify({ time: new Date().toISOString(), level: lvl, area, msg, ...fields }), lvl);
  } else {
    const extra = fields ? ' ' + Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`).join(' ') : '';
    sink(`[${new Date().toISOString()} ${lvl.toUpperCase()} ${area}] ${msg}${extra}`, lvl);
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
