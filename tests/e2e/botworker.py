"""The bot side of the end-to-end tests: writes a botrunner config and its credentials for
one echo instance, runs `botrunner worker --instance ID -c FILE` in the foreground as a
subprocess, and stops, kills and restarts it; plus waits on what the server sees of it."""
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time

import yaml

from synapse_server import free_port, tail, track

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The binary under test: $E2E_WORKER_BIN, else $BOTRUNNER_BIN, else the plain build. (A
# .py file is run with this Python: fake_worker.py, which checks the tests themselves.)
BOTRUNNER = (os.environ.get("E2E_WORKER_BIN") or os.environ.get("BOTRUNNER_BIN")
             or str(ROOT / "build" / "botrunner"))
# The echo plugin as the package the build packs (build/plugins/echo.mbp), as users deploy
# plugins; and as a directory (maubot.yaml + echo.so), as Nix builds lay them out.
ECHO_PLUGIN = os.environ.get("E2E_ECHO_PLUGIN") or str(ROOT / "build" / "plugins" / "echo.mbp")
ECHO_PLUGIN_DIR = str(ROOT / "build" / "plugins" / "echo")
ECHO_PLUGIN_ID = "botrunner.echo"
COMMAND_PREFIX = "!echo"

# A worker must leave within this after SIGTERM (it finishes or abandons in-flight
# requests; nothing it does on the way out should take longer).
STOP_TIMEOUT_S = 15
# Registering (or logging in) and the first sync, on a loaded 2-core machine.
ACCOUNT_TIMEOUT_S = 30
# What a crashed or misbehaving worker may leave in its stderr.
CRASH_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "Segmentation fault")


class BotWorker:
    """One echo instance of botrunner, in `workdir`: the config, a credentials directory
    (as systemd's LoadCredential= lays it out, files 0600 in a 0700 directory), the state
    directory (0700, made here since the supervisor is not there to make it) and the
    worker's stderr (`worker.log`, appended to across restarts)."""

    def __init__(self, hs, workdir, localpart, rooms, instance_id="echo-1", password=None,
                 catch_up_max_age=3600, registration_token=None, log_level="DEBUG",
                 default_limits=False, plugin=None, settings=None, prefix=None, env=None):
        self.hs = hs
        self.dir = pathlib.Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.instance_id = instance_id
        self.user_id = hs.user_id(localpart)
        self.rooms = list(rooms)
        self.password = password
        self.catch_up_max_age = catch_up_max_age
        self.registration_token = registration_token or hs.registration_token
        self.log_level = log_level
        self.default_limits = default_limits
        # (path, id) of the plugin; the echo plugin by default.
        self.plugin_path, self.plugin_id = plugin or (ECHO_PLUGIN, ECHO_PLUGIN_ID)
        self.settings = settings
        self.prefix = prefix or COMMAND_PREFIX
        self.extra_env = dict(env or {})
        self.config_path = self.dir / "botrunner.yaml"
        self.state_dir = self.dir / "state"
        self.creds_dir = self.dir / "credentials"
        self.log_path = self.dir / "worker.log"
        self.proc = None
        self.starts = 0
        self._write_credentials()
        self.write_config()

    def _write_credentials(self):
        self.creds_dir.mkdir(mode=0o700, exist_ok=True)
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        values = {"secret-key": secrets.token_hex(32),
                  "registration-token": self.registration_token}
        if self.password is not None:
            values["echobot-password"] = self.password
        for name, value in values.items():
            path = self.creds_dir / name
            path.write_text(value + "\n")
            path.chmod(0o600)

    def write_config(self):
        instance = {
            "id": self.instance_id,
            "plugin": self.plugin_id,
            "user": self.user_id,
            "room_subscriptions": self.rooms,
            "command_prefix": self.prefix,
            "catch_up_max_age": self.catch_up_max_age,
        }
        if not self.default_limits:
            # The plugin-side limiter (10 a minute by default) is for a plugin's external
            # calls; the echo plugin asks it for nothing, so this only says so explicitly.
            # default_limits=True writes no features and no rate_limit at all, as a new
            # user's config has none.
            instance["features"] = {"rate_limiting": False}
        if self.settings is not None:
            instance["config"] = self.settings
        if self.password is not None:
            instance["password_file"] = "echobot-password"
        config = {
            "homeserver": {"server_name": self.hs.server_name, "url": self.hs.base_url},
            "state_directory": str(self.state_dir),
            "secret_key_file": "secret-key",
            "registration_token_file": "registration-token",
            # Never the default 29316: tests may run beside a real deployment. (The worker
            # itself does not serve it; the config must still pass validation.)
            "status": {"address": "127.0.0.1", "port": free_port()},
            "logging": {"level": self.log_level},
            "plugins": [{"path": self.plugin_path}],
            "instances": [instance],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False, width=4096,
                                                   allow_unicode=True))

    # --- process ---------------------------------------------------------------------

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "worker already running"
        self.starts += 1
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
        env["CREDENTIALS_DIRECTORY"] = str(self.creds_dir)
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            log.write(f"=== test harness: start #{self.starts} at {time.time():.3f}\n".encode())
            log.flush()
            interpreter = [sys.executable] if BOTRUNNER.endswith(".py") else []
            self.proc = track(subprocess.Popen(
                interpreter + [BOTRUNNER, "worker", "--instance", self.instance_id, "-c",
                               str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True))
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_running(self):
        """A guard for waits: fail at once, with the worker's stderr, when it has exited."""
        if self.proc is None:
            raise AssertionError("the worker was never started")
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"the worker exited with status {code}:\n{self.logs()}")

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit status. A worker that ignores SIGTERM is
        killed and that is an error."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the worker did not exit within {timeout} s of SIGTERM")

    def kill(self):
        """SIGKILL: a crash, with no chance to save anything."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def logs(self):
        return f"--- {self.log_path}\n{tail(self.log_path)}"

    def crash_reports(self):
        """Lines of the worker's stderr that show a sanitizer report or a crash."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if any(m in line for m in CRASH_MARKERS)]

    def cleanup(self):
        """Teardown: stop whatever state it is in, never raise."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- waiting on what the homeserver sees --------------------------------------------------


def wait_until(condition, timeout, what, guard=None, interval=0.2):
    """Poll condition() until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if guard:
            guard()
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what() if callable(what) else what}")
        time.sleep(interval)


def wait_account(hs, bot, timeout=ACCOUNT_TIMEOUT_S):
    """Until the bot's account exists on the server (it registered)."""
    return wait_until(lambda: hs.user(bot.user_id), timeout,
                      f"the account {bot.user_id} to exist", guard=bot.assert_running)


def wait_membership(hs, room_id, user_id, want, timeout=ACCOUNT_TIMEOUT_S, guard=None):
    return wait_until(lambda: hs.membership(room_id, user_id) == want, timeout,
                      lambda: f"{user_id} to be '{want}' in {room_id} (it is "
                              f"'{hs.membership(room_id, user_id)}')", guard=guard)


def start_in_room(hs, person, make_bot, **kwargs):
    """The usual opening: the person makes a private room, a bot subscribed to it starts,
    its account appears, the person invites it and it joins. Returns (bot, room_id)."""
    room_id = person.create_room(name="echo test")
    bot = make_bot(hs, rooms=[room_id], **kwargs).start()
    wait_account(hs, bot)
    person.invite(room_id, bot.user_id)
    wait_membership(hs, room_id, bot.user_id, "join", guard=bot.assert_running)
    return bot, room_id
