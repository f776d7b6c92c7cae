/*
 * The machinery behind the async fs shims: argument parsing by signature, a private worker pool,
 * dedicated threads for waits that may never end, and completion back on the JS thread.
 *
 * Why a private pool and not libuv's (napi_async_work):
 *  - Workers keep the last request's credentials (creds.c caches them per thread) and each has its
 *    own umask and cwd (unshare(CLONE_FS) once per worker). Neither may leak into libuv's pool,
 *    which also runs Node's fs, dns and zlib work.
 *  - A slow filesystem (a CephFS round trip) cannot starve Node's own fs calls, and vice versa.
 *  - It is cheaper per call: no async_hooks resource per request and completions are delivered in
 *    batches (one uv_async_t wake-up settles every request finished since the last one).
 *    bench/native-fs-overhead.ts measures it.
 *
 * Workers are started lazily by the first request (so a caller that chroots, pivots root or drops
 * capabilities first gets workers that see that: unshare(CLONE_FS) snapshots root and cwd, and
 * capabilities are per thread) and live as long as the process, which is why the library pins
 * itself in memory (pin_library). Their signals are blocked so signal handling stays on Node's
 * threads.
 *
 * Blocking waits (F_SETLKW, F_OFD_SETLKW, flock without LOCK_NB) never run on a worker: each gets a
 * short-lived detached thread, so any number of waits leaves the pool free. cancelBlocking(id)
 * ends such a wait with EINTR (pthread_cancel: fcntl(F_SETLKW) is a cancellation point, which glibc
 * >= 2.34 implements without the lost-wakeup race; flock() runs with asynchronous cancellation).
 * Unwinding needs libgcc_s, which node itself links, so it is found even inside a chroot. At most
 * FS_MAX_WAITERS waits at once; more reject ENOLCK.
 *
 * Argument signature characters (one per JS argument, in order; ints fill r->a[], names r->s[]):
 *   i int32   u uint32   l int64 (number or bigint)   o int64 offset or null (-> -1)
 *   n name: string (UTF-8) or bytes (any byte but NUL), copied; >= PATH_MAX -> ENAMETOOLONG
 *   b bytes (TypedArray/DataView/ArrayBuffer), used in place and kept alive   B bytes or null
 *   v array of bytes (an iovec)   h a file handle blob, copied   w blocking-wait id (uint32, 0 none)
 * After the signature an optional context object {uid, gid, groups?, umask?} (async ops only).
 */
#include "fs.h"
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <time.h>
#include <uv.h>

#define FS_DEFAULT_THREADS 4
#define FS_MAX_THREADS 256
#define FS_MAX_WAITERS 1024
#define FS_THREAD_STACK (256 * 1024)

/* ---- completion port: one per Node environment ---- */

typedef struct {
  const fs_op *op;
  fsport *port;
  bool async_work; /* benchmark only: dispatch through napi_async_work */
} fs_binding;

struct fsport {
  uv_async_t async;
  napi_env env;
  napi_async_context ctx;
  _Atomic(fsreq *) done; /* finished, not yet settled: a lock-free LIFO any thread pushes on */
  atomic_int posting;    /* threads between checking `closed` and their uv_async_send */
  atomic_bool closed;    /* env torn down: finished requests are dropped */
  int64_t inflight;      /* JS thread only */
  bool wake_due;         /* JS thread only: calls were queued this loop turn, workers not woken yet */
  uv_check_t check;      /* after the poll phase (and setImmediate): wake workers for this turn's calls */
  uv_prepare_t prepare;  /* before the loop blocks: the same, for calls made in other phases */
  fs_binding *bindings;
};

static void port_wake(fsport *p);

static void req_free(napi_env env, fsreq *r) {
  if (env != NULL)
    for (int i = 0; i < r->nkeep; i++) napi_delete_reference(env, r->keep[i]);
  if (r->keep != r->keepbuf) free(r->keep);
  if (r->iov != r->iovbuf) free(r->iov);
  for (int j = 0; j < FS_MAX_NAMES; j++)
    if (r->s[j] != NULL && r->s[j] != r->sbuf[j]) free(r->s[j]);
  free(r->own);
  free(r);
}

/*
 * Any thread: hand a finished request back to its env. Lock-free: a push on the port's stack, and a
 * uv_async_send only by the push that found it empty (the JS thread takes the whole stack at once,
 * so a non-empty stack means a wake-up is already on its way). `posting` and `closed` are a Dekker
 * pair with port_cleanup(): either this post sees `closed` and drops the request, or the cleanup
 * waits for it to finish and frees what it pushed.
 */
static void port_post(fsreq *r) {
  fsport *p = r->port;
  atomic_fetch_add(&p->posting, 1);
  if (atomic_load(&p->closed)) {
    atomic_fetch_sub(&p->posting, 1);
    req_free(NULL, r); /* its references died with the env */
    return;
  }
  fsreq *old = atomic_load_explicit(&p->done, memory_order_relaxed);
  do r->next = old;
  while (!atomic_compare_exchange_weak_explicit(&p->done, &old, r, memory_order_release, memory_order_relaxed));
  if (old == NULL) uv_async_send(&p->async);
  atomic_fetch_sub(&p->posting, 1);
}

