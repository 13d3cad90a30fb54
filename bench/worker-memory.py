#!/usr/bin/env python3
"""Benchmark the worker's memory on a real Synapse: RSS, PSS and USS of `botrunner worker`
(echo plugin) idle after its first sync, after answering 1 000 pings, and beside a second
worker (what one more bot costs); where its pages are, library by library, and what the
libraries it loads at run time (libcurl with `dlopen`, and with it the TLS libraries) hold,
read from what the running worker maps (/proc/PID/maps), since `ldd` of the binary no
longer shows them; the floor of the binary and its libraries (`botrunner --version`) and of
libcurl alone (small C programs, built here, one of them loading libcurl as the worker
does); and, for comparison, a running maubot with no instance when a venv with maubot
exists (.venv-bench, made by `make bench-compare`: see docs/benchmarks.md). Prints figures;
asserts nothing.

usage: bench/worker-memory.py [BOTRUNNER] [--pings N] [--maubot-python PATH]
"""
import argparse
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.use_harness()

# The whole run: Synapse's start, 1 000 pings, maubot's start; a normal run takes about a
# minute.
TIME_LIMIT_S = 900
# Pings sent at once before waiting for their replies: below the worker's sync filter's
# timeline limit (50), so no batch is cut and filled from /messages.
PING_BURST = 20
# The goal this benchmark is read against (docs/benchmarks.md).
GOAL_MB = 6
# Runs of each small program under GNU time; the median is printed.
FLOOR_RUNS = 5
# maubot imports aiohttp, mautrix and its database layer before it listens: a few seconds;
# a minute is a hang.
MAUBOT_START_TIMEOUT_S = 60
# Settling time before reading an idle process's memory.
IDLE_SETTLE_S = 2

EMPTY_C = "int main(void) { return 0; }\n"
CURL_INIT_C = """#include <curl/curl.h>
int main(void) { curl_global_init(CURL_GLOBAL_DEFAULT); curl_global_cleanup(); return 0; }
"""
# What the worker does (runner/matrix/curl_dl.c): load libcurl by its soname, local
# symbols, every symbol bound at once, then initialise it.
CURL_DLOPEN_C = """#include <curl/curl.h>
#include <dlfcn.h>
int main(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    CURLcode (*init)(long) = h ? (CURLcode (*)(long))dlsym(h, "curl_global_init") : 0;
    return init && init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : 1;
}
"""
# The TLS libraries and their arithmetic and PKCS#11 helpers, by file name prefix:
# OpenSSL (libcurl's own TLS) and GnuTLS (brought in by libldap and librtmp, and by
# libmicrohttpd in the supervisor).
TLS_PREFIXES = ("libssl.", "libcrypto.", "libgnutls.", "libnettle.", "libhogweed.",
                "libgmp.", "libp11-kit.", "libtasn1.")


def run_quiet(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120, **kwargs)


def shared_objects(path):
    """{soname: real path} of what `ldd` lists for path (vdso left out). Real paths, since
    /proc/PID/maps names the files behind the symlinks (libgnutls.so.30.34.3)."""
    out = {}
    for line in run_quiet(["ldd", str(path)]).stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            out[m.group(1)] = os.path.realpath(m.group(2))
        elif "ld-linux" in line:
            out[os.path.basename(line.split()[0])] = os.path.realpath(line.split()[0])
    return out


def needed(path):
    """The DT_NEEDED entries of an ELF file: its direct dependencies."""
    text = run_quiet(["readelf", "-d", str(path)]).stdout
    return re.findall(r"\(NEEDED\).*\[(.+)\]", text)


def mapped_objects(pid):
    """{file name: real path} of the shared objects a running process maps, from
    /proc/PID/maps: what the loader brought in at start-up and what dlopen() added since.
    (The kernel names each mapping by its real path: libcurl.so.4.8.0.)"""
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].startswith("/") and ".so" in os.path.basename(parts[5]):
            path = parts[5].removesuffix(" (deleted)")
            out[os.path.basename(path)] = path
    return out


