/**
 * --seccomp=kill|log|trap|none: a seccomp filter installed on every thread (SECCOMP_FILTER_FLAG_TSYNC:
 * V8's threads too, which capabilities cannot reach) once the sandbox is set up.
 *
 * It is a deny list, not virtiofsd's allow list: Node, V8 and libuv use a large and version-dependent
 * set of syscalls, and an allow list that misses one kills the daemon in the middle of serving (the C
 * virtiofsd's filter does exactly that with its own thread pool). What it denies is what a serving
 * daemon never needs and an attacker inside it would want: changing mounts or namespaces, loading
 * kernel code, tracing or reading other processes, running programs, keys, BPF, perf, clocks, reboot.
 * unshare is allowed only as unshare(CLONE_FS) (our worker threads' private cwd and umask), clone
 * only without namespace flags, and clone3 answers ENOSYS (its flags sit in memory a filter cannot
 * read; glibc then falls back to clone). The action for a denied call is the mode: kill the process,
 * log it (and let it run), or SIGSYS (trap).
 */
import * as native from '../native/index.js';

export type SeccompMode = 'kill' | 'log' | 'trap' | 'none';

// linux/filter.h, linux/seccomp.h, linux/audit.h
const BPF_LD_W_ABS = 0x20, BPF_JEQ_K = 0x15, BPF_JGE_K = 0x35, BPF_JSET_K = 0x45, BPF_RET_K = 0x06;
const SECCOMP_RET_KILL_PROCESS = 0x80000000, SECCOMP_RET_TRAP = 0x00030000, SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_LOG = 0x7ffc0000, SECCOMP_RET_ALLOW = 0x7fff0000;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const ENOSYS = 38;
const CLONE_FS = 0x200;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME(0x80) */
const CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80;

/** x86_64 numbers of what the filter denies. */
export const DENIED_X86_64: Readonly<Record<string, number>> = {
  ptrace: 101, syslog: 103, adjtimex: 159, chroot: 161, acct: 163, settimeofday: 164,
  mount: 165, umount2: 166, swapon: 167, swapoff: 168, reboot: 169, sethostname: 170, setdomainname: 171,
  iopl: 172, ioperm: 173, init_module: 175, delete_module: 176, quotactl: 179, pivot_root: 155,
  vhangup: 153, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246, add_key: 248, request_key: 249,
  keyctl: 250, perf_event_open: 298, clock_adjtime: 305, setns: 308, process_vm_readv: 310,
  process_vm_writev: 311, kcmp: 312, finit_module: 313, kexec_file_load: 320, bpf: 321, userfaultfd: 323,
  execve: 59, execveat: 322, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432,
  fspick: 433, pidfd_getfd: 438, mount_setattr: 442,
};
const NR_UNSHARE = 272, NR_CLONE = 56, NR_CLONE3 = 435;

type Insn = { code: number; jt: number | string; jf: number | string; k: number };

/** The filter for x86_64 as a struct sock_filter array (8 bytes per instruction). */
export function buildFilter(mode: Exclude<SeccompMode, 'none'>): Buffer {
  const deny = mode === 'kill' ? SECCOMP_RET_KILL_PROCESS : mode === 'trap' ? SECCOMP_RET_TRAP : SECCOMP_RET_LOG;
  const prog: Insn[] = [];
  const labels = new Map<string, number>();
  const op = (code: number, k: number, jt: number | string = 0, jf: number | string = 0) => prog.push({ code, jt, jf, k });
  const label = (name: string) => labels.set(name, prog.length);
  op(BPF_LD_W_ABS, 4); // arch
  op(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, 'deny');
  op(BPF_LD_W_ABS, 0); // nr
  op(BPF_JGE_K, X32_SYSCALL_BIT, 'deny', 0);
  for (const nr of Object.values(DENIED_X86_64)) op(BPF_JEQ_K, nr, 'deny', 0);
  op(BPF_JEQ_K, NR_UNSHARE, 'unshare', 0);
  op(BPF_JEQ_K, NR_CLONE, 'clone', 0);
  op(BPF_JEQ_K, NR_CLONE3, 'enosys', 0);
  op(BPF_RET_K, SECCOMP_RET_ALLOW);
  label('unshare');
  op(BPF_LD_W_ABS, 16); // args[0], low 32 bits
  op(BPF_JEQ_K, CLONE_FS, 'allow', 'deny');
  label('clone');
  op(BPF_LD_W_ABS, 16);
  op(BPF_JSET_K, CLONE_NS_FLAGS, 'deny', 'allow');
  label('enosys');
  op(BPF_RET_K, SECCOMP_RET_ERRNO | ENOSYS);
  label('allow');
  op(BPF_RET_K, SECCOMP_RET_ALLOW);
  label('deny');
  op(BPF_RET_K, deny);
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((ins, i) => {
    const jump = (j: number | string): number => {
      if (typeof j === 'number') return j;
      const off = labels.get(j)! - (i + 1);
      if (off < 0 || off > 255) throw new Error(`seccomp filter: jump to ${j} out of range (${off})`);
      return off;
    };
    out.writeUInt16LE(ins.code, i * 8);
    out.writeUInt8(jump(ins.jt), i * 8 + 2);
    out.writeUInt8(jump(ins.jf), i * 8 + 3);
    out.writeUInt32LE(ins.k >>> 0, i * 8 + 4);
  });
  return out;
}

/** Install the filter on every thread. Needs no_new_privs (the sandbox sets it) or CAP_SYS_ADMIN. */
export function installSeccomp(mode: SeccompMode): void {
  if (mode === 'none') return;
  if (process.arch !== 'x64') throw Object.assign(new Error(`--seccomp=${mode}: the filter is written for x86_64, this is ${process.arch}; use --seccomp=none`), { code: 'SECCOMP_ARCH' });
  native.seccompFilter(buildFilter(mode));
}
