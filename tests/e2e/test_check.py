"""`botrunner check` against the config corpus in tests/configs: every broken file gives
its clear message and exit 1 (never a crash), every valid one exit 0 and a summary."""
import os
import pathlib
import subprocess
import zipfile

import pytest

from conftest import FIXTURES, render

VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))


def run(botrunner, *args, timeout=30):
    proc = subprocess.run([botrunner, *args], capture_output=True, text=True,
                          errors="replace", timeout=timeout)
    # A sanitizer report or a signal is a crash whatever the exit code says.
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    assert "Sanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    return proc


def directives(path: pathlib.Path, word: str):
    out = []
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        prefix = f"# {word}: "
        if line.startswith(prefix):
            out.append(line[len(prefix):])
    return out


@pytest.mark.parametrize("src", VALID, ids=lambda p: p.stem)
def test_valid(botrunner, credentials, tmp_path, src):
    cfg = render(src, tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "is valid:" in proc.stdout
    for text in directives(src, "warn"):
        assert text in proc.stderr, f"missing warning {text!r} in:\n{proc.stderr}"
    if not directives(src, "warn"):
        assert proc.stderr == ""


@pytest.mark.parametrize("src", INVALID, ids=lambda p: p.stem)
def test_invalid(botrunner, credentials, tmp_path, src):
    cfg = render(src, tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    expected = directives(src, "expect") or ["the file is empty"]
    lines = proc.stderr.splitlines()
    for text in expected:
        assert any(text in line for line in lines), f"missing {text!r} in:\n{proc.stderr}"
    assert proc.stdout == ""


def test_every_line_names_a_path_or_the_file(botrunner, credentials, tmp_path):
    cfg = render(FIXTURES / "invalid" / "many-errors.yaml", tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    lines = proc.stderr.splitlines()
    assert lines[-1].endswith("5 errors"), proc.stderr
    for line in lines[:-1]:
        path, _, message = line.partition(": ")
        assert path and message and " " not in path, line
        assert line.endswith(")") and "(line " in line, line


def test_ten_megabyte_file(botrunner, credentials, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# padding\n" * (1024 * 1024))
    proc = run(botrunner, "check", "-c", str(big))
    assert proc.returncode == 1
    assert "the file is too large (10485760 bytes, limit 1048576)" in proc.stderr


def test_directory_instead_of_file(botrunner, credentials, tmp_path):
    proc = run(botrunner, "check", "-c", str(tmp_path))
    assert proc.returncode == 1
    assert "is a directory, not a config file" in proc.stderr


def test_missing_file(botrunner, credentials, tmp_path):
    proc = run(botrunner, "check", "-c", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1
    assert "cannot open" in proc.stderr and "No such file or directory" in proc.stderr


@pytest.mark.parametrize("args", [[], ["-c"], ["-c", "a", "b"], ["--bogus"]])
def test_usage_exits_2(botrunner, args):
    proc = run(botrunner, "check", *args)
    assert proc.returncode == 2


def test_unknown_command_exits_2(botrunner):
    assert run(botrunner, "frobnicate").returncode == 2


def test_version(botrunner):
    proc = run(botrunner, "--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("botrunner ")


def test_no_credentials_flag_skips_reading(botrunner, tmp_path, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = render(FIXTURES / "valid" / "minimal.yaml", tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 1
    assert "CREDENTIALS_DIRECTORY" in proc.stderr
    proc = run(botrunner, "check", "--no-credentials", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr


def test_credential_too_open_warns(botrunner, credentials, tmp_path):
    d, _ = credentials
    (d / "secret-key").chmod(0o644)
    cfg = render(FIXTURES / "valid" / "minimal.yaml", tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 0
    assert 'secret_key_file: warning: credential "secret-key" can be read or written by group or others' \
        in proc.stderr


def test_secrets_never_printed(botrunner, credentials, tmp_path):
    """Errors about credentials name them; their content never reaches the output."""
    d, values = credentials
    cfg = tmp_path / "c.yaml"
    cfg.write_text(render(FIXTURES / "invalid" / "registration-token.yaml", tmp_path).read_text()
                   .replace("secret_key_file: secret-key", "secret_key_file: short-key"))
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 1
    for value in values.values():
        assert value not in proc.stdout + proc.stderr


def test_plugin_from_mbp_archive(botrunner, credentials, tmp_path):
    mbp = tmp_path / "echo.mbp"
    with zipfile.ZipFile(mbp, "w") as z:
        z.write(FIXTURES / "plugins" / "echo" / "maubot.yaml", "maubot.yaml")
        z.write(FIXTURES / "plugins" / "echo" / "echo.so", "echo.so")
    text = (FIXTURES / "valid" / "minimal.yaml").read_text().replace(
        "@FIXTURES@/plugins/echo", str(mbp))
    cfg = tmp_path / "mbp.yaml"
    cfg.write_text(text)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 0, proc.stderr


def test_plugin_archive_garbage(botrunner, credentials, tmp_path):
    mbp = tmp_path / "bad.mbp"
    mbp.write_bytes(os.urandom(4096))
    text = (FIXTURES / "valid" / "minimal.yaml").read_text().replace(
        "@FIXTURES@/plugins/echo", str(mbp))
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 1
    assert "plugins[0].path: plugin" in proc.stderr and "cannot be read" in proc.stderr


def test_fifo_does_not_hang(botrunner, credentials, tmp_path):
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    proc = run(botrunner, "check", "-c", str(fifo), timeout=10)
    assert proc.returncode == 1
    assert "is not a regular file" in proc.stderr


def test_room_listed_many_times_warns_once(botrunner, credentials, tmp_path):
    cfg = render(FIXTURES / "valid" / "rooms-warnings.yaml", tmp_path)
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.stderr.count("is listed more than once") == 2  # the 2nd and 3rd entries


def test_plugin_settings_too_large(botrunner, credentials, tmp_path):
    text = (FIXTURES / "valid" / "minimal.yaml").read_text()
    big = ", ".join(f"k{i}: {'x' * 200}" for i in range(1500))
    cfg = tmp_path / "big-settings.yaml"
    cfg.write_text(render(FIXTURES / "valid" / "minimal.yaml", tmp_path).read_text()
                   + f"    config: {{{big}}}\n")
    proc = run(botrunner, "check", "-c", str(cfg))
    assert proc.returncode == 1
    assert "instances[0].config: the plugin settings are larger than 262144 bytes as JSON" \
        in proc.stderr
