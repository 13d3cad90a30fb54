"""The NixOS side end to end, short of systemd: option values rendered by nixos/render.nix as
the module renders them, the credentials handed over as LoadCredential= hands them, and
`botrunner run` on the rendered file against Synapse, with a bot that answers."""
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import subprocess
import types

import pytest

from botworker import ECHO_PLUGIN_DIR, ECHO_PLUGIN_ID, wait_until
from conftest import unique
from fleet import BOTRUNNER, ping
from synapse_server import free_port, track

ROOT = pathlib.Path(__file__).resolve().parents[2]
JOIN_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15

pytestmark = pytest.mark.skipif(shutil.which("nix-instantiate") is None,
                                reason="nix-instantiate is not installed (Debian: nix-bin)")


def render(options):
    """render.nix on option values given as JSON: the YAML text and the credentials."""
    expr = (f"let r = import {ROOT}/nixos/render.nix; "
            f"cfg = builtins.fromJSON {json.dumps(json.dumps(options))}; "
            "in { text = r.render cfg; credentials = r.credentials cfg; }")
    proc = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NIX_PATH": ""})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def load_credentials(credentials, directory):
    """What systemd does for LoadCredential=NAME:PATH: a private copy of each file under
    its name, in a directory only the service can read."""
    directory.mkdir(mode=0o700)
    for c in credentials:
        target = directory / c["name"]
        shutil.copyfile(c["path"], target)
        target.chmod(0o400)
    return directory


def start_rendered_fleet(synapse, alice, tmp_path, wrapper=()):
    """One echo bot declared as the module declares it, started by `botrunner run` (under
    `wrapper`, a command prefix such as strace) and answering in a room of alice's.
    Returns (proc, bot, room, secret texts, log path)."""
    room = alice.create_room(name="nixos")
    bot = types.SimpleNamespace(user_id=synapse.user_id(unique("nixbot")), prefix="!nix")

    # The secrets where sops-nix or agenix would leave them: files only we can read.
    vault = tmp_path / "run-secrets"
    vault.mkdir(mode=0o700)
    key, token = vault / "botrunner-key", vault / "registration-token"
    key.write_text(secrets.token_urlsafe(48))
    token.write_text(synapse.registration_token)
    for f in (key, token):
        f.chmod(0o400)

    options = {
        "homeserver": {"serverName": synapse.server_name, "url": synapse.base_url},
        "stateDirectory": str(tmp_path / "state"),
        "secretKeyFile": str(key),
        "registrationTokenFile": str(token),
        "status": {"port": free_port()},
        "logging": {"level": "DEBUG"},
        "plugins": [{"outPath": ECHO_PLUGIN_DIR, "pluginId": ECHO_PLUGIN_ID}],
        "instances": {"echo-nix": {"plugin": ECHO_PLUGIN_ID, "user": bot.user_id,
                                   "roomSubscriptions": [room], "commandPrefix": bot.prefix}},
    }
    out = render(options)
    assert [c["name"] for c in out["credentials"]] == ["secret-key", "registration-token"]
    secret_texts = (key.read_text(), token.read_text())
    for secret in secret_texts:
        assert secret not in out["text"], "a secret reached the rendered file"
    config = tmp_path / "botrunner.yaml"
    config.write_text(out["text"])

    env = {**os.environ,
           "CREDENTIALS_DIRECTORY": str(load_credentials(out["credentials"], tmp_path / "creds"))}
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as sink:
        proc = track(subprocess.Popen([*wrapper, BOTRUNNER, "run", "-c", str(config)],
                                      stdout=sink, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True))

    def alive():
        assert proc.poll() is None, f"botrunner run exited:\n{log.read_text()}"
    # The bot registers with the token, then accepts the invite to its subscribed room.
    wait_until(lambda: synapse.user(bot.user_id), JOIN_TIMEOUT_S,
               "the bot's account to be registered", guard=alive)
    alice.invite(room, bot.user_id)
    ping(alice, room, bot, guard=alive)
    return proc, bot, room, secret_texts, log


def stop(proc, log):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(STOP_TIMEOUT_S) == 0, log.read_text()


def test_rendered_config_runs_a_bot(synapse, make_person, tmp_path):
    proc, _, _, secret_texts, log = start_rendered_fleet(synapse, make_person(synapse),
                                                         tmp_path)
    stop(proc, log)
    text = log.read_text()
    for secret in secret_texts:
        assert secret not in text, "a secret reached the log"


# ---- the unit's sandbox ---------------------------------------------------------------------

def syscall_group(name, seen=None):
    """The system calls of a systemd syscall-filter group, nested groups expanded."""
    seen = set() if seen is None else seen
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if item.startswith("@"):
            if item not in seen:
                seen.add(item)
                calls |= syscall_group(item, seen)
        else:
            calls.add(item)
    return calls


def module_syscall_filter():
    """The unit's SystemCallFilter= lines, read from nixos/module.nix itself."""
    text = (ROOT / "nixos" / "module.nix").read_text()
    block = re.search(r"SystemCallFilter = \[(.*?)\];", text, re.S).group(1)
    return re.findall(r'"([^"]+)"', block)


TRACED = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")


@pytest.mark.skipif(shutil.which("strace") is None or shutil.which("systemd-analyze") is None,
                    reason="needs strace and systemd-analyze (Debian: strace, systemd)")
def test_bots_stay_inside_the_units_sandbox(synapse, make_person, tmp_path):
    """The supervisor and its worker, traced through start, registration, a ping, a reload
    and the stop: every system call they make is one the unit's SystemCallFilter= allows
    (as Debian's systemd-analyze expands the groups), and no mapping is ever writable and
    executable at once (MemoryDenyWriteExecute=)."""
    allow, deny = module_syscall_filter()
    assert deny.startswith("~")
    allowed = set()
    for group in allow.split():
        allowed |= syscall_group(group) if group.startswith("@") else {group}
    denied = set()
    for group in deny[1:].split():
        denied |= syscall_group(group)
    trace = tmp_path / "strace.txt"
    wrapper = ["strace", "-f", "-qq", "-s", "0", "-o", str(trace)]
    alice = make_person(synapse)
    proc, bot, room, _, log = start_rendered_fleet(synapse, alice, tmp_path, wrapper)
    os.killpg(proc.pid, signal.SIGHUP)  # the reload path too
    wait_until(lambda: "Reloaded:" in log.read_text(), 30, "the reload")
    ping(alice, room, bot)
    stop(proc, log)

    used, wx = set(), []
    for line in trace.read_text(errors="replace").splitlines():
        m = TRACED.match(line)
        # SQLite gives a new WAL or journal the database's owner with fchown, but only when
        # it runs as root (robust_fchown), as this test may; the unit runs as botrunner.
        if m and m.group(1) == "fchown" and os.geteuid() == 0 and \
                re.search(r"fchown\(\d+, 0, 0\)", line):
            continue
        if m:
            used.add(m.group(1))
        if ("mmap(" in line or "mprotect(" in line) and "PROT_WRITE|PROT_EXEC" in line:
            wx.append(line)
    assert used, "strace saw nothing"
    assert not sorted(used - allowed), f"outside {allow}: {sorted(used - allowed)}"
    assert not sorted(used & denied), f"denied by {deny}: {sorted(used & denied)}"
    assert not wx, f"writable and executable mappings: {wx[:5]}"
    print(f"\n{len(used)} distinct system calls, all allowed: {' '.join(sorted(used))}")
