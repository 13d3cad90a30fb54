"""Plugin packages (.mbp) through the CLI, as an operator meets them: `botrunner plugin pack`
and `inspect`, `check` of a config naming a package, a fleet that runs one, and every kind of
hostile package, each refused with its reason by inspect and check, refused by `run`, with
nothing written outside the state directory and nothing extracted."""
import io
import json
import os
import pathlib
import shutil
import stat
import struct
import subprocess
import zipfile
import zlib

import pytest

from conftest import FIXTURES, ROOT, render

BUILD = ROOT / "build"
ECHO_DIR = BUILD / "plugins" / "echo"
BAD_SO = BUILD / "tests" / "plugins" / "bad.so"

MANIFEST = "id: test.bad\nversion: 1.0.0\nmodules: [m.so]\nmain_class: Good\n"


def run(binary, *args, env=None, timeout=60):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def write_zip(path, members):
    """members: (name, bytes, unix mode or None). Stored as written, names untouched."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            z.writestr(info, data)
    return path


def good_members(so=None, manifest=MANIFEST):
    return [("maubot.yaml", manifest.encode(), None),
            ("m.so", so if so is not None else BAD_SO.read_bytes(), 0o100755)]


def raw_zip(path, entries):
    """A zip written byte by byte, entries stored: (name, data, declared size). A declared
    size other than len(data) is a lie told in zip64 fields of both headers: a 10 GB entry
    that costs nothing to make."""
    body, cd = b"", b""
    for name, data, declared in entries:
        name = name.encode()
        crc = zlib.crc32(data)
        if declared == len(data):
            extra, size32 = b"", len(data)
        else:
            extra, size32 = struct.pack("<HHQQ", 1, 16, declared, declared), 0xFFFFFFFF
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, size32,
                            size32, len(name), len(extra))
        cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                          size32, size32, len(name), len(extra), 0, 0, 0, 0, len(body))
        cd += name + extra
        body += local + name + extra + data
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(cd),
                       len(body), 0)
    path.write_bytes(body + cd + eocd)
    return path


def foreign_elf():
    so = bytearray(BAD_SO.read_bytes())
    machine = struct.unpack_from("<H", so, 18)[0]
    struct.pack_into("<H", so, 18, 183 if machine != 183 else 62)  # AArch64 / x86-64
    return bytes(so)


def hostile(tmp_path):
    """name -> (path of the package, words its refusal holds)."""
    t = tmp_path / "hostile"
    t.mkdir()
    many = [("maubot.yaml", MANIFEST.encode(), None), ("m.so", b"x", None)]
    many += [(f"f{i}", b"", None) for i in range(100000)]
    cases = {
        "zip-slip": (good_members() + [("../../evil.sh", b"#!/bin/sh\n", None)],
                     "could leave the package"),
        "absolute": (good_members() + [("/tmp/botrunner-evil", b"x", None)], "absolute path"),
        "symlink": (good_members() + [("link", b"/etc/shadow", 0o120777)], "symbolic link"),
        "device": (good_members() + [("null", b"", 0o020644)], "device, FIFO or socket"),
        # (A FIFO is not here: libarchive reads a zip's FIFO as an empty regular file.)
        "block": (good_members() + [("sda", b"", 0o060644)], "device, FIFO or socket"),
        "socket": (good_members() + [("sock", b"", 0o140644)], "device, FIFO or socket"),
        "bomb": (good_members() + [("zeros", bytes(64 * 1024 * 1024), None)],
                 "more than the package may expand to"),
        "entries": (many, "more than 1000 entries"),
        "alias-bomb": ([("maubot.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nid: *b\n", None)],
                       "aliases"),
        "not-elf": (good_members(so=b"#!/bin/sh\necho not a module\n"), "not an ELF file"),
        "foreign-elf": (good_members(so=foreign_elf()), "an ELF file for"),
        "function": (good_members(manifest=MANIFEST.replace("Good", "AFunction")),
                     "AFunction is a function, not a plugin descriptor"),
        "wrong-abi": (good_members(manifest=MANIFEST.replace("Good", "WrongAbi")),
                      "built for plugin ABI 3"),
        "abi-1": (good_members(manifest=MANIFEST.replace("Good", "AbiOne")),
                  "built for plugin ABI 1, the runner has 2: rebuild it"),
        "dependency": (good_members(manifest=MANIFEST + "dependencies: [\"yt-dlp>=9999\"]\n"),
                       "dependency \"yt-dlp>=9999\": yt-dlp is version 2026.10.26"),
    }
    out = {}
    for name, (members, words) in cases.items():
        out[name] = (write_zip(t / f"{name}.mbp", members), words)
    out["sparse-10gb"] = (raw_zip(t / "sparse-10gb.mbp", [
        ("maubot.yaml", MANIFEST.encode(), len(MANIFEST)),
        ("m.so", b"short!", 10 * 1024 ** 3)]), "declares")
    return out


@pytest.fixture
def fake_ytdlp(tmp_path):
    """A yt-dlp on PATH that answers --version as a current one does."""
    d = tmp_path / "bin"
    d.mkdir()
    p = d / "yt-dlp"
    p.write_text("#!/bin/sh\necho 2026.10.26\n")
    p.chmod(0o755)
    return dict(os.environ, PATH=f"{d}:{os.environ['PATH']}")


def test_pack_and_inspect(botrunner, tmp_path):
    out = tmp_path / "echo.mbp"
    res = run(botrunner, "plugin", "pack", str(ECHO_DIR), "-o", str(out))
    assert res.returncode == 0, res.stderr
    again = tmp_path / "again.mbp"
    assert run(botrunner, "plugin", "pack", str(ECHO_DIR), "-o", str(again)).returncode == 0
    assert out.read_bytes() == again.read_bytes(), "pack is not reproducible"
    assert out.read_bytes() == (BUILD / "plugins" / "echo.mbp").read_bytes()
    res = run(botrunner, "plugin", "inspect", "--json", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    import hashlib
    assert doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert (doc["id"], doc["version"], doc["modules"], doc["main_class"]) == \
        ("botrunner.echo", "0.1.0", ["echo.so"], "EchoBot")
    assert doc["verdict"] == "valid" and doc["reason"] is None
    text = run(botrunner, "plugin", "inspect", str(out)).stdout
    assert "verdict: valid" in text and doc["sha256"] in text
    assert run(botrunner, "plugin", "inspect").returncode == 2
    assert run(botrunner, "plugin", "frobnicate").returncode == 2


def test_inspect_shows_dependencies_with_the_version_found(botrunner, tmp_path, fake_ytdlp):
    pkg = write_zip(tmp_path / "deps.mbp", good_members(
        manifest=MANIFEST + "dependencies: [\"yt-dlp>=2023.1.6\"]\n"))
    doc = json.loads(run(botrunner, "plugin", "inspect", "--json", str(pkg), env=fake_ytdlp).stdout)
    assert doc["dependencies"] == [{"spec": "yt-dlp>=2023.1.6", "found": "2026.10.26",
                                    "ok": True, "reason": None}]
    assert doc["verdict"] == "valid"
    env = dict(fake_ytdlp, PATH="/nonexistent")
    res = run(botrunner, "plugin", "inspect", "--json", str(pkg), env=env)
    assert res.returncode == 1
    assert "no program yt-dlp on PATH" in json.loads(res.stdout)["reason"]


def test_hostile_packages_are_refused_with_their_reason(botrunner, credentials, tmp_path,
                                                        fake_ytdlp):
    for name, (pkg, words) in hostile(tmp_path).items():
        res = run(botrunner, "plugin", "inspect", "--json", str(pkg), env=fake_ytdlp)
        assert res.returncode == 1, (name, res.stdout, res.stderr)
        doc = json.loads(res.stdout)
        assert doc["verdict"] == "rejected" and words in doc["reason"], (name, doc["reason"])
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(render(FIXTURES / "valid" / "minimal.yaml", tmp_path).read_text()
                       .replace(str(FIXTURES / "plugins" / "echo"), str(pkg))
                       .replace("botrunner.echo", "test.bad"))
        res = run(botrunner, "check", "-c", str(cfg), env=fake_ytdlp)
        assert res.returncode == 1, (name, res.stdout, res.stderr)
        assert words in res.stderr, (name, res.stderr)
        assert "plugins[0].path" in res.stderr
    assert not pathlib.Path("/tmp/botrunner-evil").exists()
    assert not (tmp_path / "evil.sh").exists() and not (tmp_path.parent / "evil.sh").exists()


def test_run_refuses_a_hostile_package_and_extracts_nothing(botrunner, credentials, tmp_path):
    pkg, _ = hostile(tmp_path)["zip-slip"]
    state = tmp_path / "state"
    cfg = tmp_path / "run.yaml"
    cfg.write_text(render(FIXTURES / "valid" / "minimal.yaml", tmp_path).read_text()
                   .replace(str(FIXTURES / "plugins" / "echo"), str(pkg))
                   .replace("botrunner.echo", "test.bad")
                   .replace("/var/lib/botrunner", str(state)))
    res = run(botrunner, "run", "-c", str(cfg))
    assert res.returncode != 0
    assert "could leave the package" in res.stderr
    assert not (state / "plugins" / "packages").exists()
    assert not (tmp_path / "evil.sh").exists()


from test_fleet import make_fleet  # noqa: E402,F401  (the fixture)
from botworker import wait_until  # noqa: E402


def plugins_of(fleet):
    return fleet.status()["plugins"]


def test_plugin_states_extraction_trash_and_rejection(synapse, make_person, make_fleet,
                                                       tmp_path):
    """A fleet of echo.mbp: loaded into plugins/packages/<sha256> (0700, files 0500) and
    active; a reload that drops it moves the extraction to trash/ and shows it trashed, the
    next (past the retention) deleted; a refused reload shows the plugin it rejects."""
    alice = make_person(synapse)
    room = alice.create_room(name="packages")
    fleet = make_fleet(synapse, count=1, rooms=[room],
                       env={"BOTRUNNER_TRASH_RETENTION_S": "2"})
    fleet.start()
    fleet.join(alice)
    import hashlib
    sha = hashlib.sha256(pathlib.Path(fleet.plugin_path).read_bytes()).hexdigest()
    wait_until(lambda: plugins_of(fleet)[0]["state"] == "active", 30, "the plugin active",
               guard=fleet.assert_running)
    p = plugins_of(fleet)[0]
    assert (p["id"], p["sha256"], p["path"]) == ("botrunner.echo", sha, fleet.plugin_path)
    extracted = fleet.state_dir / "plugins" / "packages" / sha
    assert stat.S_IMODE(extracted.stat().st_mode) == 0o700
    assert stat.S_IMODE((extracted / "echo.so").stat().st_mode) == 0o500

    # A refused reload: the new file names a package that cannot load.
    broken = write_zip(tmp_path / "broken.mbp", good_members(so=b"not ELF"))
    cfg = fleet.config()
    cfg["plugins"].append({"path": str(broken)})
    fleet.reload(cfg)
    wait_until(lambda: any(q["state"] == "rejected" for q in plugins_of(fleet)), 30,
               "the rejection in /status", guard=fleet.assert_running)
    rejected = [q for q in plugins_of(fleet) if q["state"] == "rejected"][0]
    assert rejected["reason"].startswith("plugins[1].path: plugin test.bad 1.0.0")
    assert "not an ELF file" in rejected["reason"]

    # The plugin and its instance removed: the extraction goes to the trash.
    fleet.remove_instance("echo-1")
    cfg = fleet.config()
    cfg["plugins"] = []
    fleet.reload(cfg)
    wait_until(lambda: any(q["state"] == "trashed" for q in plugins_of(fleet)), 30,
               "the plugin trashed", guard=fleet.assert_running)
    assert not any(q["state"] == "rejected" for q in plugins_of(fleet))
    assert not extracted.exists() and (fleet.state_dir / "trash" / sha).is_dir()
    import time
    time.sleep(3)
    fleet.reload(cfg)
    wait_until(lambda: any(q["state"] == "deleted" for q in plugins_of(fleet)), 30,
               "the plugin deleted", guard=fleet.assert_running)
    assert not (fleet.state_dir / "trash" / sha).exists()
