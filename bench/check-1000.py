#!/usr/bin/env python3
"""Benchmark `botrunner check` on a generated config with 1000 instances: median and p90
wall time over repeated runs, median peak RSS (by GNU time), and the size of the stripped
binary. Prints figures; asserts nothing.

usage: bench/check-1000.py [BOTRUNNER] [--runs N] [--instances N]
"""
import argparse
import os
import pathlib
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def generate(path: pathlib.Path, n: int, plugin: pathlib.Path) -> None:
    lines = [
        "homeserver: {server_name: clarun.xyz, url: 'http://127.0.0.1:6167'}",
        "state_directory: /var/lib/botrunner",
        "secret_key_file: secret-key",
        "registration_token_file: registration-token",
        "notifications: {room: '!admin:clarun.xyz', sender: bot-0}",
        f"plugins: [{{path: '{plugin}'}}]",
        "instances:",
    ]
    for i in range(n):
        lines += [
            f"  - id: bot-{i}",
            "    plugin: botrunner.echo",
            f"    user: '@bot-{i}:clarun.xyz'",
            f"    room_subscriptions: ['!room{i}:clarun.xyz', '!shared:clarun.xyz']",
            f"    command_prefix: '!b{i}'",
            "    rate_limit: {max_requests_per_minute: 10, burst_size: 3, backoff_seconds: 30}",
            "    config: {greeting: hello, limits: [1, 2, 3]}",
        ]
    path.write_text("\n".join(lines) + "\n")


def run_once(binary: str, cfg: pathlib.Path, env) -> float:
    start = time.perf_counter()
    proc = subprocess.run([binary, "check", "-c", str(cfg)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"check failed: {proc.stderr.decode()[:2000]}")
    return elapsed


def peak_rss_kib(binary: str, cfg: pathlib.Path, env) -> int:
    """Peak RSS by GNU time: a child forked from this Python process would count Python's
    own pages until it execs, so the measurement comes from a small C parent instead."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "check", "-c", str(cfg)],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(proc.stderr.strip().splitlines()[-1])


def peak_rss_kib_cmd(cmd, env) -> int:
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(proc.stderr.strip().splitlines()[-1])


def make_mbp(tmp: pathlib.Path) -> pathlib.Path:
    """The echo plugin as a package, as `make` packs it (check now reads every entry and
    proves the module)."""
    mbp = tmp / "echo.mbp"
    shutil.copy(ROOT / "build" / "plugins" / "echo.mbp", mbp)
    return mbp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(ROOT / "build" / "botrunner"))
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--instances", type=int, default=1000)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        creds = tmp / "creds"
        creds.mkdir(mode=0o700)
        for name, value in (("secret-key", secrets.token_hex(32)),
                            ("registration-token", "bench-token")):
            (creds / name).write_text(value)
            (creds / name).chmod(0o600)
        cfg = tmp / "fleet.yaml"
        generate(cfg, args.instances, make_mbp(tmp))
        cfg_dir = tmp / "fleet-dir.yaml"
        generate(cfg_dir, args.instances, ROOT / "tests" / "configs" / "plugins" / "echo")
        env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
        run_once(args.binary, cfg, env)  # warm the page cache
        times = sorted(run_once(args.binary, cfg, env) * 1000 for _ in range(args.runs))
        peaks = sorted(peak_rss_kib(args.binary, cfg, env) for _ in range(5))
        peaks_dir = sorted(peak_rss_kib(args.binary, cfg_dir, env) for _ in range(5))
        base = sorted(peak_rss_kib_cmd([args.binary, "--version"], env) for _ in range(5))
        stripped = tmp / "botrunner.stripped"
        shutil.copy(args.binary, stripped)
        subprocess.run(["strip", "--strip-all", str(stripped)], check=True)

        print(f"botrunner check, {args.instances} instances "
              f"({cfg.stat().st_size} bytes of YAML), {args.runs} runs:")
        print(f"  wall time   median {statistics.median(times):.1f} ms, "
              f"p90 {times[int(len(times) * 0.9) - 1]:.1f} ms, min {times[0]:.1f} ms")
        print(f"  peak RSS    median {statistics.median(peaks) / 1024:.1f} MiB with the plugin "
              f"as a .mbp (libarchive loaded), {statistics.median(peaks_dir) / 1024:.1f} MiB "
              f"with a plugin directory; `--version` alone {statistics.median(base) / 1024:.1f} MiB")
        print(f"  binary      {os.path.getsize(args.binary)} bytes as built, "
              f"{stripped.stat().st_size} bytes stripped")


if __name__ == "__main__":
    main()
