/* Worker processes: started by fork and exec of this binary with a socketpair on fd 3,
 * watched through sd-event child sources, restarted with backoff when they exit on their
 * own, stopped with SIGTERM (then SIGKILL after a deadline); their reports (state, sync,
 * messages, errors) arrive as datagrams (util/ipc.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "supervisor/notify.h"
#include "supervisor/supervisor.h"
#include "util/ipc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"

/* The worker's end of the socketpair, as the worker expects it (BOTRUNNER_IPC_FD). */
#define CHILD_IPC_FD 3

extern char **environ;

static void set_phase_state(struct child *c, enum child_phase phase, const char *state,
                            const char *error)
{
    c->phase = phase;
    child_set_state(c, state, error);
}

static void resolve_last_error(struct child *c, const char *why)
{
    if (!c->last_error || c->last_error_resolved_at)
        return;
    c->last_error_resolved_at = sup_now_ms() / 1000;
    log_info("Instance %s: the last error is over (%s): %s", c->id, why, c->last_error);
}

void child_room_error_over(struct child *c, const char *room)
{
    if (c->last_error_room && streq(c->last_error_room, room))
        resolve_last_error(c, "the room reports no error");
}

void child_set_state_room(struct child *c, const char *state, const char *error,
                          const char *room)
{
    int64_t now = sup_now_ms();
    bool was_running = streq(c->state, "running");
    int r;

    if (!streq(c->state, state)) {
        snprintf(c->state, sizeof(c->state), "%s", state);
        c->state_since = now / 1000;
    }
    if (error) {
        free(c->last_error);
        free(c->last_error_room);
        c->last_error = strdup(error);
        c->last_error_room = room ? strdup(room) : NULL;
        c->last_error_resolved_at = 0;
    } else if (!was_running && streq(state, "running") && !c->last_error_room)
        resolve_last_error(c, "it is running again");
    r = store_instance_set_state(c->sup->store, c->id, state, error, now / 1000);
    if (r < 0)
        log_warning_errno(r, "Cannot record the state of %s: %m", c->id);
    if (streq(state, "restarting"))
        c->restarts++;
    sup_state_changed(c->sup);
}

void child_set_state(struct child *c, const char *state, const char *error)
{
    child_set_state_room(c, state, error, NULL);
}

int child_new(struct supervisor *s, const struct config_instance *decl, struct child **ret)
{
    struct child *c = calloc(1, sizeof(*c));
    int r;

    if (!c)
        return -ENOMEM;
    c->sup = s;
    c->decl = decl;
    c->enabled = decl->enabled;
    c->ipc_fd = -EBADF;
    c->backoff_ms = SUP_BACKOFF_MIN_MS;
    c->id = strdup(decl->id);
    c->settings = strdup(decl->settings_json);
    r = c->id && c->settings ? config_instance_fingerprint(s->config, decl, &c->fingerprint)
                             : -ENOMEM;
    if (r < 0) {
        child_free(c);
        return r;
    }
    snprintf(c->state, sizeof(c->state), "created");
    c->state_since = sup_now_ms() / 1000;
    child_set_state(c, c->enabled ? "enabled" : "stopped", NULL);
    *ret = c;
    return 0;
}

static void close_ipc(struct child *c)
{
    c->ipc_source = sd_event_source_disable_unref(c->ipc_source);
    if (c->ipc_fd >= 0)
        close(c->ipc_fd);
    c->ipc_fd = -EBADF;
}

void child_free(struct child *c)
{
    if (!c)
        return;
    close_ipc(c);
    c->exit_source = sd_event_source_disable_unref(c->exit_source);
    c->timer = sd_event_source_disable_unref(c->timer);
    if (c->pid > 0) {
        (void)kill(c->pid, SIGKILL);
        (void)waitpid(c->pid, NULL, 0);
    }
    free(c->id);
    free(c->fingerprint);
    free(c->settings);
    free(c->last_error);
    free(c->last_error_room);
    child_rooms_clear(c);
    free(c);
}

size_t children_alive(const struct supervisor *s)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_children; i++)
        n += s->children[i]->pid > 0;
    return n;
}

/* ---- reports from the worker ---------------------------------------------------------- */

