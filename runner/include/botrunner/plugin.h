/* botrunner's plugin ABI: the only header a plugin includes. A plugin is a shared object
 * exporting one const struct br_plugin (named by main_class in its maubot.yaml); the runner
 * hands it a const struct br_runner, the table of everything a plugin may ask of it.
 *
 * Rules of the road:
 *  - Every callback runs on the instance's event loop, one at a time, and must not block:
 *    subprocesses, timers, sends, uploads and fetches go through the table and report back
 *    through completion callbacks, on the same loop.
 *  - Strings handed to a plugin are valid UTF-8, NUL-terminated, and valid only during the
 *    callback; copy what you keep (struct br_target is made to be copied). Strings a plugin
 *    hands in are copied by the runner before the call returns.
 *  - Functions return 0 or a negative errno (-EINVAL, -E2BIG, -EAGAIN, ...), as in the
 *    runner itself. A function that takes a completion callback and returns 0 calls it
 *    exactly once, later, from the loop (or from cancel(), see below); one that returns an
 *    error never calls it.
 *  - Memory the runner hands over (json_string(), json_finish()) is malloc'd: free() it.
 *  - A callback of the plugin (command, message, event) that returns an error is logged with
 *    the event's id; the event still counts as handled (it is not handed over again).
 *  - Versioning: BR_ABI_VERSION changes when a struct's layout or a function's meaning
 *    changes incompatibly; the runner refuses a plugin built for another version, saying
 *    which. New functions are appended to struct br_runner and announced by its size field,
 *    so a plugin built against an older header of the same version keeps working.
 *
 * ABI 2 (this header) replaced ABI 1: copyable reply targets, sends that report their event
 * id or error, handles that cancel, HTTP fetches, JSON, a work directory, database
 * migrations. A plugin built for ABI 1 is refused ("rebuild it against this plugin.h"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BR_ABI_VERSION 2

/* Priorities for br_runner.log, as syslog's. ERR and CRIT reach the admin room (at the
 * instance's error_notification_level). */
#define BR_LOG_DEBUG   7
#define BR_LOG_INFO    6
#define BR_LOG_WARNING 4
#define BR_LOG_ERR     3
#define BR_LOG_CRIT    2

/* The Matrix spec's bound on room and event ids. */
#define BR_ID_MAX 255
/* The longest text (and HTML) a message send takes, in bytes: with both forms and the reply
 * relation around them an event stays under the spec's 64 KiB. Longer is -E2BIG. */
#define BR_TEXT_MAX (32u * 1024u)

/* The runner's side of one bot instance: opaque, passed back to every br_runner function. */
struct br_instance;

/* Something in flight that cancel() can stop (a subprocess, an upload, a fetch) or a timer.
 * Never 0. */
typedef uint64_t br_handle_t;

/* Where a reply goes: the room, the event replied to, and the thread it is in. Plain arrays,
 * so that a plugin keeps a copy (`struct br_target t = *msg->target;`) and replies minutes
 * later, after a download. */
struct br_target {
    char room_id[BR_ID_MAX + 1];
    char event_id[BR_ID_MAX + 1];
    char thread_root[BR_ID_MAX + 1]; /* the thread's root event id; "" when not in a thread */
};

/* A message event (m.room.message) in a subscribed room, not sent by the bot itself. Any
 * msgtype arrives, m.notice included (other bots' notices: most plugins ignore them), and
 * edits too (relation "m.replace", body "* new text"; the new content is in content_json's
 * m.new_content). body and formatted_body may hold any character but NUL, control
 * characters included, up to the spec's 64 KiB: where the event's JSON has an escaped NUL
 * (\u0000) or an unpaired surrogate escape, which no C string of UTF-8 can hold, they have
 * U+FFFD instead (content_json keeps the escape as it came). */
struct br_message {
    const char *room_id;
    const char *event_id;
    const char *sender;
    const char *msgtype;        /* "m.text", "m.notice", "m.emote", "m.image", ... */
    const char *body;           /* plain text; "" when the event had none */
    const char *formatted_body; /* HTML, or NULL */
    int64_t origin_server_ts;   /* ms since the epoch, as the sender's server stamped it;
                                 * 0 when the event had none (or not a valid one) */
    const char *content_json;   /* the whole content object, as JSON */
    const char *relation;       /* content's m.relates_to.rel_type ("m.replace", "m.thread",
                                 * ...), or NULL */
    const struct br_target *target; /* reply to this message: pass it to reply() */
};

