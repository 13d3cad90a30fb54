/* The worker process: `botrunner worker --instance ID -c FILE` runs one bot instance in the
 * foreground. It may touch its own rows of bot.db, its plugin's database and the network
 * to the homeserver; nothing of the other instances. A crash here costs one bot.
 *
 * Start-up order: config (validated exactly as `check` does), logging, credentials, bot.db,
 * the instance's lock (a second worker for it stops here), the event loop and its signals, the plugin (loaded before any network traffic, so a
 * broken plugin fails fast), the outbox left by a previous run, then the account; once the
 * account is ready, the rooms are joined and the sync loop starts. */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/credentials.h"
#include "plugin/host.h"
#include "plugin/package.h"
#include "store/store.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/token_bucket.h"
#include "worker/lock.h"

int64_t worker_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void worker_set_state_room(struct worker *w, const char *state, const char *error,
                           const char *room)
{
    int r = store_instance_set_state(w->store, w->inst->id, state, error, worker_now_ms() / 1000);

    if (r < 0)
        log_warning_errno(r, "Cannot record state %s: %m", state);
    link_state(w, state, error, room);
}

void worker_set_state(struct worker *w, const char *state, const char *error)
{
    worker_set_state_room(w, state, error, NULL);
}

/* A fatal error: record it, stop the loop, exit non-zero so the supervisor restarts us. */
void worker_fail(struct worker *w, int r, const char *what)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(r < 0 ? -r : r));
    log_error("%s", msg);
    worker_set_state(w, "failed", msg);
    w->exit_code = 1;
    sd_event_exit(w->event, 1);
}

static int read_credential(const char *name, size_t min, size_t max, char **ret, size_t *ret_len)
{
    _cleanup_credential_ struct credential c = {0};
    const char *reason = NULL;
    int r;

    r = credential_load(name, min, max, &c, &reason);
    if (r < 0)
        return log_error_errno(r, "Cannot read credential \"%s\": %s", name,
                               reason ? reason : strerror(-r));
    if (c.len >= LOG_REDACT_MIN)
        (void)log_redact_add(c.data, c.len);
    *ret = TAKE_PTR(c.data);
    *ret_len = c.len;
    c.len = 0;
    return 0;
}

int worker_reconfigure(struct worker *w)
{
    _cleanup_(config_freep) struct config *next = NULL;
    _cleanup_free_ char *mine = NULL, *theirs = NULL, *old = NULL;
    const struct br_plugin *p = plugin_host_plugin(w->plugin);
    const struct config_instance *in;
    struct diag_list d = {0};
    int r;

    r = config_load(w->config_path, 0, &d, &next);
    diag_list_done(&d);
    if (r < 0)
        return log_warning_errno(r, "Cannot read the new settings from %s: %m", w->config_path);
    in = config_find_instance(next, w->inst->id);
    if (!in)
        return log_warning_errno(-ENOENT, "The instance is gone from %s", w->config_path);
    r = config_instance_fingerprint(w->config, w->inst, &mine);
    if (r >= 0)
        r = config_instance_fingerprint(next, in, &theirs);
    if (r < 0)
        return log_oom();
    if (!streq(mine, theirs))
        return log_info_errno(-ESTALE, "More than the settings changed: restarting");
    if (!p->config)
        return log_info_errno(-EOPNOTSUPP, "Plugin %s takes new settings by a restart",
                              w->inst->plugin);
    /* The new text is current during the call, so config_json() agrees with it. */
    old = TAKE_PTR(w->settings);
    w->settings = strdup(in->settings_json);
    if (!w->settings) {
        w->settings = TAKE_PTR(old);
        return log_oom();
    }
    r = p->config(w->plugin_state, w->settings);
    if (r < 0) {
        free(w->settings);
        w->settings = TAKE_PTR(old);
        return log_warning_errno(r, "Plugin %s cannot take its new settings (%m): restarting",
                                 w->inst->plugin);
    }
    log_info("Plugin %s took its new settings", w->inst->plugin);
    return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
    struct worker *w = userdata;

    (void)s;
    log_info("Received %s, stopping", strsignal((int)si->ssi_signo));
    w->stopping = true;
    sd_event_exit(w->event, 0);
    return 0;
}

