"""The tests of nixos/render.nix: every case under tests/nix/cases, the renderer's rules set
against `botrunner check` on the file it renders, and the YAML it writes as the runner reads it."""
import collections
import json
import math
import re
import shutil
import subprocess

import pytest

from conftest import (CASE_ARGS, INVALID_CASES, RENDERER, ROOT, VALID_CASES, NixError,
                      case_config, nix_eval, nix_string, renderer, runner_yaml_load)

if shutil.which("nix-instantiate") is None:
    pytest.skip("nix-instantiate is not on PATH (Debian: apt install nix-bin)",
                allow_module_level=True)

HEADER = [
    "# Rendered by the botrunner NixOS module from services.botrunner; edit the Nix, not this.",
    "# Secrets are not here: *_file values name credentials passed by LoadCredential=.",
]


def case_id(case):
    return case.name


def diff(got, want) -> str:
    """The lines only one side has, for a readable failure."""
    g, w = collections.Counter(got), collections.Counter(want)
    return ("unexpected:\n  " + "\n  ".join(g - w) + "\nmissing:\n  " + "\n  ".join(w - g))


# ---- invalid cases: the errors, and the runner's verdict on the same file ------------------

@pytest.mark.parametrize("case", INVALID_CASES, ids=case_id)
def test_invalid_case_errors(case, results_of):
    assert case.expect, "an invalid case needs `# expect:` lines"
    errors = results_of(case)["errors"]
    assert collections.Counter(errors) == collections.Counter(case.expect), \
        diff(errors, case.expect)


CHECKED_CASES = [c for c in INVALID_CASES if c.check]


@pytest.mark.parametrize("case", CHECKED_CASES, ids=case_id)
def test_invalid_case_is_invalid_to_the_runner(case, results_of, botrunner_check):
    result = botrunner_check(results_of(case)["yaml"])
    assert result.returncode == 1, result.stdout + result.stderr
    for text in case.check:
        assert text in result.stderr, f"missing {text!r} in:\n{result.stderr}"


# ---- valid cases: no errors, a file the runner accepts and reads as the contract -----------

@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_valid_case_renders(case, results_of):
    r = results_of(case)
    assert r["errors"] == []
    assert r["rendered"] is not None, "render threw although errors is empty"
    assert r["rendered"].splitlines()[:2] == HEADER
    assert r["rendered"] == "\n".join(HEADER) + "\n" + r["yaml"]


@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_valid_case_passes_check(case, results_of, botrunner_check):
    result = botrunner_check(results_of(case)["yaml"])
    assert result.returncode == 0, result.stderr
    assert "is valid:" in result.stdout


@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_valid_case_round_trips(case, results_of):
    r = results_of(case)
    assert runner_yaml_load(r["yaml"]) == r["contract"]


@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_valid_case_warnings(case, results_of, botrunner_check):
    """The renderer's warnings are the `# warn:` lines, and as many as the runner gives."""
    r = results_of(case)
    assert collections.Counter(r["warnings"]) == collections.Counter(case.warn), \
        diff(r["warnings"], case.warn)
    result = botrunner_check(r["yaml"])
    runner_warnings = [line for line in result.stderr.splitlines() if ": warning: " in line]
    assert len(runner_warnings) == len(r["warnings"]), result.stderr


@pytest.mark.parametrize("case", VALID_CASES, ids=case_id)
def test_valid_case_files_name_its_credentials(case, results_of):
    """Every *_file value of the contract is the name of a credential the unit loads."""
    r = results_of(case)
    names = {c["name"] for c in r["credentials"]}
    contract = r["contract"]
    used = {contract["secret_key_file"], contract.get("registration_token_file")}
    used |= {i.get("password_file") for i in contract["instances"]}
    used.discard(None)
    assert used == names


def test_credentials_of_the_full_case(results_of):
    full = next(c for c in VALID_CASES if c.name == "full")
    assert results_of(full)["credentials"] == [
        {"name": "secret-key", "path": "/run/secrets/botrunner-key", "option": "secretKeyFile"},
        {"name": "registration-token", "path": "/run/secrets/registration-token",
         "option": "registrationTokenFile"},
        {"name": "password-instagram-bot-1", "path": "/run/secrets/instagram-password",
         "option": "instances.instagram-bot-1.passwordFile"},
    ]


def test_case_corpus_is_whole():
    """Guards the parametrized tests above against an empty or misplaced corpus."""
    assert len(VALID_CASES) >= 5 and len(INVALID_CASES) >= 25
    assert any(c.warn for c in VALID_CASES)


# ---- the renderer as a whole ----------------------------------------------------------------