/* Take every finished request, oldest first. */
static fsreq *port_take(fsport *p) {
  fsreq *r = atomic_exchange_explicit(&p->done, NULL, memory_order_acquire), *fifo = NULL;
  while (r != NULL) {
    fsreq *next = r->next;
    r->next = fifo;
    fifo = r;
    r = next;
  }
  return fifo;
}

static napi_value errno_error(napi_env env, int err, const char *sys) {
  napi_value e;
  vfs_throw_errno(env, err, sys);
  napi_get_and_clear_last_exception(env, &e);
  return e;
}

/* JS thread: settle every finished request. */
static void port_drain(uv_async_t *h) {
  fsport *p = h->data;
  napi_env env = p->env;
  fsreq *r = port_take(p);
  if (r == NULL) return;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value resource;
  napi_create_object(env, &resource);
  napi_callback_scope cs; /* closing it runs the microtasks (the promise reactions) */
  napi_open_callback_scope(env, resource, p->ctx, &cs);
  while (r != NULL) {
    fsreq *next = r->next;
    napi_handle_scope s;
    napi_open_handle_scope(env, &s);
    if (r->err != 0) {
      napi_reject_deferred(env, r->deferred, errno_error(env, r->err, r->op->sys));
    } else {
      napi_value v = r->op->pack(env, r);
      if (v != NULL) {
        napi_resolve_deferred(env, r->deferred, v);
      } else { /* packing failed (out of memory): the exception is the result */
        napi_get_and_clear_last_exception(env, &v);
        napi_reject_deferred(env, r->deferred, v);
      }
    }
    napi_close_handle_scope(env, s);
    req_free(env, r);
    if (--p->inflight == 0) uv_unref((uv_handle_t *)&p->async);
    r = next;
  }
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, scope);
}

static void port_cleanup(void *arg) {
  fsport *p = arg;
  atomic_store(&p->closed, true);
  while (atomic_load(&p->posting) != 0) sched_yield();
  fsreq *r = port_take(p);
  while (r != NULL) {
    fsreq *next = r->next;
    req_free(p->env, r);
    r = next;
  }
  napi_async_destroy(p->env, p->ctx);
  /* The port itself is never freed: workers may still hold requests that point at it. */
  uv_close((uv_handle_t *)&p->async, NULL);
  uv_close((uv_handle_t *)&p->check, NULL);
  uv_close((uv_handle_t *)&p->prepare, NULL);
}

/* ---- running one request on the current thread ---- */

static __thread bool t_private_fs; /* unshare(CLONE_FS) done: umask is this thread's own */
static __thread int t_unshare_err;
static __thread int t_base_umask, t_cur_umask;

/* Capabilities are per thread. fsDropCaps() cuts the calling (JS) thread's sets at once, and every
 * worker started before it (a --take-over successor loads its state first) cuts its own before its
 * next call: one mechanism for both. The mask is written before the generation is bumped. */
static _Atomic unsigned caps_gen;
static uint64_t caps_keep;
static __thread unsigned t_caps_gen;

/* This thread: bounding set, then effective and permitted, to caps_keep; inheritable emptied.
 * Returns 0 or the errno of capget/capset. Bounding-set drops stop at EINVAL (past the kernel's
 * last capability); EPERM (no CAP_SETPCAP) leaves the bounding set, the sets below still shrink. */
static int apply_caps(void) {
  unsigned g = atomic_load_explicit(&caps_gen, memory_order_acquire);
  if (g == t_caps_gen) return 0;
  t_caps_gen = g;
  for (int bit = 0; bit < 64; bit++)
    if (!((caps_keep >> bit) & 1) && prctl(PR_CAPBSET_DROP, bit, 0, 0, 0) != 0 && errno == EINVAL) break;
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    uint32_t keep = (uint32_t)(caps_keep >> (32 * i));
    d[i].effective &= keep;
    d[i].permitted &= keep;
    d[i].inheritable = 0;
  }
  return syscall(SYS_capset, &h, d) != 0 ? errno : 0;
}

static void run(fsreq *r) {
  (void)apply_caps(); /* a failure leaves this worker's sets as they were; the JS thread's call reports it */
  if (r->pre_err != 0) { r->ret = -1; r->err = r->pre_err; return; }
  int e = vfs_creds_switch(r->has_creds ? &r->creds : NULL);
  if (e != 0) { r->ret = -1; r->err = e; return; }
  int want = r->umask >= 0 ? r->umask : t_base_umask;
  if (want != t_cur_umask) {
    if (!t_private_fs) { r->ret = -1; r->err = t_unshare_err ? t_unshare_err : EOPNOTSUPP; return; }
    umask((mode_t)want);
    t_cur_umask = want;
  }
  r->op->exec(r);
}

