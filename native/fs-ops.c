/*
 * The filesystem syscalls, one table row each (see fs.h for the row, fs-pool.c for the argument
 * signature letters). Each exec is the syscall and nothing else; results that are structs go back
 * raw (statx, statfs) or as small objects, and src/native/fs.ts decodes them. Every fd the kernel
 * creates here is close-on-exec.
 */
#include "fs.h"
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h> /* renameat2 */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452 /* Linux 6.6; the same number on every architecture */
#endif

#define FS_RET(expr)                       \
  do {                                     \
    r->ret = (int64_t)(expr);              \
    if (r->ret < 0) r->err = errno;        \
  } while (0)
#define OP(name, expr) \
  static void x_##name(fsreq *r) { FS_RET(expr); }

/* ---- exec: the syscalls ---- */

OP(openat, openat(FS_I(0), FS_S(0), FS_I(1) | O_CLOEXEC, FS_U(2)))
static void x_openat2(fsreq *r) {
  r->u.how = (struct open_how){.flags = (uint64_t)(uint32_t)(FS_I(1) | O_CLOEXEC), .mode = FS_U(2), .resolve = (uint64_t)FS_L(3)};
#ifdef SYS_openat2
  FS_RET(syscall(SYS_openat2, FS_I(0), FS_S(0), &r->u.how, sizeof r->u.how));
#else
  r->ret = -1;
  r->err = ENOSYS;
#endif
}
OP(close, close(FS_I(0)))
OP(statx, statx(FS_I(0), FS_S(0), FS_I(1), FS_U(2), &r->u.stx))
static void x_fstatfs(fsreq *r) {
  struct statfs s;
  FS_RET(fstatfs(FS_I(0), &s));
  if (r->ret < 0) return;
  uint64_t *o = r->u.sfs;
  o[0] = (uint64_t)s.f_type;
  o[1] = (uint64_t)s.f_bsize;
  o[2] = s.f_blocks;
  o[3] = s.f_bfree;
  o[4] = s.f_bavail;
  o[5] = s.f_files;
  o[6] = s.f_ffree;
  memcpy(&o[7], &s.f_fsid, sizeof o[7]);
  o[8] = (uint64_t)s.f_namelen;
  o[9] = (uint64_t)s.f_frsize;
  o[10] = (uint64_t)s.f_flags;
}
OP(mkdirat, mkdirat(FS_I(0), FS_S(0), FS_U(1)))
OP(mknodat, mknodat(FS_I(0), FS_S(0), FS_U(1), (dev_t)FS_L(2)))
OP(symlinkat, symlinkat(FS_S(0), FS_I(0), FS_S(1)))
static void x_readlinkat(fsreq *r) {
  r->own = malloc(PATH_MAX);
  if (r->own == NULL) { r->ret = -1; r->err = ENOMEM; return; }
  FS_RET(readlinkat(FS_I(0), FS_S(0), r->own, PATH_MAX));
}
OP(unlinkat, unlinkat(FS_I(0), FS_S(0), FS_I(1)))
OP(renameat2, renameat2(FS_I(0), FS_S(0), FS_I(1), FS_S(1), FS_U(2)))
OP(linkat, linkat(FS_I(0), FS_S(0), FS_I(1), FS_S(1), FS_I(2)))
OP(fchmod, fchmod(FS_I(0), FS_U(1)))
/* flags need fchmodat2 (Linux 6.6): ENOSYS before that, as glibc's emulation is not a syscall. */
OP(fchmodat, FS_I(2) == 0 ? syscall(SYS_fchmodat, FS_I(0), FS_S(0), FS_U(1))
                          : syscall(SYS_fchmodat2, FS_I(0), FS_S(0), FS_U(1), FS_I(2)))
