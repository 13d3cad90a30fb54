/* Subprocesses for plugins: posix_spawnp into a new process group, two pipes read on the
 * sd-event loop, a child source for the exit, one timer for timeout, kill grace and drain,
 * and a deferred completion that hands the result over and frees it all. */
#include "worker/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/macro.h"
#include "util/utf8.h"

extern char **environ;

/* One read from a pipe: the pipe's own capacity, so one wakeup empties it. */
#define READ_CHUNK (64u * 1024u)
/* Smallest stdout buffer; it doubles from there up to max_output. */
#define OUT_INITIAL 4096u
/* Milliseconds to microseconds, sd-event's unit. */
#define USEC_PER_MSEC 1000ull

/* Variables the service manager gives the worker alone: a subprocess must not talk to
 * systemd in the worker's name, nor learn where its credentials are. */
static const char *const env_denied[] = {
        "NOTIFY_SOCKET=",         "LISTEN_FDS=",    "LISTEN_PID=",
        "LISTEN_FDNAMES=",        "WATCHDOG_USEC=", "WATCHDOG_PID=",
        "CREDENTIALS_DIRECTORY=",
};

/* What the timer does when it fires next. */
enum spawn_phase {
    PHASE_RUNNING,     /* at the timeout: SIGTERM */
    PHASE_TERMINATING, /* at the end of the grace: SIGKILL */
    PHASE_KILLED,      /* nothing more to send; wait for the exit */
    PHASE_DRAINING,    /* exited; at the drain deadline: stop reading */
};

struct spawn {
    sd_event *event;
    pid_t pid; /* 0 when nothing was started */
    bool exited;
    bool in_done;
    enum spawn_phase phase;
    /* How it ended, as struct br_process_result says. */
    int error, exit_code, signal;

    int out_fd, err_fd;
    sd_event_source *child, *out_src, *err_src, *timer, *finish;

    br_exited_t done;
    void *userdata;

    char *out;
    size_t out_len, out_alloc, max_output;
    bool truncated;

    char err[SPAWN_STDERR_TAIL_BYTES];
    size_t err_len;
};

static void spawn_free(struct spawn *s)
{
    sd_event_source_disable_unref(s->child);
    sd_event_source_disable_unref(s->out_src);
    sd_event_source_disable_unref(s->err_src);
    sd_event_source_disable_unref(s->timer);
    sd_event_source_disable_unref(s->finish);
    closep(&s->out_fd);
    closep(&s->err_fd);
    sd_event_unref(s->event);
    free(s->out);
    free(s);
}

static void kill_group(struct spawn *s, int sig)
{
    /* Only while the process is unreaped: its pid (and so its group id) cannot be reused. */
    if (s->pid > 0 && !s->exited)
        (void)kill(-s->pid, sig);
}

/* ---- Completion ------------------------------------------------------------------------- */

/* Append text as valid UTF-8: invalid bytes and NULs become U+FFFD. out has room for
 * 3 * len + 1 bytes. */
static void sanitize(const char *text, size_t len, char *out)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int n = utf8_decode(text + i, len - i, &cp);

        if (n < 0 || cp == 0) {
            memcpy(out + o, replacement, 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, text + i, (size_t)n);
        o += (size_t)n;
        i += (size_t)n;
    }
    out[o] = '\0';
}

/* The last SPAWN_STDERR_TAIL_LINES lines of what was kept, without the final newline. */
static void stderr_tail(const struct spawn *s, char *out)
{
    size_t end = s->err_len, start;
    unsigned lines = 0;

    while (end > 0 && (s->err[end - 1] == '\n' || s->err[end - 1] == '\r'))
        end--;
    for (start = end; start > 0; start--)
        if (s->err[start - 1] == '\n' && ++lines == SPAWN_STDERR_TAIL_LINES)
            break;
    sanitize(s->err + start, end - start, out);
}

static int on_finish(sd_event_source *source, void *userdata)
{
    struct spawn *s = userdata;
    char tail[3 * SPAWN_STDERR_TAIL_BYTES + 1];
    struct br_process_result res;
    (void)source;

    stderr_tail(s, tail);
    res = (struct br_process_result){
            .error = s->error,
            .exit_code = s->exit_code,
            .signal = s->signal,
            .stdout_buf = s->out ? s->out : "",
            .stdout_len = s->out_len,
            .truncated = s->truncated,
            .stderr_tail = tail,
    };
    s->in_done = true;
    s->done(s->userdata, &res);
    spawn_free(s);
    return 0;
}