/* ---- the worker pool (process-wide) ----
 *
 * One FIFO under pool_mu; each idle worker sleeps on a condition variable of its own, on a stack of
 * idle workers, so a push wakes exactly the worker it means to (no herd) and only when one is needed.
 *
 * How many workers are awake is the pool's one policy, and it follows how long a job takes (avg_ns,
 * a moving average of run() times, quick to rise and slow to fall): an awake worker is expected to
 * clear FS_WAKE_NS worth of queued jobs before the queue needs another worker. On a local
 * filesystem (statx ~1-2 us) one or two awake workers take a whole kick's worth of requests
 * without a futex wake per request; on CephFS (a round trip of ms) every queued job wakes a worker,
 * as a plain pool would.
 *
 * A job that hangs (an unresponsive mount) is only known to be slow when it ends, so the average
 * cannot see it: one idle worker, the watchman, sleeps with a timeout while others are busy, and
 * takes the head of the queue itself once it has waited FS_STUCK_NS, and then counts calls as slow
 * (a worker woken per queued call). So a stuck worker delays the queue behind it by about a
 * millisecond, never indefinitely.
 */

#define FS_WAKE_NS 50000
#define FS_AVG_START_NS FS_WAKE_NS /* until measured: one worker per queued job */
#define FS_STUCK_NS 1000000

typedef struct worker {
  struct worker *next_idle;
  pthread_cond_t cv;
  bool woken; /* set by the waker, who also took it off the idle stack */
} worker;

static pthread_mutex_t pool_mu;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static fsreq *q_head, *q_tail;
static worker *idle_top, *watchman;
static int q_len, n_threads, n_idle, want_threads = FS_DEFAULT_THREADS;
static _Atomic uint64_t avg_ns = FS_AVG_START_NS;
static uint64_t n_wakes, n_rescues; /* under pool_mu: pool_wake() signals, watchman take-overs */
/* Busy polling (--poll-us): one worker at a time, once out of work, keeps looking at the queue for a
 * while before it sleeps, so the JS thread's next calls need no futex wake. spin_ns is the longest
 * spin (0: off); the spin itself adapts as QEMU's AioContext polling does (and as the rings' polling,
 * vring.ts): it starts at nothing; a batch released within spin_ns of a worker running out of work,
 * but after its spin, doubles it (from FS_SPIN_START_NS, up to spin_ns); one released later halves
 * it (to nothing below FS_SPIN_START_NS). So calls that follow each other closely get a spinning
 * worker, and sparse ones (a slow guest) soon cost no spinning. */
static _Atomic uint64_t spin_ns;
#define FS_SPIN_START_NS 4000
static uint64_t spin_win;     /* under pool_mu: the current spin */
static uint64_t out_of_work;  /* under pool_mu: when a worker last ran out of work (CLOCK_MONOTONIC ns), 0: not since the last release */
static bool spinning; /* under pool_mu: a worker is in its spin */
static int last_release; /* under pool_mu: calls queued when the JS thread last released a batch */
static _Atomic unsigned release_seq; /* bumped by port_wake(): the JS thread's calls of a loop turn are all queued */

static void pool_init(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP); /* held for a few instructions: spin first */
  pthread_mutex_init(&pool_mu, &a);
  pthread_mutexattr_destroy(&a);
}

static void pool_lock(void) {
  pthread_once(&pool_once, pool_init);
  pthread_mutex_lock(&pool_mu);
}

/* Workers pool_wake() chose, signalled by pool_unlock() once pool_mu is free: a worker signalled with
 * the lock still held would wake only to block on it at once (a futex wait and wake more per wake-up). */
static worker *to_signal[FS_MAX_THREADS];
static int n_to_signal;

static void pool_unlock(void) {
  worker *sig[FS_MAX_THREADS];
  int n = n_to_signal;
  memcpy(sig, to_signal, sizeof *sig * (size_t)n);
  n_to_signal = 0;
  pthread_mutex_unlock(&pool_mu);
  /* A worker may have woken on its own and gone idle again by now: the signal then finds `woken`
   * false and it sleeps on (pool_idle checks the flag, not the signal). Workers never exit. */
  for (int i = 0; i < n; i++) pthread_cond_signal(&sig[i]->cv);
}

/* With pool_mu held: wake idle workers while the queue is more than the awake ones will soon take. */
static void pool_wake(void) {
  uint64_t avg = atomic_load_explicit(&avg_ns, memory_order_relaxed);
  int per = avg >= FS_WAKE_NS ? 1 : avg * 64 <= FS_WAKE_NS ? 64 : (int)(FS_WAKE_NS / avg);
  while (idle_top != NULL && q_len > (n_threads - n_idle) * per) {
    worker *w = idle_top;
    idle_top = w->next_idle;
    n_idle--;
    n_wakes++;
    w->woken = true;
    to_signal[n_to_signal++] = w;
  }
}