OP(fchownat, fchownat(FS_I(0), FS_S(0), (uid_t)FS_L(1), (gid_t)FS_L(2), FS_I(3)))
static void x_utimensat(fsreq *r) {
  struct timespec ts[2] = {{.tv_sec = FS_L(1), .tv_nsec = FS_L(2)}, {.tv_sec = FS_L(3), .tv_nsec = FS_L(4)}};
  FS_RET(utimensat(FS_I(0), FS_S(0), ts, FS_I(5)));
}
OP(ftruncate, ftruncate(FS_I(0), (off_t)FS_L(1)))
OP(fallocate, fallocate(FS_I(0), FS_I(1), (off_t)FS_L(2), (off_t)FS_L(3)))
OP(lseek, lseek(FS_I(0), (off_t)FS_L(1), FS_I(2)))
OP(fsync, fsync(FS_I(0)))
OP(fdatasync, fdatasync(FS_I(0)))
OP(syncfs, syncfs(FS_I(0)))
OP(getdents64, syscall(SYS_getdents64, FS_I(0), r->buf, r->len > UINT_MAX ? UINT_MAX : r->len))
OP(fgetxattr, fgetxattr(FS_I(0), FS_S(0), r->buf, r->len))
OP(fsetxattr, fsetxattr(FS_I(0), FS_S(0), r->buf, r->len, FS_I(1)))
OP(flistxattr, flistxattr(FS_I(0), r->buf, r->len))
OP(fremovexattr, fremovexattr(FS_I(0), FS_S(0)))
OP(getxattr, getxattr(FS_S(0), FS_S(1), r->buf, r->len))
OP(setxattr, setxattr(FS_S(0), FS_S(1), r->buf, r->len, FS_I(0)))
OP(listxattr, listxattr(FS_S(0), r->buf, r->len))
OP(removexattr, removexattr(FS_S(0), FS_S(1)))
OP(lgetxattr, lgetxattr(FS_S(0), FS_S(1), r->buf, r->len))
OP(lsetxattr, lsetxattr(FS_S(0), FS_S(1), r->buf, r->len, FS_I(0)))
OP(llistxattr, llistxattr(FS_S(0), r->buf, r->len))
OP(lremovexattr, lremovexattr(FS_S(0), FS_S(1)))
/* The *xattrat calls (Linux 6.13): xattrs of the inode dirfd + path names, following the magic
 * /proc/self/fd/N link relative to an fd, so no absolute /proc path is needed (a chroot has none). */
#ifndef SYS_setxattrat
#define SYS_setxattrat 463 /* the same number on every architecture */
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif
struct vfs_xattr_args { uint64_t value; uint32_t size; uint32_t flags; };
static void x_getxattrat(fsreq *r) {
  struct vfs_xattr_args a = {.value = (uint64_t)(uintptr_t)r->buf, .size = r->len > UINT_MAX ? UINT_MAX : (uint32_t)r->len, .flags = 0};
  FS_RET(syscall(SYS_getxattrat, FS_I(0), FS_S(0), FS_U(1), FS_S(1), &a, sizeof a));
}
static void x_setxattrat(fsreq *r) {
  struct vfs_xattr_args a = {.value = (uint64_t)(uintptr_t)r->buf, .size = r->len > UINT_MAX ? UINT_MAX : (uint32_t)r->len, .flags = FS_U(2)};
  FS_RET(syscall(SYS_setxattrat, FS_I(0), FS_S(0), FS_U(1), FS_S(1), &a, sizeof a));
}
OP(listxattrat, syscall(SYS_listxattrat, FS_I(0), FS_S(0), FS_U(1), r->buf, r->len))
OP(removexattrat, syscall(SYS_removexattrat, FS_I(0), FS_S(0), FS_U(1), FS_S(1)))
static void x_fcntl_lock(fsreq *r) {
  r->u.fl = (struct flock){.l_type = (short)FS_I(2), .l_whence = (short)FS_I(3), .l_start = FS_L(4), .l_len = FS_L(5)};
  FS_RET(fcntl(FS_I(0), FS_I(1), &r->u.fl)); /* a cancellation point for F_SETLKW and F_OFD_SETLKW */
}
static void x_flock(fsreq *r) {
  /* flock() is no cancellation point: allow cancellation (cancelBlocking) during the call only. */
  int old;
  pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
  int ret = flock(FS_I(0), FS_I(1));
  int e = errno;
  pthread_setcanceltype(old, NULL);
  r->ret = ret;
  if (ret < 0) r->err = e;
}
static void x_name_to_handle_at(fsreq *r) {
  uint64_t mnt = 0; /* an int, or a u64 with AT_HANDLE_MNT_ID_UNIQUE */
  r->u.fh.handle_bytes = FS_HANDLE_MAX;
  FS_RET(name_to_handle_at(FS_I(0), FS_S(0), (struct file_handle *)&r->u.fh, (int *)&mnt, FS_I(1)));
  r->a[FS_MAX_INTS - 1] = (int64_t)mnt;
}
OP(open_by_handle_at, open_by_handle_at(FS_I(0), (struct file_handle *)&r->u.fh, FS_I(1) | O_CLOEXEC))
static void x_copy_file_range(fsreq *r) {
  off64_t in = FS_L(1), out = FS_L(3);
  FS_RET(copy_file_range(FS_I(0), in < 0 ? NULL : &in, FS_I(2), out < 0 ? NULL : &out, (size_t)FS_L(4), FS_U(5)));
}
OP(pread, pread(FS_I(0), r->buf, r->len, (off_t)FS_L(1)))
OP(pwrite, pwrite(FS_I(0), r->buf, r->len, (off_t)FS_L(1)))
OP(preadv2, preadv2(FS_I(0), r->iov, r->iovcnt, (off_t)FS_L(1), FS_I(2)))
OP(pwritev2, pwritev2(FS_I(0), r->iov, r->iovcnt, (off_t)FS_L(1), FS_I(2)))
OP(faccessat, syscall(SYS_faccessat, FS_I(0), FS_S(0), FS_I(1)))
#ifdef SYS_faccessat2
OP(faccessat2, syscall(SYS_faccessat2, FS_I(0), FS_S(0), FS_I(1), FS_I(2)))
#else
static void x_faccessat2(fsreq *r) { r->ret = -1; r->err = ENOSYS; }
#endif
OP(dup, fcntl(FS_I(0), F_DUPFD_CLOEXEC, 0))
OP(fcntl_getfl, fcntl(FS_I(0), F_GETFL))
OP(fcntl_setfl, fcntl(FS_I(0), F_SETFL, FS_I(1)))

