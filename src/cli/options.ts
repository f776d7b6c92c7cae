/**
 * Command-line flags, compatible with the Rust virtiofsd's (and the legacy C virtiofsd's `-o`
 * options), validated into one Options object. Every error names the flag and what would be valid.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { isLoopback } from '../metrics/http.js';
import type { MigrationOptions } from '../migration/migratable.js';
import { defaultSandbox, type SandboxMode } from '../sandbox/mode.js';
import { parseModcaps } from '../sandbox/capabilities.js';
import type { SeccompMode } from '../sandbox/seccomp.js';
import { DEFAULT_MAX_HANDLES, DEFAULT_MAX_INODES } from '../passthrough/options.js';
import { MAX_POLL_US } from '../vhost-user/vring.js';

export type CacheMode = 'auto' | 'always' | 'never' | 'metadata';
export type InodeFileHandles = 'never' | 'prefer' | 'mandatory';

export interface Options {
  socketPath?: string;
  fd?: number;
  socketGroup?: string;
  sharedDir: string;
  tag?: string;
  cache: CacheMode;
  threadPoolSize: number;
  /** Busy-poll window of the rings after activity, µs (0: wait for kicks). */
  pollUs: number;
  /** false (--no-inline-calls): every filesystem call goes to the worker pool. */
  inlineCalls: boolean;
  logLevel: LogLevel;
  logFormat: 'text' | 'json';
  syslog: boolean;
  xattr: boolean;
  posixAcl: boolean;
  writeback: boolean;
  readonly: boolean;
  announceSubmounts: boolean;
  allowDirectIo: boolean;
  readdirplus: boolean;
  killprivV2: boolean;
  inodeFileHandles: InodeFileHandles;
  rlimitNofile?: number;
  /** --max-inodes: most nodeids the guest may hold (root included); past it new ones answer ENFILE. */
  maxInodes: number;
  /** --max-handles: most open files and directories; past it OPEN/CREATE/OPENDIR answer ENFILE. */
  maxHandles: number;
  persistent: boolean;
  pidFile?: string;
  requestQueues: number;
  /** --sandbox: namespace (default as root), chroot or none (default otherwise). */
  sandbox: SandboxMode;
  /** --modcaps: capabilities added to (+name) or removed from (-name) the set the sandbox keeps. */
  modcaps?: string;
  /** --seccomp: the deny-list filter's action (default kill when sandboxed, none otherwise). */
  seccomp: SeccompMode;
  migration: MigrationOptions;
  /** --upgrade-socket: where this daemon waits for a successor (and, with --take-over, finds its predecessor). */
  upgradeSocket?: string;
  takeOver: boolean;
  /** --metrics HOST:PORT: where to serve Prometheus metrics (undefined: no metrics endpoint). */
  metrics?: { host: string; port: number };
  /** --uid-map / --gid-map as libvirt passes them (':ns:host:count:'); accepted, not applied (no sandbox). */
  uidMap: string[];
  gidMap: string[];
}

/**
 * --poll-us's default: the longest adaptive polling window (vring.ts, fs-pool.c). A guest's next
 * request after a reply comes within it when the guest runs request after request; 100 µs measured
 * alike to fixed windows of 100 and 200 µs at queue depth 1 (docs/benchmarks.md).
 */
export const DEFAULT_POLL_US = 100;

