/* The runner's side of the plugin ABI: struct br_runner's functions for one worker. Sends go
 * through the outbox (stored before they are sent); uploads, fetches, subprocesses and
 * timers are tracked by handle, so that cancel() stops one and stopping the instance stops
 * every one without calling back. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "matrix/http.h"
#include "plugin/abi_json.h"
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

/* Text a plugin sends: far below the spec's 64 KiB event with both forms and the reply
 * relation around them (plugin.h's BR_TEXT_MAX). */
#define API_TEXT_MAX BR_TEXT_MAX
/* An event's content as the plugin gives it, and as the runner builds it around that. */
#define API_CONTENT_IN_MAX (48u * 1024u)
#define API_CONTENT_MAX    (64u * 1024u)
/* A plugin message line in the log; longer ones are cut by the log itself. */
#define API_LOG_MAX 2048u
/* fetch(): the defaults plugin.h promises for a 0, and the redirects followed. */
#define API_FETCH_DEFAULT_BYTES   (16u * 1024u * 1024u)
#define API_FETCH_DEFAULT_TIMEOUT (60u * 1000u)
#define API_FETCH_REDIRECTS       5u

/* Something in flight on the plugin's behalf, named by its handle. */
struct worker_call {
    struct worker_call *next;
    struct worker *worker;
    enum { CALL_TIMER, CALL_UPLOAD, CALL_SPAWN, CALL_FETCH } kind;
    br_handle_t id;
    sd_event_source *source;    /* timers */
    struct spawn *spawn;        /* subprocesses */
    struct http_call *http;     /* fetches */
    br_timer_t fired;
    br_uploaded_t uploaded;
    br_exited_t exited;
    br_fetched_t fetched;
    void *userdata;
};

static struct worker *W(struct br_instance *inst)
{
    return inst->worker;
}

static struct worker_call *call_new(struct worker *w, int kind, void *userdata)
{
    struct worker_call *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->worker = w;
    c->kind = kind;
    c->id = ++w->next_call_id;
    c->userdata = userdata;
    c->next = w->calls;
    w->calls = c;
    return c;
}

