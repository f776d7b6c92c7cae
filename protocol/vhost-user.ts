/**
 * The vhost-user wire format (QEMU docs/interop/vhost-user.rst), re-exported from small files:
 * constants and enums, the header and framing, the payload codecs (payloads, regions, objects),
 * and the per-request table (payload size, fd count, reply). PURE: no I/O, no state, no imports
 * from src/.
 */
export * from './vhost-user-constants.js';
export * from './vhost-user-header.js';
export {
  VHOST_USER_U64_SIZE,
  VHOST_USER_VRING_STATE_SIZE,
  VHOST_USER_VRING_ADDR_SIZE,
  VHOST_USER_MEMORY_REGION_SIZE,
  VHOST_USER_MEMORY_REGION_XEN_SIZE,
  VHOST_USER_MEMORY_TABLE_HDR_SIZE,
  VHOST_USER_MEM_REG_PADDING_SIZE,
  VHOST_USER_LOG_SIZE,
  VHOST_USER_IOTLB_SIZE,
  VHOST_USER_CONFIG_HDR_SIZE,
  VHOST_USER_VRING_AREA_SIZE,
  VHOST_USER_INFLIGHT_SIZE,
  VHOST_USER_SHARED_OBJECT_SIZE,
  VHOST_USER_DEVICE_STATE_SIZE,
  VHOST_USER_MMAP_SIZE,
  VHOST_USER_SHMEM_CONFIG_SIZE,
} from './vhost-user-codec.js';
export * from './vhost-user-payloads.js';
export * from './vhost-user-regions.js';
export * from './vhost-user-objects.js';
export * from './vhost-user-requests.js';