/* Done when the process is gone and both pipes are at their end (or abandoned). */
static void maybe_finish(struct spawn *s)
{
    if ((s->exited || s->pid == 0) && s->out_fd < 0 && s->err_fd < 0)
        (void)sd_event_source_set_enabled(s->finish, SD_EVENT_ONESHOT);
}

/* ---- Output ----------------------------------------------------------------------------- */

static void close_pipe(struct spawn *s, int *fd, sd_event_source **src)
{
    *src = sd_event_source_disable_unref(*src);
    closep(fd);
    *fd = -EBADF;
    maybe_finish(s);
}

/* Room for at least one more byte of stdout (and its NUL), or false when max_output is
 * reached or memory is short (then the rest is discarded, as past the limit). */
static bool out_reserve(struct spawn *s)
{
    size_t want;
    char *p;

    if (s->out_len >= s->max_output)
        return false;
    if (s->out_len < s->out_alloc)
        return true;
    want = s->out_alloc ? 2 * s->out_alloc : OUT_INITIAL;
    if (want > s->max_output)
        want = s->max_output;
    p = realloc(s->out, want + 1);
    if (!p)
        return false;
    s->out = p;
    s->out_alloc = want;
    s->out[s->out_len] = '\0';
    return true;
}

static int on_stdout(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
    struct spawn *s = userdata;
    char scratch[READ_CHUNK];
    bool keep = out_reserve(s);
    size_t room = keep ? s->out_alloc - s->out_len : sizeof(scratch);
    ssize_t n;
    (void)source;
    (void)revents;

    n = read(fd, keep ? s->out + s->out_len : scratch, room < READ_CHUNK ? room : READ_CHUNK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        close_pipe(s, &s->out_fd, &s->out_src);
        return 0;
    }
    if (keep) {
        s->out_len += (size_t)n;
        s->out[s->out_len] = '\0';
    } else
        s->truncated = true;
    return 0;
}

/* Keep the last SPAWN_STDERR_TAIL_BYTES bytes. */
static void err_append(struct spawn *s, const char *p, size_t n)
{
    if (n >= sizeof(s->err)) {
        memcpy(s->err, p + n - sizeof(s->err), sizeof(s->err));
        s->err_len = sizeof(s->err);
        return;
    }
    if (s->err_len + n > sizeof(s->err)) {
        size_t drop = s->err_len + n - sizeof(s->err);
        memmove(s->err, s->err + drop, s->err_len - drop);
        s->err_len -= drop;
    }
    memcpy(s->err + s->err_len, p, n);
    s->err_len += n;
}

static int on_stderr(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
    struct spawn *s = userdata;
    char buf[READ_CHUNK];
    ssize_t n;
    (void)source;
    (void)revents;

    n = read(fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0) {
        close_pipe(s, &s->err_fd, &s->err_src);
        return 0;
    }
    err_append(s, buf, (size_t)n);
    return 0;
}

/* ---- Exit and time ---------------------------------------------------------------------- */

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata)
{
    struct spawn *s = userdata;
    (void)usec;

    switch (s->phase) {
    case PHASE_RUNNING:
        s->phase = PHASE_TERMINATING;
        kill_group(s, SIGTERM);
        (void)sd_event_source_set_time_relative(source, SPAWN_KILL_GRACE_MS * USEC_PER_MSEC);
        (void)sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        break;
    case PHASE_TERMINATING:
        s->phase = PHASE_KILLED;
        kill_group(s, SIGKILL);
        break;
    case PHASE_KILLED:
        break;
    case PHASE_DRAINING:
        close_pipe(s, &s->out_fd, &s->out_src);
        close_pipe(s, &s->err_fd, &s->err_src);
        break;
    }
    return 0;
}

