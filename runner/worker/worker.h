/* One bot instance in one process: its event loop, account, sync position, rooms, outbox
 * and plugin. The parts live in their own files (account.c, syncer.c, rooms.c, outbox.c,
 * dispatch.c, api.c); this header is the state they share. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "botrunner/plugin.h"
#include "config/config.h"
#include "matrix/client.h"
#include "matrix/sync.h"
#include "util/ipc.h"

struct store;
struct plugin_host;
struct passive_registry;
struct token_bucket;
struct outbox_item;
struct worker_call;
struct http;
struct sqlite3;
struct sync_job;

/* The long-poll timeout: the spec's usual 30 s. The HTTP layer adds its own margin. */
#define WORKER_SYNC_TIMEOUT_MS 30000u
/* Pages of /messages fetched to fill a gap in a limited timeline, and events per page:
 * 20 x 50 covers a bot that was down through a busy hour in one room; older events are
 * past any sensible catch-up window. 50 events a page, as the sync filter's timeline, keep
 * a page of the largest events the spec allows within SYNC_MAX_BODY (matrix/sync.h). */
#define WORKER_GAP_PAGES       20u
#define WORKER_GAP_PAGE_EVENTS 50u
/* A subscribed room that cannot be joined is tried again after this, doubling to the cap. */
#define WORKER_JOIN_RETRY_MS     (30u * 1000u)
#define WORKER_JOIN_RETRY_MAX_MS (30u * 60u * 1000u)
/* A plugin callback that keeps the loop this long gets a warning naming the plugin: the
 * bot answers nothing meanwhile. */
#define WORKER_SLOW_CALLBACK_MS 1000
/* Sends in flight at once: one keeps them in order, which a conversation needs. */
#define WORKER_SENDS_IN_FLIGHT 1u
/* How often the counters go up to the supervisor, at most (when they changed). */
#define LINK_COUNTERS_MS 1000u
/* The context of an admin notice: the seed asks for the last 10 lines. */
#define LINK_TRACE_LINES    10u
#define LINK_TRACE_LINE_MAX 200u
/* Invites to rooms no subscription names yet, kept while aliases are resolved (one may name
 * that room); admin notices kept while the admin room's alias is not resolved. Both are
 * bounded: past the first, an invite is declined at once and a notice dropped with a WARN. */
#define WORKER_DEFERRED_INVITES 32u
#define WORKER_HELD_NOTICES     50u
/* On SIGTERM, sends in flight may finish for this long; the rest stay queued in bot.db. */
#define WORKER_STOP_GRACE_MS 5000u

struct worker_room {
    struct worker *worker;
    char *name;                 /* as declared: a room id, or an alias */
    char *room_id;              /* the room's id: name itself, or what the alias resolved to
                                 * (NULL until then) */
    char *error;                /* why the room is not served now (resolve or join), or NULL */
    bool is_alias;
    bool resolve_in_flight;
    bool joined;
    uint64_t retry_ms;          /* next join retry delay */
    sd_event_source *retry;     /* pending join retry, or NULL */
    bool join_in_flight;
    bool post_only;             /* the admin room of the notification sender: joined to post
                                 * notices, its events are not the plugin's */
};

/* The plugin's view of the instance (struct br_instance is opaque to it). */
struct br_instance {
    struct worker *worker;
};

struct worker {
    sd_event *event;
    const char *config_path;
    struct config *config;
    const struct config_instance *inst;
    const struct config_plugin *plugin_decl;
    struct store *store;
    struct mx_client *mx;

    /* Account. */
    char *user_id;
    char *localpart;
    char *device_id;
    char *password;             /* from password_file, or generated at registration and
                                 * kept sealed in bot.db; wiped on free */
    size_t password_len;
    char *registration_token;
    bool relogin_in_flight;
    bool account_ready;

    /* Sync. */
    char *next_batch;
    char *filter_id;
    struct sync_job *job;         /* the batch being handled, or NULL */
    sd_event_source *sync_retry;  /* wait before the next sync after an error */
    bool syncing;
    bool first_sync_done;
    uint64_t syncs;
    int64_t last_prune;           /* unix s of the last pruning of handled-event marks */

    /* Rooms: the subscriptions from the config. */
    struct worker_room *rooms;
    size_t n_rooms;
    char *deferred_invites[WORKER_DEFERRED_INVITES];
    size_t n_deferred_invites;
    char *held_notices[WORKER_HELD_NOTICES];
    size_t n_held_notices;

    /* Outbox: queued sends, oldest first. */
    struct outbox_item *outbox_head, *outbox_tail, *outbox_mark;
    size_t outbox_len;
    size_t sends_in_flight;
    struct token_bucket *send_bucket;
    sd_event_source *send_wait;   /* pacing timer */
    int64_t media_upload_limit;   /* bytes; 0 unknown, -1 none */

    /* Plugin. */
    struct plugin_host *plugin;
    void *plugin_state;
    bool plugin_started;
    bool dispatching;
    bool batch_open;            /* a batch is being dispatched: sends are staged */
    char **batch_handled;       /* the batch's events handled so far, marked at its commit */
    size_t n_batch_handled, cap_batch_handled;
    bool batch_messages;        /* a message among them: last_message_at moves */
    struct br_instance api;
    struct passive_registry *passive;
    struct token_bucket *plugin_bucket;
    struct worker_call *calls;    /* uploads, fetches, subprocesses, timers, by handle */
    uint64_t next_call_id;
    struct http *http;            /* the plugin's fetches (made on the first one) */
    char *work_dir;               /* the instance's private work directory */
    struct sqlite3 *plugin_db;    /* when the plugin declares a database */
    char *settings;               /* the plugin's settings (JSON), replaced by a reconfigure */

