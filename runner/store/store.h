/* The runner's state database, bot.db in the state directory: opening it safely (modes,
 * owner, corruption, schema version, secret key), migrations, and the records kept in it.
 * It knows nothing of Matrix or of the config: ids, tokens and JSON are plain strings.
 *
 * Every function returns 0 or a negative errno; strings handed out are malloc'd and the
 * caller frees them. Strings handed in must be non-empty UTF-8 within the limits below
 * (-E2BIG when longer, -EINVAL otherwise): ids and tokens on one line (no control character
 * at all), free text (errors, reasons, messages) without controls but tab and newlines,
 * JSON one RFC 8259 value. Times are unix seconds, passed in by the caller so tests control
 * the clock. One struct store serves one thread; several processes may open the same
 * state directory at once (SQLite's locks and the busy timeout arbitrate). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* Identifiers of every kind (instance, user, device, room, event, transaction, plugin,
 * version): 255 bytes is the Matrix spec's bound on its own ids and far above ours. */
#define STORE_ID_MAX 255
/* Opaque server tokens (access token, next_batch, filter id): today's homeservers hand out
 * tokens of tens to hundreds of bytes; 4 KiB leaves room for JWT-style tokens. */
#define STORE_TOKEN_MAX 4096
/* Human text (last error, plugin rejection reason, notification message and context): a
 * few log lines' worth; longer text is a runaway message, not information. */
#define STORE_TEXT_MAX 4096
/* Event content JSON queued for sending: the Matrix spec caps a whole event at 64 KiB, so a
 * larger content could never be sent anyway. */
#define STORE_CONTENT_MAX 65536
/* Unacknowledged sends per instance: at a rate limit of 60 a minute this is over a quarter
 * hour of backlog; past it the homeserver is not coming back soon and -ENOBUFS tells the
 * worker to stop queueing rather than fill the disk. */
#define STORE_OUTBOX_MAX 1000
/* Admin notifications kept: the status endpoint shows the recent ones; 1000 covers hours of
 * a bad day at the configured rate limits and keeps the table small. */
#define STORE_NOTIFICATIONS_MAX 1000

struct store;

/* Open (creating if missing) state_dir/bot.db. state_dir must be absolute; it is created
 * with mode 0700 when missing (its parent must exist). Refused with -EPERM: a state_dir or
 * bot.db that is a symlink, not a directory / regular file, or owned by another user, and a
 * state_dir writable by group or others. bot.db is created 0600; an existing one with a
 * wider mode is tightened to 0600 with a warning. The secret key (>= 32 bytes, else
 * -EINVAL) derives the token-sealing key; the raw key is not retained.
 *
 * Before anything writes, bot.db is opened read-only and checked; these refusals leave the
 * file byte-for-byte untouched: -EBADMSG when it is not SQLite or is corrupt,
 * -EPROTONOSUPPORT when its schema is newer than this binary knows, -EKEYREJECTED when it
 * was created under another secret key. Only then is it opened read-write, put in WAL mode
 * and migrated. The refusals are logged here (only the store knows their detail). */
int store_open(const char *state_dir, const void *secret_key, size_t key_len, struct store **ret);
struct store *store_close(struct store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct store *, store_close)

/* The schema version this binary creates and migrates to (PRAGMA user_version). */
int store_schema_version(void);

/* Accounts (one per instance; the instance must exist, see store_instance_set_state(),
 * else -ENOENT). The access token is sealed before it is written; store_account_get()
 * unseals it (free it with seal_plaintext_free() from store/seal.h, which wipes it), and
 * fails with -EKEYREJECTED when it was sealed under another key. A put for a different
 * user_id forgets the sync position (next_batch and filter ids are per user). Out-params
 * may be NULL when not wanted. -ENOENT when the instance has no account. */
int store_account_put(struct store *s, const char *instance_id, const char *user_id,
                      const char *device_id, const char *access_token);
int store_account_get(struct store *s, const char *instance_id, char **ret_user_id,
                      char **ret_device_id, char **ret_access_token);

/* A password the runner made for the account (see the account_passwords table), sealed like
 * the token; free what get returns with seal_plaintext_free(). -ENOENT when none. */
int store_account_password_put(struct store *s, const char *instance_id, const char *user_id,
                               const char *password);
int store_account_password_get(struct store *s, const char *instance_id, char **ret_password);

/* Copy the WAL into bot.db when it holds STORE_CHECKPOINT_FRAMES or more (a PASSIVE
 * checkpoint: it waits for no reader or writer, copies what no reader still needs, and
 * fdatasync()s the WAL and bot.db, milliseconds on a slow disk). Commits never do this (below
 * a far bound, see store-internal.h): call it where nothing waits on the store, as
 * store_sync_position_set() does at the end of each batch. Returns the frames copied, 0 when
 * none was due, -EBUSY when another connection was checkpointing (it does the work). */
int store_checkpoint(struct store *s);

/* Transactions, nestable (inner levels are savepoints): everything written between begin
 * and commit lands together or not at all. The worker wraps "mark this event handled" and
 * "queue its replies" in one, so a crash can neither lose a reply nor send it twice. */
int store_transaction_begin(struct store *s);
int store_transaction_commit(struct store *s);
void store_transaction_rollback(struct store *s);

/* Sync position of an instance's account; NULL values clear it (and come back as NULL).
 * -ENOENT when the instance has no account. Saving the position ends a /sync batch (its
 * events committed, its replies queued): set also runs store_checkpoint(), whose outcome does
 * not change set's. */
int store_sync_position_set(struct store *s, const char *instance_id, const char *next_batch,
                            const char *filter_id);
