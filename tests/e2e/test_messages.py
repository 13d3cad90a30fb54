"""Messages a homeserver accepts reach the plugin, whatever their size or characters: a real
Synapse, a person on matrix-nio, the echo bot answering `!echo echo TEXT` byte for byte.

Synapse sends /sync with every non-ASCII character escaped (\\uXXXX, a surrogate pair for an
emoji), so the JSON text of an event can be up to six times the size of its content: the
worker's parser must bound the decoded text by the spec's 64 KiB, not the escaped one.

What the worker is held to:
- a 24 KB message of emoji, a 32 KB one of é and one holding U+0001 and ESC are echoed back
  exactly (the echo reply has the same text; the ABI allows a plugin 32 KiB of text);
- a 60 KB message of é reaches the plugin too; its echo would be over the ABI's 32 KiB, and
  the bot answers that it is too long and logs the refusal with the sizes, instead of the
  message vanishing;
- no event of these is refused by the parser ("Refused event" in the log)."""
import re

from botworker import COMMAND_PREFIX, start_in_room
from person import strip_reply_fallback

REPLY_TIMEOUT_S = 30


def echo(text):
    return f"{COMMAND_PREFIX} echo {text}"


def body(event):
    return strip_reply_fallback(event["content"].get("body", ""))


def echoed(person, room, bot, text):
    """Send `!echo echo TEXT` and return the body of the bot's reply to it, which is a
    notice (the echo plugin asks reply() for one)."""
    cmd = person.send(room, echo(text))
    reply = person.wait_message(room, bot.user_id, reply_to=cmd, timeout=REPLY_TIMEOUT_S,
                                guard=bot.assert_running)
    assert reply["content"].get("msgtype") == "m.notice", reply["content"].get("msgtype")
    return body(reply)


def test_large_and_control_messages_are_echoed(synapse, make_person, make_bot):
    """24 KB of emoji (4 bytes each, 12 escaped), 32 KB of é (2 bytes, 6 escaped), and text
    with U+0001 and ESC (6 escaped bytes for 1) come back byte for byte."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    texts = {
        "24 KB of emoji": "😀" * 6000,
        "32 KB of é": "é" * 16000,
        "U+0001 and ESC": "start \u0001 middle \u001b[1mbold\u001b[0m end",
    }
    for what, text in texts.items():
        got = echoed(alice, room, bot, text)
        assert got.encode("utf-8") == text.encode("utf-8"), \
            f"{what}: sent {len(text.encode())} bytes, got {len(got.encode())}: {got[:80]!r}"
    log = bot.log_path.read_text(errors="replace")
    assert "Refused event" not in log and "malformed" not in log, log[-3000:]


def test_60k_message_reaches_the_plugin_and_its_echo_is_refused_clearly(
        synapse, make_person, make_bot):
    """60 KB of é (Synapse accepts it: its event is under 64 KiB) is not dropped: the
    plugin gets it, and its echo, over the 32 KiB a plugin may send, is refused by the
    runner with a log line naming both sizes; the echo plugin says so in its reply."""
    alice = make_person(synapse)
    bot, room = start_in_room(synapse, alice, make_bot)
    text = "é" * 30000
    got = echoed(alice, room, bot, text)
    assert "too long" in got, got[:200]
    log = bot.log_path.read_text(errors="replace")
    assert "Refused event" not in log and "malformed" not in log, log[-3000:]
    assert re.search(r"text of 60000 bytes.*at most 32768", log), log[-3000:]
    # The bot still answers afterwards.
    assert echoed(alice, room, bot, "still here") == "still here"