static void note_time(uint64_t ns) {
  uint64_t avg = atomic_load_explicit(&avg_ns, memory_order_relaxed);
  avg = ns > avg ? (avg + ns) / 2 : avg - avg / 16 + ns / 16;
  atomic_store_explicit(&avg_ns, avg, memory_order_relaxed);
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* With pool_mu held: sleep on the idle stack until woken, or as the watchman until the queue's
 * head has waited too long (then leave the stack on our own). */
static void pool_idle(worker *self) {
  self->woken = false;
  self->next_idle = idle_top;
  idle_top = self;
  n_idle++;
  for (;;) {
    if (n_to_signal > 0) { /* never sleep on signals still owed to others */
      pool_unlock();
      pool_lock();
      if (self->woken) return;
      continue;
    }
    bool watch = watchman == NULL && n_threads - n_idle > 0;
    if (!watch) {
      pthread_cond_wait(&self->cv, &pool_mu);
    } else {
      watchman = self;
      uint64_t until = now_ns() + FS_STUCK_NS;
      struct timespec t = {.tv_sec = (time_t)(until / 1000000000u), .tv_nsec = (long)(until % 1000000000u)};
      pthread_cond_timedwait(&self->cv, &pool_mu, &t);
      watchman = NULL;
    }
    if (self->woken) return;
    if (q_head != NULL && now_ns() - q_head->queued_ns >= FS_STUCK_NS) {
      for (worker **pp = &idle_top; *pp != NULL; pp = &(*pp)->next_idle)
        if (*pp == self) { *pp = self->next_idle; break; }
      n_idle--;
      n_rescues++;
      /* Every awake worker has been busy for a millisecond: calls are slow now, whatever the
       * average says. Wake a worker for each call still queued instead of rescuing one per ms. */
      if (atomic_load_explicit(&avg_ns, memory_order_relaxed) < FS_WAKE_NS) atomic_store_explicit(&avg_ns, FS_WAKE_NS, memory_order_relaxed);
      pool_wake();
      return;
    }
  }
}

/* With pool_mu held and the queue empty: spin (lock released, yielding the CPU) until a job is
 * queued or the spin time is over. Returns with pool_mu held. */
#define FS_SPIN_MAX_BATCH 2
static void pool_spin(void) {
  uint64_t max = atomic_load_explicit(&spin_ns, memory_order_relaxed);
  /* Only while batches are small (a guest waiting on each request): under load a worker is rarely out
   * of work, and one spinning through the gaps takes a core the guest and the JS thread need. */
  if (max == 0 || spinning || last_release > FS_SPIN_MAX_BATCH) return;
  uint64_t start = now_ns();
  if (out_of_work == 0) out_of_work = start;
  uint64_t ns = spin_win < max ? spin_win : max;
  if (ns == 0) return;
  spinning = true;
  unsigned seen = atomic_load(&release_seq);
  pool_unlock();
  /* Wait for a loop turn's calls as a batch (port_wake), not each call as it is queued: one worker
   * taking calls one by one would post each completion on its own. */
  uint64_t until = start + ns;
  while (atomic_load_explicit(&release_seq, memory_order_relaxed) == seen && now_ns() < until) sched_yield();
  pool_lock();
  spinning = false;
}

static void *pool_main(void *arg) {
  worker self = {.woken = false};
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&self.cv, &ca);
  pthread_condattr_destroy(&ca);
  pthread_setname_np(pthread_self(), "vfs-fs-pool"); /* for top -H and perf */
  vfs_creds_thread_init();
  t_private_fs = unshare(CLONE_FS) == 0;
  t_unshare_err = t_private_fs ? 0 : errno;
  t_base_umask = t_cur_umask = (int)umask(0);
  umask((mode_t)t_base_umask);
  pool_lock();
  for (;;) {
    if (q_head == NULL) pool_spin();
    while (q_head == NULL) pool_idle(&self);
    fsreq *r = q_head;
    q_head = r->next;
    if (q_head == NULL) q_tail = NULL;
    q_len--;
    pool_unlock();
    uint64_t t0 = now_ns();
    run(r);
    note_time(now_ns() - t0);
    port_post(r);
    pool_lock();
    pool_wake(); /* the average may have risen: a slow job asks for help with the queue behind it */
  }
  return NULL;
}

/* Start a detached thread with all signals blocked. Returns 0 or an error number. */
static int spawn(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, FS_THREAD_STACK);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  int e = pthread_create(&t, &attr, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return e;
}

/* Called with pool_mu held. */
static void pool_grow(void) {
  while (n_threads < want_threads) {
    if (spawn(pool_main, NULL) != 0) break;
    n_threads++;
  }
}

/*
 * JS thread: queue a call. Workers are not woken here but once per loop turn (port_wake, from the
 * port's check and prepare handles), so the calls one turn makes (a kick's worth of requests, a batch
 * of completions' follow-ups) cost one wake-up, not one each, and a worker that is awake anyway takes
 * them all. The delay is the rest of the current loop phase.
 */
static int pool_push(fsreq *r) {
  pool_lock();
  pool_grow();
  if (n_threads == 0) { pool_unlock(); return EAGAIN; }
  r->next = NULL;
  if (q_tail != NULL) q_tail->next = r; else q_head = r;
  q_tail = r;
  q_len++;
  r->queued_ns = now_ns();
  pool_unlock();
  r->port->wake_due = true;
  return 0;
}

