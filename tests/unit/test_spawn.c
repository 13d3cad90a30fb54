/* Tests for worker/spawn.c: exit codes and signals (each in its own field, never mistaken
 * for an errno), programs that cannot start, captured output and its bound, the stderr
 * tail, the timeout and the kill after its grace, cancel, and what the child inherits
 * (stdin, file descriptors, process group, signals, env). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "worker/spawn.h"

/* Bound on how long any one spawn may take in these tests before they fail. */
#define TEST_DEADLINE_MS 15000

struct outcome {
    unsigned calls;
    int error, exit_code, sig;
    char *out; /* a copy of stdout_buf */
    size_t out_len;
    bool truncated;
    char tail[4 * SPAWN_STDERR_TAIL_BYTES];
    struct spawn *self; /* for the cancel-from-done test */
};

static void outcome_done(struct outcome *o)
{
    free(o->out);
    *o = (struct outcome){0};
}

static void on_exit_cb(void *userdata, const struct br_process_result *res)
{
    struct outcome *o = userdata;

    o->calls++;
    o->error = res->error;
    o->exit_code = res->exit_code;
    o->sig = res->signal;
    o->out = malloc(res->stdout_len + 1);
    assert_non_null(o->out);
    memcpy(o->out, res->stdout_buf, res->stdout_len + 1);
    o->out_len = res->stdout_len;
    o->truncated = res->truncated;
    snprintf(o->tail, sizeof(o->tail), "%s", res->stderr_tail);
    /* The stdout buffer is NUL-terminated, as promised. */
    assert_int_equal(res->stdout_buf[res->stdout_len], '\0');
    if (o->self)
        spawn_cancel(o->self); /* must be harmless */
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void loop_until_done(sd_event *e, struct outcome *o)
{
    uint64_t start = now_ms();

    while (o->calls == 0) {
        assert_true(sd_event_run(e, 100 * 1000) >= 0);
        if (now_ms() - start > TEST_DEADLINE_MS)
            fail_msg("the spawn did not finish in %u ms", TEST_DEADLINE_MS);
    }
    /* Nothing further is pending: no second call. */
    assert_true(sd_event_run(e, 0) >= 0);
    assert_int_equal(o->calls, 1);
}

/* Run argv to its end with the given limits; the outcome in *o. */
static void run_spec(const struct br_spawn *spec, struct outcome *o)
{
    _cleanup_(sd_event_unrefp) sd_event *e = NULL;

    *o = (struct outcome){0};
    assert_int_equal(sd_event_new(&e), 0);
    assert_int_equal(spawn_start(e, spec, on_exit_cb, o, NULL), 0);
    loop_until_done(e, o);
}

static void run(const char *const *argv, struct outcome *o)
{
    struct br_spawn spec = {.argv = argv, .timeout_ms = TEST_DEADLINE_MS};

    run_spec(&spec, o);
}

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* How it ended: exactly one story in the three fields. */
static void assert_exited(const struct outcome *o, int code)
{
    assert_int_equal(o->error, 0);
    assert_int_equal(o->exit_code, code);
    assert_int_equal(o->sig, 0);
}

static void assert_killed(const struct outcome *o, int error, int sig)
{
    assert_int_equal(o->error, error);
    assert_int_equal(o->exit_code, -1);
    assert_int_equal(o->sig, sig);
}

static void assert_not_started(const struct outcome *o, int error)
{
    assert_int_equal(o->error, error);
    assert_int_equal(o->exit_code, -1);
    assert_int_equal(o->sig, 0);
}

/* ---- Ends --------------------------------------------------------------------------------- */

static void test_exit_codes(void **state)
{
    struct outcome o;
    (void)state;

    run(ARGV("true"), &o);
    assert_exited(&o, 0);
    outcome_done(&o);
    run(ARGV("false"), &o);
    assert_exited(&o, 1);
    outcome_done(&o);
    run(ARGV("sh", "-c", "exit 255"), &o);
    assert_exited(&o, 255);
    outcome_done(&o);
}

static void test_killed_by_signal(void **state)
{
    struct outcome o;
    (void)state;

    run(ARGV("sh", "-c", "kill -USR1 $$"), &o);
    assert_killed(&o, 0, SIGUSR1);
    outcome_done(&o);
    run(ARGV("sh", "-c", "kill -KILL $$"), &o);
    assert_killed(&o, 0, SIGKILL);
    outcome_done(&o);
    /* SIGINT and ENOENT are both 2: a signal is no error, and an error no signal (see
     * test_cannot_start for the other side). */
    run(ARGV("sh", "-c", "kill -INT $$"), &o);
    assert_int_equal(SIGINT, ENOENT);
    assert_killed(&o, 0, SIGINT);
    outcome_done(&o);
}

static void test_cannot_start(void **state)
{
    struct br_spawn spec = {.argv = ARGV("true"), .cwd = "/nonexistent-dir"};
    char script[] = "/tmp/test-spawn-XXXXXX";
    struct outcome o;
    int fd;
    (void)state;

    /* Reported through the callback, from the loop, like any other end. */
    run(ARGV("no-such-program-botrunner-test"), &o);
    assert_not_started(&o, -ENOENT);
    assert_int_equal(o.out_len, 0);
    outcome_done(&o);
    fd = mkstemp(script); /* mode 0600: not executable */
    assert_true(fd >= 0);
    close(fd);
    run(ARGV(script), &o);
    unlink(script);
    assert_not_started(&o, -EACCES);
    outcome_done(&o);
    run_spec(&spec, &o);
    assert_not_started(&o, -ENOENT);
    outcome_done(&o);
}

static void test_refused_specs(void **state)
{
    _cleanup_(sd_event_unrefp) sd_event *e = NULL;
    static const char *argv[SPAWN_MAX_ARGS + 2];
    struct outcome o = {0};
    struct br_spawn spec = {0};
    (void)state;

    for (size_t i = 0; i < SPAWN_MAX_ARGS + 1; i++)
        argv[i] = "true";

    assert_int_equal(sd_event_new(&e), 0);
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EINVAL);
    spec.argv = ARGV("");
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EINVAL);
    spec.argv = ARGV("true");
    spec.timeout_ms = SPAWN_MAX_TIMEOUT_MS + 1;
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EINVAL);
    spec.timeout_ms = 0;
    spec.max_output = SPAWN_MAX_OUTPUT + 1;
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EINVAL);
    spec.max_output = 0;
    assert_int_equal(spawn_start(e, &spec, NULL, &o, NULL), -EINVAL);
    /* One argument past SPAWN_MAX_ARGS. */
    spec.argv = argv;
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EINVAL);
    assert_true(sd_event_run(e, 0) >= 0);
    assert_int_equal(o.calls, 0);

    /* Exactly SPAWN_MAX_ARGS: runs. */
    argv[SPAWN_MAX_ARGS] = NULL;
    run_spec(&spec, &o);
    assert_exited(&o, 0);
    outcome_done(&o);
}

