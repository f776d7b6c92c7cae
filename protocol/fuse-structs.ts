/**
 * The fixed-size FUSE wire structs, field for field as in include/uapi/linux/fuse.h (7.43). Declarations
 * only: sizes, decoders and encoders come from fuse-layout.ts. Each `FooIn`/`FooOut` value type is the
 * decoded struct; 64-bit fields are bigint.
 */
import { pad, struct, type StructValue } from './fuse-layout.js';

// ---- common -----------------------------------------------------------------------------------------

/** struct fuse_attr (88 bytes since 7.9). */
export const fuse_attr = struct('fuse_attr', {
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  atime: 'u64',
  mtime: 'u64',
  ctime: 'u64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  rdev: 'u32',
  blksize: 'u32',
  flags: 'u32',
});
export type FuseAttr = ReturnType<typeof fuse_attr.decode>;

/** struct fuse_sx_time (statx timestamp). */
export const fuse_sx_time = struct('fuse_sx_time', { tv_sec: 'i64', tv_nsec: 'u32', __reserved: pad(4) });

/** struct fuse_statx (256 bytes, bit-compatible with struct statx). */
export const fuse_statx = struct('fuse_statx', {
  mask: 'u32',
  blksize: 'u32',
  attributes: 'u64',
  nlink: 'u32',
  uid: 'u32',
  gid: 'u32',
  mode: 'u16',
  __spare0: pad(2),
  ino: 'u64',
  size: 'u64',
  blocks: 'u64',
  attributes_mask: 'u64',
  atime: fuse_sx_time,
  btime: fuse_sx_time,
  ctime: fuse_sx_time,
  mtime: fuse_sx_time,
  rdev_major: 'u32',
  rdev_minor: 'u32',
  dev_major: 'u32',
  dev_minor: 'u32',
  __spare2: pad(14 * 8),
});
export type FuseStatx = ReturnType<typeof fuse_statx.decode>;

/** struct fuse_kstatfs (80 bytes). */
export const fuse_kstatfs = struct('fuse_kstatfs', {
  blocks: 'u64',
  bfree: 'u64',
  bavail: 'u64',
  files: 'u64',
  ffree: 'u64',
  bsize: 'u32',
  namelen: 'u32',
  frsize: 'u32',
  padding: pad(4),
  spare: pad(6 * 4),
});
export type FuseKstatfs = ReturnType<typeof fuse_kstatfs.decode>;

/** struct fuse_file_lock. */
export const fuse_file_lock = struct('fuse_file_lock', { start: 'u64', end: 'u64', type: 'u32', pid: 'u32' });
export type FuseFileLock = ReturnType<typeof fuse_file_lock.decode>;

// ---- headers ----------------------------------------------------------------------------------------

/** struct fuse_in_header (40 bytes): precedes every request. */
export const fuse_in_header = struct('fuse_in_header', {
  len: 'u32',
  opcode: 'u32',
  unique: 'u64',
  nodeid: 'u64',
  uid: 'u32',
  gid: 'u32',
  pid: 'u32',
  total_extlen: 'u16',
  padding: pad(2),
});
export type FuseInHeader = ReturnType<typeof fuse_in_header.decode>;

/** struct fuse_out_header (16 bytes): precedes every reply; `error` is a negative errno or 0. */
export const fuse_out_header = struct('fuse_out_header', { len: 'u32', error: 'i32', unique: 'u64' });
export type FuseOutHeader = ReturnType<typeof fuse_out_header.decode>;

// ---- entries and attributes -------------------------------------------------------------------------

/** struct fuse_entry_out (128 bytes). */
export const fuse_entry_out = struct('fuse_entry_out', {
  nodeid: 'u64',
  generation: 'u64',
  entry_valid: 'u64',
  attr_valid: 'u64',
  entry_valid_nsec: 'u32',
  attr_valid_nsec: 'u32',
  attr: fuse_attr,
});
export type FuseEntryOut = ReturnType<typeof fuse_entry_out.decode>;

/** struct fuse_forget_in. */
export const fuse_forget_in = struct('fuse_forget_in', { nlookup: 'u64' });
/** struct fuse_forget_one (an element of FUSE_BATCH_FORGET). */
export const fuse_forget_one = struct('fuse_forget_one', { nodeid: 'u64', nlookup: 'u64' });
export type FuseForgetOne = ReturnType<typeof fuse_forget_one.decode>;
/** struct fuse_batch_forget_in (followed by `count` fuse_forget_one). */
export const fuse_batch_forget_in = struct('fuse_batch_forget_in', { count: 'u32', dummy: pad(4) });

