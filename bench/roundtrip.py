#!/usr/bin/env python3
"""Benchmark the round trip of a command through a real Synapse: a person (matrix-nio)
sends `!echo ping` and waits for the reply in its /sync, 500 times in a row, against the
real worker (`botrunner worker`, echo plugin, the default config); then the same against the
floor, a bare matrix-nio client that answers each ping from its sync callback (what
Synapse's own delivery costs). The two run in alternating blocks so that a change in the
machine's load falls on both. Prints p50/p99 side by side; asserts nothing.

usage: bench/roundtrip.py [BOTRUNNER] [--pings N] [--block N]
"""
import argparse
import asyncio
import os
import select
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.use_harness()

# The whole run, Synapse's start included; a normal run takes a minute or two.
TIME_LIMIT_S = 900
# Pings before the measured ones, per bot: first requests warm Synapse's caches and the
# connections.
WARMUP_PINGS = 20
# The floor bot prints "ready" once joined and synced; past this it is broken.
FLOOR_READY_TIMEOUT_S = 60
# The floor bot's sync filter: what the worker's filter asks for, as far as it matters.
FLOOR_FILTER = {"presence": {"not_types": ["*"]}, "account_data": {"not_types": ["*"]},
                "room": {"ephemeral": {"not_types": ["*"]}, "state": {"not_types": ["*"]},
                         "timeline": {"limit": 50,
                                      "types": ["m.room.message", "m.room.member"]}}}


async def floor_bot(url, user_id, token, room_id):
    """The floor: join, skip the history, then answer every `!echo ping` with a notice
    replying to it, from nio's sync callback, as a bot written on nio would."""
    from nio import AsyncClient, AsyncClientConfig, RoomMessageText
    client = AsyncClient(url, user_id, config=AsyncClientConfig(
        encryption_enabled=False, store_sync_tokens=False, request_timeout=60))
    client.access_token = token
    client.user_id = user_id

    async def on_message(room, event):
        if event.sender == user_id or not event.body.startswith("!echo ping"):
            return
        await client.room_send(room.room_id, "m.room.message", {
            "msgtype": "m.notice", "body": "pong",
            "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}})

    try:
        await client.join(room_id)
        await client.sync(timeout=0, sync_filter=FLOOR_FILTER)
        client.add_event_callback(on_message, RoomMessageText)
        print("ready", flush=True)
        await client.sync_forever(timeout=30000, sync_filter=FLOOR_FILTER)
    finally:
        await client.close()


def start_floor(hs, who, workdir):
    """The floor bot in its own process (as the worker is), invited to a room of its own."""
    user_id, token = hs.register_with_shared_secret("floorbot", "floor bot's password")
    room_id = who.create_room(name="floor")
    who.invite(room_id, user_id)
    env = dict(os.environ, FLOOR_TOKEN=token)
    proc = subprocess.Popen([sys.executable, __file__, "--floor-bot", hs.base_url, user_id,
                             room_id], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=open(os.path.join(workdir, "floor.log"), "wb"), env=env,
                            start_new_session=True)
    ready, _, _ = select.select([proc.stdout], [], [], FLOOR_READY_TIMEOUT_S)
    if not ready or proc.stdout.readline().strip() != b"ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the floor bot did not start: see {workdir}/floor.log")
    return proc, user_id, room_id


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(name, seconds):
    ms = [s * 1000 for s in seconds]
    return (name, statistics.median(ms), harness.percentile(ms, 99), statistics.fmean(ms))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.DEFAULT_BOTRUNNER))
    ap.add_argument("--pings", type=int, default=500)
    ap.add_argument("--block", type=int, default=50, help="pings per bot before switching")
    args = ap.parse_args()

    worker_rt, floor_rt = [], []
    with harness.time_limit(TIME_LIMIT_S, "the round-trip benchmark"), \
            tempfile.TemporaryDirectory(prefix="br-bench-roundtrip-") as tmp, \
            harness.homeserver(tmp) as hs, harness.person(hs) as alice, \
            harness.echo_worker(hs, alice, tmp, args.binary) as (bot, bot_room):
        floor, floor_user, floor_room = start_floor(hs, alice, tmp)
        try:
            targets = [(bot_room, bot.user_id, bot.assert_running, worker_rt),
                       (floor_room, floor_user, None, floor_rt)]
            for room, user, guard, _ in targets:
                for _ in range(WARMUP_PINGS):
                    harness.ping_and_wait(alice, room, user, guard=guard)
            while len(worker_rt) < args.pings:
                for room, user, guard, out in targets:
                    for _ in range(min(args.block, args.pings - len(out))):
                        out.append(harness.ping_and_wait(alice, room, user, guard=guard))
        finally:
            stop(floor)

    rows = [summary("botrunner worker (echo plugin)", worker_rt),
            summary("floor: bare matrix-nio client", floor_rt)]
    print(f"Round trip of `!echo ping`: the person's send request to the reply in its /sync, "
          f"{args.pings} sequential pings per bot\n(in alternating blocks of {args.block}), "
          f"Synapse on 127.0.0.1, in ms:")
    print(f"  {'':32} {'p50':>7} {'p99':>7} {'mean':>7}")
    for name, p50, p99, mean in rows:
        print(f"  {name:32} {p50:7.1f} {p99:7.1f} {mean:7.1f}")
    (_, w50, w99, wm), (_, f50, f99, fm) = rows
    print(f"  {'the worker minus the floor':32} {w50 - f50:+7.1f} {w99 - f99:+7.1f} "
          f"{wm - fm:+7.1f}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--floor-bot":
        asyncio.run(floor_bot(sys.argv[2], sys.argv[3], os.environ["FLOOR_TOKEN"], sys.argv[4]))
    else:
        main()
