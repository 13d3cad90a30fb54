"""Rooms by alias, with `botrunner run` against Synapse: a NixOS user knows #family:server,
not !opaque:server. The worker resolves each alias at start (GET /directory/room/{alias})
and again on reload, joins the room it names and serves it; an alias that does not resolve
is an ERROR for that room while the others are served, and is retried; an invite to a room
no subscription names yet makes the worker resolve its unresolved aliases first (the alias
may have been made after the bot started). /status shows every subscription with its alias
and the id it resolved to."""
import subprocess
import time

from botworker import wait_membership, wait_until
from conftest import unique
from fleet import BOTRUNNER, ping
from test_fleet import make_fleet  # noqa: F401  (the fixture)

# A join after an invite: well under the worker's 30 s retry, which must not be needed.
JOIN_TIMEOUT_S = 15
STATUS_TIMEOUT_S = 20


def rooms_of(fleet, instance_id):
    for inst in fleet.status()["instances"]:
        if inst["id"] == instance_id:
            return {r["room"]: r for r in inst["rooms"]}
    raise AssertionError(f"{instance_id} is not in /status")


def wait_room(fleet, instance_id, name, pred, what):
    return wait_until(lambda: (lambda r: r if r and pred(r) else None)(
                          rooms_of(fleet, instance_id).get(name)),
                      STATUS_TIMEOUT_S, lambda: f"{what}: {rooms_of(fleet, instance_id).get(name)}",
                      guard=fleet.assert_running)


def test_rooms_by_alias(synapse, make_person, make_fleet):
    alice = make_person(synapse)
    server = synapse.server_name
    plain = alice.create_room(name="plain")
    family_local = unique("family")
    family_alias = f"#{family_local}:{server}"
    family = alice.create_room(name="family", alias=family_local)
    later_local = unique("later")
    later_alias = f"#{later_local}:{server}"  # made only after the bot started

    fleet = make_fleet(synapse, count=1, rooms=[plain, family_alias, later_alias]).start()
    bot = fleet.instances["echo-1"]
    wait_until(lambda: synapse.user(bot.user_id), 30, "the bot's account",
               guard=fleet.assert_running)
    for room in (plain, family):
        alice.invite(room, bot.user_id)
    for room in (plain, family):
        wait_membership(synapse, room, bot.user_id, "join", guard=fleet.assert_running)

    # The alias names the room: it is served like one given by id, and the unresolvable
    # alias beside it does not keep the others from being served.
    ping(alice, plain, bot, guard=fleet.assert_running)
    ping(alice, family, bot, guard=fleet.assert_running)
    rooms = wait_room(fleet, bot.id, family_alias, lambda r: r["joined"], "family joined")
    assert rooms == {"room": family_alias, "alias": family_alias, "room_id": family,
                     "joined": True, "error": None}
    by_name = rooms_of(fleet, bot.id)
    assert by_name[plain] == {"room": plain, "alias": None, "room_id": plain, "joined": True,
                              "error": None}
    missing = by_name[later_alias]
    assert missing["alias"] == later_alias and missing["room_id"] is None
    assert not missing["joined"] and "M_NOT_FOUND" in missing["error"], missing
    # ...and it is an ERROR, which reaches the notifications.
    st = fleet.status()
    assert any("cannot resolve room alias " + later_alias in n["message"]
               and n["severity"] == "ERROR" for n in st["notifications"]), st["notifications"]
    assert f"ERROR" in fleet.logs() and later_alias in fleet.logs()
    out = subprocess.run([BOTRUNNER, "status", "--url", fleet.status_url],
                         capture_output=True, text=True, timeout=10).stdout
    assert "ROOMS" in out and family_alias in out and family in out, out

    # The alias is made after the bot started, then the person invites the bot: the worker
    # resolves its unresolved aliases before answering the invite, and joins.
    later = alice.create_room(name="later", alias=later_local)
    invited = time.monotonic()
    alice.invite(later, bot.user_id)
    wait_membership(synapse, later, bot.user_id, "join", timeout=JOIN_TIMEOUT_S,
                    guard=fleet.assert_running)
    joined_after = time.monotonic() - invited
    ping(alice, later, bot, guard=fleet.assert_running)
    wait_room(fleet, bot.id, later_alias,
              lambda r: r["room_id"] == later and r["joined"] and r["error"] is None,
              "the late alias resolved and joined")

    # On reload the aliases are resolved again: pointed at another room, the alias takes
    # the bot there, with the same worker process.
    worker = fleet.workers()[bot.id].key
    family2 = alice.create_room(name="family, again")
    alice.point_alias(family_alias, family2)
    fleet.reload()
    wait_room(fleet, bot.id, family_alias, lambda r: r["room_id"] == family2,
              "the alias resolved again on reload")
    alice.invite(family2, bot.user_id)
    wait_membership(synapse, family2, bot.user_id, "join", timeout=JOIN_TIMEOUT_S,
                    guard=fleet.assert_running)
    ping(alice, family2, bot, guard=fleet.assert_running)
    assert fleet.workers()[bot.id].key == worker, "the reload restarted the worker"
    print(f"\njoined the late alias's room {joined_after:.2f} s after the invite")
