"""The supervisor side of the end-to-end tests: writes a botrunner config for N echo
instances and its credentials, runs `botrunner run -c FILE` as a subprocess, finds its
workers through /proc, signals it (SIGHUP to reload, SIGTERM to stop), rewrites the config
in place for a reload, and reads the status endpoint and `botrunner health`.

Each instance echo-N is the bot @echobot-K:<server> (K unique in the test run), answers
the command prefix "!eN", has features.rate_limiting false; notifications go to the admin
room given, posted by the first instance (whose room_subscriptions include that room, so
that it joins it when invited).

E2E_SUPERVISOR=tests/e2e/fake_supervisor.py runs a Python stand-in instead of `botrunner
run` (the workers, `check` and `health` stay the real binary's): it checks the tests."""
import json
import os
import pathlib
import resource
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml

from botworker import ECHO_PLUGIN, ECHO_PLUGIN_ID, wait_membership, wait_until
from person import strip_reply_fallback
from synapse_server import free_port, tail, track

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The binary under test: $E2E_FLEET_BIN, else $BOTRUNNER_BIN, else the plain build.
# Made absolute: the supervisor runs in the fleet's directory.
BOTRUNNER = os.path.abspath(os.environ.get("E2E_FLEET_BIN") or os.environ.get("BOTRUNNER_BIN")
                            or str(ROOT / "build" / "botrunner"))
# What runs as the supervisor: `$BOTRUNNER run`, unless $E2E_SUPERVISOR names a .py stand-in
# (fake_supervisor.py, which checks the tests themselves; it is given the Synapse admin's
# token in $E2E_FAKE_ADMIN_TOKEN to post notices as the sender).
FAKE_SUPERVISOR = (os.path.abspath(os.environ["E2E_SUPERVISOR"])
                   if os.environ.get("E2E_SUPERVISOR") else None)

# The supervisor answers its status endpoint and has started every enabled worker within
# this (it validates the config and prepares the state directory first; on a loaded
# 2-core machine under ASan that is seconds, not a minute).
READY_TIMEOUT_S = 60
# The contract's bound on a graceful stop, for the supervisor and every worker.
STOP_TIMEOUT_S = 15
# A bot's account exists and it joined the rooms it was invited to.
ACCOUNT_TIMEOUT_S = 30
# A reply in normal operation (the bot's sync is a long poll: usually well under 1 s).
REPLY_TIMEOUT_S = 30
# One `botrunner health` or status request; the endpoint is local.
HTTP_TIMEOUT_S = 10
# What must never appear in the supervisor's (and its workers') output.
CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
# Environment the harness's own shell or CI may carry that would change where botrunner
# logs or whom it notifies; removed before starting it.
SCRUBBED_ENV = ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID",
                "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID", "CREDENTIALS_DIRECTORY")


class Decl:
    """One instance's declaration, rendered into the config's instances list."""

    def __init__(self, instance_id, localpart, user_id, prefix, rooms, password=None,
                 enabled=True, catch_up_max_age=3600, plugin_id=ECHO_PLUGIN_ID, settings=None):
        self.id = instance_id
        self.localpart = localpart
        self.user_id = user_id
        self.prefix = prefix
        self.rooms = list(rooms)
        self.password = password
        self.enabled = enabled
        self.catch_up_max_age = catch_up_max_age
        self.plugin_id = plugin_id
        self.settings = settings
        self.extra = {}  # more instance keys, rendered as they are (event_retries, ...)

    @property
    def password_credential(self):
        return f"{self.id}-password"

    def render(self):
        d = {
            "id": self.id,
            "plugin": self.plugin_id,
            "user": self.user_id,
            "enabled": self.enabled,
            "room_subscriptions": list(self.rooms),
            "command_prefix": self.prefix,
            "catch_up_max_age": self.catch_up_max_age,
            # The plugin-side limiter would hold back the pings of a test; the tests
            # measure the runner, not that limiter.
            "features": {"rate_limiting": False},
        }
        if self.password is not None:
            d["password_file"] = self.password_credential
        if self.settings is not None:
            d["config"] = self.settings
        d.update(self.extra)
        return d

    def __repr__(self):
        return f"Decl({self.id}, {self.user_id}, {self.prefix!r})"


