/*
 * Sandbox shims: the syscalls src/sandbox/ uses to leave the host's view before serving a guest.
 * One syscall each, no policy: what to mount where, which capabilities to keep and in what order is
 * decided in TypeScript. All of these are synchronous (they run once, at start-up, on the JS thread).
 *
 * Thread scope matters here: mount, umount2 and pivot_root act on the mount namespace (every
 * thread); chroot and chdir on the fs_struct the calling thread shares; prctl(PR_SET_NO_NEW_PRIVS) on
 * the calling thread only (capabilities are cut by fsDropCaps in fs-pool.c, which also reaches the
 * pool's workers), inherited by threads it starts later.
 */
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PATH_CAP 4096

/* Read an optional string argument: null/undefined -> *out = NULL. */
static bool arg_opt_string(napi_env env, napi_value v, char *buf, size_t cap, const char **out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) { *out = NULL; return true; }
  if (!vfs_arg_string(env, v, buf, cap)) return false;
  *out = buf;
  return true;
}

/* Read an array of strings into a NULL-terminated vector (malloc'd; free with free_vec). */
static char **arg_string_vec(napi_env env, napi_value v) {
  bool is;
  if (napi_is_array(env, v, &is) != napi_ok || !is) { vfs_throw_arg(env, "expected an array of strings"); return NULL; }
  uint32_t n;
  napi_get_array_length(env, v, &n);
  char **vec = calloc((size_t)n + 1, sizeof *vec);
  if (vec == NULL) { vfs_throw_errno(env, ENOMEM, "calloc"); return NULL; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t len;
    napi_get_element(env, v, i, &e);
    if (napi_get_value_string_utf8(env, e, NULL, 0, &len) != napi_ok || (vec[i] = malloc(len + 1)) == NULL) {
      for (uint32_t j = 0; j < i; j++) free(vec[j]);
      free(vec);
      vfs_throw_arg(env, "expected an array of strings");
      return NULL;
    }
    napi_get_value_string_utf8(env, e, vec[i], len + 1, &len);
  }
  return vec;
}

static void free_vec(char **vec) {
  if (vec == NULL) return;
  for (char **p = vec; *p != NULL; p++) free(*p);
  free(vec);
}

/* execve(path, argv[], envp[]): only returns (throwing) on failure. Every thread but this one ends. */
static napi_value js_execve(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  char path[PATH_CAP];
  if (!vfs_arg_string(env, argv[0], path, sizeof path)) return NULL;
  char **av = arg_string_vec(env, argv[1]);
  if (av == NULL) return NULL;
  char **ev = arg_string_vec(env, argv[2]);
  if (ev == NULL) { free_vec(av); return NULL; }
  execve(path, av, ev);
  int e = errno;
  free_vec(av);
  free_vec(ev);
  return vfs_throw_errno(env, e, "execve");
}

/* mount(source|null, target, fstype|null, flags, data|null) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  VFS_ARGS(5);
  char sb[PATH_CAP], tb[PATH_CAP], fb[64], db[1024];
  const char *src, *type, *data;
  uint32_t flags;
  if (!arg_opt_string(env, argv[0], sb, sizeof sb, &src) || !vfs_arg_string(env, argv[1], tb, sizeof tb) ||
      !arg_opt_string(env, argv[2], fb, sizeof fb, &type) || !vfs_arg_u32(env, argv[3], &flags) ||
      !arg_opt_string(env, argv[4], db, sizeof db, &data))
    return NULL;
  if (mount(src, tb, type, flags, data) != 0) return vfs_throw_errno(env, errno, "mount");
  return vfs_undefined(env);
}

/* umount2(target, flags) */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  char tb[PATH_CAP];
  int32_t flags;
  if (!vfs_arg_string(env, argv[0], tb, sizeof tb) || !vfs_arg_i32(env, argv[1], &flags)) return NULL;
  if (umount2(tb, flags) != 0) return vfs_throw_errno(env, errno, "umount2");
  return vfs_undefined(env);
}

/* pivot_root(new_root, put_old) */
static napi_value js_pivot_root(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  char nb[PATH_CAP], ob[PATH_CAP];
  if (!vfs_arg_string(env, argv[0], nb, sizeof nb) || !vfs_arg_string(env, argv[1], ob, sizeof ob)) return NULL;
  if (syscall(SYS_pivot_root, nb, ob) != 0) return vfs_throw_errno(env, errno, "pivot_root");
  return vfs_undefined(env);
}

/* chroot(path) */
static napi_value js_chroot(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  char pb[PATH_CAP];
  if (!vfs_arg_string(env, argv[0], pb, sizeof pb)) return NULL;
  if (chroot(pb) != 0) return vfs_throw_errno(env, errno, "chroot");
  return vfs_undefined(env);
}

