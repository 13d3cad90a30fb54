/* The supervisor process, `botrunner run -c FILE`: the unit's main PID.
 *
 * Privilege and process separation, in the manner of OpenBSD's daemons: the supervisor
 * never speaks Matrix and never loads a plugin. It reads the config and bot.db, starts one
 * worker per enabled instance by fork and exec of this same binary, restarts a failed one
 * with backoff, serves the read-only status endpoint, and hands admin notifications to the
 * sender instance's worker to post. A worker holds its own account and plugin, touches only
 * its rows of bot.db, and reports to the supervisor over its socketpair. A crash in a plugin
 * costs one worker; a stuck supervisor loop stops the watchdog pings and systemd restarts
 * the unit. */
#include "supervisor/supervisor.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "config/credentials.h"
#include "store/store.h"
#include "supervisor/notify.h"
#include "supervisor/status_http.h"
#include "util/log.h"
#include "util/macro.h"

int64_t sup_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "3/3 instances running; 1 restarting" for systemctl status. */
static void notify_status_line(struct supervisor *s)
{
    size_t enabled = 0, running = 0, restarting = 0;

    for (size_t i = 0; i < s->n_children; i++) {
        const struct child *c = s->children[i];
        if (!c->enabled || c->removed)
            continue;
        enabled++;
        running += streq(c->state, "running");
        restarting += c->phase == CHILD_BACKOFF;
    }
    char line[sizeof(s->last_status)];

    if (restarting)
        snprintf(line, sizeof(line), "STATUS=%zu/%zu instances running; %zu restarting", running,
                 enabled, restarting);
    else
        snprintf(line, sizeof(line), "STATUS=%zu/%zu instances running", running, enabled);
    /* Only when it changed: every state change calls this, and the notify socket queues
     * only a few datagrams before sd_notify() would wait for systemd to read them. */
    if (streq(line, s->last_status))
        return;
    snprintf(s->last_status, sizeof(s->last_status), "%s", line);
    (void)sd_notify(false, line);
}

static int on_publish(sd_event_source *src, void *userdata)
{
    struct supervisor *s = userdata;

    (void)src;
    notify_status_line(s);
    report_publish(s);
    return 0;
}

/* Many changes come in one go (50 workers starting, a reload): the document is rebuilt once
 * per loop iteration, after all of them, not once per change. */
void sup_state_changed(struct supervisor *s)
{
    if (s->publish && sd_event_source_set_enabled(s->publish, SD_EVENT_ONESHOT) >= 0)
        return;
    notify_status_line(s);
    report_publish(s);
}

static int on_tick(sd_event_source *src, uint64_t usec, void *userdata)
{
    struct supervisor *s = userdata;
    int r;

    (void)src;
    report_flush_pending(s);
    sup_state_changed(s);
    /* Time sources fire once: set the next time and enable the source again. */
    r = sd_event_source_set_time(s->tick, usec + SUP_TICK_MS * 1000);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->tick, SD_EVENT_ONESHOT);
    return r;
}

static void maybe_exit(struct supervisor *s)
{
    if (s->stopping && children_alive(s) == 0)
        sd_event_exit(s->event, 0);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
    struct supervisor *s = userdata;

    (void)src;
    if (si->ssi_signo == SIGHUP) {
        supervisor_reload(s);
        return 0;
    }
    if (s->stopping)
        return 0;
    log_info("Received %s; stopping %zu worker%s", strsignal((int)si->ssi_signo),
             children_alive(s), children_alive(s) == 1 ? "" : "s");
    (void)sd_notify(false, "STOPPING=1");
    s->stopping = true;
    for (size_t i = 0; i < s->n_children; i++)
        child_stop(s->children[i]);
    maybe_exit(s);
    return 0;
}

/* Called by children.c whenever a worker is gone for good. */
void sup_child_gone(struct supervisor *s)
{
    maybe_exit(s);
}

static int load_config(struct supervisor *s)
{
    struct diag_list d = {0};
    int r = config_load(s->config_path, 0, &d, &s->config);

    /* The same messages as `botrunner check`, one log line each. */
    for (size_t i = 0; i < d.n; i++)
        log_full_errno(d.items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING, 0,
                       "%s: %s%s%s (line %u)", s->config_path, d.items[i].path,
                       *d.items[i].path ? ": " : "", d.items[i].message, d.items[i].line);
    diag_list_done(&d);
    if (r < 0)
        return log_error_errno(r, "Refusing to start: %s is not valid", s->config_path);
    log_set_max_level(s->config->logging.level);
    return 0;
}

static int open_store(struct supervisor *s)
{
    _cleanup_credential_ struct credential key = {0};
    const char *reason = NULL;
    int r;

    r = credential_load(s->config->secret_key_file, CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX,
                        &key, &reason);
    if (r < 0)
        return log_error_errno(r, "Cannot read credential \"%s\": %s",
                               s->config->secret_key_file, reason ? reason : strerror(-r));
    (void)log_redact_add(key.data, key.len);
    r = store_open(s->config->state_directory, key.data, key.len, &s->store);
    if (r < 0)
        return log_error_errno(r, "Cannot open the state in %s: %m", s->config->state_directory);
    return 0;
}

