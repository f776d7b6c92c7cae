#!/usr/bin/env bash
# Installs the system packages the test suite needs on a fresh Debian 12 (bookworm) machine, as root:
# QEMU 10 from bookworm-backports, busybox-static and cpio for the guest initramfs.
# Idempotent: does nothing that is already done.
# With --if-root (npm's pretest and the demo use it): as non-root, only say what is missing.
set -euo pipefail
if_root=false
[ "${1:-}" = "--if-root" ] && if_root=true
need=()
command -v qemu-system-x86_64 >/dev/null && qemu-system-x86_64 --version | grep -q 'version 10' || need+=(qemu)
[ -x /bin/busybox ] && dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v setfattr >/dev/null || need+=(attr)
[ ${#need[@]} -eq 0 ] && { echo "system deps: all present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "system deps missing (${need[*]}): run 'sudo bash scripts/install-system-deps.sh'" >&2
  $if_root && exit 0
  exit 1
fi
src=/etc/apt/sources.list.d/bookworm-backports.sources
if [ ! -f "$src" ]; then
  # Use the same mirror the machine's main Debian source uses.
  mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 | awk '{print $2}')
  [ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  [ -n "$mirror" ] || { echo "cannot find the Debian mirror in the apt sources" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > "$src"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends busybox-static cpio attr gcc libc6-dev >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 qemu-utils >/dev/null
qemu-system-x86_64 --version | head -1