static int setup_event_loop(struct worker *w)
{
    sigset_t mask;
    int r;

    r = sd_event_new(&w->event);
    if (r < 0)
        return r;
    /* Signals arrive through the loop; SIGCHLD is blocked for subprocess sources. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return negative_errno();
    signal(SIGPIPE, SIG_IGN);
    r = sd_event_add_signal(w->event, NULL, SIGTERM, on_signal, w);
    if (r >= 0)
        r = sd_event_add_signal(w->event, NULL, SIGINT, on_signal, w);
    return r;
}

static int load_config(struct worker *w, const char *path, const char *id)
{
    struct diag_list d = {0};
    int r;

    r = config_load(path, 0, &d, &w->config);
    if (r < 0) {
        diag_print(&d, stderr);
        diag_list_done(&d);
        return log_error_errno(r, "Cannot load %s", path);
    }
    diag_list_done(&d);
    w->inst = config_find_instance(w->config, id);
    if (!w->inst)
        return log_error_errno(-ENOENT, "No instance \"%s\" in %s", id, path);
    for (uint32_t i = 0; i < w->config->plugins_count; i++)
        if (streq(w->config->plugins[i].id, w->inst->plugin))
            w->plugin_decl = &w->config->plugins[i];
    if (!w->plugin_decl) /* config_load checked the reference; be safe anyway */
        return log_error_errno(-ENOENT, "No plugin \"%s\"", w->inst->plugin);
    log_set_instance(w->inst->id);
    log_set_max_level(w->config->logging.level);
    w->config_path = path;
    w->settings = strdup(w->inst->settings_json);
    return w->settings ? 0 : log_oom();
}

