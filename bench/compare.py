#!/usr/bin/env python3
"""Benchmark botrunner side by side with maubot, in one run on one Synapse (127.0.0.1, rate
limits off, every bot exempted from them too): botrunner (`botrunner run -c FILE`, echo
plugin, the default config: no features, no rate_limit) and maubot 0.6 from a venv of its
own (.venv-bench, `make bench-compare` makes it), with the ping plugin of bench/maubot-ping
uploaded, its clients and instances created through maubot's own management API as its
users do. Each bot has a room of its own with the person who pings it; `!echo ping` gets a
notice "pong (took N ms)" replying to it on both sides. Measures:

- memory: PSS (and RSS, USS, and the footprint: each physical page once) of each whole
  process tree, botrunner's supervisor plus its workers and maubot's Python process, with
  1, 3, 10 and 50 idle bots, one side running at a time;
- start-up: from exec to every bot answering a ping (the person pings each bot every
  REPING_S until it answers: maubot drops what arrives before its first sync), same runs;
- round trip of a ping, p50/p95/p99 over 300 pings per bot (one bot each, pinged in turn),
  beside the floor: a bare matrix-nio client answering the same pings (bench/roundtrip.py's);
- throughput: the highest rate of commands one bot answers before its backlog grows
  (stepped offered rates), for botrunner also with send_rate raised (not the default);
- CPU seconds per 1000 commands handled, from /proc, during the pings and the steps;
- peak RSS growth while posting a 50 MB file: botrunner's upload (bench/upload-rss.c,
  the worker's Matrix client) and maubot's client upload (the plugin's upload_media(),
  bytes read into memory and streamed).

Medians of repeated runs (--runs); the machine, versions and load averages go in the header
and in compare-meta.csv. Raw figures as CSV under --out (bench/results/ by default); the
plots are bench/compare-plot.py's, run with the bench venv's matplotlib. Prints figures;
asserts nothing. Bounded in time (TIME_LIMIT_S); stops everything it started, also on Ctrl-C.

usage: bench/compare.py [BOTRUNNER] [--maubot-python PATH] [--runs N] [--pings N]
                        [--counts 1,3,10,50] [--out DIR] [--quick | --report-only]
"""
import argparse
import concurrent.futures
import contextlib
import csv
import http.client
import itertools
import json
import os
import pathlib
import platform
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# After this, tests/e2e is on the path: `fleet` is the harness's tests/e2e/fleet.py.
harness.use_harness()

# The whole run. A normal one takes 12 to 20 minutes on 2 cores; past this something hangs.
TIME_LIMIT_S = 3600
# Bot counts for memory and start-up, and the largest, which is provisioned first.
DEFAULT_COUNTS = (1, 3, 10, 50)
# Start-ups (each followed by the memory readings) per side and bot count; medians printed.
DEFAULT_RUNS = 3
# The counts whose start-up the table shows (every count's is in the CSV).
STARTUP_COUNTS = (3, 50)
# Round trips measured per bot (after WARMUP_PINGS), one bot after the other, ping by ping,
# so that a change of the machine's load (other work shares its 2 cores) falls on all three
# alike: in blocks of 50, the first bot of a round met a busy minute alone.
DEFAULT_PINGS = 300
WARMUP_PINGS = 20
# A pinged bot that has not answered is pinged again after this: maubot ignores the events
# of its first sync after a start, so a ping sent before that is never answered.
REPING_S = 0.5
# From exec to every bot answering: 50 bots of either side take seconds; minutes is a hang.
STARTUP_TIMEOUT_S = 300
# Idle means: no message in the side's rooms for QUIET_S, then IDLE_SETTLE_S more.
QUIET_S = 2
QUIET_TIMEOUT_S = 120
IDLE_SETTLE_S = 3
# Memory readings of an idle side (the median is its figure), and their spacing.
MEMORY_SAMPLES = 5
MEMORY_INTERVAL_S = 0.5
# maubot imports aiohttp, mautrix and its database layer before it listens: seconds.
MAUBOT_START_TIMEOUT_S = 120
# A graceful stop; past this the process (group) is killed.
STOP_TIMEOUT_S = 20
# One request to maubot's management API or to Synapse.
HTTP_TIMEOUT_S = 60
# Throughput: offered rates (commands a second), each for STEP_S, lowest first, until one
# is not sustained (a step that fails is tried once more: one pause of Synapse's under the
# machine's other load should not end the sweep). A step is sustained when every command
# was answered within STEP_DRAIN_S after it and the lag grew by less than MAX_LAG_GROWTH
# seconds per second of the step: a bot that answers at a rate mu below the offered lambda
# falls behind by lambda/mu - 1 seconds a second, so 0.1 is "within 10 % of the rate". The
# growth is the median of (lag[i+h] - lag[i]) / (t[i+h] - t[i]) over the step's commands in
# send order, h half their number: one hiccup does not move a median.
STEP_RATES = (2, 3, 4, 5, 7, 10, 14, 20, 28, 40, 56, 80, 113, 160)
STEP_S = 8
STEP_DRAIN_S = 30
MAX_LAG_GROWTH = 0.1
# ... and the median lag is under this: a lag that holds still at seconds is a standing
# backlog, not a bot that keeps up (a round trip here is about 0.1 s).
MAX_MEDIAN_LAG_S = 1.0
STEP_TRIES = 2
# A step whose sender could not reach this share of the rate measures the sender: the sweep
# stops there, and the figure says so.
SENDER_SHORTFALL = 0.9
# Sending threads, each with its connection (a throughput step's, a start-up's pings):
# Synapse takes 100 to 200 ms per send on this machine, so one connection would offer at most
# 5 to 10 a second, and the ping to the 50th bot of a start-up would leave seconds late.
SENDERS = 32
# The botrunner row that is not the default config: send_rate raised to its maximum, so
# the outbox's pace (10 a second by default) is out of the way.
RAISED_SEND_RATE = 1000
# The upload: size, runs per side and method, and the homeserver's limit that lets it in.
UPLOAD_MB = 50
UPLOAD_RUNS = 3
UPLOAD_TIMEOUT_S = 300
MAX_UPLOAD_SIZE = "100M"
# Synapse hashes each new account's password with bcrypt; the benchmark makes 100 bots and
# never logs in with a password, so the cheapest cost factor saves minutes of set-up.
BCRYPT_ROUNDS = 4
PLUGIN_DIR = harness.ROOT / "bench" / "maubot-ping"
PLUGIN_ID = "bench.ping"
COMMAND = "!echo ping"
BOTRUNNER = "botrunner"
MAUBOT = "maubot"
FLOOR = "floor"


