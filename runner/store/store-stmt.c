/* The cache of prepared statements of one struct store: each fixed SQL text is parsed once
 * per connection, lent out to one user at a time, and reset (never finalized) between uses. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "store/store-internal.h"

/* A free copy of sql's statement, or NULL. Pointer comparison: the SQL is a constant. The
 * text comparison checks that promise, cheaply next to running the statement. */
static struct store_stmt *find_free(struct store *s, const char *sql)
{
    for (size_t i = 0; i < s->n_stmts; i++) {
        struct store_stmt *q = &s->stmts[i];

        if (q->sql == sql && !q->in_use) {
            assert(streq(sqlite3_sql(q->stmt), sql));
            return q;
        }
    }
    return NULL;
}

int store_stmt_get(struct store *s, const char *sql, struct store_stmt **ret)
{
    struct store_stmt *q;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc;

    assert(s);
    assert(sql);
    assert(ret);

    q = find_free(s, sql);
    if (!q) {
        /* The SQL is a fixed set of constants: more than the bound is a programming error. */
        assert(s->n_stmts < STORE_STMT_CACHE_MAX);
        if (s->n_stmts >= STORE_STMT_CACHE_MAX)
            return -ENOBUFS;
        /* PERSISTENT: the statement lives for the connection's lifetime, so SQLite takes
         * its memory from the heap rather than the small lookaside pool kept for
         * short-lived allocations. */
        rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
        if (rc != SQLITE_OK) {
            sqlite3_finalize(st);
            return store_errno(rc);
        }
        /* One statement per text: a second one after a ';' would never run. */
        assert(st && tail && *tail == '\0');
        q = &s->stmts[s->n_stmts++];
        *q = (struct store_stmt){.sql = sql, .stmt = st};
    }
    q->in_use = true;
    *ret = q;
    return 0;
}

void store_stmt_release(struct store_stmt *q)
{
    if (!q)
        return;
    assert(q->in_use);
    /* reset() repeats the last step's error, which its caller already returned. */
    (void)sqlite3_reset(q->stmt);
    (void)sqlite3_clear_bindings(q->stmt);
    q->in_use = false;
}

void store_stmt_cache_clear(struct store *s)
{
    for (size_t i = 0; i < s->n_stmts; i++) {
        assert(!s->stmts[i].in_use);
        sqlite3_finalize(s->stmts[i].stmt);
        s->stmts[i] = (struct store_stmt){0};
    }
    s->n_stmts = 0;
}