/* ---- compound calls: a short fixed sequence of the syscalls above in one pool job ----
 * A FUSE request that needs several syscalls would otherwise pay one pool round trip for each. These
 * only chain calls; every choice (flags, resolve rules, which creds, whether a handle is wanted) is
 * the caller's, passed in. */

/*
 * closeDup(fd): close a duplicate of fd, i.e. what close(2) of one more fd of that open file does
 * (NFS and CephFS flush there and report write errors), leaving fd open: FUSE_FLUSH. ret = close's.
 */
static void x_close_dup(fsreq *r) {
  int d = fcntl(FS_I(0), F_DUPFD_CLOEXEC, 0);
  if (d < 0) { r->ret = -1; r->err = errno; return; }
  FS_RET(close(d));
}

/*
 * pwritevKillSuidgid(fd, iov, offset, flags): FUSE_WRITE_KILL_SUIDGID's write, in one job: what the
 * kernel's should_remove_suid asks of an unprivileged writer (setuid goes, setgid too when
 * group-executable; directories are left alone), by fchmod on fd, then pwritev2 as pwritev. A failing
 * statx or fchmod fails the call before anything is written. ret = pwritev2's.
 */
static void x_pwritev2_kill_suidgid(fsreq *r) {
  struct statx st;
  if (statx(FS_I(0), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE, &st) < 0) { r->ret = -1; r->err = errno; return; }
  if (!S_ISDIR(st.stx_mode)) {
    mode_t kill = st.stx_mode & S_ISUID;
    if ((st.stx_mode & S_ISGID) && (st.stx_mode & S_IXGRP)) kill |= S_ISGID;
    if (kill != 0 && fchmod(FS_I(0), (st.stx_mode & 07777) & ~kill) < 0) { r->ret = -1; r->err = errno; return; }
  }
  FS_RET(pwritev2(FS_I(0), r->iov, r->iovcnt, (off_t)FS_L(1), FS_I(2)));
}

typedef struct {
  struct statx stx;
  int path_fd;
  int handle_err; /* name_to_handle_at's errno, 0 when it worked or was not asked for */
  uint64_t mnt;
  struct { uint32_t handle_bytes; int32_t handle_type; unsigned char f_handle[FS_HANDLE_MAX]; } fh;
} open_stat_out;

