/* Per-instance accounts in bot.db: user and device ids, the access token (sealed before it
 * is written, unsealed on the way out) and the sync position. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "store/store-internal.h"
#include "util/log.h"

/* A put for another user starts that user's sync afresh: next_batch and filter ids belong
 * to the user they were issued to. updated_at comes from SQLite's clock: it is for people
 * reading the database, nothing decides on it. */
#define SQL_ACCOUNT_PUT                                                                            \
    "INSERT INTO accounts (instance_id, user_id, device_id, access_token, updated_at)"             \
    "  VALUES (?1, ?2, ?3, ?4, CAST(strftime('%s', 'now') AS INTEGER))"                            \
    "  ON CONFLICT (instance_id) DO UPDATE SET"                                                    \
    "    next_batch = CASE WHEN user_id = excluded.user_id THEN next_batch END,"                   \
    "    filter_id = CASE WHEN user_id = excluded.user_id THEN filter_id END,"                     \
    "    user_id = excluded.user_id, device_id = excluded.device_id,"                              \
    "    access_token = excluded.access_token, updated_at = excluded.updated_at"

int store_account_put(struct store *s, const char *instance_id, const char *user_id,
                      const char *device_id, const char *access_token)
{
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t sealed_len;
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(user_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(device_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(access_token, STORE_TOKEN_MAX, false)) < 0)
        return r;

    r = seal_seal(s->key, access_token, strlen(access_token), &sealed, &sealed_len);
    if (r < 0)
        return r;
    return store_write(s, SQL_ACCOUNT_PUT, STORE_TEXT(instance_id), STORE_TEXT(user_id),
                       STORE_TEXT(device_id), STORE_BLOB(sealed, sealed_len));
}

int store_account_get(struct store *s, const char *instance_id, char **ret_user_id,
                      char **ret_device_id, char **ret_access_token)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    _cleanup_free_ char *user_id = NULL, *device_id = NULL;
    _cleanup_plaintext_ char *token = NULL;
    int r;

    assert(s);
    r = store_select_by_id(s,
                           "SELECT user_id, device_id, access_token FROM accounts"
                           "  WHERE instance_id = ?1",
                           instance_id, &q);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 0, &user_id);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 1, &device_id);
    if (r < 0)
        return r;
    if (sqlite3_column_type(q->stmt, 2) != SQLITE_BLOB)
        return -EBADMSG;
    r = seal_open(s->key, sqlite3_column_blob(q->stmt, 2), (size_t)sqlite3_column_bytes(q->stmt, 2),
                  &token);
    if (r < 0)
        return r;

    if (ret_user_id)
        *ret_user_id = TAKE_PTR(user_id);
    if (ret_device_id)
        *ret_device_id = TAKE_PTR(device_id);
    if (ret_access_token)
        *ret_access_token = TAKE_PTR(token);
    return 0;
}

int store_account_password_put(struct store *s, const char *instance_id, const char *user_id,
                               const char *password)
{
    _cleanup_free_ uint8_t *sealed = NULL;
    size_t sealed_len;
    int r;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(user_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(password, STORE_TOKEN_MAX, false)) < 0)
        return r;
    r = seal_seal(s->key, password, strlen(password), &sealed, &sealed_len);
    if (r < 0)
        return r;
    return store_write(s,
                       "INSERT INTO account_passwords (instance_id, user_id, password, created_at)"
                       "  VALUES (?1, ?2, ?3, CAST(strftime('%s', 'now') AS INTEGER))"
                       "  ON CONFLICT (instance_id) DO UPDATE SET user_id = excluded.user_id,"
                       "    password = excluded.password, created_at = excluded.created_at",
                       STORE_TEXT(instance_id), STORE_TEXT(user_id),
                       STORE_BLOB(sealed, sealed_len));
}

int store_account_password_get(struct store *s, const char *instance_id, char **ret_password)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    assert(s);
    r = store_select_by_id(s, "SELECT password FROM account_passwords WHERE instance_id = ?1",
                           instance_id, &q);
    if (r < 0)
        return r;
    if (sqlite3_column_type(q->stmt, 0) != SQLITE_BLOB)
        return -EBADMSG;
    return seal_open(s->key, sqlite3_column_blob(q->stmt, 0),
                     (size_t)sqlite3_column_bytes(q->stmt, 0), ret_password);
}

int store_sync_position_set(struct store *s, const char *instance_id, const char *next_batch,
                            const char *filter_id)
{
    int r, copied;

    assert(s);
    if ((r = store_check_line(instance_id, STORE_ID_MAX, false)) < 0 ||
        (r = store_check_line(next_batch, STORE_TOKEN_MAX, true)) < 0 ||
        (r = store_check_line(filter_id, STORE_TOKEN_MAX, true)) < 0)
        return r;

    r = store_write_one(s,
                        "UPDATE accounts SET next_batch = ?2, filter_id = ?3,"
                        "  updated_at = CAST(strftime('%s', 'now') AS INTEGER)"
                        "  WHERE instance_id = ?1",
                        STORE_TEXT(instance_id), STORE_TEXT(next_batch), STORE_TEXT(filter_id));
    if (r < 0)
        return r;
    /* The batch is over: the checkpoint its commit no longer runs, when one is due. A failed
     * one is tried again after the next batch; the position is saved either way. */
    copied = store_checkpoint(s);
    if (copied < 0)
        log_debug_errno(copied, "WAL checkpoint after a batch: %m");
    return 0;
}

int store_sync_position_get(struct store *s, const char *instance_id, char **ret_next_batch,
                            char **ret_filter_id)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    _cleanup_free_ char *next_batch = NULL, *filter_id = NULL;
    int r;

    assert(s);
    r = store_select_by_id(s, "SELECT next_batch, filter_id FROM accounts WHERE instance_id = ?1",
                           instance_id, &q);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 0, &next_batch);
    if (r >= 0)
        r = store_column_strdup(q->stmt, 1, &filter_id);
    if (r < 0)
        return r;

    if (ret_next_batch)
        *ret_next_batch = TAKE_PTR(next_batch);
    if (ret_filter_id)
        *ret_filter_id = TAKE_PTR(filter_id);
    return 0;
}
