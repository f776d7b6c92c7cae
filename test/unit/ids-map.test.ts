import test from 'ava';
import { IdsMap, type InodeIds } from '../../src/passthrough/ids-map.js';

const v = (dev: number, mntId: bigint, ino: bigint, name: string): { ids: InodeIds; name: string } => ({ ids: { dev, mntId, ino }, name });

test('IdsMap: values that share an ino on other devices or mounts are kept apart', (t) => {
  const m = new IdsMap<ReturnType<typeof v>>();
  const a = v(2049, 27n, 12n, 'a');
  const b = v(2050, 27n, 12n, 'b'); // same ino, other device
  const c = v(2049, 31n, 12n, 'c'); // same ino and device, other mount
  const big = v(2049, 27n, (1n << 64n) - 1n, 'big');
  for (const x of [a, b, c, big]) t.true(m.add(x));
  t.is(m.size, 4);
  t.is(m.get({ dev: 2049, mntId: 27n, ino: 12n }), a);
  t.is(m.get({ dev: 2050, mntId: 27n, ino: 12n }), b);
  t.is(m.get({ dev: 2049, mntId: 31n, ino: 12n }), c);
  t.is(m.get({ dev: 2049, mntId: 27n, ino: (1n << 64n) - 1n }), big);
  t.is(m.get({ dev: 2051, mntId: 27n, ino: 12n }), undefined);
  t.is(m.get({ dev: 2049, mntId: 27n, ino: 13n }), undefined);
});

test('IdsMap: add keeps the first value for the same ids; delete takes out only that value', (t) => {
  const m = new IdsMap<ReturnType<typeof v>>();
  const a = v(1, 1n, 5n, 'a');
  const again = v(1, 1n, 5n, 'again');
  const other = v(2, 1n, 5n, 'other');
  t.true(m.add(a));
  t.false(m.add(again), 'same ids: refused');
  t.true(m.add(other));
  t.false(m.add(v(2, 1n, 5n, 'dup in the shared slot')));
  t.is(m.get(again.ids), a);
  t.false(m.delete(again), 'an equal but different value is not removed');
  t.is(m.get(a.ids), a);
  t.true(m.delete(a));
  t.false(m.delete(a));
  t.is(m.get(a.ids), undefined);
  t.is(m.get(other.ids), other, 'the slot mate stays');
  t.true(m.delete(other));
  t.is(m.size, 0);
  t.true(m.add(again), 'the ids are free again');
});
