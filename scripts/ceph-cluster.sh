#!/usr/bin/env bash
# A one-machine Ceph cluster (mon, mgr, one BlueStore OSD on a sparse file, MDS) with a CephFS,
# for the tests: the daemon's production job is exporting a CephFS directory, and the kernel
# client is not available here, so the CephFS is mounted with ceph-fuse.
#
#   ceph-cluster.sh up [--fresh]   install Ceph if missing, start (or restart) the cluster, wait
#                                  until it is HEALTH_OK, all PGs active+clean and the MDS active.
#                                  A no-op when it is already up; recovers stale pid files and dead
#                                  mounts after a crash; --fresh wipes the state dir first.
#   ceph-cluster.sh down           unmount every ceph-fuse mount of this cluster, evict the MDS's
#                                  client sessions, stop every daemon (TERM, KILL after DOWN_TIMEOUT
#                                  s, the mon last); no process is left behind. Data is kept.
#   ceph-cluster.sh status         daemons (pid, RSS), mounts, `ceph -s`; exit 0 when all run, else 3.
#   ceph-cluster.sh mount DIR      ceph-fuse the CephFS root on DIR (empty or missing), wait until it
#                                  answers. A no-op when DIR is already a live mount of it.
#   ceph-cluster.sh umount DIR
# Options: --state DIR (default <repo>/.cache/ceph). Everything the cluster writes (config, keys,
# data, pid files, sockets, logs, crash dumps) is in the state dir. Env: UP_TIMEOUT (s, default 120),
# DOWN_TIMEOUT (s, default 20; MDS_STOP_TIMEOUT, default 10, for the MDS), MOUNT_TIMEOUT (s, default 30).
#
# Must run as root. Uses fixed loopback ports (mon 3300/6789): one cluster per machine at a time.
# Commands on the same state dir are serialized by a lock, so parallel test processes can all call
# `up` and `mount`: the first does the work, the others find it done.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state="$repo/.cache/ceph"
cmd=""
arg=""
fresh=0
while [ $# -gt 0 ]; do
  case $1 in
    --state) state=${2:?--state needs a directory}; shift 2 ;;
    --state=*) state=${1#--state=}; shift ;;
    --fresh) fresh=1; shift ;;
    up | down | status) cmd=$1; shift ;;
    mount | umount) cmd=$1; arg=${2:?$1 needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ceph-cluster: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cmd" ] || { echo "usage: ceph-cluster.sh up [--fresh] | down | status | mount DIR | umount DIR [--state DIR]" >&2; exit 2; }

UP_TIMEOUT=${UP_TIMEOUT:-120}
DOWN_TIMEOUT=${DOWN_TIMEOUT:-20}
MDS_STOP_TIMEOUT=${MDS_STOP_TIMEOUT:-10}
MOUNT_TIMEOUT=${MOUNT_TIMEOUT:-30}
DAEMONS=(mon.a mgr.x osd.0 mds.a)

mkdir -p "$state"
state=$(cd "$state" && pwd -P)
conf="$state/ceph.conf"
run="$state/run"

t0=$(date +%s%N)
say() { local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf 'ceph-cluster [%3d.%d s] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"; }
die() { echo "ceph-cluster: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (daemons, apt-get and FUSE mounts)"

# `ceph` with our config; bounded so that a dead mon fails the command instead of hanging it.
ceph_() { timeout 30 ceph -c "$conf" --connect-timeout 15 "$@"; }
# Mon commands and readiness through librados in one process (scripts/ceph/mon.py).
mon() { timeout $((UP_TIMEOUT + 30)) /usr/bin/python3 "$here/ceph/mon.py" "$conf" "$@"; }

# ---------------------------------------------------------------------------------------------
# Processes. A pid counts as ours only if it runs a ceph binary with our ceph.conf on its command
# line, so a stale pid file whose pid was reused never gets an unrelated process killed.

is_ours() { # PID
  local pid=$1 exe
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case $exe in */ceph-mon | */ceph-mgr | */ceph-osd | */ceph-mds | */ceph-fuse) ;; *) return 1 ;; esac
  tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$conf"
}
pid_of() { # NAME (mon.a ...): the live pid of that daemon, or nothing
  local f="$run/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  is_ours "$pid" && echo "$pid"
}
all_ours() { # every live process of this cluster, daemons and ceph-fuse, found by command line
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    is_ours "$pid" && echo "$pid"
  done
  return 0
}
foreign_mons() { # the ceph.conf of every ceph-mon that is not ours (another state dir, or by hand)
  local p pid c
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/ceph-mon ] || continue
    is_ours "$pid" && continue
    c=$(tr '\0' '\n' < "$p/cmdline" 2>/dev/null | grep -m1 -A1 -x -- '-c' | tail -1)
    echo "${c:-/etc/ceph/ceph.conf} (pid $pid)"
  done
  return 0
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# stop_pids SECONDS PID...: TERM, then KILL whatever is left after SECONDS.
stop_pids() {
  local timeout=$1 left deadline p
  shift
  local pids=("$@")
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    left=()
    for p in "${pids[@]}"; do [ -d "/proc/$p" ] && left+=("$p"); done
    [ ${#left[@]} -eq 0 ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "still running after ${timeout}s, KILL: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      sleep 0.2
      return 0
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Mounts: $state/mounts lists every mount point that `mount` made; /proc/mounts says which are
# still mounted. A mount whose ceph-fuse died answers ENOTCONN until it is unmounted.

mounted() { # DIR: DIR is a ceph-fuse mount point (live or dead)
  awk -v d="$1" '$2 == d && $3 == "fuse.ceph-fuse" {f=1} END {exit !f}' /proc/mounts
}
alive_mount() { # DIR: the mount answers
  timeout 5 stat -f -c %T "$1" >/dev/null 2>&1
}
known_mounts() { # registered mount points plus any ceph-fuse mount inside the state dir
  { [ -f "$state/mounts" ] && cat "$state/mounts"
    awk -v s="$state/" '$3 == "fuse.ceph-fuse" && index($2, s) == 1 {print $2}' /proc/mounts
  } | sort -u
}
unregister() { # DIR
  [ -f "$state/mounts" ] || return 0
  grep -vxF -- "$1" "$state/mounts" > "$state/mounts.tmp" || true
  mv "$state/mounts.tmp" "$state/mounts"
}
fuse_pids_for() { # DIR: the ceph-fuse processes serving DIR
  local pid
  for pid in $(all_ours); do
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/bin/ceph-fuse ] || continue
    tr '\0' '\n' < "/proc/$pid/cmdline" | grep -qxF -- "$1" && echo "$pid"
  done
  return 0
}
unmount_dir() { # DIR: unmount (lazily if it is busy or dead), then end its ceph-fuse
  local d=$1 pids
  if mounted "$d"; then
    if alive_mount "$d"; then
      umount "$d" 2>/dev/null || { say "$d busy: lazy unmount"; umount -l "$d"; }
    else
      say "$d not connected (its ceph-fuse died): lazy unmount"
      umount -l "$d"
    fi
  fi
  pids=$(fuse_pids_for "$d")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || stop_pids "$DOWN_TIMEOUT" $pids
  rm -f "$run/fuse.$(printf %s "$d" | md5sum | cut -c1-12).pid"
  unregister "$d"
}

# ---------------------------------------------------------------------------------------------

install_packages() {
  local pkgs=(ceph-mon ceph-mgr ceph-osd ceph-mds ceph-fuse ceph-common attr uuid-runtime) out
  local bins=(ceph-mon ceph-mgr ceph-osd ceph-mds ceph-fuse ceph ceph-authtool monmaptool getfattr uuidgen)
  local b missing=0
  for b in "${bins[@]}"; do command -v "$b" >/dev/null || missing=1; done
  [ $missing = 0 ] && return 0
  say "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! out=$(apt-get install -y -qq --no-install-recommends "${pkgs[@]}" 2>&1); then
    # Only a missing or stale package index is worth an `apt-get update`: anything else is real.
    if grep -qE 'Unable to locate package|has no installation candidate|404 +Not Found|Failed to fetch' <<<"$out"; then
      say "no usable package index: apt-get update"
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    else
      echo "$out" >&2
      die "apt-get install failed"
    fi
  fi
  say "installed ($(ceph --version | awk '{print $3}'))"
}

write_conf() {
  local fsid
  [ -s "$state/fsid" ] || uuidgen > "$state/fsid"
  fsid=$(cat "$state/fsid")
  mkdir -p "$run" "$state/log" "$state/crash"
  sed -e "s#@STATE@#$state#g" -e "s#@FSID@#$fsid#g" "$here/ceph/ceph.conf.in" > "$conf.tmp"
  mv "$conf.tmp" "$conf"
}

start_daemon() { # NAME: start it unless it runs; daemons fork and write their own pid file
  local name=$1 type=${1%%.*} id=${1#*.}
  if pid_of "$name" >/dev/null; then return 0; fi
  rm -f "$run/$name.pid" "$run/ceph-$name.asok"
  # 9>&-: the daemon must not inherit the lock. Its start-up chatter goes to a log.
  "ceph-$type" -c "$conf" -i "$id" 9>&- > "$state/log/start-$name.log" 2>&1 \
    || { cat "$state/log/start-$name.log" >&2; die "ceph-$type -i $id failed to start; see $state/log/ceph-$name.log"; }
}

# First start: keys, monmap, mon store, OSD, filesystem.
bootstrap() {
  local k="$state/keyring" osd_uuid mkfs
  say "bootstrap: keys, monmap, mon store"
  rm -f "$k"
  {
    ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *'
    ceph-authtool "$k" --gen-key -n client.admin \
      --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
    ceph-authtool "$k" --gen-key -n mgr.x --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
    ceph-authtool "$k" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *'
    ceph-authtool "$k" --gen-key -n mds.a \
      --cap mon 'allow profile mds' --cap osd 'allow *' --cap mds 'allow' --cap mgr 'allow profile mds'
  } >/dev/null
  chmod 600 "$k"
  monmaptool --create --fsid "$(cat "$state/fsid")" --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' "$state/monmap" >/dev/null
  mkdir -p "$state/mon/ceph-a" "$state/mgr/ceph-x" "$state/osd/ceph-0" "$state/mds/ceph-a"
  # mkfs imports every key of the keyring, with its caps, into the mons' auth database.
  ceph-mon -c "$conf" --mkfs -i a --monmap "$state/monmap" --keyring "$k" 9>&-
  start_daemon mon.a
  # The mgr needs seconds to load its Python modules, and PG states reach `ceph status` only
  # through it: start it first. The OSD's mkfs (seconds) runs while the mons create the pools.
  start_daemon mgr.x
  osd_uuid=$(uuidgen)
  mon run '{"prefix":"osd new","uuid":"'"$osd_uuid"'","id":0}' >/dev/null
  say "bootstrap: OSD mkfs (BlueStore on a sparse file); pools and filesystem"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" 9>&- > "$state/log/osd-mkfs.log" 2>&1 &
  mkfs=$!
  # A daemon that dies on a signal leaves a crash report: warn_recent_interval 0 keeps that from
  # holding health at WARN. (force: the mons learn the mgr modules' options only from a mgr.)
  mon run \
    '{"prefix":"osd pool create","pool":"cephfs_metadata","pg_num":8,"pgp_num":8}' \
    '{"prefix":"osd pool create","pool":"cephfs_data","pg_num":8,"pgp_num":8}' \
    '{"prefix":"osd pool set","pool":"cephfs_metadata","var":"size","val":"1","yes_i_really_mean_it":true}' \
    '{"prefix":"osd pool set","pool":"cephfs_data","var":"size","val":"1","yes_i_really_mean_it":true}' \
    '{"prefix":"fs new","fs_name":"cephfs","metadata":"cephfs_metadata","data":"cephfs_data"}' \
    '{"prefix":"fs set","fs_name":"cephfs","var":"standby_count_wanted","val":"0"}' \
    '{"prefix":"config set","who":"mgr","name":"mgr/crash/warn_recent_interval","value":"0","force":true}' >/dev/null
  say "bootstrap: filesystem created"
  start_daemon mds.a
  wait $mkfs || { cat "$state/log/osd-mkfs.log" >&2; die "ceph-osd --mkfs failed"; }
  say "bootstrap: OSD created"
  start_daemon osd.0
  touch "$state/bootstrapped"
}

wait_ready() { # restarts a daemon that dies meanwhile, at most 3 times in all
  local deadline=$(( $(date +%s) + UP_TIMEOUT )) left rc restarts=0 n
  while :; do
    left=$(( deadline - $(date +%s) ))
    [ $left -gt 0 ] || left=1
    rc=0
    # pipefail: the pipeline's status is mon.py's.
    mon wait "$left" | while IFS= read -r l; do say "$l"; done || rc=$?
    [ $rc = 0 ] && return 0
    [ $rc = 3 ] && [ $restarts -lt 3 ] || break
    restarts=$((restarts + 1))
    for n in "${DAEMONS[@]}"; do
      pid_of "$n" >/dev/null && continue
      say "restarting $n; its log ends with:"
      tail -n 5 "$state/log/ceph-$n.log" 2>/dev/null | sed 's/^/    /'
      start_daemon "$n"
    done
  done
  echo "ceph-cluster: the cluster is not ready (UP_TIMEOUT=${UP_TIMEOUT}s; logs in $state/log); ceph -s:" >&2
  ceph_ -s >&2 || echo "(ceph -s failed: is the mon running?)" >&2
  exit 1
}

cmd_up() {
  if [ $fresh = 1 ]; then
    cmd_down
    if known_mounts | grep -q .; then die "mounts remain under $state; not wiping it"; fi
    say "--fresh: wiping $state"
    find "$state" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf --one-file-system {} +
  fi
  install_packages
  write_conf
  # Mounts whose ceph-fuse died (a crash, kill -9) answer ENOTCONN forever: clear them. A mount
  # whose ceph-fuse lives is kept: it reconnects once the MDS is back. (Its liveness is judged by
  # the process, not by stat: with the mons down, stat -f hangs on a healthy client.)
  local d n running=0
  while read -r d; do
    [ -n "$d" ] || continue
    if mounted "$d" && [ -z "$(fuse_pids_for "$d")" ]; then unmount_dir "$d"; fi
    mounted "$d" || unregister "$d"
  done < <(known_mounts)
  for n in "${DAEMONS[@]}"; do pid_of "$n" >/dev/null && running=$((running + 1)); done
  if [ $running = 0 ] && [ -n "$(foreign_mons)" ]; then
    # The mon ports are fixed: a second cluster cannot start while another one runs.
    die "another Ceph cluster holds the mon ports: $(foreign_mons | tr '\n' ' ')
  stop it first, e.g. bash scripts/ceph-cluster.sh down --state DIR (DIR: the folder of that ceph.conf)"
  fi
  if [ ! -f "$state/bootstrapped" ]; then
    # A bootstrap that died half-way left daemons, a partial mon store or OSD: start over.
    [ $running = 0 ] && [ -z "$(all_ours)" ] || cmd_down
    find "$state" -mindepth 1 -maxdepth 1 \( -name mon -o -name mgr -o -name osd -o -name mds -o -name keyring -o -name monmap \) \
      -exec rm -rf --one-file-system {} +
    bootstrap
  elif [ $running = ${#DAEMONS[@]} ]; then
    say "all daemons running"
  else
    say "starting daemons with existing data ($running of ${#DAEMONS[@]} running)"
    for n in "${DAEMONS[@]}"; do start_daemon "$n"; done
  fi
  wait_ready
  say "up"
}

cmd_down() {
  local d pids n pid group
  while read -r d; do
    [ -n "$d" ] || continue
    unmount_dir "$d"
    say "unmounted $d"
  done < <(known_mounts)
  # Order matters. The mgr first: its modules are CephFS clients that never close their sessions,
  # and once it is gone they are evicted, or the next start of the MDS waits ~10 s for them to
  # reconnect. The mons last, so that the others can tell them that they stop (a TERMed OSD waits
  # up to 5 s for that answer).
  if pid=$(pid_of mgr.x); then say "stopping mgr.x ($pid)"; stop_pids "$DOWN_TIMEOUT" "$pid"; fi
  if pid_of mds.a >/dev/null; then
    n=$(timeout 20 /usr/bin/python3 "$here/ceph/mon.py" "$conf" evict "$run" 2>/dev/null) || n="(failed)"
    say "evicted $n client sessions"
  fi
  pids=()
  for n in mds.a osd.0; do pid=$(pid_of "$n") && pids+=("$pid"); done
  if [ ${#pids[@]} -gt 0 ]; then
    # A TERMed MDS of Ceph 16 takes ~5 s to exit and now and then hangs for good after "shutting
    # down rank 0". KILL is safe by then: its journal is in RADOS and it has no client left.
    say "stopping mds.a osd.0 (${pids[*]})"
    stop_pids "$MDS_STOP_TIMEOUT" "${pids[@]}"
  fi
  if pid=$(pid_of mon.a); then say "stopping mon.a ($pid)"; stop_pids "$DOWN_TIMEOUT" "$pid"; fi
  # Anything else of ours: started by hand, or its pid file is gone.
  pids=()
  for pid in $(all_ours); do pids+=("$pid"); done
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping ${#pids[@]} more processes: ${pids[*]}"
    stop_pids "$DOWN_TIMEOUT" "${pids[@]}"
  fi
  for n in "${DAEMONS[@]}"; do rm -f "$run/$n.pid"; done
  [ -z "$(all_ours)" ] || die "processes left: $(all_ours | tr '\n' ' ')"
  say "down"
}

cmd_status() {
  local n pid total=0 up=0 rss d
  for n in "${DAEMONS[@]}"; do
    if pid=$(pid_of "$n"); then
      rss=$(rss_kb "$pid"); total=$((total + rss)); up=$((up + 1))
      printf '%-6s running  pid %-7s RSS %4d MiB\n' "$n" "$pid" $((rss / 1024))
    else
      printf '%-6s stopped\n' "$n"
    fi
  done
  printf 'daemons: %d of %d running, RSS %d MiB in all\n' $up ${#DAEMONS[@]} $((total / 1024))
  while read -r d; do
    [ -n "$d" ] || continue
    if ! mounted "$d"; then echo "mount $d: not mounted (stale entry)"
    elif alive_mount "$d"; then
      pid=$(fuse_pids_for "$d" | head -1)
      echo "mount $d: ok (ceph-fuse pid ${pid:-?}, RSS $(( $(rss_kb "${pid:-0}") / 1024 )) MiB)"
    else echo "mount $d: NOT CONNECTED"
    fi
  done < <(known_mounts)
  if pid_of mon.a >/dev/null; then ceph_ -s || true; fi
  [ $up = ${#DAEMONS[@]} ] || exit 3
}

cmd_mount() {
  local d=$1 pidfile
  [ -f "$state/bootstrapped" ] && pid_of mon.a >/dev/null && pid_of mds.a >/dev/null \
    || die "the cluster in $state is not up: run 'bash scripts/ceph-cluster.sh up' first"
  mkdir -p "$d"
  d=$(cd "$d" && pwd -P)
  if mounted "$d"; then
    if alive_mount "$d"; then say "$d already mounted"; return 0; fi
    unmount_dir "$d"
  fi
  if [ -n "$(ls -A "$d")" ]; then
    die "mount point $d is not empty (ceph-fuse refuses it): use an empty or missing directory"
  fi
  pidfile="$run/fuse.$(printf %s "$d" | md5sum | cut -c1-12).pid"
  grep -qxF -- "$d" "$state/mounts" 2>/dev/null || echo "$d" >> "$state/mounts"
  # ceph-fuse forks into the background once mounted; 9>&-: it must not keep the lock.
  ceph-fuse -c "$conf" --id admin --pid-file "$pidfile" "$d" 9>&- > "$state/log/fuse-mount.log" 2>&1 \
    || { cat "$state/log/fuse-mount.log" >&2; unregister "$d"; die "ceph-fuse failed on $d"; }
  local deadline=$(( $(date +%s) + MOUNT_TIMEOUT ))
  until mounted "$d" && alive_mount "$d"; do
    [ "$(date +%s)" -lt "$deadline" ] || die "$d does not answer ${MOUNT_TIMEOUT}s after ceph-fuse; see $state/log/"
    sleep 0.1
  done
  say "mounted $d ($(stat -f -c '%T, block %s' "$d"))"
}

cmd_umount() {
  local d
  d=$(cd "$1" 2>/dev/null && pwd -P) || d=$1
  mounted "$d" || { say "$d is not mounted"; unregister "$d"; return 0; }
  unmount_dir "$d"
  say "unmounted $d"
}

exec 9> "$state/lock"
if ! flock -n 9; then
  say "waiting for another ceph-cluster.sh on $state"
  flock 9
fi
case $cmd in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  mount) cmd_mount "$arg" ;;
  umount) cmd_umount "$arg" ;;
esac
