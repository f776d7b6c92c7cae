/*
 * Shared helpers for the syscall shim. Every exported function is a thin wrapper around one syscall:
 * arguments are checked for type, the syscall runs, and a failure becomes a JS Error whose `code` is
 * the errno name (EAGAIN, EBADF, ...), `errno` the number and `syscall` the call's name.
 */
#ifndef VFS_ADDON_H
#define VFS_ADDON_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdbool.h>

/* Throw an Error for errno value `err` from syscall `name`. Always returns NULL for `return`. */
napi_value vfs_throw_errno(napi_env env, int err, const char *name);
/* Throw a TypeError with a stable code "ERR_INVALID_ARG". Always returns NULL. */
napi_value vfs_throw_arg(napi_env env, const char *msg);

/* Argument readers: return false (with a pending exception) when the argument is the wrong type. */
bool vfs_arg_i32(napi_env env, napi_value v, int32_t *out);
bool vfs_arg_u32(napi_env env, napi_value v, uint32_t *out);
bool vfs_arg_i64(napi_env env, napi_value v, int64_t *out);     /* number or bigint */
bool vfs_arg_u64(napi_env env, napi_value v, uint64_t *out);     /* number or bigint, non-negative */
bool vfs_arg_bytes(napi_env env, napi_value v, void **data, size_t *len); /* TypedArray/DataView/ArrayBuffer */
/* The same, and the ArrayBuffer that owns the bytes (v itself for an ArrayBuffer): what keeps them alive. */
bool vfs_arg_bytes_ab(napi_env env, napi_value v, void **data, size_t *len, napi_value *backing);
bool vfs_arg_string(napi_env env, napi_value v, char *buf, size_t cap);   /* NUL-free, fits in cap */

napi_value vfs_int(napi_env env, int64_t v);
napi_value vfs_undefined(napi_env env);

#define VFS_ARGS(n)                                                                  \
  size_t argc = (n);                                                                 \
  napi_value argv[(n) > 0 ? (n) : 1];                                                \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;  \
  if (argc < (n)) return vfs_throw_arg(env, "too few arguments")

typedef struct { const char *name; napi_callback fn; } vfs_export;

void vfs_register(napi_env env, napi_value exports, const vfs_export *list);
void vfs_register_mem(napi_env env, napi_value exports);
void vfs_register_fd(napi_env env, napi_value exports);
void vfs_register_sock(napi_env env, napi_value exports);
void vfs_register_fs(napi_env env, napi_value exports); /* exports.fs: async filesystem syscalls */
void vfs_register_bus(napi_env env, napi_value exports); /* SIGBUS on guest memory (bus.c) */
void vfs_bus_track(void *addr, size_t len);   /* a guest memory mapping the SIGBUS handler may rescue */
void vfs_bus_untrack(void *addr);             /* before it is unmapped */
void vfs_register_sandbox(napi_env env, napi_value exports); /* mount, pivot_root, capabilities, execve */

#endif