static void call_unlink(struct worker *w, struct worker_call *c)
{
    for (struct worker_call **p = &w->calls; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

static void call_free(struct worker *w, struct worker_call *c)
{
    call_unlink(w, c);
    sd_event_source_disable_unref(c->source);
    free(c);
}

static bool valid_text(const char *s, size_t max)
{
    return s && strnlen(s, max + 1) <= max && utf8_is_valid(s, strlen(s));
}

static bool valid_id(const char *s)
{
    return valid_text(s, BR_ID_MAX) && *s;
}

static bool valid_target(const struct br_target *t)
{
    return t && memchr(t->room_id, '\0', sizeof(t->room_id)) &&
           memchr(t->event_id, '\0', sizeof(t->event_id)) &&
           memchr(t->thread_root, '\0', sizeof(t->thread_root)) && valid_id(t->room_id) &&
           valid_id(t->event_id) && valid_text(t->thread_root, BR_ID_MAX);
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

/* A rich reply, inside the thread of the message replied to when it is in one (with the
 * reply as the thread's fallback, so clients without threads still show what it answers). */
static void write_reply_to(struct json_writer *jw, const struct br_target *to)
{
    json_key(jw, "m.relates_to");
    json_begin_object(jw);
    if (to->thread_root[0]) {
        json_key(jw, "rel_type");
        json_string(jw, "m.thread");
        json_key(jw, "event_id");
        json_string(jw, to->thread_root);
        json_key(jw, "is_falling_back");
        json_bool(jw, false);
    }
    json_key(jw, "m.in_reply_to");
    json_begin_object(jw);
    json_key(jw, "event_id");
    json_string(jw, to->event_id);
    json_end_object(jw);
    json_end_object(jw);
}

/* A text (or HTML) past API_TEXT_MAX: refused with -E2BIG and a line giving the sizes, so
 * that a reply which never goes out is not a mystery whatever the plugin logs. */
static bool too_long(const char *room_id, const char *what, const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (len <= API_TEXT_MAX)
        return false;
    log_room(LOG_WARNING, room_id, NULL,
             "Refused a message from the plugin: its %s of %zu bytes is over the limit (at "
             "most %u bytes, so that the event stays under the spec's 64 KiB)",
             what, len, API_TEXT_MAX);
    return true;
}

static int message(struct worker *w, const char *room_id, const char *text, const char *html,
                   unsigned flags, const struct br_target *reply_to, br_sent_t sent,
                   void *userdata)
{
    struct json_writer jw;

    if (!valid_id(room_id) || !text || (flags & ~BR_SEND_NOTICE))
        return -EINVAL;
    if (too_long(room_id, "text", text) || too_long(room_id, "HTML", html))
        return -E2BIG;
    if (!valid_text(text, API_TEXT_MAX) || (html && !valid_text(html, API_TEXT_MAX)))
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    json_key(&jw, "msgtype");
    json_string(&jw, (flags & BR_SEND_NOTICE) ? "m.notice" : "m.text");
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
    return queue_content(w, room_id, "m.room.message", &jw, sent, userdata);
}

static int api_reply(struct br_instance *inst, const struct br_target *to, const char *text,
                     const char *html, unsigned flags, br_sent_t sent, void *userdata)
{
    if (!valid_target(to))
        return -EINVAL;
    return message(W(inst), to->room_id, text, html, flags, to, sent, userdata);
}

static int api_send_message(struct br_instance *inst, const char *room_id, const char *text,
                            const char *html, unsigned flags, br_sent_t sent, void *userdata)
{
    return message(W(inst), room_id, text, html, flags, NULL, sent, userdata);
}

/* Copy the plugin's content object member by member, adding the reply relation. */
static int api_send_event(struct br_instance *inst, const char *room_id, const char *type,
                          const char *content_json, const struct br_target *reply_to,
                          br_sent_t sent, void *userdata)
{
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    struct json_writer jw;
    size_t len;
    int r;

    if (!valid_id(room_id) || !valid_id(type) || !content_json ||
        (reply_to && !valid_target(reply_to)) || streq(type, OUTBOX_REDACTION))
        return -EINVAL;
    len = strnlen(content_json, API_CONTENT_IN_MAX + 1);
    if (len > API_CONTENT_IN_MAX)
        return -E2BIG;
    r = json_parse(content_json, len, API_CONTENT_IN_MAX / 4, &doc);
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

static int api_react(struct br_instance *inst, const struct br_target *to, const char *key,
                     br_sent_t sent, void *userdata)
{
    struct json_writer jw;

    if (!valid_target(to) || !valid_text(key, 256) || !*key)
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    json_key(&jw, "m.relates_to");
    json_begin_object(&jw);
    json_key(&jw, "rel_type");
    json_string(&jw, "m.annotation");
    json_key(&jw, "event_id");
    json_string(&jw, to->event_id);
    json_key(&jw, "key");
    json_string(&jw, key);
    json_end_object(&jw);
    json_end_object(&jw);
    return queue_content(W(inst), to->room_id, "m.reaction", &jw, sent, userdata);
}

/* Through the outbox like any send: stored first, in order, retried with the same id. */
static int api_redact(struct br_instance *inst, const char *room_id, const char *event_id,
                      const char *reason, br_sent_t sent, void *userdata)
{
    struct json_writer jw;

    if (!valid_id(room_id) || !valid_id(event_id) || (reason && !valid_text(reason, API_TEXT_MAX)))
        return -EINVAL;
    json_writer_init(&jw, API_CONTENT_MAX);
    json_begin_object(&jw);
    json_key(&jw, "redacts");
    json_string(&jw, event_id);
    if (reason) {
        json_key(&jw, "reason");
        json_string(&jw, reason);
    }
    json_end_object(&jw);
    return queue_content(W(inst), room_id, OUTBOX_REDACTION, &jw, sent, userdata);
}

/* ---- media ---------------------------------------------------------------------------- */

static void on_uploaded(int r, const struct mx_result *res, void *userdata)
{
    struct worker_call *c = userdata;
    struct worker *w = c->worker;
    _cleanup_free_ char *uri = NULL;

    if (r >= 0 && (!res->doc || json_get_string(res->doc, res->root, "content_uri", &uri) < 0))
        r = -EBADMSG;
    if (r < 0 && res && res->errcode && streq(res->errcode, "M_TOO_LARGE"))
        r = -EFBIG;
    if (r < 0)
        log_warning("Upload failed: %s %s", res && res->errcode ? res->errcode : strerror(-r),
                    res && res->error ? res->error : "");
    call_unlink(w, c);
    c->uploaded(c->userdata, r, uri);
    free(c);
}

static int api_upload(struct br_instance *inst, int fd, const char *content_type,
                      const char *filename, br_uploaded_t uploaded, void *userdata,
                      br_handle_t *ret_id)
{
    struct worker *w = W(inst);
    struct worker_call *c;
    struct stat st;
    off_t pos;
    int r;

    if (fd < 0 || !uploaded || !valid_text(content_type, 255) ||
        (filename && !valid_text(filename, 1024)))
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
    if (r < 0) {
        call_free(w, c);
        return r;
    }
    if (ret_id)
        *ret_id = c->id;
    return 0;
}

static int64_t api_upload_limit(struct br_instance *inst)
{
    return W(inst)->media_upload_limit;
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

/* ---- HTTP ----------------------------------------------------------------------------- */

static void on_fetched(const struct http_response *resp, void *userdata)
{
    struct worker_call *c = userdata;
    struct br_fetch_result res = {
        .error = resp->error == -E2BIG ? -EFBIG : resp->error,
        .status = resp->status,
        .content_type = resp->content_type,
        .size = resp->body_len,
    };

    if (res.error == 0 && (resp->status < 200 || resp->status > 299))
        res.error = -EPROTO;
    call_unlink(c->worker, c);
    c->fetched(c->userdata, &res);
    free(c);
}

static int api_fetch(struct br_instance *inst, const struct br_fetch *spec, br_fetched_t fetched,
                     void *userdata, br_handle_t *ret_id)
{
    struct worker *w = W(inst);
    struct worker_call *c;
    struct http_request req;
    int r;

    if (!spec || !fetched || !valid_text(spec->url, 8192) || spec->fd < 0 ||
        spec->max_bytes > BR_FETCH_MAX_BYTES || spec->timeout_ms > BR_FETCH_MAX_TIMEOUT_MS)
        return -EINVAL;
    if (!w->http) {
        r = http_new(w->event, &w->http);
        if (r < 0)
            return r;
    }
    req = (struct http_request){
        .method = "GET",
        .url = spec->url,
        .timeout_ms = spec->timeout_ms ? spec->timeout_ms : API_FETCH_DEFAULT_TIMEOUT,
        .max_response = spec->max_bytes ? (size_t)spec->max_bytes : API_FETCH_DEFAULT_BYTES,
        .response_fd = spec->fd,
        .max_redirects = API_FETCH_REDIRECTS,
    };
    c = call_new(w, CALL_FETCH, userdata);
    if (!c)
        return -ENOMEM;
    c->fetched = fetched;
    r = http_start(w->http, &req, on_fetched, c, &c->http);
    if (r < 0) {
        call_free(w, c);
        return r;
    }
    if (ret_id)
        *ret_id = c->id;
    return 0;
}

/* ---- subprocesses, timers, cancelling ------------------------------------------------- */

static void on_exited(void *userdata, const struct br_process_result *res)
{
    struct worker_call *c = userdata;

    call_unlink(c->worker, c);
    c->exited(c->userdata, res);
    free(c);
}

static int api_spawn(struct br_instance *inst, const struct br_spawn *spec, br_exited_t exited,
                     void *userdata, br_handle_t *ret_id)
{
    struct worker *w = W(inst);
    struct br_spawn s;
    struct worker_call *c;
    int r;

    if (!spec || !spec->argv || !spec->argv[0] || !exited)
        return -EINVAL;
    s = *spec;
    if (!s.cwd)
        s.cwd = w->work_dir;
    c = call_new(w, CALL_SPAWN, userdata);
    if (!c)
        return -ENOMEM;
    c->exited = exited;
    r = spawn_start(w->event, &s, on_exited, c, &c->spawn);
    if (r < 0) {
        call_free(w, c);
        return r;
    }
    if (ret_id)
        *ret_id = c->id;
    return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker_call *c = userdata;
    br_timer_t fired = c->fired;
    void *ud = c->userdata;

    (void)s;
    (void)usec;
    call_free(c->worker, c);
    fired(ud);
    return 0;
}

static int api_timer_start(struct br_instance *inst, uint64_t delay_ms, br_timer_t fired,
                           void *userdata, br_handle_t *ret_id)
{
    struct worker *w = W(inst);
    struct worker_call *c;
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

/* Stop one call without its own callback, then tell the plugin it was cancelled. */
static void cancel_call(struct worker *w, struct worker_call *c)
{
    static const struct br_process_result killed = {
        .error = -ECANCELED, .exit_code = -1, .stdout_buf = "", .stderr_tail = ""};
    const struct br_fetch_result aborted = {.error = -ECANCELED};

    call_unlink(w, c);
    switch (c->kind) {
    case CALL_TIMER:
        break;
    case CALL_SPAWN:
        spawn_cancel(c->spawn);
        c->exited(c->userdata, &killed);
        break;
    case CALL_UPLOAD:
        (void)mx_cancel(w->mx, c);
        c->uploaded(c->userdata, -ECANCELED, NULL);
        break;
    case CALL_FETCH:
        http_call_cancel(c->http);
        c->fetched(c->userdata, &aborted);
        break;
    }
    sd_event_source_disable_unref(c->source);
    free(c);
}

static void api_cancel(struct br_instance *inst, br_handle_t id)
{
    struct worker *w = W(inst);

    for (struct worker_call *c = w->calls; c; c = c->next)
        if (c->id == id) {
            cancel_call(w, c);
            return;
        }
}

static const char *api_work_dir(struct br_instance *inst)
{
    return W(inst)->work_dir;
}

/* ---- limits, settings, facts, log ------------------------------------------------------ */

static int api_rate_limit(struct br_instance *inst, const char *key, uint64_t *ret_wait_ms)
{
    struct worker *w = W(inst);
    uint64_t wait = 0;
    int r;

    if (!valid_text(key, 255) || !*key)
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
    return W(inst)->settings;
}

static struct sqlite3 *api_database(struct br_instance *inst)
{
    return W(inst)->plugin_db;
}

static const char *api_instance_id(struct br_instance *inst)
{
    return W(inst)->inst->id;
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
    .send_message = api_send_message,
    .send_event = api_send_event,
    .react = api_react,
    .redact = api_redact,
    .upload = api_upload,
    .upload_limit = api_upload_limit,
    .fetch = api_fetch,
    .spawn = api_spawn,
    .timer_start = api_timer_start,
    .cancel = api_cancel,
    .work_dir = api_work_dir,
    .rate_limit = api_rate_limit,
    .add_passive = api_add_passive,
    .config_json = api_config_json,
    .database = api_database,
    .instance_id = api_instance_id,
    .user_id = api_user_id,
    .command_prefix = api_command_prefix,
    .feature = api_feature,
    .log = api_log,
    .json_parse = abi_json_parse,
    .json_free = abi_json_free,
    .json_type = abi_json_type,
    .json_get = abi_json_get,
    .json_string = abi_json_string,
    .json_int64 = abi_json_int64,
    .json_double = abi_json_double,
    .json_bool = abi_json_bool,
    .json_array_len = abi_json_array_len,
    .json_array_iter = abi_json_array_iter,
    .json_object_iter = abi_json_object_iter,
    .json_writer_new = abi_json_writer_new,
    .json_begin_object = abi_json_begin_object,
    .json_end_object = abi_json_end_object,
    .json_begin_array = abi_json_begin_array,
    .json_end_array = abi_json_end_array,
    .json_key = abi_json_key,
    .json_put_string = abi_json_put_string,
    .json_put_int = abi_json_put_int,
    .json_put_double = abi_json_put_double,
    .json_put_bool = abi_json_put_bool,
    .json_put_null = abi_json_put_null,
    .json_put_node = abi_json_put_node,
    .json_finish = abi_json_finish,
    .json_member = abi_json_member,
};

/* ---- start and stop ------------------------------------------------------------------- */

int api_start(struct worker *w)
{
    const struct br_plugin *p = plugin_host_plugin(w->plugin);
    const struct manifest *m = plugin_host_manifest(w->plugin);
    int r;

    r = passive_registry_new(&w->passive);
    if (r < 0)
        return r;
    r = workdir_prepare(w);
    if (r < 0)
        return r;
    if (m->database) {
        r = plugin_db_open(w, p->migrations);
        if (r < 0)
            return r;
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
    /* After stop() the plugin's state is gone: what is in flight ends without a call. */
    while (w->calls) {
        struct worker_call *c = w->calls;
        if (c->spawn)
            spawn_cancel(c->spawn);
        if (c->http)
            http_call_cancel(c->http);
        if (c->kind == CALL_UPLOAD && w->mx)
            (void)mx_cancel(w->mx, c);
        call_free(w, c);
    }
    w->http = http_free(w->http);
    passive_registry_free(w->passive);
    w->passive = NULL;
    plugin_db_close(w);
}