/*
 * openStat(dirfd, name, flags, mode, resolve, procFd, mask, handleFlags): open the name (openat2
 * with `resolve`, or openat when resolve is -1), under the call's creds; then, when procFd >= 0, back
 * on the thread's own creds, an O_PATH open of the new fd through procFd ("/proc/self/fd"); then
 * statx (AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, mask) and, when handleFlags >= 0, name_to_handle_at
 * (AT_EMPTY_PATH | handleFlags) of that O_PATH fd (or of the opened fd itself without procFd). A
 * failing open or statx fails the call (fds closed); a failing name_to_handle_at is reported in
 * handle_err. ret = the opened fd.
 */
static void x_open_stat(fsreq *r) {
  open_stat_out *o = calloc(1, sizeof *o);
  if (o == NULL) { r->ret = -1; r->err = ENOMEM; return; }
  r->own = o;
  o->path_fd = -1;
  int fd;
  if (FS_L(3) < 0) {
    fd = openat(FS_I(0), FS_S(0), FS_I(1) | O_CLOEXEC, FS_U(2));
  } else {
    r->u.how = (struct open_how){.flags = (uint64_t)(uint32_t)(FS_I(1) | O_CLOEXEC), .mode = FS_U(2), .resolve = (uint64_t)FS_L(3)};
#ifdef SYS_openat2
    fd = (int)syscall(SYS_openat2, FS_I(0), FS_S(0), &r->u.how, sizeof r->u.how);
#else
    fd = -1;
    errno = ENOSYS;
#endif
  }
  if (fd < 0) { r->ret = -1; r->err = errno; return; }
  int sfd = fd;
  if (FS_I(4) >= 0) {
    int e = vfs_creds_switch(NULL);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    sfd = e == 0 ? openat(FS_I(4), num, O_PATH | O_CLOEXEC) : -1;
    if (sfd < 0) { r->err = e != 0 ? e : errno; close(fd); r->ret = -1; return; }
    o->path_fd = sfd;
  }
  if (statx(sfd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, FS_U(5), &o->stx) < 0) {
    r->err = errno;
    if (sfd != fd) close(sfd);
    close(fd);
    r->ret = -1;
    return;
  }
  if (FS_I(6) >= 0) {
    o->fh.handle_bytes = FS_HANDLE_MAX;
    if (name_to_handle_at(sfd, "", (struct file_handle *)&o->fh, (int *)&o->mnt, AT_EMPTY_PATH | FS_I(6)) < 0) o->handle_err = errno;
  }
  r->ret = fd;
}

/* Names packed as NUL-terminated strings, `count` of them, in the 'b' buffer: a record per name,
 * struct statx, statx's errno (i32), name_to_handle_at's errno (i32), the mount id (u64), the handle
 * (struct file_handle, FS_HANDLE_MAX bytes of f_handle). */
#define STATX_NAMES_REC (sizeof(struct statx) + 16 + 8 + FS_HANDLE_MAX)
#define STATX_NAMES_MAX 4096

/* The names jobs' output: `n` zeroed records of `rec` bytes, owned by r (freed with it). NULL, with
 * r's error set, when n is over STATX_NAMES_MAX or memory is short. */
static unsigned char *names_out(fsreq *r, uint32_t n, size_t rec) {
  if (n > STATX_NAMES_MAX) { r->ret = -1; r->err = EINVAL; return NULL; }
  unsigned char *out = calloc(n == 0 ? 1 : n, rec);
  if (out == NULL) { r->ret = -1; r->err = ENOMEM; return NULL; }
  r->own = out;
  return out;
}

/* The name at *p in r's 'b' buffer (NUL-terminated names back to back), *p moved past it; NULL when
 * the buffer holds no further terminated name. */
static const char *next_name(const fsreq *r, const char **p) {
  const char *name = *p, *end = (const char *)r->buf + r->len;
  const char *nul = name < end ? memchr(name, 0, (size_t)(end - name)) : NULL;
  if (nul == NULL) return NULL;
  *p = nul + 1;
  return name;
}

/*
 * statxNames(dirfd, names, count, flags, mask, handleFlags): statx(dirfd, name, flags, mask) for each
 * name, and when handleFlags >= 0 and statx worked, name_to_handle_at(dirfd, name, handleFlags) too
 * (no fd is opened either way).
 */
