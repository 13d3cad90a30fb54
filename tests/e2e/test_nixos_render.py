"""The NixOS side end to end, short of systemd: option values rendered by nixos/render.nix as
the module renders them, the credentials handed over as LoadCredential= hands them, and
`botrunner run` on the rendered file against Synapse, with a bot that answers."""
import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import types

import pytest

from botworker import ECHO_PLUGIN, ECHO_PLUGIN_ID, wait_until
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


def test_rendered_config_runs_a_bot(synapse, make_person, tmp_path):
    alice = make_person(synapse)
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
        "plugins": [{"outPath": ECHO_PLUGIN, "pluginId": ECHO_PLUGIN_ID}],
        "instances": {"echo-nix": {"plugin": ECHO_PLUGIN_ID, "user": bot.user_id,
                                   "roomSubscriptions": [room], "commandPrefix": bot.prefix}},
    }
    out = render(options)
    assert [c["name"] for c in out["credentials"]] == ["secret-key", "registration-token"]
    for secret in (key.read_text(), token.read_text()):
        assert secret not in out["text"], "a secret reached the rendered file"
    config = tmp_path / "botrunner.yaml"
    config.write_text(out["text"])

    env = {**os.environ,
           "CREDENTIALS_DIRECTORY": str(load_credentials(out["credentials"], tmp_path / "creds"))}
    log = tmp_path / "supervisor.log"
    with open(log, "wb") as sink:
        proc = track(subprocess.Popen([BOTRUNNER, "run", "-c", str(config)], stdout=sink,
                                      stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True))
    try:
        def alive():
            assert proc.poll() is None, f"botrunner run exited:\n{log.read_text()}"
        # The bot registers with the token, then accepts the invite to its subscribed room.
        wait_until(lambda: synapse.user(bot.user_id), JOIN_TIMEOUT_S,
                   "the bot's account to be registered", guard=alive)
        alice.invite(room, bot.user_id)
        ping(alice, room, bot, guard=alive)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(STOP_TIMEOUT_S) == 0, log.read_text()
    text = log.read_text()
    for secret in (key.read_text(), token.read_text()):
        assert secret not in text, "a secret reached the log"