static int load_secrets(struct worker *w, char **ret_key, size_t *ret_key_len)
{
    size_t len;
    int r;

    r = read_credential(w->config->secret_key_file, CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX,
                        ret_key, ret_key_len);
    if (r < 0)
        return r;
    if (w->inst->password_file) {
        r = read_credential(w->inst->password_file, 1, CREDENTIAL_MAX, &w->password,
                            &w->password_len);
        if (r < 0)
            return r;
    }
    if (w->config->registration_token_file) {
        r = read_credential(w->config->registration_token_file, 1, REGISTRATION_TOKEN_MAX,
                            &w->registration_token, &len);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A package is loaded from its extraction (made once per sha256; the supervisor usually
 * made it already), a directory in place. */
static int plugin_directory(struct worker *w, char **ret, char *why, size_t cap)
{
    _cleanup_(package_freep) struct package *p = NULL;
    _cleanup_free_ char *packages = NULL;
    const char *path = w->plugin_decl->path;
    struct stat st;
    int r;

    if (stat(path, &st) < 0 || S_ISDIR(st.st_mode))
        return (*ret = strdup(path)) ? 0 : -ENOMEM;
    r = package_open(path, &p, why, cap);
    if (r < 0)
        return r;
    if (asprintf(&packages, "%s/plugins/packages", w->config->state_directory) < 0)
        return -ENOMEM;
    return package_extract(p, packages, ret, why, cap);
}

static int load_plugin(struct worker *w)
{
    _cleanup_free_ char *dir = NULL;
    char why[512] = "";
    int r;

    r = plugin_directory(w, &dir, why, sizeof(why));
    if (r >= 0)
        r = plugin_host_load(dir, &w->plugin, why, sizeof(why));
    if (r < 0)
        return log_error_errno(r, "Cannot load plugin %s from %s: %s", w->inst->plugin,
                               w->plugin_decl->path, *why ? why : strerror(-r));
    return 0;
}

static int setup_client(struct worker *w)
{
    struct mx_client_options o = {.base_url = w->config->homeserver.url};
    const char *colon;
    int r;

    r = mx_client_new(w->event, &o, &w->mx);
    if (r < 0)
        return r;
    mx_client_on_unknown_token(w->mx, account_on_unknown_token, w);
    w->user_id = strdup(w->inst->user);
    colon = strchr(w->inst->user, ':');
    w->localpart = colon ? strndup(w->inst->user + 1, (size_t)(colon - w->inst->user - 1)) : NULL;
    if (!w->user_id || !w->localpart)
        return -ENOMEM;
    return 0;
}

/* Two limiters with two meanings. rate_limit is the plugin's, for the external calls it
 * makes on a person's behalf (the seed: "enforced before external API calls"); send_rate
 * guards the outbox, one second's worth of sends in the bucket. Neither is the homeserver's
 * own limit, which its 429 answers enforce (the client waits for Retry-After). */
static int setup_buckets(struct worker *w)
{
    const struct config_rate_limit *rl = &w->inst->rate_limit;
    unsigned per_second = (unsigned)w->inst->send_rate;
    int r;

    r = token_bucket_new(per_second * 60, per_second, &w->send_bucket);
    if (r >= 0)
        r = token_bucket_new((unsigned)rl->max_requests_per_minute, (unsigned)rl->burst_size,
                             &w->plugin_bucket);
    return r;
}

static void worker_free(struct worker *w)
{
    /* The client first: it cancels its calls without calling back, so no callback can run
     * into a part freed below. Then the plugin (its stop callback may still queue sends,
     * which stay in bot.db for the next start). */
    w->mx = mx_client_free(w->mx);
    api_free(w);
    link_close(w);
    outbox_free(w);
    rooms_free(w);
    syncer_free(w);
    dispatch_free(w);
    plugin_host_free(w->plugin);
    workdir_free(w);
    free(w->settings);
    token_bucket_free(w->send_bucket);
    token_bucket_free(w->plugin_bucket);
    sd_event_source_disable_unref(w->send_wait);
    sd_event_source_disable_unref(w->stop_timer);
    store_close(w->store);
    if (w->lock_fd >= 0)
        close(w->lock_fd); /* the lock goes with it, after bot.db is closed */
    free(w->user_id);
    free(w->localpart);
    free(w->device_id);
    free(w->next_batch);
    free(w->filter_id);
    credential_free(w->password, w->password_len);
    credential_free(w->registration_token, w->registration_token ? strlen(w->registration_token) : 0);
    sd_event_unref(w->event);
    config_free(w->config);
}

/* Before anything of the instance is touched: a second worker for it stops here, saying who
 * runs it (bot.db, now open and checked, is not written by the refused one). */
static int lock_instance(struct worker *w)
{
    const char *dir = w->config->state_directory;
    pid_t holder = 0;
    int r = instance_lock_take(dir, w->inst->id, &w->lock_fd, &holder);

    if (r == -EBUSY && holder > 0)
        return log_error_errno(r, "Instance %s is already running: worker PID %d holds %s/%s/%s.lock;"
                                  " not starting a second one",
                               w->inst->id, (int)holder, dir, INSTANCE_LOCK_DIR, w->inst->id);
    if (r == -EBUSY)
        return log_error_errno(r, "Instance %s is already running: another worker holds %s/%s/%s.lock;"
                                  " not starting a second one",
                               w->inst->id, dir, INSTANCE_LOCK_DIR, w->inst->id);
    if (r < 0)
        return log_error_errno(r, "Cannot take the lock of instance %s in %s/%s: %m", w->inst->id,
                               dir, INSTANCE_LOCK_DIR);
    return 0;
}

static int worker_setup(struct worker *w, const char *config_path, const char *instance_id)
{
    _cleanup_free_ char *key = NULL;
    size_t key_len = 0;
    int r;

    r = load_config(w, config_path, instance_id);
    if (r < 0)
        return r;
    r = load_secrets(w, &key, &key_len);
    if (r < 0)
        return r;
    r = store_open(w->config->state_directory, key, key_len, &w->store);
    credential_free(TAKE_PTR(key), key_len);
    if (r < 0)
        return log_error_errno(r, "Cannot open the state in %s: %m", w->config->state_directory);
    r = lock_instance(w);
    if (r < 0)
        return r;
    r = setup_event_loop(w);
    if (r < 0)
        return log_error_errno(r, "Cannot set up the event loop: %m");
    r = link_open(w);
    if (r < 0)
        return r;
    r = load_plugin(w);
    if (r < 0)
        return r;
    r = setup_client(w);
    if (r >= 0)
        r = setup_buckets(w);
    if (r < 0)
        return log_error_errno(r, "Cannot set up the instance: %m");
    worker_set_state(w, "enabled", NULL);
    r = outbox_load(w);
    if (r < 0)
        return log_error_errno(r, "Cannot read the outbox: %m");
    return api_start(w);
}

int worker_main(const char *config_path, const char *instance_id)
{
    struct worker w = {.started_ms = worker_now_ms(), .link_fd = -EBADF, .lock_fd = -EBADF};
    int r;

    w.api.worker = &w;
    r = worker_setup(&w, config_path, instance_id);
    if (r >= 0)
        r = account_start(&w);
    if (r >= 0) {
        log_info("Instance %s starting as %s (plugin %s %s)", w.inst->id, w.inst->user,
                 w.inst->plugin, w.plugin_decl->version ? w.plugin_decl->version : "");
        r = sd_event_loop(w.event);
        if (r < 0)
            log_error_errno(r, "Event loop failed: %m");
    }
    if (w.plugin_started && !w.stopping)
        log_info("Stopping the plugin");
    if (w.store && r >= 0 && w.exit_code == 0)
        worker_set_state(&w, "stopped", NULL);
    worker_free(&w);
    return r < 0 || w.exit_code ? 1 : 0;
}