export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export const HELP = `Usage: virtiofsd-ts [OPTIONS] --socket-path PATH --shared-dir DIR
A vhost-user virtio-fs back-end: serves DIR to a VM whose QEMU connects to PATH.

Connection:
  --socket-path PATH        listen on this unix socket (a stale socket file is replaced)
  --fd FD                   use this inherited listening socket instead (as libvirt passes it)
  --socket-group GROUP      group owning the socket file (mode 0660)
  --tag TAG                 virtio-fs tag the device reports over GET_CONFIG (QEMU sets its own)
  --persistent              after the front-end disconnects, serve the next one instead of exiting
  --max-request-queues N    most request queues a front-end may use (default 16)
  --pid-file PATH           write the daemon's pid here; removed at exit

Filesystem:
  --shared-dir DIR          the directory to share (also -o source=DIR)
  --cache MODE              auto | always | never | metadata (default auto)
  --readonly                refuse every write with EROFS
  --xattr / --no-xattr      extended attributes (default off, as virtiofsd)
  --posix-acl               POSIX ACLs (implies --xattr)
  --writeback               writeback caching in the guest
  --allow-direct-io         honour the guest's O_DIRECT
  --no-readdirplus          do not use READDIRPLUS
  --announce-submounts      tell the guest about submounts (FUSE_SUBMOUNTS)
  --killpriv-v2 / --no-killpriv-v2   FUSE_HANDLE_KILLPRIV_V2 (default on)
  --inode-file-handles MODE never | prefer | mandatory (default prefer)
  --rlimit-nofile N         raise RLIMIT_NOFILE to N at start
  --max-inodes N            most inodes the guest may hold at once; a new one past it answers
                            ENFILE (default 1000000)
  --max-handles N           most files and directories open at once; an open past it answers
                            ENFILE (default 100000)

Migration (QEMU 10 with SET_DEVICE_STATE_FD; both daemons see the same directory, e.g. CephFS):
  --migration-mode MODE     find-paths | file-handles: how inodes are described (default find-paths)
  --migration-on-error M    abort | guest-error: an inode not found fails the migration, or
                            becomes ESTALE to the guest (default abort)
  --migration-verify-handles  destination: check each path found is the same inode
  --migration-confirm-paths   source: re-resolve paths just before saving (follows host renames)

Live upgrade (replace the daemon under a running guest):
  --upgrade-socket PATH     listen here for a successor daemon
  --take-over               start as the successor of the daemon listening at --upgrade-socket:
                            take over its guest connection and state, and it exits

Runtime:
  --thread-pool-size N      threads for blocking filesystem calls (default 16)
  --poll-us N               the longest busy-polling window, in microseconds: after a queue was
                            last busy the daemon keeps looking at it (the guest does not kick
                            meanwhile) and a worker keeps looking for the next calls, instead of
                            sleeping. The window adapts: it grows while the guest sends request
                            after request within N us and shrinks to nothing when it pauses
                            longer, so an idle or slow guest costs no polling (default 100; 0: off;
                            see docs/benchmarks.md)
  --no-inline-calls         run every filesystem call on the worker pool; by default the calls that
                            cannot wait for I/O run on the event-loop thread: reads the page cache
                            answers (RWF_NOWAIT) and attributes of open inodes on ext4, XFS, Btrfs,
                            F2FS and tmpfs (never on CephFS, NFS or FUSE mounts)
  --log-level LEVEL         error | warn | info | debug | trace | off (default info)
  --log-format FORMAT       text | json (default text)
  --syslog                  log to syslog (via logger(1)) instead of stderr
  --metrics HOST:PORT       serve Prometheus metrics on http://HOST:PORT/metrics (HOST defaults to
                            127.0.0.1; port 0 picks a free port, logged at start)
  --metrics-allow-remote    allow a --metrics HOST that is not a loopback address
  --uid-map :NS:HOST:N:     accepted for libvirt; not applied (no user namespace sandbox yet)
  --gid-map :NS:HOST:N:     accepted for libvirt; not applied
  --sandbox MODE            namespace: own mount namespace whose root holds only the shared dir
                            and /proc (default as root); chroot: chroot into the shared dir; none.
                            namespace and chroot also drop capabilities (see --modcaps)
  --modcaps LIST            capabilities to keep (+name) or drop (-name) besides the default set
                            (chown, dac_override, fowner, fsetid, setgid, setuid, mknod, setfcap,
                            and dac_read_search with file handles), e.g. --modcaps=+sys_admin:-mknod
  --seccomp MODE            kill | log | trap | none: a seccomp filter on every thread that denies
                            mounts, namespaces, exec, ptrace, module and key calls (default kill
                            with a sandbox, none without)
  --print-capabilities      print the vhost-user.json capabilities libvirt reads, and exit
  -V, --version             print the version and exit
  -h, --help                print this help and exit

Legacy -o options (C virtiofsd): source=DIR, cache=MODE, xattr, no_xattr, posix_acl, writeback,
  no_writeback, announce_submounts, readdirplus, no_readdirplus, allow_direct_io, killpriv_v2,
  no_killpriv_v2. -f and --foreground are accepted (we never daemonize); -d means --log-level=debug.
`;

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`${flag}: '${v}' is not one of ${allowed.join(', ')}`);
  return v as T;
}

