"""Plugin ABI 2 against a real Synapse: one test per promise plugin.h makes, through the
probe plugin (tests/e2e/plugins/probe/probe.c), which answers each command with what the
runner did. Replies, threads, sends that report their event id or their error, reactions and
redactions through the outbox, event() receiving reactions, the plugin's database and its
migrations, the work directory (0700, the default cwd, emptied at start), cancelling a
subprocess, fetching over HTTP, the JSON reader and writer, and config() on a reload that
changes only the settings."""
import http.server
import json
import os
import pathlib
import stat
import threading
import time

import pytest

from botworker import ROOT, start_in_room, wait_until
from conftest import unique
from fleet import ping  # noqa: F401
from test_fleet import make_fleet  # noqa: F401  (the fixture)

PROBE = str(ROOT / "build" / "tests" / "e2e-plugins" / "probe")
PROBE_ID = "test.probe"
PREFIX = "!p"
ANSWER_TIMEOUT_S = 30


def make_probe(make_bot, hs, **kwargs):
    def make(hs_, rooms, **kw):
        return make_bot(hs_, rooms, plugin=(PROBE, PROBE_ID), prefix=PREFIX, **kwargs, **kw)
    return make


def body(ev):
    text = ev["content"].get("body", "")
    # Drop a rich-reply fallback, should a homeserver add one.
    lines = text.split("\n")
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).strip()


def answer(person, room, bot, command_event, starts=None, timeout=ANSWER_TIMEOUT_S):
    """The probe's notice replying to command_event (whose body starts with `starts`)."""
    def match(rid, ev):
        c = ev.get("content", {})
        return (rid == room and ev.get("sender") == bot.user_id
                and ev.get("type") == "m.room.message"
                and c.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
                == command_event
                and (starts is None or body(ev).startswith(starts)))
    return person.wait_for(match, timeout, bot.assert_running,
                           f"the probe's answer to {command_event} ({starts})")


def command(person, room, bot, text, starts=None):
    eid = person.send(room, f"{PREFIX} {text}")
    return eid, answer(person, room, bot, eid, starts)


