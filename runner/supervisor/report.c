/* What the supervisor tells the outside: the /status document and /metrics (published to
 * the status endpoint's thread whenever something changes, and on every tick since health
 * depends on the clock), and admin notifications (kept for /status and bot.db, rate
 * limited, posted to the admin room by the sender instance's worker). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "store/store.h"
#include "supervisor/health.h"
#include "supervisor/notify.h"
#include "supervisor/status_http.h"
#include "supervisor/supervisor.h"
#include "util/ipc.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"

/* The documents stay small: 50 notifications and a line per instance. */
#define REPORT_MAX_BYTES (4u * 1024u * 1024u)

static void iso8601(struct json_writer *w, int64_t unix_s)
{
    char buf[32];
    struct tm tm;
    time_t t = (time_t)unix_s;

    if (unix_s <= 0 || !gmtime_r(&t, &tm)) {
        json_null(w);
        return;
    }
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_string(w, buf);
}

static bool counted(const struct child *c)
{
    return !c->removed;
}

static void evaluate(struct supervisor *s, struct health_report *ret)
{
    struct health_instance in[s->n_children + 1];
    struct health_thresholds th = {
        .error_window_s = s->health_error_window_s,
        .sync_max_age_s = s->health_sync_max_age_s,
    };
    char refused[HEALTH_REASON_MAX];
    size_t n = 0;

    if (s->reload_refused)
        snprintf(refused, sizeof(refused), "%zu error%s; first: %s", s->reload_errors,
                 s->reload_errors == 1 ? "" : "s",
                 s->reload_first_error ? s->reload_first_error : "?");
    for (size_t i = 0; i < s->n_children; i++) {
        const struct child *c = s->children[i];
        if (!counted(c))
            continue;
        in[n++] = (struct health_instance){
            .id = c->id,
            .enabled = c->enabled,
            .state = c->state,
            .last_sync_at = c->last_sync_at,
            .last_error_at = c->last_error_at,
            .started_at = c->started_at / 1000,
        };
    }
    if (health_evaluate(&th, sup_now_ms() / 1000, in, n, s->reload_refused ? refused : NULL,
                        ret) < 0)
        *ret = (struct health_report){.status = HEALTH_DEGRADED};
}

/* Each subscription as declared, with what the worker last said of it: the id an alias
 * names (null until resolved; a room id names itself), membership and error. */
static void write_rooms(struct json_writer *w, const struct child *c)
{
    json_begin_array(w);
    for (uint32_t i = 0; c->decl && i < c->decl->room_subscriptions_count; i++) {
        const char *name = c->decl->room_subscriptions[i];
        const struct child_room *r = child_room_find(c, name);
        bool alias = name[0] == '#';
        json_begin_object(w);
        json_key(w, "room");
        json_string(w, name);
        json_key(w, "alias");
        json_string(w, alias ? name : NULL);
        json_key(w, "room_id");
        json_string(w, r && r->room_id ? r->room_id : alias ? NULL : name);
        json_key(w, "joined");
        json_bool(w, r && r->joined);
        json_key(w, "error");
        json_string(w, r ? r->error : NULL);
        json_end_object(w);
    }
    json_end_array(w);
}

/* The seed's Bot Database: the worker reports its state and schema version; size and the
 * last write come from the files (the main file and its WAL: SQLite writes the WAL first). */
static void write_database(struct json_writer *w, const struct supervisor *s, const struct child *c)
{
    static const char *const suffixes[] = {"", "-wal"};
    int64_t size = 0, last = 0;
    bool found = false;

    if (!c->db_state[0]) {
        json_null(w);
        return;
    }
    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        if (asprintf(&path, "%s/plugins/%s.db%s", s->config->state_directory, c->id,
                     suffixes[i]) < 0 ||
            stat(path, &st) < 0)
            continue;
        found = true;
        size += st.st_size;
        if (st.st_mtime > last)
            last = st.st_mtime;
    }
    json_begin_object(w);
    json_key(w, "state");
    json_string(w, c->db_state);
    json_key(w, "schema_version");
    json_int(w, c->db_version);
    json_key(w, "size_bytes");
    if (found)
        json_int(w, size);
    else
        json_null(w);
    json_key(w, "last_accessed");
    iso8601(w, last);
    json_end_object(w);
}

