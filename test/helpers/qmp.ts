/**
 * A QMP client (QEMU Machine Protocol: JSON lines over a unix socket) for long-running e2e tests:
 * hot-plug, migration, status. One client per QEMU: QEMU serves one QMP connection per socket.
 *
 * Errors carry a stable `code`: QMP_CONNECT (no socket before the deadline), QMP_ERROR (QEMU
 * refused the command; `errorClass`/`desc` are QEMU's), QMP_CLOSED, QMP_TIMEOUT, QMP_PROTOCOL.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** QEMU answered a command with {"error": {"class", "desc"}}. */
export class QmpError extends Error {
  readonly code = 'QMP_ERROR';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
  }
}

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

interface Pending {
  command: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

interface EventWaiter {
  name: string;
  match(e: QmpEvent): boolean;
  resolve(e: QmpEvent): void;
  reject(e: Error): void;
}

export class QmpClient {
  /** Every event received, in order. */
  readonly events: QmpEvent[] = [];
  /** The server's greeting ({"QMP": {"version": …, "capabilities": …}}). */
  greeting: Record<string, unknown> = {};
  private readonly consumed = new Set<QmpEvent>();
  private readonly pending = new Map<number, Pending>();
  private waiters: EventWaiter[] = [];
  private nextId = 1;
  private buffered = '';
  private greeted?: (g: Record<string, unknown>) => void;
  private closedError?: Error;

  private constructor(private readonly sock: net.Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', () => {}); // the 'close' that follows settles everything
    sock.on('close', () => this.onClose());
  }

  /**
   * Connects to QEMU's `-qmp unix:PATH,server=on,wait=off` socket, retrying while QEMU has not
   * created it yet, then negotiates capabilities (leaves QMP's capabilities-negotiation mode).
   */
  static async connect(socketPath: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sock = await new Promise<net.Socket | Error>((resolve) => {
        const s = net.createConnection(socketPath);
        s.once('connect', () => resolve(s));
        s.once('error', (e) => resolve(e));
      });
      if (sock instanceof net.Socket) {
        const client = new QmpClient(sock);
        const greeting = new Promise<Record<string, unknown>>((resolve) => (client.greeted = resolve));
        client.greeting = await client.within(greeting, Math.max(1000, deadline - Date.now()), 'greeting');
        await client.execute('qmp_capabilities');
        return client;
      }
      if (Date.now() > deadline) throw failure('QMP_CONNECT', `QMP: cannot connect to ${socketPath}: ${sock.message}`);
      await sleep(50);
    }
  }

  /** Runs a command; resolves with its `return` value, rejects with QmpError on an `error` reply. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args) msg.arguments = args;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(JSON.stringify(msg) + '\n');
    });
  }

  /**
   * Resolves with the oldest not-yet-returned event named `name` (and passing `match`), including
   * events that arrived before the call, so a test cannot miss an event by asking late.
   */
  waitForEvent(name: string, timeoutMs = 30_000, match: (e: QmpEvent) => boolean = () => true): Promise<QmpEvent> {
    const seen = this.events.find((e) => e.event === name && !this.consumed.has(e) && match(e));
    if (seen) {
      this.consumed.add(seen);
      return Promise.resolve(seen);
    }
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<QmpEvent>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Drop the waiter so a late event stays available to the next caller.
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(failure('QMP_TIMEOUT', `QMP: no event ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = <A>(f: (a: A) => void) => (a: A) => {
        clearTimeout(timer);
        f(a);
      };
      const w: EventWaiter = { name, match, resolve: done(resolve), reject: done(reject) };
      this.waiters.push(w);
    });
  }

  /** Closes the connection (QEMU keeps running). */
  async close(): Promise<void> {
    if (this.sock.destroyed) return;
    await new Promise<void>((resolve) => {
      this.sock.once('close', () => resolve());
      this.sock.end();
      setTimeout(() => this.sock.destroy(), 1000).unref();
    });
  }

  private within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(failure('QMP_TIMEOUT', `QMP: no ${what} within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.sock.destroy(failure('QMP_PROTOCOL', `QMP: not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if ('QMP' in msg) {
      this.greeted?.(msg);
    } else if (typeof msg.event === 'string') {
      const ev = msg as unknown as QmpEvent;
      this.events.push(ev);
      const w = this.waiters.find((x) => x.name === ev.event && x.match(ev));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        this.consumed.add(ev);
        w.resolve(ev);
      }
    } else if (typeof msg.id === 'number' && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id)!;
      this.pending.delete(msg.id);
      const err = msg.error as { class?: string; desc?: string } | undefined;
      if (err) p.reject(new QmpError(p.command, err.class ?? '?', err.desc ?? '?'));
      else p.resolve(msg.return);
    }
  }

  private onClose(): void {
    this.closedError = failure('QMP_CLOSED', 'QMP: connection closed');
    for (const p of this.pending.values()) {
      // QEMU may close the socket on `quit` before its reply reaches us: that is success.
      if (p.command === 'quit') p.resolve({});
      else p.reject(this.closedError);
    }
    this.pending.clear();
    for (const w of this.waiters) w.reject(this.closedError);
    this.waiters = [];
  }
}