/* With pool_mu held, as a batch is released: adapt the spin to how long the workers were out of work. */
static void spin_adapt(void) {
  if (out_of_work == 0) return;
  uint64_t waited = now_ns() - out_of_work, max = atomic_load_explicit(&spin_ns, memory_order_relaxed);
  out_of_work = 0;
  if (waited > max) spin_win = spin_win / 2 < FS_SPIN_START_NS ? 0 : spin_win / 2;
  else if (waited > spin_win) spin_win = spin_win == 0 ? FS_SPIN_START_NS : spin_win * 2 < max ? spin_win * 2 : max;
}

static void port_wake(fsport *p) {
  if (!p->wake_due) return;
  p->wake_due = false;
  atomic_fetch_add(&release_seq, 1);
  pool_lock();
  spin_adapt();
  last_release = q_len;
  pool_wake();
  pool_unlock();
}
static void port_check(uv_check_t *h) { port_wake(h->data); }
static void port_prepare(uv_prepare_t *h) { port_wake(h->data); }

/* ---- dedicated threads for blocking waits ---- */

static pthread_mutex_t wait_mu = PTHREAD_MUTEX_INITIALIZER;
typedef struct waiter {
  struct waiter *next;
  fsreq *r;
  pthread_t thread;
  uint32_t id;
} waiter;
static waiter *waiters;
static int n_waiters;

static void waiter_finish(waiter *w) {
  pthread_mutex_lock(&wait_mu);
  for (waiter **pp = &waiters; *pp != NULL; pp = &(*pp)->next)
    if (*pp == w) { *pp = w->next; break; }
  n_waiters--;
  pthread_mutex_unlock(&wait_mu);
  fsreq *r = w->r;
  free(w);
  port_post(r);
}

static void waiter_cancelled(void *arg) {
  waiter *w = arg;
  w->r->ret = -1;
  w->r->err = EINTR;
  waiter_finish(w);
}

static void *waiter_main(void *arg) {
  waiter *w = arg;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  vfs_creds_thread_init();
  t_base_umask = t_cur_umask = -1; /* no private umask here: a umask in the context fails the call */
  pthread_cleanup_push(waiter_cancelled, w);
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
  run(w->r);
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
  pthread_cleanup_pop(0);
  waiter_finish(w);
  return NULL;
}

static int waiter_start(fsreq *r) {
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL) return ENOMEM;
  w->r = r;
  w->id = r->wait_id;
  pthread_mutex_lock(&wait_mu); /* held until w is listed, so waiter_finish() finds it */
  if (n_waiters >= FS_MAX_WAITERS) { pthread_mutex_unlock(&wait_mu); free(w); return ENOLCK; }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, FS_THREAD_STACK);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&w->thread, &attr, waiter_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0) { pthread_mutex_unlock(&wait_mu); free(w); return e; }
  w->next = waiters;
  waiters = w;
  n_waiters++;
  pthread_mutex_unlock(&wait_mu);
  return 0;
}

/* cancelBlocking(id) -> true if a wait with that id was running (it now ends with EINTR). */
static napi_value js_cancel_blocking(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  uint32_t id;
  if (!vfs_arg_u32(env, argv[0], &id)) return NULL;
  bool found = false;
  if (id != 0) {
    pthread_mutex_lock(&wait_mu);
    for (waiter *w = waiters; w != NULL; w = w->next)
      if (w->id == id) { pthread_cancel(w->thread); found = true; }
    pthread_mutex_unlock(&wait_mu);
  }
  napi_value v;
  napi_get_boolean(env, found, &v);
  return v;
}

/* ---- argument parsing (JS thread) ---- */

static bool add_keep(napi_env env, fsreq *r, napi_value v) {
  if (r->op->sync) return true; /* used and done with before the call returns */
  if (r->keep == NULL) r->keep = r->keepbuf;
  if (r->keep == r->keepbuf && r->nkeep == FS_INLINE_IOV) {
    napi_ref *k = malloc(sizeof *k * (IOV_MAX + 2));
    if (k == NULL) { vfs_throw_errno(env, ENOMEM, r->op->sys); return false; }
    memcpy(k, r->keepbuf, sizeof r->keepbuf);
    r->keep = k;
  }
  if (r->nkeep >= IOV_MAX + 2) { vfs_throw_arg(env, "too many buffers"); return false; }
  if (napi_create_reference(env, v, 1, &r->keep[r->nkeep]) != napi_ok) return false;
  r->nkeep++;
  return true;
}

static bool parse_name(napi_env env, napi_value v, fsreq *r, int j) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  size_t n;
  void *src = NULL;
  if (t == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return false;
  } else {
    if (!vfs_arg_bytes(env, v, &src, &n)) return false;
  }
  if (n >= PATH_MAX) { /* the kernel's answer, without copying a huge name */
    r->pre_err = ENAMETOOLONG;
    r->s[j] = r->sbuf[j];
    r->sbuf[j][0] = 0;
    return true;
  }
  char *d = n < FS_INLINE_NAME ? r->sbuf[j] : malloc(n + 1);
  if (d == NULL) { vfs_throw_errno(env, ENOMEM, r->op->sys); return false; }
  r->s[j] = d;
  if (t == napi_string) {
    napi_get_value_string_utf8(env, v, d, n + 1, &n);
  } else {
    memcpy(d, src, n);
    d[n] = 0;
  }
  if (strlen(d) != n) { vfs_throw_arg(env, "name contains a NUL byte"); return false; }
  return true;
}

