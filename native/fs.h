/*
 * The async filesystem shims (fs-pool.c, fs-ops.c, creds.c), private to the addon.
 *
 * A JS call becomes one `fsreq`: the JS thread parses the arguments into it (per the op's argument
 * signature), a worker thread runs the op's `exec` (the syscall, nothing else) under the request's
 * credentials and umask, and the JS thread turns the result into a value with the op's `pack` and
 * settles the Promise. Ops are rows of a table (fs-ops.c); the machinery is in fs-pool.c.
 */
#ifndef VFS_FS_H
#define VFS_FS_H

#include "addon.h"
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#define FS_MAX_INTS 8
#define FS_MAX_NAMES 2
#define FS_INLINE_NAME 256
#define FS_INLINE_IOV 8
#define FS_HANDLE_MAX 128 /* MAX_HANDLE_SZ */
#define FS_MAX_GROUPS 64

typedef struct fsreq fsreq;
typedef struct fsport fsport;
typedef void (*fs_exec_fn)(fsreq *r);
typedef napi_value (*fs_pack_fn)(napi_env env, fsreq *r);
typedef bool (*fs_blocks_fn)(const fsreq *r);

/* One row of the op table. */
typedef struct {
  const char *name;    /* JS export name */
  const char *sys;     /* syscall name reported in errors */
  const char *sig;     /* argument signature, see fs_parse_args() in fs-pool.c */
  fs_exec_fn exec;     /* worker thread: run the syscall, set r->ret (and errno on failure) */
  fs_pack_fn pack;     /* JS thread: the resolved value */
  fs_blocks_fn blocks; /* non-NULL and true: may wait indefinitely, run on a dedicated thread */
  bool sync;           /* export runs exec on the JS thread and returns/throws (no creds) */
  bool sync_errno;     /* with sync: a failure returns -errno instead of throwing (for fast paths that
                          fall back on EAGAIN, where an exception per miss would cost more than the call) */
} fs_op;

/* Credentials a call runs under (see creds.c). */
typedef struct {
  uint32_t uid, gid;
  int ngroups;
  uint32_t groups[FS_MAX_GROUPS];
} vfs_creds;

struct fsreq {
  fsreq *next;
  fsport *port;
  const fs_op *op;
  napi_deferred deferred;
  uint64_t queued_ns; /* when it entered the pool's queue (CLOCK_MONOTONIC) */
  uint32_t wait_id; /* blocking ops: id for cancelBlocking(), 0 = not cancellable */
  /* context */
  bool has_creds;
  vfs_creds creds;
  int umask; /* -1: the pool thread's initial umask */
  /* result */
  int64_t ret;
  int err;
  int pre_err; /* set while parsing (e.g. ENAMETOOLONG): exec is skipped and the call fails with it */
  /* arguments */
  int64_t a[FS_MAX_INTS];
  char *s[FS_MAX_NAMES];
  char sbuf[FS_MAX_NAMES][FS_INLINE_NAME];
  void *buf; /* 'b'/'B' argument (caller's memory, kept alive by keep[]) */
  size_t len;
  struct iovec *iov; /* 'v' argument */
  int iovcnt;
  struct iovec iovbuf[FS_INLINE_IOV];
  napi_ref *keep; /* references that keep argument buffers alive until completion */
  int nkeep;
  napi_ref keepbuf[FS_INLINE_IOV];
  void *own; /* output memory owned by the request (readlink), freed with it */
  union {
    struct statx stx;
    uint64_t sfs[11];
    struct flock fl;
    struct { uint32_t handle_bytes; int32_t handle_type; unsigned char f_handle[FS_HANDLE_MAX]; } fh;
    struct open_how how;
  } u;
};

#define FS_I(n) ((int)r->a[n])
#define FS_U(n) ((unsigned)r->a[n])
#define FS_L(n) (r->a[n])
#define FS_S(n) (r->s[n])

/* Shared pack functions (fs-pool.c). */
napi_value fs_pack_void(napi_env env, fsreq *r);
napi_value fs_pack_int(napi_env env, fsreq *r);
napi_value fs_pack_bigint(napi_env env, fsreq *r);

/* Register the op table on a new object exports.fs (returned): async ops bound to this env's
 * completion port, sync ops direct, plus the pool controls. */
napi_value fs_register_ops(napi_env env, napi_value exports, const fs_op *ops, size_t n);

/* creds.c: per-thread credentials. */
void vfs_creds_thread_init(void);
/* Switch this thread to `c` (NULL: back to the thread's initial creds). Returns 0 or an errno; on
 * failure the thread is back at its initial creds (or the process is aborted if even that fails). */
int vfs_creds_switch(const vfs_creds *c);

#endif
