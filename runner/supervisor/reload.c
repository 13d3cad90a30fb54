/* SIGHUP: read the config again. An invalid file is refused (every error logged, one admin
 * notice) and the running fleet is untouched. A valid one is compared instance by instance:
 * unchanged workers keep their process; changed ones restart; new ones start; removed ones
 * stop and their plugin databases are archived, never deleted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "supervisor/notify.h"
#include "supervisor/supervisor.h"
#include "util/ipc.h"
#include "util/log.h"
#include "util/macro.h"

static struct child *find_child(struct supervisor *s, const char *id)
{
    for (size_t i = 0; i < s->n_children; i++)
        if (!s->children[i]->removed && streq(s->children[i]->id, id))
            return s->children[i];
    return NULL;
}

/* Log every problem, notify once: the room gets the count and the first problem. */
static int load_new(struct supervisor *s, struct config **ret)
{
    struct diag_list d = {0};
    char first[512] = "";
    int r = config_load(s->config_path, 0, &d, ret);

    for (size_t i = 0; i < s->n_rejected; i++)
        free(s->rejected[i]);
    s->n_rejected = 0;
    for (size_t i = 0; i < d.n; i++) {
        const struct diag *it = &d.items[i];
        /* A plugin the new file would use and cannot: /status says so until a good reload. */
        if (r < 0 && it->severity == DIAG_ERROR && strncmp(it->path, "plugins[", 8) == 0 &&
            s->n_rejected < SUP_REJECTED_PLUGINS &&
            asprintf(&s->rejected[s->n_rejected], "%s: %s", it->path, it->message) >= 0)
            s->n_rejected++;
        log_full_errno(it->severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING, 0, "%s: %s%s%s (line %u)",
                       s->config_path, it->path, *it->path ? ": " : "", it->message, it->line);
        if (!*first && it->severity == DIAG_ERROR)
            snprintf(first, sizeof(first), "%s%s%s (line %u)", it->path, *it->path ? ": " : "",
                     it->message, it->line);
    }
    s->reload_at = sup_now_ms() / 1000;
    s->reload_refused = r < 0;
    s->reload_errors = r < 0 ? d.n_errors : 0;
    free(s->reload_first_error);
    s->reload_first_error = r < 0 && *first ? strdup(first) : NULL;
    if (r < 0 && d.n_errors == 0 && !*first) /* a failure that is not the file's (memory) */
        s->reload_first_error = strdup(strerror(-r));
    if (r < 0) {
        char msg[768];
        snprintf(msg, sizeof(msg),
                 "Reload refused: %s has %zu error%s (first: %s); the running fleet is unchanged",
                 s->config_path, d.n_errors, d.n_errors == 1 ? "" : "s", first);
        log_error("%s", msg);
        report_notify(s, LOG_ERR,
                      &(struct notification_in){.severity = "ERROR", .message = msg});
    }
    diag_list_done(&d);
    return r;
}

/* An unchanged worker keeps its process; its aliases may name other rooms now, so it is
 * asked to resolve them again (the brief: at start and on reload). */
static void resolve_again(struct child *c)
{
    struct ipc_builder b;
    int r;

    if (c->ipc_fd < 0 || !child_has_alias(c))
        return;
    ipc_builder_init(&b);
    ipc_add(&b, IPC_RESOLVE, "1");
    r = ipc_send(c->ipc_fd, &b);
    if (r < 0)
        log_warning_errno(r, "Cannot ask %s to resolve its room aliases again: %m", c->id);
}

static int replace_settings(struct child *c, const char *settings)
{
    char *copy = strdup(settings);

    if (!copy)
        return -ENOMEM;
    free(c->settings);
    c->settings = copy;
    return 0;
}

/* Only the settings changed: a running worker hands them to its plugin (br_plugin.config)
 * and keeps running; it answers RECONFIGURED=0 when the plugin cannot take them, and is
 * restarted then. A worker not running takes them when it starts. Returns 1 (a change). */
