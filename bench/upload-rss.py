#!/usr/bin/env python3
"""Benchmark the memory an upload costs the worker's Matrix client: starts Synapse (with
max_upload_size raised to 100M) and a user, writes a 50 MB file, and runs the C program
bench/upload-rss.c (build/bench/upload-rss) on it several times; each run uploads the file
with mx_upload() and prints its peak RSS growth and time. Prints the medians; asserts
nothing.

usage: bench/upload-rss.py [UPLOAD_RSS_BINARY] [--runs N] [--mb N]
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.use_harness()

# The whole run, Synapse's start included; a normal one takes well under a minute.
TIME_LIMIT_S = 900
# One upload of 50 MB to a local Synapse takes seconds; past this it is a hang.
UPLOAD_TIMEOUT_S = 300
# The homeserver's own limit must let the file through (Synapse's default is 50M).
MAX_UPLOAD_SIZE = "100M"
# The file is written in pieces of this size (random bytes, so nothing can compress it).
CHUNK = 1 << 20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.ROOT / "build" / "bench" /
                                                     "upload-rss"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=int, default=50, help="file size in MB (10^6 bytes)")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        rel = os.path.relpath(args.binary, harness.ROOT)
        raise SystemExit(f"{args.binary} missing: `make {rel}` builds it")

    growth, seconds = [], []
    with harness.time_limit(TIME_LIMIT_S, "the upload benchmark"), \
            tempfile.TemporaryDirectory(prefix="br-bench-upload-") as tmp:
        tmp = pathlib.Path(tmp)
        size = args.mb * 1000 * 1000
        data = tmp / "upload.bin"
        with open(data, "wb") as f:
            for left in range(size, 0, -CHUNK):
                f.write(os.urandom(min(CHUNK, left)))
        with harness.homeserver(tmp, extra_config={"max_upload_size": MAX_UPLOAD_SIZE}) as hs:
            _, token = hs.register_with_shared_secret("uploader", "uploader's password")
            env = dict(os.environ, BENCH_HS_URL=hs.base_url, BENCH_TOKEN=token)
            for _ in range(args.runs):
                proc = subprocess.run([args.binary, str(data)], env=env, capture_output=True,
                                      text=True, timeout=UPLOAD_TIMEOUT_S)
                if proc.returncode != 0:
                    raise SystemExit(f"upload-rss failed:\n{proc.stdout}{proc.stderr}")
                seconds.append(float(re.search(r"in ([\d.]+) s", proc.stdout).group(1)))
                growth.append(int(re.search(r"growth (-?\d+) KiB", proc.stdout).group(1)))

    print(f"mx_upload() of a {args.mb} MB file to Synapse on 127.0.0.1, {args.runs} runs "
          f"({os.path.relpath(args.binary, harness.ROOT)}):")
    print(f"  peak RSS growth (VmHWM after - VmRSS before): median {statistics.median(growth):.0f} "
          f"KiB, max {max(growth)} KiB   (goal: under 1 MB)")
    print(f"  time: median {statistics.median(seconds):.2f} s "
          f"({size / statistics.median(seconds) / 1e6:.0f} MB/s)")


if __name__ == "__main__":
    main()