static void x_statx_names(fsreq *r) {
  uint32_t n = FS_U(1);
  unsigned char *out = names_out(r, n, STATX_NAMES_REC);
  if (out == NULL) return;
  const char *at = r->buf;
  for (uint32_t i = 0; i < n; i++) {
    const char *p = next_name(r, &at);
    if (p == NULL) { r->ret = -1; r->err = EINVAL; return; }
    unsigned char *rec = out + (size_t)i * STATX_NAMES_REC;
    int32_t e = statx(FS_I(0), p, FS_I(2), FS_U(3), (struct statx *)rec) < 0 ? errno : 0;
    memcpy(rec + sizeof(struct statx), &e, sizeof e);
    if (e == 0 && FS_I(4) >= 0) {
      unsigned char *fh = rec + sizeof(struct statx) + 16;
      uint32_t hb = FS_HANDLE_MAX;
      memcpy(fh, &hb, sizeof hb);
      uint64_t mnt = 0;
      int32_t he = name_to_handle_at(FS_I(0), p, (struct file_handle *)fh, (int *)&mnt, FS_I(4)) < 0 ? errno : 0;
      memcpy(rec + sizeof(struct statx) + 4, &he, sizeof he);
      memcpy(rec + sizeof(struct statx) + 8, &mnt, sizeof mnt);
    }
  }
  r->ret = n;
}

/*
 * statxOpened(dirfd, name, flags, resolve, mask, out): statx of `name` read through an fd instead of
 * by name: openat2(dirfd, name, flags, resolve) (O_PATH and RESOLVE_CACHED make it a lookup that
 * never waits for I/O), statx of that fd (AT_EMPTY_PATH) into `out` (a struct statx), close.
 */
static void x_statx_opened(fsreq *r) {
  if (r->len < sizeof(struct statx)) { r->ret = -1; r->err = EINVAL; return; }
#ifdef SYS_openat2
  r->u.how = (struct open_how){.flags = (uint64_t)(uint32_t)(FS_I(1) | O_CLOEXEC), .resolve = (uint64_t)FS_L(2)};
  int fd = (int)syscall(SYS_openat2, FS_I(0), FS_S(0), &r->u.how, sizeof r->u.how);
  if (fd < 0) { r->ret = -1; r->err = errno; return; }
  r->ret = statx(fd, "", AT_EMPTY_PATH, FS_U(3), (struct statx *)r->buf);
  if (r->ret < 0) r->err = errno;
  close(fd);
#else
  r->ret = -1;
  r->err = ENOSYS;
#endif
}

/* closeMany(fds): close(2) each fd of an Int32Array; ret = how many failed (the fds are gone anyway). */
static void x_close_many(fsreq *r) {
  const int32_t *fds = r->buf;
  size_t n = r->len / sizeof *fds;
  int64_t failed = 0;
  for (size_t i = 0; i < n; i++)
    if (close(fds[i]) < 0) failed++;
  r->ret = failed;
}

/*
 * openStatNames(dirfd, names, count, flags, resolve, mask, handleFlags): for each name, what
 * openStat(dirfd, name, flags, 0, resolve, -1, mask, handleFlags) does (no creds, no procFd), in one
 * job. A record per name: the fd (i32, -1 on failure), the errno (i32), then openStat's output.
 */
#define OPEN_NAMES_REC (8 + sizeof(open_stat_out))

static void x_open_stat_names(fsreq *r) {
  uint32_t n = FS_U(1);
  unsigned char *out = names_out(r, n, OPEN_NAMES_REC);
  if (out == NULL) return;
  const char *at = r->buf;
  for (uint32_t i = 0; i < n; i++) {
    const char *p = next_name(r, &at);
    if (p == NULL) {
      for (uint32_t j = 0; j < i; j++) { /* a bad buffer: undo, so no fd is left behind */
        int32_t fd;
        memcpy(&fd, out + (size_t)j * OPEN_NAMES_REC, sizeof fd);
        if (fd >= 0) close(fd);
      }
      r->ret = -1;
      r->err = EINVAL;
      return;
    }
    unsigned char *rec = out + (size_t)i * OPEN_NAMES_REC;
    open_stat_out *o = (open_stat_out *)(rec + 8);
    int32_t fd;
    if (FS_L(3) < 0) {
      fd = openat(FS_I(0), p, FS_I(2) | O_CLOEXEC);
    } else {
      struct open_how how = {.flags = (uint64_t)(uint32_t)(FS_I(2) | O_CLOEXEC), .resolve = (uint64_t)FS_L(3)};
#ifdef SYS_openat2
      fd = (int32_t)syscall(SYS_openat2, FS_I(0), p, &how, sizeof how);
#else
      fd = -1;
      errno = ENOSYS;
#endif
    }
    int32_t e = 0;
    if (fd < 0) {
      e = errno;
    } else if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, FS_U(4), &o->stx) < 0) {
      e = errno;
      close(fd);
      fd = -1;
    } else if (FS_I(5) >= 0) {
      o->fh.handle_bytes = FS_HANDLE_MAX;
      if (name_to_handle_at(fd, "", (struct file_handle *)&o->fh, (int *)&o->mnt, AT_EMPTY_PATH | FS_I(5)) < 0) o->handle_err = errno;
    }
    memcpy(rec, &fd, sizeof fd);
    memcpy(rec + 4, &e, sizeof e);
  }
  r->ret = n;
}