static void test_sigchld_must_be_blocked(void **state)
{
    _cleanup_(sd_event_unrefp) sd_event *e = NULL;
    struct br_spawn spec = {.argv = ARGV("true")};
    struct outcome o = {0};
    sigset_t chld;
    (void)state;

    assert_int_equal(sd_event_new(&e), 0);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    assert_int_equal(sigprocmask(SIG_UNBLOCK, &chld, NULL), 0);
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, NULL), -EBUSY);
    assert_int_equal(sigprocmask(SIG_BLOCK, &chld, NULL), 0);
}

/* ---- Output ------------------------------------------------------------------------------- */

static void test_stdout_captured(void **state)
{
    struct outcome o;
    (void)state;

    run(ARGV("printf", "hello\\000world"), &o);
    assert_exited(&o, 0);
    assert_int_equal(o.out_len, 11);
    assert_memory_equal(o.out, "hello\0world", 11);
    assert_false(o.truncated);
    outcome_done(&o);
}

static void test_stdout_bound(void **state)
{
    struct br_spawn spec = {.argv = ARGV("head", "-c", "1000000", "/dev/zero"), .max_output = 1000};
    struct outcome o;
    (void)state;

    /* A million bytes against a 1000-byte bound: the child still exits 0, since the rest is
     * read and dropped rather than left to fill the pipe. */
    run_spec(&spec, &o);
    assert_exited(&o, 0);
    assert_int_equal(o.out_len, 1000);
    assert_true(o.truncated);
    outcome_done(&o);

    /* Exactly the bound: not truncated. */
    spec.argv = ARGV("head", "-c", "1000", "/dev/zero");
    run_spec(&spec, &o);
    assert_int_equal(o.out_len, 1000);
    assert_false(o.truncated);
    outcome_done(&o);

    /* The default bound. */
    spec = (struct br_spawn){.argv = ARGV("head", "-c", "200000", "/dev/zero")};
    run_spec(&spec, &o);
    assert_int_equal(o.out_len, SPAWN_DEFAULT_MAX_OUTPUT);
    assert_true(o.truncated);
    outcome_done(&o);
}

