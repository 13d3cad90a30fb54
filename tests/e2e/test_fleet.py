"""`botrunner run -c FILE` (the supervisor) against a real Synapse, driven by a person on
matrix-nio: crash isolation and restart with backoff, reload on SIGHUP (only what changed
restarts; an invalid file is refused), health that follows the homeserver, the status
endpoint's contract, and a graceful SIGTERM. The test_harness_* tests check the harness
itself (fleet.py) without the supervisor; `E2E_SUPERVISOR=tests/e2e/fake_supervisor.py
pytest tests/e2e/test_fleet.py` checks the other tests against a Python stand-in for the
supervisor (it must pass too).

What the supervisor is held to, beyond docs/ and DESIGN.md (see the report of each test):
- its workers are its own children, argv `... worker --instance ID ...`;
- a notice in the admin room names its level in capitals (CRITICAL, ERROR) and the
  instance it is about; a crash notice names the signal (SIGSEGV);
- BOTRUNNER_HEALTH_SYNC_MAX_AGE_S and BOTRUNNER_HEALTH_ERROR_WINDOW_S in its environment
  replace the health thresholds (10 min, 5 min);
- `botrunner health --url URL` prints one line holding "healthy", "degraded", or
  "unreachable" / "cannot reach" (the supervisor is gone);
- a refused reload's notice holds "ERROR" and "reload" or "config".
The notifications sender (echo-1) has the admin room among its room_subscriptions, so it
joins it when the person invites it, as it joins any subscribed room."""
import calendar
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from botworker import ECHO_PLUGIN_DIR, ECHO_PLUGIN_ID, wait_until
from conftest import attach_log, unique
from fleet import (ROOT, ACCOUNT_TIMEOUT_S, BOTRUNNER, FAKE_SUPERVISOR, HTTP_TIMEOUT_S,
                   SCRUBBED_ENV, Fleet, alive, messages_since, ping, raw_request)

# A reply while a neighbour crashes or the fleet reloads; normal round trips are well
# under a second, so this is only a bound against a stuck bot.
DURING_REPLY_TIMEOUT_S = 10
REPLY_TIMEOUT_S = 30
# The first restart of a crashed worker comes after about 1 s of backoff: sooner is no
# backoff at all, later (past the slack a loaded machine needs) is a slow supervisor.
FIRST_RESTART_MIN_S = 0.5
FIRST_RESTART_MAX_S = 5
# A notice reaches the admin room within this (the supervisor, then the sender's send).
NOTICE_TIMEOUT_S = 30
# After the last expected message, keep listening this long for a duplicate.
QUIET_S = 4
# SIGHUP to every change in place (a stop, a start, a stop and a start).
RELOAD_TIMEOUT_S = 30
# A refused reload is logged within this.
REFUSAL_TIMEOUT_S = 15
# The test's health thresholds, through the two variables the supervisor honours.
HEALTH_SYNC_MAX_AGE_S = 5
HEALTH_ERROR_WINDOW_S = 5
HEALTH_ENV = {"BOTRUNNER_HEALTH_SYNC_MAX_AGE_S": str(HEALTH_SYNC_MAX_AGE_S),
              "BOTRUNNER_HEALTH_ERROR_WINDOW_S": str(HEALTH_ERROR_WINDOW_S)}
# Degraded within the sync threshold plus slack for the supervisor's own checking period.
DEGRADED_WITHIN_S = HEALTH_SYNC_MAX_AGE_S + 15
# Back to healthy after Synapse returns: the worker's retry backoff may have reached its
# 60 s cap during the outage.
RECOVER_TIMEOUT_S = 120
# After a pong, how long `health` may take to say healthy before the next ping.
HEALTH_SETTLE_S = 3
# The contract's bound on a graceful stop.
STOP_TIMEOUT_S = 15
# Sanitizer builds catch SIGSEGV themselves and exit 1; the crash test wants the signal.
NO_ASAN_SEGV = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0")
                .lstrip(":")}

ISO_UTC = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
STATUS_KEYS = {"service_status", "version", "uptime_s", "enabled_instances_count",
               "active_instances_count", "failed_instances", "reasons", "instances",
               "plugins", "notifications"}
INSTANCE_KEYS = {"id", "plugin", "user", "enabled", "state", "state_since", "restarts",
                 "last_sync_at", "last_message_at", "last_error"}
PLUGIN_KEYS = {"id", "version", "state", "used_by"}
NOTIFICATION_KEYS = {"timestamp", "source_instance", "severity", "message"}
SERVICE_STATES = {"healthy", "degraded", "failed"}
INSTANCE_STATES = {"created", "configured", "enabled", "running", "stopped", "failed",
                   "restarting"}
PLUGIN_STATES = {"validated", "rejected", "loaded", "disabled", "active", "trashed",
                 "deleted"}
SEVERITIES = {"ERROR", "CRITICAL"}
PATHS = ("/status", "/metrics", "/_matrix/maubot/v1/version")


# --- fixtures and helpers ---------------------------------------------------------------

# The Python stand-in (fake_supervisor.py) checks the tests of the contract; these hold the
# supervisor to what the stand-in does not imitate (reload records, resolved errors,
# counters, fingerprints of plugin code).
real_supervisor = pytest.mark.skipif(bool(FAKE_SUPERVISOR),
                                     reason="the stand-in supervisor does not imitate this")



@pytest.fixture
def make_fleet(tmp_path, request):
    """make_fleet(hs, count=..., rooms=[...], admin_room=..., passwords={...}, env={...}):
    a Fleet, not started; stopped at teardown, and its output must hold no sanitizer
    report."""
    fleets = []

    def make(hs, **kwargs):
        fleet = Fleet(hs, tmp_path / f"fleet-{len(fleets)}", unique, **kwargs)
        fleets.append(fleet)
        attach_log(request, f"supervisor log ({fleet.dir.name})", fleet.logs)
        return fleet

    yield make
    for fleet in fleets:
        fleet.cleanup()
    for fleet in fleets:
        reports = fleet.crash_reports()
        assert not reports, "sanitizer reports:\n" + "\n".join(reports)


def start_fleet(hs, person, make_fleet, count, admin=True, **kwargs):
    """The usual opening: the person makes a room (and an admin room), the supervisor
    starts with `count` instances subscribed to it, each is invited and joins. Returns
    (fleet, room, admin_room)."""
    room = person.create_room(name="fleet")
    admin_room = person.create_room(name="admin") if admin else None
    fleet = make_fleet(hs, count=count, rooms=[room], admin_room=admin_room, **kwargs).start()
    fleet.join(person)
    return fleet, room, admin_room


def text_of(event):
    content = event.get("content", {})
    return "\n".join(filter(None, (content.get("body"), content.get("formatted_body"))))


def event_ids(person):
    return {ev.get("event_id") for _, ev in person.events}


