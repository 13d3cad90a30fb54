#!/usr/bin/env python3
"""Benchmark the fleet: `botrunner run -c FILE` (the supervisor) with N echo instances on a
real Synapse (rate limits off), each its own bot account registered with the registration
token, all in one room that a person made and invited them to. For each N (3 and 50):

(a) memory, idle once every instance has synced and joined: the supervisor's RSS, PSS and
    USS alone, and the PSS of the supervisor and its workers added up (smaps_rollup), with
    the fleet's footprint counted once per physical page (/proc/PID/pagemap, as root);
(b) time from starting `botrunner run` to its READY=1 (received on a NOTIFY_SOCKET of our
    own, an AF_UNIX datagram socket in the temporary directory) and to every instance
    synced (/status: active_instances_count == N and every last_sync_at set);
(c) /status throughput and latency on loopback with wrk (Debian's package: `apt-get
    install wrk`; without it a small threaded Python client measures instead, and the
    output says so), while a person pings three of the bots in a loop.

Prints figures; asserts nothing. Bounded in time (TIME_LIMIT_S); stops what it started and
removes its temporary directory.

usage: bench/fleet.py [BOTRUNNER] [--counts 3,50] [--duration 10] [--connections 4]
                      [--client wrk|python]
"""
import argparse
import http.client
import json
import os
import pathlib
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# After this, tests/e2e is first on the path: `import fleet` below is the harness's
# tests/e2e/fleet.py (the Fleet class), never this script.
harness.use_harness()

# The whole run: Synapse's start, two fleets (50 bots registering, syncing and joining take
# 30 to 50 s on 2 cores), two 10 s measurements, the stops. A normal run takes 65 to 85 s;
# ten minutes is something stuck.
TIME_LIMIT_S = 600
# The supervisor validates its config, prepares the state directory, starts the status
# endpoint and forks its workers before READY=1: milliseconds; a minute is a hang.
READY_TIMEOUT_S = 60
# Every worker registers (Synapse hashes each new password with bcrypt) and syncs once: 50
# take 13 to 25 s here; 4 minutes is a hang.
SYNCED_TIMEOUT_S = 240
# How often /status is polled while waiting for the fleet to sync. The supervisor
# republishes it on a state change and at least every 2 s (SUP_TICK_MS), so a sync can show
# up to 2 s late: the "all synced" figure has that resolution.
STATUS_POLL_S = 0.05
# Settling time before reading an idle fleet's memory (the joins' syncs are done).
IDLE_SETTLE_S = 3
# Readings of the fleet's memory; the median is printed.
MEMORY_SAMPLES = 5
MEMORY_INTERVAL_S = 0.5
# The goals this benchmark is read against (docs/benchmarks.md), in MB.
GOAL_SUPERVISOR_RSS_MB = 4
GOAL_TOTAL_PSS_MB = {3: 12, 50: 150}
# The load on /status. The endpoint admits 16 connections per address and
# closes each after its answer, so every request pays a TCP handshake; 4 connections from
# one wrk thread leave the second core to the supervisor, Synapse and the bots.
DEFAULT_DURATION_S = 10
DEFAULT_CONNECTIONS = 4
WRK_THREADS = 1
# The bots a person pings, in turn, while the endpoint is measured.
PINGED_BOTS = 3
# One ping's reply, under load; a normal round trip is 50 ms.
PING_TIMEOUT_S = 30
# One request of the Python client: loopback, so this is only a bound.
CLIENT_TIMEOUT_S = 5


# --- the supervisor under a notification socket of our own ----------------------------------


class NotifySocket:
    """An AF_UNIX datagram socket at a path in `directory`, standing in for systemd's
    NOTIFY_SOCKET; a thread timestamps (time.monotonic()) every datagram it receives."""

    def __init__(self, directory):
        self.path = str(pathlib.Path(directory) / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, text)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def first(self, assignment):
        """The time the first datagram holding the line `assignment` (READY=1) came."""
        for t, text in list(self.messages):
            if assignment in text.splitlines():
                return t
        return None

    def count_before(self, t):
        """How many datagrams came before time t."""
        return sum(1 for when, _ in list(self.messages) if when < t)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def start_supervisor(fleet, notify):
    """Start `botrunner run -c FILE` as fleet.start() does, but with NOTIFY_SOCKET naming
    our socket; returns the monotonic time just before the fork."""
    from fleet import BOTRUNNER
    from synapse_server import track
    fleet.write_config()
    env = fleet.env()
    env["NOTIFY_SOCKET"] = notify.path
    argv = [BOTRUNNER, "run", "-c", str(fleet.config_path)]
    with open(fleet.log_path, "ab") as log:
        began = time.monotonic()
        fleet.started_at = time.time()
        fleet.proc = track(subprocess.Popen(argv, cwd=fleet.dir, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True))
    return began


