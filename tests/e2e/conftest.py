"""Shared fixtures for the end-to-end tests: where the binaries are, a credentials
directory laid out as systemd's LoadCredential= would lay it out, and the Matrix side:
a real Synapse on 127.0.0.1, people (matrix-nio clients) and botrunner workers."""
import itertools
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


# --- the Matrix side: Synapse, people, bots -----------------------------------------------
#
# synapse            the session's homeserver (started once; the fixture attaches its log
#                    to a failing test's report)
# fresh_synapse(...) a homeserver of the test's own, for a test that changes its config
#                    (rate_limits={"rc_message": {...}}) or stops it; stopped at teardown
# make_person(hs)    a registered Person (person.py), closed at teardown
# make_bot(hs, rooms=[...], ...)   a BotWorker (botworker.py), not yet started; stopped at
#                    teardown, and its stderr must hold no sanitizer report or crash

from botworker import BotWorker  # noqa: E402
from person import Person  # noqa: E402
from synapse_server import Synapse  # noqa: E402

_names = itertools.count(1)


def unique(prefix):
    """A localpart no other test of this run uses ([a-z0-9-], as bot user ids require)."""
    return f"{prefix}-{next(_names)}"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (sleeps, kills, "
                                       "restarts); deselect with -m 'not slow'")


def attach_log(request, title, producer):
    """Have the report of a failing test end with producer()'s text."""
    logs = request.node.__dict__.setdefault("_e2e_logs", [])
    logs.append((title, producer))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for title, producer in item.__dict__.get("_e2e_logs", []):
            try:
                report.sections.append((title, producer()))
            except Exception as e:  # a broken log must not hide the failure itself
                report.sections.append((title, f"(cannot read: {e})"))


@pytest.fixture(scope="session")
def synapse_session(tmp_path_factory):
    hs = Synapse(tmp_path_factory.mktemp("synapse"))
    hs.start()
    try:
        hs.bootstrap()
        yield hs
    finally:
        hs.stop()


@pytest.fixture
def synapse(synapse_session, request):
    """The shared homeserver. A test must not stop it or change its config: use
    fresh_synapse for that."""
    attach_log(request, "synapse log", synapse_session.logs)
    assert synapse_session.running, "the session's Synapse is down:\n" + synapse_session.logs()
    return synapse_session


@pytest.fixture
def fresh_synapse(tmp_path, request):
    started = []

    def make(rate_limits=None):
        hs = Synapse(tmp_path / f"synapse-{len(started)}", rate_limits=rate_limits)
        started.append(hs)
        attach_log(request, f"synapse log ({hs.dir.name})", hs.logs)
        hs.start()
        hs.bootstrap()
        return hs

    yield make
    for hs in started:
        hs.stop()


@pytest.fixture
def make_person(request):
    people = []

    def make(hs, name="alice"):
        p = Person(hs, unique(name)).register()
        people.append(p)
        return p

    yield make
    for p in people:
        p.close()


@pytest.fixture
def make_bot(tmp_path, request):
    bots = []

    def make(hs, rooms, **kwargs):
        kwargs.setdefault("localpart", unique("echobot"))
        bot = BotWorker(hs, tmp_path / f"bot-{len(bots)}", **kwargs, rooms=rooms)
        bots.append(bot)
        attach_log(request, f"worker log ({bot.user_id})", bot.logs)
        return bot

    yield make
    for bot in bots:
        bot.cleanup()
    for bot in bots:
        crashes = bot.crash_reports()
        assert not crashes, f"{bot.user_id}'s worker reported:\n" + "\n".join(crashes)
