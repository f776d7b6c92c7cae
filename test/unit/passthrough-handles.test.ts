/**
 * The handle table (src/passthrough/handles.ts): which nodeids still have a handle open (RELEASE
 * asks after every close, to let an inode's locks go) follows add, adopt, release, discard and clear,
 * with several handles on one nodeid, and the fds are closed.
 */
import test from 'ava';
import fs from 'node:fs';
import * as n from '../../src/native/fs.js';
import { HandleTable } from '../../src/passthrough/handles.js';

const open = (): number => fs.openSync('/dev/null', 'r');
const isOpen = (fd: number): boolean => {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

test('anyOn follows every way a handle comes and goes, one count per nodeid', async (t) => {
  const hs = new HandleTable(n);
  const fds = [open(), open(), open()];
  const a1 = hs.add(5n, fds[0]!, 0, false);
  const a2 = hs.add(5n, fds[1]!, 0, false);
  const b = hs.add(6n, fds[2]!, 0, true);
  const stale = hs.adopt(100n, 7n, -1, 0, false);
  t.true(hs.anyOn(5n) && hs.anyOn(6n) && hs.anyOn(7n));
  t.false(hs.anyOn(8n));

  await hs.remove(a1.fh, 5n);
  t.true(hs.anyOn(5n), 'one of two handles on nodeid 5 is left');
  t.false(isOpen(fds[0]!), 'its fd is closed');
  t.throws(() => hs.remove(a1.fh, 5n), { message: /no fh/ }, 'a second RELEASE of the same fh is EBADF');
  t.true(hs.anyOn(5n), 'and changes no count');
  t.throws(() => hs.remove(a2.fh, 6n), { message: /no fh/ }, 'an fh named with the wrong nodeid is EBADF');
  await hs.remove(a2.fh, 5n);
  t.false(hs.anyOn(5n));

  hs.discard(stale);
  t.false(hs.anyOn(7n), 'a discarded adopted handle counts no more');
  hs.discard(stale);
  t.true(hs.anyOn(6n), 'a second discard changes nothing');

  // A handle pinned by a request in flight: released at once, its fd closed when the request is done.
  const c = hs.add(9n, open(), 0, false);
  const pinned = hs.pin(c.fh, 9n);
  await hs.remove(c.fh, 9n);
  t.false(hs.anyOn(9n), 'released while pinned: gone from the table');
  t.true(isOpen(c.fd), 'but its fd stays open for the request');
  hs.unpin(pinned);
  await new Promise((r) => setTimeout(r, 50));
  t.false(isOpen(c.fd), 'and closes after it');

  hs.clear();
  t.false(hs.anyOn(6n));
  t.is(hs.size, 0);
  await new Promise((r) => setTimeout(r, 50));
  t.false(isOpen(b.fd));
  const again = hs.add(6n, open(), 0, false);
  t.true(hs.anyOn(6n), 'counts start again after clear()');
  await hs.remove(again.fh, 6n);
});
