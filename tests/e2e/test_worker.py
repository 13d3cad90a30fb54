"""`botrunner worker --instance ID -c FILE` against a real Synapse, driven by a person on
matrix-nio: registration, joining, replies, exact text, exactly-once delivery across a
crash, catch-up after downtime, the homeserver's rate limit, a revoked token, a
homeserver outage, and invites to rooms the bot does not serve.

What the worker is held to (see botworker.py for the config it is given):
- `!echo ping` is answered by a message whose body contains "pong" and whose
  content.m.relates_to.m.in_reply_to.event_id is the ping's event id;
- `!echo echo TEXT` is answered the same way with TEXT as the body, byte for byte (a
  rich-reply fallback, "> <@user> ..." lines before a blank line, is tolerated and
  removed before comparing);
- each command is answered exactly once, whatever happens to the worker."""
import collections
import time

import pytest

from botworker import COMMAND_PREFIX, start_in_room, wait_account, wait_membership
from conftest import unique
from person import in_reply_to, strip_reply_fallback

PING = f"{COMMAND_PREFIX} ping"
# A reply must arrive within this in normal operation (the bot's sync is a long poll, so
# it is usually well under a second).
REPLY_TIMEOUT_S = 30
# After the last expected reply, keep listening this long for duplicates.
QUIET_S = 4


def echo(text):
    return f"{COMMAND_PREFIX} echo {text}"


def body(event):
    return strip_reply_fallback(event["content"].get("body", ""))


def ping_pong(person, room, bot, timeout=REPLY_TIMEOUT_S):
    """Send a ping and return the bot's reply to it."""
    ping = person.send(room, PING)
    reply = person.wait_message(room, bot.user_id, reply_to=ping, timeout=timeout,
                                guard=bot.assert_running)
    assert "pong" in body(reply).lower(), reply
    return reply


def replies_per_event(person, room, bot):
    """How many replies of the bot point at each event id."""
    return collections.Counter(in_reply_to(ev) for ev in person.messages_from(room, bot.user_id))


def wait_all_answered(person, room, bot, pings, timeout):
    """Until every ping in `pings` has at least one reply from the bot."""
    want = set(pings)

    def missing():
        return want - set(replies_per_event(person, room, bot))
    try:
        person.wait_for(lambda _rid, _ev: not missing(), timeout=timeout,
                        guard=bot.assert_running, what=f"replies to all {len(want)} commands")
    except AssertionError as e:
        raise AssertionError(f"{e}: {len(missing())} of {len(want)} unanswered") from None


def assert_exactly_once(person, room, bot, pings):
    """Every ping has exactly one reply, and the bot replied to nothing else."""
    counts = replies_per_event(person, room, bot)
    wrong = {p: counts[p] for p in pings if counts[p] != 1}
    assert not wrong, (f"{len(wrong)} of {len(pings)} commands did not get exactly one "
                       f"reply; replies per command (first 5): {list(wrong.items())[:5]}")
    strays = {k: v for k, v in counts.items() if k not in set(pings)}
    assert not strays, f"replies to something else: {strays}"


# --- account and rooms ------------------------------------------------------------------


def test_registers_with_token(synapse, make_person, make_bot):
    """A bot without password_file registers its account with the registration token,
    completing Synapse's two stages (m.login.registration_token, then m.login.dummy); its
    access token works (it joins and answers). Restarted on the same state directory it
    uses the stored, sealed token: no second registration, the same device."""
    token = synapse.new_registration_token(uses_allowed=2)  # room for a wrongful 2nd use
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot, registration_token=token)
    account = synapse.user(bot.user_id)
    assert account["name"] == bot.user_id and not account["admin"], account
    assert not account["deactivated"], account
    info = synapse.registration_token_info(token)
    assert info["completed"] == 1 and info["pending"] == 0, info
    devices = [d["device_id"] for d in synapse.devices(bot.user_id)]
    assert len(devices) == 1, devices
    ping_pong(alice, room, bot)

    assert bot.stop() == 0, "a worker stopped by SIGTERM exits with status 0"
    bot.start()
    ping_pong(alice, room, bot)
    assert synapse.registration_token_info(token)["completed"] == 1
    assert [d["device_id"] for d in synapse.devices(bot.user_id)] == devices


def test_joins_on_invite(synapse, make_person, make_bot):
    """Invited to a room it subscribes to, the bot joins it (its own join event)."""
    alice = make_person(synapse)
    room = alice.create_room()
    bot = make_bot(synapse, rooms=[room]).start()
    wait_account(synapse, bot)
    assert synapse.membership(room, bot.user_id) is None
    alice.invite(room, bot.user_id)
    wait_membership(synapse, room, bot.user_id, "join", guard=bot.assert_running)
    assert synapse.member_event(room, bot.user_id)["sender"] == bot.user_id


