"""Helpers for the tests of nixos/render.nix: evaluating Nix, the case files under
tests/nix/cases, `botrunner check` on a rendered file, and YAML read as the runner reads it."""
import json
import math
import os
import pathlib
import re
import subprocess
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RENDERER = ROOT / "nixos" / "render.nix"
CASES = pathlib.Path(__file__).resolve().parent / "cases"
BOTRUNNER = ROOT / "build" / "botrunner"
ECHO_PLUGIN = ROOT / "build" / "plugins" / "echo"  # made by `make`
FIXTURES = ROOT / "tests" / "configs"

# One evaluation of every case takes well under a second; a minute means Nix is stuck
# (on a lock, or fetching something it should not).
NIX_TIMEOUT = 60
CHECK_TIMEOUT = 30


class NixError(Exception):
    """nix-instantiate exited non-zero; `stderr` holds its message."""

    def __init__(self, expr: str, stderr: str):
        super().__init__(f"nix-instantiate failed on:\n{expr}\n{stderr}")
        self.stderr = stderr


def nix_eval(expr: str) -> object:
    """The JSON value of a Nix expression, evaluated strictly from the repo root. An empty
    NIX_PATH keeps <nixpkgs> out of reach: the renderer must need builtins only."""
    proc = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr],
        cwd=ROOT, capture_output=True, text=True, timeout=NIX_TIMEOUT,
        env={**os.environ, "NIX_PATH": ""},
    )
    if proc.returncode != 0:
        raise NixError(expr, proc.stderr)
    return json.loads(proc.stdout)


def nix_string(s: str) -> str:
    """A Nix string literal holding s (JSON's escapes are Nix's, but for "$" and non-ASCII)."""
    return json.dumps(s, ensure_ascii=False).replace("$", "\\$")


def nix_path(p: pathlib.Path) -> str:
    """A Nix path value for an absolute path, whatever characters it holds."""
    return f"(/. + {nix_string(str(p))})"


# The arguments every case function gets: the echo plugin as lib.buildPlugin would make
# it, and the fixture folder for the plugins under tests/configs/plugins.
CASE_ARGS = (
    "{ echo = { outPath = " + nix_string(str(ECHO_PLUGIN)) + "; pluginId = \"botrunner.echo\"; };"
    " fixtures = " + nix_string(str(FIXTURES)) + "; }"
)


def renderer() -> str:
    return f"(import {nix_path(RENDERER)})"


def case_config(path: pathlib.Path) -> str:
    """The option set of a case file, as a Nix expression."""
    return f"(import {nix_path(path)} {CASE_ARGS})"


# ---- the case files -----------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    path: pathlib.Path
    valid: bool
    expect: tuple  # "# expect: " lines: the renderer's errors, exactly
    check: tuple   # "# check: " lines: substrings of `botrunner check` on the rendered file
    warn: tuple    # "# warn: " lines: the renderer's warnings, exactly

    @property
    def name(self) -> str:
        return self.path.stem


def directives(path: pathlib.Path, word: str) -> tuple:
    prefix = f"# {word}: "
    return tuple(line[len(prefix):] for line in path.read_text().splitlines()
                 if line.startswith(prefix))


def load_cases(kind: str) -> list:
    return [Case(p, kind == "valid", directives(p, "expect"), directives(p, "check"),
                 directives(p, "warn"))
            for p in sorted((CASES / kind).glob("*.nix"))]


VALID_CASES = load_cases("valid")
INVALID_CASES = load_cases("invalid")


def case_results_expr(cases: list) -> str:
    """One Nix expression evaluating what the tests need of each case: its errors always;
    the rendered contract when it is valid or has `# check:` lines; and for a valid case the
    rendered text (null when render throws), contract, warnings and credentials."""
    def one(case):
        fields = ["errors = r.errors cfg;"]
        if case.valid or case.check:
            fields.append("yaml = r.toYAML (r.contract cfg);")
        if case.valid:
            fields += [
                "rendered = let t = builtins.tryEval (r.render cfg);"
                " in if t.success then t.value else null;",
                "contract = r.contract cfg;",
                "warnings = r.warnings cfg;",
                "credentials = r.credentials cfg;",
            ]
        return f"(let cfg = {case_config(case.path)}; in {{ {' '.join(fields)} }})"

    return f"let r = {renderer()}; in [ {' '.join(one(c) for c in cases)} ]"


@pytest.fixture(scope="session")
def case_results():
    """Each case's results by name, from one nix-instantiate call. When that call fails (a
    case that does not evaluate at all), each case is evaluated alone, so that only the
    broken one's tests fail, with its own message."""
    cases = VALID_CASES + INVALID_CASES
    try:
        return dict(zip((c.name for c in cases), nix_eval(case_results_expr(cases))))
    except NixError:
        results = {}
        for c in cases:
            try:
                results[c.name] = nix_eval(case_results_expr([c]))[0]
            except NixError as e:
                results[c.name] = e
        return results


@pytest.fixture
def results_of(case_results):
    def get(case: Case) -> dict:
        r = case_results[case.name]
        if isinstance(r, NixError):
            pytest.fail(f"case {case.name} does not evaluate:\n{r.stderr}")
        return r
    return get


# ---- the runner's side ----------------------------------------------------------------------

@dataclass
class CheckResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def botrunner_check(tmp_path):
    """Write a rendered file and run `botrunner check --no-credentials` on it."""
    if not (BOTRUNNER.exists() and (ECHO_PLUGIN / "maubot.yaml").exists()):
        pytest.skip("build/botrunner and build/plugins/echo are missing: run `make` first")

    def run(yaml_text: str, name: str = "botrunner.yaml") -> CheckResult:
        path = tmp_path / name
        path.write_text(yaml_text)
        proc = subprocess.run([str(BOTRUNNER), "check", "--no-credentials", "-c", str(path)],
                              capture_output=True, text=True, errors="replace",
                              timeout=CHECK_TIMEOUT)
        assert proc.returncode >= 0, f"botrunner check killed by signal {-proc.returncode}"
        return CheckResult(proc.returncode, proc.stdout, proc.stderr)

    return run


# The runner's YAML rules (runner/util/yaml_tree.c, yaml_json.c) are YAML 1.2's core schema,
# tightened, not PyYAML's YAML 1.1: keys stay strings, quoted scalars are strings, and plain
# ones resolve by these rules.
RUNNER_NULLS = {"", "~", "null", "Null", "NULL"}
RUNNER_BOOLS = {"true": True, "True": True, "TRUE": True,
                "false": False, "False": False, "FALSE": False}
RUNNER_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
RUNNER_FLOAT_CHARS = set("0123456789+-.eE")


def runner_scalar(value: str) -> object:
    if value in RUNNER_NULLS:
        return None
    if value in RUNNER_BOOLS:
        return RUNNER_BOOLS[value]
    if RUNNER_INT.fullmatch(value):
        return int(value)
    if set(value) <= RUNNER_FLOAT_CHARS and not set(value) <= set("0123456789+-"):
        try:
            f = float(value)
        except ValueError:
            return value
        return f if math.isfinite(f) else value
    return value


def runner_yaml_load(text: str) -> object:
    """The data of a YAML document as the runner reads it (PyYAML parses, we resolve)."""
    yaml = pytest.importorskip("yaml")

    def data(node):
        if isinstance(node, yaml.MappingNode):
            return {k.value: data(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [data(x) for x in node.value]
        return runner_scalar(node.value) if node.style is None else node.value

    return data(yaml.compose(text, Loader=yaml.SafeLoader))