class Proc:
    """A process seen in /proc: pid and start time (together they name one process even
    when the pid is reused), its state letter and its argv."""

    def __init__(self, pid, ppid, state, starttime, argv):
        self.pid, self.ppid, self.state, self.starttime, self.argv = \
            pid, ppid, state, starttime, argv

    @property
    def key(self):
        return (self.pid, self.starttime)

    def __repr__(self):
        return f"Proc({self.pid}, {self.state}, {' '.join(self.argv)!r})"


def read_proc(pid):
    """The Proc for pid, or None when there is none (or it vanished while read)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the
    # last ')'. starttime is field 22 of the line, the 20th after comm.
    rest = stat[stat.rindex(")") + 2:].split()
    argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    return Proc(pid, int(rest[1]), rest[0], int(rest[19]), argv)


def alive(key):
    """Whether the process (pid, starttime) still exists and has not exited (a zombie
    has exited)."""
    p = read_proc(key[0])
    return p is not None and p.starttime == key[1] and p.state != "Z"


def children(ppid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            p = read_proc(int(entry))
            if p is not None and p.ppid == ppid:
                out.append(p)
    return out


def worker_instance(argv):
    """The ID in an argv holding `worker --instance ID` (or --instance=ID), else None."""
    if "worker" not in argv:
        return None
    rest = argv[argv.index("worker") + 1:]
    for i, a in enumerate(rest):
        if a == "--instance" and i + 1 < len(rest):
            return rest[i + 1]
        if a.startswith("--instance="):
            return a.split("=", 1)[1]
    return None


def fetch(url, method="GET", body=None, timeout=HTTP_TIMEOUT_S):
    """(status, headers, raw body) of one request; an HTTP error status is a result."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw_request(port, request_line, timeout=HTTP_TIMEOUT_S):
    """Send one request by hand (Connection: close) and return the whole answer as bytes:
    for HEAD, to see that nothing follows the header block on the wire."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"{request_line}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
                  .encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


class NotifyListener:
    """A stand-in for systemd's notification socket (abstract AF_UNIX datagrams): the
    supervisor is started with NOTIFY_SOCKET naming it; every datagram is kept."""

    def __init__(self):
        self.name = f"botrunner-e2e-{os.getpid()}-{secrets.token_hex(4)}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.settimeout(0.2)
        self.messages = []  # (monotonic time, text)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return "@" + self.name

    def _run(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def assignments(self):
        """Every KEY=VALUE line received, in order."""
        return [line for _, m in self.messages for line in m.splitlines() if "=" in line]

    def close(self):
        self._stop = True
        self._thread.join(2)
        self.sock.close()


class Fleet:
    """`botrunner run -c FILE` in `workdir` with `count` echo instances echo-1..echo-N.

    hs: the Synapse (server_name, base_url, registration_token, user_id(), create_user()).
    rooms: the room ids every instance subscribes to. admin_room: the notifications room
    (posted to by echo-1, which also subscribes to it); None: no notifications.
    passwords: {instance id: password}: those accounts are created on the server with
    that password and the instance logs in with password_file; the others register with
    the registration token. new_localpart(prefix): a localpart unique in the test run.
    env: extra environment for the supervisor (the health thresholds, for one)."""

    def __init__(self, hs, workdir, new_localpart, count=3, rooms=(), admin_room=None,
                 passwords=None, env=None, log_level=None, plugin=None):
        self.hs = hs
        # (path, id) of the plugin every instance runs; the echo plugin by default.
        self.plugin_path, self.plugin_id = plugin or (ECHO_PLUGIN, ECHO_PLUGIN_ID)
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.new_localpart = new_localpart
        self.rooms = list(rooms)
        self.admin_room = admin_room
        self.passwords = dict(passwords or {})
        self.extra_env = dict(env or {})
        self.log_level = log_level or os.environ.get("E2E_FLEET_LOG_LEVEL", "DEBUG")
        self.config_path = self.dir / "botrunner.yaml"
        # Not made here: preparing the state directory is the supervisor's job.
        self.state_dir = self.dir / "state"
        self.creds_dir = self.dir / "credentials"
        self.log_path = self.dir / "supervisor.log"
        self.status_port = free_port()
        self.status_url = f"http://127.0.0.1:{self.status_port}"
        self.secret_key = secrets.token_hex(32)
        self.instances = {}  # id -> Decl, in config order
        self._next = 1
        self.proc = None
        self.notify = None
        self.seen_workers = set()  # (pid, starttime) of every worker ever seen
        self.started_at = None  # time.time() of the latest start()
        self.creds_dir.mkdir(mode=0o700, exist_ok=True)
        self._write_credential("secret-key", self.secret_key)
        self._write_credential("registration-token", hs.registration_token)
        for _ in range(count):
            self.add_instance()

    # --- the declaration -----------------------------------------------------------

    def _write_credential(self, name, value):
        path = self.creds_dir / name
        path.write_text(value + "\n")
        path.chmod(0o600)

    def add_instance(self, password=None, rooms=None):
        """Declare echo-N (N the next number), prefix "!eN"; with a password (or one given
        to the constructor for this id) its account is created on the server now."""
        n = self._next
        self._next += 1
        instance_id = f"echo-{n}"
        password = password if password is not None else self.passwords.get(instance_id)
        localpart = self.new_localpart("echobot")
        rooms = list(self.rooms if rooms is None else rooms)
        if n == 1 and self.admin_room and self.admin_room not in rooms:
            rooms.append(self.admin_room)
        decl = Decl(instance_id, localpart, self.hs.user_id(localpart), f"!e{n}", rooms,
                    password=password, plugin_id=self.plugin_id)
        if password is not None:
            self.hs.create_user(localpart, password)
            self._write_credential(decl.password_credential, password)
        self.instances[instance_id] = decl
        return decl

    def remove_instance(self, instance_id):
        return self.instances.pop(instance_id)

    @property
    def sender(self):
        """The notifications sender: the first instance."""
        return next(iter(self.instances.values()))

    def enabled(self):
        return [d for d in self.instances.values() if d.enabled]

    def secrets(self):
        """Every secret value the runner holds for this fleet, by name: none of them may
        ever appear in a notice, the status endpoint or the log."""
        out = {"secret-key": self.secret_key, "registration-token": self.hs.registration_token}
        for d in self.instances.values():
            if d.password is not None:
                out[d.password_credential] = d.password
        return out

    def config(self):
        """The config as a dict (a test may change it before write_config())."""
        cfg = {
            "homeserver": {"server_name": self.hs.server_name, "url": self.hs.base_url},
            "state_directory": str(self.state_dir),
            "secret_key_file": "secret-key",
            "registration_token_file": "registration-token",
            # Never the default 29316: tests may run beside a real deployment.
            "status": {"address": "127.0.0.1", "port": self.status_port},
            "logging": {"level": self.log_level},
            "plugins": [{"path": self.plugin_path}],
            "instances": [d.render() for d in self.instances.values()],
        }
        if self.admin_room:
            cfg["notifications"] = {"room": self.admin_room, "sender": self.sender.id}
        return cfg

    def write_config(self, cfg=None):
        """Write the config (the declaration, or the dict given) in place: the same file,
        truncated and rewritten, as an editor would."""
        text = yaml.safe_dump(cfg if cfg is not None else self.config(), sort_keys=False,
                              width=4096, allow_unicode=True)
        with open(self.config_path, "w") as f:
            f.write(text)
        return self.config_path

    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env["CREDENTIALS_DIRECTORY"] = str(self.creds_dir)
        env.update(self.extra_env)
        return env

    def check(self, timeout=60):
        """`botrunner check -c FILE` with the fleet's credentials."""
        return subprocess.run([BOTRUNNER, "check", "-c", str(self.config_path)],
                              capture_output=True, text=True, errors="replace",
                              env=self.env(), timeout=timeout)

    # --- the supervisor process ----------------------------------------------------

    def start(self, argv=None, wait=True):
        """Write the config and start `botrunner run -c FILE` (or argv, a stand-in) with
        stdout and stderr to supervisor.log; wait, unless told not to, until it is
        ready (wait_ready)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.write_config()
        if self.notify is None:
            self.notify = NotifyListener()
        env = self.env()
        env["NOTIFY_SOCKET"] = self.notify.address
        if argv is None and FAKE_SUPERVISOR:
            argv = [sys.executable, FAKE_SUPERVISOR, "run", "-c", str(self.config_path)]
            env["E2E_FAKE_ADMIN_TOKEN"] = self.hs.admin_token
            env["BOTRUNNER_BIN"] = BOTRUNNER
        argv = argv or [BOTRUNNER, "run", "-c", str(self.config_path)]
        with open(self.log_path, "ab") as log:
            log.write(f"=== test harness: {' '.join(argv)} at {time.time():.3f}\n".encode())
            log.flush()
            self.started_at = time.time()
            self.proc = track(subprocess.Popen(
                argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=env, start_new_session=True))
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def assert_running(self):
        """A guard for waits: fail at once, with the log, when the supervisor exited."""
        if self.proc is None:
            raise AssertionError("the supervisor was never started")
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"the supervisor exited with status {code}:\n{self.logs()}")

    def wait_ready(self, timeout=READY_TIMEOUT_S):
        """Until the status endpoint answers the version and /status (503 until the
        supervisor first publishes it), and every enabled instance has a worker."""
        def ready():
            try:
                for path in ("/_matrix/maubot/v1/version", "/status"):
                    if fetch(self.status_url + path, timeout=2)[0] != 200:
                        return False
            except OSError:
                return False
            return self.has_workers([d.id for d in self.enabled()])
        wait_until(ready, timeout, "the status endpoint (version and /status) and a worker "
                                   "per enabled instance", guard=self.assert_running)

    def send_signal(self, sig):
        self.assert_running()
        self.proc.send_signal(sig)

    def reload(self, cfg=None):
        """Rewrite the config in place, then SIGHUP."""
        self.write_config(cfg)
        self.send_signal(signal.SIGHUP)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit status. Lingering is an error (and it is
        then killed, with everything in its process group)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_all()
            raise AssertionError(f"the supervisor did not exit within {timeout} s of "
                                 f"SIGTERM:\n{self.logs()}")

    def _kill_all(self):
        """SIGKILL the supervisor's process group and every worker it was seen with."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        for key in self.seen_workers:
            if alive(key):
                try:
                    os.kill(key[0], signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def cleanup(self):
        """Teardown: stop whatever state it is in, never raise."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self._kill_all()
            for key in self.seen_workers:
                if alive(key):
                    try:
                        os.kill(key[0], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        finally:
            if self.notify is not None:
                self.notify.close()
                self.notify = None

    # --- its workers ---------------------------------------------------------------

    def workers(self):
        """{instance id: Proc} of the supervisor's live children running `worker
        --instance ID`. Two live workers for one instance are an error at once (two
        processes syncing one account)."""
        if self.proc is None:
            return {}
        found = {}
        for p in children(self.proc.pid):
            instance_id = worker_instance(p.argv)
            if instance_id is None or p.state == "Z":
                continue
            if instance_id in found:
                raise AssertionError(f"two workers of {instance_id} at once: "
                                     f"{found[instance_id]} and {p}")
            found[instance_id] = p
            self.seen_workers.add(p.key)
        return found

    def worker_pids(self):
        """{instance id: pid} of the live workers."""
        return {k: p.pid for k, p in self.workers().items()}

    def has_workers(self, ids):
        w = self.workers()
        return all(i in w for i in ids)

    def wait_worker(self, instance_id, other_than=None, timeout=READY_TIMEOUT_S):
        """The Proc of instance_id's worker once there is one (other than the pid given);
        fails if the supervisor exits meanwhile."""
        def found():
            p = self.workers().get(instance_id)
            return p if p is not None and p.pid != other_than else None
        return wait_until(found, timeout, f"a worker of {instance_id}"
                          + (f" other than pid {other_than}" if other_than else ""),
                          guard=self.assert_running, interval=0.05)

    def crash(self, instance_id, sig=signal.SIGSEGV):
        """Send sig to the instance's worker, as a crash would; without a core file
        (RLIMIT_CORE 0 on that process first: a core dump would only slow things down).
        Returns the Proc that was signalled."""
        p = self.workers()[instance_id]
        try:
            resource.prlimit(p.pid, resource.RLIMIT_CORE, (0, 0))
        except (OSError, ValueError):
            pass  # not fatal: the crash is the same, only slower
        os.kill(p.pid, sig)
        return p

    # --- status endpoint and `botrunner health` ------------------------------------

    def get(self, path, method="GET", body=None):
        return fetch(self.status_url + path, method=method, body=body)

    def status(self):
        code, _, raw = self.get("/status")
        assert code == 200, f"GET /status: {code} {raw[:500]!r}"
        return json.loads(raw)

    def health(self, timeout=HTTP_TIMEOUT_S + 20):
        """`botrunner health --url URL`: (exit code, stdout + stderr)."""
        proc = subprocess.run([BOTRUNNER, "health", "--url", self.status_url],
                              capture_output=True, text=True, errors="replace",
                              env={k: v for k, v in os.environ.items()
                                   if k not in SCRUBBED_ENV}, timeout=timeout)
        return proc.returncode, proc.stdout + proc.stderr

    # --- the Matrix side -----------------------------------------------------------

    def join(self, person, decls=None):
        """Every (or each given) enabled instance's account exists; the person, creator
        of the rooms, invites it to its rooms and it joins them."""
        decls = list(decls or self.enabled())
        for d in decls:
            wait_until(lambda d=d: self.hs.user(d.user_id), ACCOUNT_TIMEOUT_S,
                       f"the account {d.user_id} ({d.id}) to exist", guard=self.assert_running)
        for d in decls:
            for room in d.rooms:
                if self.hs.membership(room, d.user_id) not in ("join", "invite"):
                    person.invite(room, d.user_id)
        for d in decls:
            for room in d.rooms:
                wait_membership(self.hs, room, d.user_id, "join", guard=self.assert_running)

    # --- logs ----------------------------------------------------------------------

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def logs(self):
        return f"--- {self.log_path}\n{tail(self.log_path, 300)}"

    def crash_reports(self):
        """Lines of the supervisor's output (its workers' too) showing a sanitizer
        report."""
        return [line for line in self.log_text().splitlines()
                if any(m in line for m in CRASH_MARKERS)]


# --- talking to the bots ------------------------------------------------------------------


def body(event):
    return strip_reply_fallback(event.get("content", {}).get("body", ""))


def ping(person, room, decl, timeout=REPLY_TIMEOUT_S, guard=None, prefix=None):
    """Send "<prefix> ping" to room and wait for decl's pong replying to it; returns the
    round trip in seconds."""
    began = time.monotonic()
    eid = person.send(room, f"{prefix or decl.prefix} ping")
    reply = person.wait_message(room, decl.user_id, reply_to=eid, timeout=timeout,
                                guard=guard)
    assert "pong" in body(reply).lower(), reply
    return time.monotonic() - began


def messages_since(person, room, sender, index):
    """The m.room.message events from sender in room among person.events[index:]."""
    return [ev for rid, ev in person.events[index:]
            if rid == room and ev.get("sender") == sender
            and ev.get("type") == "m.room.message"]


if __name__ == "__main__":
    sys.exit("fleet.py is a module of the end-to-end tests; run pytest tests/e2e")
