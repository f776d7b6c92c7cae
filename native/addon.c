/* Module init and the argument/error helpers shared by every shim. */
#include "addon.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

napi_value vfs_throw_errno(napi_env env, int err, const char *name) {
  const char *code = strerrorname_np(err);
  char codebuf[16];
  if (code == NULL) { snprintf(codebuf, sizeof codebuf, "E%d", err); code = codebuf; }
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s (%s)", name, strerror(err), code);
  napi_value m, c, e, n, s;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  napi_throw(env, e);
  return NULL;
}

napi_value vfs_throw_arg(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return NULL;
}

bool vfs_arg_i32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) { vfs_throw_arg(env, "expected a number"); return false; }
  return true;
}

bool vfs_arg_u32(napi_env env, napi_value v, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 4294967295.0 || d != (double)(uint32_t)d) {
    vfs_throw_arg(env, "expected an unsigned 32-bit integer");
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

bool vfs_arg_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    if (napi_get_value_bigint_int64(env, v, out, &lossless) != napi_ok || !lossless) {
      vfs_throw_arg(env, "bigint out of int64 range");
      return false;
    }
    return true;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d) {
    vfs_throw_arg(env, "expected an integer");
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool vfs_arg_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok || !lossless) {
      vfs_throw_arg(env, "bigint out of uint64 range");
      return false;
    }
    return true;
  }
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
    vfs_throw_arg(env, "expected a non-negative integer");
    return false;
  }
  *out = (uint64_t)d;
  return true;
}

bool vfs_arg_bytes(napi_env env, napi_value v, void **data, size_t *len) { return vfs_arg_bytes_ab(env, v, data, len, NULL); }

bool vfs_arg_bytes_ab(napi_env env, napi_value v, void **data, size_t *len, napi_value *backing) {
  bool is;
  if (backing != NULL) *backing = v;
  if (napi_is_typedarray(env, v, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t length, offset;
    napi_value ab;
    napi_get_typedarray_info(env, v, &type, &length, data, &ab, &offset);
    if (backing != NULL) *backing = ab;
    size_t esz = 1;
    switch (type) {
      case napi_int16_array: case napi_uint16_array: esz = 2; break;
      case napi_int32_array: case napi_uint32_array: case napi_float32_array: esz = 4; break;
      case napi_float64_array: case napi_bigint64_array: case napi_biguint64_array: esz = 8; break;
      default: esz = 1;
    }
    *len = length * esz;
    return true;
  }
  if (napi_is_dataview(env, v, &is) == napi_ok && is) {
    napi_value ab;
    size_t offset;
    napi_get_dataview_info(env, v, len, data, &ab, &offset);
    if (backing != NULL) *backing = ab;
    return true;
  }
  if (napi_is_arraybuffer(env, v, &is) == napi_ok && is) {
    napi_get_arraybuffer_info(env, v, data, len);
    return true;
  }
  vfs_throw_arg(env, "expected a TypedArray, DataView or ArrayBuffer");
  return false;
}

bool vfs_arg_string(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) { vfs_throw_arg(env, "expected a string"); return false; }
  if (n + 1 > cap) { vfs_throw_arg(env, "string too long"); return false; }
  napi_get_value_string_utf8(env, v, buf, cap, &n);
  if (strlen(buf) != n) { vfs_throw_arg(env, "string contains NUL"); return false; }
  return true;
}

napi_value vfs_int(napi_env env, int64_t v) {
  napi_value r;
  napi_create_int64(env, v, &r);
  return r;
}

napi_value vfs_undefined(napi_env env) {
  napi_value r;
  napi_get_undefined(env, &r);
  return r;
}

void vfs_register(napi_env env, napi_value exports, const vfs_export *list) {
  for (; list->name != NULL; list++) {
    napi_value f;
    napi_create_function(env, list->name, NAPI_AUTO_LENGTH, list->fn, NULL, &f);
    napi_set_named_property(env, exports, list->name, f);
  }
}

static napi_value init(napi_env env, napi_value exports) {
  vfs_register_mem(env, exports);
  vfs_register_fd(env, exports);
  vfs_register_sock(env, exports);
  vfs_register_fs(env, exports);
  vfs_register_sandbox(env, exports);
  vfs_register_bus(env, exports);
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
