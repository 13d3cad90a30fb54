/* test.probe: a plugin for the end-to-end tests of the ABI, one command per promise plugin.h
 * makes. Each command answers with a notice replying to it, saying what the runner did, so
 * the test reads the outcome from the room:
 *   thread             a reply (inside the thread when the command is in one)
 *   sent               a reply whose sent callback posts "sent <event id>" (or the error)
 *   to ROOM            a message to ROOM; its sent callback reports the outcome here
 *   react              ✅ on the command; its event id reported, then redacted
 *   db                 a row inserted into the plugin's database: "rows N, schema S"
 *   workdir            `pwd` spawned with no cwd, and the work directory's mode
 *   mark               a file made in the work directory (gone after a restart)
 *   ls                 the work directory's entries
 *   cancel             `sleep 30` spawned and cancelled: "cancelled R"
 *   fetch URL          URL fetched into the work directory: "fetched ERR STATUS SIZE TYPE"
 *   json TEXT          TEXT parsed with the runner's reader and written back by its writer
 *   config             the settings as config_json() gives them, and config() calls
 *   crash              abort(): the worker dies handling the event, every time
 *   block N            the event loop held N seconds (at most 10), then "unblocked"
 * and every m.reaction on a message of the room is answered "reaction KEY on EVENT". */
#include <botrunner/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEXT_MAX 4096

struct probe {
    struct br_instance *inst;
    const struct br_runner *r;
    unsigned config_calls;
};

/* A pending answer: where to say it, kept beyond the callback (struct br_target is copied). */
struct pending {
    struct probe *p;
    struct br_target to;
    char what[64];
    int fd;
};

static void say(struct probe *p, const struct br_target *to, const char *text)
{
    (void)p->r->reply(p->inst, to, text, NULL, BR_SEND_NOTICE, NULL, NULL);
}

static struct pending *pending_new(struct probe *p, const struct br_target *to, const char *what)
{
    struct pending *pd = calloc(1, sizeof(*pd));

    if (!pd)
        return NULL;
    pd->p = p;
    pd->to = *to;
    pd->fd = -1;
    snprintf(pd->what, sizeof(pd->what), "%s", what);
    return pd;
}

static void on_sent(void *userdata, int r, const char *event_id)
{
    struct pending *pd = userdata;
    char text[TEXT_MAX];

    if (r < 0)
        snprintf(text, sizeof(text), "%s error %d", pd->what, r);
    else
        snprintf(text, sizeof(text), "%s %s", pd->what, event_id ? event_id : "(none)");
    say(pd->p, &pd->to, text);
    free(pd);
}

static void on_reacted(void *userdata, int r, const char *event_id)
{
    struct pending *pd = userdata;
    struct pending *again;
    char text[TEXT_MAX];

    snprintf(text, sizeof(text), "reacted %d %s", r, r >= 0 && event_id ? event_id : "-");
    say(pd->p, &pd->to, text);
    if (r >= 0 && event_id && (again = pending_new(pd->p, &pd->to, "redacted")))
        if (pd->p->r->redact(pd->p->inst, pd->to.room_id, event_id, "probe", on_sent, again) < 0)
            free(again);
    free(pd);
}

