/*
 * Unix stream socket shims with fd passing: socket, socketpair, bind, listen, accept4, connect,
 * recvmsg/sendmsg with SCM_RIGHTS, shutdown. Node's `net` cannot hand over SCM_RIGHTS fds, so the
 * vhost-user connection lives entirely on these.
 */
#include "addon.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define VFS_MAX_FDS 64

/* socket(type flags) -> fd: AF_UNIX, SOCK_STREAM | flags (SOCK_NONBLOCK=2048); SOCK_CLOEXEC always added. */
static napi_value js_socket(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t flags;
  if (!vfs_arg_i32(env, argv[0], &flags)) return NULL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (fd < 0) return vfs_throw_errno(env, errno, "socket");
  return vfs_int(env, fd);
}

/* socketpair(flags) -> [fd, fd] (AF_UNIX, SOCK_STREAM | flags, CLOEXEC) */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  int32_t flags;
  if (!vfs_arg_i32(env, argv[0], &flags)) return NULL;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0, sv) != 0) return vfs_throw_errno(env, errno, "socketpair");
  napi_value arr;
  napi_create_array_with_length(env, 2, &arr);
  napi_set_element(env, arr, 0, vfs_int(env, sv[0]));
  napi_set_element(env, arr, 1, vfs_int(env, sv[1]));
  return arr;
}

static bool unix_addr(napi_env env, napi_value v, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  return vfs_arg_string(env, v, sa->sun_path, sizeof sa->sun_path);
}

/* bind(fd, path) */
static napi_value js_bind(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd;
  struct sockaddr_un sa;
  if (!vfs_arg_i32(env, argv[0], &fd) || !unix_addr(env, argv[1], &sa)) return NULL;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return vfs_throw_errno(env, errno, "bind");
  return vfs_undefined(env);
}

/* listen(fd, backlog) */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd, backlog;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_i32(env, argv[1], &backlog)) return NULL;
  if (listen(fd, backlog) != 0) return vfs_throw_errno(env, errno, "listen");
  return vfs_undefined(env);
}

/* accept4(fd, flags) -> fd (SOCK_CLOEXEC always added) */
static napi_value js_accept4(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd, flags;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_i32(env, argv[1], &flags)) return NULL;
  int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | flags);
  if (c < 0) return vfs_throw_errno(env, errno, "accept4");
  return vfs_int(env, c);
}

/* connect(fd, path) */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd;
  struct sockaddr_un sa;
  if (!vfs_arg_i32(env, argv[0], &fd) || !unix_addr(env, argv[1], &sa)) return NULL;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return vfs_throw_errno(env, errno, "connect");
  return vfs_undefined(env);
}

/* recvmsg(fd, bytes, maxFds) -> { bytes, fds, truncated }. bytes 0 means the peer closed.
 * Received fds are close-on-exec; truncated is true if the kernel dropped fds (MSG_CTRUNC). */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t fd;
  uint32_t max_fds;
  void *data;
  size_t len;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_bytes(env, argv[1], &data, &len) || !vfs_arg_u32(env, argv[2], &max_fds)) return NULL;
  if (max_fds > VFS_MAX_FDS) max_fds = VFS_MAX_FDS;
  union { char buf[CMSG_SPACE(VFS_MAX_FDS * sizeof(int))]; struct cmsghdr align; } ctl;
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (max_fds > 0) {
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(max_fds * sizeof(int));
  }
  ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return vfs_throw_errno(env, errno, "recvmsg");
  napi_value fds, result;
  napi_create_array(env, &fds);
  uint32_t count = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *p = (int *)CMSG_DATA(c);
    for (size_t i = 0; i < k; i++) {
      int v;
      memcpy(&v, p + i, sizeof v);
      napi_set_element(env, fds, count++, vfs_int(env, v));
    }
  }
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "bytes", vfs_int(env, n));
  napi_set_named_property(env, result, "fds", fds);
  napi_value tr;
  napi_get_boolean(env, (msg.msg_flags & MSG_CTRUNC) != 0, &tr);
  napi_set_named_property(env, result, "truncated", tr);
  return result;
}

/* sendmsg(fd, bytes, fds[]) -> bytes sent. MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE. */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  int32_t fd;
  void *data;
  size_t len;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_bytes(env, argv[1], &data, &len)) return NULL;
  bool is;
  if (napi_is_array(env, argv[2], &is) != napi_ok || !is) return vfs_throw_arg(env, "fds must be an array");
  uint32_t nfds;
  napi_get_array_length(env, argv[2], &nfds);
  if (nfds > VFS_MAX_FDS) return vfs_throw_errno(env, EINVAL, "sendmsg");
  int fdv[VFS_MAX_FDS];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value e;
    napi_get_element(env, argv[2], i, &e);
    if (!vfs_arg_i32(env, e, &fdv[i])) return NULL;
  }
  union { char buf[CMSG_SPACE(VFS_MAX_FDS * sizeof(int))]; struct cmsghdr align; } ctl;
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    memset(ctl.buf, 0, sizeof ctl.buf);
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fdv, nfds * sizeof(int));
  }
  ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (n < 0) return vfs_throw_errno(env, errno, "sendmsg");
  return vfs_int(env, n);
}

/* shutdown(fd, how): 0 read, 1 write, 2 both */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd, how;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_i32(env, argv[1], &how)) return NULL;
  if (shutdown(fd, how) != 0) return vfs_throw_errno(env, errno, "shutdown");
  return vfs_undefined(env);
}

void vfs_register_sock(napi_env env, napi_value exports) {
  static const vfs_export list[] = {
    {"socket", js_socket},
    {"socketpair", js_socketpair},
    {"bind", js_bind},
    {"listen", js_listen},
    {"accept4", js_accept4},
    {"connect", js_connect},
    {"recvmsg", js_recvmsg},
    {"sendmsg", js_sendmsg},
    {"shutdown", js_shutdown},
    {NULL, NULL},
  };
  vfs_register(env, exports, list);
}
