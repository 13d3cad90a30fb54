"""A real Synapse for the end-to-end tests: configured, started and stopped on 127.0.0.1,
plus the few admin calls the tests need (an admin, registration tokens, revoking tokens).

Named synapse_server.py, not synapse.py: pytest puts this folder first on sys.path, and a
module named `synapse` would shadow the real package for anything in the test process."""
import atexit
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

# Synapse imports most of Twisted and its storage layer before it listens, and creates its
# SQLite schema on a first start: about 3-6 s on a 2-core machine, more under load (a
# parallel build). Two minutes is a hang, not a slow start.
START_TIMEOUT_S = 120
# A graceful shutdown takes well under a second; past this the process is killed.
STOP_TIMEOUT_S = 20
# Per HTTP request from the harness; the homeserver is local, so this is only a bound.
HTTP_TIMEOUT_S = 30
# Lines of a log attached to a failure report.
LOG_TAIL_LINES = 150

# Rate limits so high that no test meets them unless it lowers one on purpose. Synapse's
# defaults (0.2 messages/s, 3 registrations, 3 logins...) would slow every test down.
GENEROUS = {"per_second": 1000, "burst_count": 10000}
DEFAULT_RATE_LIMITS = {
    "rc_message": GENEROUS,
    "rc_registration": GENEROUS,
    "rc_registration_token_validity": GENEROUS,
    "rc_login": {"address": GENEROUS, "account": GENEROUS, "failed_attempts": GENEROUS},
    "rc_joins": {"local": GENEROUS, "remote": GENEROUS},
    "rc_joins_per_room": GENEROUS,
    "rc_invites": {"per_room": GENEROUS, "per_user": GENEROUS, "per_issuer": GENEROUS},
    "rc_room_creation": GENEROUS,
    "rc_admin_redaction": GENEROUS,
    "rc_media_create": GENEROUS,
    "rc_profile": GENEROUS,
}


# Every process the harness starts (Synapse, workers), so that none outlives an interrupted
# run: they run in sessions of their own, out of reach of the terminal's Ctrl-C.
_children = set()


def track(proc):
    _children.add(proc)
    return proc


@atexit.register
def _kill_children():
    for proc in _children:
        if proc.poll() is None:
            proc.kill()


class HttpResult:
    """Status and JSON body of one request (body is {} when the answer held no JSON)."""

    def __init__(self, status, body):
        self.status = status
        self.body = body

    def __repr__(self):
        return f"HttpResult({self.status}, {self.body!r})"


