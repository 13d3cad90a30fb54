"""The flake's outputs (evaluated without nixpkgs) and the NixOS module (evaluated with
nixpkgs' lib when NIXPKGS_LIB names a checkout of it: types, assertions, the unit, the timer).

nix-bin evaluates here but cannot build; the VM test (checks/vm.nix) runs where Nix builds.
NIXPKGS_LIB: a directory holding nixpkgs' lib/ (the nix-community/nixpkgs.lib mirror, or a
nixpkgs checkout); without it the module tests are skipped, saying so.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, NixError, nix_eval

BOTRUNNER = ROOT / "build" / "botrunner"
ECHO = ROOT / "build" / "plugins" / "echo"
NIXPKGS_LIB = os.environ.get("NIXPKGS_LIB", "")
# systemd-analyze security's exposure (0..10) that the unit may not exceed; checks/vm.nix
# holds the running unit to the same figure.
EXPOSURE_LIMIT = 1.5

if shutil.which("nix-instantiate") is None:
    pytest.skip("nix-instantiate is not installed (Debian: nix-bin)", allow_module_level=True)


def nix(expr, *, ok=True):
    """conftest's nix_eval; with ok=False expect a failure and return its message."""
    if ok:
        return nix_eval(expr)
    with pytest.raises(NixError) as failed:
        nix_eval(expr)
    return failed.value.stderr


# ---- the flake, without nixpkgs ---------------------------------------------------------

def test_flake_outputs_need_nothing_from_nixpkgs_to_be_listed():
    out = nix("import ./tests/nix/flake-outputs.nix")
    systems = ["aarch64-linux", "x86_64-linux"]
    assert out["outputs"] == ["checks", "devShells", "formatter", "lib", "nixosModules",
                              "overlays", "packages"]
    assert out["systems"] == systems
    for s in systems:
        assert out["packages"][s] == ["default", "echo"]
        assert out["checks"][s] == ["build", "echo", "unit-asan", "vm"]
        assert out["devShells"][s] == ["default"]
    assert out["formatter"] == systems
    assert out["overlay"] and out["module"] and out["moduleAlias"] and out["buildPlugin"]
    assert out["lib"] == ["buildPlugin", "contract", "credentials", "errors", "render"]
    assert 'plugin: "botrunner.echo"' in out["rendered"]


def test_flake_lock_pins_the_input_branch():
    out = nix("import ./tests/nix/flake-outputs.nix")
    lock = json.loads((ROOT / "flake.lock").read_text())
    node = lock["nodes"][lock["nodes"]["root"]["inputs"]["nixpkgs"]]
    original, locked = node["original"], node["locked"]
    assert out["inputs"]["nixpkgs"] == \
        f"github:{original['owner']}/{original['repo']}/{original['ref']}"
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"]), locked
    assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"]), locked
    assert original["ref"].startswith("nixos-")


# ---- the module, with nixpkgs' lib ------------------------------------------------------

needs_lib = pytest.mark.skipif(
    not (NIXPKGS_LIB and (pathlib.Path(NIXPKGS_LIB) / "lib" / "default.nix").exists()),
    reason="NIXPKGS_LIB is not set to a checkout of nixpkgs' lib (see docs/nixos.md)")

ECHO_DRV = ('{ type = "derivation"; name = "botrunner-plugin-echo"; outPath = "%s"; '
            'pluginId = "botrunner.echo"; runtimeDeps = [ ]; needsInternet = false; }' % ECHO)
ONE_BOT = ('instances.echo-1 = { plugin = "botrunner.echo"; user = "@echo-1:example.org"; '
           'roomSubscriptions = [ "!room:example.org" ]; commandPrefix = "!echo"; };')


def evaluate(botrunner, what="r", ok=True, lets=""):
    """Evaluate `what` of tests/nix/module-eval.nix given `botrunner` (Nix text: a module);
    `lib` is nixpkgs' lib, `lets` more bindings for the module to use."""
    return nix(f"let lib = import {NIXPKGS_LIB}/lib; {lets} "
               f"r = import ./tests/nix/module-eval.nix {{ inherit lib; botrunner = {botrunner}; }}; "
               f"in {what}", ok=ok)