def wait_ready(fleet, notify):
    from botworker import wait_until
    return wait_until(lambda: notify.first("READY=1"), READY_TIMEOUT_S, "READY=1",
                      guard=fleet.assert_running, interval=0.01)


def all_synced(fleet, count):
    """Whether /status shows `count` active instances, each with a last_sync_at."""
    from fleet import fetch
    try:
        code, _, raw = fetch(fleet.status_url + "/status", timeout=2)
    except OSError:
        return False
    if code != 200:
        return False
    doc = json.loads(raw)
    return (doc.get("active_instances_count") == count
            and len(doc.get("instances", [])) == count
            and all(i.get("last_sync_at") for i in doc["instances"]))


def wait_synced(fleet, count):
    from botworker import wait_until
    wait_until(lambda: all_synced(fleet, count), SYNCED_TIMEOUT_S,
               f"{count} instances synced (/status)", guard=fleet.assert_running,
               interval=STATUS_POLL_S)
    return time.monotonic()


# --- memory ---------------------------------------------------------------------------------


def fleet_memory(fleet):
    """Medians over MEMORY_SAMPLES readings: the supervisor's RSS/PSS/USS, the sums over
    supervisor and workers of Rss, Pss, Pss_Anon and Pss_File, the workers' mean PSS and
    USS, and the footprint (once, after the readings)."""
    sup = fleet.pid
    workers = list(fleet.worker_pids().values())
    readings = []
    for i in range(MEMORY_SAMPLES):
        if i:
            time.sleep(MEMORY_INTERVAL_S)
        s = harness.memory(sup)
        rollups = [harness.smaps_rollup(pid) for pid in workers]
        supr = harness.smaps_rollup(sup)
        every = [supr, *rollups]
        readings.append({
            "sup_rss": s["rss"], "sup_pss": s["pss"], "sup_uss": s["uss"],
            "sum_rss": sum(r["Rss"] for r in every),
            "sum_pss": sum(r["Pss"] for r in every),
            "sum_pss_anon": sum(r.get("Pss_Anon", 0) for r in every),
            "sum_pss_file": sum(r.get("Pss_File", 0) for r in every),
            "worker_pss": statistics.mean(r["Pss"] for r in rollups),
            "worker_uss": statistics.mean(r["Private_Clean"] + r["Private_Dirty"]
                                          for r in rollups),
            "worker_rss": statistics.mean(r["Rss"] for r in rollups),
        })
    out = {k: statistics.median(r[k] for r in readings) for k in readings[0]}
    out["workers"] = len(workers)
    out["footprint"] = harness.footprint_kib([sup, *workers])
    out["workers_footprint"] = harness.footprint_kib(workers)
    return out


def private_by_kind(pid):
    """A process's private pages (USS) in KiB by kind of mapping, from /proc/PID/smaps:
    heap, other anonymous memory (thread stacks and arenas among it), the main stack,
    shared objects (the pages of their data and relocations this process wrote), and the
    rest (the binary, SQLite's shared memory, the vDSO); and {shared object: KiB}."""
    out = {"heap": 0, "anonymous": 0, "stack": 0, "libraries": 0, "other": 0}
    per_library = {}
    kind, name = "other", ""
    for line in pathlib.Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            name = os.path.basename(head[5]) if len(head) >= 6 else ""
            kind = ("heap" if name == "[heap]" else "stack" if name == "[stack]"
                    else "anonymous" if not name else
                    "libraries" if ".so" in name else "other")
        elif head and head[0] in ("Private_Clean:", "Private_Dirty:"):
            out[kind] += int(head[1])
            if kind == "libraries":
                per_library[name] = per_library.get(name, 0) + int(head[1])
    return out, per_library


