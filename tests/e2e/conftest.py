"""Shared fixtures for the end-to-end tests: where the binaries are, and a credentials
directory laid out as systemd's LoadCredential= would lay it out."""
import os
import pathlib
import secrets

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "configs"


def binaries():
    """The plain build always; the sanitizer build too when `make unit-asan` produced it."""
    found = []
    for rel in ("build/botrunner", "build-asan/botrunner"):
        path = ROOT / rel
        if path.exists():
            found.append(str(path))
    explicit = os.environ.get("BOTRUNNER_BIN")
    if explicit and explicit not in found:
        found.insert(0, explicit)
    return found


@pytest.fixture(params=binaries(), ids=lambda p: p.split("/")[-2])
def botrunner(request):
    return request.param


@pytest.fixture
def credentials(tmp_path, monkeypatch):
    d = tmp_path / "credentials"
    d.mkdir(mode=0o700)
    values = {
        "secret-key": secrets.token_hex(24),
        "short-key": "0123456789abcdef",
        "registration-token": "reg_Token-1.0~x",
        "bad-token": "not a $token",
        "echo-password": "correct horse battery staple",
    }
    for name, value in values.items():
        p = d / name
        p.write_text(value + "\n")
        p.chmod(0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(d))
    return d, values


def render(src: pathlib.Path, dst_dir: pathlib.Path) -> pathlib.Path:
    """Copy a corpus file with @FIXTURES@ replaced by the fixture folder's absolute path."""
    data = src.read_bytes().replace(b"@FIXTURES@", str(FIXTURES).encode())
    dst = dst_dir / src.name
    dst.write_bytes(data)
    return dst
