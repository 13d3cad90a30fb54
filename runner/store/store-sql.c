/* The store's SQLite glue: result codes as errnos, statements with bound values (run through
 * the statement cache, store-stmt.c), transactions, and the checks every string passes. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "store/store-internal.h"
#include "util/json.h"
#include "util/utf8.h"

int store_errno(int rc)
{
    switch (rc) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return -EINVAL;
    }
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EPERM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return -EBADMSG;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_CONSTRAINT:
        return -EINVAL;
    case SQLITE_INTERRUPT:
        return -EINTR;
    default:
        return -EIO;
    }
}

int store_exec(sqlite3 *db, const char *sql)
{
    return store_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(st);
        return store_errno(rc);
    }
    *ret = st;
    return 0;
}

int store_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_DONE)
        return 0;
    /* A row from a statement meant to return none is a programming error. */
    assert(rc != SQLITE_ROW);
    return store_errno(rc);
}

int store_step_row(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_errno(rc);
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *value)
{
    if (!value)
        return store_errno(sqlite3_bind_null(st, idx));
    return store_errno(sqlite3_bind_text(st, idx, value, -1, SQLITE_STATIC));
}

static int bind_blob(sqlite3_stmt *st, int idx, const void *value, size_t len)
{
    /* Our blobs are sealed tokens and key checks, far below INT_MAX. */
    assert(len <= STORE_CONTENT_MAX);
    return store_errno(sqlite3_bind_blob(st, idx, value, (int)len, SQLITE_STATIC));
}

int store_bind_int64(sqlite3_stmt *st, int idx, int64_t value)
{
    return store_errno(sqlite3_bind_int64(st, idx, value));
}

static int bind_value(sqlite3_stmt *st, int idx, const struct store_value *v)
{
    switch (v->kind) {
    case STORE_VALUE_TEXT:
        return store_bind_text(st, idx, v->text);
    case STORE_VALUE_INT64:
        return store_bind_int64(st, idx, v->int64);
    case STORE_VALUE_BLOB:
        return bind_blob(st, idx, v->blob.data, v->blob.len);
    }
    /* Only the STORE_*() macros build values. */
    assert(false);
    return -EINVAL;
}

/* Parameters are numbered from 1: values[0] binds ?1. */
int store_bind_values(sqlite3_stmt *st, const struct store_value *values, size_t n)
{
    int r = 0;

    for (size_t i = 0; r >= 0 && i < n; i++)
        r = bind_value(st, (int)i + 1, &values[i]);
    return r;
}

int store_write_values(struct store *s, const char *sql, const struct store_value *values, size_t n)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    r = store_stmt_get(s, sql, &q);
    if (r >= 0)
        r = store_bind_values(q->stmt, values, n);
    if (r >= 0)
        r = store_step_done(q->stmt);
    return r;
}

int store_run(struct store *s, const char *sql)
{
    return store_write_values(s, sql, NULL, 0);
}

int store_write_one_values(struct store *s, const char *sql, const struct store_value *values,
                           size_t n)
{
    int r = store_write_values(s, sql, values, n);

    if (r < 0)
        return r;
    /* The count of the statement just run: resetting it does not reset the count. */
    return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int store_select_by_id(struct store *s, const char *sql, const char *id, struct store_stmt **ret)
{
    _cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;
    int r;

    r = store_check_line(id, STORE_ID_MAX, false);
    if (r < 0)
        return r;
    r = store_stmt_get(s, sql, &q);
    if (r >= 0)
        r = store_bind_text(q->stmt, 1, id);
    if (r >= 0)
        r = store_step_row(q->stmt);
    if (r < 0)
        return r;
    if (r == 0)
        return -ENOENT;
    *ret = TAKE_PTR(q);
    return 0;
}

int store_column_strdup(sqlite3_stmt *st, int col, char **ret)
{
    const unsigned char *text;
    char *copy;

    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        *ret = NULL;
        return 0;
    }
    text = sqlite3_column_text(st, col);
    if (!text)
        return -ENOMEM;
    copy = strdup((const char *)text);
    if (!copy)
        return -ENOMEM;
    *ret = copy;
    return 0;
}

int store_check_text(const char *value, size_t max, bool optional)
{
    size_t len;

    if (!value)
        return optional ? 0 : -EINVAL;
    /* strnlen: a hostile unterminated-looking string is not read past max + 1. */
    len = strnlen(value, max + 1);
    if (len > max)
        return -E2BIG;
    if (len == 0 || !utf8_is_valid_text(value, len))
        return -EINVAL;
    return 0;
}

int store_check_line(const char *value, size_t max, bool optional)
{
    int r = store_check_text(value, max, optional);

    if (r < 0 || !value)
        return r;
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return -EINVAL;
    return 0;
}

int store_check_json(const char *value, size_t max, bool optional)
{
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    size_t len;
    int r;

    r = store_check_text(value, max, optional);
    if (r < 0 || !value)
        return r;
    /* Every token takes at least one byte, so len bounds the token count. */
    len = strlen(value);
    r = json_parse(value, len, len, &doc);
    if (r == -ENOMEM)
        return r;
    return r < 0 ? -EINVAL : 0;
}

bool store_name_in(const char *value, const char *const *names)
{
    if (!value)
        return false;
    for (; *names; names++)
        if (streq(value, *names))
            return true;
    return false;
}

int store_begin(sqlite3 *db)
{
    return store_exec(db, "BEGIN IMMEDIATE");
}

int store_commit(sqlite3 *db)
{
    int r = store_exec(db, "COMMIT");

    if (r < 0 && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return r;
}

/* Nesting: the outermost level is BEGIN IMMEDIATE / COMMIT, inner levels are savepoints, so
 * a function that needs its own transaction (outbox_add counts and inserts) still works
 * inside the worker's per-batch transaction. These statements run several times per handled
 * event, so they are cached like the rest. */
int store_transaction_begin(struct store *s)
{
    int r = store_run(s, s->txn_depth ? "SAVEPOINT nested" : "BEGIN IMMEDIATE");

    if (r >= 0)
        s->txn_depth++;
    return r;
}

/* Undo the innermost savepoint and drop it; RELEASE only once the undo is done, or the
 * savepoint's writes would land in the enclosing level. */
static void savepoint_undo(struct store *s)
{
    if (store_run(s, "ROLLBACK TO nested") >= 0)
        (void)store_run(s, "RELEASE nested");
}

int store_transaction_commit(struct store *s)
{
    int r;

    assert(s->txn_depth > 0);
    if (s->txn_depth > 1) {
        r = store_run(s, "RELEASE nested");
        if (r < 0)
            savepoint_undo(s);
    } else {
        r = store_run(s, "COMMIT");
        /* A failed COMMIT may leave the transaction open: roll it back, as store_commit(). */
        if (r < 0 && !sqlite3_get_autocommit(s->db))
            (void)store_run(s, "ROLLBACK");
    }
    s->txn_depth--;
    return r;
}

void store_transaction_rollback(struct store *s)
{
    assert(s->txn_depth > 0);
    if (s->txn_depth > 1)
        savepoint_undo(s);
    else if (!sqlite3_get_autocommit(s->db))
        (void)store_run(s, "ROLLBACK");
    s->txn_depth--;
}

void store_transaction_abortp(struct store **txn)
{
    if (*txn)
        store_transaction_rollback(*txn);
}

void store_rollbackp(sqlite3 **txn)
{
    if (*txn && !sqlite3_get_autocommit(*txn))
        (void)sqlite3_exec(*txn, "ROLLBACK", NULL, NULL, NULL);
}