/* Any other event in a subscribed room: memberships, state changes, reactions (m.reaction,
 * whose content_json has m.relates_to.event_id and .key), redactions (m.room.redaction,
 * with redacts in content_json or the event), and any other type. */
struct br_event {
    const char *room_id;
    const char *event_id;
    const char *sender;
    const char *type;
    const char *state_key;    /* NULL for a non-state event */
    int64_t origin_server_ts; /* as in struct br_message: 0 when missing */
    const char *content_json;
    const struct br_target *target;
};

/* Completion callbacks. r is 0 or a negative errno. */

/* A send ended: r 0 and the event id; or the homeserver refused it for good (-EFBIG for
 * M_TOO_LARGE, -EPERM for M_FORBIDDEN, -EINVAL for other 4xx; errors the homeserver may
 * recover from are retried, never reported); or -ECANCELED when the instance stopped before
 * it went out (it stays queued and goes out at the next start, with no callback then). */
typedef void (*br_sent_t)(void *userdata, int r, const char *event_id);
/* An upload ended: r 0 and the mxc:// URI; -EFBIG (the homeserver's limit), -ECANCELED,
 * or another error. */
typedef void (*br_uploaded_t)(void *userdata, int r, const char *content_uri);
typedef void (*br_timer_t)(void *userdata);

/* A subprocess ended, or could not start. Three fields say how, each with one meaning:
 *  - error: 0 when the program ran and ended before its timeout (by exiting, or by a signal
 *    from elsewhere); -ETIME when it ran past its timeout and the runner killed it
 *    (exit_code and signal then say how it ended after the SIGTERM); -ECANCELED when
 *    cancel() killed it; or a negative errno when it could not be started (-ENOENT: no such
 *    program, -EACCES: not executable, ...; exit_code is then -1 and signal 0).
 *  - exit_code: 0..255 when it exited, else -1.
 *  - signal: the signal that killed it, else 0.
 * stdout_buf holds stdout_len bytes (at most the max_output asked for; truncated says
 * whether there was more): raw bytes as the program wrote them, not checked as UTF-8 and
 * possibly holding NULs, with a NUL after them for convenience. stderr_tail is text: the
 * last 20 lines (at most about 4 KiB) of standard error, for messages, cleaned to valid
 * UTF-8 (invalid bytes and NULs become U+FFFD). Both live during the callback only. */
struct br_process_result {
    int error;
    int exit_code;
    int signal;
    const char *stdout_buf;
    size_t stdout_len;
    bool truncated;
    const char *stderr_tail;
};
typedef void (*br_exited_t)(void *userdata, const struct br_process_result *res);

/* A fetch ended. error: 0 when the server answered 2xx and the whole body was written;
 * -EPROTO when it answered another status (status says which; nothing useful was written);
 * -EFBIG past max_bytes; -ETIMEDOUT; -ECANCELED; -EIO for a write error; -ECONNREFUSED,
 * -EHOSTUNREACH and the like for the network. content_type is the response's (or NULL);
 * size the bytes written. */
struct br_fetch_result {
    int error;
    long status;
    const char *content_type;
    uint64_t size;
};
typedef void (*br_fetched_t)(void *userdata, const struct br_fetch_result *res);

/* A passive handler's regex matched a message; match[0] is the whole match, match[1..] the
 * groups (NULL for a group that did not take part). */
typedef int (*br_passive_t)(void *state, const struct br_message *msg, const char *const *match,
                            size_t n_match);

/* Upper bounds on struct br_spawn; spawn returns -EINVAL past them. A day is past any job
 * a bot should run; 64 MiB is past any metadata a program prints (media goes to files, not
 * to stdout); 1024 arguments are far more than any command line a plugin builds. */
#define BR_SPAWN_MAX_TIMEOUT_MS (24u * 60u * 60u * 1000u)
#define BR_SPAWN_MAX_OUTPUT     (64u * 1024u * 1024u)
#define BR_SPAWN_MAX_ARGS       1024u

