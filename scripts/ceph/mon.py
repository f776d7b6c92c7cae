#!/usr/bin/python3
"""Talks to the one-machine cluster's mons through librados, in one process: the `ceph` CLI costs
over a second per call (Python start-up, connection, command table), and bootstrap and the
readiness wait would make a dozen of them.

  mon.py CONF run JSON...     send each mon command (JSON, as the CLI would build it) in order;
                              print non-empty outputs; stop at the first failure with its message.
  mon.py CONF ready           exit 0 if the cluster can serve a mount now, else 1 with the reason.
  mon.py CONF evict RUN_DIR   evict every client session of the local MDS (through its admin socket)
                              and print how many: see `down` in ceph-cluster.sh.
  mon.py CONF wait SECONDS    poll until ready, printing each change of reason; exit 1 on timeout,
                              3 as soon as a daemon's process is gone (the caller restarts it).

Ready means HEALTH_OK, every PG active+clean (HEALTH_OK alone shows while PGs are still unknown),
and an up:active MDS, as the running OSD and MDS say themselves on their admin sockets: right
after a restart the mons may still list the killed MDS as up:active until its beacon grace ends.
Run with the system Python (/usr/bin/python3): the rados module is Debian's.
"""
import json
import os
import socket
import struct
import sys
import time

import rados


def connect(conf, timeout):
    cluster = rados.Rados(conffile=conf, name="client.admin")
    cluster.connect(timeout=timeout)
    return cluster


def command(cluster, cmd):
    ret, out, err = cluster.mon_command(json.dumps(cmd), b"", timeout=30)
    if ret != 0:
        raise RuntimeError(f"{cmd.get('prefix')}: {err.strip() or 'error'} ({ret})")
    return out


def daemon_command(run_dir, name, cmd):
    """A command on a local daemon's admin socket (the protocol of `ceph daemon`): its JSON answer,
    or None when the daemon does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(os.path.join(run_dir, f"ceph-{name}.asok"))
            s.sendall(json.dumps(cmd).encode() + b"\0")
            buf = b""
            while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            return json.loads(buf[4:] or b"null")
    except (OSError, ValueError):
        return None


def daemon_status(run_dir, name):
    return daemon_command(run_dir, name, {"prefix": "status"})


DAEMONS = ("mon.a", "mgr.x", "osd.0", "mds.a")


def dead_daemons(run_dir, conf):
    """The daemons whose pid file names no live process started with this CONF."""
    dead = []
    for name in DAEMONS:
        try:
            with open(os.path.join(run_dir, f"{name}.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if os.path.abspath(conf).encode() not in f.read().split(b"\0"):
                    dead.append(name)
        except (OSError, ValueError):
            dead.append(name)
    return dead


def unready_reason(status, run_dir):
    """None if ready, else one line saying what is still missing."""
    missing = []
    health = status.get("health", {})
    if health.get("status") != "HEALTH_OK":
        checks = ",".join(sorted(health.get("checks", {}).keys()))
        missing.append(f"health={health.get('status', '?')}" + (f"({checks})" if checks else ""))
    pgmap = status.get("pgmap", {})
    total = pgmap.get("num_pgs", 0)
    clean = sum(s.get("count", 0) for s in pgmap.get("pgs_by_state", []) if s.get("state_name") == "active+clean")
    if total == 0 or clean != total:
        missing.append(f"pgs={clean}/{total} active+clean")
    ranks = status.get("fsmap", {}).get("by_rank", [])
    states = [r.get("status", "?") for r in ranks]
    mds = daemon_status(run_dir, "mds.a") or {}  # the JSON may be null
    active = [r for r in ranks if r.get("status") == "up:active" and r.get("gid") == mds.get("id")]
    if not active or mds.get("state") != "up:active":
        missing.append("mds=" + (",".join(states) if states else "none")
                       + f" (mds.a says {mds.get('state') or 'nothing'})")
    osd = daemon_status(run_dir, "osd.0") or {}
    if osd.get("state") != "active":
        missing.append(f"osd.0 says {osd.get('state') or 'nothing'}")
    return " ".join(missing) or None


def status(cluster):
    return json.loads(command(cluster, {"prefix": "status", "format": "json"}))


def run_dir_of(cluster):
    return cluster.conf_get("run_dir")


def main(argv):
    conf, verb, args = argv[1], argv[2], argv[3:]
    if verb == "run":
        cluster = connect(conf, 30)
        for a in args:
            out = command(cluster, json.loads(a)).decode(errors="replace").strip()
            if out:
                print(out)
        return 0
    if verb == "ready":
        try:
            cluster = connect(conf, 10)
            why = unready_reason(status(cluster), run_dir_of(cluster))
        except (rados.Error, RuntimeError) as e:
            print(f"no answer from the mon: {e}")
            return 1
        print(why or "ready")
        return 1 if why else 0
    if verb == "evict":
        sessions = daemon_command(args[0], "mds.a", {"prefix": "session ls"}) or []
        for sess in sessions:
            daemon_command(args[0], "mds.a", {"prefix": "session evict", "filters": [f"id={sess['id']}"]})
        print(len(sessions))
        return 0
    if verb == "wait":
        deadline = time.monotonic() + float(args[0])
        start = time.monotonic()
        last = None
        cluster = None
        run_dir = None
        gone_before = set()
        while True:
            if run_dir:
                # A daemon may die at start (a bad config) or be caught mid-exit by `up`: report a
                # process missing on two checks in a row, so the caller can restart it.
                gone = set(dead_daemons(run_dir, conf))
                if gone & gone_before:
                    print(f"not running: {' '.join(sorted(gone & gone_before))}", flush=True)
                    return 3
                gone_before = gone
            try:
                cluster = cluster or connect(conf, 10)
                run_dir = run_dir_of(cluster)
                why = unready_reason(status(cluster), run_dir)
            except (rados.Error, RuntimeError) as e:
                cluster, why = None, f"no answer from the mon: {e}"
            if why is None:
                total = status(cluster).get("pgmap", {}).get("num_pgs", 0)
                print(f"HEALTH_OK, {total} pgs active+clean, mds up:active", flush=True)
                return 0
            if why != last:
                print(f"waiting: {why}", flush=True)
                last = why
            if time.monotonic() >= deadline:
                print(f"not ready after {args[0]} s: {why}", flush=True)
                return 1
            time.sleep(0.25)
    print(f"mon.py: unknown verb {verb}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (rados.Error, RuntimeError) as e:
        print(f"mon.py: {e}", file=sys.stderr)
        sys.exit(1)
