#!/usr/bin/env python3
"""Evaluation time of the NixOS module (lib.evalModules, tests/nix/module-eval.nix) with 1,
10, 100 and 1000 instances: the rendered YAML, the assertions and the unit, all forced.

Usage: NIXPKGS_LIB=DIR bench/nix-eval.py [RUNS]   (DIR holds nixpkgs' lib/; the
nix-community/nixpkgs.lib mirror will do). Prints medians; asserts nothing.
"""
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
LIB = os.environ.get("NIXPKGS_LIB")
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
COUNTS = (1, 10, 100, 1000)


def expr(n):
    if n is None:  # the floor: nix-instantiate itself and importing lib
        return f"(import {LIB}/lib).version"
    return (f"let lib = import {LIB}/lib; r = import ./tests/nix/module-eval.nix "
            f"{{ inherit lib; instances = {n}; }}; in "
            f"{{ inherit (r) assertions warnings rendered; unit = r.unit.serviceConfig; }}")


def seconds(e):
    t = time.perf_counter()
    subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", e], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ, "NIX_PATH": ""})
    return time.perf_counter() - t


def main():
    if not LIB or not (pathlib.Path(LIB) / "lib" / "default.nix").exists():
        sys.exit("set NIXPKGS_LIB to a directory holding nixpkgs' lib/")
    version = subprocess.run(["nix-instantiate", "--eval", "--expr", expr(None)],
                             capture_output=True, text=True, check=True).stdout.strip()
    floor = statistics.median(seconds(expr(None)) for _ in range(RUNS))
    print(f"module evaluation (nixpkgs lib {version}, {RUNS} runs each, medians)")
    print(f"  floor (nix-instantiate + import lib): {floor * 1000:7.1f} ms")
    for n in COUNTS:
        t = statistics.median(seconds(expr(n)) for _ in range(RUNS))
        print(f"  {n:5d} instance{'s' if n > 1 else ' '}: {t * 1000:7.1f} ms "
              f"({(t - floor) * 1000:7.1f} ms above the floor)")


if __name__ == "__main__":
    main()