static void write_instance(struct json_writer *w, const struct supervisor *s, const struct child *c)
{
    json_begin_object(w);
    json_key(w, "id");
    json_string(w, c->id);
    json_key(w, "plugin");
    json_string(w, c->decl ? c->decl->plugin : NULL);
    json_key(w, "user");
    json_string(w, c->decl ? c->decl->user : NULL);
    json_key(w, "enabled");
    json_bool(w, c->enabled);
    json_key(w, "state");
    json_string(w, c->state);
    json_key(w, "state_since");
    iso8601(w, c->state_since);
    json_key(w, "restarts");
    json_int(w, c->restarts);
    json_key(w, "last_sync_at");
    iso8601(w, c->last_sync_at);
    json_key(w, "last_message_at");
    iso8601(w, c->last_message_at);
    json_key(w, "last_error");
    json_string(w, c->last_error);
    json_key(w, "last_error_resolved_at");
    iso8601(w, c->last_error ? c->last_error_resolved_at : 0);
    json_key(w, "rooms");
    write_rooms(w, c);
    json_key(w, "database");
    write_database(w, s, c);
    json_end_object(w);
}

/* A plugin is active when a running instance uses it, loaded when an enabled one does,
 * disabled when declared off (the seed's plugin states, as the supervisor sees them). */
/* A plugin the shape of the declared ones, without a declaration behind it. */
static void write_plugin_row(struct json_writer *w, const char *id, const char *version,
                             const char *state, const char *reason)
{
    json_begin_object(w);
    json_key(w, "id");
    json_string(w, id);
    json_key(w, "version");
    json_string(w, version);
    json_key(w, "used_by");
    json_begin_array(w);
    json_end_array(w);
    json_key(w, "state");
    json_string(w, state);
    json_key(w, "path");
    json_null(w);
    json_key(w, "sha256");
    json_null(w);
    json_key(w, "reason");
    json_string(w, reason);
    json_end_object(w);
}

/* No longer declared (bot.db's trashed and deleted), and rejected by a refused reload. */
static void write_gone_plugins(struct json_writer *w, const struct supervisor *s)
{
    for (size_t i = 0; i < s->n_gone; i++)
        write_plugin_row(w, s->gone[i].id, s->gone[i].version, s->gone[i].state, NULL);
    for (size_t i = 0; i < s->n_rejected; i++)
        write_plugin_row(w, NULL, NULL, "rejected", s->rejected[i]);
}

static void write_plugins(struct json_writer *w, const struct supervisor *s)
{
    const struct config *cfg = s->config;

    json_begin_array(w);
    for (uint32_t i = 0; i < cfg->plugins_count; i++) {
        const struct config_plugin *p = &cfg->plugins[i];
        bool used = false, running = false;
        json_begin_object(w);
        json_key(w, "id");
        json_string(w, p->id);
        json_key(w, "version");
        json_string(w, p->version);
        json_key(w, "used_by");
        json_begin_array(w);
        for (size_t k = 0; k < s->n_children; k++) {
            const struct child *c = s->children[k];
            if (!counted(c) || !c->decl || !p->id || !streq(c->decl->plugin, p->id))
                continue;
            json_string(w, c->id);
            used |= c->enabled;
            running |= streq(c->state, "running");
        }
        json_end_array(w);
        json_key(w, "state");
        json_string(w, !p->enabled ? "disabled" : running ? "active" : used ? "loaded"
                                                                          : "validated");
        json_key(w, "path");
        json_string(w, p->path);
        json_key(w, "sha256");
        json_string(w, p->sha256);
        json_key(w, "reason");
        json_null(w);
        json_end_object(w);
    }
    write_gone_plugins(w, s);
    json_end_array(w);
}

