/* The runner's side of the plugin ABI: struct br_runner's functions for one worker. Sends go
 * through the outbox (stored before they are sent); uploads, subprocesses and timers are
 * tracked so that stopping the instance cancels every one without calling back. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/host.h"
#include "plugin/manifest.h"
#include "plugin/passive.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/token_bucket.h"
#include "util/utf8.h"
#include "worker/spawn.h"
#include "worker/worker.h"

/* Event content the runner builds for a plugin stays far below the spec's 64 KiB event. */
#define API_CONTENT_MAX (64u * 1024u)
/* A plugin message line in the log; longer ones are cut by the log itself. */
#define API_LOG_MAX 2048u

/* Something in flight on the plugin's behalf: an upload, a subprocess, a timer. */
struct worker_timer {
    struct worker_timer *next;
    struct worker *worker;
    enum { CALL_TIMER, CALL_UPLOAD, CALL_SPAWN } kind;
    uint64_t id;
    sd_event_source *source; /* timers */
    struct spawn *spawn;     /* subprocesses */
    br_timer_t fired;
    br_uploaded_t uploaded;
    br_exited_t exited;
    void *userdata;
};

static struct worker *W(struct br_instance *inst)
{
    return inst->worker;
}

static struct worker_timer *call_new(struct worker *w, int kind, void *userdata)
{
    struct worker_timer *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->worker = w;
    c->kind = kind;
    c->id = ++w->next_timer_id;
    c->userdata = userdata;
    c->next = w->timers;
    w->timers = c;
    return c;
}

