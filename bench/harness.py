"""What the worker benchmarks share: the end-to-end harness (tests/e2e: Synapse, people,
workers) on the path, the venv that has Synapse and matrix-nio, a hard time limit,
percentiles, and memory figures from /proc. Nothing here asserts a time."""
import contextlib
import importlib.util
import os
import pathlib
import signal
import struct
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_BOTRUNNER = ROOT / "build" / "botrunner"
ECHO_PLUGIN = ROOT / "build" / "plugins" / "echo"
# The worker's log level in the benchmarks: the config's default, as in production (DEBUG,
# the e2e tests' level, writes lines per event that production does not).
WORKER_LOG_LEVEL = "INFO"


def use_harness():
    """Put tests/e2e on the path; re-exec this script under the project's venv when this
    Python lacks Synapse or matrix-nio (so `python3 bench/x.py` works as well)."""
    missing = [m for m in ("nio", "synapse", "yaml") if importlib.util.find_spec(m) is None]
    if missing:
        # The venv's python is a symlink to this same interpreter: tell them apart by
        # sys.prefix, which is the venv's folder only when running inside it.
        venv = VENV_PYTHON.parents[1]
        if VENV_PYTHON.exists() and os.path.realpath(sys.prefix) != os.path.realpath(venv):
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        raise SystemExit(f"{', '.join(missing)} missing: `make .venv/.done` makes the venv "
                         "with Synapse and matrix-nio")
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))


@contextlib.contextmanager
def time_limit(seconds, what):
    """Raise TimeoutError in the main thread after `seconds`: every benchmark is bounded,
    and its `finally` blocks still stop what it started."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} took more than {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    rank = max(1, -(-len(s) * p // 100))
    return s[int(rank) - 1]


# --- the Matrix side -------------------------------------------------------------------------


@contextlib.contextmanager
def homeserver(workdir, **kwargs):
    """A Synapse of the harness (rate limits generous, as in the e2e tests), bootstrapped
    (an admin and a registration token), stopped on the way out."""
    from synapse_server import Synapse
    hs = Synapse(pathlib.Path(workdir) / "synapse", **kwargs)
    hs.start()
    try:
        hs.bootstrap()
        yield hs
    finally:
        hs.stop()


@contextlib.contextmanager
def person(hs, localpart="alice"):
    from person import Person
    p = Person(hs, localpart).register()
    try:
        yield p
    finally:
        p.close()


@contextlib.contextmanager
def echo_worker(hs, who, workdir, binary, localpart="echobot"):
    """The real worker (`botrunner worker`) with the echo plugin and the default config (no
    features, no rate_limit: what a new user runs), in a private room of `who`'s that it has
    joined and synced. Yields (bot, room_id)."""
    import botworker
    botworker.BOTRUNNER = str(binary)
    # The echo plugin of the same build as the binary (BUILD=... puts both elsewhere).
    beside = pathlib.Path(binary).resolve().parent / "plugins" / "echo"
    botworker.ECHO_PLUGIN = str(beside if beside.is_dir() else ECHO_PLUGIN)
    room_id = who.create_room(name="bench")
    bot = botworker.BotWorker(hs, pathlib.Path(workdir) / localpart, localpart, [room_id],
                              log_level=WORKER_LOG_LEVEL, default_limits=True)
    try:
        bot.start()
        botworker.wait_account(hs, bot)
        who.invite(room_id, bot.user_id)
        botworker.wait_membership(hs, room_id, bot.user_id, "join", guard=bot.assert_running)
        botworker.wait_until(lambda: "Synced;" in bot.log_path.read_text(errors="replace"),
                             botworker.ACCOUNT_TIMEOUT_S, "the worker's first sync",
                             guard=bot.assert_running)
        yield bot, room_id
    finally:
        bot.cleanup()


def ping_and_wait(who, room_id, bot_user, body="!echo ping", timeout=30, guard=None):
    """Send one message and wait for the bot's reply to it; returns the seconds between
    the send request and the reply's arrival in the person's /sync."""
    start = time.perf_counter()
    event_id = who.send(room_id, body)
    who.wait_message(room_id, bot_user, reply_to=event_id, timeout=timeout, guard=guard)
    return time.perf_counter() - start


def pings_in_bursts(who, room_id, bot_user, total, burst, timeout=60, guard=None):
    """Send `total` pings, `burst` at a time, each burst waiting for all of its replies."""
    from person import in_reply_to
    for first in range(0, total, burst):
        pending = {who.send(room_id, "!echo ping") for _ in range(min(burst, total - first))}

        def all_answered(rid, ev):
            if rid == room_id and ev.get("sender") == bot_user:
                pending.discard(in_reply_to(ev))
            return not pending
        who.wait_for(all_answered, timeout=timeout, guard=guard,
                     what=f"replies to {len(pending)} pings")


# --- memory ----------------------------------------------------------------------------------

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
PAGE_KIB = PAGE_BYTES // 1024
# /proc/PID/pagemap: bit 63 "present", bits 0-54 the page frame number.
PAGEMAP_PRESENT = 1 << 63
PAGEMAP_PFN_MASK = (1 << 55) - 1


def status_kib(pid, field):
    """A `field: N kB` line of /proc/PID/status (VmRSS, VmHWM), in KiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def smaps_rollup(pid):
    """/proc/PID/smaps_rollup as {field: KiB}: Rss, Pss, Pss_Anon, Pss_File,
    Private_Clean, Private_Dirty, ..."""
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":"):
            out[parts[0][:-1]] = int(parts[1])
    return out


