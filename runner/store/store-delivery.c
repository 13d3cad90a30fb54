/* Exactly-once delivery in bot.db: the outbox of sends awaiting the homeserver's
 * acknowledgement (kept with their transaction ids) and the marks of events already handled. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "store/store-internal.h"

/* count(*) always has its one row, so store_select_by_id()'s -ENOENT cannot happen here. */
static int outbox_count(struct store *s, const char *instance_id, int64_t *ret)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    r = store_select_by_id(s, "SELECT count(*) FROM outbox WHERE instance_id = ?1", instance_id,
                           &q);
    if (r < 0)
        return r;
    *ret = sqlite3_column_int64(q->stmt, 0);
    return 0;
}

int store_outbox_add(struct store *s, const char *instance_id, const char *txn_id,
                     const char *room_id, const char *event_type, const char *content_json,
                     int64_t now)
{
    int64_t count;
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(txn_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(room_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(event_type, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_json(content_json, STORE_CONTENT_MAX, false)) < 0)
        return r;

    /* Count and insert under one write lock, so the cap holds. */
    r = store_transaction_begin(s);
    if (r < 0)
        return r;
    _cleanup_(store_transaction_abortp) struct store *txn = s;
    r = outbox_count(s, instance_id, &count);
    if (r < 0)
        return r;
    if (count >= STORE_OUTBOX_MAX)
        return -ENOBUFS;
    r = store_write(s,
                    "INSERT INTO outbox (txn_id, instance_id, room_id, event_type, content,"
                    "  created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    STORE_TEXT(txn_id), STORE_TEXT(instance_id), STORE_TEXT(room_id),
                    STORE_TEXT(event_type), STORE_TEXT(content_json), STORE_INT64(now));
    if (r < 0)
        return r;
    return store_transaction_commit(TAKE_PTR(txn));
}

/* Both statements are fixed; the caller picks one. */
static int outbox_update(struct store *s, const char *sql, const char *txn_id)
{
    int r;

    assert(s);
    r = store_check_line(txn_id, STORE_ID_MAX, false);
    if (r < 0)
        return r;
    return store_write_one(s, sql, STORE_TEXT(txn_id));
}

int store_outbox_remove(struct store *s, const char *txn_id)
{
    return outbox_update(s, "DELETE FROM outbox WHERE txn_id = ?1", txn_id);
}

int store_outbox_attempted(struct store *s, const char *txn_id)
{
    return outbox_update(s, "UPDATE outbox SET attempts = attempts + 1 WHERE txn_id = ?1", txn_id);
}

/* One row, copied out so that no statement is open while the callback runs. */
struct outbox_row {
    struct store_outbox_entry e;
    int64_t rowid;
    char *txn_id, *room_id, *event_type, *content_json;
};

static void outbox_row_done(struct outbox_row *row)
{
    free(row->txn_id);
    free(row->room_id);
    free(row->event_type);
    free(row->content_json);
}

static int outbox_row_read(sqlite3_stmt *st, struct outbox_row *ret)
{
    struct outbox_row row = {.rowid = sqlite3_column_int64(st, 0)};
    int r;

    if ((r = store_column_strdup(st, 1, &row.txn_id)) < 0 ||
        (r = store_column_strdup(st, 2, &row.room_id)) < 0 ||
        (r = store_column_strdup(st, 3, &row.event_type)) < 0 ||
        (r = store_column_strdup(st, 4, &row.content_json)) < 0) {
        outbox_row_done(&row);
        return r;
    }
    if (!row.txn_id || !row.room_id || !row.event_type || !row.content_json) {
        outbox_row_done(&row);
        return -EBADMSG;
    }
    row.e = (struct store_outbox_entry){
            .txn_id = row.txn_id,
            .room_id = row.room_id,
            .event_type = row.event_type,
            .content_json = row.content_json,
            .created_at = sqlite3_column_int64(st, 5),
            .attempts = sqlite3_column_int64(st, 6),
    };
    *ret = row;
    return 0;
}

/* Creation order is rowid order: a new row's rowid is one more than the largest in the
 * table, and created_at (the caller's clock) could step backwards. The listing walks a
 * cursor over rowids, one row per query, so the callback may change the outbox. */
int store_outbox_list(struct store *s, const char *instance_id, store_outbox_cb_t cb,
                      void *userdata)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int64_t cursor = 0;
    int r;

    assert(s);
    assert(cb);
    r = store_check_line(instance_id, STORE_ID_MAX, false);
    if (r < 0)
        return r;

    /* Lent out for the whole listing: a callback listing again gets a copy of its own. */
    r = store_stmt_get(s,
                       "SELECT rowid, txn_id, room_id, event_type, content, created_at, attempts"
                       "  FROM outbox WHERE instance_id = ?1 AND rowid > ?2"
                       "  ORDER BY rowid LIMIT 1",
                       &q);
    if (r >= 0)
        r = store_bind_text(q->stmt, 1, instance_id);
    if (r < 0)
        return r;
    /* At most STORE_OUTBOX_MAX rows exist for the instance; entries the callback adds
     * beyond that bound wait for the next listing. */
    for (unsigned i = 0; i < STORE_OUTBOX_MAX; i++) {
        struct outbox_row row;

        r = store_bind_int64(q->stmt, 2, cursor);
        if (r >= 0)
            r = store_step_row(q->stmt);
        if (r <= 0)
            return r;
        r = outbox_row_read(q->stmt, &row);
        /* Reset before the callback: the statement then holds no lock and no row. */
        sqlite3_reset(q->stmt);
        if (r < 0)
            return r;
        cursor = row.rowid;
        r = cb(&row.e, userdata);
        outbox_row_done(&row);
        if (r < 0)
            return r;
    }
    return 0;
}