def log(text):
    print(f"[{time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.2f}] {text}",
          file=sys.stderr, flush=True)


# --- sending and receiving -------------------------------------------------------------


class Sender:
    """The person's sends over one keep-alive HTTP connection (a thread's own: the person's
    nio client belongs to the main thread), without nio's retries: rate limits are off."""

    def __init__(self, hs, token):
        self.port = hs.port
        self.token = token
        self.conn = None
        self.prefix = f"bench{os.getpid()}x{secrets.token_hex(3)}x"
        self.serial = 0

    def send(self, room_id, body):
        """Send a text message; returns its event id."""
        self.serial += 1
        path = (f"/_matrix/client/v3/rooms/{urllib.parse.quote(room_id, safe='')}/send/"
                f"m.room.message/{self.prefix}{self.serial}")
        data = json.dumps({"msgtype": "m.text", "body": body})
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=HTTP_TIMEOUT_S)
            try:
                self.conn.request("PUT", path, data, {"Authorization": f"Bearer {self.token}",
                                                      "Content-Type": "application/json"})
                resp = self.conn.getresponse()
                raw = resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
                continue
            if resp.status != 200:
                raise RuntimeError(f"send to {room_id}: {resp.status} {raw[:200]!r}")
            return json.loads(raw)["event_id"]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def wait_quiet(person, rooms, quiet=QUIET_S, timeout=QUIET_TIMEOUT_S):
    """Sync until no event arrived in any of the rooms for `quiet` seconds."""
    rooms = set(rooms)
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    checked = len(person.events)
    while time.monotonic() - last < quiet and time.monotonic() < deadline:
        person.sync_once(500)
        if any(rid in rooms for rid, _ in person.events[checked:]):
            last = time.monotonic()
        checked = len(person.events)


class SenderPool:
    """SENDERS threads with a Sender each, for pings that must leave together (50 bots
    starting at once: one at a time, the last ping would leave seconds after the first)."""

    def __init__(self, hs, token):
        self.local = threading.local()
        self.senders = []
        self.hs, self.token = hs, token
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=SENDERS)

    def _send(self, room_id, body):
        if not hasattr(self.local, "sender"):
            self.local.sender = Sender(self.hs, self.token)
            self.senders.append(self.local.sender)
        return self.local.sender.send(room_id, body)

    def send_all(self, rooms, body):
        """Send body to every room at once; returns the event ids in the rooms' order."""
        return list(self.pool.map(lambda room: self._send(room, body), rooms))

    def close(self):
        self.pool.shutdown(wait=True)
        for sender in self.senders:
            sender.close()


def time_to_answering(person, pool, bots, began, guard):
    """Ping every bot (user id, room id) until each has answered one of this call's pings;
    returns {user id: seconds from `began` (monotonic, just before the exec) to the
    arrival of its first answer in the person's /sync}."""
    from person import in_reply_to
    pings = {user: set() for user, _ in bots}
    last_ping = {user: float("-inf") for user, _ in bots}
    answered = {}
    checked = len(person.events)
    while len(answered) < len(bots):
        due = [(user, room) for user, room in bots
               if user not in answered and time.monotonic() - last_ping[user] >= REPING_S]
        if due:
            sent_at = time.monotonic()
            for (user, _), event_id in zip(due, pool.send_all([r for _, r in due], COMMAND)):
                pings[user].add(event_id)
                last_ping[user] = sent_at
        person.sync_once(200)
        arrived = time.monotonic()
        for _, ev in person.events[checked:]:
            user = ev.get("sender")
            if user in pings and user not in answered and in_reply_to(ev) in pings[user]:
                answered[user] = arrived - began
        checked = len(person.events)
        guard()
        if arrived - began > STARTUP_TIMEOUT_S:
            raise TimeoutError(f"{len(bots) - len(answered)} of {len(bots)} bots did not "
                               f"answer within {STARTUP_TIMEOUT_S} s of the start")
    return answered


# --- memory and CPU of a process tree ----------------------------------------------------


def tree_memory(pids):
    """Sums over the processes: RSS, PSS, USS (KiB), and the footprint (each physical page
    once, None without the rights to read frame numbers)."""
    rolls = [harness.smaps_rollup(pid) for pid in pids]
    return {"rss": sum(r["Rss"] for r in rolls), "pss": sum(r["Pss"] for r in rolls),
            "uss": sum(r["Private_Clean"] + r["Private_Dirty"] for r in rolls),
            "footprint": harness.footprint_kib(pids), "processes": len(pids)}