def memory(pid):
    """RSS, PSS and USS (private pages: what this process alone holds) in KiB."""
    r = smaps_rollup(pid)
    return {"rss": r["Rss"], "pss": r["Pss"],
            "uss": r["Private_Clean"] + r["Private_Dirty"], "anon": r.get("Pss_Anon", 0)}


def memory_median(pid, samples=5, interval=0.3):
    """The median of a few readings of memory(pid), field by field."""
    readings = []
    for i in range(samples):
        if i:
            time.sleep(interval)
        readings.append(memory(pid))
    return {k: sorted(r[k] for r in readings)[len(readings) // 2] for k in readings[0]}


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far, in seconds (/proc/PID/stat)."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    # utime and stime are fields 14 and 15 of the line, the 12th and 13th after comm.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resident_frames(pid):
    """The set of physical page frames a process has resident, from /proc/PID/pagemap
    (frame numbers need CAP_SYS_ADMIN: without it they read as 0, and this returns None)."""
    frames = set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
        for line in maps:
            if line.rstrip().endswith("[vsyscall]"):
                continue
            start, end = (int(x, 16) for x in line.split()[0].split("-"))
            pagemap.seek(start // PAGE_BYTES * 8)
            raw = pagemap.read((end - start) // PAGE_BYTES * 8)
            for entry in struct.unpack(f"{len(raw) // 8}Q", raw):
                if entry & PAGEMAP_PRESENT:
                    frames.add(entry & PAGEMAP_PFN_MASK)
    if frames == {0}:
        return None
    return frames


def footprint_kib(pids):
    """The memory of a group of processes with every physical page counted once, whoever
    else maps it: what the group alone would hold. None without the rights to see frames."""
    union = set()
    for pid in pids:
        frames = resident_frames(pid)
        if frames is None:
            return None
        union |= frames
    return len(union) * PAGE_KIB


def mappings(pid):
    """{mapping name: {"rss": KiB, "pss": KiB}} from /proc/PID/smaps: each shared object by
    its file name, "[heap]", "[stack]", and "[anon]" for anonymous mappings."""
    out = {}
    name = None
    for line in pathlib.Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and not head[0].endswith(":"):
            name = os.path.basename(head[5]) if len(head) >= 6 else "[anon]"
            out.setdefault(name, {"rss": 0, "pss": 0})
        elif head and head[0] in ("Rss:", "Pss:"):
            out[name][head[0][:-1].lower()] += int(head[1])
    return out


def peak_rss_kib(cmd, env=None):
    """Peak RSS of a command by GNU time: measured from a small C parent, not from a child
    of this Python (which would count Python's pages until the exec)."""
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    return int(proc.stderr.strip().splitlines()[-1])


def mib(kib):
    return f"{kib / 1024:.1f} MiB"