/** struct fuse_getattr_in. */
export const fuse_getattr_in = struct('fuse_getattr_in', { getattr_flags: 'u32', dummy: pad(4), fh: 'u64' });
/** struct fuse_attr_out (104 bytes). */
export const fuse_attr_out = struct('fuse_attr_out', {
  attr_valid: 'u64',
  attr_valid_nsec: 'u32',
  dummy: pad(4),
  attr: fuse_attr,
});
export type FuseAttrOut = ReturnType<typeof fuse_attr_out.decode>;

/** struct fuse_statx_in. */
export const fuse_statx_in = struct('fuse_statx_in', {
  getattr_flags: 'u32',
  reserved: pad(4),
  fh: 'u64',
  sx_flags: 'u32',
  sx_mask: 'u32',
});
/** struct fuse_statx_out (288 bytes). */
export const fuse_statx_out = struct('fuse_statx_out', {
  attr_valid: 'u64',
  attr_valid_nsec: 'u32',
  flags: 'u32',
  spare: pad(2 * 8),
  stat: fuse_statx,
});
export type FuseStatxOut = ReturnType<typeof fuse_statx_out.decode>;

/** struct fuse_setattr_in (88 bytes). */
export const fuse_setattr_in = struct('fuse_setattr_in', {
  valid: 'u32',
  padding: pad(4),
  fh: 'u64',
  size: 'u64',
  lock_owner: 'u64',
  atime: 'u64',
  mtime: 'u64',
  ctime: 'u64',
  atimensec: 'u32',
  mtimensec: 'u32',
  ctimensec: 'u32',
  mode: 'u32',
  unused4: pad(4),
  uid: 'u32',
  gid: 'u32',
  unused5: pad(4),
});
export type FuseSetattrIn = ReturnType<typeof fuse_setattr_in.decode>;

// ---- creating and naming ----------------------------------------------------------------------------

/** struct fuse_mknod_in (name follows). */
export const fuse_mknod_in = struct('fuse_mknod_in', { mode: 'u32', rdev: 'u32', umask: 'u32', padding: pad(4) });
/** struct fuse_mkdir_in (name follows). */
export const fuse_mkdir_in = struct('fuse_mkdir_in', { mode: 'u32', umask: 'u32' });
/** struct fuse_rename_in (old name and new name follow). */
export const fuse_rename_in = struct('fuse_rename_in', { newdir: 'u64' });
/** struct fuse_rename2_in (old name and new name follow). */
export const fuse_rename2_in = struct('fuse_rename2_in', { newdir: 'u64', flags: 'u32', padding: pad(4) });
/** struct fuse_link_in (new name follows). */
export const fuse_link_in = struct('fuse_link_in', { oldnodeid: 'u64' });

// ---- open files -------------------------------------------------------------------------------------

/** struct fuse_open_in (OPEN and OPENDIR). */
export const fuse_open_in = struct('fuse_open_in', { flags: 'u32', open_flags: 'u32' });
/** struct fuse_create_in (CREATE and TMPFILE; name follows). */
export const fuse_create_in = struct('fuse_create_in', { flags: 'u32', mode: 'u32', umask: 'u32', open_flags: 'u32' });
/** struct fuse_open_out. */
export const fuse_open_out = struct('fuse_open_out', { fh: 'u64', open_flags: 'u32', backing_id: 'i32' });
export type FuseOpenOut = ReturnType<typeof fuse_open_out.decode>;
/** struct fuse_release_in (RELEASE and RELEASEDIR). */
export const fuse_release_in = struct('fuse_release_in', { fh: 'u64', flags: 'u32', release_flags: 'u32', lock_owner: 'u64' });
/** struct fuse_flush_in. */
export const fuse_flush_in = struct('fuse_flush_in', { fh: 'u64', unused: pad(4), padding: pad(4), lock_owner: 'u64' });
/** struct fuse_read_in (READ, READDIR, READDIRPLUS). */
export const fuse_read_in = struct('fuse_read_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  read_flags: 'u32',
  lock_owner: 'u64',
  flags: 'u32',
  padding: pad(4),
});
/** struct fuse_write_in (data follows). */
export const fuse_write_in = struct('fuse_write_in', {
  fh: 'u64',
  offset: 'u64',
  size: 'u32',
  write_flags: 'u32',
  lock_owner: 'u64',
  flags: 'u32',
  padding: pad(4),
});
/** struct fuse_write_out (also the COPY_FILE_RANGE reply). */
export const fuse_write_out = struct('fuse_write_out', { size: 'u32', padding: pad(4) });
/** struct fuse_statfs_out. */
export const fuse_statfs_out = struct('fuse_statfs_out', { st: fuse_kstatfs });
/** struct fuse_fsync_in (FSYNC and FSYNCDIR). */
export const fuse_fsync_in = struct('fuse_fsync_in', { fh: 'u64', fsync_flags: 'u32', padding: pad(4) });

