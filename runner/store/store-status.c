/* What the status endpoint reports, as kept in bot.db: instance states and their times,
 * plugin states, and the bounded list of recent admin notifications. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store-internal.h"
#include "util/text.h"

/* The state machines' names, as the schema's CHECK constraints also spell them. */
static const char *const instance_states[] = {
        "created", "configured", "enabled", "running", "stopped", "failed", "restarting", NULL,
};
static const char *const plugin_states[] = {
        "uploaded", "validated", "rejected", "loaded", "disabled",
        "active",   "trashed",   "deleted",  NULL,
};
static const char *const severities[] = {"ERROR", "CRITICAL", NULL};

#define SHA256_HEX_LEN 64

/* state_since marks entering a state, so setting the current state again keeps it; a
 * restart is counted on entering "restarting", not on each report of it. In an upsert's SET
 * every unqualified column is the old row's value, so the order of assignments is moot. */
#define SQL_INSTANCE_SET_STATE                                                                     \
    "INSERT INTO instances (id, state, state_since, restart_count, last_error)"                    \
    "  VALUES (?1, ?2, ?3, ?2 = 'restarting', ?4)"                                                 \
    "  ON CONFLICT (id) DO UPDATE SET"                                                             \
    "    state_since = CASE WHEN state = excluded.state THEN state_since"                          \
    "                       ELSE excluded.state_since END,"                                        \
    "    restart_count = restart_count + (excluded.state = 'restarting'"                           \
    "                                     AND state <> 'restarting'),"                             \
    "    last_error = coalesce(excluded.last_error, last_error),"                                  \
    "    state = excluded.state"

int store_instance_set_state(struct store *s, const char *instance_id, const char *state,
                             const char *error, int64_t now)
{
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_text(error, STORE_TEXT_MAX, true)) < 0)
        return r;
    if (!store_name_in(state, instance_states))
        return -EINVAL;

    return store_write(s, SQL_INSTANCE_SET_STATE, STORE_TEXT(instance_id), STORE_TEXT(state),
                       STORE_INT64(now), STORE_TEXT(error));
}

int store_instance_get(struct store *s, const char *instance_id, struct store_instance *ret)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    _cleanup_free_ char *state = NULL, *last_error = NULL;
    int r;

    assert(s);
    assert(ret);
    r = store_select_by_id(
            s,
            "SELECT state, state_since, restart_count, coalesce(last_sync_at, 0),"
            "  coalesce(last_message_at, 0), last_error FROM instances WHERE id = ?1",
            instance_id, &q);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 0, &state);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 5, &last_error);
    if (r < 0)
        return r;
    if (!state)
        return -EBADMSG;

    *ret = (struct store_instance){
            .state = TAKE_PTR(state),
            .state_since = sqlite3_column_int64(q->stmt, 1),
            .restart_count = sqlite3_column_int64(q->stmt, 2),
            .last_sync_at = sqlite3_column_int64(q->stmt, 3),
            .last_message_at = sqlite3_column_int64(q->stmt, 4),
            .last_error = TAKE_PTR(last_error),
    };
    return 0;
}

void store_instance_done(struct store_instance *i)
{
    if (!i)
        return;
    free(i->state);
    free(i->last_error);
    *i = (struct store_instance){0};
}

/* The column is chosen by the caller among two fixed statements, never built from input. */
static int instance_touch(struct store *s, const char *sql, const char *instance_id, int64_t now)
{
    int r;

    assert(s);
    r = store_check_line(instance_id, STORE_ID_MAX, false);
    if (r < 0)
        return r;
    return store_write_one(s, sql, STORE_TEXT(instance_id), STORE_INT64(now));
}

int store_instance_touch_sync(struct store *s, const char *instance_id, int64_t now)
{
    return instance_touch(s, "UPDATE instances SET last_sync_at = ?2 WHERE id = ?1", instance_id,
                          now);
}

int store_instance_touch_message(struct store *s, const char *instance_id, int64_t now)
{
    return instance_touch(s, "UPDATE instances SET last_message_at = ?2 WHERE id = ?1", instance_id,
                          now);
}