function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag}: '${v}' is not a whole number from ${min} to ${max}`);
  return Number(v);
}

export type Parsed = { kind: 'help' } | { kind: 'version' } | { kind: 'capabilities' } | { kind: 'run'; options: Options };

export function parseOptions(argv: string[]): Parsed {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'socket-path': { type: 'string' },
        fd: { type: 'string' },
        'socket-group': { type: 'string' },
        'shared-dir': { type: 'string' },
        tag: { type: 'string' },
        cache: { type: 'string' },
        'thread-pool-size': { type: 'string' },
        'poll-us': { type: 'string' },
        'no-inline-calls': { type: 'boolean' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        syslog: { type: 'boolean' },
        metrics: { type: 'string' },
        'metrics-allow-remote': { type: 'boolean' },
        'uid-map': { type: 'string', multiple: true },
        'gid-map': { type: 'string', multiple: true },
        xattr: { type: 'boolean' },
        'no-xattr': { type: 'boolean' },
        'posix-acl': { type: 'boolean' },
        writeback: { type: 'boolean' },
        readonly: { type: 'boolean' },
        'announce-submounts': { type: 'boolean' },
        'allow-direct-io': { type: 'boolean' },
        'no-readdirplus': { type: 'boolean' },
        'killpriv-v2': { type: 'boolean' },
        'no-killpriv-v2': { type: 'boolean' },
        'inode-file-handles': { type: 'string' },
        'rlimit-nofile': { type: 'string' },
        'max-inodes': { type: 'string' },
        'max-handles': { type: 'string' },
        persistent: { type: 'boolean' },
        'pid-file': { type: 'string' },
        'max-request-queues': { type: 'string' },
        sandbox: { type: 'string' },
        modcaps: { type: 'string' },
        seccomp: { type: 'string' },
        'print-capabilities': { type: 'boolean' },
        'upgrade-socket': { type: 'string' },
        'take-over': { type: 'boolean' },
        'migration-mode': { type: 'string' },
        'migration-on-error': { type: 'string' },
        'migration-verify-handles': { type: 'boolean' },
        'migration-confirm-paths': { type: 'boolean' },
        foreground: { type: 'boolean', short: 'f' },
        debug: { type: 'boolean', short: 'd' },
        o: { type: 'string', short: 'o', multiple: true },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional.*$/s, '')} (see --help)`);
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  if (v['print-capabilities']) return { kind: 'capabilities' };

  const legacy: Record<string, string | true> = {};
  for (const group of v.o ?? []) {
    for (const item of group.split(',')) {
      if (item === '') continue;
      const eq = item.indexOf('=');
      legacy[eq < 0 ? item : item.slice(0, eq)] = eq < 0 ? true : item.slice(eq + 1);
    }
  }
  const known = ['source', 'cache', 'xattr', 'no_xattr', 'posix_acl', 'no_posix_acl', 'writeback', 'no_writeback', 'announce_submounts', 'readdirplus', 'no_readdirplus', 'allow_direct_io', 'no_allow_direct_io', 'killpriv_v2', 'no_killpriv_v2', 'log_level', 'sandbox', 'flock', 'no_flock', 'posix_lock', 'no_posix_lock'];
  for (const k of Object.keys(legacy)) if (!known.includes(k)) throw new UsageError(`-o ${k}: unknown option (known: ${known.join(', ')})`);
  const str = (k: string): string | undefined => (typeof legacy[k] === 'string' ? (legacy[k] as string) : undefined);

  const sharedDir = v['shared-dir'] ?? str('source');
  if (sharedDir === undefined) throw new UsageError('--shared-dir DIR is required (or -o source=DIR)');
  let st: fs.Stats;
  try {
    st = fs.statSync(sharedDir);
  } catch (e) {
    throw new UsageError(`--shared-dir ${sharedDir}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message}`);
  }
  if (!st.isDirectory()) throw new UsageError(`--shared-dir ${sharedDir}: not a directory`);

  if (v['socket-path'] === undefined && v.fd === undefined) throw new UsageError('--socket-path PATH or --fd FD is required');
  if (v['socket-path'] !== undefined && v.fd !== undefined) throw new UsageError('--socket-path and --fd are exclusive');
  if (v['socket-path'] !== undefined && Buffer.byteLength(v['socket-path']) > 107) throw new UsageError(`--socket-path: '${v['socket-path']}' is longer than the 107 bytes a unix socket path may have`);
  const fd = v.fd !== undefined ? int('--fd', v.fd, 0, 1 << 20) : undefined;
  if (v.tag !== undefined && (Buffer.byteLength(v.tag) < 1 || Buffer.byteLength(v.tag) > 36 || v.tag.includes('\0'))) throw new UsageError('--tag: must be 1 to 36 bytes');

  const logLevel = v.debug ? 'debug' : oneOf('--log-level', v['log-level'] ?? str('log_level') ?? 'info', LOG_LEVELS);
  const xattr = (v.xattr || legacy.xattr === true || v['posix-acl'] || legacy.posix_acl === true) && !(v['no-xattr'] || legacy.no_xattr === true);
  if ((v['posix-acl'] || legacy.posix_acl === true) && !xattr) throw new UsageError('--posix-acl needs extended attributes: drop --no-xattr');

  if (v['take-over'] && v['upgrade-socket'] === undefined) throw new UsageError('--take-over needs --upgrade-socket PATH (the running daemon\'s)');
  if (v['upgrade-socket'] !== undefined && Buffer.byteLength(v['upgrade-socket']) > 107) throw new UsageError('--upgrade-socket: path longer than 107 bytes');
  const sandbox = oneOf('--sandbox', v.sandbox ?? str('sandbox') ?? defaultSandbox(), ['namespace', 'chroot', 'none'] as const);
  const options: Options = {
    socketPath: v['socket-path'],
    fd,
    socketGroup: v['socket-group'],
    sharedDir,
    tag: v.tag,
    cache: oneOf('--cache', v.cache ?? legacyCache(str('cache')) ?? 'auto', ['auto', 'always', 'never', 'metadata'] as const),
    threadPoolSize: v['thread-pool-size'] !== undefined ? int('--thread-pool-size', v['thread-pool-size'], 0, 1024) : 16,
    pollUs: v['poll-us'] !== undefined ? int('--poll-us', v['poll-us'], 0, MAX_POLL_US) : DEFAULT_POLL_US,
    inlineCalls: !v['no-inline-calls'],
    logLevel,
    logFormat: oneOf('--log-format', v['log-format'] ?? 'text', ['text', 'json'] as const),
    syslog: v.syslog ?? false,
    xattr,
    posixAcl: (v['posix-acl'] ?? false) || legacy.posix_acl === true,
    writeback: ((v.writeback ?? false) || legacy.writeback === true) && legacy.no_writeback !== true,
    readonly: v.readonly ?? false,
    announceSubmounts: (v['announce-submounts'] ?? false) || legacy.announce_submounts === true,
    allowDirectIo: (v['allow-direct-io'] ?? false) || legacy.allow_direct_io === true,
    readdirplus: !(v['no-readdirplus'] || legacy.no_readdirplus === true),
    killprivV2: !(v['no-killpriv-v2'] || legacy.no_killpriv_v2 === true),
    inodeFileHandles: oneOf('--inode-file-handles', v['inode-file-handles'] ?? 'prefer', ['never', 'prefer', 'mandatory'] as const),
    rlimitNofile: v['rlimit-nofile'] !== undefined ? int('--rlimit-nofile', v['rlimit-nofile'], 1, 1 << 30) : undefined,
    maxInodes: v['max-inodes'] !== undefined ? int('--max-inodes', v['max-inodes'], 2, Number.MAX_SAFE_INTEGER) : DEFAULT_MAX_INODES,
    maxHandles: v['max-handles'] !== undefined ? int('--max-handles', v['max-handles'], 1, Number.MAX_SAFE_INTEGER) : DEFAULT_MAX_HANDLES,
    persistent: v.persistent ?? false,
    pidFile: v['pid-file'],
    requestQueues: v['max-request-queues'] !== undefined ? int('--max-request-queues', v['max-request-queues'], 1, 254) : 16,
    sandbox,
    modcaps: v.modcaps !== undefined ? modcaps(v.modcaps) : undefined,
    seccomp: oneOf('--seccomp', v.seccomp ?? (sandbox === 'none' ? 'none' : 'kill'), ['none', 'kill', 'log', 'trap'] as const),
    upgradeSocket: v['upgrade-socket'],
    takeOver: v['take-over'] ?? false,
    migration: {
      mode: oneOf('--migration-mode', v['migration-mode'] ?? 'find-paths', ['find-paths', 'file-handles'] as const),
      onError: oneOf('--migration-on-error', v['migration-on-error'] ?? 'abort', ['abort', 'guest-error'] as const),
      verifyHandles: v['migration-verify-handles'] ?? false,
      confirmPaths: v['migration-confirm-paths'] ?? false,
    },
    metrics: v.metrics !== undefined ? metricsAddress(v.metrics, v['metrics-allow-remote'] ?? false) : undefined,
    uidMap: (v['uid-map'] ?? []).map((m) => idMap('--uid-map', m)),
    gidMap: (v['gid-map'] ?? []).map((m) => idMap('--gid-map', m)),
  };
  if (options.sandbox === 'chroot' && options.takeOver) {
    // The successor's worker threads load the state before the sandbox, each with its own root:
    // chroot(2) would confine the JS thread only. (namespace mode's pivot_root moves every thread.)
    throw new UsageError('--take-over cannot be combined with --sandbox=chroot; use --sandbox=namespace or none');
  }
  return { kind: 'run', options };
}

