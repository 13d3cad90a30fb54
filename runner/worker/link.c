/* The worker's end of its socketpair to the supervisor (fd $BOTRUNNER_IPC_FD): reports of
 * state, syncs, handled messages and ERROR/CRITICAL log lines go up; notices to post in the
 * admin room come down. Without the variable (a worker run by hand) all of this is off. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "util/ipc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

static void send_fields(struct worker *w, const char *const *kv, size_t n)
{
    struct ipc_builder b;
    int r;

    if (w->link_fd < 0)
        return;
    ipc_builder_init(&b);
    for (size_t i = 0; i + 1 < n; i += 2)
        if (kv[i + 1])
            ipc_add(&b, kv[i], kv[i + 1]);
    r = ipc_send(w->link_fd, &b);
    /* A full socket means the supervisor is busy: a report is worth less than not blocking. */
    if (r < 0 && r != -EAGAIN)
        w->link_fd = -EBADF;
}

void link_state(struct worker *w, const char *state, const char *error, const char *error_room)
{
    const char *kv[] = {"STATE", state, "ERROR", error, IPC_ERROR_ROOM, error_room};

    send_fields(w, kv, ELEMENTSOF(kv));
}

static void send_time(struct worker *w, const char *key, int64_t t)
{
    char buf[24];
    const char *kv[] = {key, buf};

    snprintf(buf, sizeof(buf), "%lld", (long long)t);
    send_fields(w, kv, ELEMENTSOF(kv));
}

void link_sync(struct worker *w, int64_t t)
{
    send_time(w, "SYNC", t);
}

void link_message(struct worker *w, int64_t t)
{
    send_time(w, "MESSAGE", t);
}

/* The last lines the worker logged, the context of a notice ("what led up to it"). */
static void remember(struct worker *w, const char *message)
{
    free(w->recent_log[w->recent_next]);
    w->recent_log[w->recent_next] = strndup(message, LINK_TRACE_LINE_MAX);
    w->recent_next = (w->recent_next + 1) % LINK_TRACE_LINES;
}

/* Oldest first, one per line; NULL when out of memory (the notice goes without). */
static char *recent_lines(struct worker *w)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return NULL;
    for (size_t i = 0; i < LINK_TRACE_LINES; i++) {
        const char *line = w->recent_log[(w->recent_next + i) % LINK_TRACE_LINES];
        if (line)
            fprintf(f, "%s\n", line);
    }
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ERROR and CRITICAL lines, already redacted by the log, go up for health and notices,
 * with the room and event they concern and the lines logged before them. */
static void on_log(int priority, const char *message, void *userdata)
{
    struct worker *w = userdata;
    _cleanup_free_ char *trace = NULL;
    struct ipc_builder b;
    int r;

    if (priority > LOG_ERR || w->link_fd < 0) {
        remember(w, message);
        return;
    }
    trace = recent_lines(w);
    remember(w, message);
    ipc_builder_init(&b);
    ipc_add(&b, IPC_LOG, priority <= LOG_CRIT ? "CRITICAL" : "ERROR");
    ipc_add_head(&b, IPC_TEXT, message, IPC_TEXT_MAX);
    if (log_observed_room_id())
        ipc_add(&b, IPC_ROOM_ID, log_observed_room_id());
    if (log_observed_event_id())
        ipc_add(&b, IPC_EVENT_ID, log_observed_event_id());
    if (trace && *trace)
        ipc_add_tail(&b, IPC_TRACE, trace, IPC_TRACE_MAX);
    r = ipc_send(w->link_fd, &b);
    if (r < 0 && r != -EAGAIN)
        w->link_fd = -EBADF;
}

void link_room(struct worker *w, const struct worker_room *room)
{
    const char *kv[] = {"ROOM",    room->name, "ROOM_ID", room->room_id, "JOINED",
                        room->joined ? "1" : "0", "ERROR", room->error};

    send_fields(w, kv, ELEMENTSOF(kv));
}

static void link_reconfigured(struct worker *w, int r)
{
    const char *kv[] = {IPC_RECONFIGURED, r >= 0 ? "1" : "0"};

    send_fields(w, kv, ELEMENTSOF(kv));
}

void link_database(struct worker *w, const char *state, int schema_version)
{
    char version[16];
    const char *kv[] = {"DATABASE", state, "SCHEMA_VERSION", version};

    snprintf(version, sizeof(version), "%d", schema_version);
    send_fields(w, kv, ELEMENTSOF(kv));
}

