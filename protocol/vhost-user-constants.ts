/**
 * vhost-user constants, named after QEMU's docs/interop/vhost-user.rst ("the spec") and the
 * virtio 1.3 specification. Request enums use the spec's names without the `VHOST_USER_` /
 * `VHOST_USER_BACKEND_` prefix (`FrontendReq.GET_FEATURES` is `VHOST_USER_GET_FEATURES`);
 * `frontendReqName()` / `backendReqName()` give the full spec name for logs.
 * PURE: no I/O, no state.
 */

/** Size of the message header: request u32, flags u32, size u32. */
export const VHOST_USER_HDR_SIZE = 12;

/** Header flags bits 0-1: protocol version; the only version is 1. */
export const VHOST_USER_VERSION_MASK = 0x3;
/** The one protocol version (header flags bits 0-1). */
export const VHOST_USER_VERSION = 0x1;
/** Header flags bit 2: set on every reply from the back-end. */
export const VHOST_USER_REPLY_MASK = 1 << 2;
/** Header flags bit 3: sender wants a reply (REPLY_ACK). */
export const VHOST_USER_NEED_REPLY_MASK = 1 << 3;
/** Header flags bits that have a meaning; every other bit is reserved and must be 0. */
export const VHOST_USER_KNOWN_FLAGS_MASK = VHOST_USER_VERSION_MASK | VHOST_USER_REPLY_MASK | VHOST_USER_NEED_REPLY_MASK;

/**
 * Largest payload we accept. The spec's size field is a u32, but no message defined by the spec
 * is larger than 2056 bytes (GET_SHMEM_CONFIG's reply: 8 + 256 * 8); the variable-size ones are
 * bounded too (memory table 8 + 8 * 32 = 264, config space 12 + 256 = 268). One page leaves room
 * and is the bound rust-vmm's vhost crate uses (MAX_MSG_SIZE = 0x1000), so a hostile size field
 * cannot make us buffer megabytes.
 */
export const VHOST_USER_MAX_PAYLOAD_SIZE = 0x1000;

/** u64 payload of SET_VRING_KICK/CALL/ERR (and vring area u64): bits 0-7 are the vring index. */
export const VHOST_USER_VRING_IDX_MASK = 0xff;
/** u64 payload of SET_VRING_KICK/CALL/ERR: bit 8 set = no fd in the ancillary data (poll instead). */
export const VHOST_USER_VRING_NOFD_MASK = 1 << 8;

/** Memory regions a SET_MEM_TABLE message can carry (one fd each). */
export const VHOST_MEMORY_BASELINE_NREGIONS = 8;
/** Largest device config space access (GET_CONFIG / SET_CONFIG payload bytes). */
export const VHOST_USER_MAX_CONFIG_SIZE = 256;
/** Entries in the VIRTIO Shared Memory Region configuration (GET_SHMEM_CONFIG reply). */
export const VHOST_USER_MAX_SHMEM_REGIONS = 256;
/** Largest number of fds one message carries: SET_MEM_TABLE's 8 regions. */
export const VHOST_USER_MAX_FDS = 8;
/** Dirty log page size: one bit of the log covers this many bytes of guest memory. */
export const VHOST_LOG_PAGE = 0x1000;

/** vring address flags: log writes to the used ring (SET_VRING_ADDR). */
export const VHOST_VRING_F_LOG = 1 << 0;

