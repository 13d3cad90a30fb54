#!/usr/bin/env python3
"""Benchmark where a small fleet's memory goes, shared object by shared object: `botrunner
run` with 3 echo bots (the default config, each in a room of its own) on Synapse, idle once
every bot has answered a ping; for every mapping of the supervisor and its workers, by file
name: how many of the processes map it, their summed RSS, PSS and private pages (USS), and
its footprint (its physical pages counted once over the fleet, /proc/PID/pagemap, as root).
Then the same fleet again under each variant of what the processes load, chosen from the
outside (the environment), and what each changes in summed PSS and footprint:

- libcurl-gnutls: Debian's libcurl built with GnuTLS instead of OpenSSL, given to the
  workers' dlopen("libcurl.so.4") through LD_LIBRARY_PATH (the same ABI): one TLS library
  per process, since libldap and librtmp, in libcurl's closure, load GnuTLS anyway;
- GNUTLS_NO_IMPLICIT_INIT=1: GnuTLS's library constructor then skips gnutls_global_init()
  (the OpenSSL libcurl never calls it, the supervisor's libmicrohttpd does, in MHD_init);
- MALLOC_ARENA_MAX=1: one malloc arena per process (the supervisor's threads get their own).

With --before OTHER_BOTRUNNER (a build of another commit), that binary's fleet is a variant
too, first and last, so that a change of the code is measured against the code before it in
the same run. Each variant is a run of its own, in the order given, the first one last again
(to see the drift). Prints figures; asserts nothing. Bounded in time; stops what it started.

usage: bench/library-cost.py [BOTRUNNER] [--before OTHER_BOTRUNNER] [--bots N] [--top N]
"""
import argparse
import os
import pathlib
import statistics
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.use_harness()
import compare  # noqa: E402  (its fleet of the default config, pings and idle waits)

# The whole run: Synapse's start, one fleet registering, five fleets measured.
TIME_LIMIT_S = 900
DEFAULT_BOTS = 3
# Readings of the fleet's memory per variant; the medians are printed.
SAMPLES = 5
SAMPLE_INTERVAL_S = 0.5
# Debian's libcurl built against GnuTLS: the same soname's ABI under another name.
CURL_GNUTLS = "/usr/lib/x86_64-linux-gnu/libcurl-gnutls.so.4"