static void write_notifications(struct json_writer *w, const struct supervisor *s)
{
    size_t n = notify_recent_count(s->notifier);

    json_begin_array(w);
    for (size_t i = 0; i < n; i++) {
        const struct notification *it = notify_recent(s->notifier, i);
        json_begin_object(w);
        json_key(w, "timestamp");
        iso8601(w, it->timestamp);
        json_key(w, "source_instance");
        json_string(w, it->source_instance);
        json_key(w, "severity");
        json_string(w, it->severity);
        json_key(w, "message");
        json_string(w, it->message);
        json_end_object(w);
    }
    json_end_array(w);
}

/* The last reload: null before the first SIGHUP; else when, whether it was refused, and for
 * a refused one how many errors and the first (the rest are in the journal). */
static void write_reload(struct json_writer *w, const struct supervisor *s)
{
    if (s->reload_at == 0) {
        json_null(w);
        return;
    }
    json_begin_object(w);
    json_key(w, "at");
    iso8601(w, s->reload_at);
    json_key(w, "refused");
    json_bool(w, s->reload_refused);
    json_key(w, "error_count");
    json_int(w, (int64_t)s->reload_errors);
    json_key(w, "first_error");
    json_string(w, s->reload_refused ? s->reload_first_error : NULL);
    json_end_object(w);
}

static int status_json(struct supervisor *s, const struct health_report *h, char **ret)
{
    struct json_writer w;
    size_t len;
    int r;

    json_writer_init(&w, REPORT_MAX_BYTES);
    json_begin_object(&w);
    json_key(&w, "service_status");
    json_string(&w, health_status_to_string(h->status));
    json_key(&w, "version");
    json_string(&w, BOTRUNNER_VERSION);
    json_key(&w, "uptime_s");
    json_int(&w, (sup_now_ms() - s->started_at) / 1000);
    json_key(&w, "enabled_instances_count");
    json_int(&w, (int64_t)h->enabled_count);
    json_key(&w, "active_instances_count");
    json_int(&w, (int64_t)h->active_count);
    json_key(&w, "failed_instances");
    json_begin_array(&w);
    for (size_t i = 0; i < h->n_failed; i++)
        json_string(&w, h->failed_ids[i]);
    json_end_array(&w);
    json_key(&w, "reasons");
    json_begin_array(&w);
    for (size_t i = 0; i < h->n_reasons; i++)
        json_string(&w, h->reasons[i]);
    json_end_array(&w);
    json_key(&w, "reload");
    write_reload(&w, s);
    json_key(&w, "instances");
    json_begin_array(&w);
    for (size_t i = 0; i < s->n_children; i++)
        if (counted(s->children[i]))
            write_instance(&w, s, s->children[i]);
    json_end_array(&w);
    json_key(&w, "plugins");
    write_plugins(&w, s);
    json_key(&w, "notifications");
    write_notifications(&w, s);
    json_end_object(&w);
    r = json_writer_steal(&w, ret, &len);
    json_writer_done(&w);
    return r;
}

/* The per-instance samples of metrics_text(), one accessor per metric family. */
static long long child_up(const struct child *c)
{
    return streq(c->state, "running");
}

static long long child_restarts(const struct child *c)
{
    return (long long)c->restarts;
}

static long long child_last_sync(const struct child *c)
{
    return (long long)c->last_sync_at;
}

static long long child_last_message(const struct child *c)
{
    return (long long)c->last_message_at;
}

static long long child_commands(const struct child *c)
{
    return (long long)c->counters.commands;
}

static long long child_replies(const struct child *c)
{
    return (long long)c->counters.replies;
}

static long long child_plugin_errors(const struct child *c)
{
    return (long long)c->counters.plugin_errors;
}