/* ---- which calls may wait forever (run on a dedicated thread) ---- */

static bool blocks_lock(const fsreq *r) { return FS_I(1) == F_SETLKW || FS_I(1) == F_OFD_SETLKW; }
static bool blocks_flock(const fsreq *r) { return (FS_I(1) & (LOCK_NB | LOCK_UN)) == 0; }

/* ---- pack: results ---- */

static napi_value buffer_copy(napi_env env, const void *p, size_t n) {
  napi_value v;
  napi_create_buffer_copy(env, n, p, NULL, &v);
  return v;
}
static napi_value pack_statx(napi_env env, fsreq *r) { return buffer_copy(env, &r->u.stx, sizeof r->u.stx); }
static napi_value pack_statfs(napi_env env, fsreq *r) { return buffer_copy(env, r->u.sfs, sizeof r->u.sfs); }
static napi_value pack_own(napi_env env, fsreq *r) { return buffer_copy(env, r->own, (size_t)r->ret); }

static napi_value pack_handle(napi_env env, fsreq *r) {
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "handle", buffer_copy(env, &r->u.fh, 8 + r->u.fh.handle_bytes));
  napi_value mnt;
  napi_create_bigint_uint64(env, (uint64_t)r->a[FS_MAX_INTS - 1], &mnt);
  napi_set_named_property(env, o, "mountId", mnt);
  return o;
}

static napi_value pack_flock(napi_env env, fsreq *r) {
  napi_value o, start, len;
  napi_create_object(env, &o);
  napi_create_bigint_int64(env, r->u.fl.l_start, &start);
  napi_create_bigint_int64(env, r->u.fl.l_len, &len);
  napi_set_named_property(env, o, "type", vfs_int(env, r->u.fl.l_type));
  napi_set_named_property(env, o, "whence", vfs_int(env, r->u.fl.l_whence));
  napi_set_named_property(env, o, "start", start);
  napi_set_named_property(env, o, "len", len);
  napi_set_named_property(env, o, "pid", vfs_int(env, r->u.fl.l_pid));
  return o;
}

static napi_value pack_open_stat(napi_env env, fsreq *r) {
  open_stat_out *o = r->own;
  napi_value v;
  napi_create_object(env, &v);
  napi_set_named_property(env, v, "fd", vfs_int(env, r->ret));
  napi_set_named_property(env, v, "pathFd", vfs_int(env, o->path_fd));
  napi_set_named_property(env, v, "statx", buffer_copy(env, &o->stx, sizeof o->stx));
  napi_set_named_property(env, v, "handleErrno", vfs_int(env, o->handle_err));
  if (FS_I(6) >= 0 && o->handle_err == 0) {
    napi_value mnt;
    napi_create_bigint_uint64(env, o->mnt, &mnt);
    napi_set_named_property(env, v, "handle", buffer_copy(env, &o->fh, 8 + o->fh.handle_bytes));
    napi_set_named_property(env, v, "mountId", mnt);
  }
  return v;
}
static napi_value pack_open_names(napi_env env, fsreq *r) { return buffer_copy(env, r->own, (size_t)r->ret * OPEN_NAMES_REC); }
static napi_value pack_statx_names(napi_env env, fsreq *r) { return buffer_copy(env, r->own, (size_t)r->ret * STATX_NAMES_REC); }

/* ---- the table ---- */

