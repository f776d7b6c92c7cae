/** --sandbox values and the default (kept free of the native addon: the option parser imports it). */
export type SandboxMode = 'namespace' | 'chroot' | 'none';

/** The mode to use when --sandbox is not given: namespace as root (virtiofsd's default), else none. */
export function defaultSandbox(): SandboxMode {
  return process.geteuid?.() === 0 ? 'namespace' : 'none';
}
