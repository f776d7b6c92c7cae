/**
 * FuseError: what a FileSystem throws to answer a request with a specific errno. Any Error whose `code`
 * is an errno name (Node's fs, the native shim) works the same way; the server turns both into a reply
 * in one place (replyError).
 */
import { Errno, errnoName, type ErrnoName } from '../../protocol/errno.js';

export class FuseError extends Error {
  /** The positive errno number sent (negated) in fuse_out_header.error. */
  readonly errno: number;
  /** The errno name, e.g. 'ENOENT'. */
  readonly code: string;

  constructor(errno: number | ErrnoName, message?: string) {
    const n = typeof errno === 'number' ? errno : Errno[errno];
    const name = errnoName(n);
    super(message ?? name);
    this.name = 'FuseError';
    this.errno = n;
    this.code = name;
  }
}