// ---- xattrs -----------------------------------------------------------------------------------------

/** FUSE_COMPAT_SETXATTR_IN_SIZE: struct fuse_setxattr_in without FUSE_SETXATTR_EXT (name, value follow). */
export const fuse_setxattr_in_compat = struct('fuse_setxattr_in(compat)', { size: 'u32', flags: 'u32' });
/** struct fuse_setxattr_in, the FUSE_SETXATTR_EXT layout (name, value follow). */
export const fuse_setxattr_in = struct('fuse_setxattr_in', { size: 'u32', flags: 'u32', setxattr_flags: 'u32', padding: pad(4) });
/** struct fuse_getxattr_in (GETXATTR: name follows; LISTXATTR). */
export const fuse_getxattr_in = struct('fuse_getxattr_in', { size: 'u32', padding: pad(4) });
/** struct fuse_getxattr_out: the needed size, when the request's size was 0. */
export const fuse_getxattr_out = struct('fuse_getxattr_out', { size: 'u32', padding: pad(4) });

// ---- locks, access, misc ----------------------------------------------------------------------------

/** struct fuse_lk_in (GETLK, SETLK, SETLKW). */
export const fuse_lk_in = struct('fuse_lk_in', { fh: 'u64', owner: 'u64', lk: fuse_file_lock, lk_flags: 'u32', padding: pad(4) });
/** struct fuse_lk_out. */
export const fuse_lk_out = struct('fuse_lk_out', { lk: fuse_file_lock });
/** struct fuse_access_in. */
export const fuse_access_in = struct('fuse_access_in', { mask: 'u32', padding: pad(4) });
/** struct fuse_interrupt_in. */
export const fuse_interrupt_in = struct('fuse_interrupt_in', { unique: 'u64' });
/** struct fuse_bmap_in. */
export const fuse_bmap_in = struct('fuse_bmap_in', { block: 'u64', blocksize: 'u32', padding: pad(4) });
/** struct fuse_bmap_out. */
export const fuse_bmap_out = struct('fuse_bmap_out', { block: 'u64' });
/** struct fuse_ioctl_in (in_size bytes of data follow). */
export const fuse_ioctl_in = struct('fuse_ioctl_in', {
  fh: 'u64',
  flags: 'u32',
  cmd: 'u32',
  arg: 'u64',
  in_size: 'u32',
  out_size: 'u32',
});
/** struct fuse_ioctl_iovec. */
export const fuse_ioctl_iovec = struct('fuse_ioctl_iovec', { base: 'u64', len: 'u64' });
/** struct fuse_ioctl_out (output data follows). */
export const fuse_ioctl_out = struct('fuse_ioctl_out', { result: 'i32', flags: 'u32', in_iovs: 'u32', out_iovs: 'u32' });
/** struct fuse_poll_in. */
export const fuse_poll_in = struct('fuse_poll_in', { fh: 'u64', kh: 'u64', flags: 'u32', events: 'u32' });
/** struct fuse_poll_out. */
export const fuse_poll_out = struct('fuse_poll_out', { revents: 'u32', padding: pad(4) });
/** struct fuse_fallocate_in. */
export const fuse_fallocate_in = struct('fuse_fallocate_in', { fh: 'u64', offset: 'u64', length: 'u64', mode: 'u32', padding: pad(4) });
/** struct fuse_lseek_in. */
export const fuse_lseek_in = struct('fuse_lseek_in', { fh: 'u64', offset: 'u64', whence: 'u32', padding: pad(4) });
/** struct fuse_lseek_out. */
export const fuse_lseek_out = struct('fuse_lseek_out', { offset: 'u64' });
/** struct fuse_copy_file_range_in. */
export const fuse_copy_file_range_in = struct('fuse_copy_file_range_in', {
  fh_in: 'u64',
  off_in: 'u64',
  nodeid_out: 'u64',
  fh_out: 'u64',
  off_out: 'u64',
  len: 'u64',
  flags: 'u64',
});
/** struct fuse_setupmapping_in (DAX). */
export const fuse_setupmapping_in = struct('fuse_setupmapping_in', {
  fh: 'u64',
  foffset: 'u64',
  len: 'u64',
  flags: 'u64',
  moffset: 'u64',
});
/** struct fuse_removemapping_in (followed by `count` fuse_removemapping_one). */
export const fuse_removemapping_in = struct('fuse_removemapping_in', { count: 'u32' });
/** struct fuse_removemapping_one. */
export const fuse_removemapping_one = struct('fuse_removemapping_one', { moffset: 'u64', len: 'u64' });
/** struct fuse_syncfs_in. */
export const fuse_syncfs_in = struct('fuse_syncfs_in', { padding: pad(8) });

