/* One worker per instance: a lock file under the state directory, held for the worker's
 * life, so that a second `botrunner worker` for an instance that runs (started by the
 * supervisor or by hand) is refused instead of syncing the same account twice. */
#pragma once

#include <sys/types.h>

/* The lock lives in <state_directory>/run/, made 0700 when missing. */
#define INSTANCE_LOCK_DIR "run"

/* Take <state_dir>/run/<instance_id>.lock: an exclusive flock(2) on a file opened
 * O_CLOEXEC (subprocesses do not inherit it), our PID written into it. 0 and the
 * descriptor, to keep open for as long as the instance runs (closing it, or exiting,
 * releases the lock); -EBUSY when another process holds it, with its PID in *ret_holder
 * (0 when the file does not say); another negative errno when the file cannot be made. */
int instance_lock_take(const char *state_dir, const char *instance_id, int *ret_fd,
                       pid_t *ret_holder);
