/* Tests for worker/lock.c: one holder per instance, the holder's PID for the refusal, the
 * lock gone with its holder (a dead worker's file blocks nobody), bad names refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/macro.h"
#include "worker/lock.h"

static char dir[] = "/tmp/test-instance-lock-XXXXXX";

/* In a child process (another open file description, as a second worker has): the result
 * of taking the lock, and the holder it names. Returns the child's verdict: 0 when the
 * result was want (and, for -EBUSY, the holder was want_holder). */
static int try_in_child(const char *id, int want, pid_t want_holder)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        pid_t holder = -1;
        int fd = -1, r = instance_lock_take(dir, id, &fd, &holder);
        _exit(r == want && (r != -EBUSY || holder == want_holder) ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}

static void test_second_taker_is_refused_with_the_holder(void **state)
{
    char path[256], content[32] = "";
    struct stat st;
    pid_t holder = -1;
    int fd = -1, f;
    (void)state;

    assert_int_equal(instance_lock_take(dir, "echo-1", &fd, &holder), 0);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    snprintf(path, sizeof(path), "%s/run", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    snprintf(path, sizeof(path), "%s/run/echo-1.lock", dir);
    f = open(path, O_RDONLY);
    assert_true(f >= 0);
    assert_true(read(f, content, sizeof(content) - 1) > 0);
    close(f);
    assert_int_equal(atoi(content), (int)getpid());

    /* Another process is refused and told who holds it; another instance is not. */
    assert_int_equal(try_in_child("echo-1", -EBUSY, getpid()), 0);
    assert_int_equal(try_in_child("echo-2", 0, 0), 0);
    /* Released by closing: the next one takes it. */
    close(fd);
    assert_int_equal(try_in_child("echo-1", 0, 0), 0);
}

/* A holder that died (here: a child that took it and exited without a word) leaves its file
 * behind, with its PID; the lock is gone with it and the next worker takes it. */
static void test_dead_holder_blocks_nobody(void **state)
{
    pid_t holder = -1;
    int fd = -1;
    (void)state;

    assert_int_equal(try_in_child("echo-3", 0, 0), 0);
    assert_int_equal(instance_lock_take(dir, "echo-3", &fd, &holder), 0);
    close(fd);
}

static void test_bad_names(void **state)
{
    pid_t holder = -1;
    int fd = -1;
    (void)state;

    assert_int_equal(instance_lock_take(dir, "", &fd, &holder), -EINVAL);
    assert_int_equal(instance_lock_take(dir, "../x", &fd, &holder), -EINVAL);
    assert_int_equal(instance_lock_take("/nonexistent/state", "echo-1", &fd, &holder), -ENOENT);
    assert_int_equal(fd, -1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_second_taker_is_refused_with_the_holder),
            cmocka_unit_test(test_dead_holder_blocks_nobody),
            cmocka_unit_test(test_bad_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
