/**
 * The --seccomp deny-list filter, installed for real in a child Node process: denied calls (mount,
 * execve) kill it in kill mode and go through in log mode; threads can still be started (clone3
 * answers ENOSYS, glibc falls back to clone); every thread carries the filter (TSYNC).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DENIED_X86_64, buildFilter } from '../../src/sandbox/seccomp.js';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const x64 = process.arch === 'x64' ? test : test.skip;

/** Run `body` in a fresh Node with the filter of `mode` installed; returns its exit status, signal and output. */
function underFilter(mode: string, body: string) {
  const script = `
    const native = await import(${JSON.stringify(path.join(dist, 'src/native/index.js'))});
    const { installSeccomp } = await import(${JSON.stringify(path.join(dist, 'src/sandbox/seccomp.js'))});
    native.prctl(38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0);
    installSeccomp(${JSON.stringify(mode)});
    console.log('installed');
    ${body}
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
}

test('the filter program: arch check first, every denied call, unshare/clone/clone3 rules, within BPF jump range', (t) => {
  const prog = buildFilter('kill');
  t.is(prog.length % 8, 0);
  const n = prog.length / 8;
  t.true(n < 100, `${n} instructions`);
  t.is(prog.readUInt32LE(4), 4, 'first load: seccomp_data.arch');
  t.is(prog.readUInt32LE(12), 0xc000003e, 'AUDIT_ARCH_X86_64');
  const ks = Array.from({ length: n }, (_, i) => prog.readUInt32LE(i * 8 + 4));
  for (const [name, nr] of Object.entries(DENIED_X86_64)) t.true(ks.includes(nr), name);
  t.is(prog.readUInt32LE((n - 1) * 8 + 4), 0x80000000, 'the deny action is KILL_PROCESS');
  t.is(buildFilter('log').readUInt32LE((n - 1) * 8 + 4), 0x7ffc0000);
  t.is(buildFilter('trap').readUInt32LE((n - 1) * 8 + 4), 0x00030000);
});

x64('kill mode: mount(2) kills the process with SIGSYS', (t) => {
  const r = underFilter('kill', `native.mount('none', '/', null, 0, null); console.log('survived');`);
  t.regex(r.stdout, /installed/);
  t.notRegex(r.stdout, /survived/);
  t.is(r.signal, 'SIGSYS');
});

x64('kill mode: execve kills the process; log mode lets it through', (t) => {
  const killed = underFilter('kill', `native.execve('/bin/true', ['true'], []);`);
  t.is(killed.signal, 'SIGSYS');
  const logged = underFilter('log', `native.execve('/bin/true', ['true'], []);`);
  t.is(logged.status, 0, 'exec went through: /bin/true exited 0');
  t.is(logged.signal, null);
});

x64('threads still start under the filter (clone3 ENOSYS, clone without namespace flags), and every thread has it', (t) => {
  const r = underFilter('kill', `
    const { Worker } = await import('node:worker_threads');
    const fs = await import('node:fs');
    const w = new Worker('import { parentPort } from "node:worker_threads"; parentPort.postMessage(42);', { eval: true });
    const got = await new Promise((res) => w.on('message', res));
    const states = fs.readdirSync('/proc/self/task').flatMap((tid) => {
      try { return [/Seccomp:\\s*(\\d)/.exec(fs.readFileSync('/proc/self/task/' + tid + '/status', 'utf8'))[1]]; } catch { return []; }
    });
    console.log('worker said', got, 'seccomp', [...new Set(states)].join(','));
    await w.terminate();
  `);
  t.is(r.signal, null, r.stderr);
  t.regex(r.stdout, /worker said 42 seccomp 2\n/, r.stderr);
});