def wait_notice(person, room, sender, old_ids, match, what, timeout=NOTICE_TIMEOUT_S,
                guard=None):
    """The first message from sender in room, not among old_ids, whose text satisfies
    match(text)."""
    def pred(rid, ev):
        return (rid == room and ev.get("sender") == sender
                and ev.get("type") == "m.room.message"
                and ev.get("event_id") not in old_ids and match(text_of(ev)))
    return person.wait_for(pred, timeout=timeout, guard=guard, what=what)


def assert_no_secrets(where, text, fleet):
    leaked = [name for name, value in fleet.secrets().items() if value and value in text]
    assert not leaked, f"{where} holds the value of {', '.join(leaked)}"


def iso_time(value, where):
    """The seconds since the epoch of an ISO 8601 UTC time ending in Z; fails otherwise."""
    m = ISO_UTC.match(value) if isinstance(value, str) else None
    assert m, f"{where}: {value!r} is not an ISO 8601 UTC time ending in Z"
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    return calendar.timegm((y, mo, d, h, mi, s)) + float(m.group(7) or 0)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_status_shape(st):
    """Every key of the contract with its type and enum; returns the problems found."""
    bad = []
    now = time.time()

    def when(v, where, nullable):
        if v is None and nullable:
            return
        try:
            t = iso_time(v, where)
        except AssertionError as e:
            bad.append(str(e))
            return
        if t > now + 5:
            bad.append(f"{where}: {v} is in the future")

    missing = STATUS_KEYS - set(st)
    if missing:
        bad.append(f"/status lacks {sorted(missing)}")
    if st.get("service_status") not in SERVICE_STATES:
        bad.append(f"service_status: {st.get('service_status')!r}")
    if not (isinstance(st.get("version"), str) and SEMVER.match(st["version"])):
        bad.append(f"version: {st.get('version')!r} is not X.Y.Z")
    if not (isinstance(st.get("uptime_s"), (int, float)) and not isinstance(
            st.get("uptime_s"), bool) and st["uptime_s"] >= 0):
        bad.append(f"uptime_s: {st.get('uptime_s')!r}")
    for k in ("enabled_instances_count", "active_instances_count"):
        if not (is_int(st.get(k)) and st[k] >= 0):
            bad.append(f"{k}: {st.get(k)!r}")
    for k in ("failed_instances", "reasons"):
        if not (isinstance(st.get(k), list) and all(isinstance(x, str) for x in st[k])):
            bad.append(f"{k}: {st.get(k)!r} is not a list of strings")
    for i, inst in enumerate(st.get("instances") or []):
        w = f"instances[{i}]"
        if not isinstance(inst, dict) or INSTANCE_KEYS - set(inst):
            bad.append(f"{w} lacks {sorted(INSTANCE_KEYS - set(inst or {}))}")
            continue
        for k in ("id", "plugin", "user"):
            if not isinstance(inst[k], str):
                bad.append(f"{w}.{k}: {inst[k]!r}")
        if not isinstance(inst["enabled"], bool):
            bad.append(f"{w}.enabled: {inst['enabled']!r}")
        if inst["state"] not in INSTANCE_STATES:
            bad.append(f"{w}.state: {inst['state']!r}")
        if not (is_int(inst["restarts"]) and inst["restarts"] >= 0):
            bad.append(f"{w}.restarts: {inst['restarts']!r}")
        when(inst["state_since"], f"{w}.state_since", False)
        when(inst["last_sync_at"], f"{w}.last_sync_at", True)
        when(inst["last_message_at"], f"{w}.last_message_at", True)
        if inst["last_error"] is not None and not isinstance(inst["last_error"], str):
            bad.append(f"{w}.last_error: {inst['last_error']!r}")
    for i, plug in enumerate(st.get("plugins") or []):
        w = f"plugins[{i}]"
        if not isinstance(plug, dict) or PLUGIN_KEYS - set(plug):
            bad.append(f"{w} lacks {sorted(PLUGIN_KEYS - set(plug or {}))}")
            continue
        if not isinstance(plug["id"], str) or not isinstance(plug["version"], str):
            bad.append(f"{w}: id/version {plug['id']!r} {plug['version']!r}")
        if plug["state"] not in PLUGIN_STATES:
            bad.append(f"{w}.state: {plug['state']!r}")
        if not (isinstance(plug["used_by"], list)
                and all(isinstance(x, str) for x in plug["used_by"])):
            bad.append(f"{w}.used_by: {plug['used_by']!r}")
    for i, note in enumerate(st.get("notifications") or []):
        w = f"notifications[{i}]"
        if not isinstance(note, dict) or NOTIFICATION_KEYS - set(note):
            bad.append(f"{w} lacks {sorted(NOTIFICATION_KEYS - set(note or {}))}")
            continue
        when(note["timestamp"], f"{w}.timestamp", False)
        if note["source_instance"] is not None and not isinstance(note["source_instance"], str):
            bad.append(f"{w}.source_instance: {note['source_instance']!r}")
        if note["severity"] not in SEVERITIES:
            bad.append(f"{w}.severity: {note['severity']!r}")
        if not (isinstance(note["message"], str) and note["message"]):
            bad.append(f"{w}.message: {note['message']!r}")
    for k in ("instances", "plugins", "notifications"):
        if not isinstance(st.get(k), list):
            bad.append(f"{k}: {st.get(k)!r} is not a list")
    return bad


def assert_status_shape(st):
    bad = check_status_shape(st)
    assert not bad, "/status breaks the contract:\n" + "\n".join(bad) + \
        "\n" + json.dumps(st, indent=1)[:4000]


def key_of(workers, instance_id):
    """The (pid, starttime) of the instance's worker in a workers() result, or None."""
    p = workers.get(instance_id)
    return p.key if p is not None else None


def by_id(st):
    return {i["id"]: i for i in st["instances"]}


def one_line(out, *words):
    """`botrunner health` printed exactly one line, and it holds one of words."""
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {out!r}"
    assert any(w in lines[0].lower() for w in words), f"expected {words} in {lines[0]!r}"
    return lines[0]


def binary_version():
    out = os.popen(f"'{BOTRUNNER}' --version").read().split()
    return out[-1] if out else None


class RestartWatcher(threading.Thread):
    """Polls /proc every 20 ms for a worker of instance_id other than old_pid, and notes
    when it first appears (monotonic time)."""

    def __init__(self, fleet, instance_id, old_pid):
        super().__init__(daemon=True)
        self.fleet, self.instance_id, self.old_pid = fleet, instance_id, old_pid
        self.seen_at = None
        self.new = None
        self.error = None
        self._stop_flag = False

    def run(self):
        while not self._stop_flag and self.new is None:
            try:
                p = self.fleet.workers().get(self.instance_id)
            except AssertionError as e:
                self.error = e
                return
            if p is not None and p.pid != self.old_pid:
                self.new, self.seen_at = p, time.monotonic()
                return
            time.sleep(0.02)

    def stop(self):
        self._stop_flag = True
        self.join(2)


