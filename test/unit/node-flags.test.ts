/**
 * The V8 flags the daemon re-executes itself with (src/sandbox/sandbox.ts): added only when the
 * user gave no value of their own, on node's command line or in NODE_OPTIONS.
 */
import test from 'ava';
import { NODE_FLAGS, missingNodeFlags } from '../../src/sandbox/sandbox.js';

test('the young-generation flag is added when neither the command line nor NODE_OPTIONS sets it', (t) => {
  t.deepEqual(missingNodeFlags([], ''), NODE_FLAGS);
  t.deepEqual(missingNodeFlags(['--cpu-prof'], '--enable-source-maps'), NODE_FLAGS);
});

test('a user value wins, from the command line or from NODE_OPTIONS (the re-exec would override it)', (t) => {
  t.deepEqual(missingNodeFlags(['--max-semi-space-size=16'], ''), []);
  t.deepEqual(missingNodeFlags([], '--max-semi-space-size=16'), []);
  t.deepEqual(missingNodeFlags([], ' --trace-gc  --max-semi-space-size=1 '), []);
  t.deepEqual(missingNodeFlags([], '--max-semi-space-size-other=1'), NODE_FLAGS, 'only the flag itself counts');
});