static int64_t field_time(const struct ipc_message *m, const char *key)
{
    int64_t t;

    return ipc_get_int64(m, key, &t) >= 0 && t > 0 ? t : 0;
}

/* A worker's counts since it started: what grew since its last report is added to the
 * instance's. A count below the last one (not what a worker sends) moves the base only. */
static void add_counters(struct child *c, const struct ipc_message *m)
{
    struct ipc_counters now;
    int64_t *total = (int64_t *)&c->counters, *last = (int64_t *)&c->counters_reported;
    const int64_t *v = (const int64_t *)&now;

    if (ipc_get_counters(m, &now) < 0) {
        log_warning("Ignoring a malformed counters report from %s", c->id);
        return;
    }
    for (size_t i = 0; i < sizeof(now) / sizeof(int64_t); i++) {
        int64_t sum;
        /* Saturating: a counter that would wrap stays at its largest value. */
        if (v[i] > last[i])
            total[i] = __builtin_add_overflow(total[i], v[i] - last[i], &sum) ? INT64_MAX : sum;
        last[i] = v[i];
    }
}

static void handle_report(struct child *c, const struct ipc_message *m)
{
    const char *v;

    if ((v = ipc_get(m, "STATE")))
        child_set_state_room(c, v, ipc_get(m, "ERROR"), ipc_get(m, IPC_ERROR_ROOM));
    if (ipc_get(m, "SYNC")) {
        c->last_sync_at = field_time(m, "SYNC");
        (void)store_instance_touch_sync(c->sup->store, c->id, c->last_sync_at);
    }
    if (ipc_get(m, "MESSAGE"))
        c->last_message_at = field_time(m, "MESSAGE");
    if (ipc_get(m, IPC_COUNTERS))
        add_counters(c, m);
    if ((v = ipc_get(m, IPC_DATABASE))) {
        int64_t version;
        if ((streq(v, "migrating") || streq(v, "active") || streq(v, "failed")) &&
            ipc_get_int64(m, "SCHEMA_VERSION", &version) >= 0 && version >= 0) {
            snprintf(c->db_state, sizeof(c->db_state), "%s", v);
            c->db_version = version;
        } else
            log_warning("Ignoring a malformed database report from %s", c->id);
        sup_state_changed(c->sup);
    }
    if ((v = ipc_get(m, IPC_RECONFIGURED)) && streq(v, "0")) {
        log_info("The plugin of %s cannot take its new settings; restarting it", c->id);
        child_restart(c);
    }
    if (ipc_get(m, "ROOM")) {
        if (child_room_report(c, m) < 0)
            log_warning("Ignoring a report from %s about room %s, which it does not declare or "
                        "describes wrongly", c->id, ipc_get(m, "ROOM"));
        sup_state_changed(c->sup);
    }
    if ((v = ipc_get(m, IPC_LOG))) {
        int prio = streq(v, "CRITICAL") ? LOG_CRIT : LOG_ERR;
        struct notification_in in = {
            .source_instance = c->id,
            .severity = prio == LOG_CRIT ? "CRITICAL" : "ERROR",
            .message = ipc_get(m, IPC_TEXT) ? ipc_get(m, IPC_TEXT) : "(no text)",
            .room_id = ipc_get(m, IPC_ROOM_ID),
            .event_id = ipc_get(m, IPC_EVENT_ID),
            .error_type = ipc_get(m, IPC_ERROR_TYPE),
            .trace = ipc_get(m, IPC_TRACE),
        };
        c->last_error_at = sup_now_ms() / 1000;
        report_notify(c->sup, prio, &in);
    }
}

static int on_ipc(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
    struct child *c = userdata;
    struct ipc_message m;
    int r;

    (void)src;
    (void)revents;
    for (unsigned i = 0; i < 64; i++) { /* bounded per wake-up: one worker cannot starve us */
        r = ipc_recv(fd, &m);
        if (r == -EAGAIN)
            return 0;
        if (r == -ECONNRESET || r == -EPIPE) { /* the worker closed its end */
            close_ipc(c);
            return 0;
        }
        if (r < 0) {
            /* A malformed datagram is the worker's bug, never the supervisor's crash. */
            log_warning_errno(r, "Ignoring a malformed report from %s: %m", c->id);
            continue;
        }
        handle_report(c, &m);
    }
    return 0;
}

