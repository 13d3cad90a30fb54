#!/usr/bin/env python3
"""make demo: botrunner talking on a real homeserver. Starts Synapse on 127.0.0.1 (the
end-to-end harness's), registers a person and, through the worker, a bot by registration
token, holds a short scripted conversation and prints it. With --keep it then stays up and
says how to talk to the bot from any Matrix client, until Ctrl-C.

usage: tools/demo.py [--keep]"""
import argparse
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from botworker import BotWorker, start_in_room  # noqa: E402
from person import Person, strip_reply_fallback  # noqa: E402
from synapse_server import Synapse  # noqa: E402

SCRIPT = ["!echo ping", "!echo echo Hello from botrunner \U0001F44B", "!echo help"]


def bold(s):
    return f"\033[1m{s}\033[0m" if sys.stdout.isatty() else s


def converse(person, bot, room_id):
    for line in SCRIPT:
        sent_at = time.monotonic()
        event_id = person.send(room_id, line)
        reply = person.wait_message(room_id, bot.user_id, reply_to=event_id, timeout=30,
                                    guard=bot.assert_running)
        ms = (time.monotonic() - sent_at) * 1000
        body = strip_reply_fallback(reply["content"].get("body", ""))
        print(f"  {person.user_id}: {line}")
        print(f"  {bot.user_id}: {body}    ({ms:.0f} ms, a reply to the message above)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="stay up after the conversation")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="botrunner-demo-") as tmp:
        tmp = pathlib.Path(tmp)
        hs = Synapse(tmp / "synapse")
        print(bold("== Starting Synapse on 127.0.0.1 (registration by token only)"))
        hs.start()
        hs.bootstrap()
        print(f"  {hs.base_url}, server name {hs.server_name}, "
              f"started in {hs.startup_seconds:.1f} s")
        person = Person(hs, "alice", password="demo password")
        bot = None
        try:
            person.register()
            print(bold("== Registered a person with the token: ") + person.user_id)
            print(bold("== Starting the bot: botrunner worker --instance echo-1 -c ..."))
            bot, room_id = start_in_room(
                hs, person,
                lambda hs_, rooms, **kw: BotWorker(hs_, tmp / "bot", "echobot", rooms,
                                                   log_level="INFO", **kw))
            print(f"  it registered {bot.user_id} with the token and joined {room_id}")
            print(bold("== A conversation"))
            converse(person, bot, room_id)
            if args.keep:
                keep(hs, person, bot, room_id)
            else:
                print(bold("\n== Keep it running"))
                print("  `make demo DEMO_ARGS=--keep` leaves Synapse and the bot up after the "
                      "conversation and prints how to log in with any Matrix client.")
        finally:
            if bot:
                bot.stop()
                bot.cleanup()
            person.close()
            hs.stop()


def keep(hs, person, bot, room_id):
    print(bold("\n== Still running. Talk to the bot from any Matrix client:"))
    print(f"  homeserver: {hs.base_url}")
    print(f"  log in as:  {person.localpart} / {person.password}")
    print(f"  room:       {room_id} (already joined; write `!echo ping` or `!echo echo TEXT`)")
    print(f"  bot log:    {bot.log_path}")
    print("  Ctrl-C stops everything and removes the temporary files.")
    try:
        while True:
            bot.assert_running()
            time.sleep(1)
    except KeyboardInterrupt:
        print()


if __name__ == "__main__":
    main()