def tree_cpu(pids):
    return sum(harness.cpu_seconds(pid) for pid in pids)


# --- botrunner's side ----------------------------------------------------------------------


def make_fleet_class():
    from fleet import Fleet

    class DefaultFleet(Fleet):
        """The harness's fleet (`botrunner run`) with the default config: the harness's
        declarations turn rate_limiting off, here every instance has no features and no
        rate_limit keys, as a new user's config has none. Each instance has a room of its
        own, the command prefix !echo, and only the first `active` are declared;
        `send_rate`, when set, is written into each (not the default)."""
        active = None
        send_rate = None

        def config(self):
            cfg = super().config()
            cfg["instances"] = cfg["instances"][:self.active]
            for inst in cfg["instances"]:
                inst.pop("features", None)
                inst["command_prefix"] = "!echo"
                if self.send_rate:
                    inst["send_rate"] = self.send_rate
            return cfg

    return DefaultFleet


class BotrunnerSide:
    """`botrunner run -c FILE` over one state directory: its accounts (registered by the
    workers with the registration token on the first start) serve every bot count."""
    name = BOTRUNNER

    def __init__(self, hs, workdir, count, rooms):
        serial = itertools.count(1)
        self.fleet = make_fleet_class()(hs, workdir, lambda _: f"br-{next(serial)}", count=0,
                                        log_level=harness.WORKER_LOG_LEVEL)
        for room in rooms[:count]:
            self.fleet.add_instance(rooms=[room])
        self.decls = list(self.fleet.instances.values())
        self.bots = [(d.user_id, d.rooms[0]) for d in self.decls]
        self.n = 0

    def start(self, n, send_rate=None):
        """Start the supervisor with the first n instances; returns the monotonic time
        taken just before (the config is written first, a few ms)."""
        self.n = n
        self.fleet.active = n
        self.fleet.send_rate = send_rate
        began = time.monotonic()
        self.fleet.start(wait=False)
        return began

    def provision(self, person):
        """The first start of all: every worker registers its account; the person invites
        each bot to its room and it joins."""
        self.start(len(self.decls))
        self.fleet.join(person, self.decls)

    def pids(self):
        workers = self.fleet.worker_pids()
        return [self.fleet.pid, *workers.values()]

    def guard(self):
        self.fleet.assert_running()

    def stop(self):
        try:
            self.fleet.stop()
        finally:
            self.fleet.cleanup()


# --- maubot's side -------------------------------------------------------------------------


def build_plugin(directory, out):
    """The .mbp: a zip of maubot.yaml and the module, as `mbc build` makes it."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("maubot.yaml", "pingbot.py"):
            z.write(directory / name, name)
    return out


class MaubotApi:
    """maubot's management API (/_matrix/maubot/v1), JSON with the login's bearer token."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}/_matrix/maubot/v1"
        self.token = None

    def call(self, method, path, body=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                status, text = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if not 200 <= status < 300:
            raise RuntimeError(f"maubot {method} {path}: {status} {text[:300]!r}")
        return json.loads(text) if text else {}


class MaubotSide:
    """maubot with a data directory per bot count (its clients are its database's): each
    is configured once through the management API, then started again for every run."""
    name = MAUBOT

    def __init__(self, hs, workdir, python, count, rooms):
        self.hs = hs
        self.dir = pathlib.Path(workdir)
        self.python = python
        self.rooms = rooms[:count]
        self.accounts = []  # (user id, access token)
        self.bots = []
        self.proc = None
        self.port = None
        self.n = 0
        self.admin_password = secrets.token_urlsafe(12)
        self.secret = secrets.token_hex(16)
        self.mbp = build_plugin(PLUGIN_DIR, self.dir / f"{PLUGIN_ID}-v1.0.0.mbp")

    def data_dir(self, n):
        return self.dir / f"maubot-{n}"

    def write_config(self, n):
        from synapse_server import free_port
        d = self.data_dir(n)
        for sub in ("plugins", "trash"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "database": f"sqlite:{d}/maubot.db",
            "plugin_directories": {"upload": f"{d}/plugins", "load": [f"{d}/plugins"],
                                   "trash": f"{d}/trash"},
            "plugin_databases": {"sqlite": f"{d}/plugins", "postgres": None},
            "server": {"hostname": "127.0.0.1", "port": self.port,
                       "public_url": f"http://127.0.0.1:{self.port}",
                       "unshared_secret": self.secret},
            "homeservers": {},
            # maubot replaces a plaintext password with its bcrypt hash on start.
            "admins": {"bench": self.admin_password},
            # INFO, as botrunner's workers log: maubot's example config says DEBUG.
            "logging": {"version": 1,
                        "formatters": {"normal": {
                            "format": "[%(asctime)s] [%(levelname)s@%(name)s] %(message)s"}},
                        "handlers": {"file": {"class": "logging.FileHandler",
                                              "formatter": "normal",
                                              "filename": f"{d}/maubot.log"}},
                        "root": {"level": "INFO", "handlers": ["file"]}},
        }
        (d / "config.yaml").write_text(json.dumps(config, indent=1))

    def start(self, n):
        """exec `python -m maubot -c config.yaml` of the data directory for n bots; returns
        the monotonic time taken just before."""
        from synapse_server import track
        d = self.data_dir(n)
        self.write_config(n)
        self.n = n
        began = time.monotonic()
        self.proc = track(subprocess.Popen(
            [self.python, "-m", "maubot", "-c", str(d / "config.yaml")], cwd=d,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(d / "maubot.out", "ab"), start_new_session=True))
        return began

    def wait_api(self):
        deadline = time.monotonic() + MAUBOT_START_TIMEOUT_S
        while True:
            self.guard()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_matrix/maubot/v1/"
                                       "version", timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 without a token): it is up
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"maubot did not answer within {MAUBOT_START_TIMEOUT_S} s")
            time.sleep(0.1)

    def configure(self, n):
        """What a maubot user does: log in, upload the plugin, add each bot's client (its
        access token) and an instance of the plugin for it."""
        api = MaubotApi(self.port)
        api.token = api.call("POST", "/auth/login", {"username": "bench",
                                                      "password": self.admin_password})["token"]
        api.call("POST", "/plugins/upload", raw=self.mbp.read_bytes(),
                 content_type="application/zip")
        for i, (user_id, token) in enumerate(self.accounts[:n], start=1):
            api.call("POST", "/client/new", {
                "homeserver": self.hs.base_url, "access_token": token, "autojoin": True,
                "sync": True, "enabled": True, "displayname": "disable",
                "avatar_url": "disable"})
            api.call("PUT", f"/instance/ping-{i}", {"type": PLUGIN_ID, "primary_user": user_id,
                                                    "enabled": True, "started": True})

    def provision(self, person, counts):
        """Register the bot accounts (shared-secret registration, as maubot's own `mbc auth
        --register` does), then a data directory per count; in the largest, the person
        invites each bot to its room and maubot's autojoin accepts."""
        for i in range(1, len(self.rooms) + 1):
            self.accounts.append(self.hs.register_with_shared_secret(
                f"mb-{i}", secrets.token_urlsafe(12)))
        self.bots = [(user, room) for (user, _), room in zip(self.accounts, self.rooms)]
        from botworker import wait_membership
        for n in sorted(counts, reverse=True):
            self.start(n)
            try:
                self.wait_api()
                self.configure(n)
                if n == max(counts):
                    for user, room in self.bots[:n]:
                        person.invite(room, user)
                    for user, room in self.bots[:n]:
                        wait_membership(self.hs, room, user, "join", guard=self.guard)
            finally:
                self.stop()

    def pids(self):
        return [self.proc.pid]

    def guard(self):
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"maubot exited: see {self.data_dir(self.n)}/maubot.out and "
                               "maubot.log")

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# --- the measurements ----------------------------------------------------------------------