/** Requests the front-end sends to the back-end ("Front-end message types"). */
export enum FrontendReq {
  GET_FEATURES = 1,
  SET_FEATURES = 2,
  SET_OWNER = 3,
  /** Deprecated: back-ends ignore it or disable all rings. */
  RESET_OWNER = 4,
  SET_MEM_TABLE = 5,
  SET_LOG_BASE = 6,
  SET_LOG_FD = 7,
  SET_VRING_NUM = 8,
  SET_VRING_ADDR = 9,
  SET_VRING_BASE = 10,
  GET_VRING_BASE = 11,
  SET_VRING_KICK = 12,
  SET_VRING_CALL = 13,
  SET_VRING_ERR = 14,
  GET_PROTOCOL_FEATURES = 15,
  SET_PROTOCOL_FEATURES = 16,
  GET_QUEUE_NUM = 17,
  SET_VRING_ENABLE = 18,
  SEND_RARP = 19,
  NET_SET_MTU = 20,
  /** Previous name SET_SLAVE_REQ_FD. */
  SET_BACKEND_REQ_FD = 21,
  IOTLB_MSG = 22,
  SET_VRING_ENDIAN = 23,
  GET_CONFIG = 24,
  SET_CONFIG = 25,
  CREATE_CRYPTO_SESSION = 26,
  CLOSE_CRYPTO_SESSION = 27,
  POSTCOPY_ADVISE = 28,
  POSTCOPY_LISTEN = 29,
  POSTCOPY_END = 30,
  GET_INFLIGHT_FD = 31,
  SET_INFLIGHT_FD = 32,
  GPU_SET_SOCKET = 33,
  RESET_DEVICE = 34,
  VRING_KICK = 35,
  GET_MAX_MEM_SLOTS = 36,
  ADD_MEM_REG = 37,
  REM_MEM_REG = 38,
  SET_STATUS = 39,
  GET_STATUS = 40,
  GET_SHARED_OBJECT = 41,
  SET_DEVICE_STATE_FD = 42,
  CHECK_DEVICE_STATE = 43,
  /** Newest addition (protocol feature SHMEM); QEMU 10.0 does not send it. */
  GET_SHMEM_CONFIG = 44,
}

/** Requests the back-end sends to the front-end on the SET_BACKEND_REQ_FD channel. */
export enum BackendReq {
  IOTLB_MSG = 1,
  CONFIG_CHANGE_MSG = 2,
  VRING_HOST_NOTIFIER_MSG = 3,
  VRING_CALL = 4,
  VRING_ERR = 5,
  SHARED_OBJECT_ADD = 6,
  SHARED_OBJECT_REMOVE = 7,
  SHARED_OBJECT_LOOKUP = 8,
  SHMEM_MAP = 9,
  SHMEM_UNMAP = 10,
}

/** Protocol feature bit numbers (`VHOST_USER_PROTOCOL_F_*`), negotiated by GET/SET_PROTOCOL_FEATURES. */
export enum VhostUserProtocolFeature {
  MQ = 0,
  LOG_SHMFD = 1,
  RARP = 2,
  REPLY_ACK = 3,
  MTU = 4,
  /** Previous name SLAVE_REQ. */
  BACKEND_REQ = 5,
  CROSS_ENDIAN = 6,
  CRYPTO_SESSION = 7,
  PAGEFAULT = 8,
  CONFIG = 9,
  /** Previous name SLAVE_SEND_FD. */
  BACKEND_SEND_FD = 10,
  HOST_NOTIFIER = 11,
  INFLIGHT_SHMFD = 12,
  RESET_DEVICE = 13,
  INBAND_NOTIFICATIONS = 14,
  CONFIGURE_MEM_SLOTS = 15,
  STATUS = 16,
  XEN_MMAP = 17,
  SHARED_OBJECT = 18,
  DEVICE_STATE = 19,
  SHMEM = 20,
}

/** Feature bit numbers (bigint, use with `featureBit`/`hasFeature`). */
/** virtio-fs: the notification queue (VIRTIO_FS_F_NOTIFICATION). */
export const VIRTIO_FS_F_NOTIFICATION = 0n;
/** Legacy: notify when the avail ring becomes empty. */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24n;
/** vhost: the front-end keeps a dirty log; the back-end must log its writes. */
export const VHOST_F_LOG_ALL = 26n;
/** Legacy: any descriptor layout. */
export const VIRTIO_F_ANY_LAYOUT = 27n;
/** Indirect descriptor tables (VRING_DESC_F_INDIRECT). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28n;
/** used_event / avail_event notification suppression. */
export const VIRTIO_RING_F_EVENT_IDX = 29n;
/** vhost-user: the back-end supports GET/SET_PROTOCOL_FEATURES (reuses the reserved bit 30). */
export const VHOST_USER_F_PROTOCOL_FEATURES = 30n;
/** Virtio 1.x (non-legacy) device. */
export const VIRTIO_F_VERSION_1 = 32n;
/** Ring addresses are IOVAs translated by the IOTLB (formerly VIRTIO_F_IOMMU_PLATFORM). */
export const VIRTIO_F_ACCESS_PLATFORM = 33n;
/** Alias of VIRTIO_F_ACCESS_PLATFORM, the name the vhost-user spec uses. */
export const VIRTIO_F_IOMMU_PLATFORM = VIRTIO_F_ACCESS_PLATFORM;
/** Packed virtqueue layout. */
export const VIRTIO_F_RING_PACKED = 34n;
/** Buffers are used in the order they were made available. */
export const VIRTIO_F_IN_ORDER = 35n;
/** Memory accesses ordered as the platform requires. */
export const VIRTIO_F_ORDER_PLATFORM = 36n;
/** Single root I/O virtualization. */
export const VIRTIO_F_SR_IOV = 37n;
/** The driver passes extra data with its notifications. */
export const VIRTIO_F_NOTIFICATION_DATA = 38n;
/** The driver uses config-supplied notification data. */
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39n;
/** Individual virtqueues can be reset. */
export const VIRTIO_F_RING_RESET = 40n;
/** Administration virtqueues. */
export const VIRTIO_F_ADMIN_VQ = 41n;