def library_split(pid, binary):
    """(RSS, PSS) in KiB of the shared objects the process loaded at run time (mapped, but
    not in `ldd` of the binary: libmicrohttpd's chain in the supervisor, libcurl's in a
    worker, the plugin) and of the TLS libraries among everything it maps; with names."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=60).stdout
    linked = {os.path.basename(os.path.realpath(m.group(1)))
              for m in re.finditer(r"(/\S+) \(0x", out)}
    maps = harness.mappings(pid)
    loaded = {n for n in maps if ".so" in n and n not in linked}
    tls = {n for n in maps if n.startswith(("libssl.", "libcrypto.", "libgnutls.", "libnettle.",
                                            "libhogweed.", "libgmp.", "libp11-kit.",
                                            "libtasn1."))}

    def total(names):
        return (sum(maps[n]["rss"] for n in names), sum(maps[n]["pss"] for n in names))
    return {"loaded": (len(loaded), *total(loaded)), "tls": (len(tls), *total(tls)),
            "top": sorted(maps.items(), key=lambda kv: -kv[1]["rss"])[:8],
            "private": private_by_kind(pid)}


# --- /status under load ---------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url, duration, connections):
    """Start wrk on url in the background; returns its argv and the process."""
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return argv, proc


def parse_wrk(text):
    """wrk's figures from its output: requests/s, p50 and p99 in ms (None where missing),
    the number of requests, and its socket errors and non-2xx answers as text."""
    out = {"text": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        out[f"p{pct}"] = _ms(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Socket errors: (.*)", text)
    errors = m.group(1) if m else "none"
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += f"; non-2xx: {m.group(1)}"
    out["errors"] = errors
    return out


class PythonClient:
    """The stand-in for wrk: `connections` threads, each a loop of one connection per
    request (GET /status, read to the end), for `duration` seconds. The GIL and Python's
    own cost bound it well below wrk: its figures are the client's as much as the
    server's."""

    def __init__(self, port, duration, connections):
        self.port, self.duration = port, duration
        self.latencies = []
        self.errors = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(connections)]

    def _run(self):
        deadline = time.monotonic() + self.duration
        mine, errors = [], 0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=CLIENT_TIMEOUT_S)
                conn.request("GET", "/status")
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status == 200:
                    mine.append((time.perf_counter() - began) * 1e3)
                else:
                    errors += 1
            except OSError:
                errors += 1
        with self._lock:
            self.latencies += mine
            self.errors += errors

    def start(self):
        self.began = time.monotonic()
        for t in self._threads:
            t.start()

    def running(self):
        return any(t.is_alive() for t in self._threads)

    def result(self):
        for t in self._threads:
            t.join()
        elapsed = time.monotonic() - self.began
        lat = self.latencies or [float("nan")]
        return {"rps": len(self.latencies) / elapsed, "p50": harness.percentile(lat, 50),
                "p99": harness.percentile(lat, 99), "requests": len(self.latencies),
                "errors": f"{self.errors} failed requests", "text": ""}