    /* The supervisor's socket (link.c), when a supervisor started us, and the last lines
     * logged, sent as the context of an error's notice. */
    int link_fd;
    sd_event_source *link_source;
    /* What the instance did since the worker started, for /metrics (util/ipc.h, COUNTERS):
     * counted where it happens, reported by link.c when it changed, once a second. */
    struct ipc_counters counters, counters_sent;
    sd_event_source *counters_timer;
    char *recent_log[LINK_TRACE_LINES];
    size_t recent_next;

    /* Lifecycle. */
    int lock_fd;                /* <state_directory>/run/<id>.lock, flocked (worker/lock.h) */
    bool stopping;
    int exit_code;
    sd_event_source *stop_timer;
    int64_t started_ms;
};

/* worker.c */
/* Runs the instance until SIGTERM or a fatal error; returns the exit code (0 or 1). */
int worker_main(const char *config_path, const char *instance_id);
int64_t worker_now_ms(void);
void worker_fail(struct worker *w, int r, const char *what);
void worker_set_state(struct worker *w, const char *state, const char *error);
/* The same for an error about one subscription (room: its name as declared): over, for
 * /status, once that room reports no error. */
void worker_set_state_room(struct worker *w, const char *state, const char *error,
                           const char *room);
/* The supervisor says only this instance's settings changed: read them and hand them to the
 * plugin. 0 when it took them; a negative errno when the worker must restart instead. */
int worker_reconfigure(struct worker *w);

/* account.c: log in, register, or reuse the stored token; then calls worker_account_ready. */
int account_start(struct worker *w);
void account_on_unknown_token(struct mx_client *c, bool soft_logout, void *userdata);
void worker_account_ready(struct worker *w);

/* rooms.c */
struct worker_room *rooms_find(struct worker *w, const char *room_id);
void rooms_join_all(struct worker *w);
void rooms_handle_invite(struct worker *w, const struct mx_invite *inv);
void rooms_handle_joined(struct worker *w, const char *room_id);
void rooms_handle_left(struct worker *w, const char *room_id);
/* Resolve every alias again (the supervisor asks on reload): one may name another room now. */
void rooms_resolve_again(struct worker *w);
/* Queue an admin notice (content: the event's JSON) for room, as notifications.room names it:
 * held until its alias is resolved. */
void rooms_post_notice(struct worker *w, const char *room, const char *content);
void rooms_free(struct worker *w);

/* syncer.c */
int syncer_start(struct worker *w);
void syncer_free(struct worker *w);

/* dispatch.c: hand timeline events to the plugin, exactly once. A batch is begun, its
 * events dispatched (0, or a negative errno when bot.db failed: the batch must not be
 * acknowledged then), and committed with its sync position (NULL: a gap page or the like,
 * no position to save) in one short transaction. */
void dispatch_batch_begin(struct worker *w);
int dispatch_event(struct worker *w, const char *room_id, const struct mx_event *ev,
                   int64_t cutoff_ms, size_t *skipped_old);
int dispatch_batch_commit(struct worker *w, const char *next_batch);
/* Drop what the batch staged (a bot.db failure midway: it replays). */
void dispatch_batch_abort(struct worker *w);
void dispatch_free(struct worker *w);
/* True while an event is being handled: sends queued then wait for its commit. */
bool dispatch_in_progress(const struct worker *w);

/* outbox.c. A redaction is queued with this type and {"redacts": ID, "reason": TEXT}. */
#define OUTBOX_REDACTION "m.room.redaction"
int outbox_load(struct worker *w);
int outbox_queue(struct worker *w, const char *room_id, const char *type,
                 const char *content_json, br_sent_t sent, void *userdata);
void outbox_kick(struct worker *w);
/* Remember the queue's end before a batch is dispatched; drop what was queued after it when
 * the batch's commit fails (those sends were never written nor sent). */
void outbox_mark(struct worker *w);
void outbox_drop_marked(struct worker *w);
/* Inside the batch's transaction: the rows of the sends staged during it. Then, once it
 * committed, outbox_staged_written() makes them ordinary queued sends. */
int outbox_commit_staged(struct worker *w);
void outbox_staged_written(struct worker *w);
void outbox_free(struct worker *w);

/* link.c: reports to the supervisor; notices from it. No-ops without one. */
int link_open(struct worker *w);
void link_close(struct worker *w);
/* error_room: the subscription (as declared) error is about, or NULL: the supervisor marks
 * the instance's last error resolved once that room reports no error. */
void link_state(struct worker *w, const char *state, const char *error, const char *error_room);
void link_sync(struct worker *w, int64_t t);
void link_message(struct worker *w, int64_t t);
/* A subscription's name, resolved id, membership and error, for /status. */
void link_room(struct worker *w, const struct worker_room *room);
/* The plugin database's state (the seed's: migrating, active; or failed) and version. */
void link_database(struct worker *w, const char *state, int schema_version);

/* api.c: the br_runner table handed to the plugin. */
extern const struct br_runner worker_runner_api;
/* workdir.c: the work directory made (0700) and emptied; w->work_dir set. */
int workdir_prepare(struct worker *w);
void workdir_free(struct worker *w);
/* plugin_db.c: plugins/<instance-id>.db opened (0600) and migrated by the plugin's steps
 * (NULL-terminated; NULL for none), in one transaction; failures are logged here. */
int plugin_db_open(struct worker *w, const char *const *migrations);
void plugin_db_close(struct worker *w);
int api_start(struct worker *w);          /* opens the plugin's database, calls start */
void api_fetch_media_config(struct worker *w);
void api_free(struct worker *w);          /* calls stop, cancels what is in flight */
