/* Subprocesses on a worker's event loop: br_runner.spawn underneath. Runs an argument vector
 * (never a shell) in its own process group, captures bounded output, enforces the timeout
 * and reports the end through a completion callback. */
#pragma once

#include <systemd/sd-event.h>

#include "botrunner/plugin.h"

/* The defaults plugin.h promises for a 0 in struct br_spawn. */
#define SPAWN_DEFAULT_TIMEOUT_MS (10u * 60u * 1000u)
#define SPAWN_DEFAULT_MAX_OUTPUT (64u * 1024u)
/* Upper bounds on what a plugin may ask: plugin.h publishes them (and says why those). */
#define SPAWN_MAX_TIMEOUT_MS BR_SPAWN_MAX_TIMEOUT_MS
#define SPAWN_MAX_OUTPUT     BR_SPAWN_MAX_OUTPUT
#define SPAWN_MAX_ARGS       BR_SPAWN_MAX_ARGS
/* After SIGTERM at the timeout, the process group has this long to exit before SIGKILL:
 * enough for a downloader to remove its partial files. */
#define SPAWN_KILL_GRACE_MS 5000u
/* After the process exited, its pipes are read to their end for at most this long: a
 * descendant that left the process group may hold them open forever. */
#define SPAWN_DRAIN_MS 2000u
/* The standard error kept for messages: its last lines, bounded in lines and bytes. */
#define SPAWN_STDERR_TAIL_LINES 20u
#define SPAWN_STDERR_TAIL_BYTES 4096u

struct spawn;

/* Start spec->argv[0] (looked up in PATH) with spec->argv, in spec->cwd (when set), its
 * standard input /dev/null, its standard output captured up to spec->max_output bytes (the
 * rest is read and thrown away, so the child never blocks on a full pipe, and truncated is
 * set), the tail of its standard error kept, every other file descriptor closed, signal mask
 * and dispositions reset (glibc's posix_spawn leaves its two internal signals, 32 and 33,
 * ignored; no program may use them), the environment minus the service manager's variables
 * (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*, CREDENTIALS_DIRECTORY), in a new process group.
 *
 * done(userdata, result) is called once, from the event loop, when the process has exited
 * and its output is read, or when it could not be started. result->error is 0, -ETIME when
 * it ran past the timeout (the group got SIGTERM, then SIGKILL after SPAWN_KILL_GRACE_MS),
 * or -errno when it could not be started (-ENOENT: no such program, -EACCES...);
 * result->exit_code is the exit code (0..255) when it exited, else -1; result->signal the
 * signal that killed it, else 0. stdout_buf is NUL-terminated for convenience but is bytes
 * as the program wrote them; stderr_tail is text: its last SPAWN_STDERR_TAIL_LINES lines, at
 * most about SPAWN_STDERR_TAIL_BYTES, invalid UTF-8 and NULs replaced by U+FFFD. The result
 * lives during the callback only. When the process exits, whatever of its group is left is
 * killed.
 *
 * The caller's process must have SIGCHLD blocked (sd_event_add_child requires it; the worker
 * blocks it at start, tests do too): -EBUSY when it is not. Other returns: -EINVAL (no argv,
 * an empty argv[0], more than SPAWN_MAX_ARGS arguments, a limit above passed), -EMFILE,
 * -ENOMEM; done is then never called.
 *
 * *ret (when ret is not NULL) is a handle for spawn_cancel(), valid until done returns. */
int spawn_start(sd_event *e, const struct br_spawn *spec, br_exited_t done, void *userdata,
                struct spawn **ret);

/* Kill the process group (SIGKILL), reap the process, free everything; done is not called.
 * Called from done for the same handle, it does nothing (the handle is freed when done
 * returns). NULL is fine. */
void spawn_cancel(struct spawn *s);
