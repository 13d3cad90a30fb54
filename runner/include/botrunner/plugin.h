/* botrunner's plugin ABI: the only header a plugin includes. A plugin is a shared object
 * exporting one const struct br_plugin (named by main_class in its maubot.yaml); the runner
 * hands it a const struct br_runner, the table of everything a plugin may ask of it.
 *
 * Rules of the road:
 *  - Every callback runs on the instance's event loop, one at a time, and must not block:
 *    subprocesses, timers, sends and uploads go through the table and report back through
 *    completion callbacks, on the same loop.
 *  - Strings handed to a plugin are valid UTF-8, NUL-terminated, and valid only during the
 *    callback; copy what you keep. Strings a plugin hands in are copied by the runner.
 *  - Functions return 0 or a negative errno (-EINVAL, -E2BIG, -EAGAIN, ...), as in the
 *    runner itself.
 *  - Versioning: BR_ABI_VERSION changes when a struct's layout or a function's meaning
 *    changes incompatibly; the runner refuses a plugin built for another version. New
 *    functions are appended to struct br_runner and announced by its size field, so a
 *    plugin built against an older header keeps working. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BR_ABI_VERSION 1

/* Priorities for br_runner.log, as syslog's. */
#define BR_LOG_DEBUG   7
#define BR_LOG_INFO    6
#define BR_LOG_WARNING 4
#define BR_LOG_ERR     3
#define BR_LOG_CRIT    2

/* The runner's side of one bot instance: opaque, passed back to every br_runner function. */
struct br_instance;

/* A message event (m.room.message) in a subscribed room, not sent by the bot itself. */
struct br_message {
    const char *room_id;
    const char *event_id;
    const char *sender;
    const char *msgtype;        /* "m.text", "m.notice", ... */
    const char *body;           /* plain text; "" when the event had none */
    const char *formatted_body; /* HTML, or NULL */
    int64_t origin_server_ts;   /* ms since the epoch, as the sender's server stamped it;
                                 * 0 when the event had none (or not a valid one) */
    const char *content_json;   /* the whole content object, as JSON */
};

/* Any other event in a subscribed room (membership, state, reactions...). */
struct br_event {
    const char *room_id;
    const char *event_id;
    const char *sender;
    const char *type;
    const char *state_key;    /* NULL for a non-state event */
    int64_t origin_server_ts; /* as in struct br_message: 0 when missing */
    const char *content_json;
};

/* Completion callbacks. r is 0 or a negative errno. */
typedef void (*br_sent_t)(void *userdata, int r, const char *event_id);
typedef void (*br_uploaded_t)(void *userdata, int r, const char *content_uri);
typedef void (*br_timer_t)(void *userdata);
/* A subprocess ended, or could not start. Three fields say how, each with one meaning:
 *  - error: 0 when the program ran and ended before its timeout (by exiting, or by a signal
 *    from elsewhere); -ETIME when it ran past its timeout and the runner killed it
 *    (exit_code and signal then say how it ended after the SIGTERM); or a negative errno
 *    when it could not be started (-ENOENT: no such program, -EACCES: not executable, ...;
 *    exit_code is then -1 and signal 0).
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
    const char *cwd;         /* or NULL for the runner's */
    uint64_t timeout_ms;     /* killed (SIGTERM, then SIGKILL 5 s later) past it; 0 means
                              * 10 minutes; at most BR_SPAWN_MAX_TIMEOUT_MS */
    size_t max_output;       /* stdout bytes kept; 0 means 64 KiB; at most BR_SPAWN_MAX_OUTPUT */
};

struct br_runner {
    uint32_t abi_version; /* BR_ABI_VERSION */
    uint32_t size;        /* sizeof(struct br_runner) of the runner: functions past it are absent */

