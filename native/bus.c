/*
 * SIGBUS on guest memory. A front-end can shrink (ftruncate) a memory fd after sharing it; the next
 * access to a page past the new end raises SIGBUS, which would kill the daemon. The handler below
 * does the least that lets the daemon live on: if the faulting address is inside a mapping made by
 * mmap() here, it maps an anonymous zero page over that page (MAP_FIXED: the access then completes,
 * reading zeros) and signals an eventfd; everything else (what the fault means, dropping the
 * connection) is decided in TypeScript (src/memory/bus-faults.ts). A fault anywhere else is not
 * ours: the default action runs (the process dies, as it would have).
 *
 * The table of mapped ranges is lock-free (the handler may interrupt any thread, including the JS
 * thread in the middle of mmap()/munmap() bookkeeping): a slot is published by writing `hi` before
 * `lo`, retired by clearing `lo` before `hi`, so the handler never sees a half-written range.
 */
#include "addon.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define SLOTS 1024

static _Atomic uintptr_t lo[SLOTS], hi[SLOTS];
static _Atomic uint64_t faults;
static _Atomic uintptr_t last_addr;
static int event_fd = -1;
static uintptr_t page_mask;

void vfs_bus_track(void *addr, size_t len) {
  for (int i = 0; i < SLOTS; i++) {
    if (atomic_load(&lo[i]) != 0 || atomic_load(&hi[i]) != 0) continue;
    uintptr_t zero = 0;
    /* Claim the slot through hi (lo stays 0 until the range is complete). */
    if (atomic_compare_exchange_strong(&hi[i], &zero, (uintptr_t)addr + len)) {
      atomic_store(&lo[i], (uintptr_t)addr);
      return;
    }
  }
  /* Table full: this mapping is not rescued (a fault in it kills the process, as before). */
}

void vfs_bus_untrack(void *addr) {
  for (int i = 0; i < SLOTS; i++) {
    if (atomic_load(&lo[i]) == (uintptr_t)addr) {
      atomic_store(&lo[i], 0);
      atomic_store(&hi[i], 0);
      return;
    }
  }
}

static void on_sigbus(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  uintptr_t a = (uintptr_t)si->si_addr;
  for (int i = 0; i < SLOTS; i++) {
    uintptr_t l = atomic_load(&lo[i]);
    if (l == 0 || a < l) continue;
    if (a >= atomic_load(&hi[i])) continue;
    void *page = (void *)(a & page_mask);
    if (mmap(page, ~page_mask + 1, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) break;
    atomic_fetch_add(&faults, 1);
    atomic_store(&last_addr, a);
    if (event_fd >= 0) {
      uint64_t one = 1;
      ssize_t w = write(event_fd, &one, sizeof one);
      (void)w;
    }
    return;
  }
  /* Not guest memory: let the default action happen when the access is retried. */
  signal(sig, SIG_DFL);
}

/* busFaultFd() -> the eventfd (non-blocking) that counts rescued faults; watch it for readability. */
static napi_value js_bus_fault_fd(napi_env env, napi_callback_info info) {
  if (event_fd < 0) return vfs_throw_errno(env, ENOSYS, "busFaultFd");
  return vfs_int(env, event_fd);
}

/* busFaults() -> [count, last faulting address] (bigints). */
static napi_value js_bus_faults(napi_env env, napi_callback_info info) {
  napi_value arr, c, a;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_bigint_uint64(env, atomic_load(&faults), &c);
  napi_create_bigint_uint64(env, atomic_load(&last_addr), &a);
  napi_set_element(env, arr, 0, c);
  napi_set_element(env, arr, 1, a);
  return arr;
}

void vfs_register_bus(napi_env env, napi_value exports) {
  static bool installed = false;
  if (!installed) {
    installed = true;
    page_mask = ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
    event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
  }
  static const vfs_export list[] = {
    {"busFaultFd", js_bus_fault_fd},
    {"busFaults", js_bus_faults},
    {NULL, NULL},
  };
  vfs_register(env, exports, list);
}