static bool is_sha256_hex(const char *value)
{
    return strlen(value) == SHA256_HEX_LEN && text_only_chars(value, "0123456789abcdef");
}

int store_plugin_set_state(struct store *s, const char *id, const char *version, const char *sha256,
                           const char *state, const char *reason)
{
    int r;

    assert(s);
    if ((r = store_check_line(id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(version, STORE_ID_MAX, true)) < 0 ||
        (r = store_check_line(sha256, SHA256_HEX_LEN, true)) < 0 ||
        (r = store_check_text(reason, STORE_TEXT_MAX, true)) < 0)
        return r;
    if (sha256 && !is_sha256_hex(sha256))
        return -EINVAL;
    if (!store_name_in(state, plugin_states))
        return -EINVAL;

    return store_write(s,
                       "INSERT INTO plugins (id, version, sha256, state, reason, updated_at)"
                       "  VALUES (?1, ?2, ?3, ?4, ?5, CAST(strftime('%s', 'now') AS INTEGER))"
                       "  ON CONFLICT (id) DO UPDATE SET version = excluded.version,"
                       "    sha256 = excluded.sha256, state = excluded.state,"
                       "    reason = excluded.reason, updated_at = excluded.updated_at",
                       STORE_TEXT(id), STORE_TEXT(version), STORE_TEXT(sha256), STORE_TEXT(state),
                       STORE_TEXT(reason));
}

int store_plugin_get(struct store *s, const char *id, struct store_plugin *ret)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    _cleanup_free_ char *version = NULL, *sha256 = NULL, *state = NULL, *reason = NULL;
    int r;

    assert(s);
    assert(ret);
    r = store_select_by_id(s,
                           "SELECT version, sha256, state, reason, updated_at FROM plugins"
                           "  WHERE id = ?1",
                           id, &q);
    if (r < 0)
        return r;
    if ((r = store_column_strdup(q->stmt, 0, &version)) < 0 ||
        (r = store_column_strdup(q->stmt, 1, &sha256)) < 0 ||
        (r = store_column_strdup(q->stmt, 2, &state)) < 0 ||
        (r = store_column_strdup(q->stmt, 3, &reason)) < 0)
        return r;
    if (!state)
        return -EBADMSG;

    *ret = (struct store_plugin){
            .version = TAKE_PTR(version),
            .sha256 = TAKE_PTR(sha256),
            .state = TAKE_PTR(state),
            .reason = TAKE_PTR(reason),
            .updated_at = sqlite3_column_int64(q->stmt, 4),
    };
    return 0;
}

int store_plugin_list(struct store *s, store_plugin_cb_t cb, void *userdata)
{
    _cleanup_free_ char *cursor = strdup("");
    int r;

    assert(s);
    assert(cb);
    if (!cursor)
        return -ENOMEM;
    /* One row at a time by id, so that no statement is open while cb runs. */
    for (;;) {
        _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
        _cleanup_(store_plugin_done) struct store_plugin p = {0};
        _cleanup_free_ char *id = NULL;

        r = store_stmt_get(s, "SELECT id FROM plugins WHERE id > ?1 ORDER BY id LIMIT 1", &q);
        if (r >= 0)
            r = store_bind_text(q->stmt, 1, cursor);
        if (r >= 0)
            r = store_step_row(q->stmt);
        if (r <= 0)
            return r;
        r = store_column_strdup(q->stmt, 0, &id);
        if (r < 0 || !id)
            return r < 0 ? r : -EBADMSG;
        store_stmt_release(TAKE_PTR(q)); /* store_plugin_get() below uses the cache too */
        r = store_plugin_get(s, id, &p);
        if (r < 0)
            return r;
        r = cb(id, &p, userdata);
        if (r < 0)
            return r;
        free(cursor);
        cursor = TAKE_PTR(id);
    }
}

void store_plugin_done(struct store_plugin *p)
{
    if (!p)
        return;
    free(p->version);
    free(p->sha256);
    free(p->state);
    free(p->reason);
    *p = (struct store_plugin){0};
}

