"""A human user for the end-to-end tests: a matrix-nio AsyncClient behind synchronous
methods (each Person owns an event loop), so tests read as plain steps."""
import asyncio
import time
import urllib.parse

from nio import (AsyncClient, AsyncClientConfig, JoinError, RoomCreateError,
                 RoomInviteError, RoomSendError, SyncError, WhoamiError)

# How long one /sync long-poll may wait for news; short, so wait_for() checks its deadline
# and its guard often.
SYNC_POLL_MS = 1000
# The timeline of one sync may hold this many events per room before Synapse cuts it
# ("limited"): above anything a test sends between two polls (50 pings, 50 replies).
TIMELINE_LIMIT = 1000
SYNC_FILTER = {"room": {"timeline": {"limit": TIMELINE_LIMIT}},
               "presence": {"not_types": ["*"]}}
# Default wait for a message or a membership.
DEFAULT_WAIT_S = 30


def strip_reply_fallback(body):
    """The body without a rich-reply fallback ("> <@user> quoted" lines and the blank line
    after them), as the spec tells clients to show it; a body without one is unchanged."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    i = 0
    while i < len(lines) and lines[i].startswith(">"):
        i += 1
    if i < len(lines) and lines[i] == "":
        i += 1
    return "\n".join(lines[i:])


def in_reply_to(event):
    """The event id a message replies to (m.relates_to.m.in_reply_to.event_id), or None."""
    rel = event.get("content", {}).get("m.relates_to") or {}
    return (rel.get("m.in_reply_to") or {}).get("event_id")


class Person:
    """One account on the test homeserver, registered with the registration token through
    nio's two-stage User-Interactive Auth (m.login.registration_token, then m.login.dummy).
    Every timeline event of every joined room is kept in `events` (room_id, event dict),
    in the order the server gave them."""

    def __init__(self, hs, localpart, password="a person's password"):
        self.hs = hs
        self.user_id = hs.user_id(localpart)
        self.localpart = localpart
        self.password = password
        self.loop = asyncio.new_event_loop()
        self.client = AsyncClient(
            hs.base_url, self.user_id,
            config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False,
                                     request_timeout=30, max_timeouts=5))
        self.events = []
        self._seen = set()
        self._synced = False

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self):
        self.run(self.client.close())
        self.loop.close()

    # --- account ---------------------------------------------------------------------

    def register(self, token=None):
        token = token or self.hs.registration_token
        resp = self.run(self.client.register_with_token(self.localpart, self.password, token))
        if not getattr(resp, "access_token", None):
            raise AssertionError(f"registering {self.user_id} with a token failed: {resp}")
        assert resp.user_id == self.user_id, resp
        self.client.access_token = resp.access_token
        self.client.user_id = resp.user_id
        self.client.device_id = resp.device_id
        return self

    def whoami(self):
        resp = self.run(self.client.whoami())
        if isinstance(resp, WhoamiError):
            return None
        return resp.user_id

    # --- rooms -----------------------------------------------------------------------

    def create_room(self, name=None, invite=(), alias=None):
        """A private room (invite only), so only invited accounts can join; alias: the
        localpart of a room alias to publish for it (#alias:server)."""
        resp = self.run(self.client.room_create(name=name, invite=list(invite), alias=alias))
        if isinstance(resp, RoomCreateError):
            raise AssertionError(f"room_create: {resp}")
        return resp.room_id

    def point_alias(self, alias, room_id):
        """Make the room alias (#alias:server) name room_id: deleted first if it names
        another room (the person made it), then created."""
        from urllib.parse import quote
        path = f"/_matrix/client/v3/directory/room/{quote(alias, safe='')}"
        self.hs.api("DELETE", path, None, self.client.access_token)
        res = self.hs.api("PUT", path, {"room_id": room_id}, self.client.access_token)
        if not 200 <= res.status < 300:
            raise AssertionError(f"PUT {path}: {res.status} {res.body}")

    def invite(self, room_id, user_id):
        resp = self.run(self.client.room_invite(room_id, user_id))
        if isinstance(resp, RoomInviteError):
            raise AssertionError(f"invite {user_id} to {room_id}: {resp}")

    def join(self, room_id):
        resp = self.run(self.client.join(room_id))
        if isinstance(resp, JoinError):
            raise AssertionError(f"join {room_id}: {resp}")

    def send(self, room_id, body, msgtype="m.text"):
        """Send a text message; returns its event id. nio waits out 429s by itself."""
        resp = self.run(self.client.room_send(
            room_id, "m.room.message", {"msgtype": msgtype, "body": body}))
        if isinstance(resp, RoomSendError):
            raise AssertionError(f"send to {room_id}: {resp}")
        return resp.event_id

    def send_event(self, room_id, event_type, content):
        """Send any event (a threaded message, a reaction); returns its event id."""
        resp = self.run(self.client.room_send(room_id, event_type, content))
        if isinstance(resp, RoomSendError):
            raise AssertionError(f"send {event_type} to {room_id}: {resp}")
        return resp.event_id

    def send_many(self, room_id, bodies):
        """Send several messages at once (concurrent requests), so that they reach the
        server, and a bot, as one burst; returns their event ids in the order given."""
        async def all_of():
            return await asyncio.gather(*(self.client.room_send(
                room_id, "m.room.message", {"msgtype": "m.text", "body": b})
                for b in bodies))
        resps = self.run(all_of())
        bad = [r for r in resps if isinstance(r, RoomSendError)]
        if bad:
            raise AssertionError(f"send to {room_id}: {bad[0]}")
        return [r.event_id for r in resps]

    def send_raw(self, room_id, body):
        """Send through the plain HTTP helper, without nio's automatic 429 retries:
        returns the HttpResult (status 200 with event_id, or 429 with retry_after_ms)."""
        txn = f"raw{time.monotonic_ns()}"
        path = (f"/_matrix/client/v3/rooms/{_q(room_id)}/send/m.room.message/{txn}")
        return self.hs.api("PUT", path, {"msgtype": "m.text", "body": body},
                           token=self.client.access_token)

    # --- receiving -------------------------------------------------------------------

    def sync_once(self, timeout_ms=SYNC_POLL_MS):
        """One /sync; new timeline events are appended to `events`. Returns the invited
        room ids seen in it."""
        resp = self.run(self.client.sync(timeout=timeout_ms if self._synced else 0,
                                         sync_filter=SYNC_FILTER))
        if isinstance(resp, SyncError):
            raise AssertionError(f"sync: {resp}")
        self._synced = True
        for room_id, room in resp.rooms.join.items():
            for ev in room.timeline.events:
                src = ev.source
                eid = src.get("event_id")
                if eid and eid not in self._seen:
                    self._seen.add(eid)
                    self.events.append((room_id, src))
        return list(resp.rooms.invite.keys())

    def wait_for(self, predicate, timeout=DEFAULT_WAIT_S, guard=None, what="a message"):
        """Sync until an event satisfies predicate(room_id, event); returns that event.
        guard, when given, is called on every round and may raise (a bot that died)."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for room_id, ev in self.events[checked:]:
                if predicate(room_id, ev):
                    return ev
            checked = len(self.events)
            if guard:
                guard()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.user_id} waited {timeout} s for {what}")
            self.sync_once(int(min(remaining, SYNC_POLL_MS / 1000) * 1000))

    def wait_message(self, room_id, sender, timeout=DEFAULT_WAIT_S, guard=None,
                     reply_to=None):
        """The first m.room.message in room_id from sender (replying to reply_to, when
        given)."""
        def match(rid, ev):
            return (rid == room_id and ev.get("type") == "m.room.message"
                    and ev.get("sender") == sender
                    and (reply_to is None or in_reply_to(ev) == reply_to))
        what = f"a message from {sender}" + (f" replying to {reply_to}" if reply_to else "")
        return self.wait_for(match, timeout, guard, what)

    def wait_invite(self, room_id, timeout=DEFAULT_WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if room_id in self.sync_once():
                return
        raise AssertionError(f"{self.user_id} saw no invite to {room_id} in {timeout} s")

    def messages_from(self, room_id, sender):
        return [ev for rid, ev in self.events
                if rid == room_id and ev.get("sender") == sender
                and ev.get("type") == "m.room.message"]

    def drain(self, seconds):
        """Keep syncing for a while, to catch what arrives late (a duplicate reply)."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self.sync_once(int(min(remaining, SYNC_POLL_MS / 1000) * 1000) or 1)


def _q(s):
    return urllib.parse.quote(s, safe="")