/** The mask of one feature bit. */
export function featureBit(bit: bigint | number): bigint {
  return 1n << BigInt(bit);
}

/** Whether `features` has bit `bit` set. */
export function hasFeature(features: bigint, bit: bigint | number): boolean {
  return (features & featureBit(bit)) !== 0n;
}

/** Set-config flags (VhostUserConfig.flags): a write from the front-end for writable fields. */
export const VHOST_SET_CONFIG_TYPE_FRONTEND = 0;
/** Set-config flags: a write during live migration (may touch read-only fields). */
export const VHOST_SET_CONFIG_TYPE_MIGRATION = 1;

/** IOTLB message types (struct vhost_iotlb_msg.type). */
export enum VhostIotlbType {
  MISS = 1,
  UPDATE = 2,
  INVALIDATE = 3,
  ACCESS_FAIL = 4,
}

/** IOTLB permissions (struct vhost_iotlb_msg.perm). */
export enum VhostAccess {
  NO = 0,
  RO = 1,
  WO = 2,
  RW = 3,
}

/** Device state transfer direction (SET_DEVICE_STATE_FD). */
export enum VhostTransferStateDirection {
  /** Back-end → front-end (migration source). */
  SAVE = 0,
  /** Front-end → back-end (migration destination). */
  LOAD = 1,
}

/** Device state transfer phase (SET_DEVICE_STATE_FD). */
export enum VhostTransferStatePhase {
  /** VM stopped, device suspended: the only phase defined so far. */
  STOPPED = 0,
}

/** VhostUserMMap.flags bit 0: map read-write (else read-only). */
export const VHOST_USER_FLAG_MAP_RW = 1n;

function nameOf(prefix: string, table: Record<number, string | number>, n: number): string {
  const name = table[n];
  return typeof name === 'string' ? prefix + name : `${prefix}UNKNOWN(${n})`;
}

/** The spec's name of a front-end request, e.g. 'VHOST_USER_GET_FEATURES'; 'VHOST_USER_UNKNOWN(99)'. */
export function frontendReqName(n: number): string {
  return nameOf('VHOST_USER_', FrontendReq as unknown as Record<number, string>, n);
}

/** The spec's name of a back-end request, e.g. 'VHOST_USER_BACKEND_IOTLB_MSG'. */
export function backendReqName(n: number): string {
  return nameOf('VHOST_USER_BACKEND_', BackendReq as unknown as Record<number, string>, n);
}

/** The spec's name of a protocol feature bit, e.g. 'VHOST_USER_PROTOCOL_F_MQ'. */
export function protocolFeatureName(bit: number): string {
  return nameOf('VHOST_USER_PROTOCOL_F_', VhostUserProtocolFeature as unknown as Record<number, string>, bit);
}

/** Whether `n` is a request number the spec defines for the front-end → back-end direction. */
export function isFrontendReq(n: number): n is FrontendReq {
  return typeof (FrontendReq as unknown as Record<number, unknown>)[n] === 'string';
}

/** Whether `n` is a request number the spec defines for the back-end → front-end direction. */
export function isBackendReq(n: number): n is BackendReq {
  return typeof (BackendReq as unknown as Record<number, unknown>)[n] === 'string';
}