struct br_spawn {
    const char *const *argv; /* NULL-terminated, at most BR_SPAWN_MAX_ARGS; argv[0] is
                              * looked up in PATH; never run through a shell */
    const char *cwd;         /* or NULL for the instance's work directory (work_dir()) */
    uint64_t timeout_ms;     /* killed (SIGTERM, then SIGKILL 5 s later) past it; 0 means
                              * 10 minutes; at most BR_SPAWN_MAX_TIMEOUT_MS */
    size_t max_output;       /* stdout bytes kept; 0 means 64 KiB; at most BR_SPAWN_MAX_OUTPUT */
};

/* Upper bounds on struct br_fetch. */
#define BR_FETCH_MAX_BYTES      (1024ull * 1024ull * 1024ull)
#define BR_FETCH_MAX_TIMEOUT_MS (60u * 60u * 1000u)

struct br_fetch {
    const char *url;     /* http:// or https://; redirects are followed (at most 5, to
                          * http(s) only) */
    int fd;              /* the body is written here, from its current offset; not closed */
    uint64_t max_bytes;  /* a longer body fails with -EFBIG; 0 means 16 MiB */
    uint64_t timeout_ms; /* the whole transfer; 0 means 60 s */
};

/* Flags of the message sends. */
#define BR_SEND_NOTICE (1u << 0) /* msgtype m.notice (clients show it as a bot's, bots ignore
                                  * each other's), else m.text */

/* JSON: the runner's strict reader (RFC 8259, UTF-8 checked, bounded) and bounded writer.
 * Nodes are ints: 0 is the document's root. A path is dot-separated object keys ("a.b"),
 * NULL or "" for the node itself. Errors: -EBADMSG (not JSON; a node of the wrong type),
 * -ENOENT (no such key), -ERANGE (a number past the C type), -EILSEQ (not UTF-8), -E2BIG
 * (past the bounds), -EINVAL. */
struct br_json;
struct br_json_writer;
enum br_json_type {
    BR_JSON_INVALID = 0, /* not a node of this document */
    BR_JSON_OBJECT,
    BR_JSON_ARRAY,
    BR_JSON_STRING,
    BR_JSON_NUMBER,
    BR_JSON_BOOL,
    BR_JSON_NULL,
};

struct sqlite3; /* <sqlite3.h>: the runner's own libsqlite3 serves the plugin's calls */

struct br_runner {
    uint32_t abi_version; /* BR_ABI_VERSION */
    uint32_t size;        /* sizeof(struct br_runner) of the runner: functions past it are absent */

    /* ---- Messages. Every send gets a transaction id stored in bot.db before any request,
     * goes out in order at the instance's send_rate, and is retried with the same id, so a
     * crash or a retry never duplicates it. sent (may be NULL) reports the outcome; see
     * br_sent_t. text and html are UTF-8, at most BR_TEXT_MAX bytes each (-E2BIG past it,
     * and the runner logs the refusal with the sizes). */

    /* A rich reply to to->event_id (m.relates_to.m.in_reply_to), inside to->thread_root's
     * thread when there is one; m.notice with BR_SEND_NOTICE, else m.text; html may be NULL. */
    int (*reply)(struct br_instance *inst, const struct br_target *to, const char *text,
                 const char *html, unsigned flags, br_sent_t sent, void *userdata);
    /* A message to a room, not a reply. */
    int (*send_message)(struct br_instance *inst, const char *room_id, const char *text,
                        const char *html, unsigned flags, br_sent_t sent, void *userdata);
    /* Any event: content_json an object of at most 48 KiB; reply_to NULL, or the target it
     * replies to (its m.relates_to is then the runner's, as in reply()). */
    int (*send_event)(struct br_instance *inst, const char *room_id, const char *type,
                      const char *content_json, const struct br_target *reply_to,
                      br_sent_t sent, void *userdata);
    /* An m.reaction (key: an emoji) on to->event_id; sent reports the reaction's own event
     * id, which redact() takes back. */
    int (*react)(struct br_instance *inst, const struct br_target *to, const char *key,
                 br_sent_t sent, void *userdata);
    /* Redact an event (reason may be NULL): through the outbox like every other send. */
    int (*redact)(struct br_instance *inst, const char *room_id, const char *event_id,
                  const char *reason, br_sent_t sent, void *userdata);