static bool is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

static bool parse_args(napi_env env, const char *sig, napi_value *argv, fsreq *r) {
  int k = 0, j = 0;
  for (const char *c = sig; *c != 0; c++, argv++) {
    napi_value v = *argv;
    switch (*c) {
      case 'i': { int32_t x; if (!vfs_arg_i32(env, v, &x)) return false; r->a[k++] = x; break; }
      case 'u': { uint32_t x; if (!vfs_arg_u32(env, v, &x)) return false; r->a[k++] = x; break; }
      case 'l': { if (!vfs_arg_i64(env, v, &r->a[k++])) return false; break; }
      case 'o': {
        if (is_nullish(env, v)) { r->a[k++] = -1; break; }
        uint64_t x;
        if (!vfs_arg_u64(env, v, &x)) return false;
        if (x > INT64_MAX) { vfs_throw_arg(env, "offset too large"); return false; }
        r->a[k++] = (int64_t)x;
        break;
      }
      case 'n': if (!parse_name(env, v, r, j++)) return false; break;
      case 'B': if (is_nullish(env, v)) { r->buf = NULL; r->len = 0; break; } /* fall through */
      case 'b': if (!vfs_arg_bytes(env, v, &r->buf, &r->len) || !add_keep(env, r, v)) return false; break;
      case 'v': {
        bool isarr;
        uint32_t n;
        if (napi_is_array(env, v, &isarr) != napi_ok || !isarr) { vfs_throw_arg(env, "expected an array of buffers"); return false; }
        napi_get_array_length(env, v, &n);
        if (n > IOV_MAX) { r->pre_err = EINVAL; break; }
        r->iov = n <= FS_INLINE_IOV ? r->iovbuf : malloc(sizeof *r->iov * n);
        if (r->iov == NULL) { vfs_throw_errno(env, ENOMEM, r->op->sys); return false; }
        /* What keeps the bytes alive is their ArrayBuffer: one reference per distinct buffer, not per
         * view (a request's segments are views of one guest-memory mapping: 256 views per MiB). */
        napi_value prev = NULL;
        for (uint32_t i = 0; i < n; i++) {
          napi_value e, ab;
          bool same = false;
          napi_get_element(env, v, i, &e);
          if (!vfs_arg_bytes_ab(env, e, &r->iov[i].iov_base, &r->iov[i].iov_len, &ab)) return false;
          if (prev != NULL) napi_strict_equals(env, prev, ab, &same);
          if (!same && !add_keep(env, r, ab)) return false;
          prev = ab;
          r->iovcnt++;
        }
        break;
      }
      case 'h': {
        void *d;
        size_t n;
        if (!vfs_arg_bytes(env, v, &d, &n)) return false;
        uint32_t hb;
        if (n < 8 || n > sizeof r->u.fh || (memcpy(&hb, d, 4), hb != n - 8)) { r->pre_err = EINVAL; break; }
        memcpy(&r->u.fh, d, n);
        break;
      }
      case 'w': { uint32_t x; if (!vfs_arg_u32(env, v, &x)) return false; r->wait_id = x; break; }
      default: vfs_throw_arg(env, "bad op signature"); return false;
    }
  }
  return true;
}

static bool get_u32_prop(napi_env env, napi_value obj, const char *name, bool *present, uint32_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return false;
  *present = !is_nullish(env, v);
  return !*present || vfs_arg_u32(env, v, out);
}

/* Context object {uid, gid, groups?, umask?}; undefined/null = run as the process, initial umask. */
static bool parse_context(napi_env env, napi_value v, fsreq *r) {
  if (is_nullish(env, v)) return true;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_object) { vfs_throw_arg(env, "context must be an object {uid, gid, groups?, umask?}"); return false; }
  bool has_uid, has_gid, has_umask;
  uint32_t um = 0;
  if (!get_u32_prop(env, v, "uid", &has_uid, &r->creds.uid) || !get_u32_prop(env, v, "gid", &has_gid, &r->creds.gid) ||
      !get_u32_prop(env, v, "umask", &has_umask, &um))
    return false;
  if (has_uid != has_gid) { vfs_throw_arg(env, "uid and gid go together"); return false; }
  if (has_umask) {
    if (um > 0777) { vfs_throw_arg(env, "umask out of range"); return false; }
    r->umask = (int)um;
  }
  r->has_creds = has_uid;
  if (!has_uid) return true;
  napi_value g;
  if (napi_get_named_property(env, v, "groups", &g) != napi_ok) return false;
  if (is_nullish(env, g)) return true;
  bool isarr;
  uint32_t n;
  if (napi_is_array(env, g, &isarr) != napi_ok || !isarr) { vfs_throw_arg(env, "groups must be an array"); return false; }
  napi_get_array_length(env, g, &n);
  if (n > FS_MAX_GROUPS) { vfs_throw_arg(env, "too many groups"); return false; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    napi_get_element(env, g, i, &e);
    if (!vfs_arg_u32(env, e, &r->creds.groups[i])) return false;
  }
  r->creds.ngroups = (int)n;
  return true;
}

