/**
 * The daemon: listen, serve one front-end at a time, and after a disconnect either exit (the
 * virtiofsd behaviour libvirt expects) or, with `persistent`, release everything that belonged to
 * the connection and wait for the next one.
 */
import { Listener, type ListenOptions } from '../vhost-user/listener.js';
import { Backend } from '../vhost-user/backend.js';
import type { VirtioDevice } from '../vhost-user/device.js';
import { logger } from '../log.js';

const log = logger('daemon');

export interface DaemonOptions extends ListenOptions {
  persistent?: boolean;
}

export class Daemon {
  private readonly listener: Listener;
  private current: Backend | undefined;
  private stopping = false;
  /** Called with each new back-end (tests observe the requests it sees). */
  onConnection: ((b: Backend) => void) | undefined;

  constructor(private readonly opts: DaemonOptions, private readonly device: VirtioDevice) {
    this.listener = new Listener(opts);
  }

  /**
   * Serve until the front-end goes (or forever with `persistent`, until stop()). `adopted` is a
   * connection handed over by a previous daemon (live upgrade), served first.
   */
  async run(adopted?: Backend): Promise<void> {
    try {
      while (!this.stopping) {
        let b = adopted;
        adopted = undefined;
        if (b === undefined) {
          let fd: number;
          try {
            fd = await this.listener.accept();
          } catch (e) {
            if (this.stopping) break;
            throw e;
          }
          if (this.stopping) break;
          log.info('front-end connected');
          b = new Backend(fd, this.device);
        }
        this.current = b;
        this.onConnection?.(b);
        const err = await b.conn.done;
        if (err !== undefined) log.error(`front-end connection failed: ${(err as { code?: string }).code ?? ''} ${err.message}`);
        else log.info('front-end disconnected');
        await b.teardown();
        this.current = undefined;
        if (!this.opts.persistent) break;
        log.info('waiting for the next front-end (--persistent)');
      }
    } finally {
      this.listener.close();
    }
  }

  get backend(): Backend | undefined {
    return this.current;
  }

  /** The listening socket's fd (handed over on a live upgrade). */
  get listenFd(): number {
    return this.listener.fd;
  }

  /** Drop the current connection (its in-flight requests complete) and stop listening. */
  async stop(): Promise<void> {
    this.stopping = true;
    const b = this.current;
    if (b !== undefined) b.conn.close();
    else this.listener.close();
  }
}
