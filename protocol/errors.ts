/**
 * The one error type thrown by every pure decoder/validator in protocol/. `code` is a stable string
 * that tests assert on (e.g. 'VHOST_USER_BAD_SIZE', 'FUSE_TRUNCATED', 'VRING_DESC_LOOP').
 */
export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** Throw a ProtocolError unless `cond` holds. */
export function check(cond: boolean, code: string, message: string | (() => string)): asserts cond {
  if (!cond) throw new ProtocolError(code, typeof message === 'string' ? message : message());
}
