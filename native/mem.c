/*
 * Memory shims: mmap/munmap of an fd as an external ArrayBuffer, memfd_create.
 * An ArrayBuffer from mmap() owns its mapping: munmap() detaches it first (so later JS access sees a
 * zero-length buffer instead of faulting) and then unmaps; a buffer that is garbage collected while
 * still mapped is unmapped by its finalizer.
 */
#include "addon.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct mapping {
  void *addr;
  size_t len;
  /* Set by munmap(): the address may already belong to a newer mapping, so the finalizer (which
   * Node may run later, from a SetImmediate) must only free this record. */
  bool unmapped;
  struct mapping *next;
} mapping;

static mapping *live = NULL; /* only touched on the JS thread */

static mapping *take(void *addr) {
  for (mapping **p = &live; *p != NULL; p = &(*p)->next) {
    if ((*p)->addr == addr) {
      mapping *m = *p;
      *p = m->next;
      return m;
    }
  }
  return NULL;
}

static void drop(mapping *m) {
  for (mapping **p = &live; *p != NULL; p = &(*p)->next) {
    if (*p == m) {
      *p = m->next;
      return;
    }
  }
}

/* The record comes as the hint, never looked up by address: after an explicit munmap() the same
 * address can be a newer, live mapping. */
static void finalize(napi_env env, void *data, void *hint) {
  mapping *m = hint;
  if (!m->unmapped) {
    drop(m);
    vfs_bus_untrack(m->addr);
    munmap(m->addr, m->len);
  }
  free(m);
}

/* mmap(fd, length, offset, writable) -> ArrayBuffer. MAP_SHARED; offset must be page aligned. */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  VFS_ARGS(4);
  int32_t fd;
  uint64_t len, off;
  bool writable;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_u64(env, argv[1], &len) || !vfs_arg_u64(env, argv[2], &off)) return NULL;
  if (napi_get_value_bool(env, argv[3], &writable) != napi_ok) return vfs_throw_arg(env, "writable must be a boolean");
  if (len == 0) return vfs_throw_errno(env, EINVAL, "mmap");
  int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void *addr = mmap(NULL, (size_t)len, prot, MAP_SHARED, fd, (off_t)off);
  if (addr == MAP_FAILED) return vfs_throw_errno(env, errno, "mmap");
  mapping *m = malloc(sizeof *m);
  if (m == NULL) { munmap(addr, len); return vfs_throw_errno(env, ENOMEM, "mmap"); }
  m->addr = addr;
  m->len = (size_t)len;
  m->unmapped = false;
  vfs_bus_track(addr, (size_t)len);
  m->next = live;
  live = m;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, (size_t)len, finalize, m, &ab) != napi_ok) {
    /* Node may already have run the finalizer (which unmaps and frees); only clean up what is left. */
    mapping *left = take(addr);
    if (left != NULL) {
      vfs_bus_untrack(left->addr);
      munmap(left->addr, left->len);
      free(left);
    }
    bool pending;
    napi_is_exception_pending(env, &pending);
    return pending ? NULL : vfs_throw_errno(env, ENOMEM, "mmap");
  }
  return ab;
}

/* munmap(arrayBuffer): detaches the buffer and unmaps it. EINVAL if it is not a live mapping of ours. */
static napi_value js_munmap(napi_env env, napi_callback_info info) {
  VFS_ARGS(1);
  bool is;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is) return vfs_throw_arg(env, "expected an ArrayBuffer");
  void *data;
  size_t len;
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  mapping *m = data != NULL ? take(data) : NULL;
  if (m == NULL) return vfs_throw_errno(env, EINVAL, "munmap");
  /* The finalizer owns the record from here (it may run during the detach or later) and frees it. */
  void *addr = m->addr;
  size_t n = m->len;
  m->unmapped = true;
  napi_detach_arraybuffer(env, argv[0]);
  vfs_bus_untrack(addr);
  int r = munmap(addr, n);
  int err = errno;
  if (r != 0) return vfs_throw_errno(env, err, "munmap");
  return vfs_undefined(env);
}

/* mprotect(arrayBuffer, offset, length, prot): prot is 0 (none), 1 (read), 3 (read+write). For guard pages in tests. */
static napi_value js_mprotect(napi_env env, napi_callback_info info) {
  VFS_ARGS(4);
  void *data;
  size_t len;
  uint64_t off, n;
  int32_t prot;
  bool is;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is) return vfs_throw_arg(env, "expected an ArrayBuffer");
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  if (!vfs_arg_u64(env, argv[1], &off) || !vfs_arg_u64(env, argv[2], &n) || !vfs_arg_i32(env, argv[3], &prot)) return NULL;
  if (off > len || n > len - off) return vfs_throw_errno(env, EINVAL, "mprotect");
  if (mprotect((char *)data + off, n, prot) != 0) return vfs_throw_errno(env, errno, "mprotect");
  return vfs_undefined(env);
}

/* memfd_create(name, flags) -> fd. MFD_CLOEXEC is always added. */
static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  char name[250];
  uint32_t flags;
  if (!vfs_arg_string(env, argv[0], name, sizeof name) || !vfs_arg_u32(env, argv[1], &flags)) return NULL;
  int fd = memfd_create(name, flags | MFD_CLOEXEC);
  if (fd < 0) return vfs_throw_errno(env, errno, "memfd_create");
  return vfs_int(env, fd);
}

/* ftruncate(fd, length) */
static napi_value js_ftruncate(napi_env env, napi_callback_info info) {
  VFS_ARGS(2);
  int32_t fd;
  uint64_t len;
  if (!vfs_arg_i32(env, argv[0], &fd) || !vfs_arg_u64(env, argv[1], &len)) return NULL;
  if (ftruncate(fd, (off_t)len) != 0) return vfs_throw_errno(env, errno, "ftruncate");
  return vfs_undefined(env);
}

/* atomicOr8(buffer, index, bits): __atomic_fetch_or on one byte of a mapping shared with another
 * process (the vhost-user dirty log, which QEMU reads and clears with atomic exchanges). */
static napi_value js_atomic_or8(napi_env env, napi_callback_info info) {
  VFS_ARGS(3);
  void *data;
  size_t len;
  uint32_t index, bits;
  bool is;
  if (napi_is_arraybuffer(env, argv[0], &is) != napi_ok || !is) return vfs_throw_arg(env, "expected an ArrayBuffer");
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  if (!vfs_arg_u32(env, argv[1], &index) || !vfs_arg_u32(env, argv[2], &bits)) return NULL;
  if (index >= len || bits > 0xff) return vfs_throw_errno(env, EINVAL, "atomic_or");
  __atomic_fetch_or((uint8_t *)data + index, (uint8_t)bits, __ATOMIC_SEQ_CST);
  return vfs_undefined(env);
}

/* pageSize() -> sysconf(_SC_PAGESIZE) */
static napi_value js_page_size(napi_env env, napi_callback_info info) {
  return vfs_int(env, sysconf(_SC_PAGESIZE));
}

void vfs_register_mem(napi_env env, napi_value exports) {
  static const vfs_export list[] = {
    {"mmap", js_mmap},
    {"munmap", js_munmap},
    {"mprotect", js_mprotect},
    {"memfdCreate", js_memfd_create},
    {"ftruncate", js_ftruncate},
    {"pageSize", js_page_size},
    {"atomicOr8", js_atomic_or8},
    {NULL, NULL},
  };
  vfs_register(env, exports, list);
}
