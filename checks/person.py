"""The person in the NixOS VM test: registers with the homeserver's token, makes the room the
bots serve, invites them and pings them, with matrix-nio as in tests/e2e/person.py.

Usage: person setup [BOT...]        register, create the room (its id is fixed), invite BOT...
       person invite BOT            invite one more bot
       person ping BOT PREFIX       wait for BOT's join, send "PREFIX ping", wait for its pong
Environment: HS (homeserver URL), SERVER_NAME, ROOM_LOCALPART, REGISTRATION_TOKEN; PERSON
(the localpart, default alice). tests/e2e runs it against Synapse, which cannot fix a room
id: there ROOM_LOCALPART is empty, setup prints the id it got, and ROOM_ID passes it on.
"""
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request

from nio import AsyncClient, RoomInviteResponse, RoomSendResponse

HS = os.environ["HS"]
SERVER_NAME = os.environ["SERVER_NAME"]
ROOM_LOCALPART = os.environ.get("ROOM_LOCALPART", "")
ROOM = os.environ.get("ROOM_ID") or f"!{ROOM_LOCALPART}:{SERVER_NAME}"
USER, PASSWORD = os.environ.get("PERSON", "alice"), "alice-password-in-the-vm-test"
TIMEOUT_S = 120


def api(method, path, body=None, token=None):
    """One Client-Server API call; returns (status, json). Errors are answers, not raises."""
    req = urllib.request.Request(HS + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def register():
    """Registration by token through user-interactive auth: continuwuity's single
    m.login.registration_token stage, or Synapse's token-then-dummy flow."""
    body = {"username": USER, "password": PASSWORD, "inhibit_login": True}
    status, answer = api("POST", "/_matrix/client/v3/register", body)
    for _ in range(3):
        if status == 200:
            return
        if status != 401 or "session" not in answer:
            raise SystemExit(f"register: {status} {answer}")
        done = set(answer.get("completed", []))
        stage = ("m.login.registration_token" if "m.login.registration_token" not in done
                 else "m.login.dummy")
        auth = {"type": stage, "session": answer["session"]}
        if stage == "m.login.registration_token":
            auth["token"] = os.environ["REGISTRATION_TOKEN"]
        status, answer = api("POST", "/_matrix/client/v3/register", {**body, "auth": auth})
    raise SystemExit(f"register: no success after three stages: {status} {answer}")


async def login():
    client = AsyncClient(HS, f"@{USER}:{SERVER_NAME}")
    r = await client.login(PASSWORD, device_name="vm-test")
    if not getattr(r, "access_token", None):
        raise SystemExit(f"login: {r}")
    return client


async def setup(bots):
    register()
    client = await login()
    # A room version 1..11 room with a fixed id (continuwuity's createRoom `room_id`), so
    # the bots' roomSubscriptions can name it before it exists.
    body = {"preset": "private_chat"}
    if ROOM_LOCALPART:
        body.update(room_id=ROOM_LOCALPART, room_version="11")
    status, answer = api("POST", "/_matrix/client/v3/createRoom", body, client.access_token)
    if status != 200 or (ROOM_LOCALPART and answer.get("room_id") != ROOM):
        raise SystemExit(f"createRoom: {status} {answer} (wanted {ROOM})")
    room = answer["room_id"]
    print(f"created {room}", flush=True)
    for bot in bots:
        await invite_until_done(client, bot, room)
    await client.close()


async def invite_until_done(client, bot, room=ROOM):
    """Invite, again until it is taken: a bot's account exists only once its worker has
    registered it, which may be after the room was made."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        r = await client.room_invite(room, bot)
        if isinstance(r, RoomInviteResponse):
            print(f"invited {bot}")
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"could not invite {bot} within {TIMEOUT_S} s: {r}")
        await asyncio.sleep(1)


async def invite(bot):
    client = await login()
    await invite_until_done(client, bot)
    await client.close()


async def ping(bot, prefix):
    client = await login()
    await client.sync(timeout=0)
    deadline = time.monotonic() + TIMEOUT_S
    while bot not in [m.user_id for m in
                      getattr(await client.joined_members(ROOM), "members", [])]:
        if time.monotonic() > deadline:
            raise SystemExit(f"{bot} did not join {ROOM} within {TIMEOUT_S} s")
        await asyncio.sleep(1)
    sent_at = time.monotonic()
    sent = await client.room_send(ROOM, "m.room.message", {"msgtype": "m.text",
                                                           "body": f"{prefix} ping"})
    if not isinstance(sent, RoomSendResponse):
        raise SystemExit(f"send: {sent}")
    while time.monotonic() < deadline:
        r = await client.sync(timeout=5000)
        room = r.rooms.join.get(ROOM) if hasattr(r, "rooms") else None
        for ev in room.timeline.events if room else []:
            # Bots answer with m.notice (nio's RoomMessageNotice): read the raw content.
            content = getattr(ev, "source", {}).get("content", {})
            if getattr(ev, "sender", None) != bot or not isinstance(content.get("body"), str):
                continue
            reply_to = content.get("m.relates_to", {}).get("m.in_reply_to", {})
            if reply_to.get("event_id") == sent.event_id and content["body"].startswith("pong"):
                print(f"{bot}: {content['body']!r} after {time.monotonic() - sent_at:.2f} s")
                await client.close()
                return
    raise SystemExit(f"no pong from {bot} within {TIMEOUT_S} s")


def main(argv):
    if len(argv) >= 1 and argv[0] == "setup":
        asyncio.run(setup(argv[1:]))
    elif len(argv) == 2 and argv[0] == "invite":
        asyncio.run(invite(argv[1]))
    elif len(argv) == 3 and argv[0] == "ping":
        asyncio.run(ping(argv[1], argv[2]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