/* ---- starting ------------------------------------------------------------------------- */

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata);

static void exec_worker(int fd, char *const argv[], char *const envp[])
{
    sigset_t none;

    /* Only async-signal-safe calls here: the supervisor has a status thread. */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (dup2(fd, CHILD_IPC_FD) < 0)
        _exit(127);
    (void)close_range(CHILD_IPC_FD + 1, ~0U, 0);
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    execve("/proc/self/exe", argv, envp);
    _exit(127);
}

/* environ plus BOTRUNNER_IPC_FD, built before fork. */
static char **worker_env(void)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = calloc(n + 2, sizeof(char *));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "BOTRUNNER_IPC_FD=", 17) != 0 &&
            strncmp(environ[i], "NOTIFY_SOCKET=", 14) != 0 &&
            strncmp(environ[i], "WATCHDOG_", 9) != 0)
            env[k++] = environ[i];
    env[k++] = (char *)"BOTRUNNER_IPC_FD=3";
    return env;
}

int child_start(struct child *c)
{
    struct supervisor *s = c->sup;
    char *argv[] = {(char *)"botrunner", (char *)"worker", (char *)"--instance", c->id,
                    (char *)"-c", s->config_path, NULL};
    _cleanup_free_ char **env = worker_env();
    int sv[2];
    pid_t pid;
    int r;

    if (c->pid > 0 || s->stopping)
        return 0;
    if (!env)
        return -ENOMEM;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return log_error_errno(negative_errno(), "Cannot make a socket for %s: %m", c->id);
    pid = fork();
    if (pid < 0) {
        r = negative_errno();
        close(sv[0]);
        close(sv[1]);
        return log_error_errno(r, "Cannot start a worker for %s: %m", c->id);
    }
    if (pid == 0) {
        close(sv[0]);
        exec_worker(sv[1], argv, env);
    }
    close(sv[1]);
    child_rooms_clear(c); /* the new worker reports them afresh */
    c->db_state[0] = '\0';
    c->counters_reported = (struct ipc_counters){0}; /* a new worker counts from 0 */
    c->pid = pid;
    c->ipc_fd = sv[0];
    c->started_at = sup_now_ms();
    c->timer = sd_event_source_disable_unref(c->timer);
    r = sd_event_add_child(s->event, &c->exit_source, pid, WEXITED, on_worker_exit, c);
    if (r >= 0)
        r = sd_event_add_io(s->event, &c->ipc_source, c->ipc_fd, EPOLLIN, on_ipc, c);
    if (r < 0)
        log_error_errno(r, "Cannot watch the worker of %s: %m", c->id);
    log_info("Started worker %d for %s", (int)pid, c->id);
    c->phase = CHILD_RUNNING;
    child_set_state(c, "enabled", NULL);
    return 0;
}

/* ---- exits and restarts --------------------------------------------------------------- */

static int on_restart(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct child *c = userdata;

    (void)src;
    (void)usec;
    c->timer = sd_event_source_disable_unref(c->timer);
    c->phase = CHILD_IDLE;
    (void)child_start(c);
    return 0;
}

static void describe_exit(const siginfo_t *si, char *buf, size_t cap)
{
    if (si->si_code == CLD_EXITED)
        snprintf(buf, cap, "worker exited with status %d", si->si_status);
    else
        snprintf(buf, cap, "worker killed by SIG%s%s", sigabbrev_np(si->si_status)
                                                           ? sigabbrev_np(si->si_status)
                                                           : "?",
                 si->si_code == CLD_DUMPED ? " (core dumped)" : "");
}

/* plugins/<id>.db of a removed instance moves to plugins/archive/<id>-<UTC date>.db (the
 * seed's "archived": kept, never deleted), out of the way of a future instance with the
 * same id. The date to the second, 20261202T193000Z, sorts as it reads. */
