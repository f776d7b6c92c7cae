/*
 * Per-thread credentials for the fs worker threads.
 *
 * glibc's setresuid()/setresgid()/setgroups() change every thread of the process (they broadcast a
 * signal, SIGSETXID, so all threads agree, as POSIX demands). The raw syscalls change only the
 * calling thread, which is what a file server wants: each worker acts for a different guest user
 * while the JS thread and the other workers stay root.
 *
 * Only the effective ids change (setresuid(-1, uid, -1)): the real and saved ids stay 0, so the
 * thread can always return to euid 0. Moving euid from 0 to non-zero clears the thread's effective
 * capabilities (so the kernel checks permissions as that user, no CAP_DAC_OVERRIDE) and moving
 * back restores them from the permitted set, which is kept because the saved uid stays 0.
 *
 * Threads are not switched back after every call: the current creds are cached in __thread
 * variables and a call with the same creds as the previous one on that thread costs nothing. This
 * is only safe because these threads run nothing but our requests (fs-pool.c owns them; libuv's
 * pool, shared with Node's fs, dns and crypto, is never used for this).
 *
 * Process-wide credential changes after the workers started (process.setuid(), which uses the glibc
 * wrappers and so reaches these threads too) make the cache wrong: do not make them.
 */
#include "fs.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static __thread bool inited;
static __thread uint32_t base_uid, base_gid;
static __thread int base_ngroups;
static __thread gid_t base_groups[FS_MAX_GROUPS];
static __thread uint32_t cur_uid, cur_gid;
static __thread int cur_ngroups;
static __thread gid_t cur_groups[FS_MAX_GROUPS];

static int sys_setresuid_e(uint32_t euid) { return syscall(SYS_setresuid, -1, euid, -1) == 0 ? 0 : errno; }
static int sys_setresgid_e(uint32_t egid) { return syscall(SYS_setresgid, -1, egid, -1) == 0 ? 0 : errno; }
static int sys_setgroups(int n, const gid_t *g) { return syscall(SYS_setgroups, (size_t)n, g) == 0 ? 0 : errno; }

void vfs_creds_thread_init(void) {
  base_uid = cur_uid = (uint32_t)geteuid();
  base_gid = cur_gid = (uint32_t)getegid();
  int n = getgroups(FS_MAX_GROUPS, base_groups);
  base_ngroups = n < 0 ? 0 : n;
  cur_ngroups = base_ngroups;
  memcpy(cur_groups, base_groups, sizeof base_groups);
  inited = true;
}

static bool same_groups(int n, const gid_t *g) {
  return n == cur_ngroups && memcmp(g, cur_groups, (size_t)n * sizeof *g) == 0;
}

/* Move to euid/egid/groups; order: regain euid base (root) first, then groups, then egid, and only
 * then the target euid (which drops the capabilities needed for the others). */
static int apply(uint32_t uid, uint32_t gid, int ngroups, const gid_t *groups) {
  int e;
  bool change_groups = !same_groups(ngroups, groups);
  if (uid == cur_uid && gid == cur_gid && !change_groups) return 0;
  if (cur_uid != base_uid) {
    if ((e = sys_setresuid_e(base_uid)) != 0) return e;
    cur_uid = base_uid;
  }
  if (change_groups) {
    if ((e = sys_setgroups(ngroups, groups)) != 0) return e;
    cur_ngroups = ngroups;
    memcpy(cur_groups, groups, (size_t)ngroups * sizeof *groups);
  }
  if (gid != cur_gid) {
    if ((e = sys_setresgid_e(gid)) != 0) return e;
    cur_gid = gid;
  }
  if (uid != cur_uid) {
    if ((e = sys_setresuid_e(uid)) != 0) return e;
    cur_uid = uid;
  }
  return 0;
}

int vfs_creds_switch(const vfs_creds *c) {
  if (!inited) vfs_creds_thread_init();
  int e = 0;
  if (c != NULL) {
    gid_t g[FS_MAX_GROUPS];
    for (int i = 0; i < c->ngroups; i++) g[i] = c->groups[i];
    e = apply(c->uid, c->gid, c->ngroups, g);
    if (e == 0) return 0;
  }
  /* Back to the initial creds. A thread that cannot get back would run the next request with the
   * wrong identity: stop the process rather than risk it. */
  int e2 = apply(base_uid, base_gid, base_ngroups, base_groups);
  if (e2 != 0) {
    fprintf(stderr, "virtiofsd-ts: cannot restore worker thread credentials: %s\n", strerror(e2));
    abort();
  }
  return e;
}