int store_notification_add(struct store *s, int64_t timestamp, const char *source_instance,
                           const char *severity, const char *message, const char *context_json)
{
    int r;

    assert(s);
    if ((r = store_check_line(source_instance, STORE_ID_MAX, true)) < 0 ||
        (r = store_check_text(message, STORE_TEXT_MAX, false)) < 0 ||
        (r = store_check_json(context_json, STORE_TEXT_MAX, true)) < 0)
        return r;
    if (!store_name_in(severity, severities))
        return -EINVAL;

    r = store_transaction_begin(s);
    if (r < 0)
        return r;
    _cleanup_(store_transaction_abortp) struct store *txn = s;
    r = store_write(s,
                    "INSERT INTO notifications (timestamp, source_instance, severity, message,"
                    "  context) VALUES (?1, ?2, ?3, ?4, ?5)",
                    STORE_INT64(timestamp), STORE_TEXT(source_instance), STORE_TEXT(severity),
                    STORE_TEXT(message), STORE_TEXT(context_json));
    if (r < 0)
        return r;
    /* Ids only grow (the newest row has the largest), so "the oldest" is "the smallest ids". */
    r = store_write(s,
                    "DELETE FROM notifications WHERE id <= (SELECT id FROM notifications"
                    "  ORDER BY id DESC LIMIT 1 OFFSET ?1)",
                    STORE_INT64(STORE_NOTIFICATIONS_MAX));
    if (r < 0)
        return r;
    return store_transaction_commit(TAKE_PTR(txn));
}

/* One row, copied out so that no statement is open while the callback runs. */
struct notification_row {
    struct store_notification n;
    char *source_instance, *severity, *message, *context_json;
};

static void notification_row_done(struct notification_row *row)
{
    free(row->source_instance);
    free(row->severity);
    free(row->message);
    free(row->context_json);
}

static int notification_row_read(sqlite3_stmt *st, struct notification_row *ret)
{
    struct notification_row row = {0};
    int r;

    if ((r = store_column_strdup(st, 2, &row.source_instance)) < 0 ||
        (r = store_column_strdup(st, 3, &row.severity)) < 0 ||
        (r = store_column_strdup(st, 4, &row.message)) < 0 ||
        (r = store_column_strdup(st, 5, &row.context_json)) < 0) {
        notification_row_done(&row);
        return r;
    }
    if (!row.severity || !row.message) {
        notification_row_done(&row);
        return -EBADMSG;
    }
    row.n = (struct store_notification){
            .id = sqlite3_column_int64(st, 0),
            .timestamp = sqlite3_column_int64(st, 1),
            .source_instance = row.source_instance,
            .severity = row.severity,
            .message = row.message,
            .context_json = row.context_json,
    };
    *ret = row;
    return 0;
}

int store_notification_list_recent(struct store *s, unsigned limit, store_notification_cb_t cb,
                                   void *userdata)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int64_t cursor = INT64_MAX;
    int r;

    assert(s);
    assert(cb);

    r = store_stmt_get(s,
                       "SELECT id, timestamp, source_instance, severity, message, context"
                       "  FROM notifications WHERE id < ?1 ORDER BY id DESC LIMIT 1",
                       &q);
    if (r < 0)
        return r;
    /* The table never holds more than STORE_NOTIFICATIONS_MAX rows. */
    if (limit > STORE_NOTIFICATIONS_MAX)
        limit = STORE_NOTIFICATIONS_MAX;
    for (unsigned i = 0; i < limit; i++) {
        struct notification_row row;

        r = store_bind_int64(q->stmt, 1, cursor);
        if (r >= 0)
            r = store_step_row(q->stmt);
        if (r <= 0)
            return r;
        r = notification_row_read(q->stmt, &row);
        /* Reset before the callback: the statement then holds no lock and no row. */
        sqlite3_reset(q->stmt);
        if (r < 0)
            return r;
        cursor = row.n.id;
        r = cb(&row.n, userdata);
        notification_row_done(&row);
        if (r < 0)
            return r;
    }
    return 0;
}