    /* ---- Media. Upload the file open at fd (from its current offset to its end, streamed:
     * memory does not grow with it; the runner does not close fd). -EFBIG at once when the
     * homeserver's upload limit is known and smaller than the file. */
    int (*upload)(struct br_instance *inst, int fd, const char *content_type, const char *filename,
                  br_uploaded_t uploaded, void *userdata, br_handle_t *ret_id);
    /* The homeserver's upload limit (m.upload.size) in bytes: 0 while not known yet (it is
     * asked once the account is ready), -1 when the homeserver announces none. */
    int64_t (*upload_limit)(struct br_instance *inst);

    /* ---- HTTP. GET spec->url into spec->fd, bounded in size and time. */
    int (*fetch)(struct br_instance *inst, const struct br_fetch *spec, br_fetched_t fetched,
                 void *userdata, br_handle_t *ret_id);

    /* ---- Subprocesses, timers, cancelling. spawn returns 0 when exited will be called
     * exactly once (also when the program cannot be started: that error arrives in
     * res->error), or a negative errno when it will not be called at all: -EINVAL for no
     * argv, an empty argv[0] or a limit above passed, -ENOMEM, -EMFILE, ... */
    int (*spawn)(struct br_instance *inst, const struct br_spawn *spec, br_exited_t exited,
                 void *userdata, br_handle_t *ret_id);
    int (*timer_start)(struct br_instance *inst, uint64_t delay_ms, br_timer_t fired,
                       void *userdata, br_handle_t *ret_id);
    /* Stop what id names. A subprocess is killed (its whole process group), an upload or a
     * fetch aborted; its callback runs once with -ECANCELED before cancel() returns. A
     * timer is dropped without a call. An id that already finished is ignored. */
    void (*cancel)(struct br_instance *inst, br_handle_t id);

    /* The instance's private work directory: under the service's runtime directory, 0700,
     * emptied at every start; the default cwd of spawned programs. Put temporary files
     * here, one fresh subdirectory per job. */
    const char *(*work_dir)(struct br_instance *inst);

    /* The instance's token-bucket rate limiter (rate_limit in its config), one bucket per
     * key (a user id, a room id...), for the external calls the plugin makes on someone's
     * behalf: 0 when a request may go now, or -EAGAIN with the time to wait in
     * *ret_wait_ms (nothing is taken then). Always 0 when the rate_limiting feature is off.
     * Matrix sends are not paced by it (see send_rate). */
    int (*rate_limit)(struct br_instance *inst, const char *key, uint64_t *ret_wait_ms);

    /* Passive handlers: regex (POSIX extended, case-insensitive) run on the body of every
     * message that is not a command. */
    int (*add_passive)(struct br_instance *inst, const char *regex, br_passive_t handler);

    /* The instance's settings: its `config:` mapping as JSON ("{}" when it has none), checked
     * against the plugin's config_schema with the schema's defaults filled in. */
    const char *(*config_json)(struct br_instance *inst);
    /* The plugin's own SQLite database when its maubot.yaml says database: true (migrated
     * by the descriptor's migrations before start()), else NULL. Do not close it. */
    struct sqlite3 *(*database)(struct br_instance *inst);
    /* Facts about the instance. */
    const char *(*instance_id)(struct br_instance *inst);
    const char *(*user_id)(struct br_instance *inst);
    const char *(*command_prefix)(struct br_instance *inst);     /* or NULL */
    bool (*feature)(struct br_instance *inst, const char *name); /* "auto_fetch", ... */
    /* Log through the runner (journal fields, redaction, admin notifications). */
    void (*log)(struct br_instance *inst, int priority, const char *format, ...)
            __attribute__((format(printf, 3, 4)));

    /* ---- JSON reading. At most max_nodes nodes (0: len / 2 + 16). */
    int (*json_parse)(const char *text, size_t len, size_t max_nodes, struct br_json **ret);
    void (*json_free)(struct br_json *doc);
    enum br_json_type (*json_type)(const struct br_json *doc, int node);
    int (*json_get)(const struct br_json *doc, int node, const char *path, int *ret_node);
    /* Unescaped, malloc'd, no NUL inside (-EILSEQ for \u0000). */
    int (*json_string)(const struct br_json *doc, int node, const char *path, char **ret);
    int (*json_int64)(const struct br_json *doc, int node, const char *path, int64_t *ret);
    int (*json_double)(const struct br_json *doc, int node, const char *path, double *ret);
    int (*json_bool)(const struct br_json *doc, int node, const char *path, bool *ret);
    /* Arrays: length (>= 0) or -EBADMSG; iteration: *cursor = 0 first, then 1 per element
     * and 0 at the end. Objects: likewise, each member's key and value nodes. */
    int (*json_array_len)(const struct br_json *doc, int node);
    int (*json_array_iter)(const struct br_json *doc, int node, int *cursor, int *ret_elem);
    int (*json_object_iter)(const struct br_json *doc, int node, int *cursor, int *ret_key,
                            int *ret_value);