static void test_stderr_tail(void **state)
{
    char expected[512] = "";
    struct outcome o;
    (void)state;

    run(ARGV("sh", "-c", "i=1; while [ $i -le 50 ]; do echo line$i >&2; i=$((i+1)); done"), &o);
    for (int i = 31; i <= 50; i++)
        snprintf(expected + strlen(expected), sizeof(expected) - strlen(expected), "%sline%d",
                 i > 31 ? "\n" : "", i);
    assert_string_equal(o.tail, expected);
    assert_int_equal(o.out_len, 0);
    outcome_done(&o);

    /* One long line: its last SPAWN_STDERR_TAIL_BYTES bytes. */
    run(ARGV("sh", "-c", "head -c 10000 /dev/zero | tr '\\000' x >&2; echo END >&2"), &o);
    assert_int_equal(strlen(o.tail), SPAWN_STDERR_TAIL_BYTES - 1);
    assert_string_equal(o.tail + strlen(o.tail) - 4, "xEND");
    assert_int_equal(strspn(o.tail, "x"), SPAWN_STDERR_TAIL_BYTES - 4);
    outcome_done(&o);

    /* Not text: invalid bytes and NULs become U+FFFD. */
    run(ARGV("printf", "bad \\377 nul \\000 ok \\360\\237\\230\\200\\n"), &o);
    assert_string_equal(o.tail, "");
    outcome_done(&o);
    run(ARGV("sh", "-c", "printf 'bad \\377 nul \\000 ok \\360\\237\\230\\200\\n' >&2"), &o);
    assert_string_equal(o.tail, "bad \xEF\xBF\xBD nul \xEF\xBF\xBD ok \xF0\x9F\x98\x80");
    outcome_done(&o);
}

/* ---- Time --------------------------------------------------------------------------------- */

static void test_timeout(void **state)
{
    struct br_spawn spec = {.argv = ARGV("sleep", "30"), .timeout_ms = 200};
    uint64_t start = now_ms();
    struct outcome o;
    (void)state;

    /* sleep dies of the SIGTERM. */
    run_spec(&spec, &o);
    assert_killed(&o, -ETIME, SIGTERM);
    assert_true(now_ms() - start < 3000);
    outcome_done(&o);
}

static void test_timeout_then_exit(void **state)
{
    struct br_spawn spec = {.argv = ARGV("sh", "-c", "trap 'exit 3' TERM; sleep 30"),
                            .timeout_ms = 200};
    uint64_t start = now_ms();
    struct outcome o;
    (void)state;

    /* Its SIGTERM handler exits 3: the timeout is the error, the exit code is kept. */
    run_spec(&spec, &o);
    assert_int_equal(o.error, -ETIME);
    assert_int_equal(o.exit_code, 3);
    assert_int_equal(o.sig, 0);
    assert_true(now_ms() - start < 3000);
    outcome_done(&o);
}

