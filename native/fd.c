/*
 * fd shims: eventfd and its read/write, close, dup, and readiness watching.
 * Readiness uses one uv_poll_t per fd on Node's own event loop (libuv's epoll): no extra thread, and
 * the callback runs on the JS thread as soon as the loop sees the fd readable.
 */
#include "addon.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

/* eventfd(initval, flags) -> fd. EFD_CLOEXEC is always added; pass EFD_NONBLOCK (2048) for non-blocking. */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  uint32_t init, flags;
  if (!vfs_arg_u32(env, argv[0], &init) || !vfs_arg_u32(env, argv[1], &flags)) return NULL;
  int fd = eventfd(init, (int)flags | EFD_CLOEXEC);
  if (fd < 0) return vfs_throw_errno(env, errno, "eventfd");
  return vfs_int(env, fd);
}

/* eventfdRead(fd) -> bigint counter value. Throws EAGAIN on a non-blocking eventfd whose counter is 0. */
static napi_value js_eventfd_read(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t fd;
  if (!vfs_arg_i32(env, argv[0], &fd)) return NULL;
  uint64_t v;
  ssize_t n = read(fd, &v, sizeof v);
  if (n < 0) return vfs_throw_errno(env, errno, "read");
  if (n != sizeof v) return vfs_throw_errno(env, EIO, "read");
  napi_value r;
  napi_create_bigint_uint64(env, v, &r);
  return r;
}

/* eventfdWrite(fd, value) adds value (number or bigint) to the counter. */
static napi_value js_eventfd_write(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd;
  uint64_t v;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_u64(env, argv[1], &v)) return NULL;
  ssize_t n = write(fd, &v, sizeof v);
  if (n < 0) return vfs_throw_errno(env, errno, "write");
  if (n != sizeof v) return vfs_throw_errno(env, EIO, "write");
  return vfs_undefined(env);
}

/* close(fd) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t fd;
  if (!vfs_arg_i32(env, argv[0], &fd)) return NULL;
  if (close(fd) != 0) return vfs_throw_errno(env, errno, "close");
  return vfs_undefined(env);
}

/* dup(fd) -> new fd with FD_CLOEXEC */
static napi_value js_dup(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t fd;
  if (!vfs_arg_i32(env, argv[0], &fd)) return NULL;
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r < 0) return vfs_throw_errno(env, errno, "fcntl");
  return vfs_int(env, r);
}

/* setNonblock(fd): fcntl(F_SETFL, flags | O_NONBLOCK). Fds from a front-end may arrive blocking. */
static napi_value js_set_nonblock(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t fd;
  if (!vfs_arg_i32(env, argv[0], &fd)) return NULL;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return vfs_throw_errno(env, errno, "fcntl");
  return vfs_undefined(env);
}

/* ---- readiness: pollStart(fd, events, callback) -> handle; pollStop(handle) ---- */

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  bool stopped;
} watcher;

static void on_closed(uv_handle_t *h) { free(h->data); }

static void stop_watcher(watcher *w) {
  if (w->stopped) return;
  w->stopped = true;
  uv_poll_stop(&w->poll);
  napi_delete_reference(w->env, w->cb);
  napi_async_destroy(w->env, w->ctx);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  watcher *w = p->data;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, args[2], result;
  napi_get_reference_value(env, w->cb, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, status, &args[0]);
  napi_create_int32(env, events, &args[1]);
  napi_callback_scope cs;
  napi_value resource;
  napi_create_object(env, &resource);
  napi_open_callback_scope(env, resource, w->ctx, &cs);
  /* An exception from the callback is reported by Node as uncaught (process 'uncaughtException'). */
  napi_make_callback(env, w->ctx, recv, cb, 2, args, &result);
  napi_close_callback_scope(env, cs);
  napi_close_handle_scope(env, scope);
}

/* The JS handle holds a box pointing at the watcher; pollStop clears it, so a second stop is a no-op
 * even after the watcher's memory is gone. A handle collected while still polling leaves the watcher
 * running (its callback reference keeps it meaningful); only the box is freed. */
typedef struct { watcher *w; } watcher_box;

static void watcher_finalize(napi_env env, void *data, void *hint) { free(data); }

/* pollStart(fd, events, cb): events is a mask of 1 (readable) and 2 (writable); cb(status, events) runs
 * on the JS thread. status < 0 is a negated errno from the poll. The returned handle must be passed to
 * pollStop before the fd is closed. */
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t fd, events;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_i32(env, argv[1], &events)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) return vfs_throw_arg(env, "callback must be a function");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  watcher *w = calloc(1, sizeof *w);
  if (w == NULL) return vfs_throw_errno(env, ENOMEM, "uv_poll_init");
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r != 0) { free(w); return vfs_throw_errno(env, -r, "uv_poll_init"); }
  w->poll.data = w;
  w->env = env;
  napi_create_reference(env, argv[2], 1, &w->cb);
  napi_value name;
  napi_create_string_utf8(env, "vfs.poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->ctx);
  r = uv_poll_start(&w->poll, events & (UV_READABLE | UV_WRITABLE), on_poll);
  if (r != 0) {
    stop_watcher(w);
    return vfs_throw_errno(env, -r, "uv_poll_start");
  }
  watcher_box *box = malloc(sizeof *box);
  if (box == NULL) { stop_watcher(w); return vfs_throw_errno(env, ENOMEM, "uv_poll_start"); }
  box->w = w;
  napi_value handle;
  napi_create_external(env, box, watcher_finalize, NULL, &handle);
  return handle;
}

/* pollStop(handle): idempotent. */
static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  watcher_box *box;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_external || napi_get_value_external(env, argv[0], (void **)&box) != napi_ok || box == NULL)
    return vfs_throw_arg(env, "expected a poll handle");
  if (box->w != NULL) {
    stop_watcher(box->w);
    box->w = NULL;
  }
  return vfs_undefined(env);
}

void vfs_register_fd(napi_env env, napi_value exports) {
  static const vfs_export list[] = {
    {"eventfd", js_eventfd},
    {"eventfdRead", js_eventfd_read},
    {"eventfdWrite", js_eventfd_write},
    {"close", js_close},
    {"dup", js_dup},
    {"setNonblock", js_set_nonblock},
    {"pollStart", js_poll_start},
    {"pollStop", js_poll_stop},
    {NULL, NULL},
  };
  vfs_register(env, exports, list);
}