    /* Messages. Every send is queued with a transaction id stored before the request, so a
     * crash or a retry never duplicates it; sent (may be NULL) reports the event id. */
    int (*reply)(struct br_instance *inst, const struct br_message *to, const char *text);
    int (*send_text)(struct br_instance *inst, const char *room_id, const char *text, bool notice);
    int (*send_html)(struct br_instance *inst, const char *room_id, const char *text,
                     const char *html, bool notice);
    /* A whole event: content_json an object; reply_to an event id to reply to, or NULL. */
    int (*send_event)(struct br_instance *inst, const char *room_id, const char *type,
                      const char *content_json, const char *reply_to, br_sent_t sent,
                      void *userdata);
    int (*react)(struct br_instance *inst, const char *room_id, const char *event_id,
                 const char *key);
    int (*redact)(struct br_instance *inst, const char *room_id, const char *event_id,
                  const char *reason);

    /* Media: upload the file open at fd (read from its current offset to its end, streamed;
     * the runner does not close it). -EFBIG at once when the homeserver's upload limit is
     * smaller than the file. */
    int (*upload)(struct br_instance *inst, int fd, const char *content_type, const char *filename,
                  br_uploaded_t uploaded, void *userdata);

    /* Subprocesses and timers. spawn returns 0 when exited will be called exactly once
     * (also when the program cannot be started: that error arrives in res->error, from the
     * loop), or a negative errno when it will not be called at all: -EINVAL for no argv, an
     * empty argv[0] or a limit above passed, -ENOMEM, -EMFILE, ... */
    int (*spawn)(struct br_instance *inst, const struct br_spawn *spec, br_exited_t exited,
                 void *userdata);
    int (*timer_start)(struct br_instance *inst, uint64_t delay_ms, br_timer_t fired,
                       void *userdata, uint64_t *ret_id);
    void (*timer_cancel)(struct br_instance *inst, uint64_t id);

    /* The instance's token-bucket rate limiter (rate_limit in its config), one bucket per
     * key (a user id, a room id...): 0 when a request may go now, or -EAGAIN with the time
     * to wait in *ret_wait_ms. Always 0 when the instance's rate_limiting feature is off. */
    int (*rate_limit)(struct br_instance *inst, const char *key, uint64_t *ret_wait_ms);

    /* Passive handlers: regex (POSIX extended, case-insensitive) run on the body of every
     * message that is not a command. */
    int (*add_passive)(struct br_instance *inst, const char *regex, br_passive_t handler);

    /* The instance's settings: its `config:` mapping as JSON ("{}" when it has none). (The
     * plugin's config_schema defaults will be filled in once packages are checked.) */
    const char *(*config_json)(struct br_instance *inst);
    /* The plugin's own SQLite database (a sqlite3 *) when its maubot.yaml says
     * database: true, else NULL. */
    void *(*database)(struct br_instance *inst);
    /* Facts about the instance. */
    const char *(*user_id)(struct br_instance *inst);
    const char *(*command_prefix)(struct br_instance *inst);     /* or NULL */
    bool (*feature)(struct br_instance *inst, const char *name); /* "auto_fetch", ... */
    /* Log through the runner (journal fields, redaction, admin notifications). */
    void (*log)(struct br_instance *inst, int priority, const char *format, ...)
            __attribute__((format(printf, 3, 4)));
};

struct br_plugin {
    uint32_t abi_version; /* BR_ABI_VERSION */
    uint32_t size;        /* sizeof(struct br_plugin) */
    const char *id;       /* must equal maubot.yaml's id */
    const char *version;  /* must equal maubot.yaml's version */

    /* Called once when the instance starts: make the plugin's state, register passive
     * handlers. A negative return stops the instance with that error. */
    int (*start)(struct br_instance *inst, const struct br_runner *runner, void **ret_state);
    /* Called once when the instance stops; free the state. Pending timers, subprocesses and
     * uploads are cancelled by the runner after it returns. */
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
    /* The instance's settings changed on reload. May be NULL (the instance restarts). */
    int (*config)(void *state, const char *config_json);
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