int store_sync_position_get(struct store *s, const char *instance_id, char **ret_next_batch,
                            char **ret_filter_id);

/* Instances. state is one of created, configured, enabled, running, stopped, failed,
 * restarting (-EINVAL otherwise). Setting a state creates the instance's row if needed;
 * state_since moves only when the state changes; entering "restarting" from another state
 * counts one restart. error, when not NULL, becomes last_error (which otherwise keeps the
 * last one: it is the last error, not the current one). */
struct store_instance {
    char *state;
    int64_t state_since;
    int64_t restart_count;
    int64_t last_sync_at;    /* 0: never */
    int64_t last_message_at; /* 0: never */
    char *last_error;        /* NULL: none */
};
int store_instance_set_state(struct store *s, const char *instance_id, const char *state,
                             const char *error, int64_t now);
/* -ENOENT for an unknown instance. Free with store_instance_done(). */
int store_instance_get(struct store *s, const char *instance_id, struct store_instance *ret);
void store_instance_done(struct store_instance *i);
/* Record a successful sync / a handled message. -ENOENT for an unknown instance. */
int store_instance_touch_sync(struct store *s, const char *instance_id, int64_t now);
int store_instance_touch_message(struct store *s, const char *instance_id, int64_t now);

/* Plugins. state is one of uploaded, validated, rejected, loaded, disabled, active,
 * trashed, deleted (-EINVAL otherwise). version, sha256 and reason may be NULL (a package
 * rejected before its metadata was read has none); sha256, when given, is 64 lowercase hex
 * digits. */
struct store_plugin {
    char *version; /* NULL: unknown */
    char *sha256;  /* NULL: unknown */
    char *state;
    char *reason; /* NULL: none */
    int64_t updated_at;
};
int store_plugin_set_state(struct store *s, const char *id, const char *version, const char *sha256,
                           const char *state, const char *reason);
/* -ENOENT for an unknown plugin. Free with store_plugin_done(). */
int store_plugin_get(struct store *s, const char *id, struct store_plugin *ret);
void store_plugin_done(struct store_plugin *p);
/* Every plugin row, in id order; cb's return as in store_outbox_list() (negative stops). The
 * table holds a row per plugin id ever declared: a few. */
typedef int (*store_plugin_cb_t)(const char *id, const struct store_plugin *p, void *userdata);
int store_plugin_list(struct store *s, store_plugin_cb_t cb, void *userdata);

/* Outbox: sends not yet acknowledged by the homeserver, kept so a retry after a crash reuses
 * the transaction id. content_json must be valid JSON. -EEXIST for a txn_id already queued,
 * -ENOENT for an unknown instance, -ENOBUFS past STORE_OUTBOX_MAX for the instance. */
int store_outbox_add(struct store *s, const char *instance_id, const char *txn_id,
                     const char *room_id, const char *event_type, const char *content_json,
                     int64_t now);
/* Acknowledged: forget it. -ENOENT when not queued. */
int store_outbox_remove(struct store *s, const char *txn_id);
/* Count one more send attempt. -ENOENT when not queued. */
int store_outbox_attempted(struct store *s, const char *txn_id);
struct store_outbox_entry {
    const char *txn_id;
    const char *room_id;
    const char *event_type;
    const char *content_json;
    int64_t created_at;
    int64_t attempts;
};
/* Called once per entry, in the order they were added; the strings live until it returns.
 * It may call other store functions (remove this entry, for example): no statement is open
 * while it runs. A negative return stops the listing and is returned. */
typedef int (*store_outbox_cb_t)(const struct store_outbox_entry *entry, void *userdata);
int store_outbox_list(struct store *s, const char *instance_id, store_outbox_cb_t cb,
                      void *userdata);

/* Exactly-once handling: returns 0 the first time an event id is marked for an instance and
 * -EEXIST every time after, across restarts (the mark is committed before this returns).
 * -ENOENT for an unknown instance. */
int store_event_mark_handled(struct store *s, const char *instance_id, const char *event_id,
                             int64_t now);
/* 1 when the event was marked handled, 0 when not (a read: for deciding how far back to
 * fetch a gap; handling itself goes through store_event_mark_handled()). */
int store_event_is_handled(struct store *s, const char *instance_id, const char *event_id);
/* The event an instance is handling, written (and so on disk, WAL) before its plugin sees
 * it: *ret_attempts is 1 for a new event, one more each time the same event starts again
 * (its worker died handling it). Cleared when the batch's marks commit. */
int store_dispatch_begin(struct store *s, const char *instance_id, const char *event_id,
                         int64_t now, unsigned *ret_attempts);
int store_dispatch_clear(struct store *s, const char *instance_id);
/* Forget marks made before older_than (events that old are past any catch-up window). */
int store_event_prune(struct store *s, int64_t older_than);

/* Admin notifications. severity is "ERROR" or "CRITICAL" (-EINVAL otherwise);
 * source_instance and context_json (valid JSON) may be NULL. The oldest are deleted so that
 * at most STORE_NOTIFICATIONS_MAX remain. */
int store_notification_add(struct store *s, int64_t timestamp, const char *source_instance,
                           const char *severity, const char *message, const char *context_json);
struct store_notification {
    int64_t id; /* increases with each notification added */
    int64_t timestamp;
    const char *source_instance; /* NULL: none */
    const char *severity;
    const char *message;
    const char *context_json; /* NULL: none */
};
/* The newest first, at most limit of them; same callback rules as store_outbox_list(). */
typedef int (*store_notification_cb_t)(const struct store_notification *n, void *userdata);
int store_notification_list_recent(struct store *s, unsigned limit, store_notification_cb_t cb,
                                   void *userdata);