int store_event_mark_handled(struct store *s, const char *instance_id, const char *event_id,
                             int64_t now)
{
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(event_id, STORE_ID_MAX, false)) < 0)
        return r;

    /* One statement, so check-and-mark is atomic even between processes: a second mark
     * inserts nothing and changes no row. (Not store_write_one(): its -ENOENT is taken, by
     * an unknown instance.) */
    r = store_write(s,
                    "INSERT INTO handled_events (instance_id, event_id, handled_at)"
                    "  VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    STORE_TEXT(instance_id), STORE_TEXT(event_id), STORE_INT64(now));
    if (r < 0)
        return r;
    return sqlite3_changes(s->db) > 0 ? 0 : -EEXIST;
}

int store_event_is_handled(struct store *s, const char *instance_id, const char *event_id)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(event_id, STORE_ID_MAX, false)) < 0)
        return r;
    r = store_stmt_get(s, "SELECT 1 FROM handled_events WHERE instance_id = ?1 AND event_id = ?2",
                       &q);
    if (r >= 0)
        r = store_bind_values(q->stmt,
                              STORE_VALUES_(STORE_TEXT(instance_id), STORE_TEXT(event_id)));
    if (r >= 0)
        r = store_step_row(q->stmt);
    return r < 0 ? r : r > 0;
}

int store_dispatch_begin(struct store *s, const char *instance_id, const char *event_id,
                         int64_t now, unsigned *ret_attempts)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    assert(s);
    assert(ret_attempts);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(event_id, STORE_ID_MAX, false)) < 0)
        return r;
    /* One statement: the same event again counts one more attempt, another starts at 1. */
    r = store_stmt_get(s,
                       "INSERT INTO dispatching (instance_id, event_id, attempts, started_at)"
                       "  VALUES (?1, ?2, 1, ?3) ON CONFLICT (instance_id) DO UPDATE SET"
                       "    attempts = CASE WHEN event_id = excluded.event_id"
                       "      THEN attempts + 1 ELSE 1 END,"
                       "    event_id = excluded.event_id, started_at = excluded.started_at"
                       "  RETURNING attempts",
                       &q);
    if (r >= 0)
        r = store_bind_values(q->stmt, STORE_VALUES_(STORE_TEXT(instance_id), STORE_TEXT(event_id),
                                                     STORE_INT64(now)));
    if (r >= 0)
        r = store_step_row(q->stmt);
    if (r == 0)
        r = -EIO;
    if (r < 0)
        return r;
    *ret_attempts = (unsigned)sqlite3_column_int(q->stmt, 0);
    return 0;
}

int store_dispatch_clear(struct store *s, const char *instance_id)
{
    assert(s);
    return store_write(s, "DELETE FROM dispatching WHERE instance_id = ?1", STORE_TEXT(instance_id));
}

int store_event_prune(struct store *s, int64_t older_than)
{
    assert(s);
    return store_write(s, "DELETE FROM handled_events WHERE handled_at < ?1",
                       STORE_INT64(older_than));
}