static void call_unlink(struct worker *w, struct worker_timer *c)
{
    for (struct worker_timer **p = &w->timers; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static void call_free(struct worker *w, struct worker_timer *c)
{
    call_unlink(w, c);
    sd_event_source_disable_unref(c->source);
    free(c);
}

static bool valid_text(const char *s)
{
    return s && utf8_is_valid(s, strlen(s));
}

/* ---- sends ---------------------------------------------------------------------------- */

static int queue_content(struct worker *w, const char *room_id, const char *type,
                         struct json_writer *jw, br_sent_t sent, void *userdata)
{
    _cleanup_free_ char *content = NULL;
    size_t len;
    int r = json_writer_steal(jw, &content, &len);

    json_writer_done(jw);
    if (r < 0)
        return r;
    return outbox_queue(w, room_id, type, content, sent, userdata);
}

static void write_reply_to(struct json_writer *jw, const char *event_id)
{
    json_key(jw, "m.relates_to");
    json_begin_object(jw);
    json_key(jw, "m.in_reply_to");
    json_begin_object(jw);
    json_key(jw, "event_id");
    json_string(jw, event_id);
    json_end_object(jw);
    json_end_object(jw);
}

static int message(struct worker *w, const char *room_id, const char *text, const char *html,
                   bool notice, const char *reply_to)
{
    struct json_writer jw;

    if (!valid_text(room_id) || !valid_text(text) || (html && !valid_text(html)))
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    json_key(&jw, "msgtype");
    json_string(&jw, notice ? "m.notice" : "m.text");
    json_key(&jw, "body");
    json_string(&jw, text);
    if (html) {
        json_key(&jw, "format");
        json_string(&jw, "org.matrix.custom.html");
        json_key(&jw, "formatted_body");
        json_string(&jw, html);
    }
    if (reply_to)
        write_reply_to(&jw, reply_to);
    json_end_object(&jw);
    return queue_content(w, room_id, "m.room.message", &jw, NULL, NULL);
}

/* Bots answer with notices: clients show them as automated, and bots ignore each other's. */
static int api_reply(struct br_instance *inst, const struct br_message *to, const char *text)
{
    if (!to || !valid_text(to->event_id))
        return -EINVAL;
    return message(W(inst), to->room_id, text, NULL, true, to->event_id);
}

static int api_send_text(struct br_instance *inst, const char *room_id, const char *text,
                         bool notice)
{
    return message(W(inst), room_id, text, NULL, notice, NULL);
}

static int api_send_html(struct br_instance *inst, const char *room_id, const char *text,
                         const char *html, bool notice)
{
    if (!html)
        return -EINVAL;
    return message(W(inst), room_id, text, html, notice, NULL);
}

/* Copy the plugin's content object member by member, adding the reply relation. */
static int api_send_event(struct br_instance *inst, const char *room_id, const char *type,
                          const char *content_json, const char *reply_to, br_sent_t sent,
                          void *userdata)
{
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    struct json_writer jw;
    int r;

    if (!valid_text(room_id) || !valid_text(type) || !content_json ||
        (reply_to && !valid_text(reply_to)))
        return -EINVAL;
    r = json_parse(content_json, strlen(content_json), API_CONTENT_MAX / 4, &doc);
    if (r < 0)
        return r;
    if (json_type(doc, 0) != JSON_OBJECT)
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    for (int cur = 0, k, v; json_object_iter(doc, 0, &cur, &k, &v) > 0;) {
        _cleanup_free_ char *key = NULL;
        if (json_get_string(doc, k, NULL, &key) < 0 || (reply_to && streq(key, "m.relates_to")))
            continue;
        json_key(&jw, key);
        json_value_raw(&jw, doc, v);
    }
    if (reply_to)
        write_reply_to(&jw, reply_to);
    json_end_object(&jw);
    return queue_content(W(inst), room_id, type, &jw, sent, userdata);
}

static int api_react(struct br_instance *inst, const char *room_id, const char *event_id,
                     const char *key)
{
    struct json_writer jw;

    if (!valid_text(room_id) || !valid_text(event_id) || !valid_text(key))
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    json_key(&jw, "m.relates_to");
    json_begin_object(&jw);
    json_key(&jw, "rel_type");
    json_string(&jw, "m.annotation");
    json_key(&jw, "event_id");
    json_string(&jw, event_id);
    json_key(&jw, "key");
    json_string(&jw, key);
    json_end_object(&jw);
    json_end_object(&jw);
    return queue_content(W(inst), room_id, "m.reaction", &jw, NULL, NULL);
}

static void on_redacted(int r, const struct mx_result *res, void *userdata)
{
    (void)userdata;
    if (r < 0)
        log_warning("A redaction was refused: %s", res && res->errcode ? res->errcode
                                                                       : strerror(-r));
}

/* Redactions are idempotent on the server, so a fresh transaction id per call is enough. */
static int api_redact(struct br_instance *inst, const char *room_id, const char *event_id,
                      const char *reason)
{
    unsigned char raw[16];
    char txn[2 + 32 + 1] = "br";

    if (!valid_text(room_id) || !valid_text(event_id) || (reason && !valid_text(reason)))
        return -EINVAL;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(txn + 2, sizeof(txn) - 2, raw, sizeof(raw));
    return mx_redact(W(inst)->mx, room_id, event_id, txn, reason, on_redacted, W(inst));
}

/* ---- media ---------------------------------------------------------------------------- */

static void on_uploaded(int r, const struct mx_result *res, void *userdata)
{
    struct worker_timer *c = userdata;
    struct worker *w = c->worker;
    _cleanup_free_ char *uri = NULL;

    if (r >= 0 && (!res->doc || json_get_string(res->doc, res->root, "content_uri", &uri) < 0))
        r = -EBADMSG;
    if (r < 0)
        log_warning("Upload failed: %s %s", res && res->errcode ? res->errcode : strerror(-r),
                    res && res->error ? res->error : "");
    call_unlink(w, c);
    c->uploaded(c->userdata, r, uri);
    free(c);
}

static int api_upload(struct br_instance *inst, int fd, const char *content_type,
                      const char *filename, br_uploaded_t uploaded, void *userdata)
{
    struct worker *w = W(inst);
    struct worker_timer *c;
    struct stat st;
    off_t pos;
    int r;

    if (fd < 0 || !uploaded || !valid_text(content_type) || (filename && !valid_text(filename)))
        return -EINVAL;
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if (!S_ISREG(st.st_mode))
        return -EBADF;
    pos = lseek(fd, 0, SEEK_CUR);
    if (pos < 0 || pos > st.st_size)
        return -EINVAL;
    if (w->media_upload_limit > 0 && st.st_size - pos > w->media_upload_limit)
        return -EFBIG;
    c = call_new(w, CALL_UPLOAD, userdata);
    if (!c)
        return -ENOMEM;
    c->uploaded = uploaded;
    r = mx_upload(w->mx, fd, (uint64_t)(st.st_size - pos), content_type, filename, on_uploaded, c);
    if (r < 0)
        call_free(w, c);
    return r;
}

static void on_media_config(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;
    int64_t size;

    if (r >= 0 && res->doc && json_get_int64(res->doc, res->root, "m.upload.size", &size) >= 0 &&
        size > 0)
        w->media_upload_limit = size;
    else
        w->media_upload_limit = -1; /* none announced */
}

void api_fetch_media_config(struct worker *w)
{
    if (mx_media_config(w->mx, on_media_config, w) < 0)
        w->media_upload_limit = -1;
}

/* ---- subprocesses and timers ---------------------------------------------------------- */

static void on_exited(void *userdata, const struct br_process_result *res)
{
    struct worker_timer *c = userdata;

    call_unlink(c->worker, c);
    c->exited(c->userdata, res);
    free(c);
}

static int api_spawn(struct br_instance *inst, const struct br_spawn *spec, br_exited_t exited,
                     void *userdata)
{
    struct worker *w = W(inst);
    struct worker_timer *c;
    int r;

    if (!spec || !spec->argv || !spec->argv[0] || !exited)
        return -EINVAL;
    c = call_new(w, CALL_SPAWN, userdata);
    if (!c)
        return -ENOMEM;
    c->exited = exited;
    r = spawn_start(w->event, spec, on_exited, c, &c->spawn);
    if (r < 0)
        call_free(w, c);
    return r;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker_timer *c = userdata;
    br_timer_t fired = c->fired;
    void *ud = c->userdata;

    (void)s;
    (void)usec;
    call_free(c->worker, c);
    fired(ud);
    return 0;
}

static int api_timer_start(struct br_instance *inst, uint64_t delay_ms, br_timer_t fired,
                           void *userdata, uint64_t *ret_id)
{
    struct worker *w = W(inst);
    struct worker_timer *c;
    int r;

    if (!fired || delay_ms > UINT64_MAX / 1000)
        return -EINVAL;
    c = call_new(w, CALL_TIMER, userdata);
    if (!c)
        return -ENOMEM;
    c->fired = fired;
    r = sd_event_add_time_relative(w->event, &c->source, CLOCK_MONOTONIC, delay_ms * 1000, 0,
                                   on_timer, c);
    if (r < 0) {
        call_free(w, c);
        return r;
    }
    if (ret_id)
        *ret_id = c->id;
    return 0;
}

static void api_timer_cancel(struct br_instance *inst, uint64_t id)
{
    struct worker *w = W(inst);

    for (struct worker_timer *c = w->timers; c; c = c->next)
        if (c->kind == CALL_TIMER && c->id == id) {
            call_free(w, c);
            return;
        }
}

/* ---- limits, settings, facts, log ------------------------------------------------------ */

static int api_rate_limit(struct br_instance *inst, const char *key, uint64_t *ret_wait_ms)
{
    struct worker *w = W(inst);
    uint64_t wait = 0;
    int r;

    if (!valid_text(key))
        return -EINVAL;
    if (!w->inst->features.rate_limiting)
        return 0;
    r = token_bucket_take(w->plugin_bucket, key, (uint64_t)worker_now_ms(), &wait);
    if (r == -EAGAIN && ret_wait_ms)
        *ret_wait_ms = wait;
    return r;
}

static int api_add_passive(struct br_instance *inst, const char *regex, br_passive_t handler)
{
    struct worker *w = W(inst);
    char why[256] = "";
    int r = passive_add(w->passive, regex, handler, why, sizeof(why));

    if (r < 0)
        log_error("Plugin %s: passive handler %s refused: %s", w->inst->plugin,
                  regex ? regex : "(null)", *why ? why : strerror(-r));
    return r;
}

static const char *api_config_json(struct br_instance *inst)
{
    return W(inst)->inst->settings_json;
}

static void *api_database(struct br_instance *inst)
{
    return W(inst)->plugin_db;
}

static const char *api_user_id(struct br_instance *inst)
{
    return W(inst)->user_id;
}

static const char *api_command_prefix(struct br_instance *inst)
{
    return W(inst)->inst->command_prefix;
}

static bool api_feature(struct br_instance *inst, const char *name)
{
    const struct config_features *f = &W(inst)->inst->features;

    if (!name)
        return false;
    return streq(name, "auto_fetch") ? f->auto_fetch
           : streq(name, "rate_limiting") ? f->rate_limiting
           : streq(name, "caching") ? f->caching
                                    : false;
}

_printf_(3, 4) static void api_log(struct br_instance *inst, int priority, const char *format, ...)
{
    char buf[API_LOG_MAX];
    va_list ap;

    (void)inst;
    if (priority < LOG_CRIT)
        priority = LOG_CRIT; /* a plugin cannot raise alerts above the runner's own */
    if (priority > LOG_DEBUG)
        priority = LOG_DEBUG;
    va_start(ap, format);
    vsnprintf(buf, sizeof(buf), format, ap);
    va_end(ap);
    log_full_errno(priority, 0, "%s", buf);
}

const struct br_runner worker_runner_api = {
    .abi_version = BR_ABI_VERSION,
    .size = sizeof(struct br_runner),
    .reply = api_reply,
    .send_text = api_send_text,
    .send_html = api_send_html,
    .send_event = api_send_event,
    .react = api_react,
    .redact = api_redact,
    .upload = api_upload,
    .spawn = api_spawn,
    .timer_start = api_timer_start,
    .timer_cancel = api_timer_cancel,
    .rate_limit = api_rate_limit,
    .add_passive = api_add_passive,
    .config_json = api_config_json,
    .database = api_database,
    .user_id = api_user_id,
    .command_prefix = api_command_prefix,
    .feature = api_feature,
    .log = api_log,
};

/* ---- start and stop ------------------------------------------------------------------- */

/* plugins/<instance-id>.db in the state directory, 0600 in a 0700 folder. */
static int open_plugin_db(struct worker *w)
{
    _cleanup_free_ char *dir = NULL, *path = NULL;
    _cleanup_close_ int fd = -EBADF;
    sqlite3 *db = NULL;

    if (asprintf(&dir, "%s/plugins", w->config->state_directory) < 0 ||
        asprintf(&path, "%s/%s.db", dir, w->inst->id) < 0)
        return -ENOMEM;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return negative_errno();
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return negative_errno();
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(db);
        return -EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    w->plugin_db = db;
    return 0;
}

int api_start(struct worker *w)
{
    const struct br_plugin *p = plugin_host_plugin(w->plugin);
    const struct manifest *m = plugin_host_manifest(w->plugin);
    int r;

    r = passive_registry_new(&w->passive);
    if (r < 0)
        return r;
    if (m->database) {
        r = open_plugin_db(w);
        if (r < 0)
            return log_error_errno(r, "Cannot open the plugin's database: %m");
    }
    r = p->start(&w->api, &worker_runner_api, &w->plugin_state);
    if (r < 0)
        return log_error_errno(r, "Plugin %s failed to start: %m", w->inst->plugin);
    w->plugin_started = true;
    return 0;
}

void api_free(struct worker *w)
{
    const struct br_plugin *p = w->plugin ? plugin_host_plugin(w->plugin) : NULL;

    if (w->plugin_started && p && p->stop)
        p->stop(w->plugin_state);
    w->plugin_started = false;
    while (w->timers) {
        struct worker_timer *c = w->timers;
        if (c->spawn)
            spawn_cancel(c->spawn);
        call_free(w, c);
    }
    passive_registry_free(w->passive);
    w->passive = NULL;
    if (w->plugin_db)
        sqlite3_close_v2(w->plugin_db);
    w->plugin_db = NULL;
}