class RuntimeLibraries:
    """What a running worker maps beyond the binary's `ldd` closure, i.e. what it loaded
    with dlopen(): libcurl's chain (libcurl and the objects of its closure that the binary
    does not link anyway), the plugin, and anything else; and which of the mapped objects
    are TLS libraries (TLS_PREFIXES). Sets of file names as /proc/PID/smaps names them."""

    def __init__(self, pid, binary):
        self.mapped = mapped_objects(pid)
        linked = {os.path.basename(p) for p in shared_objects(binary).values()}
        self.linked = linked & set(self.mapped)
        self.loaded = set(self.mapped) - linked
        curl = next((p for name, p in self.mapped.items() if name.startswith("libcurl.")), None)
        self.curl_closure = set()
        if curl:
            self.curl_closure = {os.path.basename(curl)} | {
                os.path.basename(p) for p in shared_objects(curl).values()}
        self.curl_chain = self.loaded & self.curl_closure
        self.other_loaded = self.loaded - self.curl_chain
        self.tls = {name for name in self.mapped if name.startswith(TLS_PREFIXES)}

    @staticmethod
    def total(maps, names):
        """(RSS, PSS) in KiB of the named mappings in harness.mappings() output."""
        chosen = [m for name, m in maps.items() if name in names]
        return sum(m["rss"] for m in chosen), sum(m["pss"] for m in chosen)


def floor_programs(workdir, binary):
    """Peak RSS (KiB, median of FLOOR_RUNS) of small programs built here: empty, linked with
    libcurl, calling curl_global_init(), loading libcurl with dlopen() and initialising it
    (the worker's way), linked with every library the runner links; and `botrunner
    --version`. None for a program that cannot be built."""
    # The binary's own DT_NEEDED list: the toolchain links with --as-needed, so a library
    # on the command line that no code calls is not there.
    libs = [f"-l:{name}" for name in needed(binary) if not name.startswith("libc.so")]
    programs = {
        "an empty C program": (EMPTY_C, []),
        "the same linked with libcurl": (EMPTY_C, ["-Wl,--no-as-needed", "-lcurl"]),
        "... and calling curl_global_init()": (CURL_INIT_C, ["-lcurl"]),
        "dlopen(libcurl.so.4) + curl_global_init(), as the worker": (CURL_DLOPEN_C, []),
        "an empty program linked with the runner's libraries":
            (EMPTY_C, ["-Wl,--no-as-needed", *libs]) if libs else None,
    }
    out = {}
    for i, (name, spec) in enumerate(programs.items()):
        out[name] = None
        if spec is None:
            continue
        src, exe = workdir / f"floor{i}.c", workdir / f"floor{i}"
        src.write_text(spec[0])
        if run_quiet(["cc", "-O2", "-o", str(exe), str(src), *spec[1]]).returncode == 0:
            out[name] = statistics.median(harness.peak_rss_kib([str(exe)])
                                          for _ in range(FLOOR_RUNS))
    out["`botrunner --version`"] = statistics.median(
        harness.peak_rss_kib([str(binary), "--version"]) for _ in range(FLOOR_RUNS))
    return out