def measure_status(fleet, person, room, args):
    """/status under load while the person pings the first PINGED_BOTS bots in turn, one at
    a time, each waiting for its pong. Returns (client name, argv or None, figures, pings:
    list of round trips in ms)."""
    from fleet import ping
    url = fleet.status_url + "/status"
    use_wrk = args.client == "wrk" and shutil.which("wrk")
    if use_wrk:
        argv, proc = run_wrk(url, args.duration, args.connections)
        running = lambda: proc.poll() is None  # noqa: E731
    else:
        argv = None
        client = PythonClient(fleet.status_port, args.duration, args.connections)
        client.start()
        running = client.running
    bots = list(fleet.instances.values())[:PINGED_BOTS]
    rtts = []
    i = 0
    try:
        while running():
            rtts.append(ping(person, room, bots[i % len(bots)], timeout=PING_TIMEOUT_S,
                             guard=fleet.assert_running) * 1e3)
            i += 1
    finally:
        if use_wrk:
            try:
                out, _ = proc.communicate(timeout=args.duration + 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            figures = parse_wrk(out)
        else:
            figures = client.result()
    name = ("wrk" if use_wrk else "a threaded Python client" +
            (" (asked for)" if args.client == "python" else " (wrk not found)"))
    return name, argv, figures, rtts


# --- one fleet ------------------------------------------------------------------------------


def run_fleet(hs, person, workdir, count, args, new_localpart):
    """Start a fleet of `count`, measure (a), (b) and (c), stop it; returns the figures."""
    from fleet import Fleet
    room = person.create_room(name=f"fleet-{count}")
    fleet = Fleet(hs, workdir / f"fleet-{count}", new_localpart, count=count, rooms=[room],
                  log_level=harness.WORKER_LOG_LEVEL)
    notify = NotifySocket(fleet.dir)
    out = {"count": count}
    try:
        synapse_cpu = harness.cpu_seconds(hs.proc.pid)
        began = start_supervisor(fleet, notify)
        ready = wait_ready(fleet, notify)
        out["ready_s"] = ready - began
        # Each is a sendmsg() the supervisor waits on when 10 are unread (the kernel's
        # net.unix.max_dgram_qlen): the listener's pace is part of the time to READY=1.
        out["notify_before_ready"] = notify.count_before(ready)
        out["synced_s"] = wait_synced(fleet, count) - began
        # Who worked while the fleet came up: Synapse (registrations, whose passwords it
        # hashes with bcrypt, and first syncs) or the runner's processes.
        out["cpu"] = {"synapse": harness.cpu_seconds(hs.proc.pid) - synapse_cpu,
                      "supervisor": harness.cpu_seconds(fleet.pid),
                      "workers": sum(harness.cpu_seconds(pid) for pid in fleet.worker_pids().values())}
        joined_began = time.monotonic()
        fleet.join(person)
        out["joined_s"] = time.monotonic() - joined_began
        time.sleep(IDLE_SETTLE_S)
        out["memory"] = fleet_memory(fleet)
        out["sup_libs"] = library_split(fleet.pid, args.binary)
        out["worker_libs"] = library_split(fleet.worker_pids()["echo-1"], args.binary)
        out["status"] = measure_status(fleet, person, room, args)
        stop_began = time.monotonic()
        out["exit"] = fleet.stop()
        out["stop_s"] = time.monotonic() - stop_began
    finally:
        fleet.cleanup()
        notify.close()
    return out


# --- the report -----------------------------------------------------------------------------


def kib_line(name, rss=None, pss=None, uss=None):
    parts = [f"{label} {harness.mib(v):>9}" for label, v in (("RSS", rss), ("PSS", pss),
                                                              ("USS", uss)) if v is not None]
    return f"  {name:52} {'  '.join(parts)}"


def report(r, binary):
    n, m = r["count"], r["memory"]
    print(f"\n== `{binary} run` with {n} echo instances (each its own account, one shared "
          f"room) ==")
    print(f"(b) start to READY=1: {r['ready_s'] * 1e3:.1f} ms (after "
          f"{r['notify_before_ready']} other datagrams, STATUS= lines); to all {n} synced "
          f"(/status, 2 s resolution): {r['synced_s']:.1f} s; then inviting all and their "
          f"joins: {r['joined_s']:.1f} s")
    c = r["cpu"]
    print(f"    CPU time used until all synced: Synapse {c['synapse']:.1f} s, the workers "
          f"{c['workers']:.2f} s (all {n}), the supervisor {c['supervisor']:.2f} s")
    print(f"(a) memory, idle, median of {MEMORY_SAMPLES} readings:")
    print(kib_line("the supervisor", m["sup_rss"], m["sup_pss"], m["sup_uss"])
          + f"   (goal: RSS under {GOAL_SUPERVISOR_RSS_MB} MB)")
    print(kib_line(f"a worker, mean of {m['workers']}", m["worker_rss"], m["worker_pss"],
                   m["worker_uss"]))
    print(kib_line("supervisor + workers, summed", m["sum_rss"], m["sum_pss"])
          + f"   (goal: PSS under {GOAL_TOTAL_PSS_MB.get(n, '?')} MB)")
    print(f"  {'  of the summed PSS: anonymous / file-backed':52} "
          f"{harness.mib(m['sum_pss_anon'])} / {harness.mib(m['sum_pss_file'])}")
    if m["footprint"] is not None:
        print(f"  {'footprint, each physical page once (pagemap)':52} "
              f"{harness.mib(m['footprint'])} (the workers alone: "
              f"{harness.mib(m['workers_footprint'])})")
    else:
        print("  footprint: not measured (page frame numbers need root)")
    for who, libs in (("supervisor", r["sup_libs"]), ("worker echo-1", r["worker_libs"])):
        (nl, lr, lp), (nt, tr, tp) = libs["loaded"], libs["tls"]
        print(f"  the {who}: {nl} objects loaded at run time RSS {lr} KiB PSS {lp} KiB; "
              f"{nt} TLS libraries RSS {tr} KiB PSS {tp} KiB")
        print("    largest mappings (RSS KiB): " +
              ", ".join(f"{name} {mm['rss']}" for name, mm in libs["top"]))
        kinds, per_library = libs["private"]
        print("    its private pages (USS, KiB): " +
              ", ".join(f"{kind} {kib}" for kind, kib in kinds.items()) + "; libraries' "
              f"largest ({len(per_library)} objects): " +
              ", ".join(f"{n} {k}" for n, k in sorted(per_library.items(),
                                                       key=lambda kv: -kv[1])[:4]))
    client, argv, f, rtts = r["status"]
    print(f"(c) GET /status under load, measured by {client}"
          + (f": `{' '.join(argv)}`" if argv else ""))
    rps = f"{f['rps']:.0f}" if f["rps"] is not None else "?"
    p50 = f"{f['p50']:.2f}" if f["p50"] is not None else "?"
    p99 = f"{f['p99']:.2f}" if f["p99"] is not None else "?"
    print(f"  {rps} requests/s, p50 {p50} ms, p99 {p99} ms ({f['requests']} requests; "
          f"errors: {f['errors']})")
    if rtts:
        print(f"  meanwhile {len(rtts)} pings to {min(PINGED_BOTS, n)} bots, round trip p50 "
              f"{harness.percentile(rtts, 50):.1f} ms, p99 {harness.percentile(rtts, 99):.1f}"
              " ms")
    print(f"  SIGTERM to exit: {r['stop_s']:.2f} s (status {r['exit']})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.DEFAULT_BOTRUNNER))
    ap.add_argument("--counts", default="3,50", help="fleet sizes, comma-separated")
    ap.add_argument("--duration", type=int, default=DEFAULT_DURATION_S)
    ap.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    ap.add_argument("--client", choices=("wrk", "python"), default="wrk")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    counts = [int(c) for c in args.counts.split(",")]
    # fleet.py reads the binary from the environment when it is imported.
    os.environ["E2E_FLEET_BIN"] = args.binary
    import botworker
    import fleet as fleet_module
    fleet_module.BOTRUNNER = args.binary
    beside = pathlib.Path(args.binary).parent / "plugins" / "echo"
    if beside.is_dir():
        fleet_module.ECHO_PLUGIN = botworker.ECHO_PLUGIN = str(beside)
    if args.client == "wrk" and not shutil.which("wrk"):
        print("wrk not found (Debian: apt-get install wrk): a threaded Python client "
              "measures /status instead", file=sys.stderr)

    serial = iter(range(1, 1 << 30))
    results = []
    began = time.monotonic()
    with harness.time_limit(TIME_LIMIT_S, "the fleet benchmark"), \
            tempfile.TemporaryDirectory(prefix="br-bench-fleet-") as tmp:
        tmp = pathlib.Path(tmp)
        with harness.homeserver(tmp) as hs, harness.person(hs) as alice:
            for count in counts:
                print(f"fleet of {count}...", file=sys.stderr, flush=True)
                results.append(run_fleet(hs, alice, tmp, count, args,
                                         lambda prefix: f"{prefix}-{next(serial)}"))
    print(f"The fleet on Synapse at 127.0.0.1 (rate limits off), log level "
          f"{harness.WORKER_LOG_LEVEL}; whole run {time.monotonic() - began:.0f} s")
    for r in results:
        report(r, args.binary)


if __name__ == "__main__":
    main()
