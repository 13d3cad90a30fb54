"""Delivery under plugin faults, against a real Synapse, through the probe plugin
(tests/e2e/plugins/probe/probe.c). A poison event (one whose handling kills the worker) is
handed over event_retries more times, then skipped with an ERROR naming it, and the events
after it are answered once each. A plugin that blocks its event loop stalls only its own
bot: it holds no bot.db lock another bot's worker waits for, and the runner says which
plugin blocked, for how long."""
import time

from fleet import body
from test_abi import PROBE, PROBE_ID
from test_fleet import make_fleet  # noqa: F401  (the fixture)
from botworker import wait_until

ANSWER_TIMEOUT_S = 60
# The supervisor's restart back-off starts at 1 s and doubles: two deaths cost ~3 s.
SKIP_TIMEOUT_S = 60
# A ping answered while another bot is blocked: the default config answers in ~0.1 s; a
# bot waiting on the blocked one's database lock would take the whole block.
UNBLOCKED_PING_S = 1.5
BLOCK_S = 6


def replies_to(person, room, sender, event_id):
    return [ev for rid, ev in person.events
            if rid == room and ev.get("sender") == sender
            and ev.get("content", {}).get("m.relates_to", {}).get("m.in_reply_to", {})
            .get("event_id") == event_id]


def test_poison_event_is_skipped_after_its_retries(synapse, make_person, make_fleet):
    alice = make_person(synapse)
    room = alice.create_room(name="poison")
    fleet = make_fleet(synapse, count=1, rooms=[room], plugin=(PROBE, PROBE_ID))
    d = fleet.instances["echo-1"]
    d.extra["event_retries"] = 1
    fleet.start()
    fleet.join(alice)
    first = fleet.wait_worker(d.id)

    poison = alice.send(room, f"{d.prefix} crash")
    wait_until(lambda: f"Skipped event {poison}" in fleet.log_text(), SKIP_TIMEOUT_S,
               "the poison event to be skipped", guard=fleet.assert_running)
    log = fleet.log_text()
    assert "attempt 2 of 2" in log, fleet.logs()
    assert f"from {alice.user_id}" in log.split(f"Skipped event {poison}")[1].split("\n")[0]
    # Handed over twice (the first time and one retry), so two deaths, and no third.
    assert log.count(f"handing it over again (attempt") == 1, fleet.logs()

    # The bot answers what came after, once each, and the skipped event stays skipped.
    eid = alice.send(room, f"{d.prefix} thread")
    ev = alice.wait_message(room, d.user_id, reply_to=eid, timeout=ANSWER_TIMEOUT_S,
                            guard=fleet.assert_running)
    assert body(ev) == "in thread"
    worker = fleet.wait_worker(d.id)
    assert worker.pid != first.pid
    again = alice.send(room, f"{d.prefix} thread")
    alice.wait_message(room, d.user_id, reply_to=again, timeout=ANSWER_TIMEOUT_S,
                       guard=fleet.assert_running)
    time.sleep(2)  # room for a duplicate, were one coming
    assert len(replies_to(alice, room, d.user_id, eid)) == 1
    assert not replies_to(alice, room, d.user_id, poison)
    assert fleet.workers()[d.id].key == worker.key, "the worker died again"
    status = fleet.status()
    inst = {i["id"]: i for i in status["instances"]}[d.id]
    assert inst["state"] == "running" and inst["restarts"] == 2, inst


def test_a_blocked_plugin_stalls_only_its_own_bot(synapse, make_person, make_fleet):
    alice = make_person(synapse)
    room = alice.create_room(name="slow")
    fleet = make_fleet(synapse, count=2, rooms=[room], plugin=(PROBE, PROBE_ID))
    slow, other = fleet.instances["echo-1"], fleet.instances["echo-2"]
    fleet.start()
    fleet.join(alice)
    before = fleet.workers()[slow.id].key

    blocked = alice.send(room, f"{slow.prefix} block {BLOCK_S}")
    time.sleep(1)  # the slow bot is inside its callback now
    began = time.monotonic()
    rtts = []
    while time.monotonic() - began < BLOCK_S - 2:
        eid = alice.send(room, f"{other.prefix} thread")
        t0 = time.monotonic()
        alice.wait_message(room, other.user_id, reply_to=eid, timeout=ANSWER_TIMEOUT_S,
                           guard=fleet.assert_running)
        rtts.append(time.monotonic() - t0)
    assert rtts and max(rtts) < UNBLOCKED_PING_S, rtts

    ev = alice.wait_message(room, slow.user_id, reply_to=blocked, timeout=ANSWER_TIMEOUT_S,
                            guard=fleet.assert_running)
    assert body(ev) == "unblocked"
    wait_until(lambda: f"Plugin {PROBE_ID} blocked its event loop" in fleet.log_text(), 10,
               "the runner to say the plugin blocked", guard=fleet.assert_running)
    assert fleet.workers()[slow.id].key == before, "a slow callback restarted its worker"