// ---- INIT -------------------------------------------------------------------------------------------

/** The first 16 bytes of struct fuse_init_in: all a kernel before 7.36 sends. */
export const fuse_init_in_compat = struct('fuse_init_in(compat)', {
  major: 'u32',
  minor: 'u32',
  max_readahead: 'u32',
  flags: 'u32',
});
/** The tail of struct fuse_init_in sent with FUSE_INIT_EXT (7.36+). */
export const fuse_init_in_ext = struct('fuse_init_in(ext)', { flags2: 'u32', unused: pad(11 * 4) });
/** struct fuse_init_in (64 bytes). */
export const fuse_init_in = struct('fuse_init_in', {
  major: 'u32',
  minor: 'u32',
  max_readahead: 'u32',
  flags: 'u32',
  flags2: 'u32',
  unused: pad(11 * 4),
});
export type FuseInitIn = ReturnType<typeof fuse_init_in.decode>;

/** struct fuse_init_out (64 bytes). */
export const fuse_init_out = struct('fuse_init_out', {
  major: 'u32',
  minor: 'u32',
  max_readahead: 'u32',
  flags: 'u32',
  max_background: 'u16',
  congestion_threshold: 'u16',
  max_write: 'u32',
  time_gran: 'u32',
  max_pages: 'u16',
  map_alignment: 'u16',
  flags2: 'u32',
  max_stack_depth: 'u32',
  request_timeout: 'u16',
  unused: pad(11 * 2),
});
export type FuseInitOut = ReturnType<typeof fuse_init_out.decode>;
/** FUSE_COMPAT_INIT_OUT_SIZE and FUSE_COMPAT_22_INIT_OUT_SIZE: reply sizes for minors < 5 and < 23. */
export const FUSE_COMPAT_INIT_OUT_SIZE = 8;
export const FUSE_COMPAT_22_INIT_OUT_SIZE = 24;

/** struct cuse_init_in. */
export const cuse_init_in = struct('cuse_init_in', { major: 'u32', minor: 'u32', unused: pad(4), flags: 'u32' });

// ---- notifications (server -> kernel, unique 0) -----------------------------------------------------

/** struct fuse_notify_poll_wakeup_out. */
export const fuse_notify_poll_wakeup_out = struct('fuse_notify_poll_wakeup_out', { kh: 'u64' });
/** struct fuse_notify_inval_inode_out. */
export const fuse_notify_inval_inode_out = struct('fuse_notify_inval_inode_out', { ino: 'u64', off: 'i64', len: 'i64' });
/** struct fuse_notify_inval_entry_out (name follows). */
export const fuse_notify_inval_entry_out = struct('fuse_notify_inval_entry_out', { parent: 'u64', namelen: 'u32', flags: 'u32' });
/** struct fuse_notify_delete_out (name follows). */
export const fuse_notify_delete_out = struct('fuse_notify_delete_out', {
  parent: 'u64',
  child: 'u64',
  namelen: 'u32',
  padding: pad(4),
});

// ---- directory records and extensions ---------------------------------------------------------------

/** struct fuse_dirent without its name: FUSE_NAME_OFFSET (24) bytes. */
export const fuse_dirent = struct('fuse_dirent', { ino: 'u64', off: 'u64', namelen: 'u32', type: 'u32' });
export type FuseDirent = ReturnType<typeof fuse_dirent.decode>;
/** FUSE_NAME_OFFSET: offsetof(struct fuse_dirent, name). */
export const FUSE_NAME_OFFSET = fuse_dirent.size;
/** FUSE_NAME_OFFSET_DIRENTPLUS: offsetof(struct fuse_direntplus, dirent.name). */
export const FUSE_NAME_OFFSET_DIRENTPLUS = fuse_entry_out.size + fuse_dirent.size;

/** struct fuse_ext_header: size (including this header, 8-aligned) and type of one request extension. */
export const fuse_ext_header = struct('fuse_ext_header', { size: 'u32', type: 'u32' });
/** struct fuse_secctx_header: the extension form with type = nr_secctx (0..31). */
export const fuse_secctx_header = struct('fuse_secctx_header', { size: 'u32', nr_secctx: 'u32' });
/** struct fuse_secctx: one security context (its name, NUL-terminated, then `size` bytes follow). */
export const fuse_secctx = struct('fuse_secctx', { size: 'u32', padding: pad(4) });
/** struct fuse_supp_groups without its flexible groups[] array. */
export const fuse_supp_groups = struct('fuse_supp_groups', { nr_groups: 'u32' });

/** Value type of any struct declared here. */
export type Value<D> = D extends { decode(b: Uint8Array, o?: number): infer T } ? T : never;
export type { StructValue };