static void post_notice(struct worker *w, const struct ipc_message *m)
{
    const char *room = ipc_get(m, "ROOM_ID"), *text = ipc_get(m, "TEXT");
    struct json_writer jw;
    _cleanup_free_ char *content = NULL;
    size_t len;
    int r;

    if (!room || !text)
        return;
    json_writer_init(&jw, 16384);
    json_begin_object(&jw);
    json_key(&jw, "msgtype");
    json_string(&jw, "m.notice");
    json_key(&jw, "body");
    json_string(&jw, text);
    json_end_object(&jw);
    r = json_writer_steal(&jw, &content, &len);
    json_writer_done(&jw);
    if (r < 0) {
        log_warning_errno(r, "Cannot build an admin notice: %m");
        return;
    }
    rooms_post_notice(w, room, content);
}

static int on_link(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
    struct worker *w = userdata;
    struct ipc_message m;
    int r;

    (void)s;
    if (revents & (EPOLLHUP | EPOLLERR)) {
        log_info("The supervisor is gone; stopping");
        w->stopping = true;
        return sd_event_exit(w->event, 0);
    }
    for (unsigned i = 0; i < 16; i++) {
        r = ipc_recv(fd, &m);
        if (r == -EAGAIN)
            break;
        if (r == -ECONNRESET) {
            log_info("The supervisor is gone; stopping");
            w->stopping = true;
            return sd_event_exit(w->event, 0);
        }
        if (r < 0) {
            log_warning_errno(r, "Ignoring a malformed message from the supervisor: %m");
            continue;
        }
        if (ipc_get(&m, "NOTIFY"))
            post_notice(w, &m);
        else if (ipc_get(&m, IPC_RESOLVE))
            rooms_resolve_again(w);
        else if (ipc_get(&m, IPC_RECONFIGURE))
            link_reconfigured(w, worker_reconfigure(w));
    }
    return 0;
}

/* The counters, when they changed since the last report: checked once a second rather than
 * sent at every change, so a burst of events costs one datagram. */
static int on_counters(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker *w = userdata;
    struct ipc_builder b;
    int r;

    if (w->link_fd >= 0 && memcmp(&w->counters, &w->counters_sent, sizeof(w->counters)) != 0) {
        ipc_builder_init(&b);
        ipc_add_counters(&b, worker_now_ms() / 1000, &w->counters);
        r = ipc_send(w->link_fd, &b);
        if (r >= 0)
            w->counters_sent = w->counters;
        else if (r != -EAGAIN)
            w->link_fd = -EBADF;
    }
    (void)sd_event_source_set_time(s, usec + LINK_COUNTERS_MS * 1000ULL);
    return 0;
}

int link_open(struct worker *w)
{
    const char *v = getenv("BOTRUNNER_IPC_FD");
    char *end;
    long fd;
    int r;

    w->link_fd = -EBADF;
    if (!v)
        return 0;
    fd = strtol(v, &end, 10);
    if (*end || fd < 3 || fd > 1024)
        return log_error_errno(-EINVAL, "BOTRUNNER_IPC_FD=%s is not a file descriptor", v);
    unsetenv("BOTRUNNER_IPC_FD"); /* not for the plugin's subprocesses */
    r = sd_event_add_io(w->event, &w->link_source, (int)fd, EPOLLIN, on_link, w);
    if (r < 0)
        return log_error_errno(r, "Cannot watch the supervisor's socket: %m");
    w->link_fd = (int)fd;
    log_set_observer(on_log, w);
    r = sd_event_add_time_relative(w->event, &w->counters_timer, CLOCK_MONOTONIC,
                                   LINK_COUNTERS_MS * 1000ULL, 0, on_counters, w);
    if (r >= 0)
        r = sd_event_source_set_enabled(w->counters_timer, SD_EVENT_ON);
    if (r < 0)
        return log_error_errno(r, "Cannot schedule the counters' reports: %m");
    return 0;
}

void link_close(struct worker *w)
{
    log_set_observer(NULL, NULL);
    for (size_t i = 0; i < LINK_TRACE_LINES; i++) {
        free(w->recent_log[i]);
        w->recent_log[i] = NULL;
    }
    w->link_source = sd_event_source_disable_unref(w->link_source);
    w->counters_timer = sd_event_source_disable_unref(w->counters_timer);
    w->link_fd = -EBADF;
}
