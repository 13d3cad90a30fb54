"""A stand-in for `botrunner run -c FILE` written in Python, used only to check the tests in
test_fleet.py themselves: `E2E_SUPERVISOR=tests/e2e/fake_supervisor.py pytest
tests/e2e/test_fleet.py` must pass. It is not a model of the C supervisor's design.

It validates with the real `botrunner check`, runs the real `botrunner worker`s as its
children, reads their activity from bot.db, and serves the status endpoint. It cannot
unseal the sender's access token, so it posts notices with one the Synapse admin API hands
out for the sender's account ($E2E_FAKE_ADMIN_TOKEN, set by fleet.py for it only)."""
import datetime
import http.server
import json
import os
import pathlib
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BOTRUNNER = os.environ.get("BOTRUNNER_BIN") or str(ROOT / "build" / "botrunner")
FIRST_BACKOFF_S = 1
MAX_BACKOFF_S = 60
PATHS = ("/status", "/metrics", "/_matrix/maubot/v1/version")


def log(level, msg):
    sys.stderr.write(f"{level} [supervisor] {msg}\n")
    sys.stderr.flush()


def iso(t):
    if not t:
        return None
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def sd_notify(text):
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), addr)


class Supervisor:
    def __init__(self, path):
        self.path = path
        self.cfg = self.load()
        self.workers = {}  # id -> dict(proc, restarts, next_start, since, error_at)
        self.notes = []
        self.lock = threading.Lock()
        self.flags = set()
        self.started = time.time()
        self.version = subprocess.run([BOTRUNNER, "--version"], capture_output=True,
                                      text=True).stdout.split()[-1]
        self.token = None
        self.sync_max_age = int(os.environ.get("BOTRUNNER_HEALTH_SYNC_MAX_AGE_S", 600))
        self.error_window = int(os.environ.get("BOTRUNNER_HEALTH_ERROR_WINDOW_S", 300))
        self.last_status_line = None

    def check(self):
        proc = subprocess.run([BOTRUNNER, "check", "-c", self.path], capture_output=True,
                              text=True)
        return proc.returncode, proc.stderr

    def load(self):
        return yaml.safe_load(open(self.path))

    def decls(self, cfg=None):
        return {i["id"]: i for i in (cfg or self.cfg)["instances"] if i.get("enabled", True)}

    # --- workers ---------------------------------------------------------------------

    def spawn(self, iid):
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        w = self.workers.setdefault(iid, {"restarts": 0, "error_at": 0, "backoff": 0})
        w["proc"] = subprocess.Popen([BOTRUNNER, "worker", "--instance", iid, "-c", self.path],
                                     stdin=subprocess.DEVNULL, env=env)
        w["next_start"] = None
        w["since"] = time.time()
        log("INFO", f"started {iid} (pid {w['proc'].pid})")

    def stop(self, iid):
        w = self.workers.pop(iid, None)
        if w and w.get("proc") and w["proc"].poll() is None:
            w["proc"].send_signal(signal.SIGTERM)
            w["proc"].wait(10)

    def reap(self):
        now = time.monotonic()
        for iid, w in list(self.workers.items()):
            p = w.get("proc")
            if p is not None and p.poll() is not None:
                rc = p.returncode
                w["proc"] = None
                w["backoff"] = min(MAX_BACKOFF_S, w["backoff"] * 2 or FIRST_BACKOFF_S)
                w["next_start"] = now + w["backoff"]
                w["since"] = time.time()
                w["error_at"] = time.time()
                why = (f"killed by {signal.Signals(-rc).name}" if rc < 0
                       else f"exited with status {rc}")
                self.notify(iid, "CRITICAL", f"worker {why}; restarting in {w['backoff']} s")
            elif p is None and w["next_start"] is not None and now >= w["next_start"]:
                w["restarts"] += 1
                self.spawn(iid)

    # --- notices ---------------------------------------------------------------------

    def notify(self, iid, severity, message):
        text = f"[{severity}] {iid or 'botrunner'}: {message}"
        log(severity, text)
        self.notes.insert(0, {"timestamp": iso(time.time()), "source_instance": iid,
                              "severity": severity, "message": message})
        n = self.cfg.get("notifications")
        if not n:
            return
        hs = self.cfg["homeserver"]["url"]
        sender = self.decls()[n["sender"]]["user"]
        try:
            if self.token is None:
                self.token = self.http(
                    "POST", f"{hs}/_synapse/admin/v1/users/{urllib.parse.quote(sender)}/login",
                    {}, os.environ["E2E_FAKE_ADMIN_TOKEN"])["access_token"]
            txn = f"fake{time.monotonic_ns()}"
            self.http("PUT", f"{hs}/_matrix/client/v3/rooms/{urllib.parse.quote(n['room'])}"
                             f"/send/m.room.message/{txn}",
                      {"msgtype": "m.notice", "body": text}, self.token)
        except urllib.error.HTTPError as e:
            log("WARN", f"cannot post a notice: {e.code} {e.url}: {e.read()[:300]!r}")
        except (OSError, KeyError) as e:
            log("WARN", f"cannot post a notice: {e}")

    @staticmethod
    def http(method, url, body, token):
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    # --- reload ----------------------------------------------------------------------

    def reload(self):
        code, errors = self.check()
        if code != 0:
            for line in errors.splitlines():
                log("ERROR", f"reload refused: {line}")
            self.notify(None, "ERROR", "reload refused: the new config is invalid; the old "
                                       "one keeps running (see the journal)")
            return
        new = self.load()
        old_d, new_d = self.decls(), self.decls(new)
        self.cfg = new
        for iid in old_d:
            if iid not in new_d or new_d[iid] != old_d[iid]:
                self.stop(iid)
        for iid in new_d:
            if iid not in old_d or new_d[iid] != old_d[iid]:
                self.spawn(iid)
        log("INFO", "reloaded")

    # --- status ----------------------------------------------------------------------

    def db_rows(self):
        db = pathlib.Path(self.cfg["state_directory"]) / "bot.db"
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2)
            try:
                return {r[0]: r for r in con.execute(
                    "SELECT id, state, state_since, last_sync_at, last_message_at, last_error "
                    "FROM instances")}
            finally:
                con.close()
        except sqlite3.Error:
            return {}

    def status(self):
        with self.lock:
            return self._status()

    def _status(self):
        rows = self.db_rows()
        now = time.time()
        insts, failed, reasons, active = [], [], [], 0
        for iid, d in self.decls().items():
            w = self.workers.get(iid, {})
            row = rows.get(iid) or (iid, "enabled", None, None, None, None)
            alive = w.get("proc") is not None and w["proc"].poll() is None
            state = ("running" if row[1] == "running" else row[1]) if alive else "restarting"
            since = w.get("since", now)
            last_sync = row[3] or 0
            fine = alive and state == "running"
            active += fine
            if not fine:
                reasons.append(f"{iid} is {state}")
            elif now - max(last_sync, since if last_sync < since else 0) >= self.sync_max_age:
                reasons.append(f"{iid} has not synced for {int(now - last_sync)} s")
                fine = False
            elif now - w.get("error_at", 0) < self.error_window:
                reasons.append(f"{iid} logged a CRITICAL error")
                fine = False
            if not fine:
                failed.append(iid)
            insts.append({"id": iid, "plugin": d["plugin"], "user": d["user"], "enabled": True,
                          "state": state, "state_since": iso(since),
                          "restarts": w.get("restarts", 0), "last_sync_at": iso(row[3]),
                          "last_message_at": iso(row[4]), "last_error": row[5]})
        service = "healthy" if not failed else ("failed" if active == 0 else "degraded")
        used = [i["id"] for i in insts if i["state"] == "running"]
        notes = list(self.notes)
        return {"service_status": service, "version": self.version,
                "uptime_s": round(now - self.started, 3),
                "enabled_instances_count": len(insts), "active_instances_count": active,
                "failed_instances": failed, "reasons": reasons, "instances": insts,
                "plugins": [{"id": "botrunner.echo", "version": "0.1.0",
                             "state": "active" if used else "loaded",
                             "used_by": sorted(i["id"] for i in insts)}],
                "notifications": notes}

    def serve(self):
        sup = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self, code, ctype, body, allow=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if allow:
                    self.send_header("Allow", allow)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path == "/_matrix/maubot/v1/version":
                    self.answer(200, "application/json",
                                json.dumps({"version": sup.version}).encode())
                elif path == "/status":
                    self.answer(200, "application/json", json.dumps(sup.status()).encode())
                elif path == "/metrics":
                    n = sup.status()["active_instances_count"]
                    self.answer(200, "text/plain; version=0.0.4; charset=utf-8",
                                (f"# HELP botrunner_instances_running Workers running.\n"
                                 f"# TYPE botrunner_instances_running gauge\n"
                                 f"botrunner_instances_running {n}\n").encode())
                else:
                    self.answer(404, "text/plain", b"not found\n")

            do_HEAD = do_GET

            def refuse(self):
                if self.path.split("?")[0] in PATHS:
                    self.answer(405, "text/plain", b"method not allowed\n", "GET, HEAD")
                else:
                    self.answer(404, "text/plain", b"not found\n")

            do_POST = do_PUT = do_DELETE = refuse

            def log_message(self, *args):
                pass

        st = self.cfg["status"]
        srv = http.server.ThreadingHTTPServer((st["address"], st["port"]), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()

    # --- main loop -------------------------------------------------------------------

    def run(self):
        code, errors = self.check()
        if code != 0:
            sys.stderr.write(errors)
            return 1
        pathlib.Path(self.cfg["state_directory"]).mkdir(mode=0o700, exist_ok=True)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda s, _f: self.flags.add(s))
        self.serve()
        for iid in self.decls():
            self.spawn(iid)
        sd_notify("READY=1")
        while True:
            if signal.SIGTERM in self.flags or signal.SIGINT in self.flags:
                sd_notify("STOPPING=1")
                with self.lock:
                    for iid in list(self.workers):
                        self.stop(iid)
                return 0
            with self.lock:  # the HTTP thread reads the workers under it
                if signal.SIGHUP in self.flags:
                    self.flags.discard(signal.SIGHUP)
                    self.reload()
                self.reap()
                st = self._status()
            line = (f"STATUS={st['active_instances_count']}/"
                    f"{st['enabled_instances_count']} instances running")
            if line != self.last_status_line:
                sd_notify(line)
                self.last_status_line = line
            time.sleep(0.05)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1:3] != ["run", "-c"]:
        sys.exit("usage: fake_supervisor.py run -c FILE")
    sys.exit(Supervisor(sys.argv[3]).run())