    /* ---- JSON writing: a document of at most max_bytes (0: 64 KiB; at most 16 MiB). The
     * first error is kept and every later call is a no-op: check once, at json_finish(),
     * which frees the writer and returns the text (malloc'd) or that error. */
    int (*json_writer_new)(size_t max_bytes, struct br_json_writer **ret);
    void (*json_begin_object)(struct br_json_writer *w);
    void (*json_end_object)(struct br_json_writer *w);
    void (*json_begin_array)(struct br_json_writer *w);
    void (*json_end_array)(struct br_json_writer *w);
    void (*json_key)(struct br_json_writer *w, const char *key);
    void (*json_put_string)(struct br_json_writer *w, const char *s); /* NULL writes null */
    void (*json_put_int)(struct br_json_writer *w, int64_t v);
    void (*json_put_double)(struct br_json_writer *w, double v);
    void (*json_put_bool)(struct br_json_writer *w, bool v);
    void (*json_put_null)(struct br_json_writer *w);
    /* A node of a parsed document, copied as it is. */
    void (*json_put_node)(struct br_json_writer *w, const struct br_json *doc, int node);
    int (*json_finish)(struct br_json_writer *w, char **ret);

    /* The member of object node whose key is exactly key, dots and all: Matrix keys hold
     * dots ("m.relates_to"), which a path would split. 0 and *ret_node, or -ENOENT,
     * -EBADMSG (node is not an object). */
    int (*json_member)(const struct br_json *doc, int node, const char *key, int *ret_node);
};

struct br_plugin {
    uint32_t abi_version; /* BR_ABI_VERSION */
    uint32_t size;        /* sizeof(struct br_plugin) */
    const char *id;       /* must equal maubot.yaml's id */
    const char *version;  /* must equal maubot.yaml's version */

    /* Called once when the instance starts: make the plugin's state, register passive
     * handlers. A negative return stops the instance with that error. */
    int (*start)(struct br_instance *inst, const struct br_runner *runner, void **ret_state);
    /* Called once when the instance stops; free the state. Whatever is still in flight
     * (subprocesses, uploads, fetches, timers) is cancelled by the runner after it returns,
     * without calling back. */
    void (*stop)(void *state);
    /* A command: the message's body started with the instance's command_prefix; name is the
     * word after it, args the rest with surrounding blanks removed ("" when none). name is
     * at most 2048 bytes (a URL may be the name); a message whose first word is longer is
     * not handed to the plugin at all. */
    int (*command)(void *state, const struct br_message *msg, const char *name, const char *args);
    /* Any message that is not a command (after passive handlers ran). May be NULL. */
    int (*message)(void *state, const struct br_message *msg);
    /* Any other event in a subscribed room. May be NULL. */
    int (*event)(void *state, const struct br_event *ev);
    /* The instance's settings changed on reload, nothing else of it did: config_json is the
     * new settings (defaults filled in). Return 0 to go on with them; NULL, or a negative
     * return, makes the runner restart the instance instead. */
    int (*config)(void *state, const char *config_json);
    /* With database: true, the schema as numbered steps: migrations[i] (SQL, one or more
     * statements) takes the database from version i to i + 1. The runner runs the missing
     * ones before start(), all in one transaction, and sets PRAGMA user_version to their
     * count; a failing step rolls them all back and fails the instance. NULL-terminated;
     * NULL for none. */
    const char *const *migrations;
};

#ifdef __cplusplus
}
/* C++ gives a const object internal linkage unless it is declared extern. */
#define BR_PLUGIN_LINKAGE extern "C"
#else
#define BR_PLUGIN_LINKAGE
#endif

/* In the plugin: BR_PLUGIN(EchoBot) = { ... }; exports the descriptor under main_class. */
#define BR_PLUGIN(main_class)                                                                      \
    BR_PLUGIN_LINKAGE __attribute__((visibility("default"))) const struct br_plugin main_class
