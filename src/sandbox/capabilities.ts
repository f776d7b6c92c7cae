/**
 * The capabilities a sandboxed daemon keeps, and --modcaps (virtiofsd's syntax: "+sys_admin:-mknod").
 *
 * Kept by default, as virtiofsd keeps them: what a passthrough needs to act as any guest user on the
 * shared directory — chown, dac_override, fowner, fsetid, setgid, setuid (the per-thread credential
 * switch), mknod (device nodes the guest makes), setfcap (security.capability xattrs) — plus
 * dac_read_search when inodes are kept as file handles (open_by_handle_at needs it). Everything else
 * goes: sys_admin (so trusted.* xattrs answer EPERM, as under virtiofsd's sandbox), sys_ptrace,
 * net_*, sys_module, sys_chroot, setpcap (once the bounding set is cut)...
 */
export const CAP_NUMBERS: Readonly<Record<string, number>> = {
  chown: 0, dac_override: 1, dac_read_search: 2, fowner: 3, fsetid: 4, kill: 5, setgid: 6, setuid: 7,
  setpcap: 8, linux_immutable: 9, net_bind_service: 10, net_broadcast: 11, net_admin: 12, net_raw: 13,
  ipc_lock: 14, ipc_owner: 15, sys_module: 16, sys_rawio: 17, sys_chroot: 18, sys_ptrace: 19,
  sys_pacct: 20, sys_admin: 21, sys_boot: 22, sys_nice: 23, sys_resource: 24, sys_time: 25,
  sys_tty_config: 26, mknod: 27, lease: 28, audit_write: 29, audit_control: 30, setfcap: 31,
  mac_override: 32, mac_admin: 33, syslog: 34, wake_alarm: 35, block_suspend: 36, audit_read: 37,
  perfmon: 38, bpf: 39, checkpoint_restore: 40,
};

export const DEFAULT_KEPT = ['chown', 'dac_override', 'fowner', 'fsetid', 'setgid', 'setuid', 'mknod', 'setfcap'] as const;

export class ModcapsError extends Error {
  readonly code = 'ERR_MODCAPS';
}

/** Parse --modcaps ("+name:-name", names with or without "cap_", any case) into additions and removals. */
export function parseModcaps(spec: string): { add: string[]; remove: string[] } {
  const add: string[] = [];
  const remove: string[] = [];
  for (const item of spec.split(':')) {
    if (item === '') continue;
    const sign = item[0];
    const name = item.slice(1).toLowerCase().replace(/^cap_/, '');
    if ((sign !== '+' && sign !== '-') || !(name in CAP_NUMBERS)) {
      throw new ModcapsError(`--modcaps: "${item}" is not +NAME or -NAME with a capability name (e.g. +sys_admin:-mknod)`);
    }
    (sign === '+' ? add : remove).push(name);
  }
  return { add, remove };
}

/** The set to keep, as names and as a 64-bit mask. */
export function keptCapabilities(opts: { fileHandles: boolean; modcaps?: string }): { names: string[]; mask: bigint } {
  const keep = new Set<string>(DEFAULT_KEPT);
  if (opts.fileHandles) keep.add('dac_read_search');
  if (opts.modcaps !== undefined) {
    const m = parseModcaps(opts.modcaps);
    m.add.forEach((n) => keep.add(n));
    m.remove.forEach((n) => keep.delete(n));
  }
  const names = [...keep].sort((a, b) => CAP_NUMBERS[a]! - CAP_NUMBERS[b]!);
  let mask = 0n;
  for (const n of names) mask |= 1n << BigInt(CAP_NUMBERS[n]!);
  return { names, mask };
}

/** Names of the bits set in `mask` (for logs and tests). */
export function capabilityNames(mask: bigint): string[] {
  return Object.entries(CAP_NUMBERS)
    .filter(([, bit]) => (mask >> BigInt(bit)) & 1n)
    .map(([n]) => n);
}