def memory_and_startup(sides, person, pool, counts, runs, rows):
    """For each run, bot count and side (one side running at a time, the order alternating
    from run to run): exec, time until every bot answers, wait until idle, read the
    memory of the process tree MEMORY_SAMPLES times, stop."""
    for run in range(1, runs + 1):
        for n in counts:
            order = sides if run % 2 else sides[::-1]
            for side in order:
                log(f"run {run}: {side.name} with {n} bots")
                began = side.start(n)
                try:
                    answered = time_to_answering(person, pool, side.bots[:n], began,
                                                 side.guard)
                    times = sorted(answered.values())
                    rows["startup"].append({
                        "side": side.name, "bots": n, "run": run,
                        "all_answering_s": f"{times[-1]:.3f}",
                        "first_answer_s": f"{times[0]:.3f}",
                        "median_bot_s": f"{statistics.median(times):.3f}",
                        "load1": f"{os.getloadavg()[0]:.2f}"})
                    wait_quiet(person, [room for _, room in side.bots[:n]])
                    time.sleep(IDLE_SETTLE_S)
                    for sample in range(MEMORY_SAMPLES):
                        if sample:
                            time.sleep(MEMORY_INTERVAL_S)
                        pids = side.pids()
                        m = tree_memory(pids)
                        rows["memory"].append({
                            "side": side.name, "bots": n, "run": run, "sample": sample,
                            "processes": m["processes"], "pss_kib": m["pss"],
                            "rss_kib": m["rss"], "uss_kib": m["uss"],
                            "footprint_kib": m["footprint"] if m["footprint"] is not None
                            else "", "load1": f"{os.getloadavg()[0]:.2f}"})
                finally:
                    side.stop()


def round_trips(targets, person, pings, rows):
    """targets: [(name, room, user, guard, pids)]. WARMUP_PINGS each, then one ping to each
    in turn until each has `pings`; the CPU of each target's processes is summed over its
    own pings."""
    for name, room, user, guard, _ in targets:
        for _ in range(WARMUP_PINGS):
            harness.ping_and_wait(person, room, user, body=COMMAND, guard=guard)
    done = {name: 0 for name, *_ in targets}
    cpu = {name: 0.0 for name, *_ in targets}
    procs = {name: pids() for name, _, _, _, pids in targets}
    for i in range(1, pings + 1):
        for name, room, user, guard, _ in targets:
            before = tree_cpu(procs[name])
            rtt = harness.ping_and_wait(person, room, user, body=COMMAND, guard=guard)
            cpu[name] += tree_cpu(procs[name]) - before
            done[name] += 1
            rows["latency"].append({"side": name, "ping": done[name],
                                    "rtt_ms": f"{rtt * 1e3:.2f}"})
        if i % 50 == 0:
            log(f"round trips: {i} of {pings} each")
    for name, *_ in targets:
        rows["cpu"].append({"side": name, "phase": "sequential pings", "commands": pings,
                            "cpu_s": f"{cpu[name]:.2f}",
                            "cpu_s_per_1000": f"{cpu[name] / pings * 1000:.2f}"})


