#!/usr/bin/env python3
"""Plot bench/compare.py's figures (its CSV files) with matplotlib, which lives in the bench
venv (.venv-bench, made by `make bench-compare`): compare-memory.png, the PSS of each side's
process tree against the number of idle bots (the footprint dashed beside it), and
compare-latency.png, the distribution of the ping round trips of botrunner, maubot and the
floor, with their p50, p95 and p99. Reads and writes in one directory; asserts nothing.

usage: .venv-bench/bin/python bench/compare-plot.py [DIR]   (default bench/results)
"""
import csv
import pathlib
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLOURS = {"botrunner": "#1f77b4", "maubot": "#d62728", "floor": "#7f7f7f"}
LABELS = {"botrunner": "botrunner (supervisor + workers)", "maubot": "maubot 0.6 (one process)",
          "floor": "floor: a bare matrix-nio client"}
# Pixels: the pictures are read on a page of docs/benchmarks.md.
DPI = 110
SIZE = (7.5, 4.6)


def read(directory, name):
    with open(directory / f"compare-{name}.csv", newline="") as f:
        return list(csv.DictReader(f))


def meta_line(directory):
    meta = {r["key"]: r["value"] for r in read(directory, "meta")}
    return (f"{meta.get('date', '')}; {meta.get('machine', '')}; load "
            f"{meta.get('load at start (1/5/15 min)', '?').split()[0]} at start, "
            f"{meta.get('load at end', '?').split()[0]} at end")


def per_run_medians(rows, side, bots, field):
    """The median over runs of each run's median over its samples, in MiB."""
    runs = {}
    for r in rows:
        if r["side"] == side and int(r["bots"]) == bots and r[field] != "":
            runs.setdefault(r["run"], []).append(float(r[field]))
    if not runs:
        return None, None, None
    meds = [statistics.median(v) / 1024 for v in runs.values()]
    return statistics.median(meds), min(meds), max(meds)


def plot_memory(directory):
    rows = read(directory, "memory")
    counts = sorted({int(r["bots"]) for r in rows})
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    for side in ("maubot", "botrunner"):
        for field, style, suffix in (("pss_kib", "-o", "PSS"),
                                     ("footprint_kib", "--", "footprint")):
            points = [(n, *per_run_medians(rows, side, n, field)) for n in counts]
            points = [p for p in points if p[1] is not None]
            if not points:
                continue
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
            ax.errorbar(xs, ys, yerr=err, fmt=style, color=COLOURS[side], capsize=3,
                        label=f"{LABELS[side]}, {suffix}", alpha=1 if suffix == "PSS" else 0.6)
            if suffix == "PSS":
                for x, y in zip(xs, ys):
                    ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(4, 6),
                                fontsize=8, color=COLOURS[side])
    # The goal read against: a tenth of maubot's PSS at each count.
    tenth = [(n, per_run_medians(rows, "maubot", n, "pss_kib")[0]) for n in counts]
    tenth = [(n, m / 10) for n, m in tenth if m is not None]
    if tenth:
        ax.plot([n for n, _ in tenth], [m for _, m in tenth], ":", color="#555555",
                label="a tenth of maubot's PSS (the goal)")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(counts))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    ax.set_xlabel("idle bots")
    ax.set_ylabel("MiB (median of the runs; bars: their range)")
    ax.set_title("Memory of each process tree against bot count", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, meta_line(directory), fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(directory / "compare-memory.png")
    plt.close(fig)


def percentile(values, p):
    s = sorted(values)
    return s[max(1, -(-len(s) * p // 100)) - 1]


def plot_latency(directory):
    rows = read(directory, "latency")
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    for side in ("floor", "maubot", "botrunner"):
        ms = sorted(float(r["rtt_ms"]) for r in rows if r["side"] == side)
        if not ms:
            continue
        ys = [100 * (i + 1) / len(ms) for i in range(len(ms))]
        p = {q: percentile(ms, q) for q in (50, 95, 99)}
        ax.plot(ms, ys, color=COLOURS[side], drawstyle="steps-post",
                label=f"{LABELS[side]}: p50 {p[50]:.0f}, p95 {p[95]:.0f}, p99 {p[99]:.0f} ms")
        for q in (50, 95, 99):
            ax.plot([p[q]], [q], "o", color=COLOURS[side], markersize=4)
    ax.set_xlim(left=0)
    ax.set_xlabel("round trip of `!echo ping`, ms (send request to the reply in /sync)")
    ax.set_ylabel("% of pings at or below")
    ax.set_ylim(0, 101)
    ax.set_title(f"Ping round trip through one Synapse, {len(rows) // 3} pings each",
                 fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, meta_line(directory), fontsize=7, color="#555555")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(directory / "compare-latency.png")
    plt.close(fig)


def main():
    directory = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results"
    plot_memory(directory)
    plot_latency(directory)
    print(f"wrote {directory / 'compare-memory.png'} and {directory / 'compare-latency.png'}")


if __name__ == "__main__":
    main()
