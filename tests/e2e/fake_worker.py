"""A stand-in for `botrunner worker` written with matrix-nio, used only to check the tests
in test_worker.py themselves: `E2E_WORKER_BIN=tests/e2e/fake_worker.py pytest
tests/e2e/test_worker.py` must pass. It is not a model of the C worker's design.

Usage: fake_worker.py worker --instance ID -c FILE (the same contract). State (token,
device, next_batch, handled event ids) is a JSON file in the state directory, replaced
atomically; replies use a transaction id derived from the command's event id, so a reply
re-sent after a crash is deduplicated by the homeserver."""
import argparse
import asyncio
import hashlib
import json
import os
import pathlib
import secrets
import signal
import sys
import time

import yaml
from nio import (AsyncClient, AsyncClientConfig, LoginResponse, RegisterResponse,
                 RoomSendResponse, SyncResponse)

FILTER = {"room": {"timeline": {"limit": 1000}}, "presence": {"not_types": ["*"]}}


def credential(name):
    path = name if "/" in name else os.path.join(os.environ["CREDENTIALS_DIRECTORY"], name)
    text = open(path).read()
    return text[:-1] if text.endswith("\n") else text


class Worker:
    def __init__(self, cfg, inst):
        self.cfg, self.inst = cfg, inst
        self.user_id = inst["user"]
        self.rooms = set(inst.get("room_subscriptions", []))
        self.prefix = inst.get("command_prefix", "!echo")
        self.max_age_ms = inst.get("catch_up_max_age", 3600) * 1000
        self.state_path = pathlib.Path(cfg["state_directory"]) / f"fake-{inst['id']}.json"
        self.state = (json.loads(self.state_path.read_text()) if self.state_path.exists()
                      else {"handled": []})
        self.client = AsyncClient(cfg["homeserver"]["url"], self.user_id, config=AsyncClientConfig(
            encryption_enabled=False, store_sync_tokens=False, request_timeout=30))

    def save(self):
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.state_path)

    async def login(self):
        localpart = self.user_id[1:].split(":")[0]
        if "password_file" in self.inst:
            self.client.device_id = self.state.get("device_id")
            resp = await self.client.login(credential(self.inst["password_file"]))
            assert isinstance(resp, LoginResponse), resp
        else:
            resp = await self.client.register_with_token(
                localpart, secrets.token_hex(16), credential(self.cfg["registration_token_file"]))
            assert isinstance(resp, RegisterResponse), resp
        self.state.update(token=resp.access_token, device_id=resp.device_id)
        self.save()

    def use_token(self):
        self.client.access_token = self.state["token"]
        self.client.device_id = self.state["device_id"]
        self.client.user_id = self.user_id

    async def call(self, coro_fn):
        """A request; on M_UNKNOWN_TOKEN log in again (password) and retry."""
        while True:
            resp = await coro_fn()
            if getattr(resp, "status_code", None) == "M_UNKNOWN_TOKEN":
                await self.login()
                self.use_token()
                continue
            return resp

    async def reply(self, room_id, ev, text):
        txn = "r" + hashlib.sha256(ev["event_id"].encode()).hexdigest()[:32]
        content = {"msgtype": "m.text", "body": text,
                   "m.relates_to": {"m.in_reply_to": {"event_id": ev["event_id"]}}}
        while True:
            resp = await self.call(lambda: self.client.room_send(
                room_id, "m.room.message", content, tx_id=txn))
            if isinstance(resp, RoomSendResponse):
                return
            await asyncio.sleep(1)

    async def handle(self, room_id, ev):
        if ev["event_id"] in self.state["handled"] or ev.get("sender") == self.user_id:
            return
        if time.time() * 1000 - ev.get("origin_server_ts", 0) > self.max_age_ms:
            return
        body = ev.get("content", {}).get("body", "")
        if ev.get("type") == "m.room.message" and body.startswith(self.prefix + " "):
            name, _, args = body[len(self.prefix) + 1:].strip().partition(" ")
            if name == "ping":
                await self.reply(room_id, ev, "pong")
            elif name == "echo":
                await self.reply(room_id, ev, args.strip())
        self.state["handled"].append(ev["event_id"])
        self.save()

    async def run(self):
        if "token" not in self.state:
            await self.login()
        self.use_token()
        while True:
            resp = await self.call(lambda: self.client.sync(
                timeout=10000, sync_filter=FILTER, since=self.state.get("next_batch")))
            if not isinstance(resp, SyncResponse):
                await asyncio.sleep(1)
                continue
            for room_id in resp.rooms.invite:
                if room_id in self.rooms:
                    await self.call(lambda: self.client.join(room_id))
                else:
                    await self.call(lambda: self.client.room_leave(room_id))
            for room_id, room in resp.rooms.join.items():
                if room_id in self.rooms:
                    for ev in room.timeline.events:
                        await self.handle(room_id, ev.source)
            self.state["next_batch"] = resp.next_batch
            self.save()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["worker"])
    ap.add_argument("--instance", required=True)
    ap.add_argument("-c", required=True)
    args = ap.parse_args()
    cfg = yaml.safe_load(open(args.c))
    inst = next(i for i in cfg["instances"] if i["id"] == args.instance)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    asyncio.run(Worker(cfg, inst).run())


if __name__ == "__main__":
    sys.exit(main())