/* ---- the design this replaced, kept for bench/native-fs-overhead.ts only ----
 * benchStatxAsyncWork runs the statx op through napi_async_work (libuv's pool). As those threads
 * also run Node's own fs/dns/zlib work, creds must be switched back after every call. */

typedef struct {
  fsreq *r;
  napi_async_work work;
} bench_aw;

static void bench_aw_exec(napi_env env, void *data) {
  run(((bench_aw *)data)->r);
  vfs_creds_switch(NULL);
}

static void bench_aw_done(napi_env env, napi_status status, void *data) {
  bench_aw *a = data;
  fsreq *r = a->r;
  if (r->err != 0) napi_reject_deferred(env, r->deferred, errno_error(env, r->err, r->op->sys));
  else napi_resolve_deferred(env, r->deferred, r->op->pack(env, r));
  napi_delete_async_work(env, a->work);
  req_free(env, r);
  free(a);
}

static bool bench_aw_submit(napi_env env, fsreq *r) {
  bench_aw *a = malloc(sizeof *a);
  if (a == NULL) return false;
  a->r = r;
  napi_value name;
  napi_create_string_utf8(env, "vfs.fs.bench", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, bench_aw_exec, bench_aw_done, a, &a->work) != napi_ok) { free(a); return false; }
  napi_queue_async_work(env, a->work);
  return true;
}

/* ---- the generic JS entry point ---- */

#define FS_MAX_ARGS 12

static napi_value js_op(napi_env env, napi_callback_info info) {
  size_t argc = FS_MAX_ARGS;
  napi_value argv[FS_MAX_ARGS];
  fs_binding *b;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, (void **)&b) != napi_ok) return NULL;
  const fs_op *op = b->op;
  size_t nsig = strlen(op->sig);
  if (argc < nsig) return vfs_throw_arg(env, "too few arguments");
  fsreq *r = calloc(1, sizeof *r);
  if (r == NULL) return vfs_throw_errno(env, ENOMEM, op->sys);
  r->op = op;
  r->port = b->port;
  r->umask = -1;
  if (!parse_args(env, op->sig, argv, r)) { req_free(env, r); return NULL; }

  if (op->sync) { /* on the JS thread, as the process */
    napi_value v = NULL;
    if (r->pre_err != 0 && op->sync_errno) v = vfs_int(env, -r->pre_err);
    else if (r->pre_err != 0) vfs_throw_errno(env, r->pre_err, op->sys);
    else {
      op->exec(r);
      if (r->ret < 0 && op->sync_errno) v = vfs_int(env, -r->err);
      else if (r->ret < 0) vfs_throw_errno(env, r->err, op->sys);
      else v = op->pack(env, r);
    }
    req_free(env, r);
    return v;
  }

  if (argc > nsig && !parse_context(env, argv[nsig], r)) { req_free(env, r); return NULL; }
  napi_value promise;
  if (napi_create_promise(env, &r->deferred, &promise) != napi_ok) { req_free(env, r); return NULL; }
  if (b->async_work) {
    if (!bench_aw_submit(env, r)) { req_free(env, r); return vfs_throw_errno(env, ENOMEM, op->sys); }
    return promise;
  }
  fsport *p = b->port;
  if (p->inflight++ == 0) uv_ref((uv_handle_t *)&p->async);
  int e = 0;
  if (r->pre_err != 0) {
    r->ret = -1;
    r->err = r->pre_err;
    port_post(r);
  } else if (op->blocks != NULL && op->blocks(r)) {
    e = waiter_start(r);
  } else {
    e = pool_push(r);
  }
  if (e != 0) {
    r->ret = -1;
    r->err = e;
    port_post(r);
  }
  return promise;
}

/* ---- shared pack functions ---- */

napi_value fs_pack_void(napi_env env, fsreq *r) { return vfs_undefined(env); }
napi_value fs_pack_int(napi_env env, fsreq *r) { return vfs_int(env, r->ret); }
napi_value fs_pack_bigint(napi_env env, fsreq *r) {
  napi_value v;
  napi_create_bigint_int64(env, r->ret, &v);
  return v;
}

/* ---- pool control ---- */

/* fsDropCaps(keepMask): this thread keeps only these capabilities now, every worker from its next call on. */
static napi_value js_drop_caps(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  uint64_t keep;
  if (!vfs_arg_u64(env, argv[0], &keep)) return NULL;
  caps_keep = keep;
  atomic_fetch_add_explicit(&caps_gen, 1, memory_order_release);
  int e = apply_caps();
  if (e != 0) return vfs_throw_errno(env, e, "capset");
  return vfs_undefined(env);
}