static int setup_loop(struct supervisor *s)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t mask;
    int r;

    r = sd_event_default(&s->event);
    if (r < 0)
        return r;
    sigemptyset(&mask);
    for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
        sigaddset(&mask, sigs[i]);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return negative_errno();
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
        r = sd_event_add_signal(s->event, NULL, sigs[i], on_signal, s);
        if (r < 0)
            return r;
    }
    /* WATCHDOG=1 from the loop itself when WATCHDOG_USEC is set: a stuck loop stops the
     * pings, which is exactly what the watchdog is for. */
    r = sd_event_set_watchdog(s->event, true);
    if (r < 0)
        return r;
    r = sd_event_add_defer(s->event, &s->publish, on_publish, s);
    if (r >= 0)
        r = sd_event_source_set_enabled(s->publish, SD_EVENT_OFF);
    if (r < 0)
        return r;
    return sd_event_add_time_relative(s->event, &s->tick, CLOCK_MONOTONIC, SUP_TICK_MS * 1000,
                                      0, on_tick, s);
}

static int64_t env_seconds(const char *name, int64_t dflt)
{
    const char *v = getenv(name);
    char *end;
    long long n;

    if (!v || !*v)
        return dflt;
    n = strtoll(v, &end, 10);
    return *end || n <= 0 ? dflt : n;
}

static int start_children(struct supervisor *s)
{
    const struct config *cfg = s->config;
    int r;

    s->children = calloc(cfg->instances_count + 1, sizeof(*s->children));
    if (!s->children)
        return -ENOMEM;
    for (uint32_t i = 0; i < cfg->instances_count; i++) {
        struct child *c = NULL;
        r = child_new(s, &cfg->instances[i], &c);
        if (r < 0)
            return r;
        assert(c); /* child_new sets it whenever it succeeds */
        s->children[s->n_children++] = c;
    }
    plugins_prepare(s);
    for (size_t i = 0; i < s->n_children; i++) {
        struct child *c = s->children[i];
        assert(c);
        if (c->enabled)
            (void)child_start(c);
    }
    return 0;
}

static void supervisor_free(struct supervisor *s)
{
    plugins_gone_clear(s);
    for (size_t i = 0; i < s->n_rejected; i++)
        free(s->rejected[i]);
    free(s->reload_first_error);
    for (size_t i = 0; i < s->n_children; i++)
        child_free(s->children[i]);
    free(s->children);
    for (size_t i = 0; i < s->n_pending; i++) {
        free(s->pending[i].severity);
        free(s->pending[i].text);
    }
    status_http_stop(s->http);
    notifier_free(s->notifier);
    sd_event_source_disable_unref(s->tick);
    sd_event_source_disable_unref(s->publish);
    store_close(s->store);
    sd_event_unref(s->event);
    config_free(s->config);
    free(s->config_path);
}

static int supervisor_setup(struct supervisor *s)
{
    int r;

    r = load_config(s);
    if (r < 0)
        return r;
    r = open_store(s);
    if (r < 0)
        return r;
    r = setup_loop(s);
    if (r < 0)
        return log_error_errno(r, "Cannot set up the event loop: %m");
    r = notifier_new(s->config->notifications ? (unsigned)s->config->notifications->max_per_minute
                                              : CONFIG_DEFAULT_NOTIFY_RATE,
                     &s->notifier);
    if (r < 0)
        return log_error_errno(r, "Cannot set up notifications: %m");
    r = status_http_start(s->config->status.address, s->config->status.port, &s->http);
    if (r < 0)
        return log_error_errno(r, "Cannot serve the status endpoint on %s:%u: %m",
                               s->config->status.address, s->config->status.port);
    r = start_children(s);
    if (r < 0)
        return log_error_errno(r, "Cannot start the workers: %m");
    return 0;
}

int supervisor_main(const char *config_path)
{
    struct supervisor s = {.started_at = sup_now_ms()};
    int r;

    s.config_path = strdup(config_path);
    if (!s.config_path)
        return 1;
    /* Thresholds of the seed's health rules; the environment shortens them for tests. */
    s.health_error_window_s = env_seconds("BOTRUNNER_HEALTH_ERROR_WINDOW_S", 300);
    s.health_sync_max_age_s = env_seconds("BOTRUNNER_HEALTH_SYNC_MAX_AGE_S", 600);
    r = supervisor_setup(&s);
    if (r >= 0) {
        log_info("Supervising %zu instance%s; status on %s:%u", s.n_children,
                 s.n_children == 1 ? "" : "s", s.config->status.address, s.config->status.port);
        (void)sd_notify(false, "READY=1");
        s.ready_sent = true;
        sup_state_changed(&s);
        r = sd_event_loop(s.event);
        if (r < 0)
            log_error_errno(r, "Event loop failed: %m");
    }
    supervisor_free(&s);
    return r < 0 ? 1 : 0;
}