def module(definitions, what="r", ok=True, plugins=ECHO_DRV):
    """Evaluate nixos/module.nix with `definitions` (Nix text inside services.botrunner) and
    `plugins` (Nix text: the list's items)."""
    return evaluate(f"{{ services.botrunner = {{ plugins = [ {plugins} ]; {definitions} }}; }}",
                    what, ok)


@needs_lib
def test_module_renders_a_config_the_runner_accepts(tmp_path):
    if not BOTRUNNER.exists():
        pytest.skip("run `make` first")
    r = module(ONE_BOT, "{ inherit (r) assertions warnings rendered; }")
    assert r["assertions"] == [] and r["warnings"] == []
    cfg = tmp_path / "botrunner.yaml"
    cfg.write_text(r["rendered"])
    proc = subprocess.run([BOTRUNNER, "check", "--no-credentials", "-c", cfg],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_lib
def test_module_takes_rooms_by_alias(tmp_path):
    """#alias:server passes the option types and the renderer, and the runner's check."""
    if not BOTRUNNER.exists():
        pytest.skip("run `make` first")
    bot = ONE_BOT.replace('[ "!room:example.org" ]', '[ "#family:example.org" "!room:example.org" ]')
    r = module(bot + ' notifications = { room = "#admin:example.org"; sender = "echo-1"; };',
               "{ inherit (r) assertions warnings rendered; }")
    assert r["assertions"] == [] and r["warnings"] == []
    assert '"#family:example.org"' in r["rendered"] and '"#admin:example.org"' in r["rendered"]
    cfg = tmp_path / "botrunner.yaml"
    cfg.write_text(r["rendered"])
    proc = subprocess.run([BOTRUNNER, "check", "--no-credentials", "-c", cfg],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_lib
def test_module_unit_reloads_on_config_and_is_hardened():
    r = module(ONE_BOT, "{ inherit (r) unit health timer; etc = r.config.environment.etc; "
                        "users = r.config.users.users; }")
    unit, sc = r["unit"], r["unit"]["serviceConfig"]
    # notify-reload: Type=notify, and `systemctl reload` sends SIGHUP and waits for READY=1.
    assert sc["Type"] == "notify-reload" and sc["ReloadSignal"] == "SIGHUP"
    assert sc["NotifyAccess"] == "main" and "ExecReload" not in sc
    assert sc["ExecStart"].endswith("/bin/botrunner run -c /etc/botrunner/botrunner.yaml")
    assert sc["WatchdogSec"] and sc["Restart"] == "on-failure"
    # A static user: DynamicUser would make the state directory a symlink, which the
    # runner refuses.
    assert (sc["User"], sc["Group"]) == ("botrunner", "botrunner") and "DynamicUser" not in sc
    assert r["users"]["botrunner"]["isSystemUser"] is True
    assert (sc["StateDirectory"], sc["StateDirectoryMode"]) == ("botrunner", "0700")
    assert (sc["RuntimeDirectory"], sc["RuntimeDirectoryMode"]) == ("botrunner", "0700")
    assert sc["UMask"] == "0077" and sc["ProtectSystem"] == "strict"
    assert sc["RestrictAddressFamilies"] == ["AF_INET", "AF_INET6", "AF_UNIX"]
    denials = [f for f in sc["SystemCallFilter"] if f.startswith("~")]
    assert len(denials) == 1, sc["SystemCallFilter"]
    assert sc["LoadCredential"] == ["secret-key:/run/secrets/botrunner-key",
                                    "registration-token:/run/secrets/registration-token"]
    # echo needs no internet and the homeserver is local: loopback only.
    assert (sc["IPAddressAllow"], sc["IPAddressDeny"]) == ("localhost", "any")
    # The config file is a reload trigger and is not named by the unit itself.
    etc = r["etc"]["botrunner/botrunner.yaml"]["source"]  # a derivation: its store path
    assert etc.startswith("/nix/store/") and unit["reloadTriggers"] == [etc]
    assert etc not in json.dumps(sc)
    assert unit["startLimitBurst"] >= 1 and unit["startLimitIntervalSec"] > 0
    assert r["health"]["serviceConfig"]["ExecStart"].endswith(
        "/bin/botrunner health --url http://127.0.0.1:29316")
    assert r["timer"]["timerConfig"]["OnUnitActiveSec"] == "5min"


@needs_lib
def test_module_unit_follows_options():
    defs = ONE_BOT + '''
      homeserver.units = [ "continuwuity.service" ];
      status = { address = "::1"; port = 29400; };
      healthCheck.interval = "1min";
      instances.echo-1.passwordFile = "/run/secrets/echo-password";
    '''
    fetcher = ('{ type = "derivation"; name = "ig"; outPath = "/nix/store/x-ig"; '
               'pluginId = "botrunner.echo"; needsInternet = true; runtimeDeps = [ { '
               'type = "derivation"; name = "yt-dlp"; outPath = "/nix/store/y-yt-dlp"; } ]; }')
    r = module(defs, "{ inherit (r) unit health timer; }", plugins=fetcher)
    sc = r["unit"]["serviceConfig"]
    assert "continuwuity.service" in r["unit"]["after"]
    assert r["unit"]["path"] == ["/nix/store/y-yt-dlp"]
    assert "IPAddressDeny" not in sc, "a plugin that needs the internet must get it"
    assert "echo-1-password" not in json.dumps(sc)
    assert "password-echo-1:/run/secrets/echo-password" in sc["LoadCredential"]
    health = r["health"]["serviceConfig"]
    assert health["ExecStart"].endswith("--url http://[::1]:29400")
    assert health["IPAddressAllow"] == ["localhost"] and health["IPAddressDeny"] == "any"
    assert r["timer"]["timerConfig"]["OnUnitActiveSec"] == "1min"


@needs_lib
@pytest.mark.parametrize("definitions, option, message", [
    ('instances.x = { plugin = "botrunner.echo"; user = "@X:example.org"; };',
     "services.botrunner.instances.x.user", "Matrix user id"),
    ('instances.x = { plugin = "botrunner.echo"; user = "@x:example.org"; '
     'rateLimit.maxRequestsPerMinute = 61; };',
     "services.botrunner.instances.x.rateLimit.maxRequestsPerMinute", "between 1 and 60"),
    ('instances.x = { plugin = "botrunner.echo"; user = "@x:example.org"; '
     'roomSubscriptions = [ "#room" ]; };',
     "services.botrunner.instances.x.roomSubscriptions", "Matrix room id (!opaque:server) or room alias"),
    ('logging.level = "LOUD";', "services.botrunner.logging.level", "one of"),
    ('instances.x = { plugin = "Botrunner"; user = "@x:example.org"; };',
     "services.botrunner.instances.x.plugin", "string matching"),
    ('status.port = 0;', "services.botrunner.status.port", "between 1 and 65535"),
])
def test_module_types_refuse_at_evaluation(definitions, option, message):
    err = module(definitions, "r.config.services.botrunner", ok=False)
    assert option in err and message in err, err


@needs_lib
@pytest.mark.parametrize("definitions, expected", [
    ('secretKeyFile = /. + "/run/secrets/key"; ' + ONE_BOT,
     "services.botrunner.secretKeyFile: is a Nix path value"),
    ('registrationTokenFile = "/nix/store/abc-token"; ' + ONE_BOT,
     'services.botrunner.registrationTokenFile: "/nix/store/abc-token" is in the Nix store'),
    (ONE_BOT + ' instances.echo-1.settings.api_token = "abc";',
     "services.botrunner.instances.echo-1.settings.api_token: looks like an inline secret"),
    ('instances.x = { plugin = "sna.instagram"; user = "@x:example.org"; };',
     'services.botrunner.instances.x.plugin: "sna.instagram" is not the id of any plugin'),
    (ONE_BOT + ' notifications = { room = "!a:example.org"; sender = "nobody"; };',
     'services.botrunner.notifications.sender: "nobody" is not the id of a declared instance'),
    (ONE_BOT + ' status.port = 8008;', "services.botrunner.status.port: port 8008 is reserved"),
    (ONE_BOT + ' stateDirectory = "/srv/bots";',
     'services.botrunner.stateDirectory: "/srv/bots" must be a directory under /var/lib'),
    ('instances.x = { plugin = "botrunner.echo"; user = "@x:other.org"; };',
     'services.botrunner.instances.x.user: "@x:other.org" is not a valid user id on example.org'),
])
def test_module_assertions_name_the_option(definitions, expected):
    assertions = module(definitions, "r.assertions")
    assert any(a.startswith(expected) for a in assertions), assertions


@needs_lib
def test_module_secret_path_value_is_not_copied_to_the_store():
    """A path value for a secret is refused by an assertion, and evaluating the unit with
    it does not copy the file: LoadCredential gets the text of the path."""
    sc = module('secretKeyFile = /. + "/run/secrets/key"; ' + ONE_BOT,
                "r.unit.serviceConfig.LoadCredential")
    assert "secret-key:/run/secrets/key" in sc, sc


@needs_lib
def test_module_unit_exposure_offline(tmp_path):
    """systemd-analyze security --offline on the unit the module makes: the figure the VM
    test holds the running unit to."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = module(ONE_BOT, "(import ./tests/nix/unit-file.nix { inherit lib; } r.unit)")
    unit = tmp_path / "botrunner.service"
    unit.write_text(text)
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                          capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for botrunner.service: ([0-9.]+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    print(f"\nsystemd-analyze security --offline: exposure {m.group(1)}")
    assert float(m.group(1)) <= EXPOSURE_LIMIT, proc.stdout


@needs_lib
def test_module_beside_maubot_needs_another_status_port():
    """nixpkgs' services.maubot listens on 29316 too: both enabled with the defaults is
    refused, naming the option; another status port is accepted."""
    maubot = ("{ services.maubot = { enable = true; settings.server.port = 29316; }; "
              "services.botrunner = { %s }; }")
    base = f'plugins = [ {ECHO_DRV} ]; {ONE_BOT}'
    assertions = evaluate(maubot % base, "r.assertions")
    assert any(a.startswith("services.botrunner.status.port: port 29316 is also services.maubot")
               for a in assertions), assertions
    assert evaluate(maubot % (base + " status.port = 29400;"), "r.assertions") == []


@needs_lib
def test_module_orders_after_a_local_homeserver_and_survives_removed_ones():
    """continuwuity enabled on the host: the bots start after it. A homeserver module that
    nixpkgs removed (reading its options throws) is skipped, not fatal."""
    mod = ("{ imports = [ (lib.mkRemovedOptionModule [ \"services\" \"matrix-conduit\" ] \"gone\") ]; "
           "services.matrix-continuwuity.enable = true; "
           f"services.botrunner = {{ plugins = [ {ECHO_DRV} ]; {ONE_BOT} }}; }}")
    assert evaluate(mod, "r.unit.after") == ["network-online.target", "continuwuity.service"]


@needs_lib
def test_health_check_reaches_a_non_loopback_status_address():
    """status on 192.0.2.10 (allowNonLoopback): the health check asks that address, and its
    firewall lets it; the bots' unit then allows every address (the endpoint serves others)."""
    r = module(ONE_BOT + ' status = { address = "192.0.2.10"; allowNonLoopback = true; };',
               "{ inherit (r) unit health; }")
    health = r["health"]["serviceConfig"]
    assert health["ExecStart"].endswith("--url http://192.0.2.10:29316")
    assert health["IPAddressAllow"] == ["localhost", "192.0.2.10"]
    assert "IPAddressDeny" not in r["unit"]["serviceConfig"]


@needs_lib
def test_flake_module_evaluates_with_lib_only():
    """The flake's nixosModules.default, through flake.nix's outputs with nixpkgs' lib as
    the only part of nixpkgs: it brings in nixos/module.nix and defaults the package to the
    flake's (not forced here, where the package is given)."""
    flake = ("flake = import ./flake.nix; untouchable = throw \"nixpkgs beyond its lib\"; "
             "self = flake.outputs { inherit self; nixpkgs = { inherit lib; "
             "legacyPackages = untouchable; outPath = untouchable; }; };")
    mod = ("{ pkgs, ... }: { imports = [ self.nixosModules.default ]; "
           f"services.botrunner = {{ package = pkgs.botrunner; plugins = [ {ECHO_DRV} ]; "
           f"{ONE_BOT} }}; }}")
    r = evaluate(mod, "{ inherit (r) assertions; start = r.unit.serviceConfig.ExecStart; }",
                 lets=flake)
    assert r["assertions"] == [] and r["start"].endswith("/bin/botrunner run -c "
                                                         "/etc/botrunner/botrunner.yaml")