static size_t reconfigure(struct child *c, const char *settings)
{
    struct ipc_builder b;
    int r;

    if (replace_settings(c, settings) < 0) {
        log_oom();
        return 1;
    }
    if (c->ipc_fd < 0 || c->phase != CHILD_RUNNING)
        return 1;
    log_info("Instance %s: only its settings changed; handing them to its plugin", c->id);
    ipc_builder_init(&b);
    ipc_add(&b, IPC_RECONFIGURE, "1");
    r = ipc_send(c->ipc_fd, &b);
    if (r < 0) {
        log_warning_errno(r, "Cannot reach the worker of %s (%m); restarting it", c->id);
        child_restart(c);
    }
    return 1;
}

/* Point every child at the new declarations; returns how many changed. */
static int apply(struct supervisor *s, struct config *next, size_t *ret_changed)
{
    struct child **grown;
    size_t changed = 0;
    int r;

    for (size_t i = 0; i < s->n_children; i++) {
        struct child *c = s->children[i];
        if (!c->removed && !config_find_instance(next, c->id)) {
            log_info("Instance %s was removed; stopping it", c->id);
            c->removed = true;
            c->decl = NULL;
            child_stop(c);
            changed++;
        }
    }
    grown = reallocarray(s->children, s->n_children + next->instances_count + 1,
                         sizeof(*s->children));
    if (!grown)
        return -ENOMEM;
    s->children = grown;
    for (uint32_t i = 0; i < next->instances_count; i++) {
        const struct config_instance *in = &next->instances[i];
        struct child *c = find_child(s, in->id);
        _cleanup_free_ char *fp = NULL;

        r = config_instance_fingerprint(next, in, &fp);
        if (r < 0)
            return r;
        if (!c) {
            r = child_new(s, in, &c);
            if (r < 0)
                return r;
            s->children[s->n_children++] = c;
            log_info("Instance %s was added", in->id);
            changed++;
            if (c->enabled)
                (void)child_start(c);
            continue;
        }
        c->decl = in;
        if (streq(c->fingerprint, fp) && c->enabled == in->enabled) {
            if (!streq(c->settings, in->settings_json))
                changed += reconfigure(c, in->settings_json);
            resolve_again(c);
            continue;
        }
        r = replace_settings(c, in->settings_json);
        if (r < 0)
            return r;
        changed++;
        free(c->fingerprint);
        c->fingerprint = TAKE_PTR(fp);
        c->enabled = in->enabled;
        c->backoff_ms = SUP_BACKOFF_MIN_MS;
        if (!c->enabled) {
            log_info("Instance %s was disabled; stopping it", c->id);
            child_stop(c);
        } else if (c->pid > 0 || c->phase == CHILD_BACKOFF) {
            log_info("Instance %s changed; restarting it", c->id);
            child_restart(c);
        } else {
            log_info("Instance %s was enabled; starting it", c->id);
            (void)child_start(c);
        }
    }
    *ret_changed = changed;
    return 0;
}

/* RELOADING=1 with the time the reload began, then READY=1 once it is over, refused or
 * not: `systemctl reload` (and nixos-rebuild switch) waits for it and sees it finish. */
static void notify_reloading(void)
{
    struct timespec ts;
    unsigned long long usec;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return;
    usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
    (void)sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
}

/* Read the file again and apply it; an invalid one changes nothing. */
static void reload(struct supervisor *s)
{
    struct config *next = NULL, *old;
    size_t changed = 0;
    int r;

    if (load_new(s, &next) < 0)
        return;
    /* Status address and port are bound once; a change needs a restart of the unit. */
    if (!streq(next->status.address, s->config->status.address) ||
        next->status.port != s->config->status.port)
        log_warning("status.address/port changed: takes effect when the service restarts");
    old = s->config;
    s->config = next;
    plugins_prepare(s); /* before the workers that need the packages start */
    r = apply(s, next, &changed);
    if (r < 0)
        log_error_errno(r, "Reload failed half-way: %m");
    log_set_max_level(next->logging.level);
    /* Children of removed instances keep no pointer into the old config (decl = NULL). */
    config_free(old);
    log_info("Reloaded: %zu instance%s changed", changed, changed == 1 ? "" : "s");
    sup_state_changed(s);
}

void supervisor_reload(struct supervisor *s)
{
    if (s->stopping)
        return;
    log_info("Reloading %s", s->config_path);
    notify_reloading();
    reload(s);
    (void)sd_notify(false, "READY=1");
}
