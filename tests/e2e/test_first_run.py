"""The first command on a fresh machine: `make demo` (and `make check`) install the Debian
packages and only then ask pkg-config for flags. Before the fix, the flags were computed when
make read the Makefile, before tools/install-deps ran, so the first `make demo` linked with no
library at all (`undefined reference to sqlite3_exec`). A fresh machine is simulated with a
pkg-config that finds nothing until the "install" step has run; tools/fresh-machine-test
proves the real thing on a debootstrap root."""
import os
import pathlib
import shutil
import subprocess

from conftest import ROOT

ALL_PACKAGES = "sqlite3 libcyaml yaml-0.1 libsystemd libsodium libarchive libcurl libmicrohttpd"


def make(tmp_path, *args, env=None):
    return subprocess.run(["make", "--no-print-directory", f"BUILD={tmp_path / 'build'}", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_a_build_without_the_packages_names_them_and_compiles_nothing(tmp_path):
    empty = tmp_path / "no-pc-files"
    empty.mkdir()
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(empty))
    env.pop("PKG_CONFIG_PATH", None)
    res = make(tmp_path, "all", env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"pkg-config finds no {ALL_PACKAGES}: run `make deps` first" in res.stderr
    assert not (tmp_path / "build").exists()


def test_make_demo_installs_the_packages_before_it_reads_their_flags(tmp_path):
    # pkg-config answers only once the install step has run, as on a fresh machine.
    marker = tmp_path / "installed"
    shim = tmp_path / "bin"
    shim.mkdir()
    real = shutil.which("pkg-config")
    (shim / "pkg-config").write_text(f'#!/bin/sh\n[ -e "{marker}" ] || exit 1\nexec {real} "$@"\n')
    (shim / "pkg-config").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}")
    res = make(tmp_path, "-j2", f"INSTALL_DEPS=touch {marker}", "DEMO=true",
               f"VENV={ROOT / '.venv'}", "demo", env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    built = tmp_path / "build" / "botrunner"
    version = subprocess.run([str(built), "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("botrunner ")
    assert (tmp_path / "build" / "plugins" / "echo" / "echo.so").exists()