static int on_child(sd_event_source *source, const siginfo_t *si, void *userdata)
{
    struct spawn *s = userdata;
    bool timed_out = s->phase != PHASE_RUNNING;
    (void)source;

    /* The process is a zombie until this returns (sd-event reaps it then), so its group id
     * is still ours: kill what it left behind, so the pipes reach their end. */
    kill_group(s, SIGKILL);
    s->exited = true;
    /* Timed out or not, how it ended is told as it was: a program whose SIGTERM handler
     * exits 1 reports -ETIME with exit code 1. */
    if (timed_out)
        s->error = -ETIME;
    if (si->si_code == CLD_EXITED)
        s->exit_code = si->si_status;
    else /* CLD_KILLED or CLD_DUMPED: WEXITED reports nothing else */
        s->signal = si->si_status;

    s->phase = PHASE_DRAINING;
    (void)sd_event_source_set_time_relative(s->timer, SPAWN_DRAIN_MS * USEC_PER_MSEC);
    (void)sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
    maybe_finish(s);
    return 0;
}

/* ---- Start ------------------------------------------------------------------------------ */

static int check_spec(const struct br_spawn *spec)
{
    size_t n = 0;

    if (!spec || !spec->argv || !spec->argv[0] || !spec->argv[0][0])
        return -EINVAL;
    while (spec->argv[n])
        if (++n > SPAWN_MAX_ARGS)
            return -EINVAL;
    if (spec->timeout_ms > SPAWN_MAX_TIMEOUT_MS || spec->max_output > SPAWN_MAX_OUTPUT)
        return -EINVAL;
    return 0;
}

static bool sigchld_blocked(void)
{
    sigset_t cur;

    return pthread_sigmask(SIG_SETMASK, NULL, &cur) == 0 && sigismember(&cur, SIGCHLD) == 1;
}

/* The environment minus env_denied, as pointers into environ (valid until spawn returns). */
static int child_environment(char ***ret)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ && environ[n])
        n++;
    env = calloc(n + 1, sizeof(char *));
    if (!env)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        bool denied = false;
        for (size_t j = 0; j < ELEMENTSOF(env_denied); j++)
            denied = denied || strncmp(environ[i], env_denied[j], strlen(env_denied[j])) == 0;
        if (!denied)
            env[k++] = environ[i];
    }
    *ret = env;
    return 0;
}

/* A pipe whose both ends are above 2: the child's file actions rearrange 0..2, and an end
 * already sitting there would be clobbered. The read end is non-blocking. */
static int make_pipe(int *ret_read, int *ret_write)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0)
        return negative_errno();
    for (int i = 0; i < 2; i++)
        if (p[i] <= STDERR_FILENO) {
            int moved = fcntl(p[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
            if (moved < 0) {
                int r = negative_errno();
                close(p[0]);
                close(p[1]);
                return r;
            }
            close(p[i]);
            p[i] = moved;
        }
    if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
        int r = negative_errno();
        close(p[0]);
        close(p[1]);
        return r;
    }
    *ret_read = p[0];
    *ret_write = p[1];
    return 0;
}

struct spawn_setup {
    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    bool attr_ok, actions_ok;
};

static void spawn_setup_done(struct spawn_setup *p)
{
    if (p->attr_ok)
        posix_spawnattr_destroy(&p->attr);
    if (p->actions_ok)
        posix_spawn_file_actions_destroy(&p->actions);
}

/* posix_spawnp's attributes and file actions; returns a positive errno as those do. */
static int prepare(struct spawn_setup *p, const char *cwd, int out_w, int err_w)
{
    sigset_t none, all;
    int r;

    sigemptyset(&none);
    sigfillset(&all);
    r = posix_spawnattr_init(&p->attr);
    if (r)
        return r;
    p->attr_ok = true;
    r = posix_spawnattr_setflags(&p->attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                   POSIX_SPAWN_SETSIGDEF);
    if (!r)
        r = posix_spawnattr_setpgroup(&p->attr, 0);
    if (!r)
        r = posix_spawnattr_setsigmask(&p->attr, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(&p->attr, &all);
    if (r)
        return r;
    r = posix_spawn_file_actions_init(&p->actions);
    if (r)
        return r;
    p->actions_ok = true;
    r = posix_spawn_file_actions_addopen(&p->actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&p->actions, out_w, STDOUT_FILENO);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&p->actions, err_w, STDERR_FILENO);
    if (!r && cwd)
        r = posix_spawn_file_actions_addchdir_np(&p->actions, cwd);
    /* Whatever the worker has open without O_CLOEXEC (a library's socket, a database)
     * stays out of the child. */
    if (!r)
        r = posix_spawn_file_actions_addclosefrom_np(&p->actions, STDERR_FILENO + 1);
    return r;
}

