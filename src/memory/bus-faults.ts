/**
 * Guest memory that vanished under us: a front-end shrank (ftruncate) a memory fd after sharing it,
 * and an access past its new end raised SIGBUS. native/bus.c keeps the process alive (a zero page
 * over the faulting page) and signals an eventfd; this module turns that into a callback, so the
 * connection whose memory it was can be dropped with a clear error instead of serving from zeros.
 */
import * as native from '../native/index.js';

type Listener = (addr: bigint, count: bigint) => void;

const listeners = new Set<Listener>();
let poll: native.PollHandle | undefined;

function fire(): void {
  try {
    native.eventfdRead(native.busFaultFd());
  } catch {
    /* EAGAIN: already read */
  }
  const [count, addr] = native.busFaults();
  for (const l of [...listeners]) l(addr, count);
}

/** Call `l` after each rescued fault (on the JS thread, soon after the faulting access). Returns the unsubscribe. */
export function onGuestMemoryFault(l: Listener): () => void {
  listeners.add(l);
  poll ??= native.pollStart(native.busFaultFd(), native.POLL_READABLE, fire);
  return () => {
    listeners.delete(l);
    if (listeners.size === 0 && poll !== undefined) {
      native.pollStop(poll);
      poll = undefined;
    }
  };
}