static int cmd_db(struct probe *p, const struct br_message *msg)
{
    struct sqlite3 *db = p->r->database(p->inst);
    sqlite3_stmt *st = NULL;
    char text[128];
    int rows = -1, version = -1;

    if (!db)
        return -ENOTCONN;
    if (sqlite3_exec(db, "INSERT INTO seen (event_id) VALUES ('x')", NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM seen", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rows = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    snprintf(text, sizeof(text), "rows %d, schema %d", rows, version);
    say(p, msg->target, text);
    return 0;
}

static void on_exited(void *userdata, const struct br_process_result *res)
{
    struct pending *pd = userdata;
    char text[TEXT_MAX];
    size_t n = res->stdout_len;

    while (n > 0 && res->stdout_buf[n - 1] == '\n')
        n--;
    snprintf(text, sizeof(text), "%s %d %d %.*s", pd->what, res->error, res->exit_code, (int)n,
             res->stdout_buf);
    say(pd->p, &pd->to, text);
    free(pd);
}

static int run(struct probe *p, const struct br_message *msg, const char *what,
               const char *const *argv, br_handle_t *ret_id)
{
    struct br_spawn spec = {.argv = argv, .timeout_ms = 60000};
    struct pending *pd = pending_new(p, msg->target, what);
    int r;

    if (!pd)
        return -ENOMEM;
    r = p->r->spawn(p->inst, &spec, on_exited, pd, ret_id);
    if (r < 0)
        free(pd);
    return r;
}

static int cmd_workdir(struct probe *p, const struct br_message *msg)
{
    static const char *const argv[] = {"pwd", NULL};
    struct stat st;
    char text[TEXT_MAX];

    if (stat(p->r->work_dir(p->inst), &st) < 0)
        return -errno;
    snprintf(text, sizeof(text), "workdir %s mode %o", p->r->work_dir(p->inst),
             (unsigned)(st.st_mode & 07777));
    say(p, msg->target, text);
    return run(p, msg, "pwd", argv, NULL);
}

static int cmd_cancel(struct probe *p, const struct br_message *msg)
{
    static const char *const argv[] = {"sleep", "30", NULL};
    br_handle_t id = 0;
    int r = run(p, msg, "cancelled", argv, &id);

    if (r >= 0)
        p->r->cancel(p->inst, id); /* on_exited says "cancelled -125 -1" before this returns */
    return r;
}

static void on_fetched(void *userdata, const struct br_fetch_result *res)
{
    struct pending *pd = userdata;
    char text[TEXT_MAX];

    snprintf(text, sizeof(text), "fetched %d %ld %llu %s", res->error, res->status,
             (unsigned long long)res->size, res->content_type ? res->content_type : "-");
    close(pd->fd);
    say(pd->p, &pd->to, text);
    free(pd);
}

static int cmd_fetch(struct probe *p, const struct br_message *msg, const char *url)
{
    struct pending *pd = pending_new(p, msg->target, "fetched");
    char path[4096];
    struct br_fetch spec = {.url = url, .max_bytes = 1024 * 1024, .timeout_ms = 20000};
    int r;

    if (!pd)
        return -ENOMEM;
    snprintf(path, sizeof(path), "%s/fetched", p->r->work_dir(p->inst));
    pd->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (pd->fd < 0) {
        free(pd);
        return -errno;
    }
    spec.fd = pd->fd;
    r = p->r->fetch(p->inst, &spec, on_fetched, pd, NULL);
    if (r < 0) {
        close(pd->fd);
        free(pd);
    }
    return r;
}

/* Parse with the reader, walk it, rebuild it with the writer: the same document back. */
static void copy_node(struct probe *p, struct br_json_writer *w, const struct br_json *d, int n)
{
    const struct br_runner *r = p->r;
    int cur = 0, k, v;
    char *s = NULL;
    int64_t i;
    double x;
    bool b;

    switch (r->json_type(d, n)) {
    case BR_JSON_OBJECT:
        r->json_begin_object(w);
        while (r->json_object_iter(d, n, &cur, &k, &v) > 0 && r->json_string(d, k, NULL, &s) == 0) {
            r->json_key(w, s);
            free(s);
            copy_node(p, w, d, v);
        }
        r->json_end_object(w);
        break;
    case BR_JSON_ARRAY:
        r->json_begin_array(w);
        while (r->json_array_iter(d, n, &cur, &v) > 0)
            copy_node(p, w, d, v);
        r->json_end_array(w);
        break;
    case BR_JSON_STRING:
        if (r->json_string(d, n, NULL, &s) == 0)
            r->json_put_string(w, s);
        free(s);
        break;
    case BR_JSON_NUMBER:
        if (r->json_int64(d, n, NULL, &i) == 0)
            r->json_put_int(w, i);
        else if (r->json_double(d, n, NULL, &x) == 0)
            r->json_put_double(w, x);
        break;
    case BR_JSON_BOOL:
        if (r->json_bool(d, n, NULL, &b) == 0)
            r->json_put_bool(w, b);
        break;
    case BR_JSON_NULL:
        r->json_put_null(w);
        break;
    case BR_JSON_INVALID:
        break;
    }
}

static int cmd_json(struct probe *p, const struct br_message *msg, const char *text)
{
    struct br_json *d = NULL;
    struct br_json_writer *w = NULL;
    char *out = NULL, answer[TEXT_MAX];
    int r = p->r->json_parse(text, strlen(text), 0, &d);

    if (r >= 0)
        r = p->r->json_writer_new(0, &w);
    if (r >= 0) {
        copy_node(p, w, d, 0);
        r = p->r->json_finish(w, &out);
    }
    p->r->json_free(d);
    snprintf(answer, sizeof(answer), "json %d %s", r, r >= 0 ? out : "-");
    free(out);
    say(p, msg->target, answer);
    return 0;
}

static int cmd_config(struct probe *p, const struct br_message *msg)
{
    char text[TEXT_MAX];

    snprintf(text, sizeof(text), "config %u %s", p->config_calls, p->r->config_json(p->inst));
    say(p, msg->target, text);
    return 0;
}

/* A plugin bug that kills its worker, every time this event is handed over: what the
 * runner's poison-event handling is for. No core file; it would only slow the test. */
static _Noreturn int cmd_crash(void)
{
    struct rlimit none = {0, 0};

    (void)setrlimit(RLIMIT_CORE, &none);
    abort();
}

/* What a plugin must never do: hold its event loop (at most 10 s here), as a synchronous
 * download would. Answers when it is done. */
static int cmd_block(struct probe *p, const struct br_message *msg, const char *args)
{
    long seconds = strtol(args, NULL, 10);
    struct timespec ts = {.tv_sec = seconds < 0 ? 0 : seconds > 10 ? 10 : seconds};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    say(p, msg->target, "unblocked");
    return 0;
}

static int probe_command(void *state, const struct br_message *msg, const char *name,
                         const char *args)
{
    struct probe *p = state;
    struct pending *pd;
    int r;

    if (strcmp(name, "thread") == 0) {
        say(p, msg->target, "in thread");
        return 0;
    }
    if (strcmp(name, "sent") == 0 || strcmp(name, "to") == 0) {
        pd = pending_new(p, msg->target, "sent");
        if (!pd)
            return -ENOMEM;
        r = strcmp(name, "sent") == 0
                    ? p->r->reply(p->inst, msg->target, "first", NULL, 0, on_sent, pd)
                    : p->r->send_message(p->inst, args, "elsewhere", NULL, 0, on_sent, pd);
        if (r < 0)
            free(pd);
        return r;
    }
    if (strcmp(name, "react") == 0) {
        pd = pending_new(p, msg->target, "reacted");
        if (!pd)
            return -ENOMEM;
        r = p->r->react(p->inst, msg->target, "\xE2\x9C\x85", on_reacted, pd);
        if (r < 0)
            free(pd);
        return r;
    }
    if (strcmp(name, "db") == 0)
        return cmd_db(p, msg);
    if (strcmp(name, "workdir") == 0)
        return cmd_workdir(p, msg);
    if (strcmp(name, "mark") == 0) {
        static const char *const argv[] = {"touch", "left-behind", NULL};
        return run(p, msg, "marked", argv, NULL);
    }
    if (strcmp(name, "ls") == 0) {
        static const char *const argv[] = {"ls", "-A", NULL};
        return run(p, msg, "ls", argv, NULL);
    }
    if (strcmp(name, "cancel") == 0)
        return cmd_cancel(p, msg);
    if (strcmp(name, "fetch") == 0)
        return cmd_fetch(p, msg, args);
    if (strcmp(name, "json") == 0)
        return cmd_json(p, msg, args);
    if (strcmp(name, "config") == 0)
        return cmd_config(p, msg);
    if (strcmp(name, "crash") == 0)
        return cmd_crash();
    if (strcmp(name, "block") == 0)
        return cmd_block(p, msg, args);
    say(p, msg->target, "unknown");
    return 0;
}

static int probe_event(void *state, const struct br_event *ev)
{
    struct probe *p = state;
    struct br_json *d = NULL;
    char *key = NULL, *target = NULL, text[TEXT_MAX];
    int rel;

    if (strcmp(ev->type, "m.reaction") != 0)
        return 0;
    if (p->r->json_parse(ev->content_json, strlen(ev->content_json), 0, &d) < 0)
        return -EBADMSG;
    /* "m.relates_to" holds dots: a member, not a path. */
    if (p->r->json_member(d, 0, "m.relates_to", &rel) == 0) {
        (void)p->r->json_string(d, rel, "key", &key);
        (void)p->r->json_string(d, rel, "event_id", &target);
    }
    snprintf(text, sizeof(text), "reaction %s on %s", key ? key : "?", target ? target : "?");
    free(key);
    free(target);
    p->r->json_free(d);
    say(p, ev->target, text);
    return 0;
}

static int probe_config(void *state, const char *config_json)
{
    struct probe *p = state;

    /* The settings say whether to take them: a test can make the plugin refuse. */
    if (strstr(config_json, "\"refuse\":true"))
        return -EINVAL;
    p->config_calls++;
    return 0;
}

static int probe_start(struct br_instance *inst, const struct br_runner *runner, void **ret_state)
{
    struct probe *p;

    if (runner->abi_version != BR_ABI_VERSION || runner->size < sizeof(struct br_runner))
        return -EPROTO;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->inst = inst;
    p->r = runner;
    *ret_state = p;
    return 0;
}

static void probe_stop(void *state)
{
    free(state);
}

static const char *const migrations[] = {
    "CREATE TABLE seen (event_id TEXT NOT NULL)",
    "ALTER TABLE seen ADD COLUMN at INTEGER",
    NULL,
};

BR_PLUGIN(ProbeBot) = {
    .abi_version = BR_ABI_VERSION,
    .size = sizeof(struct br_plugin),
    .id = "test.probe",
    .version = "1.0.0",
    .start = probe_start,
    .stop = probe_stop,
    .command = probe_command,
    .event = probe_event,
    .config = probe_config,
    .migrations = migrations,
};