function modcaps(v: string): string {
  try {
    parseModcaps(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return v;
}

/** The C virtiofsd's `-o cache=none` (what older libvirt passes) is `never`. */
function legacyCache(v: string | undefined): string | undefined {
  return v === 'none' ? 'never' : v;
}

/** `:NS:HOST:COUNT:` as libvirt passes --uid-map/--gid-map (the Rust virtiofsd's syntax). */
function idMap(flag: string, v: string): string {
  if (!/^:\d+:\d+:\d+:$/.test(v)) throw new UsageError(`${flag}: '${v}' is not :NAMESPACE_ID:HOST_ID:COUNT:`);
  return v;
}

/** `HOST:PORT`, `[V6]:PORT`, `:PORT` or `PORT` (host 127.0.0.1); a remote host needs --metrics-allow-remote. */
export function metricsAddress(v: string, allowRemote: boolean): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v) ?? /^()()(\d+)$/.exec(v);
  if (m === null) throw new UsageError(`--metrics: '${v}' is not HOST:PORT`);
  const host = m[1] || m[2] || '127.0.0.1';
  const port = int('--metrics', m[3]!, 0, 65535);
  if (!allowRemote && !isLoopback(host)) throw new UsageError(`--metrics: ${host} is not a loopback address; metrics are unauthenticated: add --metrics-allow-remote to serve them there`);
  return { host, port };
}

/** The vhost-user.json capabilities libvirt reads (docs/interop/vhost-user.json, "fs" type). */
export function capabilities(): object {
  return { type: 'fs', features: ['migrate-precopy', 'separate-options'] };
}