# --- crash isolation ----------------------------------------------------------------------


@pytest.mark.slow
def test_crash_is_isolated_restarted_and_notified(synapse, make_person, make_fleet):
    """Three echo instances; echo-2 (which logs in with a known password) gets SIGSEGV.
    echo-1 and echo-3 keep answering throughout (same pids; round trips before and
    during the crash and backoff printed). echo-2 is back as a new process after its
    first backoff (about 1 s: between 0.5 and 5 s after the kill) and answers. The admin
    room gets exactly one CRITICAL notice about it, naming echo-2 and SIGSEGV; no notice,
    no /status answer and no log line holds a secret (the password, the registration
    token, the secret key). /status counts one restart and lists the notification."""
    alice = make_person(synapse)
    password = f"known password {secrets.token_hex(8)} ✓"
    fleet, room, admin = start_fleet(synapse, alice, make_fleet, 3,
                                     passwords={"echo-2": password}, env=NO_ASAN_SEGV)
    e1, e2, e3 = (fleet.instances[f"echo-{i}"] for i in (1, 2, 3))
    survivors = (e1, e3)
    guard = fleet.assert_running
    for d in (e1, e2, e3):
        ping(alice, room, d, guard=guard)
    before = {d.id: [ping(alice, room, d, guard=guard) for _ in range(3)] for d in survivors}
    workers = fleet.workers()
    alice.drain(1)
    old_ids = event_ids(alice)
    index = len(alice.events)

    watcher = RestartWatcher(fleet, e2.id, workers[e2.id].pid)
    killed_at = time.monotonic()
    fleet.crash(e2.id, signal.SIGSEGV)
    watcher.start()
    during = {d.id: [] for d in survivors}
    rounds = 0
    # Ping the survivors in turn until the new worker appears (at least two rounds).
    while rounds < 2 or (watcher.new is None
                         and time.monotonic() - killed_at < FIRST_RESTART_MAX_S):
        for d in survivors:
            during[d.id].append(ping(alice, room, d, timeout=DURING_REPLY_TIMEOUT_S,
                                     guard=guard))
        rounds += 1
    watcher.stop()
    assert watcher.error is None, watcher.error
    assert watcher.new is not None, \
        f"no new worker of echo-2 within {FIRST_RESTART_MAX_S} s of the crash"
    restart_after = watcher.seen_at - killed_at
    assert FIRST_RESTART_MIN_S <= restart_after <= FIRST_RESTART_MAX_S, \
        f"echo-2 restarted {restart_after:.2f} s after the crash (backoff ~1 s expected)"
    assert not alive(workers[e2.id].key)

    back = ping(alice, room, e2, timeout=REPLY_TIMEOUT_S, guard=guard)
    now = fleet.workers()
    assert key_of(now, e2.id) == watcher.new.key, "echo-2 restarted again after coming back"
    for d in survivors:
        assert key_of(now, d.id) == workers[d.id].key, f"{d.id} changed process"

    notice = wait_notice(alice, admin, e1.user_id, old_ids,
                         lambda t: "CRITICAL" in t and e2.id in t,
                         "a CRITICAL notice about echo-2", guard=guard)
    notice_after = time.monotonic() - killed_at
    alice.drain(QUIET_S)
    crit = [ev for ev in messages_since(alice, admin, e1.user_id, index)
            if "CRITICAL" in text_of(ev) and e2.id in text_of(ev)]
    assert len(crit) == 1, f"{len(crit)} CRITICAL notices about echo-2: " \
        f"{[text_of(ev) for ev in crit]}"
    assert "SIGSEGV" in text_of(notice), text_of(notice)
    for ev in messages_since(alice, admin, e1.user_id, 0):
        assert_no_secrets(f"the notice {text_of(ev)!r}", json.dumps(ev["content"],
                                                                  ensure_ascii=False), fleet)

    st = wait_until(lambda: (s := fleet.status()) and by_id(s)[e2.id]["restarts"] >= 1
                    and s, 10, "/status to count echo-2's restart")
    assert_status_shape(st)
    assert by_id(st)[e2.id]["restarts"] == 1, by_id(st)[e2.id]
    assert [i["restarts"] for i in st["instances"] if i["id"] != e2.id] == [0, 0]
    notes = [n for n in st["notifications"]
             if n["severity"] == "CRITICAL" and n["source_instance"] == e2.id]
    assert len(notes) == 1 and "SIGSEGV" in notes[0]["message"], st["notifications"]
    assert_no_secrets("/status", json.dumps(st, ensure_ascii=False), fleet)
    assert_no_secrets("the supervisor's output", fleet.log_text(), fleet)

    print(f"\nround trips before (s): { {k: [round(x, 3) for x in v] for k, v in before.items()} }"
          f"\nround trips during the crash and backoff (s): "
          f"{ {k: [round(x, 3) for x in v] for k, v in during.items()} }"
          f"\necho-2: new worker {restart_after:.2f} s after SIGSEGV, answered "
          f"{back:.2f} s after that ping; the notice {notice_after:.1f} s after the crash")


# --- reload ---------------------------------------------------------------------------


def assert_reload_notified(fleet, said_before):
    """After a SIGHUP the supervisor told systemd RELOADING=1 with MONOTONIC_USEC, then
    READY=1 again: `systemctl reload` waits for that pair, accepted reload or refused."""
    said = fleet.notify.assignments()[said_before:]
    assert "RELOADING=1" in said, said
    at = said.index("RELOADING=1")
    assert any(x.startswith("MONOTONIC_USEC=") and x[15:].isdigit() for x in said[at:]), said
    assert "READY=1" in said[at:], said