def maubot_memory(python, workdir):
    """(version, RSS/PSS/USS) of a running maubot with no instance, on 127.0.0.1 with its
    SQLite database in workdir; None when that python has no maubot."""
    if not python or not os.path.exists(python):
        return None
    probe = run_quiet([python, "-c", "import maubot; print(maubot.__version__)"])
    if probe.returncode != 0:
        return None
    from synapse_server import free_port
    d = pathlib.Path(workdir) / "maubot"
    (d / "plugins").mkdir(parents=True)
    (d / "trash").mkdir()
    port = free_port()
    (d / "config.yaml").write_text(f"""\
database: sqlite:{d}/maubot.db
plugin_directories: {{upload: {d}/plugins, load: [{d}/plugins], trash: {d}/trash}}
plugin_databases: {{sqlite: {d}/plugins, postgres: null}}
server: {{hostname: 127.0.0.1, port: {port}, public_url: 'http://127.0.0.1:{port}',
          unshared_secret: generate}}
homeservers: {{}}
admins: {{}}
logging:
  version: 1
  handlers: {{file: {{class: logging.FileHandler, filename: {d}/maubot.log}}}}
  root: {{level: WARNING, handlers: [file]}}
""")
    proc = subprocess.Popen([python, "-m", "maubot", "-c", str(d / "config.yaml")], cwd=d,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(d / "maubot.out", "wb"), start_new_session=True)
    try:
        deadline = time.monotonic() + MAUBOT_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"maubot exited with {proc.returncode}: see {d}/maubot.out")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_matrix/maubot/v1/version",
                                       timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (401 without a token): it is up
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"maubot did not answer within {MAUBOT_START_TIMEOUT_S} s")
            time.sleep(0.2)
        time.sleep(IDLE_SETTLE_S)
        return probe.stdout.strip(), harness.memory_median(proc.pid)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def line(name, m):
    return (f"  {name:44} RSS {harness.mib(m['rss']):>9}  PSS {harness.mib(m['pss']):>9}  "
            f"USS {harness.mib(m['uss']):>9}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=str(harness.DEFAULT_BOTRUNNER))
    ap.add_argument("--pings", type=int, default=1000)
    ap.add_argument("--maubot-python", default=str(harness.ROOT / ".venv-bench" / "bin" / "python"))
    args = ap.parse_args()

    with harness.time_limit(TIME_LIMIT_S, "the memory benchmark"), \
            tempfile.TemporaryDirectory(prefix="br-bench-memory-") as tmp:
        tmp = pathlib.Path(tmp)
        with harness.homeserver(tmp) as hs, harness.person(hs) as alice, \
                harness.echo_worker(hs, alice, tmp, args.binary) as (bot, room):
            time.sleep(IDLE_SETTLE_S)
            idle = harness.memory_median(bot.pid)
            idle_maps = harness.mappings(bot.pid)
            runtime = RuntimeLibraries(bot.pid, args.binary)
            harness.pings_in_bursts(alice, room, bot.user_id, args.pings, PING_BURST,
                                    guard=bot.assert_running)
            time.sleep(IDLE_SETTLE_S)
            busy = harness.memory_median(bot.pid)
            hwm = harness.status_kib(bot.pid, "VmHWM")
            # A second instance shares the first one's library pages: its USS then is what
            # one more bot of a fleet costs.
            with harness.echo_worker(hs, alice, tmp, args.binary, "echobot2") as (bot2, _):
                time.sleep(IDLE_SETTLE_S)
                pair = harness.memory_median(bot.pid), harness.memory_median(bot2.pid)
        floors = floor_programs(tmp, args.binary)
        deps = shared_objects(args.binary)
        maubot = maubot_memory(args.maubot_python, tmp)

    print("Memory of `botrunner worker` (echo plugin, one room), on Synapse at 127.0.0.1, "
          "median of 5 readings:")
    print(line("idle after its first sync", idle))
    print(line(f"after answering {args.pings} pings", busy))
    print(f"  {'peak (VmHWM) over the run':44} RSS {harness.mib(hwm):>9}")
    print(line("with a second worker running: the first", pair[0]))
    print(line("                               the second", pair[1]))
    print(f"  goal: under {GOAL_MB} MB")
    print("Where the idle worker's resident pages are (from /proc/PID/smaps, KiB):")
    top = sorted(idle_maps.items(), key=lambda kv: -kv[1]["rss"])
    for name, m in top[:12]:
        print(f"  {name:36} RSS {m['rss']:6d}  PSS {m['pss']:6d}")
    rt = runtime
    print(f"Shared objects: the binary links {len(deps)} (`ldd {args.binary}`); the idle "
          f"worker maps {len(rt.mapped)} (/proc/PID/maps), {len(rt.loaded)} of them loaded "
          "at run time:")
    for label, names in (("libcurl's chain (dlopen of libcurl.so.4)", rt.curl_chain),
                         ("other objects loaded at run time", rt.other_loaded),
                         ("TLS libraries, wherever they came from", rt.tls),
                         ("objects the binary links", rt.linked)):
        rss, pss = rt.total(idle_maps, names)
        print(f"  {label:44} {len(names):3d} objects  RSS {rss:6d} KiB  PSS {pss:6d} KiB")
    print(f"  libcurl's chain: {', '.join(sorted(rt.curl_chain)) or '(libcurl not mapped)'}")
    print(f"  other: {', '.join(sorted(rt.other_loaded)) or '(none)'}")
    print(f"Peak RSS of small programs (GNU time, median of {FLOOR_RUNS}):")
    for name, kib in floors.items():
        print(f"  {name:58} {harness.mib(kib) if kib else '(cannot build here)':>9}")
    if maubot:
        print(f"For comparison, maubot {maubot[0]} (python -m maubot), running with no instance:")
        print(line("maubot, idle", maubot[1]))
    else:
        print("maubot: not measured (no maubot in "
              f"{args.maubot_python}; see docs/benchmarks.md)")


if __name__ == "__main__":
    main()