static void test_timeout_kill_after_grace(void **state)
{
    struct br_spawn spec = {.argv = ARGV("sh", "-c", "trap '' TERM; echo ready; sleep 30"),
                            .timeout_ms = 100};
    uint64_t start = now_ms(), took;
    struct outcome o;
    (void)state;

    /* SIGTERM is ignored: SIGKILL comes after the grace. */
    run_spec(&spec, &o);
    took = now_ms() - start;
    assert_killed(&o, -ETIME, SIGKILL);
    assert_string_equal(o.out, "ready\n");
    assert_true(took >= SPAWN_KILL_GRACE_MS);
    assert_true(took < SPAWN_KILL_GRACE_MS + 3000);
    outcome_done(&o);
}

static void test_leftovers_killed_at_exit(void **state)
{
    uint64_t start = now_ms();
    struct outcome o;
    char path[64], st = 'R';
    long pid;
    FILE *f;
    (void)state;

    /* The background sleep holds stdout open; it is killed when sh exits, so the spawn ends
     * at once, not in 30 s. */
    run(ARGV("sh", "-c", "sleep 30 & echo $!"), &o);
    assert_exited(&o, 0);
    assert_true(now_ms() - start < 3000);
    pid = strtol(o.out, NULL, 10);
    assert_true(pid > 1);
    /* Gone, or a zombie waiting for a reaper that is not ours. */
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    for (int i = 0; i < 100; i++) {
        f = fopen(path, "re");
        if (!f)
            break;
        if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1)
            st = '?';
        fclose(f);
        if (st == 'Z')
            break;
        usleep(10000);
    }
    assert_true(!f || st == 'Z');
    outcome_done(&o);
}

/* ---- Cancel ------------------------------------------------------------------------------- */