/* One per-instance metric family: its TYPE line, then one sample per counted instance. */
static void metric_family(FILE *f, const struct supervisor *s, const char *name, const char *type,
                          long long (*value)(const struct child *c))
{
    fprintf(f, "# TYPE %s %s\n", name, type);
    for (size_t i = 0; i < s->n_children; i++)
        if (counted(s->children[i]))
            fprintf(f, "%s{instance=\"%s\"} %lld\n", name, s->children[i]->id,
                    value(s->children[i]));
}

/* Prometheus text format 0.0.4. Label values are instance ids ([a-z0-9-]): no escaping. */
static int metrics_text(struct supervisor *s, const struct health_report *h, char **ret)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (!f)
        return -ENOMEM;
    fprintf(f, "# HELP botrunner_up 1 when the supervisor answers.\n# TYPE botrunner_up gauge\n"
               "botrunner_up 1\n");
    fprintf(f, "# HELP botrunner_healthy Service health: 2 healthy, 1 degraded, 0 failed.\n"
               "# TYPE botrunner_healthy gauge\nbotrunner_healthy %d\n",
            h->status == HEALTH_HEALTHY ? 2 : h->status == HEALTH_DEGRADED ? 1 : 0);
    fprintf(f, "# HELP botrunner_uptime_seconds Seconds since the supervisor started.\n"
               "# TYPE botrunner_uptime_seconds counter\nbotrunner_uptime_seconds %lld\n",
            (long long)((sup_now_ms() - s->started_at) / 1000));
    fprintf(f, "# TYPE botrunner_instances_enabled gauge\nbotrunner_instances_enabled %zu\n"
               "# TYPE botrunner_instances_running gauge\nbotrunner_instances_running %zu\n",
            h->enabled_count, h->active_count);
    fprintf(f, "# HELP botrunner_instance_up 1 when the instance's worker is running and synced.\n");
    metric_family(f, s, "botrunner_instance_up", "gauge", child_up);
    metric_family(f, s, "botrunner_instance_restarts_total", "counter", child_restarts);
    metric_family(f, s, "botrunner_instance_last_sync_timestamp_seconds", "gauge", child_last_sync);
    metric_family(f, s, "botrunner_instance_last_message_timestamp_seconds", "gauge",
                  child_last_message);
    /* What the workers report (COUNTERS), summed over an instance's workers since the
     * supervisor started. */
    fprintf(f, "# HELP botrunner_instance_commands_total Commands handed to the plugin.\n");
    metric_family(f, s, "botrunner_instance_commands_total", "counter", child_commands);
    fprintf(f, "# HELP botrunner_instance_replies_sent_total Messages the homeserver accepted "
               "from the instance (replies, admin notices).\n");
    metric_family(f, s, "botrunner_instance_replies_sent_total", "counter", child_replies);
    fprintf(f, "# HELP botrunner_instance_plugin_errors_total Plugin callbacks that returned "
               "an error.\n");
    metric_family(f, s, "botrunner_instance_plugin_errors_total", "counter", child_plugin_errors);
    fprintf(f, "# HELP botrunner_instance_events_skipped_total Events not handed to the plugin: "
               "older than catch_up_max_age (too_old), or refused by the sync parser "
               "(refused).\n# TYPE botrunner_instance_events_skipped_total counter\n");
    for (size_t i = 0; i < s->n_children; i++) {
        const struct child *c = s->children[i];
        if (!counted(c))
            continue;
        fprintf(f, "botrunner_instance_events_skipped_total{instance=\"%s\",reason=\"too_old\"} "
                   "%lld\n", c->id, (long long)c->counters.skipped_old);
        fprintf(f, "botrunner_instance_events_skipped_total{instance=\"%s\",reason=\"refused\"} "
                   "%lld\n", c->id, (long long)c->counters.refused);
    }
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    return 0;
}