/* fchdir(fd) */
static napi_value js_fchdir(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t fd;
  if (!vfs_arg_i32(env, argv[0], &fd)) return NULL;
  if (fchdir(fd) != 0) return vfs_throw_errno(env, errno, "fchdir");
  return vfs_undefined(env);
}

/* capget() -> [effective, permitted, inheritable] as 64-bit bigints, of the calling thread. */
static napi_value js_capget(napi_env env, napi_callback_info info) {
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capget, &h, d) != 0) return vfs_throw_errno(env, errno, "capget");
  uint64_t v[3] = {
    (uint64_t)d[1].effective << 32 | d[0].effective,
    (uint64_t)d[1].permitted << 32 | d[0].permitted,
    (uint64_t)d[1].inheritable << 32 | d[0].inheritable,
  };
  napi_value arr;
  napi_create_array_with_length(env, 3, &arr);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value b;
    napi_create_bigint_uint64(env, v[i], &b);
    napi_set_element(env, arr, i, b);
  }
  return arr;
}

/* prctl(option, arg2, arg3, arg4, arg5) -> the result (for the numeric options only). */
static napi_value js_prctl(napi_env env, napi_callback_info info) {
  VFS_ARGS(5);
  int32_t opt;
  uint64_t a[4];
  if (!vfs_arg_i32(env, argv[0], &opt)) return NULL;
  for (int k = 0; k < 4; k++)
    if (!vfs_arg_u64(env, argv[k + 1], &a[k])) return NULL;
  int r = prctl(opt, (unsigned long)a[0], (unsigned long)a[1], (unsigned long)a[2], (unsigned long)a[3]);
  if (r < 0) return vfs_throw_errno(env, errno, "prctl");
  return vfs_int(env, r);
}

/* dup3(oldfd, newfd, flags): newfd now refers to oldfd's file. */
static napi_value js_dup3(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t o, n, flags;
  if (!vfs_arg_i32(env, argv[0], &o) || !vfs_arg_i32(env, argv[1], &n) || !vfs_arg_i32(env, argv[2], &flags)) return NULL;
  if (dup3(o, n, flags) < 0) return vfs_throw_errno(env, errno, "dup3");
  return vfs_undefined(env);
}

/* fcntl(fd, F_SETFD, flags): 0 clears close-on-exec (Node sets it on fds 0-2; execve must keep them). */
static napi_value js_set_fd_flags(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd, flags;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_i32(env, argv[1], &flags)) return NULL;
  if (fcntl(fd, F_SETFD, flags) != 0) return vfs_throw_errno(env, errno, "fcntl");
  return vfs_undefined(env);
}

/* unlinkat(dirfd, name, flags), synchronous (used at exit, once the host's paths are out of reach). */
static napi_value js_unlinkat_sync(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t dirfd, flags;
  char nb[PATH_CAP];
  if (!vfs_arg_i32(env, argv[0], &dirfd) || !vfs_arg_string(env, argv[1], nb, sizeof nb) || !vfs_arg_i32(env, argv[2], &flags)) return NULL;
  if (unlinkat(dirfd, nb, flags) != 0) return vfs_throw_errno(env, errno, "unlinkat");
  return vfs_undefined(env);
}

/* seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, program): every thread gets the filter
 * (and no_new_privs). `program` is a struct sock_filter array. */
static napi_value js_seccomp_filter(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  void *data;
  size_t len;
  if (!vfs_arg_bytes(env, argv[0], &data, &len)) return NULL;
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    return vfs_throw_arg(env, "expected a struct sock_filter array");
  struct sock_fprog prog = {.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = data};
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (r < 0) return vfs_throw_errno(env, errno, "seccomp");
  if (r > 0) return vfs_throw_errno(env, EAGAIN, "seccomp (a thread could not be synchronised)");
  return vfs_undefined(env);
}

void vfs_register_sandbox(napi_env env, napi_value exports) {
  static const vfs_export list[] = {
    {"execve", js_execve},
    {"mount", js_mount},
    {"umount2", js_umount2},
    {"pivotRoot", js_pivot_root},
    {"chroot", js_chroot},
    {"fchdir", js_fchdir},
    {"capget", js_capget},
    {"prctl", js_prctl},
    {"dup3", js_dup3},
    {"unlinkatSync", js_unlinkat_sync},
    {"setFdFlags", js_set_fd_flags},
    {"seccompFilter", js_seccomp_filter},
    {NULL, NULL},
  };
  vfs_register(env, exports, list);
}
