/**
 * Linux errno numbers by name (asm-generic/errno-base.h + errno.h, as on x86_64 and arm64), and the
 * mapping from an error's `code` (Node's fs, our native shim, FuseError) to the number a FUSE reply
 * carries. Anything unrecognized maps to EIO.
 */

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ECHRNG: 44,
  EL2NSYNC: 45,
  EL3HLT: 46,
  EL3RST: 47,
  ELNRNG: 48,
  EUNATCH: 49,
  ENOCSI: 50,
  EL2HLT: 51,
  EBADE: 52,
  EBADR: 53,
  EXFULL: 54,
  ENOANO: 55,
  EBADRQC: 56,
  EBADSLT: 57,
  EBFONT: 59,
  ENOSTR: 60,
  ENODATA: 61,
  ETIME: 62,
  ENOSR: 63,
  ENONET: 64,
  ENOPKG: 65,
  EREMOTE: 66,
  ENOLINK: 67,
  EADV: 68,
  ESRMNT: 69,
  ECOMM: 70,
  EPROTO: 71,
  EMULTIHOP: 72,
  EDOTDOT: 73,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ENOTUNIQ: 76,
  EBADFD: 77,
  EREMCHG: 78,
  ELIBACC: 79,
  ELIBBAD: 80,
  ELIBSCN: 81,
  ELIBMAX: 82,
  ELIBEXEC: 83,
  EILSEQ: 84,
  ERESTART: 85,
  ESTRPIPE: 86,
  EUSERS: 87,
  ENOTSOCK: 88,
  EDESTADDRREQ: 89,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94,
  EOPNOTSUPP: 95,
  EPFNOSUPPORT: 96,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ENETRESET: 102,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ENOBUFS: 105,
  EISCONN: 106,
  ENOTCONN: 107,
  ESHUTDOWN: 108,
  ETOOMANYREFS: 109,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTDOWN: 112,
  EHOSTUNREACH: 113,
  EALREADY: 114,
  EINPROGRESS: 115,
  ESTALE: 116,
  EUCLEAN: 117,
  ENOTNAM: 118,
  ENAVAIL: 119,
  EISNAM: 120,
  EREMOTEIO: 121,
  EDQUOT: 122,
  ENOMEDIUM: 123,
  EMEDIUMTYPE: 124,
  ECANCELED: 125,
  ENOKEY: 126,
  EKEYEXPIRED: 127,
  EKEYREVOKED: 128,
  EKEYREJECTED: 129,
  EOWNERDEAD: 130,
  ENOTRECOVERABLE: 131,
  ERFKILL: 132,
  EHWPOISON: 133,
  // Aliases: same numbers under a second name.
  /** EWOULDBLOCK = EAGAIN */
  EWOULDBLOCK: 11,
  /** EDEADLOCK = EDEADLK */
  EDEADLOCK: 35,
  /** ENOTSUP = EOPNOTSUPP on Linux */
  ENOTSUP: 95,
} as const;

export type ErrnoName = keyof typeof Errno;

const byNumber = new Map<number, string>();
for (const [name, n] of Object.entries(Errno)) if (!byNumber.has(n)) byNumber.set(n, name);

/** The primary name of an errno number (`E<n>` if unknown). */
export function errnoName(n: number): string {
  return byNumber.get(n) ?? `E${n}`;
}

/** Node/libuv and other non-errno `code` strings that have an obvious errno. */
const NODE_CODES: Readonly<Record<string, number>> = {
  ERR_FS_FILE_TOO_LARGE: Errno.EFBIG,
  ERR_FS_EISDIR: Errno.EISDIR,
  ERR_OUT_OF_RANGE: Errno.EINVAL,
  ERR_INVALID_ARG_VALUE: Errno.EINVAL,
  ERR_INVALID_ARG_TYPE: Errno.EINVAL,
  ERR_ACCESS_DENIED: Errno.EACCES,
  ERR_BUFFER_OUT_OF_BOUNDS: Errno.EINVAL,
  ERR_STRING_TOO_LONG: Errno.ENAMETOOLONG,
  ERR_DIR_CLOSED: Errno.EBADF,
  ERR_METHOD_NOT_IMPLEMENTED: Errno.ENOSYS,
  ERR_OPERATION_FAILED: Errno.EIO,
  ECANCELED: Errno.ECANCELED,
  EOF: Errno.EIO,
};

/** The errno number for an error `code` string, or undefined if it names none. */
export function errnoFromCode(code: string): number | undefined {
  return (Errno as Readonly<Record<string, number>>)[code] ?? NODE_CODES[code];
}

/**
 * The errno an error stands for: its `errno` field when it is a positive number and the error is a
 * FuseError-like object, else its `code` string, else a Node SystemError's negative `errno`, else EIO.
 */
export function errnoOf(e: unknown): number {
  if (typeof e !== 'object' || e === null) return Errno.EIO;
  const { code, errno } = e as { code?: unknown; errno?: unknown };
  if (typeof code === 'string') {
    const n = errnoFromCode(code);
    if (n !== undefined) return n;
  }
  // libuv reports -errno on Linux; FuseError reports +errno.
  if (typeof errno === 'number' && Number.isInteger(errno) && errno !== 0 && Math.abs(errno) < 4096) return Math.abs(errno);
  return Errno.EIO;
}