@pytest.mark.slow
def test_reload_restarts_only_what_changed(synapse, make_person, make_fleet):
    """Four instances; the file is rewritten with echo-3 removed, echo-5 added and
    echo-2's command_prefix changed, then SIGHUP. echo-3's worker exits, echo-5's
    starts, echo-2 gets a new process that answers the new prefix and not the old one;
    echo-1 and echo-4 keep their pids and answer pings sent all through the reload.
    /status then lists exactly echo-1, echo-2, echo-4, echo-5."""
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 4)
    e1, e2, e3, e4 = (fleet.instances[f"echo-{i}"] for i in (1, 2, 3, 4))
    guard = fleet.assert_running
    for d in (e1, e2, e3, e4):
        ping(alice, room, d, guard=guard)
    before = fleet.workers()
    unchanged = (e1, e4)

    fleet.remove_instance(e3.id)
    old_prefix, e2.prefix = e2.prefix, "!echo2"
    e5 = fleet.add_instance()
    said_before = len(fleet.notify.assignments())
    hup_at = time.monotonic()
    fleet.reload()

    def changed():
        w = fleet.workers()
        return (e3.id not in w and e5.id in w and e2.id in w
                and w[e2.id].key != before[e2.id].key)
    def unchanged_pong(d):
        try:
            rtts.append(ping(alice, room, d, timeout=DURING_REPLY_TIMEOUT_S, guard=guard))
        except AssertionError as e:
            raise AssertionError(f"{d.id} (unchanged) stopped answering during the reload; "
                                 f"its worker was {before[d.id]}, is "
                                 f"{fleet.workers().get(d.id)}: {e}") from None
        assert key_of(fleet.workers(), d.id) == before[d.id].key, f"{d.id} was restarted"
    rtts = []
    while True:  # at least one round of pings after the SIGHUP
        for d in unchanged:
            unchanged_pong(d)
        if changed():
            break
        assert time.monotonic() - hup_at < RELOAD_TIMEOUT_S, \
            f"after SIGHUP, workers are {fleet.worker_pids()} (before: " \
            f"{ {k: p.pid for k, p in before.items()} })"
    applied_after = time.monotonic() - hup_at
    wait_until(lambda: not alive(before[e3.id].key), STOP_TIMEOUT_S,
               "the removed echo-3's worker to exit and be reaped")
    assert not alive(before[e2.id].key)

    fleet.join(alice, [e5])
    ping(alice, room, e5, guard=guard)
    ping(alice, room, e2, guard=guard)
    stale = [alice.send(room, f"{old_prefix} ping"), alice.send(room, f"{e3.prefix} ping")]
    alice.drain(QUIET_S)
    answered = [ev for _, ev in alice.events
                if ev.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {})
                .get("event_id") in stale]
    assert not answered, f"the old prefix or the removed bot answered: {answered}"
    after = fleet.workers()
    for d in unchanged:
        assert key_of(after, d.id) == before[d.id].key, f"{d.id} was restarted"
    st = fleet.status()
    assert_status_shape(st)
    assert sorted(by_id(st)) == sorted([e1.id, e2.id, e4.id, e5.id]), sorted(by_id(st))
    assert_reload_notified(fleet, said_before)
    print(f"\nreload applied {applied_after:.2f} s after SIGHUP; round trips of echo-1 and "
          f"echo-4 meanwhile (s): {[round(x, 3) for x in rtts]}")


@pytest.mark.slow
def test_reload_refuses_invalid_config(synapse, make_person, make_fleet):
    """The file is rewritten with a bad user id for echo-2, then SIGHUP: the supervisor
    refuses it, logs the validation error (`instances[1].user: "..." is not a valid user
    id on test.local`) and posts an ERROR notice about the reload to the admin room; both
    workers keep their pids and answer, and /status still shows the old declaration."""
    alice = make_person(synapse)
    fleet, room, admin = start_fleet(synapse, alice, make_fleet, 2)
    e1, e2 = fleet.instances["echo-1"], fleet.instances["echo-2"]
    guard = fleet.assert_running
    for d in (e1, e2):
        ping(alice, room, d, guard=guard)
    before = fleet.workers()
    alice.drain(1)
    old_ids = event_ids(alice)
    log_from = fleet.log_size()

    bad_user = f"@{e2.localpart.upper()}:{synapse.server_name}"
    cfg = fleet.config()
    cfg["instances"][1]["user"] = bad_user
    said_before = len(fleet.notify.assignments())
    fleet.reload(cfg)
    expected = f'instances[1].user: "{bad_user}" is not a valid user id on {synapse.server_name}'
    line = wait_until(
        lambda: next((ln for ln in fleet.log_text(log_from).splitlines() if expected in ln),
                     None), REFUSAL_TIMEOUT_S, f"the line {expected!r} in the supervisor's output",
        guard=guard)
    notice = wait_notice(alice, admin, e1.user_id, old_ids,
                         lambda t: "ERROR" in t and ("reload" in t.lower()
                                                     or "config" in t.lower()),
                         "an ERROR notice about the refused reload", guard=guard)
    assert_no_secrets(f"the notice {text_of(notice)!r}", text_of(notice), fleet)
    assert_reload_notified(fleet, said_before)

    for d in (e1, e2):
        ping(alice, room, d, guard=guard)
    assert {k: p.key for k, p in fleet.workers().items()} == \
        {k: p.key for k, p in before.items()}
    st = fleet.status()
    assert_status_shape(st)
    assert {i["id"]: i["user"] for i in st["instances"]} == {e1.id: e1.user_id,
                                                              e2.id: e2.user_id}
    print(f"\nrefused with: {line.strip()}\nnotice: {text_of(notice)!r}")


def wait_restarted(fleet, before, ids, what):
    """Until each of ids has a worker other than its one in before (a workers() result)."""
    def done():
        w = fleet.workers()
        return all(i in w and w[i].key != before[i].key for i in ids)
    wait_until(done, RELOAD_TIMEOUT_S, what, guard=fleet.assert_running)


@real_supervisor
@pytest.mark.slow
def test_reload_restarts_on_a_rebuilt_plugin_directory(synapse, make_person, make_fleet,
                                                       tmp_path):
    """Two instances run the echo plugin from a directory (as Nix lays one out). The module
    is rebuilt under the same version (here: one byte appended, installed by rename) and
    the unchanged file reloaded: both workers restart, since what they would load changed,
    and answer. A reload with nothing changed after that restarts nothing. Before, a
    directory plugin was fingerprinted by its path and version only."""
    plugdir = tmp_path / "echo-plugin"
    shutil.copytree(ECHO_PLUGIN_DIR, plugdir)
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 2, admin=False,
                                 plugin=(str(plugdir), ECHO_PLUGIN_ID))
    decls = list(fleet.instances.values())
    guard = fleet.assert_running
    for d in decls:
        ping(alice, room, d, guard=guard)
    before = fleet.workers()

    module = plugdir / "echo.so"
    rebuilt = plugdir / "echo.so.new"
    shutil.copyfile(module, rebuilt)
    with open(rebuilt, "ab") as f:
        f.write(b"\0")
    os.replace(rebuilt, module)
    fleet.reload()
    wait_restarted(fleet, before, [d.id for d in decls],
                   "both workers to restart after the module was rebuilt")
    for d in decls:
        ping(alice, room, d, guard=guard)

    after = fleet.workers()
    log_from = fleet.log_size()
    fleet.reload()
    wait_until(lambda: "Reloaded: 0 instances changed" in fleet.log_text(log_from),
               RELOAD_TIMEOUT_S, "the second reload to change nothing", guard=guard)
    for d in decls:
        ping(alice, room, d, guard=guard)
    assert {k: p.key for k, p in fleet.workers().items()} == \
        {k: p.key for k, p in after.items()}