def test_declines_invite_to_unsubscribed_room(synapse, make_person, make_bot):
    """Invited to a room that is not in its room_subscriptions, the bot declines: its
    membership there becomes 'leave', sent by the bot itself (a rejection, not a kick),
    and it never joined. It stays in the room it serves and keeps answering there."""
    alice = make_person(synapse)
    bot, served = start_in_room(synapse, alice, make_bot)
    other = alice.create_room(name="not subscribed")
    alice.invite(other, bot.user_id)
    wait_membership(synapse, other, bot.user_id, "leave", guard=bot.assert_running)
    assert synapse.member_event(other, bot.user_id)["sender"] == bot.user_id
    alice.drain(1)
    joins = [ev for rid, ev in alice.events
             if rid == other and ev.get("type") == "m.room.member"
             and ev.get("state_key") == bot.user_id
             and ev["content"].get("membership") == "join"]
    assert joins == []
    assert synapse.membership(served, bot.user_id) == "join"
    ping_pong(alice, served, bot)


# --- replies ----------------------------------------------------------------------------


def test_ping_pong_is_a_reply(synapse, make_person, make_bot):
    """`!echo ping` gets a pong from the bot that replies to the ping:
    m.relates_to.m.in_reply_to.event_id is the ping's event id."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    ping = alice.send(room, PING)
    reply = alice.wait_message(room, bot.user_id, timeout=REPLY_TIMEOUT_S,
                               guard=bot.assert_running)
    assert reply["type"] == "m.room.message"
    assert reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == ping
    assert reply["content"].get("msgtype") in ("m.text", "m.notice"), reply
    assert "pong" in body(reply).lower(), reply


def test_default_config_answers_40_pings_in_a_row_promptly(synapse, make_person, make_bot):
    """A new user's config (no features, no rate_limit) must not pace the bot's replies:
    the plugin's rate limiter (10 a minute, burst 3) is for its external calls. Before
    the fix the outbox took its tokens, and from the 4th ping on every reply came 6 s
    late. One ping at a time, each reply within 1 s of its ping (generous on loopback:
    they take tens of milliseconds)."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot, default_limits=True)
    late = []
    for n in range(40):
        sent = time.monotonic()
        ping_pong(alice, room, bot)
        took = time.monotonic() - sent
        if took > 1.0:
            late.append((n + 1, round(took, 2)))
    assert not late, f"replies later than 1 s (ping number, seconds): {late}"


def test_non_commands_are_ignored(synapse, make_person, make_bot):
    """Messages that do not start with the command prefix get no answer; the next real
    command is answered, and that answer is the bot's only message."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    alice.send(room, "ping")
    alice.send(room, f"hello {PING}")
    reply = ping_pong(alice, room, bot)
    alice.drain(1)
    assert [ev["event_id"] for ev in alice.messages_from(room, bot.user_id)] == \
        [reply["event_id"]]


UNICODE_TEXTS = [
    "emoji 😀 👍🏽 👩‍👩‍👧‍👦 🏳️‍🌈",             # 4-byte, skin tone modifier, ZWJ sequences
    "مرحبا بالعالم",                           # Arabic, right to left
    "שלום עולם and mixed עברית text",         # Hebrew inside left-to-right text
    "𝄞 𠜎 𐍈 𝕏",                              # supplementary planes, no emoji
    "e\u0301 n\u0303 \u202eRTL override\u202c \u200fmark\u200e",  # combining, bidi controls
    "line one\nline two\n\ttabbed",           # inner line breaks and tab kept
]


def test_echo_unicode_byte_exact(synapse, make_person, make_bot):
    """`!echo echo TEXT` answers with TEXT exactly: emoji (4-byte UTF-8, ZWJ sequences),
    Arabic and Hebrew (RTL), supplementary-plane characters, combining marks and bidi
    controls, inner line breaks."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    for text in UNICODE_TEXTS:
        cmd = alice.send(room, echo(text))
        reply = alice.wait_message(room, bot.user_id, reply_to=cmd,
                                   timeout=REPLY_TIMEOUT_S, guard=bot.assert_running)
        assert body(reply).encode("utf-8") == text.encode("utf-8"), \
            f"sent {text!r}, got {reply['content'].get('body')!r}"


# --- delivery across failures -----------------------------------------------------------