void report_publish(struct supervisor *s)
{
    _cleanup_free_ char *status = NULL, *metrics = NULL;
    struct health_report h = {0};

    if (!s->http || !s->config)
        return;
    evaluate(s, &h);
    if (status_json(s, &h, &status) < 0 || metrics_text(s, &h, &metrics) < 0)
        log_warning("Cannot build the status document");
    else
        (void)status_http_publish(s->http, status, metrics);
    health_report_done(&h);
}

/* ---- admin notifications -------------------------------------------------------------- */

static struct child *sender(struct supervisor *s)
{
    const struct config_notifications *n = s->config->notifications;

    if (!n)
        return NULL;
    for (size_t i = 0; i < s->n_children; i++)
        if (!s->children[i]->removed && streq(s->children[i]->id, n->sender))
            return s->children[i];
    return NULL;
}

static bool post(struct supervisor *s, const char *severity, const char *text)
{
    struct child *c = sender(s);
    struct ipc_builder b;

    if (!c || c->ipc_fd < 0 || !streq(c->state, "running"))
        return false;
    ipc_builder_init(&b);
    ipc_add(&b, "NOTIFY", severity);
    ipc_add(&b, "ROOM_ID", s->config->notifications->room);
    ipc_add(&b, "TEXT", text);
    return ipc_send(c->ipc_fd, &b) >= 0;
}

/* Keep it for when the sender's worker is up (it may be the one that crashed). */
static void queue(struct supervisor *s, const char *severity, const char *text)
{
    if (s->n_pending == SUP_PENDING_NOTICES) {
        free(s->pending[0].severity);
        free(s->pending[0].text);
        memmove(&s->pending[0], &s->pending[1], (SUP_PENDING_NOTICES - 1) * sizeof(s->pending[0]));
        s->n_pending--;
    }
    s->pending[s->n_pending].severity = strdup(severity);
    s->pending[s->n_pending].text = strdup(text);
    if (s->pending[s->n_pending].severity && s->pending[s->n_pending].text)
        s->n_pending++;
}

void report_flush_pending(struct supervisor *s)
{
    _cleanup_free_ char *summary = NULL;
    size_t done = 0;

    if (!s->config->notifications)
        return;
    if (notify_flush(s->notifier, sup_now_ms() / 1000, &summary) > 0 && summary)
        queue(s, "ERROR", summary);
    while (done < s->n_pending && post(s, s->pending[done].severity, s->pending[done].text)) {
        free(s->pending[done].severity);
        free(s->pending[done].text);
        done++;
    }
    memmove(&s->pending[0], &s->pending[done], (s->n_pending - done) * sizeof(s->pending[0]));
    s->n_pending -= done;
}

static int instance_level(struct supervisor *s, const char *source)
{
    for (size_t i = 0; i < s->n_children; i++)
        if (source && streq(s->children[i]->id, source) && s->children[i]->decl)
            return s->children[i]->decl->error_notification_level;
    return LOG_ERR;
}

void report_notify(struct supervisor *s, int priority, const struct notification_in *in)
{
    _cleanup_free_ char *summary = NULL, *text = NULL;
    const struct notification *kept;
    int64_t now = sup_now_ms() / 1000;
    int r;

    /* Only ERROR and CRITICAL at or above the instance's level are notifications; the rest
     * stay in the journal (and still count for health). */
    if (!notify_wanted(instance_level(s, in->source_instance), priority))
        return;
    r = notify_offer(s->notifier, now, in, &summary, &text);
    if (r < 0)
        return;
    /* bot.db keeps the cleaned, redacted, bounded copy the notifier made. */
    kept = notify_recent(s->notifier, 0);
    if (kept && store_notification_add(s->store, kept->timestamp, kept->source_instance,
                                       kept->severity, kept->message, kept->context_json) < 0)
        log_debug("Cannot record a notification in bot.db");
    sup_state_changed(s);
    if (!s->config->notifications)
        return;
    if (summary)
        queue(s, "ERROR", summary);
    if (r > 0 && text)
        queue(s, in->severity, text);
    report_flush_pending(s);
}
