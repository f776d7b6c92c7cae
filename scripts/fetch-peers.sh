#!/usr/bin/env bash
# Fetches the daemons we measure against into a private folder, without touching the system:
#   - the Rust virtiofsd 1.13 from Debian trixie, with trixie's own glibc (it needs glibc >= 2.39),
#     started through trixie's loader;
#   - the C virtiofsd of QEMU 7.2, from bookworm's qemu-system-common .deb (QEMU 10 no longer
#     ships it).
# and writes CACHE/bin/virtiofsd-rust and CACHE/bin/virtiofsd-c wrappers that exec them.
#
# Usage: scripts/fetch-peers.sh [CACHE]   (default <repo>/.cache/peers)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$repo/.cache/peers}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
exec 9>"$cache/.lock"
flock 9
say() { echo "peers: $*"; }

verify() {
  "$cache/bin/virtiofsd-rust" --version >/dev/null 2>&1 && "$cache/bin/virtiofsd-c" --help >/dev/null 2>&1
}
if [ -x "$cache/bin/virtiofsd-rust" ] && [ -x "$cache/bin/virtiofsd-c" ] && verify; then
  say "cached in $cache/bin: $("$cache/bin/virtiofsd-rust" --version 2>&1 | head -1)"
  exit 0
fi
mkdir -p "$cache"/{bin,debs,apt/lists/partial,apt/cache/archives/partial}

# The trixie source uses the machine's own Debian mirror and is given only to our apt commands.
mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "peers: cannot find the Debian mirror in the apt sources" >&2; exit 1; }
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$cache/apt/sources.list"
trixie=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache" -o APT::Sandbox::User=root)

say "reading the trixie package index (private to $cache/apt)"
apt-get update -qq "${trixie[@]}"
rust_pkgs=(virtiofsd libc6 libcap-ng0 libseccomp2 libgcc-s1)
rm -rf "$cache/rust" "$cache/debs/rust" && mkdir -p "$cache/rust" "$cache/debs/rust"
say "downloading ${rust_pkgs[*]} from trixie"
(cd "$cache/debs/rust" && apt-get download -qq "${trixie[@]}" "${rust_pkgs[@]}")
for d in "$cache"/debs/rust/*.deb; do dpkg -x "$d" "$cache/rust"; done

# The C daemon comes from the machine's own (bookworm) index; it may need an update on a fresh box.
apt-cache madison qemu-system-common >/dev/null 2>&1 || apt-get update -qq
cver=$(apt-cache madison qemu-system-common | awk '$3 ~ /^1:7\.2/ {print $3; exit}')
[ -n "$cver" ] || { echo "peers: no qemu-system-common 7.2 in the apt index" >&2; exit 1; }
rm -rf "$cache/c" "$cache/debs/c" && mkdir -p "$cache/c" "$cache/debs/c"
say "downloading qemu-system-common=$cver for the C virtiofsd"
(cd "$cache/debs/c" && apt-get download -qq -o APT::Sandbox::User=root "qemu-system-common=$cver")
dpkg -x "$cache"/debs/c/*.deb "$cache/c"
missing=$(ldd "$cache/c/usr/lib/qemu/virtiofsd" | awk '/not found/ {print $1}')
[ -z "$missing" ] || { echo "peers: the C virtiofsd needs libraries this machine lacks: $missing" >&2; exit 1; }

# Wrappers find their folder from their own path, so the cache can move with the repo.
cat > "$cache/bin/virtiofsd-rust" <<'EOF'
#!/bin/sh
# Rust virtiofsd (Debian trixie) on trixie's glibc, via its loader. Written by scripts/fetch-peers.sh.
d=$(dirname "$(readlink -f "$0")")/../rust
lib="$d/usr/lib/x86_64-linux-gnu:$d/lib/x86_64-linux-gnu"
exec "$d/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$lib" "$d/usr/libexec/virtiofsd" "$@"
EOF
cat > "$cache/bin/virtiofsd-c" <<'EOF'
#!/bin/sh
# C virtiofsd from QEMU 7.2 (bookworm), on the system's libraries. Written by scripts/fetch-peers.sh.
d=$(dirname "$(readlink -f "$0")")/../c
exec "$d/usr/lib/qemu/virtiofsd" "$@"
EOF
chmod 755 "$cache/bin/virtiofsd-rust" "$cache/bin/virtiofsd-c"
verify || { echo "peers: a wrapper does not start; try: $cache/bin/virtiofsd-rust --version" >&2; exit 1; }
say "ready: $cache/bin/virtiofsd-rust ($("$cache/bin/virtiofsd-rust" --version 2>&1 | head -1)), $cache/bin/virtiofsd-c"