@pytest.mark.slow
def test_crash_mid_flight_every_command_answered_once(synapse, make_person, make_bot):
    """50 pings: 10 sent and the first answer awaited, 15 more sent in one burst and the
    worker SIGKILLed at once (while it handles them), 25 more sent while it is dead, then it is
    started again. Every ping is answered exactly once (replies counted per ping by their
    in_reply_to): nothing lost, nothing doubled by the crash."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    pings = [alice.send(room, PING) for _ in range(10)]
    alice.wait_message(room, bot.user_id, timeout=REPLY_TIMEOUT_S, guard=bot.assert_running)
    pings += alice.send_many(room, [PING] * 15)
    bot.kill()
    alice.drain(0.5)
    answered_before = len(set(replies_per_event(alice, room, bot)) & set(pings))
    pings += [alice.send(room, PING) for _ in range(25)]
    bot.start()
    wait_all_answered(alice, room, bot, pings, timeout=90)
    alice.drain(QUIET_S)
    assert_exactly_once(alice, room, bot, pings)
    print(f"{answered_before} of the first 25 were answered before the kill")


CATCH_UP_S = 5


@pytest.mark.slow
def test_catch_up_after_downtime(synapse, make_person, make_bot):
    """Commands sent while the worker is stopped are answered when it starts, if they are
    newer than catch_up_max_age (5 s here); an older one is not answered at all."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot, catch_up_max_age=CATCH_UP_S)
    ping_pong(alice, room, bot)
    assert bot.stop() == 0
    old = alice.send(room, PING)
    time.sleep(CATCH_UP_S + 2)
    fresh = [alice.send(room, PING) for _ in range(3)]
    bot.start()
    wait_all_answered(alice, room, bot, fresh, timeout=REPLY_TIMEOUT_S)
    alice.drain(QUIET_S)
    counts = replies_per_event(alice, room, bot)
    assert counts[old] == 0, "a command older than catch_up_max_age was answered"
    assert all(counts[p] == 1 for p in fresh), {p: counts[p] for p in fresh}


@pytest.mark.slow
def test_homeserver_rate_limit(fresh_synapse, make_person, make_bot):
    """Synapse limits the bot to 1 message/s after a burst of 3 (rc_message; the person is
    exempt). 12 pings at once: the bot waits out every 429 and each ping gets exactly one
    reply."""
    hs = fresh_synapse(rate_limits={"rc_message": {"per_second": 1, "burst_count": 3}})
    alice = make_person(hs)
    hs.exempt_from_rate_limits(alice.user_id)
    bot, room = start_in_room(hs, alice, make_bot)
    pings = [alice.send(room, PING) for _ in range(12)]
    began = time.monotonic()
    wait_all_answered(alice, room, bot, pings, timeout=90)
    took = time.monotonic() - began
    alice.drain(QUIET_S)
    assert_exactly_once(alice, room, bot, pings)
    # The limit was really in force: 12 messages at 1/s after a burst of 3.
    assert took > 5, f"12 replies in {took:.1f} s: was the bot rate limited at all?"


def test_relogin_after_token_revoked(synapse, make_person, make_bot):
    """The bot's access token is revoked on the server (its devices deleted by the
    admin). With a password_file the bot logs in again on M_UNKNOWN_TOKEN and carries on
    in the same process: the next ping is answered, and the account has a device again."""
    password = "echo bot's password ✓"
    alice = make_person(synapse)
    localpart = unique("pwbot")
    synapse.create_user(localpart, password)
    bot, room = start_in_room(synapse, alice, make_bot, localpart=localpart,
                              password=password)
    ping_pong(alice, room, bot)
    pid = bot.pid
    revoked = synapse.revoke_tokens(bot.user_id)
    assert revoked, "the bot had no device to revoke"
    ping_pong(alice, room, bot, timeout=60)
    ping_pong(alice, room, bot)
    assert bot.pid == pid and bot.running()
    assert synapse.devices(bot.user_id), "the bot answered without a device?"


@pytest.mark.slow
def test_survives_homeserver_outage(fresh_synapse, make_person, make_bot):
    """Synapse is stopped for 20 s and started again: the same worker process (same pid,
    never exited) resumes syncing and answers the next ping."""
    hs = fresh_synapse()
    alice = make_person(hs)
    bot, room = start_in_room(hs, alice, make_bot)
    ping_pong(alice, room, bot)
    pid = bot.pid
    hs.stop()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        bot.assert_running()
        time.sleep(1)
    hs.start()
    # The worker's backoff may have grown to tens of seconds during the outage.
    ping_pong(alice, room, bot, timeout=90)
    assert bot.pid == pid and bot.running()