def lag_growth(times, lags):
    """The lag's growth in seconds per second (see MAX_LAG_GROWTH), or NaN for too few."""
    h = len(lags) // 2
    slopes = [(lags[i + h] - lags[i]) / (times[i + h] - times[i]) for i in range(len(lags) - h)
              if times[i + h] > times[i]]
    return statistics.median(slopes) if slopes else float("nan")


def throughput_step(hs, person, room, user, rate, guard, pids):
    """Offer `rate` commands a second for STEP_S from SENDERS threads, while this thread
    syncs the replies; returns the step's figures."""
    from person import in_reply_to
    sent = {}  # event id -> monotonic time just before its send request
    failed = []
    count = int(rate * STEP_S)
    serial = itertools.count()
    start = time.monotonic() + 0.1

    def send_some():
        sender = Sender(hs, person.client.access_token)
        try:
            while (i := next(serial)) < count:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                t = time.monotonic()
                sent[sender.send(room, COMMAND)] = t
        except Exception as e:  # reported by the main thread
            failed.append(e)
        finally:
            sender.close()

    procs = pids()
    cpu_before = tree_cpu(procs)
    replies = {}  # event id replied to -> monotonic arrival
    checked = len(person.events)
    threads = [threading.Thread(target=send_some, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    began = start
    deadline = began + STEP_S + STEP_DRAIN_S
    while time.monotonic() < deadline:
        person.sync_once(200)
        arrived = time.monotonic()
        for rid, ev in person.events[checked:]:
            if rid == room and ev.get("sender") == user and in_reply_to(ev):
                replies.setdefault(in_reply_to(ev), arrived)
        checked = len(person.events)
        guard()
        if (not any(t.is_alive() for t in threads) and len(sent) == count
                and all(e in replies for e in sent)):
            break
    for t in threads:
        t.join(HTTP_TIMEOUT_S)
    if failed:
        raise failed[0]
    cpu = tree_cpu(procs) - cpu_before
    order = sorted(sent, key=sent.get)
    lags = [replies[e] - sent[e] for e in order if e in replies]
    answered = len(lags)
    fifth = max(1, answered // 5)
    offered_span = sent[order[-1]] - sent[order[0]] if len(order) > 1 else STEP_S
    offered = (len(order) - 1) / offered_span if offered_span > 0 else 0
    first = statistics.median(lags[:fifth]) if lags else float("nan")
    last = statistics.median(lags[-fifth:]) if lags else float("nan")
    growth = lag_growth([sent[e] for e in order if e in replies], lags)
    median_lag = statistics.median(lags) if lags else float("inf")
    sustained = (answered == len(order) and growth < MAX_LAG_GROWTH
                 and median_lag < MAX_MEDIAN_LAG_S)
    # What the bot managed: replies over the time from the first send to the last reply,
    # close to the offered rate when it keeps up, its capacity when it does not.
    last_reply = max((replies[e] for e in order if e in replies), default=start)
    reply_rate = answered / (last_reply - start) if last_reply > start else 0.0
    return {"rate": rate, "offered": offered, "sent": len(order), "answered": answered,
            "reply_rate": reply_rate,
            "lag_first_ms": first * 1e3, "lag_last_ms": last * 1e3,
            "lag_p50_ms": statistics.median(lags) * 1e3 if lags else float("nan"),
            "lag_max_ms": max(lags) * 1e3 if lags else float("nan"), "growth": growth,
            "sustained": sustained, "sender_bound": offered < SENDER_SHORTFALL * rate,
            "cpu_s": cpu}


def throughput(hs, person, name, room, user, guard, pids, rows):
    """The sweep of STEP_RATES for one bot: stops at the first rate not sustained in
    STEP_TRIES attempts, or whose sender fell short."""
    for rate in STEP_RATES:
        for attempt in range(1, STEP_TRIES + 1):
            step = throughput_step(hs, person, room, user, rate, guard, pids)
            log(f"throughput {name}: {rate}/s offered {step['offered']:.1f}/s, answered "
                f"{step['answered']}/{step['sent']}, lag {step['lag_first_ms']:.0f} -> "
                f"{step['lag_last_ms']:.0f} ms (growth {step['growth']:.2f} s/s), "
                f"{'sustained' if step['sustained'] else 'NOT sustained'}")
            rows["throughput"].append({
                "side": name, "target_rate": rate, "attempt": attempt,
                "offered_rate": f"{step['offered']:.2f}", "sent": step["sent"],
                "answered": step["answered"],
                "reply_rate_per_s": f"{step['reply_rate']:.2f}",
                "lag_first_fifth_ms": f"{step['lag_first_ms']:.1f}",
                "lag_last_fifth_ms": f"{step['lag_last_ms']:.1f}",
                "lag_p50_ms": f"{step['lag_p50_ms']:.1f}",
                "lag_max_ms": f"{step['lag_max_ms']:.1f}",
                "lag_growth_s_per_s": f"{step['growth']:.3f}",
                "sustained": int(step["sustained"]), "sender_bound": int(step["sender_bound"]),
                "cpu_s": f"{step['cpu_s']:.2f}", "load1": f"{os.getloadavg()[0]:.2f}"})
            wait_quiet(person, [room])
            if step["sustained"] or step["sender_bound"]:
                break
        if not step["sustained"] or step["sender_bound"]:
            return


def upload_botrunner(hs, token, path, binary, rows):
    env = dict(os.environ, BENCH_HS_URL=hs.base_url, BENCH_TOKEN=token)
    for run in range(1, UPLOAD_RUNS + 1):
        proc = subprocess.run([str(binary), str(path)], env=env, capture_output=True, text=True,
                              timeout=UPLOAD_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"upload-rss failed:\n{proc.stdout}{proc.stderr}")
        m = re.search(r"RSS before (\d+) KiB, peak during the upload (\d+) KiB: growth (-?\d+)",
                      proc.stdout)
        secs = float(re.search(r"in ([\d.]+) s", proc.stdout).group(1))
        rows["upload"].append({"side": BOTRUNNER, "method": "mx_upload (streamed, pread)",
                               "run": run, "bytes": path.stat().st_size,
                               "rss_before_kib": m.group(1), "hwm_kib": m.group(2),
                               "growth_kib": m.group(3), "seconds": f"{secs:.2f}"})


def upload_maubot(person, maubot, path, rows):
    """The plugin's `!echo upload[-stream] PATH` in the running maubot: the peak is reset
    (clear_refs 5) before, VmHWM read after its answer."""
    user, room = maubot.bots[0]
    pid = maubot.proc.pid
    for method, word in (("upload_media(bytes)", "upload"),
                         ("upload_media(async iterator)", "upload-stream")):
        for run in range(1, UPLOAD_RUNS + 1):
            pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")
            before = harness.status_kib(pid, "VmRSS")
            began = time.monotonic()
            event_id = person.send(room, f"!echo {word} {path}")
            person.wait_message(room, user, reply_to=event_id, timeout=UPLOAD_TIMEOUT_S,
                                guard=maubot.guard)
            secs = time.monotonic() - began
            hwm = harness.status_kib(pid, "VmHWM")
            rows["upload"].append({"side": MAUBOT, "method": method, "run": run,
                                   "bytes": path.stat().st_size, "rss_before_kib": before,
                                   "hwm_kib": hwm, "growth_kib": hwm - before,
                                   "seconds": f"{secs:.2f}"})


# --- the header ----------------------------------------------------------------------------


def run_text(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_and_versions(binary, maubot_python):
    cpu = next((line.split(":", 1)[1].strip() for line in
                pathlib.Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal:"))
    from importlib.metadata import version
    probe = ("import importlib.metadata as m; "
             "print(m.version('maubot'), m.version('mautrix'), m.version('aiohttp'))")
    mb = run_text([maubot_python, "-c", probe]).split() or ["?", "?", "?"]
    debian = pathlib.Path("/etc/debian_version")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB",
        "os": f"Debian {debian.read_text().strip() if debian.exists() else '?'}, Linux "
              f"{platform.release()}",
        "botrunner": run_text([str(binary), "--version"]),
        "maubot": mb[0], "mautrix": mb[1], "aiohttp (maubot's)": mb[2],
        "synapse": version("matrix-synapse"), "matrix-nio": version("matrix-nio"),
        "python": platform.python_version(),
        "libcurl": run_text(["dpkg-query", "-W", "-f", "${Version}", "libcurl4"]),
        "libsqlite3": run_text(["dpkg-query", "-W", "-f", "${Version}", "libsqlite3-0"]),
    }


def write_csv(out, name, rows):
    if not rows:
        return
    path = out / f"compare-{name}.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


# --- the report ----------------------------------------------------------------------------


def med(values):
    values = [float(v) for v in values if v not in ("", None)]
    return statistics.median(values) if values else float("nan")


def plural(n):
    return f"{n} bot{'s' if n != 1 else ''}"


def ratio(a, b):
    return a / b if b else float("nan")


def summary(rows, counts):
    """The table: [(figure, botrunner, maubot, maubot/botrunner, unit)], as strings."""
    out = []

    def per_run(kind, side, n, field):
        """The median over runs of each run's median over its samples."""
        runs = {}
        for r in rows[kind]:
            if r["side"] == side and r["bots"] == n:
                runs.setdefault(r["run"], []).append(r[field])
        return med([med(v) for v in runs.values()])

    for n in counts:
        b, m = per_run("memory", BOTRUNNER, n, "pss_kib"), per_run("memory", MAUBOT, n, "pss_kib")
        out.append((f"memory, {plural(n)} idle: PSS of the process tree", b / 1024, m / 1024,
                    ratio(m, b), "MiB"))
    for n in counts:
        b = per_run("memory", BOTRUNNER, n, "footprint_kib")
        m = per_run("memory", MAUBOT, n, "footprint_kib")
        out.append((f"memory, {plural(n)} idle: footprint (each physical page once)",
                    b / 1024, m / 1024, ratio(m, b), "MiB"))
    lat = {s: [float(r["rtt_ms"]) for r in rows["latency"] if r["side"] == s]
           for s in (BOTRUNNER, MAUBOT, FLOOR)}
    if all(lat.values()):
        for p in (50, 95, 99):
            b, m = harness.percentile(lat[BOTRUNNER], p), harness.percentile(lat[MAUBOT], p)
            f = harness.percentile(lat[FLOOR], p)
            out.append((f"ping round trip p{p} (floor {f:.1f} ms)", b, m, ratio(m, b), "ms"))
    for n in [c for c in counts if c in STARTUP_COUNTS] or counts:
        b = med(r["all_answering_s"] for r in rows["startup"]
                if r["side"] == BOTRUNNER and r["bots"] == n)
        m = med(r["all_answering_s"] for r in rows["startup"]
                if r["side"] == MAUBOT and r["bots"] == n)
        out.append((f"start-up, exec to {plural(n)} answering", b, m, ratio(m, b), "s"))

    def sustained(side):
        steps = [r for r in rows["throughput"] if r["side"] == side]
        ok = [float(r["offered_rate"]) for r in steps if r["sustained"] and not r["sender_bound"]]
        return max(ok) if ok else float("nan")

    def saturated(side):
        """The highest reply rate of any step: at the steps past what the bot sustains,
        what it managed (for maubot the sender, Synapse's sends, may be the limit)."""
        steps = [r for r in rows["throughput"] if r["side"] == side]
        return max((float(r["reply_rate_per_s"]) for r in steps), default=float("nan"))
    b, m = sustained(BOTRUNNER), sustained(MAUBOT)
    out.append(("throughput: commands/s one bot sustains (default config)", b, m, ratio(m, b),
                "/s"))
    raised = f"{BOTRUNNER} send_rate {RAISED_SEND_RATE}"
    if any(r["side"] == raised for r in rows["throughput"]):
        b2 = sustained(raised)
        out.append((f"the same, botrunner with send_rate: {RAISED_SEND_RATE} (not the default)",
                    b2, m, ratio(m, b2), "/s"))
    b, m = saturated(BOTRUNNER), saturated(MAUBOT)
    out.append(("throughput: the highest reply rate of any step", b, m, ratio(m, b), "/s"))
    for phase in ("sequential pings", "throughput steps"):
        cpu = {r["side"]: float(r["cpu_s_per_1000"]) for r in rows["cpu"] if r["phase"] == phase}
        if BOTRUNNER in cpu and MAUBOT in cpu:
            out.append((f"CPU seconds per 1000 commands ({phase})", cpu[BOTRUNNER], cpu[MAUBOT],
                        ratio(cpu[MAUBOT], cpu[BOTRUNNER]), "s"))
    up = {}
    for r in rows["upload"]:
        up.setdefault((r["side"], r["method"]), []).append(float(r["growth_kib"]))
    b = [med(v) for (s, _), v in up.items() if s == BOTRUNNER]
    for (s, method), v in up.items():
        if s == MAUBOT and b:
            out.append((f"peak RSS growth posting {UPLOAD_MB} MB (maubot: {method})",
                        b[0] / 1024, med(v) / 1024, ratio(med(v), b[0]), "MiB"))
    return out


def interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def fmt(v):
    if v != v:  # NaN
        return "n/a"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.DEFAULT_BOTRUNNER))
    ap.add_argument("--maubot-python",
                    default=str(harness.ROOT / ".venv-bench" / "bin" / "python"))
    ap.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    ap.add_argument("--pings", type=int, default=DEFAULT_PINGS)
    ap.add_argument("--counts", default=",".join(map(str, DEFAULT_COUNTS)))
    ap.add_argument("--out", default=str(harness.ROOT / "bench" / "results"))
    ap.add_argument("--quick", action="store_true",
                    help="one run, 50 pings, counts 1,3: a check of the script, not figures")
    ap.add_argument("--report-only", action="store_true",
                    help="measure nothing: the summary and table again from --out's CSV files")
    args = ap.parse_args()
    if args.report_only:
        rows = load_rows(pathlib.Path(args.out))
        report(pathlib.Path(args.out), rows, sorted({r["bots"] for r in rows["memory"]}))
        return
    # Absolute: maubot runs in its data directory.
    args.binary = os.path.abspath(args.binary)
    args.maubot_python = os.path.abspath(args.maubot_python)
    counts = sorted(int(c) for c in args.counts.split(","))
    if args.quick:
        args.runs, args.pings, counts = 1, 50, [1, 3]
    if counts[0] != 1:
        raise SystemExit("--counts must include 1: the one-bot fleets serve the round trips")
    upload_bin = pathlib.Path(args.binary).parent / "bench" / "upload-rss"
    for path, what in ((args.maubot_python, "`make bench-compare` makes .venv-bench"),
                       (str(upload_bin), f"`make {os.path.relpath(upload_bin, harness.ROOT)}`")):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} missing: {what}")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["E2E_FLEET_BIN"] = args.binary
    import botworker
    import fleet as fleet_module
    import roundtrip
    fleet_module.BOTRUNNER = args.binary
    beside = pathlib.Path(args.binary).parent / "plugins" / "echo"
    if beside.is_dir():
        fleet_module.ECHO_PLUGIN = botworker.ECHO_PLUGIN = str(beside)

    meta = machine_and_versions(args.binary, args.maubot_python)
    meta["load at start (1/5/15 min)"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = {k: [] for k in ("memory", "startup", "latency", "throughput", "cpu", "upload")}
    began = time.monotonic()
    # A SIGTERM (make interrupted, a CI timeout) unwinds like Ctrl-C: every `finally` runs.
    signal.signal(signal.SIGTERM, interrupted)
    with harness.time_limit(TIME_LIMIT_S, "the comparison"), contextlib.ExitStack() as stack:
        tmp = pathlib.Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="br-bench-compare-")))
        hs = stack.enter_context(harness.homeserver(tmp, extra_config={
            "max_upload_size": MAX_UPLOAD_SIZE, "bcrypt_rounds": BCRYPT_ROUNDS}))
        alice = stack.enter_context(harness.person(hs))
        hs.exempt_from_rate_limits(alice.user_id)
        pool = SenderPool(hs, alice.client.access_token)
        stack.callback(pool.close)
        most = max(counts)
        log(f"rooms: {2 * most}")
        br_rooms = [alice.create_room(name=f"botrunner {i}") for i in range(1, most + 1)]
        mb_rooms = [alice.create_room(name=f"maubot {i}") for i in range(1, most + 1)]

        br = BotrunnerSide(hs, tmp / "botrunner", most, br_rooms)
        stack.callback(br.stop)
        mb = MaubotSide(hs, tmp, args.maubot_python, most, mb_rooms)
        stack.callback(mb.stop)
        log(f"provisioning botrunner: {most} bots register and join")
        br.provision(alice)
        br.stop()
        log(f"provisioning maubot: {most} accounts; data directories for {counts}")
        mb.provision(alice, counts)
        for user, _ in br.bots + mb.bots:
            hs.exempt_from_rate_limits(user)
        meta["load after set-up"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

        memory_and_startup([br, mb], alice, pool, counts, args.runs, rows)
        meta["load after memory and start-up"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

        log("round trips: one bot each and the floor")
        floor, floor_user, floor_room = roundtrip.start_floor(hs, alice, tmp)
        stack.callback(roundtrip.stop, floor)
        hs.exempt_from_rate_limits(floor_user)
        br.start(1)
        mb.start(1)
        time_to_answering(alice, pool, br.bots[:1] + mb.bots[:1], time.monotonic(),
                          lambda: (br.guard(), mb.guard()))
        targets = [(BOTRUNNER, br.bots[0][1], br.bots[0][0], br.guard, br.pids),
                   (MAUBOT, mb.bots[0][1], mb.bots[0][0], mb.guard, mb.pids),
                   (FLOOR, floor_room, floor_user, None, lambda: [floor.pid])]
        round_trips(targets, alice, args.pings, rows)
        meta["load after round trips"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

        log("throughput")
        # Not the floor: it sends its answers one after the other from nio's sync callback,
        # so it measures Synapse's time per send, not what a bot can do.
        for name, room, user, guard, pids in targets[:2]:
            throughput(hs, alice, name, room, user, guard, pids, rows)
        br.stop()
        raised = f"{BOTRUNNER} send_rate {RAISED_SEND_RATE}"
        br.start(1, send_rate=RAISED_SEND_RATE)
        time_to_answering(alice, pool, br.bots[:1], time.monotonic(), br.guard)
        throughput(hs, alice, raised, br.bots[0][1], br.bots[0][0], br.guard, br.pids, rows)
        br.stop()
        for side in (BOTRUNNER, MAUBOT, raised):
            steps = [r for r in rows["throughput"] if r["side"] == side]
            answered = sum(r["answered"] for r in steps)
            cpu = sum(float(r["cpu_s"]) for r in steps)
            if answered and side != raised:
                rows["cpu"].append({"side": side, "phase": "throughput steps",
                                    "commands": answered, "cpu_s": f"{cpu:.2f}",
                                    "cpu_s_per_1000": f"{cpu / answered * 1000:.2f}"})
        meta["load after throughput"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

        log(f"upload of {UPLOAD_MB} MB")
        data = tmp / "upload.bin"
        with open(data, "wb") as f:
            for left in range(UPLOAD_MB * 1000 * 1000, 0, -(1 << 20)):
                f.write(os.urandom(min(1 << 20, left)))
        upload_botrunner(hs, alice.client.access_token, data, upload_bin, rows)
        upload_maubot(alice, mb, data, rows)
        mb.stop()
        meta["load at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["whole run"] = f"{time.monotonic() - began:.0f} s"

    rows["meta"] = [{"key": k, "value": v} for k, v in meta.items()]
    report(out, rows, counts)


def report(out, rows, counts):
    """Write every CSV (the summary made from the others) and print the header and table."""
    table = summary(rows, counts)
    rows["summary"] = [{"figure": f, "botrunner": fmt(b), "maubot": fmt(m), "maubot/botrunner":
                        fmt(r), "unit": u} for f, b, m, r, u in table]
    for name, r in rows.items():
        write_csv(out, name, r)
    for r in rows["meta"]:
        print(f"{r['key']}: {r['value']}")
    print("\n| figure | botrunner | maubot | maubot / botrunner |\n| --- | --- | --- | --- |")
    for f, b, m, r, u in table:
        print(f"| {f} | {fmt(b)} {u} | {fmt(m)} {u} | {fmt(r)} |")
    print(f"\nraw figures: {out}/compare-*.csv")


# Columns the CSV files hold as integers (the rest stay text; summary() converts).
INT_COLUMNS = ("bots", "run", "sample", "sent", "answered", "sustained", "sender_bound",
               "commands", "ping", "attempt")


def load_rows(out):
    """The raw figures of an earlier run, read back from its CSV files."""
    rows = {}
    for name in ("memory", "startup", "latency", "throughput", "cpu", "upload", "meta"):
        path = out / f"compare-{name}.csv"
        with open(path, newline="") as f:
            rows[name] = [{k: int(v) if k in INT_COLUMNS and v != "" else v
                           for k, v in r.items()} for r in csv.DictReader(f)]
    return rows


if __name__ == "__main__":
    main()