static void test_cancel(void **state)
{
    _cleanup_(sd_event_unrefp) sd_event *e = NULL;
    struct br_spawn spec = {.argv = ARGV("sh", "-c", "echo $$; exec sleep 30")};
    struct outcome o = {0};
    struct spawn *s = NULL;
    char pidfile[] = "/tmp/test-spawn-XXXXXX";
    long pid;
    FILE *f;
    int fd;
    (void)state;

    /* The child writes its pid to a file (its stdout is ours, and cancel drops it). */
    fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    spec.argv = ARGV("sh", "-c", "echo $$ > \"$0\"; exec sleep 30", pidfile);
    assert_int_equal(sd_event_new(&e), 0);
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, &s), 0);
    assert_non_null(s);
    pid = 0;
    for (int i = 0; i < 500 && pid <= 0; i++) {
        assert_true(sd_event_run(e, 10 * 1000) >= 0);
        f = fopen(pidfile, "re");
        if (f && fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        if (f)
            fclose(f);
    }
    unlink(pidfile);
    assert_true(pid > 1);
    assert_int_equal(kill((pid_t)pid, 0), 0);

    spawn_cancel(s);
    /* Killed and reaped: not even a zombie is left. */
    assert_int_equal(kill((pid_t)pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    for (int i = 0; i < 5; i++)
        assert_true(sd_event_run(e, 10 * 1000) >= 0);
    assert_int_equal(o.calls, 0);
    spawn_cancel(NULL);
}

static void test_cancel_from_done_is_harmless(void **state)
{
    _cleanup_(sd_event_unrefp) sd_event *e = NULL;
    struct br_spawn spec = {.argv = ARGV("true")};
    struct outcome o = {0};
    (void)state;

    assert_int_equal(sd_event_new(&e), 0);
    assert_int_equal(spawn_start(e, &spec, on_exit_cb, &o, &o.self), 0);
    loop_until_done(e, &o);
    assert_exited(&o, 0);
    outcome_done(&o);
}

/* ---- What the child gets ------------------------------------------------------------------ */

static void test_child_environment(void **state)
{
    _cleanup_close_ int leak = -EBADF;
    struct br_spawn spec = {.argv = ARGV("pwd"), .cwd = "/proc"};
    struct outcome o;
    (void)state;

    /* File descriptors: an fd the test leaves inheritable does not reach the child; only
     * ls's own directory fd (3) sits beside 0..2. */
    leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    assert_true(leak > 2);
    run(ARGV("ls", "/proc/self/fd"), &o);
    assert_string_equal(o.out, "0\n1\n2\n3\n");
    outcome_done(&o);

    /* stdin is /dev/null: cat ends at once instead of waiting on the test's stdin. */
    run(ARGV("readlink", "/proc/self/fd/0"), &o);
    assert_string_equal(o.out, "/dev/null\n");
    outcome_done(&o);
    run(ARGV("cat"), &o);
    assert_exited(&o, 0);
    outcome_done(&o);

    run_spec(&spec, &o);
    assert_string_equal(o.out, "/proc\n");
    outcome_done(&o);
}

static void test_child_process_group_and_signals(void **state)
{
    struct outcome o;
    long pid, pgrp;
    char *blk, *ign;
    (void)state;

    /* Field 5 of /proc/self/stat is the process group: cat's own pid. */
    run(ARGV("cat", "/proc/self/stat"), &o);
    assert_int_equal(sscanf(o.out, "%ld (%*[^)]) %*c %*d %ld", &pid, &pgrp), 2);
    assert_int_equal(pid, pgrp);
    assert_int_not_equal(pgrp, (long)getpgrp());
    outcome_done(&o);

    /* The test blocks SIGCHLD and ignores SIGPIPE; the child has neither. */
    assert_true(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    run(ARGV("cat", "/proc/self/status"), &o);
    assert_true(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    blk = strstr(o.out, "SigBlk:\t");
    ign = strstr(o.out, "SigIgn:\t");
    assert_non_null(blk);
    assert_non_null(ign);
    assert_memory_equal(blk + 8, "0000000000000000\n", 17);
    /* glibc's posix_spawn leaves its two internal signals (32 and 33, below SIGRTMIN, which
     * no program may use) ignored in the child; every other one is at its default. */
    assert_int_equal(strtoull(ign + 8, NULL, 16) & ~0x180000000ull, 0);
    outcome_done(&o);
}

static void test_service_manager_variables_withheld(void **state)
{
    struct outcome o;
    (void)state;

    assert_int_equal(setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1), 0);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1), 0);
    assert_int_equal(setenv("BOTRUNNER_TEST_KEEP", "kept", 1), 0);
    run(ARGV("env"), &o);
    assert_null(strstr(o.out, "NOTIFY_SOCKET="));
    assert_null(strstr(o.out, "CREDENTIALS_DIRECTORY="));
    assert_non_null(strstr(o.out, "BOTRUNNER_TEST_KEEP=kept\n"));
    outcome_done(&o);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("BOTRUNNER_TEST_KEEP");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_exit_codes),
            cmocka_unit_test(test_killed_by_signal),
            cmocka_unit_test(test_cannot_start),
            cmocka_unit_test(test_refused_specs),
            cmocka_unit_test(test_sigchld_must_be_blocked),
            cmocka_unit_test(test_stdout_captured),
            cmocka_unit_test(test_stdout_bound),
            cmocka_unit_test(test_stderr_tail),
            cmocka_unit_test(test_timeout),
            cmocka_unit_test(test_timeout_then_exit),
            cmocka_unit_test(test_timeout_kill_after_grace),
            cmocka_unit_test(test_leftovers_killed_at_exit),
            cmocka_unit_test(test_cancel),
            cmocka_unit_test(test_cancel_from_done_is_harmless),
            cmocka_unit_test(test_child_environment),
            cmocka_unit_test(test_child_process_group_and_signals),
            cmocka_unit_test(test_service_manager_variables_withheld),
    };
    sigset_t chld;

    /* As the worker does at start: sd_event_add_child needs SIGCHLD blocked. */
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
