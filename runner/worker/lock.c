/* The instance lock: <state_directory>/run/<instance-id>.lock, flock(2)ed by the worker that
 * runs the instance, with its PID inside for the message a second one prints. flock rather
 * than a PID file alone: the kernel drops the lock when the holder dies, however it dies,
 * so a stale file never blocks a start. */
#include "worker/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/macro.h"

/* A PID in decimal and a newline: what the file holds. */
#define LOCK_CONTENT_MAX 32

/* The PID the holder wrote, or 0 when the file holds none (it may be between its open and
 * its write). */
static pid_t holder_of(int fd)
{
    char buf[LOCK_CONTENT_MAX + 1];
    ssize_t n = pread(fd, buf, LOCK_CONTENT_MAX, 0);
    char *end;
    long pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    return pid > 0 && pid <= 0x7fffffffL && (*end == '\n' || *end == '\0') ? (pid_t)pid : 0;
}

int instance_lock_take(const char *state_dir, const char *instance_id, int *ret_fd,
                       pid_t *ret_holder)
{
    _cleanup_close_ int dir_fd = -EBADF, run_fd = -EBADF, fd = -EBADF;
    char name[PATH_MAX], pid[LOCK_CONTENT_MAX];
    int n;

    *ret_holder = 0;
    n = snprintf(name, sizeof(name), "%s.lock", instance_id);
    if (n < 0 || (size_t)n >= sizeof(name) || strchr(instance_id, '/') || !*instance_id)
        return -EINVAL;
    dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0)
        return negative_errno();
    if (mkdirat(dir_fd, INSTANCE_LOCK_DIR, 0700) < 0 && errno != EEXIST)
        return negative_errno();
    run_fd = openat(dir_fd, INSTANCE_LOCK_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (run_fd < 0)
        return negative_errno();
    fd = openat(run_fd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return negative_errno();
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int r = negative_errno();
        if (r != -EWOULDBLOCK)
            return r;
        *ret_holder = holder_of(fd);
        return -EBUSY;
    }
    /* Ours: say who holds it. A failed write costs only the PID in a later message. */
    n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) == 0)
        (void)!pwrite(fd, pid, (size_t)n, 0);
    *ret_fd = TAKE_FD(fd);
    return 0;
}
