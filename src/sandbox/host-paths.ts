/**
 * Host files the daemon removes at exit (its socket, --pid-file, --upgrade-socket) live outside the
 * sandbox. pinForRemoval() opens an O_PATH fd of the file's directory while the path still resolves;
 * removePath() then unlinks by that fd, so the removal works inside the sandbox too (and removes the
 * name in the directory the daemon created it in, even if the process's view of paths changed).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as native from '../native/index.js';
import { openatSync } from '../native/fs.js';
import { AT_FDCWD, O_DIRECTORY, O_PATH } from '../native/fs-constants.js';

const pinned = new Map<string, { dirfd: number; name: string }>();

/** Remember how to remove `p` later. Errors (a directory that is gone) leave `p` to a plain unlink. */
export function pinForRemoval(p: string): void {
  const abs = path.resolve(p);
  if (pinned.has(abs)) return;
  try {
    pinned.set(abs, { dirfd: openatSync(AT_FDCWD, path.dirname(abs), O_PATH | O_DIRECTORY, 0), name: path.basename(abs) });
  } catch {
    /* removePath falls back to the path */
  }
}

/** unlink(p), through the pinned directory fd when there is one. Throws as fs.unlinkSync does. */
export function removePath(p: string): void {
  const pin = pinned.get(path.resolve(p));
  if (pin === undefined) {
    fs.unlinkSync(p);
    return;
  }
  native.unlinkatSync(pin.dirfd, pin.name, 0);
}