def frames_by_mapping(pid):
    """{mapping name: set of physical frames} of one process: shared objects by file name,
    "[heap]", "[stack]", "[anon]" for the other anonymous mappings, "[other]" for the rest."""
    out = {}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            parts = line.split(maxsplit=5)
            if line.rstrip().endswith("[vsyscall]"):
                continue
            path = parts[5].strip() if len(parts) == 6 else ""
            name = (os.path.basename(path.removesuffix(" (deleted)")) if path.startswith("/")
                    else path or "[anon]")
            if name not in ("[heap]", "[stack]", "[anon]") and ".so" not in name:
                name = "[other]" if not path.startswith("/") else name
            start, end = (int(x, 16) for x in parts[0].split("-"))
            pagemap.seek(start // harness.PAGE_BYTES * 8)
            raw = pagemap.read((end - start) // harness.PAGE_BYTES * 8)
            frames = out.setdefault(name, set())
            for entry in struct.unpack(f"{len(raw) // 8}Q", raw):
                if entry & harness.PAGEMAP_PRESENT:
                    frames.add(entry & harness.PAGEMAP_PFN_MASK)
    return out


def smaps_by_mapping(pid):
    """{mapping name (as frames_by_mapping names it): {"rss", "pss", "uss"} in KiB}."""
    out = {}
    name = None
    for line in pathlib.Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            path = line.split(maxsplit=5)[5].strip() if len(head) >= 6 else ""
            name = (os.path.basename(path.removesuffix(" (deleted)")) if path.startswith("/")
                    else path or "[anon]")
            if name not in ("[heap]", "[stack]", "[anon]") and ".so" not in name:
                name = "[other]" if not path.startswith("/") else name
            out.setdefault(name, {"rss": 0, "pss": 0, "uss": 0})
        elif head and head[0] in ("Rss:", "Pss:"):
            out[name][head[0][:-1].lower()] += int(head[1])
        elif head and head[0] in ("Private_Clean:", "Private_Dirty:"):
            out[name]["uss"] += int(head[1])
    return out


def fleet_libraries(pids):
    """Per mapping name over the processes: processes, RSS, PSS, USS, footprint (KiB)."""
    table = {}
    frames = {}
    for pid in pids:
        for name, m in smaps_by_mapping(pid).items():
            t = table.setdefault(name, {"procs": 0, "rss": 0, "pss": 0, "uss": 0})
            t["procs"] += 1
            for k in ("rss", "pss", "uss"):
                t[k] += m[k]
        for name, f in frames_by_mapping(pid).items():
            frames.setdefault(name, set()).update(f)
    for name, f in frames.items():
        table.setdefault(name, {"procs": 0, "rss": 0, "pss": 0, "uss": 0})["footprint"] = \
            len(f) * harness.PAGE_KIB
    return table


# What a libcurl built for less would still load of Debian's libcurl closure, by file name
# prefix: for HTTP(S) alone with OpenSSL (nixpkgs' curlMinimal is one such), itself, its TLS
# library, zlib, HTTP/2 and what every process maps anyway; for plain HTTP alone (the
# contract's homeserver is http:// on loopback unless allow_remote), no TLS library either.
BASE_KEEPS = ("libcurl", "libz.", "libnghttp2.", "libc.", "ld-linux", "libm.", "libresolv.")
MINIMAL_CURLS = (("HTTP(S) with OpenSSL alone", BASE_KEEPS + ("libssl.", "libcrypto.")),
                 ("plain HTTP alone", BASE_KEEPS))


def curl_closure(pid):
    """File names (as mapped) of libcurl and the objects of its `ldd` closure in a process."""
    import re
    import subprocess
    curl = next((line.split()[-1] for line in pathlib.Path(f"/proc/{pid}/maps").read_text()
                 .splitlines() if os.path.basename(line.split()[-1]).startswith("libcurl")),
                None)
    if not curl:
        return set()
    out = subprocess.run(["ldd", curl], capture_output=True, text=True, timeout=60).stdout
    return {os.path.basename(curl)} | {os.path.basename(os.path.realpath(m.group(1)))
                                       for m in re.finditer(r"=> (/\S+)", out)}


def minimal_curl_estimate(supervisor, workers, keeps):
    """KiB of physical pages the workers hold for objects of libcurl's closure that a
    libcurl keeping only `keeps` would not load, less the pages the supervisor maps too: an
    estimate of what such a libcurl would save this fleet (its own smaller size and what
    its initialisation allocates not counted); and the names of those objects."""
    if not workers:
        return 0, []
    dropped = {n for n in curl_closure(workers[0]) if not n.startswith(keeps)}
    frames = set()
    for pid in workers:
        for name, f in frames_by_mapping(pid).items():
            if name in dropped:
                frames |= f
    for f in frames_by_mapping(supervisor).values():
        frames -= f
    return len(frames) * harness.PAGE_KIB, sorted(dropped)


def measure(side, person, sender, bots, env, binary):
    """Start the fleet of `binary` with `env`, wait until every bot answered and all is
    quiet, read it SAMPLES times; returns (medians of the summed figures, the last
    per-library table)."""
    import fleet as fleet_module
    fleet_module.BOTRUNNER = binary
    side.fleet.extra_env = dict(env)
    began = side.start(bots)
    try:
        compare.time_to_answering(person, sender, side.bots[:bots], began, side.guard)
        compare.wait_quiet(person, [room for _, room in side.bots[:bots]])
        time.sleep(compare.IDLE_SETTLE_S)
        readings = []
        for i in range(SAMPLES):
            if i:
                time.sleep(SAMPLE_INTERVAL_S)
            readings.append(compare.tree_memory(side.pids()))
        table = fleet_libraries(side.pids())
        sup = harness.memory(side.fleet.pid)
        estimates = [(what, *minimal_curl_estimate(side.fleet.pid, side.pids()[1:], keeps))
                     for what, keeps in MINIMAL_CURLS]
    finally:
        side.stop()
    summed = {k: statistics.median(r[k] for r in readings if r[k] is not None)
              for k in ("rss", "pss", "uss", "footprint")}
    summed["supervisor_uss"] = sup["uss"]
    summed["minimal_curl"] = estimates
    return summed, table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.DEFAULT_BOTRUNNER))
    ap.add_argument("--before", help="another build of botrunner, measured first and last")
    ap.add_argument("--bots", type=int, default=DEFAULT_BOTS)
    ap.add_argument("--top", type=int, default=30, help="rows of the per-library table")
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    os.environ["E2E_FLEET_BIN"] = args.binary
    import botworker
    import fleet as fleet_module
    fleet_module.BOTRUNNER = args.binary
    beside = pathlib.Path(args.binary).parent / "plugins" / "echo"
    if beside.is_dir():
        fleet_module.ECHO_PLUGIN = botworker.ECHO_PLUGIN = str(beside)

    results = []
    load = [os.getloadavg()[0]]
    with harness.time_limit(TIME_LIMIT_S, "the library benchmark"), \
            tempfile.TemporaryDirectory(prefix="br-bench-libs-") as tmp:
        tmp = pathlib.Path(tmp)
        gnutls_dir = tmp / "curl-gnutls"
        gnutls_dir.mkdir()
        (gnutls_dir / "libcurl.so.4").symlink_to(CURL_GNUTLS)
        binary = args.binary
        variants = [("as built", {}, binary),
                    ("libcurl-gnutls for libcurl.so.4", {"LD_LIBRARY_PATH": str(gnutls_dir)},
                     binary),
                    ("GNUTLS_NO_IMPLICIT_INIT=1", {"GNUTLS_NO_IMPLICIT_INIT": "1"}, binary),
                    ("MALLOC_ARENA_MAX=1", {"MALLOC_ARENA_MAX": "1"}, binary),
                    ("as built, again", {}, binary)]
        if args.before:
            before = os.path.abspath(args.before)
            variants = ([("before (--before)", {}, before)] + variants
                        + [("before, again", {}, before)])
        with harness.homeserver(tmp) as hs, harness.person(hs) as alice:
            rooms = [alice.create_room(name=f"bot {i}") for i in range(1, args.bots + 1)]
            side = compare.BotrunnerSide(hs, tmp / "fleet", args.bots, rooms)
            sender = compare.SenderPool(hs, alice.client.access_token)
            try:
                side.provision(alice)
                side.stop()
                for label, env, exe in variants:
                    print(f"{label}...", file=sys.stderr, flush=True)
                    results.append((label, *measure(side, alice, sender, args.bots, env, exe)))
                    load.append(os.getloadavg()[0])
            finally:
                sender.close()
                side.stop()

    print(f"A fleet of {args.bots} echo bots (`botrunner run`, default config), idle, on "
          f"Synapse at 127.0.0.1; load {min(load):.2f} to {max(load):.2f}")
    label, base, table = next(r for r in results if r[0] == "as built")
    print(f"\nWhere its pages are ({label}): per mapping over the supervisor and its "
          f"{args.bots} workers, KiB; the footprint counts each physical page once")
    print(f"  {'mapping':34} {'procs':>5} {'RSS':>7} {'PSS':>7} {'USS':>7} {'footprint':>9}")
    rows = sorted(table.items(), key=lambda kv: -kv[1].get("footprint", 0))
    for name, t in rows[:args.top]:
        print(f"  {name:34} {t['procs']:5d} {t['rss']:7d} {t['pss']:7d} {t['uss']:7d} "
              f"{t.get('footprint', 0):9d}")
    rest = rows[args.top:]
    print(f"  {'(' + str(len(rest)) + ' more)':34} {'':5} "
          f"{sum(t['rss'] for _, t in rest):7d} {sum(t['pss'] for _, t in rest):7d} "
          f"{sum(t['uss'] for _, t in rest):7d} {sum(t.get('footprint', 0) for _, t in rest):9d}")
    print(f"  {'all':34} {'':5} {sum(t['rss'] for _, t in rows):7d} "
          f"{sum(t['pss'] for _, t in rows):7d} {sum(t['uss'] for _, t in rows):7d} "
          f"{sum(t.get('footprint', 0) for _, t in rows):9d}")
    print("\nEach variant: the fleet's summed PSS, USS and footprint (medians of "
          f"{SAMPLES} readings), and the change from the first \"as built\" run, MiB:")
    for label, summed, _ in results:
        print(f"  {label:34} PSS {summed['pss'] / 1024:6.1f} ({(summed['pss'] - base['pss']) / 1024:+5.1f})"
              f"  USS {summed['uss'] / 1024:6.1f} ({(summed['uss'] - base['uss']) / 1024:+5.1f})"
              f"  footprint {summed['footprint'] / 1024:6.1f} "
              f"({(summed['footprint'] - base['footprint']) / 1024:+5.1f})")
    print("\nEstimates (as built): the workers' pages of the objects of Debian's libcurl closure "
          "that a smaller libcurl would not load, less those the supervisor maps too:")
    for what, saved, names in base["minimal_curl"]:
        print(f"  for {what}: {saved / 1024:.1f} MiB of the footprint, {len(names)} objects "
              f"({', '.join(names)})")
    for label, _, t in results:
        gone = sorted(set(table) - set(t))
        new = sorted(set(t) - set(table))
        if gone or new:
            print(f"  {label}: no longer mapped: {', '.join(gone) or '-'}; newly mapped: "
                  f"{', '.join(new) or '-'}")


if __name__ == "__main__":
    main()