@real_supervisor
@pytest.mark.slow
def test_reload_notifications_restart_only_the_sender(synapse, make_person, make_fleet):
    """Three instances without notifications. A reload adds them, posted by echo-1: echo-1
    restarts (it joins the admin room and posts there), echo-2 and echo-3 keep their
    processes and answer throughout. Moving the sender to echo-2 restarts echo-1 and
    echo-2, never echo-3. Before, every instance restarted on any change of
    notifications."""
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 3, admin=False)
    e1, e2, e3 = (fleet.instances[f"echo-{i}"] for i in (1, 2, 3))
    guard = fleet.assert_running
    for d in (e1, e2, e3):
        ping(alice, room, d, guard=guard)
    admin = alice.create_room(name="admin")
    before = fleet.workers()

    cfg = fleet.config()
    cfg["notifications"] = {"room": admin, "sender": e1.id}
    fleet.reload(cfg)
    wait_restarted(fleet, before, [e1.id], "echo-1 (the sender) to restart")
    for d in (e2, e3, e1):
        ping(alice, room, d, guard=guard)
    now = fleet.workers()
    for d in (e2, e3):
        assert key_of(now, d.id) == key_of(before, d.id), f"{d.id} was restarted"

    cfg["notifications"]["sender"] = e2.id
    fleet.reload(cfg)
    wait_restarted(fleet, now, [e1.id, e2.id], "echo-1 and echo-2 to restart")
    for d in (e1, e2, e3):
        ping(alice, room, d, guard=guard)
    assert key_of(fleet.workers(), e3.id) == key_of(before, e3.id), "echo-3 was restarted"


# --- health ---------------------------------------------------------------------------