/* Start the process; on failure to exec, s->pid stays 0 and s->error is -errno. */
static int launch(struct spawn *s, const struct br_spawn *spec)
{
    _cleanup_(spawn_setup_done) struct spawn_setup setup = {0};
    _cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
    _cleanup_free_ char **env = NULL;
    pid_t pid;
    int r;

    r = make_pipe(&s->out_fd, &out_w);
    if (r < 0)
        return r;
    r = make_pipe(&s->err_fd, &err_w);
    if (r < 0)
        return r;
    r = child_environment(&env);
    if (r < 0)
        return r;
    r = prepare(&setup, spec->cwd, out_w, err_w);
    if (r)
        return -r;
    /* glibc's posix_spawnp waits for the exec and returns its error: ENOENT, EACCES... */
    r = posix_spawnp(&pid, spec->argv[0], &setup.actions, &setup.attr, (char *const *)spec->argv,
                     env);
    if (r) {
        s->error = -r;
        return 0;
    }
    s->pid = pid;
    return 0;
}

static int attach(struct spawn *s, sd_event *e, uint64_t timeout_ms)
{
    int r;

    r = sd_event_add_defer(e, &s->finish, on_finish, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->finish, SD_EVENT_OFF);
    if (r < 0 || s->pid == 0)
        return r;
    r = sd_event_add_io(e, &s->out_src, s->out_fd, EPOLLIN, on_stdout, s);
    if (r >= 0)
        r = sd_event_add_io(e, &s->err_src, s->err_fd, EPOLLIN, on_stderr, s);
    if (r >= 0)
        r = sd_event_add_child(e, &s->child, s->pid, WEXITED, on_child, s);
    if (r >= 0)
        r = sd_event_add_time_relative(e, &s->timer, CLOCK_MONOTONIC, timeout_ms * USEC_PER_MSEC, 0,
                                       on_timer, s);
    return r;
}

/* Undo a start that failed after the process began: it must not outlive its handle. */
static void abandon(struct spawn *s)
{
    if (s->pid > 0) {
        s->child = sd_event_source_disable_unref(s->child);
        kill_group(s, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        s->exited = true;
    }
    spawn_free(s);
}

int spawn_start(sd_event *e, const struct br_spawn *spec, br_exited_t done, void *userdata,
                struct spawn **ret)
{
    struct spawn *s;
    int r;

    r = check_spec(spec);
    if (r < 0)
        return r;
    if (!e || !done)
        return -EINVAL;
    if (!sigchld_blocked())
        return -EBUSY;
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct spawn){
            .event = sd_event_ref(e),
            .out_fd = -EBADF,
            .err_fd = -EBADF,
            .done = done,
            .userdata = userdata,
            .exit_code = -1, /* until it exits */
            .max_output = spec->max_output ? spec->max_output : SPAWN_DEFAULT_MAX_OUTPUT,
    };
    r = launch(s, spec);
    if (r >= 0)
        r = attach(s, e, spec->timeout_ms ? spec->timeout_ms : SPAWN_DEFAULT_TIMEOUT_MS);
    if (r < 0) {
        abandon(s);
        return r;
    }
    if (s->pid == 0) {
        /* It could not be started: report that from the loop, as any other end. */
        closep(&s->out_fd);
        closep(&s->err_fd);
        s->out_fd = s->err_fd = -EBADF;
        maybe_finish(s);
    }
    if (ret)
        *ret = s;
    return 0;
}

void spawn_cancel(struct spawn *s)
{
    if (!s || s->in_done)
        return;
    if (s->pid > 0 && !s->exited) {
        /* Drop the child source first: the reaping below is ours, not the loop's. */
        s->child = sd_event_source_disable_unref(s->child);
        kill_group(s, SIGKILL);
        while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        s->exited = true;
    }
    spawn_free(s);
}