#define ASYNC(js, sys, sig, x, pack) {js, sys, sig, x_##x, pack, NULL, false, false}
#define BLOCKING(js, sys, sig, x, pack, blocks) {js, sys, sig, x_##x, pack, blocks, false, false}
#define SYNC(js, sys, sig, x, pack) {js, sys, sig, x_##x, pack, NULL, true, false}
#define SYNC_ERRNO(js, sys, sig, x, pack) {js, sys, sig, x_##x, pack, NULL, true, true}

static const fs_op ops[] = {
  /* open and close; dirfd, name, ... */
  ASYNC("openat", "openat", "iniu", openat, fs_pack_int),
  SYNC("openatSync", "openat", "iniu", openat, fs_pack_int),
  ASYNC("openat2", "openat2", "iniul", openat2, fs_pack_int),
  ASYNC("openByHandleAt", "open_by_handle_at", "ihi", open_by_handle_at, fs_pack_int),
  ASYNC("nameToHandleAt", "name_to_handle_at", "ini", name_to_handle_at, pack_handle),
  ASYNC("close", "close", "i", close, fs_pack_void),
  ASYNC("openStat", "openat2", "iniuliui", open_stat, pack_open_stat),
  SYNC_ERRNO("openStatSync", "openat2", "iniuliui", open_stat, pack_open_stat),
  ASYNC("openStatNames", "openat2", "ibuilui", open_stat_names, pack_open_names),
  ASYNC("closeMany", "close", "b", close_many, fs_pack_int),
  ASYNC("dup", "fcntl", "i", dup, fs_pack_int),
  ASYNC("closeDup", "close", "i", close_dup, fs_pack_void),
  ASYNC("fcntlGetfl", "fcntl", "i", fcntl_getfl, fs_pack_int),
  ASYNC("fcntlSetfl", "fcntl", "ii", fcntl_setfl, fs_pack_void),
  /* attributes */
  ASYNC("statx", "statx", "iniu", statx, pack_statx),
  SYNC("statxSync", "statx", "iniu", statx, pack_statx),
  ASYNC("statxNames", "statx", "ibuiui", statx_names, pack_statx_names),
  SYNC_ERRNO("statxOpenedSync", "openat2", "iniiub", statx_opened, fs_pack_int),
  ASYNC("fstatfs", "fstatfs", "i", fstatfs, pack_statfs),
  ASYNC("fchmod", "fchmod", "iu", fchmod, fs_pack_void),
  ASYNC("fchmodat", "fchmodat", "inui", fchmodat, fs_pack_void),
  ASYNC("fchownat", "fchownat", "inlli", fchownat, fs_pack_void),
  ASYNC("utimensat", "utimensat", "inlllli", utimensat, fs_pack_void),
  ASYNC("faccessat", "faccessat", "ini", faccessat, fs_pack_void),
  ASYNC("faccessat2", "faccessat2", "inii", faccessat2, fs_pack_void),
  /* namespace */
  ASYNC("mkdirat", "mkdirat", "inu", mkdirat, fs_pack_void),
  ASYNC("mknodat", "mknodat", "inul", mknodat, fs_pack_void),
  ASYNC("symlinkat", "symlinkat", "nin", symlinkat, fs_pack_void),
  ASYNC("readlinkat", "readlinkat", "in", readlinkat, pack_own),
  ASYNC("unlinkat", "unlinkat", "ini", unlinkat, fs_pack_void),
  ASYNC("renameat2", "renameat2", "ininu", renameat2, fs_pack_void),
  ASYNC("linkat", "linkat", "inini", linkat, fs_pack_void),
  ASYNC("getdents64", "getdents64", "ib", getdents64, fs_pack_int),
  /* data */
  ASYNC("pread", "pread", "ibl", pread, fs_pack_int),
  ASYNC("pwrite", "pwrite", "ibl", pwrite, fs_pack_int),
  ASYNC("preadv", "preadv2", "ivli", preadv2, fs_pack_int),
  SYNC_ERRNO("preadvSync", "preadv2", "ivli", preadv2, fs_pack_int),
  ASYNC("pwritev", "pwritev2", "ivli", pwritev2, fs_pack_int),
  ASYNC("pwritevKillSuidgid", "pwritev2", "ivli", pwritev2_kill_suidgid, fs_pack_int),
  ASYNC("copyFileRange", "copy_file_range", "ioiolu", copy_file_range, fs_pack_int),
  ASYNC("ftruncate", "ftruncate", "il", ftruncate, fs_pack_void),
  ASYNC("fallocate", "fallocate", "iill", fallocate, fs_pack_void),
  ASYNC("lseek", "lseek", "ili", lseek, fs_pack_bigint),
  ASYNC("fsync", "fsync", "i", fsync, fs_pack_void),
  ASYNC("fdatasync", "fdatasync", "i", fdatasync, fs_pack_void),
  ASYNC("syncfs", "syncfs", "i", syncfs, fs_pack_void),
  /* xattrs: fd-based, path-based following symlinks (for /proc/self/fd/N), and l* not following */
  ASYNC("fgetxattr", "fgetxattr", "inB", fgetxattr, fs_pack_int),
  ASYNC("fsetxattr", "fsetxattr", "inbi", fsetxattr, fs_pack_void),
  ASYNC("flistxattr", "flistxattr", "iB", flistxattr, fs_pack_int),
  ASYNC("fremovexattr", "fremovexattr", "in", fremovexattr, fs_pack_void),
  ASYNC("getxattr", "getxattr", "nnB", getxattr, fs_pack_int),
  ASYNC("setxattr", "setxattr", "nnbi", setxattr, fs_pack_void),
  ASYNC("listxattr", "listxattr", "nB", listxattr, fs_pack_int),
  ASYNC("removexattr", "removexattr", "nn", removexattr, fs_pack_void),
  ASYNC("lgetxattr", "lgetxattr", "nnB", lgetxattr, fs_pack_int),
  ASYNC("lsetxattr", "lsetxattr", "nnbi", lsetxattr, fs_pack_void),
  ASYNC("llistxattr", "llistxattr", "nB", llistxattr, fs_pack_int),
  ASYNC("lremovexattr", "lremovexattr", "nn", lremovexattr, fs_pack_void),
  ASYNC("getxattrat", "getxattrat", "ininB", getxattrat, fs_pack_int),
  ASYNC("setxattrat", "setxattrat", "ininbu", setxattrat, fs_pack_void),
  ASYNC("listxattrat", "listxattrat", "iniB", listxattrat, fs_pack_int),
  ASYNC("removexattrat", "removexattrat", "inin", removexattrat, fs_pack_void),
  /* locks: the waiting forms run on their own thread and can be cancelled by wait id */
  BLOCKING("fcntlLock", "fcntl", "iiiillw", fcntl_lock, pack_flock, blocks_lock),
  BLOCKING("flock", "flock", "iiw", flock, fs_pack_void, blocks_flock),
};