def wait_healthy(fleet, person, room, decl, timeout):
    """Ping (so the bot has just synced, whatever its long-poll period), then poll
    `health` a few seconds; again until it exits 0. Returns (code, output)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        ping(person, room, decl, timeout=max(1, deadline - time.monotonic()),
             guard=fleet.assert_running)
        settle = time.monotonic() + HEALTH_SETTLE_S
        while time.monotonic() < settle:
            last = fleet.health()
            if last[0] == 0:
                return last
            time.sleep(0.25)
        assert time.monotonic() < deadline, f"not healthy within {timeout} s; last: {last}"


@pytest.mark.slow
def test_health_follows_the_homeserver(fresh_synapse, make_person, make_fleet):
    """With the health thresholds shortened to 5 s (BOTRUNNER_HEALTH_SYNC_MAX_AGE_S,
    BOTRUNNER_HEALTH_ERROR_WINDOW_S), `botrunner health` exits 0 ("healthy") while the
    bot syncs; 1 ("degraded", never 2: the worker still runs) once Synapse has been
    stopped past the threshold, and /status says degraded with a reason; 0 again after
    Synapse is back; 2 ("unreachable" or "cannot reach") once the supervisor is stopped.
    Each time it prints exactly one line."""
    hs = fresh_synapse()
    alice = make_person(hs)
    fleet, room, _ = start_fleet(hs, alice, make_fleet, 1, admin=False, env=HEALTH_ENV)
    e1 = fleet.instances["echo-1"]

    code, out = wait_healthy(fleet, alice, room, e1, timeout=60)
    healthy_line = one_line(out, "healthy")

    stopped_at = time.monotonic()
    hs.stop()
    code, out = wait_until(lambda: (r := fleet.health()) and r[0] != 0 and r,
                           DEGRADED_WITHIN_S, "health to leave 0 after Synapse stopped",
                           guard=fleet.assert_running, interval=0.5)
    degraded_after = time.monotonic() - stopped_at
    assert code == 1, f"health exited {code} with Synapse down: {out!r}"
    degraded_line = one_line(out, "degraded")
    for _ in range(6):  # and it stays degraded, not failed, while the worker runs
        time.sleep(0.5)
        code, out = fleet.health()
        assert code == 1, f"health exited {code} with Synapse down: {out!r}"
    st = fleet.status()
    assert_status_shape(st)
    assert st["service_status"] == "degraded" and st["reasons"], st

    hs.start()
    back_at = time.monotonic()
    code, out = wait_healthy(fleet, alice, room, e1, timeout=RECOVER_TIMEOUT_S)
    recovered_after = time.monotonic() - back_at
    one_line(out, "healthy")

    assert fleet.stop() == 0
    code, out = fleet.health()
    assert code == 2, f"health exited {code} with the supervisor stopped: {out!r}"
    unreachable_line = one_line(out, "unreachable", "cannot reach")
    print(f"\nhealthy: {healthy_line!r}\ndegraded {degraded_after:.1f} s after Synapse "
          f"stopped: {degraded_line!r}\nhealthy again {recovered_after:.1f} s after it "
          f"returned\nstopped: {unreachable_line!r}")


def cli(*args, timeout=HTTP_TIMEOUT_S + 20):
    """`botrunner ARGS...` (health, status): (exit code, stdout + stderr)."""
    proc = subprocess.run([BOTRUNNER, *args], capture_output=True, text=True, errors="replace",
                          env={k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV},
                          timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@real_supervisor
def test_status_failed_lists_only_instances_not_running(synapse, make_person, make_fleet):
    """echo-2 also subscribes to an alias that names no room: resolving it logs an ERROR
    (and is retried), while echo-2 runs and answers. The fleet is degraded, echo-2's
    ERROR is among the reasons, and failed_instances is empty: it runs. Before, every
    instance that had logged an ERROR was listed as failed."""
    alice = make_person(synapse)
    room = alice.create_room(name="fleet")
    fleet = make_fleet(synapse, count=1, rooms=[room])
    alias = f"#nowhere-{unique('alias')}:{synapse.server_name}"
    e2 = fleet.add_instance(rooms=[room, alias])
    fleet.start()
    e1 = fleet.instances["echo-1"]
    for d in (e1, e2):
        wait_until(lambda d=d: synapse.user(d.user_id), 30, f"the account of {d.id}")
        alice.invite(room, d.user_id)
    for d in (e1, e2):
        ping(alice, room, d, guard=fleet.assert_running)

    def erring():
        st = fleet.status()
        ok = (by_id(st)[e2.id]["state"] == "running"
              and any(r.startswith(f"{e2.id} logged an ERROR") for r in st["reasons"]))
        return st if ok else None
    st = wait_until(erring, 30, "/status to say echo-2 runs and logged an ERROR",
                    guard=fleet.assert_running)
    assert_status_shape(st)
    assert st["service_status"] == "degraded", st
    assert st["failed_instances"] == [], st
    assert (st["enabled_instances_count"], st["active_instances_count"]) == (2, 2), st
    code, out = fleet.health()
    assert code == 1, out
    one_line(out, "degraded")


@real_supervisor
def test_last_error_resolves_when_the_room_is_joined(synapse, make_person, make_fleet):
    """The bot starts subscribed to a private room it is not invited to: joining fails
    (M_FORBIDDEN), which becomes the instance's last_error, not resolved. Invited, it
    joins: the last_error stays as the record of what happened, and
    last_error_resolved_at says since when it is over. `botrunner status` shows it as
    resolved."""
    alice = make_person(synapse)
    room = alice.create_room(name="not yet")
    fleet = make_fleet(synapse, count=1, rooms=[room]).start()
    e1 = fleet.instances["echo-1"]

    def failing():
        i = by_id(fleet.status())[e1.id]
        return i if i["last_error"] and "cannot join" in i["last_error"] else None
    inst = wait_until(failing, ACCOUNT_TIMEOUT_S, "a last_error about joining the room",
                      guard=fleet.assert_running)
    assert inst["last_error_resolved_at"] is None, inst
    alice.invite(room, e1.user_id)
    ping(alice, room, e1, guard=fleet.assert_running)

    def resolved():
        i = by_id(fleet.status())[e1.id]
        return i if i["last_error_resolved_at"] else None
    inst = wait_until(resolved, 10, "last_error_resolved_at once the room is joined",
                      guard=fleet.assert_running)
    assert "cannot join" in inst["last_error"], inst
    iso_time(inst["last_error_resolved_at"], "last_error_resolved_at")
    code, out = cli("status", "-c", str(fleet.config_path))
    assert code == 0, out
    assert re.search(r"resolved (just now|\d+ s ago): cannot join", out), out


@real_supervisor
@pytest.mark.slow
def test_refused_reload_shows_in_status_until_a_good_one(synapse, make_person, make_fleet):
    """A reload with a bad user id is refused: /status gains `reload` (its time, refused,
    the error count, the first error), the service is degraded with the refusal as a
    reason, and `botrunner health -c FILE` (reading the endpoint from the config) says so
    with exit 1. The fleet keeps answering. A good reload makes it healthy again, and
    `reload` says accepted."""
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 1, admin=False)
    e1 = fleet.instances["echo-1"]
    guard = fleet.assert_running
    ping(alice, room, e1, guard=guard)
    wait_until(lambda: cli("health", "-c", str(fleet.config_path))[0] == 0, 30,
               "health -c to say healthy", guard=guard)
    assert fleet.status()["reload"] is None

    cfg = fleet.config()
    cfg["instances"][0]["user"] = f"@{e1.localpart.upper()}:{synapse.server_name}"
    fleet.reload(cfg)
    st = wait_until(lambda: (s := fleet.status())["reload"] and s, REFUSAL_TIMEOUT_S,
                    "/status to show the refused reload", guard=guard)
    assert_status_shape(st)
    reload = st["reload"]
    assert reload["refused"] is True and reload["error_count"] == 1, reload
    assert reload["first_error"].startswith("instances[0].user: "), reload
    iso_time(reload["at"], "reload.at")
    assert st["service_status"] == "degraded", st
    assert st["reasons"][0].startswith("the last reload was refused: 1 error; first: "
                                       "instances[0].user"), st["reasons"]
    assert st["failed_instances"] == [], st
    code, out = cli("health", "-c", str(fleet.config_path))
    assert code == 1, out
    assert one_line(out, "degraded").startswith("degraded: the last reload was refused"), out
    code, out = cli("status", "-c", str(fleet.config_path))
    assert code == 0 and "reload:   refused" in out, out
    ping(alice, room, e1, guard=guard)

    fleet.reload()
    st = wait_until(lambda: (s := fleet.status())["reload"]["refused"] is False and s,
                    RELOAD_TIMEOUT_S, "/status to show the accepted reload", guard=guard)
    assert st["reload"]["error_count"] == 0 and st["reload"]["first_error"] is None, st
    ping(alice, room, e1, guard=guard)
    wait_until(lambda: cli("health", "-c", str(fleet.config_path))[0] == 0, 30,
               "health -c to say healthy after the good reload", guard=guard)


# --- the status endpoint --------------------------------------------------------------


def test_status_endpoint_contract(synapse, make_person, make_fleet):
    """Two running instances. GET /status holds every key of the contract with its type
    (times ISO 8601 UTC ending in Z, or null), healthy, 2 of 2 active, each instance
    running with its plugin and user, synced, its last message set after a ping, the
    echo plugin active and used by both; /metrics is Prometheus text with a botrunner_
    metric; /_matrix/maubot/v1/version is {"version": "X.Y.Z"}, the binary's version.
    POST (and PUT, DELETE) answer 405 with Allow; unknown paths 404; HEAD answers 200
    with the headers and no body. The supervisor told systemd READY=1 and
    STATUS=2/2 instances running."""
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 2, admin=False)
    decls = list(fleet.instances.values())
    for d in decls:
        ping(alice, room, d, guard=fleet.assert_running)
    version = binary_version()

    def settled():
        s = fleet.status()
        ok = (s.get("service_status") == "healthy"
              and all(i.get("state") == "running" and i.get("last_message_at")
                      for i in s.get("instances", [])))
        return s if ok else None
    st = wait_until(settled, 30, "/status to say healthy, every instance running with a "
                                 "last message", guard=fleet.assert_running)
    assert_status_shape(st)
    assert st["version"] == version
    assert st["uptime_s"] <= time.time() - fleet.started_at + 5
    assert (st["enabled_instances_count"], st["active_instances_count"]) == (2, 2), st
    assert st["failed_instances"] == [] and st["reasons"] == [], st
    insts = by_id(st)
    assert sorted(insts) == sorted(d.id for d in decls)
    for d in decls:
        i = insts[d.id]
        assert (i["plugin"], i["user"], i["enabled"], i["restarts"]) == \
            (ECHO_PLUGIN_ID, d.user_id, True, 0), i
        assert i["last_sync_at"] is not None, i
        assert iso_time(i["state_since"], "state_since") >= fleet.started_at - 5, i
    assert len(st["plugins"]) == 1, st["plugins"]
    plugin = st["plugins"][0]
    assert (plugin["id"], plugin["version"], plugin["state"]) == \
        (ECHO_PLUGIN_ID, "0.1.0", "active"), plugin
    assert sorted(plugin["used_by"]) == sorted(d.id for d in decls), plugin

    code, headers, raw = fleet.get("/_matrix/maubot/v1/version")
    assert code == 200 and headers.get_content_type() == "application/json", (code, headers)
    assert json.loads(raw) == {"version": version}, raw

    code, headers, raw = fleet.get("/status")
    assert headers.get_content_type() == "application/json", headers

    code, headers, raw = fleet.get("/metrics")
    assert code == 200 and headers.get_content_type() == "text/plain", (code, headers)
    text = raw.decode("utf-8")
    assert text.endswith("\n"), "the exposition must end with a line feed"
    families = list(text_string_to_metric_families(text))
    names = [f.name for f in families]
    assert any(n.startswith("botrunner_") for n in names), names

    for path in PATHS:
        for method in ("POST", "PUT", "DELETE") if path == "/status" else ("POST",):
            code, headers, _ = fleet.get(path, method=method, body=b"{}")
            assert code == 405, f"{method} {path}: {code}"
            assert "GET" in (headers.get("Allow") or ""), f"{method} {path}: Allow missing"
    for path in ("/", "/nope", "/status/x", "/metrics2", "/_matrix/maubot/v1/versions",
                 "/_matrix/maubot/v1/plugins"):
        code, _, _ = fleet.get(path)
        assert code == 404, f"GET {path}: {code}"
    for path in PATHS:
        answer = raw_request(fleet.status_port, f"HEAD {path} HTTP/1.1")
        head, sep, rest = answer.partition(b"\r\n\r\n")
        assert sep, answer[:300]
        assert head.split(b"\r\n")[0].split()[1] == b"200", head
        assert rest == b"", f"HEAD {path} sent a body: {rest[:200]!r}"
        _, get_headers, _ = fleet.get(path)
        assert f"content-type: {get_headers['Content-Type']}".lower().encode() in \
            head.lower(), head

    said = fleet.notify.assignments()
    assert "READY=1" in said, said
    wait_until(lambda: "STATUS=2/2 instances running" in fleet.notify.assignments(), 10,
               lambda: f"STATUS=2/2 instances running among {fleet.notify.assignments()}")


def instance_samples(fleet, instance_id):
    """{(metric name, reason label or None): value} of /metrics for one instance."""
    code, _, raw = fleet.get("/metrics")
    assert code == 200, code
    out = {}
    for fam in text_string_to_metric_families(raw.decode("utf-8")):
        for s in fam.samples:
            if s.labels.get("instance") == instance_id:
                out[(s.name, s.labels.get("reason"))] = s.value
    return out


@real_supervisor
@pytest.mark.slow
def test_metrics_count_commands_replies_errors_and_skipped_events(synapse, make_person,
                                                                  make_fleet):
    """One instance of the probe plugin. Three commands answered, one command the plugin
    fails (a fetch of an ftp:// URL, which the runner refuses), a message whose HTML is a
    number (Synapse takes it; the worker's parser refuses it), a plain message (not a
    command): /metrics says 4 commands, at least 3 replies sent, 1 plugin error, 1 event
    refused and none too old. The worker is then killed: its successor counts on from there
    (the sums are the instance's, not one worker's)."""
    probe = (str(ROOT / "build" / "tests" / "e2e-plugins" / "probe"), "test.probe")
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 1, admin=False, plugin=probe,
                                 env=NO_ASAN_SEGV)
    e1 = fleet.instances["echo-1"]
    guard = fleet.assert_running

    def answered(command):
        eid = alice.send(room, f"{e1.prefix} {command}")
        return alice.wait_message(room, e1.user_id, reply_to=eid, timeout=REPLY_TIMEOUT_S,
                                  guard=guard)
    answered("thread")
    answered("thread")
    alice.send(room, f"{e1.prefix} fetch ftp://example.org/x")
    alice.send_event(room, "m.room.message", {"msgtype": "m.text", "body": "x",
                                              "format": "org.matrix.custom.html",
                                              "formatted_body": 12})
    alice.send(room, "just talking")
    answered("thread")  # after the others: they were handled by now

    want = {("botrunner_instance_commands_total", None): 4,
            ("botrunner_instance_plugin_errors_total", None): 1,
            ("botrunner_instance_events_skipped_total", "refused"): 1,
            ("botrunner_instance_events_skipped_total", "too_old"): 0}

    def counted(w):
        s = instance_samples(fleet, e1.id)
        ok = all(s.get(k) == v for k, v in w.items()) and \
            s.get(("botrunner_instance_replies_sent_total", None), 0) >= 3
        return s if ok else None
    wait_until(lambda: counted(want), 15, lambda: f"/metrics to count {want}: "
               f"{instance_samples(fleet, e1.id)}", guard=guard)

    old = fleet.crash(e1.id)
    fleet.wait_worker(e1.id, other_than=old.pid)
    answered("thread")
    want[("botrunner_instance_commands_total", None)] = 5
    wait_until(lambda: counted(want), 30, lambda: f"/metrics to count on after the restart "
               f"{want}: {instance_samples(fleet, e1.id)}", guard=guard)


# --- stop -----------------------------------------------------------------------------


def test_sigterm_stops_supervisor_and_workers(synapse, make_person, make_fleet):
    """Three running instances (each with a long-poll sync in flight): after SIGTERM the
    supervisor exits with status 0 within 15 s, and no worker is left (each exited
    before the supervisor did)."""
    alice = make_person(synapse)
    fleet, room, _ = start_fleet(synapse, alice, make_fleet, 3)
    for d in fleet.instances.values():
        ping(alice, room, d, guard=fleet.assert_running)
    workers = fleet.workers()
    assert len(workers) == 3, workers
    began = time.monotonic()
    code = fleet.stop(timeout=STOP_TIMEOUT_S)
    took = time.monotonic() - began
    assert code == 0, f"exit status {code}:\n{fleet.logs()}"
    left = [p for p in workers.values() if alive(p.key)]
    assert not left, f"workers still running after the supervisor exited: {left}"
    print(f"\nsupervisor and 3 workers stopped in {took:.2f} s")


# --- the harness itself ---------------------------------------------------------------


class OfflineHomeserver:
    """Enough of a Synapse for writing a config, with no server behind it."""
    server_name = "test.local"
    base_url = "http://127.0.0.1:8448"
    registration_token = "reg_Token-1.0~x"

    def user_id(self, localpart):
        return f"@{localpart}:{self.server_name}"

    def create_user(self, localpart, password):
        return self.user_id(localpart)


def test_harness_config_passes_check(tmp_path):
    """fleet.py's config, as written for each test above, passes `botrunner check`: three
    instances, distinct prefixes, one with password_file, notifications from echo-1 (which
    subscribes to the admin room); so does the reload test's rewrite; the invalid-reload
    test's rewrite fails with exactly the line that test waits for in the supervisor's
    output."""
    fleet = Fleet(OfflineHomeserver(), tmp_path / "fleet", unique, count=3,
                  rooms=["!room:test.local"], admin_room="!admin:test.local",
                  passwords={"echo-2": "a known password"})
    fleet.write_config()
    proc = fleet.check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 instances (3 enabled)" in proc.stdout, proc.stdout
    assert "admin notifications to !admin:test.local" in proc.stdout, proc.stdout
    assert proc.stderr == "", proc.stderr
    cfg = yaml.safe_load(fleet.config_path.read_text())
    insts = cfg["instances"]
    assert [i["command_prefix"] for i in insts] == ["!e1", "!e2", "!e3"]
    assert all(re.fullmatch(r"@echobot-\d+:test\.local", i["user"]) for i in insts)
    assert len({i["user"] for i in insts}) == 3
    assert all(i["features"] == {"rate_limiting": False} for i in insts)
    assert [("password_file" in i) for i in insts] == [False, True, False]
    assert (fleet.creds_dir / insts[1]["password_file"]).read_text() == "a known password\n"
    assert cfg["notifications"] == {"room": "!admin:test.local", "sender": "echo-1"}
    assert "!admin:test.local" in insts[0]["room_subscriptions"]
    assert cfg["status"] == {"address": "127.0.0.1", "port": fleet.status_port}
    assert set(fleet.secrets()) == {"secret-key", "registration-token", "echo-2-password"}

    fleet.remove_instance("echo-3")
    fleet.instances["echo-2"].prefix = "!echo2"
    fleet.add_instance()
    inode = fleet.config_path.stat().st_ino
    fleet.write_config()
    assert fleet.config_path.stat().st_ino == inode, "rewritten in place"
    proc = fleet.check()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [i["id"] for i in yaml.safe_load(fleet.config_path.read_text())["instances"]] \
        == ["echo-1", "echo-2", "echo-4"]

    cfg = fleet.config()
    bad = f"@{fleet.instances['echo-2'].localpart.upper()}:test.local"
    cfg["instances"][1]["user"] = bad
    fleet.write_config(cfg)
    proc = fleet.check()
    assert proc.returncode == 1
    assert f'instances[1].user: "{bad}" is not a valid user id on test.local' in proc.stderr, \
        proc.stderr


def test_harness_finds_pings_and_crashes_workers(synapse, make_person, make_fleet):
    """fleet.py with a shell standing in for the supervisor (it starts two real workers
    on the fleet's config and waits): the /proc search finds both as its children by
    `worker --instance ID`, they join and answer pings, crash() takes one down with
    SIGSEGV (gone from the search, not alive) while the other keeps answering with the
    same pid."""
    alice = make_person(synapse)
    room = alice.create_room(name="stand-in")
    fleet = make_fleet(synapse, count=2, rooms=[room], env=NO_ASAN_SEGV)
    fleet.state_dir.mkdir(mode=0o700)  # the worker alone does not make it
    script = ('"$0" worker --instance echo-1 -c "$1" & '
              '"$0" worker --instance echo-2 -c "$1" & wait')
    fleet.start(argv=["sh", "-c", script, BOTRUNNER, str(fleet.config_path)], wait=False)
    e1, e2 = fleet.instances["echo-1"], fleet.instances["echo-2"]
    w1, w2 = fleet.wait_worker(e1.id), fleet.wait_worker(e2.id)
    assert w1.ppid == w2.ppid == fleet.pid and w1.pid != w2.pid
    fleet.join(alice)
    rtts = [ping(alice, room, d, guard=fleet.assert_running) for d in (e1, e2, e1, e2)]
    fleet.crash(e2.id)
    wait_until(lambda: e2.id not in fleet.workers() and not alive(w2.key), 10,
               "the crashed worker to be gone")
    ping(alice, room, e1, guard=fleet.assert_running)
    assert key_of(fleet.workers(), e1.id) == w1.key
    os.kill(w1.pid, signal.SIGTERM)
    wait_until(lambda: not alive(w1.key), STOP_TIMEOUT_S, "echo-1's worker to stop")
    assert fleet.proc.wait(STOP_TIMEOUT_S) == 0  # the shell's `wait` with no operand
    print(f"\nround trips through real workers (s): {[round(x, 3) for x in rtts]}")


def test_harness_status_validator():
    """check_status_shape() accepts a document written to the contract and reports each
    kind of breach: a missing key, a time without Z, a state outside the enum, a boolean
    where a count belongs, a null where a time is required."""
    good = {
        "service_status": "degraded", "version": "0.1.0", "uptime_s": 12.5,
        "enabled_instances_count": 2, "active_instances_count": 1,
        "failed_instances": ["echo-2"], "reasons": ["echo-2: restarting"],
        "instances": [
            {"id": "echo-1", "plugin": "botrunner.echo", "user": "@a:test.local",
             "enabled": True, "state": "running", "state_since": "2025-01-02T03:04:05Z",
             "restarts": 0, "last_sync_at": "2025-01-02T03:04:06.123Z",
             "last_message_at": None, "last_error": None},
            {"id": "echo-2", "plugin": "botrunner.echo", "user": "@b:test.local",
             "enabled": True, "state": "restarting", "state_since": "2025-01-02T03:04:05Z",
             "restarts": 1, "last_sync_at": None, "last_message_at": None,
             "last_error": "worker killed by SIGSEGV"}],
        "plugins": [{"id": "botrunner.echo", "version": "0.1.0", "state": "active",
                     "used_by": ["echo-1"]}],
        "notifications": [{"timestamp": "2025-01-02T03:04:07Z", "source_instance": "echo-2",
                           "severity": "CRITICAL", "message": "worker killed by SIGSEGV"}],
    }
    assert check_status_shape(good) == []
    breaches = [
        (lambda d: d.pop("reasons"), "lacks ['reasons']"),
        (lambda d: d["instances"][0].update(state_since="2025-01-02T03:04:05+00:00"),
         "instances[0].state_since"),
        (lambda d: d["instances"][1].update(state="crashed"), "instances[1].state"),
        (lambda d: d.update(active_instances_count=True), "active_instances_count"),
        (lambda d: d["notifications"][0].update(timestamp=None), "notifications[0].timestamp"),
        (lambda d: d["plugins"][0].update(used_by="echo-1"), "plugins[0].used_by"),
    ]
    for breach, expected in breaches:
        doc = json.loads(json.dumps(good))
        breach(doc)
        found = check_status_shape(doc)
        assert any(expected in line for line in found), (expected, found)


# --- the NixOS VM test's person ------------------------------------------------------------


def test_vm_test_person_against_synapse(synapse, make_fleet, tmp_path):
    """checks/person.py, the person of the NixOS VM test (which only runs where Nix builds),
    run here against Synapse and a real fleet: registration by token through Synapse's
    token-then-dummy stages, the room, an invite retried until the bot's account exists,
    and the pong replying to the ping."""
    person = pathlib.Path(__file__).resolve().parents[2] / "checks" / "person.py"
    env = {**os.environ, "HS": synapse.base_url, "SERVER_NAME": synapse.server_name,
           "ROOM_LOCALPART": "", "PERSON": unique("vmperson"),
           "REGISTRATION_TOKEN": synapse.registration_token}

    def run(*args, **extra):
        proc = subprocess.run([sys.executable, str(person), *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, f"person {args}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    room = re.search(r"created (\S+)", run("setup")).group(1)
    fleet = make_fleet(synapse, count=1, rooms=[room]).start()
    bot = fleet.instances["echo-1"]
    # Invited right away: the account may not exist yet, and the person retries.
    run("invite", bot.user_id, ROOM_ID=room)
    out = run("ping", bot.user_id, bot.prefix, ROOM_ID=room)
    assert re.search(rf"{re.escape(bot.user_id)}: 'pong.*' after [0-9.]+ s", out), out