/* fsSetThreads(n): the worker pool's size is n before it starts, and grows to n after (it never shrinks).
 * Returns the new target. */
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  uint32_t n;
  if (!vfs_arg_u32(env, argv[0], &n)) return NULL;
  if (n < 1 || n > FS_MAX_THREADS) return vfs_throw_arg(env, "thread count out of range");
  pool_lock();
  /* Before the first call the size is exactly n (the default is only a default); after, it only grows. */
  if (n_threads == 0 || (int)n > want_threads) want_threads = (int)n;
  if (n_threads > 0) pool_grow();
  int w = want_threads;
  pool_unlock();
  return vfs_int(env, w);
}

/* fsSetSpin(us): how long a worker out of work keeps looking for more before it sleeps (0: off). */
static napi_value js_set_spin(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  uint32_t us;
  if (!vfs_arg_u32(env, argv[0], &us)) return NULL;
  if (us > 1000000) return vfs_throw_arg(env, "spin time out of range");
  atomic_store(&spin_ns, (uint64_t)us * 1000u);
  return vfs_undefined(env);
}

/* fsPoolStats() -> {threads, idle, queued, waiters, wakes, rescues, avgNs, spinNs} */
static napi_value js_pool_stats(napi_env env, napi_callback_info info) {
  pool_lock();
  int t = n_threads, i = n_idle, q = q_len;
  uint64_t wk = n_wakes, rs = n_rescues, sw = spin_win;
  pool_unlock();
  pthread_mutex_lock(&wait_mu);
  int w = n_waiters;
  pthread_mutex_unlock(&wait_mu);
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "threads", vfs_int(env, t));
  napi_set_named_property(env, o, "idle", vfs_int(env, i));
  napi_set_named_property(env, o, "queued", vfs_int(env, q));
  napi_set_named_property(env, o, "waiters", vfs_int(env, w));
  napi_set_named_property(env, o, "wakes", vfs_int(env, (int64_t)wk));
  napi_set_named_property(env, o, "rescues", vfs_int(env, (int64_t)rs));
  napi_set_named_property(env, o, "avgNs", vfs_int(env, (int64_t)atomic_load(&avg_ns)));
  napi_set_named_property(env, o, "spinNs", vfs_int(env, (int64_t)sw));
  return o;
}

/* Node unloads an addon (dlclose) when the last environment using it goes away, e.g. a worker
 * thread that was the only user. Our threads outlive environments and run this library's code, so
 * it must never be unmapped: take a reference to ourselves that is never released. */
static void pin_library(void) {
  static bool pinned;
  Dl_info info;
  if (pinned || dladdr((void *)pin_library, &info) == 0 || info.dli_fname == NULL) return;
  pinned = dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE) != NULL;
}

napi_value fs_register_ops(napi_env env, napi_value exports, const fs_op *ops, size_t n) {
  pin_library();
  fsport *p = calloc(1, sizeof *p);
  fs_binding *b = calloc(n, sizeof *b);
  uv_loop_t *loop;
  if (p == NULL || b == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(p);
    free(b);
    napi_throw_error(env, "ENOMEM", "fs: cannot set up the completion port");
    return NULL;
  }
  p->env = env;
  p->bindings = b;
  uv_async_init(loop, &p->async, port_drain);
  p->async.data = p;
  uv_unref((uv_handle_t *)&p->async);
  uv_check_init(loop, &p->check);
  p->check.data = p;
  uv_check_start(&p->check, port_check);
  uv_unref((uv_handle_t *)&p->check);
  uv_prepare_init(loop, &p->prepare);
  p->prepare.data = p;
  uv_prepare_start(&p->prepare, port_prepare);
  uv_unref((uv_handle_t *)&p->prepare);
  napi_value name;
  napi_create_string_utf8(env, "vfs.fs", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->ctx);
  napi_add_env_cleanup_hook(env, port_cleanup, p);
  napi_value ns; /* exports.fs: keeps these names apart from the sync shims (close, dup, ...) */
  napi_create_object(env, &ns);
  napi_set_named_property(env, exports, "fs", ns);
  exports = ns;
  for (size_t i = 0; i < n; i++) {
    b[i].op = &ops[i];
    b[i].port = p;
    napi_value f;
    napi_create_function(env, ops[i].name, NAPI_AUTO_LENGTH, js_op, &b[i], &f);
    napi_set_named_property(env, exports, ops[i].name, f);
  }
  static fs_binding bench; /* see bench_aw_submit */
  for (size_t i = 0; i < n; i++)
    if (strcmp(ops[i].name, "statx") == 0) bench = (fs_binding){.op = &ops[i], .port = p, .async_work = true};
  napi_value bf;
  napi_create_function(env, "benchStatxAsyncWork", NAPI_AUTO_LENGTH, js_op, &bench, &bf);
  napi_set_named_property(env, exports, "benchStatxAsyncWork", bf);
  static const vfs_export control[] = {
    {"fsSetThreads", js_set_threads},
    {"fsSetSpin", js_set_spin},
    {"fsDropCaps", js_drop_caps},
    {"fsPoolStats", js_pool_stats},
    {"cancelBlocking", js_cancel_blocking},
    {NULL, NULL},
  };
  vfs_register(env, exports, control);
  return exports;
}