/* getrlimit(resource) -> [soft, hard] as bigints (RLIM_INFINITY = 2^64-1). Synchronous. */
static napi_value js_getrlimit(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t res;
  if (!vfs_arg_i32(env, argv[0], &res)) return NULL;
  struct rlimit rl;
  if (getrlimit(res, &rl) != 0) return vfs_throw_errno(env, errno, "getrlimit");
  napi_value arr, soft, hard;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_bigint_uint64(env, rl.rlim_cur, &soft);
  napi_create_bigint_uint64(env, rl.rlim_max, &hard);
  napi_set_element(env, arr, 0, soft);
  napi_set_element(env, arr, 1, hard);
  return arr;
}

/* setrlimit(resource, soft, hard). Synchronous. */
static napi_value js_setrlimit(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t res;
  uint64_t soft, hard;
  if (!vfs_arg_i32(env, argv[0], &res) || !vfs_arg_u64(env, argv[1], &soft) || !vfs_arg_u64(env, argv[2], &hard)) return NULL;
  struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
  if (setrlimit(res, &rl) != 0) return vfs_throw_errno(env, errno, "setrlimit");
  return vfs_undefined(env);
}

void vfs_register_fs(napi_env env, napi_value exports) {
  napi_value ns = fs_register_ops(env, exports, ops, sizeof ops / sizeof ops[0]);
  if (ns == NULL) return;
  static const vfs_export list[] = {
    {"getrlimit", js_getrlimit},
    {"setrlimit", js_setrlimit},
    {NULL, NULL},
  };
  vfs_register(env, ns, list);
}