def test_every_nix_file_parses():
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.nix"],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "nixos/render.nix" in listed
    proc = subprocess.run(["nix-instantiate", "--parse", *listed], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", ["render", "grammar", "yaml", "prelude"])
def test_renderer_is_builtins_only(name):
    """render.nix and the files it imports need nothing but builtins and each other."""
    text = (RENDERER.parent / f"{name}.nix").read_text()
    code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    code = re.sub(r"(^|\s)#.*$", "", code, flags=re.M)
    for forbidden in [r"import\s*<", r"<nixpkgs", r"\bnixpkgs\b", r"\bpkgs\b", r"\blib\.",
                      r"\bfetch\w*"]:
        assert not re.search(forbidden, code), f"{name}.nix matches {forbidden!r}"
    for imported in re.findall(r"\bimport\s+([^\s)]+)", code):
        assert re.fullmatch(r"\./(render|grammar|yaml|prelude)\.nix", imported), imported
    names = nix_eval("builtins.attrNames (import ./nixos/render.nix)")
    assert {"errors", "warnings", "credentials", "contract", "toYAML", "render"} <= set(names)


@pytest.mark.parametrize("name", ["rate-limits", "logging-level"])
def test_render_throws_listing_every_error(name):
    case = next(c for c in INVALID_CASES if c.name == name)
    with pytest.raises(NixError) as e:
        nix_eval(f"{renderer()}.render {case_config(case.path)}")
    n = len(case.expect)
    assert f"services.botrunner has {n} error{'' if n == 1 else 's'}:" in e.value.stderr
    for line in case.expect:
        assert line in e.value.stderr


def test_instance_limit():
    """10001 instances (too many for a case file's `# expect:` lines)."""
    errors = nix_eval(f"""
      let r = {renderer()}; a = {CASE_ARGS}; in
      builtins.filter (e: builtins.match ".*more than.*" e != null) (r.errors {{
        homeserver.serverName = "clarun.xyz";
        secretKeyFile = "/run/secrets/key";
        registrationTokenFile = "/run/secrets/token";
        plugins = [ a.echo ];
        instances = builtins.listToAttrs (builtins.genList (i: {{
          name = "echo-${{toString i}}";
          value = {{ plugin = "botrunner.echo"; }};
        }}) 10001);
      }})""")
    assert errors == ["services.botrunner.instances: more than 10000 instances"]


# ---- the renderer's rules against the runner's, one edge at a time -------------------------
#
# Each probe changes one thing in a valid configuration; the renderer must reject it exactly
# when `botrunner check` rejects the file rendered from it. The disagreements are marked.

PROBE_BASE = """{
  homeserver.serverName = "clarun.xyz";
  secretKeyFile = "/run/secrets/key";
  plugins = [ echo ];
  instances.echo-1 = {
    plugin = "botrunner.echo";
    user = "@echo:clarun.xyz";
    passwordFile = "/run/secrets/pw";
    roomSubscriptions = [ "!abc:clarun.xyz" ];
  };
}"""


def long_name(labels: int, tail: str = "") -> str:
    """A Nix expression for a DNS name of ten-letter labels (11 bytes each but the last)."""
    labels = f'builtins.genList (i: "abcdefghij") {labels}'
    return f'(builtins.concatStringsSep "." ({labels}) + "{tail}")'


# The probes are Nix option sets, merged into PROBE_BASE; these write the common ones.
def url(u: str, remote: bool = False) -> str:
    return f'{{ homeserver.url = {u}; homeserver.allowRemote = {str(remote).lower()}; }}'


def status(address: str, non_loopback: bool = False) -> str:
    allow = str(non_loopback).lower()
    return f'{{ status.address = {address}; status.allowNonLoopback = {allow}; }}'


def server(name: str) -> str:
    return f'{{ homeserver.serverName = {name}; instances.echo-1.user = "@echo:" + {name}; }}'


def instance(field: str, value: str) -> str:
    return f"{{ instances.echo-1.{field} = {value}; }}"


def probe(name, change, *marks):
    return pytest.param(name, change, marks=marks, id=name)


PROBES = [
    probe("url-zero-port-digits", url('"http://127.0.0.1:06167"')),
    probe("url-short-ipv4", url('"http://127.1:6167"')),
    probe("url-query", url('"http://127.0.0.1:6167?x=1"')),
    probe("url-upper-scheme", url('"HTTP://127.0.0.1:6167"')),
    probe("url-empty-port", url('"http://127.0.0.1:"')),
    probe("url-port-0", url('"http://127.0.0.1:0"')),
    probe("url-v4-mapped", url('"http://[::ffff:127.0.0.1]:6167"')),
    probe("url-ipv6-long-loopback", url('"http://[0:0:0:0:0:0:0:1]:6167"')),
    probe("url-unterminated-ipv6", url('"https://[::1"', remote=True)),
    probe("url-dash-labels", url('"https://-a-.example"', remote=True)),
    probe("status-loopback-net", status('"127.255.255.254"')),
    probe("status-v4-mapped", status('"::ffff:127.0.0.1"')),
    probe("status-zone", status('"::1%lo"')),
    probe("status-octet-256", status('"256.0.0.1"', non_loopback=True)),
    probe("status-no-reserved", "{ reservedPorts = [ ]; }"),
    probe("reserved-70000", "{ reservedPorts = [ 70000 ]; }"),
    probe("server-ipv6-port-range", server('"[::1]:99999"')),
    probe("server-trailing-dot", server('"a.example.org."')),
    probe("server-230-bytes", server(long_name(21))),
    probe("room-two-colons", instance("roomSubscriptions", '[ "!a:b:c" ]')),
    probe("room-non-ascii", instance("roomSubscriptions", '[ "!é:clarun.xyz" ]')),
    probe("user-empty-localpart", instance("user", '"@:clarun.xyz"')),
    probe("prefix-empty", instance("commandPrefix", '""')),
    probe("state-store-lookalike", '{ stateDirectory = "/nix/storefoo"; }'),
    probe("state-dot", '{ stateDirectory = "/var/lib/./x"; }'),
    probe("state-dev", '{ stateDirectory = "/dev/shm/x"; }'),
    probe("notify-v12-room", '{ notifications = { sender = "echo-1"; maxPerMinute = 600;'
                             ' room = "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM"; }; }'),
    # Once disagreements, each a bug fixed in render.nix.
    probe("url-ipv4-leading-zero", url('"http://127.0.0.01:6167"')),
    probe("status-ipv4-leading-zero", status('"127.000.000.001"')),
    probe("url-ipv6-short-loopback", url('"http://[0::1]:6167"')),
    probe("status-ipv6-short-loopback", status('"0::1"')),
    probe("status-bracketed-ipv6", status('"[::1]"')),
    probe("status-colons-only", status('":::"', non_loopback=True)),
    probe("server-ipv6-colon", server('"[:]"')),
    probe("server-ipv6-dotted", server('"[1.2.3.4]"')),
    probe("room-ipv6-colon", instance("roomSubscriptions", '[ "!abc:[:]" ]')),
    probe("url-double-dot", url('"https://a..b"', remote=True)),
    probe("url-percent", url('"https://ex%61mple.org"', remote=True)),
    probe("url-host-300-bytes", url('"https://" + ' + long_name(30), remote=True)),
    probe("server-port-six-digits", server('"clarun.xyz:000443"')),
    probe("server-231-bytes", server(long_name(21, "x"))),
    probe("displayname-empty", instance("displayname", '""')),
    probe("state-5000-bytes", '{ stateDirectory = "/var/" + builtins.concatStringsSep "/"'
                              ' (builtins.genList (i: "abcdefghij") 500); }'),
    probe("prefix-vertical-tab", instance("commandPrefix", 'builtins.fromJSON "\\"a\\\\u000bb\\""')),
]

# A recursive `//`, so that a probe can say `instances.echo-1.user = ...` alone.
UPDATE = ("let update = a: b: a // builtins.mapAttrs (k: v: if builtins.isAttrs v"
          " && builtins.isAttrs (a.${k} or null) then update a.${k} v else v) b; in update")


@pytest.fixture(scope="module")
def probe_results():
    """Each probe's errors and rendered contract, from one nix-instantiate call."""
    one = [f"(let cfg = ({UPDATE}) base {p.values[1]}; in"
           " { errors = r.errors cfg; yaml = r.toYAML (r.contract cfg); })" for p in PROBES]
    results = nix_eval(f"let r = {renderer()}; inherit ({CASE_ARGS}) echo; base = {PROBE_BASE};"
                       f" in [ {' '.join(one)} ]")
    return {p.id: r for p, r in zip(PROBES, results)}


@pytest.mark.parametrize("name, change", PROBES)
def test_rule_agrees_with_runner(name, change, probe_results, botrunner_check):
    r = probe_results[name]
    result = botrunner_check(r["yaml"])
    assert result.returncode in (0, 1), result.stderr
    runner_rejects = result.returncode == 1
    assert bool(r["errors"]) == runner_rejects, \
        f"Nix errors: {r['errors']}\nbotrunner check:\n{result.stderr}"


def test_command_prefix_conflict_warns_like_the_runner(botrunner_check):
    r = nix_eval(f"""
      let r = {renderer()}; inherit ({CASE_ARGS}) echo;
        bot = user: {{ plugin = "botrunner.echo"; inherit user; passwordFile = "/run/secrets/pw";
                       roomSubscriptions = [ "!abc:clarun.xyz" ]; commandPrefix = "!bot"; }};
        cfg = {{ homeserver.serverName = "clarun.xyz"; secretKeyFile = "/run/secrets/key";
                 plugins = [ echo ];
                 instances = {{ a = bot "@a:clarun.xyz"; b = bot "@b:clarun.xyz"; }}; }};
      in {{ warnings = r.warnings cfg; yaml = r.toYAML (r.contract cfg); }}""")
    result = botrunner_check(r["yaml"])
    assert result.returncode == 0 and "is also the command prefix" in result.stderr
    assert len(r["warnings"]) == 1


# ---- the YAML writer: values the runner must read back unchanged ----------------------------

def with_settings(settings_expr: str) -> dict:
    """The errors, contract and YAML of the minimal case with other plugin settings."""
    minimal = next(c for c in VALID_CASES if c.name == "minimal")
    return nix_eval(f"""
      let r = {renderer()}; base = {case_config(minimal.path)};
        echo-1 = base.instances.echo-1 // {{ settings = {settings_expr}; }};
        cfg = base // {{ instances.echo-1 = echo-1; }};
        c = r.contract cfg;
      in {{ errors = r.errors cfg; contract = c; yaml = r.toYAML c; }}""")


# toJSON leaves every character from U+007F up raw, but YAML may not hold all of them raw in
# a double-quoted scalar: DEL, the C1 controls and U+FFFE are refused; NEL, LS and PS are
# line breaks, which an implicit key may not hold and which a value's NEL turns into "\n".
CHARACTERS = [
    pytest.param("\u007f", "value", id="del-value"),
    pytest.param("\u007f", "key", id="del-key"),
    pytest.param("\u0080", "value", id="c1-value"),
    pytest.param("\ufffe", "key", id="noncharacter-key"),
    pytest.param("\u0085", "value", id="next-line-value"),
    pytest.param("\u0085", "key", id="next-line-key"),
    pytest.param("\u2028", "key", id="line-separator-key"),
    pytest.param("\u2029", "key", id="paragraph-separator-key"),
    pytest.param("\u2028", "value", id="line-separator-value"),
    pytest.param("\u001b", "value", id="escape-value"),
    pytest.param("\u001b", "key", id="escape-key"),
    pytest.param("\u00a0", "key", id="nbsp-key"),
    pytest.param("\ufeff", "value", id="bom-value"),
    pytest.param("\ufeff", "key", id="bom-key"),
    pytest.param("\t", "key", id="tab-key"),
    pytest.param("\r", "value", id="carriage-return-value"),
]


@pytest.mark.parametrize("char, position", CHARACTERS)
def test_setting_with_character(char, position, botrunner_check):
    """A setting holding the character: the renderer refuses it, or the runner reads it back."""
    text = f"a{char}b"
    value = f"builtins.fromJSON {nix_string(json.dumps(text))}"
    settings = {"value": f"{{ value = {value}; }}", "key": f"{{ ${{{value}}} = 1; }}"}[position]
    r = with_settings(settings)
    if r["errors"]:
        return
    result = botrunner_check(r["yaml"])
    assert result.returncode == 0, result.stderr
    assert runner_yaml_load(r["yaml"]) == r["contract"]


@pytest.mark.parametrize("value", ["3.141592653589793", "0.1", "1.0", "2.5e-07", "-1.5e+30"])
def test_float_setting_is_exact_or_refused(value):
    """Nix 2.8's toJSON keeps 6 significant digits: a float it cannot write exactly is an
    error naming the setting; any other is read back by the runner as the same float."""
    r = with_settings(f"{{ value = {value}; }}")
    if r["errors"]:
        assert r["errors"] == ["services.botrunner.instances.echo-1.settings.value: the float "
                               f"{json.dumps(r['contract']['instances'][0]['config']['value'])}... "
                               "cannot be written exactly by this version of Nix (its toJSON "
                               "keeps 6 significant digits); give it as a string, or with fewer "
                               "digits"]
        return
    got = runner_yaml_load(r["yaml"])["instances"][0]["config"]["value"]
    assert isinstance(got, float) and got == float(value), (r["yaml"], got)


def test_kebab_case_secret_keys_are_flagged():
    errors = with_settings('{ api-key = "k"; private-key = "-----BEGIN"; }')["errors"]
    assert len(errors) == 2