static void archive_database(struct child *c)
{
    const char *dir = c->sup->config->state_directory;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    _cleanup_free_ char *archive = NULL;
    time_t now = (time_t)(sup_now_ms() / 1000);
    char date[32];
    struct tm tm;

    if (!gmtime_r(&now, &tm) || strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm) == 0 ||
        asprintf(&archive, "%s/plugins/archive", dir) < 0)
        return;
    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s/plugins/%s.db%s", dir, c->id, suffixes[i]) < 0 ||
            asprintf(&to, "%s/%s-%s.db%s", archive, c->id, date, suffixes[i]) < 0)
            return;
        if (access(from, F_OK) < 0)
            continue;
        (void)mkdir(archive, 0700);
        if (rename(from, to) < 0)
            log_warning_errno(negative_errno(), "Cannot archive %s: %m", from);
        else if (i == 0)
            log_info("Archived the database of removed instance %s as %s", c->id, to);
    }
}

static void after_stop(struct child *c)
{
    if (c->removed) {
        archive_database(c);
        child_set_state(c, "stopped", NULL);
        return;
    }
    if (c->restart_after_stop && !c->sup->stopping) {
        c->restart_after_stop = false;
        c->phase = CHILD_IDLE;
        (void)child_start(c);
        return;
    }
    set_phase_state(c, CHILD_IDLE, "stopped", NULL);
}

static int on_worker_exit(sd_event_source *src, const siginfo_t *si, void *userdata)
{
    struct child *c = userdata;
    int64_t ran_ms = sup_now_ms() - c->started_at;
    char what[128], msg[256];

    (void)src;
    describe_exit(si, what, sizeof(what));
    c->exit_source = sd_event_source_disable_unref(c->exit_source);
    c->timer = sd_event_source_disable_unref(c->timer);
    close_ipc(c);
    c->pid = 0;
    if (c->phase == CHILD_STOPPING || c->sup->stopping) {
        log_info("Worker for %s stopped (%s)", c->id, what);
        after_stop(c);
        sup_child_gone(c->sup);
        return 0;
    }
    if (ran_ms >= (int64_t)SUP_BACKOFF_RESET_MS)
        c->backoff_ms = SUP_BACKOFF_MIN_MS;
    snprintf(msg, sizeof(msg), "%s; restarting in %llu s", what,
             (unsigned long long)((c->backoff_ms + 999) / 1000));
    log_error("Instance %s: %s", c->id, msg);
    set_phase_state(c, CHILD_BACKOFF, "failed", what);
    report_notify(c->sup, LOG_CRIT,
                  &(struct notification_in){.source_instance = c->id,
                                            .severity = "CRITICAL",
                                            .message = msg});
    child_set_state(c, "restarting", NULL);
    if (sd_event_add_time_relative(c->sup->event, &c->timer, CLOCK_MONOTONIC,
                                   c->backoff_ms * 1000, 0, on_restart, c) < 0)
        log_error("Cannot schedule the restart of %s", c->id);
    c->backoff_ms = c->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS
                                                           : c->backoff_ms * 2;
    return 0;
}

static int on_kill_deadline(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct child *c = userdata;

    (void)src;
    (void)usec;
    c->timer = sd_event_source_disable_unref(c->timer);
    if (c->pid > 0) {
        log_warning("Worker for %s did not stop in %u s; killing it", c->id,
                    SUP_STOP_TIMEOUT_MS / 1000);
        (void)kill(c->pid, SIGKILL);
    }
    return 0;
}

void child_restart(struct child *c)
{
    c->restart_after_stop = true;
    child_stop(c);
}

void child_stop(struct child *c)
{
    switch (c->phase) {
    case CHILD_RUNNING:
        c->phase = CHILD_STOPPING;
        (void)kill(c->pid, SIGTERM);
        c->timer = sd_event_source_disable_unref(c->timer);
        (void)sd_event_add_time_relative(c->sup->event, &c->timer, CLOCK_MONOTONIC,
                                         SUP_STOP_TIMEOUT_MS * 1000, 0, on_kill_deadline, c);
        break;
    case CHILD_BACKOFF:
        c->timer = sd_event_source_disable_unref(c->timer);
        after_stop(c);
        break;
    case CHILD_IDLE:
        if (c->removed || c->restart_after_stop)
            after_stop(c);
        break;
    case CHILD_STOPPING:
        break;
    }
}