def http(method, url, body=None, token=None, timeout=HTTP_TIMEOUT_S):
    """One JSON request with urllib; an HTTP error status is a result, not an exception."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = {"_raw": raw.decode("utf-8", "replace")}
    return HttpResult(status, parsed)


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=LOG_TAIL_LINES):
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def quote(s):
    return urllib.parse.quote(s, safe="")


class Synapse:
    """One Synapse homeserver in `workdir`, listening on 127.0.0.1:`port` (client API and
    admin API only, no federation). Data survives stop()/start(), so a test can take the
    homeserver away and bring the same one back on the same port."""

    def __init__(self, workdir, server_name="test.local", rate_limits=None,
                 log_level=None, extra_config=None):
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.server_name = server_name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.dir / "homeserver.yaml"
        self.log_path = self.dir / "homeserver.log"
        # Its stdout and stderr: errors from before its logging is set up land here.
        self.output_path = self.dir / "homeserver.out"
        self.shared_secret = secrets.token_hex(16)
        self.rate_limits = dict(DEFAULT_RATE_LIMITS)
        self.rate_limits.update(rate_limits or {})
        self.log_level = log_level or os.environ.get("E2E_SYNAPSE_LOG_LEVEL", "WARNING")
        # Top-level homeserver.yaml keys set last, over the harness's own (the upload
        # benchmark raises max_upload_size, for one).
        self.extra_config = dict(extra_config or {})
        self.proc = None
        self.admin_user = None
        self.admin_token = None
        self.registration_token = None
        self.startup_seconds = None  # of the latest start(), for the report
        self._write_config()

    # --- configuration ---------------------------------------------------------------

    def _write_config(self):
        log_config = self.dir / "log.yaml"
        log_config.write_text(yaml.safe_dump({
            "version": 1,
            "formatters": {"precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                          "%(request)s - %(message)s"}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter",
                                    "request": ""}},
            "handlers": {"file": {"class": "logging.FileHandler",
                                  "filename": str(self.log_path),
                                  "formatter": "precise", "filters": ["context"]}},
            "root": {"level": self.log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }))
        self._write_signing_key(self.dir / "signing.key")
        media = self.dir / "media"
        media.mkdir(exist_ok=True)
        config = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.base_url}/",
            "pid_file": str(self.dir / "homeserver.pid"),
            "report_stats": False,
            "listeners": [{
                "port": self.port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }],
            "database": {"name": "sqlite3",
                         "args": {"database": str(self.dir / "homeserver.db")}},
            "log_config": str(log_config),
            "media_store_path": str(media),
            "signing_key_path": str(self.dir / "signing.key"),
            "enable_registration": True,
            "registration_requires_token": True,
            "registration_shared_secret": self.shared_secret,
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_metrics": False,
            "allow_guest_access": False,
        }
        config.update(self.rate_limits)
        config.update(self.extra_config)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    @staticmethod
    def _write_signing_key(path):
        """What `--generate-keys` does, in-process (saves a Python start-up): an ed25519
        key in Synapse's own format, through signedjson, which Synapse itself uses."""
        if path.exists():
            return
        import signedjson.key  # a dependency of matrix-synapse, installed with it
        key = signedjson.key.generate_signing_key("a_" + secrets.token_hex(2))
        with open(path, "w") as f:
            signedjson.key.write_signing_keys(f, [key])

    # --- process ---------------------------------------------------------------------

    def start(self, timeout=START_TIMEOUT_S):
        """Start Synapse and return once /health answers 200."""
        assert self.proc is None, "Synapse is already running"
        began = time.monotonic()
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)  # so that `synapse` is the package, never a test module
        out = open(self.output_path, "ab")
        self.proc = track(subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "--config-path",
             str(self.config_path)],
            cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True))
        out.close()
        deadline = began + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"Synapse exited with status {code} while starting:\n"
                                   f"{tail(self.output_path)}\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Synapse did not answer /health within {timeout} s:\n"
                                   f"{tail(self.output_path)}\n{tail(self.log_path)}")
            time.sleep(0.1)
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL if it lingers; the port is free when this returns."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._wait_port_free()

    def _wait_port_free(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", self.port))
                    return
                except OSError:
                    time.sleep(0.1)

    def restart(self):
        self.stop()
        self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self):
        """The tails of Synapse's log and of its own output, for a failure report."""
        return f"--- {self.log_path}\n{tail(self.log_path)}\n" \
               f"--- {self.output_path}\n{tail(self.output_path)}"

    # --- requests --------------------------------------------------------------------

    def api(self, method, path, body=None, token=None):
        return http(method, self.base_url + path, body, token)

    def admin(self, method, path, body=None):
        """A request with the admin's token; any status but 2xx is an error here."""
        res = self.api(method, path, body, self.admin_token)
        if not 200 <= res.status < 300:
            raise RuntimeError(f"{method} {path}: {res.status} {res.body}")
        return res.body

    def user_id(self, localpart):
        return f"@{localpart}:{self.server_name}"

    # --- set-up: an admin and a registration token -----------------------------------

    def bootstrap(self):
        """Create the admin (shared-secret registration, as register_new_matrix_user
        does) and one registration token without a use limit."""
        self.admin_user, self.admin_token = self.register_with_shared_secret(
            "admin", secrets.token_urlsafe(12), admin=True)
        self.registration_token = self.new_registration_token()

    def register_with_shared_secret(self, localpart, password, admin=False):
        """POST /_synapse/admin/v1/register: the endpoint register_new_matrix_user calls,
        with the same HMAC-SHA1 over nonce, user, password and admin flag."""
        nonce = self.api("GET", "/_synapse/admin/v1/register").body["nonce"]
        mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode())
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        res = self.api("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": localpart, "password": password,
            "admin": admin, "mac": mac.hexdigest()})
        if res.status != 200:
            raise RuntimeError(f"shared-secret registration of {localpart}: {res}")
        return res.body["user_id"], res.body["access_token"]

    def new_registration_token(self, uses_allowed=None):
        body = {} if uses_allowed is None else {"uses_allowed": uses_allowed}
        return self.admin("POST", "/_synapse/admin/v1/registration_tokens/new", body)["token"]

    def registration_token_info(self, token):
        """{token, uses_allowed, pending, completed, expiry_time}."""
        return self.admin("GET", f"/_synapse/admin/v1/registration_tokens/{quote(token)}")

    # --- users -----------------------------------------------------------------------

    def create_user(self, localpart, password):
        """An account with a password, made by the admin (no registration token used)."""
        user_id = self.user_id(localpart)
        self.admin("PUT", f"/_synapse/admin/v2/users/{quote(user_id)}",
                   {"password": password, "admin": False})
        return user_id

    def user(self, user_id):
        """The admin's view of an account, or None when it does not exist."""
        res = self.api("GET", f"/_synapse/admin/v2/users/{quote(user_id)}",
                       token=self.admin_token)
        if res.status == 404:
            return None
        if res.status != 200:
            raise RuntimeError(f"GET user {user_id}: {res}")
        return res.body

    def devices(self, user_id):
        return self.admin("GET", f"/_synapse/admin/v2/users/{quote(user_id)}/devices")["devices"]

    def revoke_tokens(self, user_id):
        """Log the user out everywhere: deleting a device deletes its access tokens, so
        the next request with one of them gets 401 M_UNKNOWN_TOKEN (soft_logout false).
        Returns the ids of the devices deleted."""
        ids = [d["device_id"] for d in self.devices(user_id)]
        if ids:
            self.admin("POST", f"/_synapse/admin/v2/users/{quote(user_id)}/delete_devices",
                       {"devices": ids})
        return ids

    def exempt_from_rate_limits(self, user_id):
        """Per-user override of rc_message (0/0 means no limit), so that a test's person
        is not slowed by the limit the test puts on the bot."""
        self.admin("POST", f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit",
                   {"messages_per_second": 0, "burst_count": 0})

    def membership(self, room_id, user_id):
        """The user's membership in the room as the server holds it (admin's view), or
        None when the user never had one."""
        ev = self.member_event(room_id, user_id)
        return ev.get("content", {}).get("membership") if ev else None

    def member_event(self, room_id, user_id):
        """The user's current m.room.member event in the room, whole, or None."""
        state = self.admin("GET", f"/_synapse/admin/v1/rooms/{quote(room_id)}/state")["state"]
        for ev in state:
            if ev.get("type") == "m.room.member" and ev.get("state_key") == user_id:
                return ev
        return None