def test_reply_is_a_notice_and_follows_the_thread(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    eid, ev = command(alice, room, bot, "thread")
    assert ev["content"]["msgtype"] == "m.notice"
    assert "rel_type" not in ev["content"]["m.relates_to"]
    root = alice.send(room, "a thread starts here")
    inner = alice.send_event(room, "m.room.message", {
        "msgtype": "m.text", "body": f"{PREFIX} thread",
        "m.relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                         "m.in_reply_to": {"event_id": root}}})
    ev = answer(alice, room, bot, inner)
    rel = ev["content"]["m.relates_to"]
    assert rel["rel_type"] == "m.thread" and rel["event_id"] == root, rel
    assert rel["m.in_reply_to"]["event_id"] == inner and rel["is_falling_back"] is False


def test_sends_report_their_event_id_or_their_error(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    eid, report = command(alice, room, bot, "sent", starts="sent ")
    first = alice.wait_message(room, bot.user_id, reply_to=eid,
                               guard=bot.assert_running)
    firsts = [e for _, e in alice.events if e.get("sender") == bot.user_id
              and body(e) == "first"]
    assert firsts, "the first reply never arrived"
    assert body(report) == f"sent {firsts[0]['event_id']}", (body(report), first)
    # A room the bot is not in: the homeserver refuses (M_FORBIDDEN) and the plugin hears
    # it as -EPERM (-1), not silence.
    elsewhere = alice.create_room(name="not the bot's")
    _, report = command(alice, room, bot, f"to {elsewhere}", starts="sent ")
    assert body(report) == "sent error -1", body(report)


def test_react_reports_its_id_and_redact_goes_through_the_outbox(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    eid, reacted = command(alice, room, bot, "react", starts="reacted ")
    _, code, reaction_id = body(reacted).split(" ")
    assert code == "0" and reaction_id.startswith("$")
    redacted = answer(alice, room, bot, eid, starts="redacted ")
    assert body(redacted).startswith("redacted $")

    def redaction_seen(rid, ev):
        return (rid == room and ev.get("type") == "m.room.redaction"
                and ev.get("redacts", ev.get("content", {}).get("redacts")) == reaction_id)
    alice.wait_for(redaction_seen, ANSWER_TIMEOUT_S, bot.assert_running, "the redaction")


def test_event_receives_reactions(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    target = alice.send(room, "react to me")
    reaction = alice.send_event(room, "m.reaction", {
        "m.relates_to": {"rel_type": "m.annotation", "event_id": target, "key": "\U0001F44D"}})
    ev = answer(alice, room, bot, reaction, starts="reaction ")
    assert body(ev) == f"reaction \U0001F44D on {target}"


def test_database_is_migrated_and_kept_across_restarts(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    _, ev = command(alice, room, bot, "db", starts="rows ")
    assert body(ev) == "rows 1, schema 2"
    db = bot.state_dir / "plugins" / f"{bot.instance_id}.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    bot.restart()
    _, ev = command(alice, room, bot, "db", starts="rows ")
    assert body(ev) == "rows 2, schema 2"
    assert "schema version 2 (was 0)" in bot.log_path.read_text()


def test_failed_migration_keeps_the_old_schema_and_fails_the_instance(synapse, make_person,
                                                                      make_bot):
    """A database whose schema is ahead of the plugin's migrations is refused, untouched."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    command(alice, room, bot, "db", starts="rows ")
    bot.stop()
    import sqlite3
    db = bot.state_dir / "plugins" / f"{bot.instance_id}.db"
    with sqlite3.connect(db) as c:
        c.execute("PRAGMA user_version = 7")
    before = db.read_bytes()
    bot.start()
    wait_until(lambda: not bot.running(), 30, "the worker to fail")
    assert bot.proc.returncode == 1
    assert "schema version 7, newer than the plugin's 2 migrations" in bot.log_path.read_text()
    assert db.read_bytes() == before


def test_work_directory(synapse, make_person, make_bot, tmp_path):
    alice = make_person(synapse)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    bot, room = start_in_room(synapse, alice, make_probe(
        make_bot, synapse, env={"RUNTIME_DIRECTORY": str(runtime)}))
    work = runtime / "work" / bot.instance_id
    eid, ev = command(alice, room, bot, "workdir", starts="workdir ")
    assert body(ev) == f"workdir {work} mode 700"
    pwd = answer(alice, room, bot, eid, starts="pwd ")
    assert body(pwd) == f"pwd 0 0 {work}", "spawn's default cwd is the work directory"
    command(alice, room, bot, "mark", starts="marked 0 0")
    _, ls = command(alice, room, bot, "ls", starts="ls ")
    assert body(ls) == "ls 0 0 left-behind"
    bot.restart()
    _, ls = command(alice, room, bot, "ls", starts="ls ")
    assert body(ls) == "ls 0 0", body(ls)
    assert not (work / "left-behind").exists(), "the work directory is emptied at start"


def test_cancel_stops_a_subprocess_and_calls_back_once(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    began = time.monotonic()
    _, ev = command(alice, room, bot, "cancel", starts="cancelled ")
    assert body(ev) == "cancelled -125 -1", body(ev)
    assert time.monotonic() - began < 20, "the sleep was not cancelled"
    alice.drain(2)
    answers = [e for _, e in alice.events if body(e).startswith("cancelled ")]
    assert len(answers) == 1, "the callback ran more than once"


class Files(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/hello.txt":
            data = b"hello, probe\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/hello.txt")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(b"x" * (2 * 1024 * 1024))
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def files():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_fetch(synapse, make_person, make_bot, files):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    _, ev = command(alice, room, bot, f"fetch {files}/hello.txt", starts="fetched ")
    assert body(ev) == "fetched 0 200 13 text/plain"
    _, ev = command(alice, room, bot, f"fetch {files}/moved", starts="fetched ")
    assert body(ev) == "fetched 0 200 13 text/plain", "redirects are followed"
    _, ev = command(alice, room, bot, f"fetch {files}/nothing", starts="fetched ")
    assert body(ev).startswith("fetched -71 404 "), body(ev)  # -EPROTO
    _, ev = command(alice, room, bot, f"fetch {files}/big", starts="fetched ")
    assert body(ev).startswith("fetched -27 "), body(ev)  # -EFBIG past max_bytes


def test_json_reader_and_writer(synapse, make_person, make_bot):
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_probe(make_bot, synapse))
    doc = {"a": [1, 2.5, "three \u00e9\U0001F600", True, None], "b": {"c": -7}}
    _, ev = command(alice, room, bot, "json " + json.dumps(doc), starts="json ")
    code, text = body(ev)[len("json "):].split(" ", 1)
    assert code == "0" and json.loads(text) == doc
    _, ev = command(alice, room, bot, "json {\"a\": 1,}", starts="json ")
    assert body(ev) == "json -74 -", body(ev)  # -EBADMSG


def test_config_is_handed_over_on_a_settings_only_reload(synapse, make_person, make_fleet):
    alice = make_person(synapse)
    room = alice.create_room(name="probe")
    fleet = make_fleet(synapse, count=1, rooms=[room], plugin=(PROBE, PROBE_ID))
    d = fleet.instances["echo-1"]
    d.settings = {"colour": "red"}
    fleet.start()
    fleet.join(alice)
    eid = alice.send(room, f"{d.prefix} config")
    ev = alice.wait_message(room, d.user_id, reply_to=eid, guard=fleet.assert_running)
    assert body(ev) == 'config 0 {"colour":"red"}'
    worker = fleet.workers()[d.id].key

    d.settings = {"colour": "blue"}
    fleet.reload()
    wait_until(lambda: "took its new settings" in fleet.logs(), 30, "the plugin to take them",
               guard=fleet.assert_running)
    eid = alice.send(room, f"{d.prefix} config")
    ev = alice.wait_message(room, d.user_id, reply_to=eid, guard=fleet.assert_running)
    assert body(ev) == 'config 1 {"colour":"blue"}'
    assert fleet.workers()[d.id].key == worker, "a settings-only reload restarted the worker"

    # A plugin that refuses its new settings is restarted with them instead.
    d.settings = {"colour": "green", "refuse": True}
    fleet.reload()
    wait_until(lambda: (w := fleet.workers().get(d.id)) and w.key != worker, 30,
               "the worker to be restarted", guard=fleet.assert_running)
    fleet.join(alice)
    eid = alice.send(room, f"{d.prefix} config")
    ev = alice.wait_message(room, d.user_id, reply_to=eid, timeout=60,
                            guard=fleet.assert_running)
    assert body(ev) == 'config 0 {"colour":"green","refuse":true}'
