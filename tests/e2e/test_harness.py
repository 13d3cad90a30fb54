"""The end-to-end harness proven on its own, with matrix-nio on both sides and no
botrunner: if these fail, a failing worker test says nothing about the worker."""
import time

import pytest

from person import Person, in_reply_to
from synapse_server import http


def test_two_people_talk(synapse, make_person):
    """Two accounts registered with the token converse in a private room: invite, join,
    a message with 4-byte characters arrives byte-exact, and a reply carries
    m.relates_to.m.in_reply_to."""
    alice = make_person(synapse, "alice")
    bob = make_person(synapse, "bob")
    assert alice.whoami() == alice.user_id
    room = alice.create_room(name="harness")
    alice.invite(room, bob.user_id)
    bob.wait_invite(room)
    bob.join(room)
    assert synapse.membership(room, bob.user_id) == "join"

    text = "héllo 👋🏽 مرحبا 𝄞 𠜎"
    ping = alice.send(room, text)
    got = bob.wait_message(room, alice.user_id)
    assert got["event_id"] == ping
    assert got["content"]["body"] == text

    resp = bob.run(bob.client.room_send(room, "m.room.message", {
        "msgtype": "m.text", "body": "pong",
        "m.relates_to": {"m.in_reply_to": {"event_id": ping}}}))
    reply = alice.wait_message(room, bob.user_id, reply_to=ping)
    assert reply["event_id"] == resp.event_id and in_reply_to(reply) == ping


def test_registration_requires_the_token(synapse):
    """Without a token the server insists on the m.login.registration_token stage, with
    m.login.dummy after it (the two-stage flow a bot must complete); a wrong token is
    refused."""
    res = http("POST", synapse.base_url + "/_matrix/client/v3/register",
               {"username": "nobody-1", "password": "pw pw pw pw"})
    assert res.status == 401
    flows = [f["stages"] for f in res.body["flows"]]
    assert ["m.login.registration_token", "m.login.dummy"] in flows, flows

    p = Person(synapse, "nobody-2")
    try:
        with pytest.raises(AssertionError):
            p.register(token="not-the-token")
    finally:
        p.close()
    assert synapse.user(synapse.user_id("nobody-2")) is None


def test_single_use_token_is_counted(synapse, make_person):
    """A token with one use: the admin API counts the completed registration, and a
    second registration with it is refused (the bot tests count registrations so)."""
    token = synapse.new_registration_token(uses_allowed=1)
    p = Person(synapse, "counted-1")
    try:
        p.register(token=token)
    finally:
        p.close()
    info = synapse.registration_token_info(token)
    assert info["completed"] == 1 and info["pending"] == 0, info
    q = Person(synapse, "counted-2")
    try:
        with pytest.raises(AssertionError):
            q.register(token=token)
    finally:
        q.close()


def test_revoke_tokens(synapse, make_person):
    """Deleting a user's devices through the admin API invalidates the access token: the
    next request gets 401 M_UNKNOWN_TOKEN, and logging in with the password works again."""
    alice = make_person(synapse, "alice")
    assert alice.whoami() == alice.user_id
    token = alice.client.access_token
    assert synapse.revoke_tokens(alice.user_id) == [alice.client.device_id]
    res = synapse.api("GET", "/_matrix/client/v3/account/whoami", token=token)
    assert res.status == 401 and res.body["errcode"] == "M_UNKNOWN_TOKEN", res
    assert synapse.devices(alice.user_id) == []
    res = synapse.api("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": alice.user_id},
        "password": alice.password})
    assert res.status == 200, res


def test_admin_created_account_logs_in(synapse):
    """An account made by the admin with a password (the password_file bots' case) can
    log in with it."""
    uid = synapse.create_user("pwbot-1", "the bot password")
    res = synapse.api("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": uid},
        "password": "the bot password"})
    assert res.status == 200 and res.body["user_id"] == uid, res


@pytest.mark.slow
def test_stop_and_start_keeps_port_and_data(fresh_synapse, make_person):
    """The homeserver can be taken away and brought back on the same port with the same
    data: the person's token, room and messages are still there, and a long-running
    client reconnects."""
    hs = fresh_synapse()
    alice = make_person(hs, "alice")
    room = alice.create_room()
    first = alice.send(room, "before")
    url = hs.base_url
    hs.stop()
    with pytest.raises(OSError):
        http("GET", url + "/health", timeout=2)
    began = time.monotonic()
    hs.start()
    assert hs.base_url == url
    assert time.monotonic() - began < 60
    assert alice.whoami() == alice.user_id
    second = alice.send(room, "after")
    alice.wait_for(lambda rid, ev: ev.get("event_id") == second, what="the message sent after")
    assert any(ev["event_id"] == first for _, ev in alice.events)


@pytest.mark.slow
def test_lowered_message_rate_limit(fresh_synapse, make_person):
    """rc_message set low takes effect: an ordinary account gets 429 M_LIMIT_EXCEEDED
    after its burst, while an account exempted by the admin sends freely."""
    hs = fresh_synapse(rate_limits={"rc_message": {"per_second": 0.5, "burst_count": 2}})
    alice = make_person(hs, "alice")
    carol = make_person(hs, "carol")
    hs.exempt_from_rate_limits(carol.user_id)
    room = alice.create_room(invite=[carol.user_id])
    carol.join(room)
    statuses = [alice.send_raw(room, f"m{i}").status for i in range(5)]
    assert 429 in statuses, statuses
    statuses = [carol.send_raw(room, f"m{i}").status for i in range(10)]
    assert statuses == [200] * 10, statuses
