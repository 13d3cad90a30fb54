/* Shared by the store's own files only: the store handle, its cache of prepared statements
 * and the small SQLite helpers (error mapping, bound values, transactions, input checks). */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/store.h"
#include "util/macro.h"

/* SQLite's page cache per connection, in KiB (allocated page by page as it fills: see
 * configure_sqlite() in store.c). Its default, 2 000 KiB, fills as the handled
 * marks accumulate and then stays resident for the worker's life (the RSS grew by 1.4 MiB
 * over the first 40 000 events of bench/event-cost). bot.db is small and what a handled
 * event touches is a handful of pages: the instance's row, the outbox's few rows, the right
 * edge of the handled marks' index, the b-trees' upper levels. A page that falls out of the
 * cache is read again from the OS's page cache (a copy, no disk access), so 512 KiB (about
 * 120 pages of 4 KiB: SQLite counts each page's header in the budget) costs nothing
 * measurable per event (docs/benchmarks.md). Set on both of store_open()'s connections;
 * here so that the tests can check it. */
#define STORE_PAGE_CACHE_KIB 512

/* WAL checkpoints, off the commit. SQLite's default runs a checkpoint inside the commit that
 * takes the WAL past 1 000 frames (pages), with an fdatasync() of the WAL and one of bot.db:
 * 2.5 to 3 ms in the middle of a /sync batch's dispatch, the p99 of every event of that batch
 * (docs/benchmarks.md). store_open() replaces that hook with store_wal_hook(), which only
 * counts, and store_checkpoint() copies the WAL when STORE_CHECKPOINT_FRAMES have gathered:
 * the worker reaches it once per batch, after the batch's commit and after its replies were
 * queued (store_sync_position_set()). STORE_CHECKPOINT_FRAMES is SQLite's own threshold, so
 * the WAL stays the size it always was. A process that never saves a sync position (the
 * supervisor) still bounds the WAL: past STORE_CHECKPOINT_FORCE_FRAMES (40 MiB of 4 KiB
 * pages, far past any batch) a commit checkpoints inline, as SQLite would. */
#define STORE_CHECKPOINT_FRAMES       1000
#define STORE_CHECKPOINT_FORCE_FRAMES 10000

/* Statements the cache may hold for one connection. The store's SQL is a fixed set of string
 * constants (29 today, the transactions' own included); a second copy of one is made
 * only while the first is lent out (a listing's callback listing the same thing again).
 * Reaching this bound means a statement is being built at run time, a programming error. */
#define STORE_STMT_CACHE_MAX 64

/* One cached statement: prepared once (SQLITE_PREPARE_PERSISTENT), lent out by
 * store_stmt_get() and given back, reset and cleared of its bindings, by
 * store_stmt_release(). */
struct store_stmt {
    const char *sql; /* the key: the SQL constant's address */
    sqlite3_stmt *stmt;
    bool in_use;
};

struct store {
    sqlite3 *db;
    struct seal_key *key;
    unsigned txn_depth; /* open store_transaction_begin() levels */
    struct store_stmt stmts[STORE_STMT_CACHE_MAX];
    size_t n_stmts;
    int wal_frames; /* the WAL's frames after this connection's last commit or checkpoint */
};

/* The WAL hook store_open() installs on the read-write connection (sqlite3_wal_hook(), which
 * also turns SQLite's auto-checkpoint off: the two share one slot): called after every commit
 * with the WAL's size in frames; records it in the struct store (userdata) and checkpoints
 * only past STORE_CHECKPOINT_FORCE_FRAMES. Here so that bench/event-cost can put it back
 * after measuring SQLite's own hook. */
int store_wal_hook(void *userdata, sqlite3 *db, const char *name, int frames);

/* Cleanup for a transaction opened with store_transaction_begin():
 * `_cleanup_(store_transaction_abortp) struct store *txn = s;` rolls back on every early
 * return, `r = store_transaction_commit(TAKE_PTR(txn));` commits. */
void store_transaction_abortp(struct store **txn);

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize)
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, sqlite3_close_v2)

/* An SQLite result code (extended codes on) as a negative errno. Constraint failures map by
 * kind: unique/primary key -EEXIST, foreign key -ENOENT (the row it refers to is missing),
 * check/not null -EINVAL; corruption -EBADMSG. */
int store_errno(int rc);

/* Run fixed SQL (never built from input: bind values for that). One-shot, for what runs once
 * per open (checks, pragmas, migrations); everything a store function runs per call goes
 * through the cache below. */
int store_exec(sqlite3 *db, const char *sql);
/* Prepare a statement to run once and finalize (sqlite3_finalizep). Same use as store_exec(). */
int store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret);

/* Lend out the cached statement for sql, preparing it on first use. sql must be a string
 * constant: its address is the cache key, so the same address must always hold the same
 * text. Give it back with store_stmt_release(), best through the cleanup:
 * `_cleanup_(store_stmt_releasep) struct store_stmt *q = NULL;`. A statement left un-reset
 * would keep a read transaction open (the WAL could not be checkpointed past it). */
int store_stmt_get(struct store *s, const char *sql, struct store_stmt **ret);
/* Reset the statement and clear its bindings (the bound text is the caller's, and about to
 * be freed), then mark it free for the next user. NULL is a no-op. */
void store_stmt_release(struct store_stmt *q);
static inline void store_stmt_releasep(struct store_stmt **q)
{
    store_stmt_release(*q);
}
/* Finalize every cached statement: before the connection closes. */
void store_stmt_cache_clear(struct store *s);
/* Step a statement that returns no rows. */
int store_step_done(sqlite3_stmt *st);
/* Step once: 1 when a row is ready, 0 when there are no more, negative errno on error. */
int store_step_row(sqlite3_stmt *st);

/* Bind text (NULL binds SQL NULL) or an integer; text must outlive the step. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *value);
int store_bind_int64(sqlite3_stmt *st, int idx, int64_t value);
/* One value for a statement's parameter. Build it with STORE_TEXT() (NULL binds SQL NULL),
 * STORE_INT64() or STORE_BLOB(), so the compiler checks the value's type against its kind.
 * Text and blobs are bound without a copy: they must outlive the step. */
enum store_value_kind {
    STORE_VALUE_TEXT,
    STORE_VALUE_INT64,
    STORE_VALUE_BLOB,
};
struct store_value {
    enum store_value_kind kind;
    union {
        const char *text;
        int64_t int64;
        struct {
            const void *data;
            size_t len;
        } blob;
    };
};
#define STORE_TEXT(v)    ((struct store_value){.kind = STORE_VALUE_TEXT, .text = (v)})
#define STORE_INT64(v)   ((struct store_value){.kind = STORE_VALUE_INT64, .int64 = (v)})
#define STORE_BLOB(p, n) ((struct store_value){.kind = STORE_VALUE_BLOB, .blob = {(p), (n)}})
/* The macros' value list as an array and its length (at least one value). */
#define STORE_VALUES_(...)                                                                         \
    (const struct store_value[]){__VA_ARGS__},                                                     \
            ELEMENTSOF(((const struct store_value[]){__VA_ARGS__}))

/* Bind values[0] to ?1, values[1] to ?2, ... */
int store_bind_values(sqlite3_stmt *st, const struct store_value *values, size_t n);

/* Run one cached statement that returns no rows, its values bound to ?1, ?2, ... in order:
 * `store_write(s, "DELETE FROM t WHERE a = ?1 AND b < ?2", STORE_TEXT(a), STORE_INT64(b))`.
 * sqlite3_changes(s->db) then counts the rows it changed. */
#define store_write(s, sql, ...) store_write_values((s), (sql), STORE_VALUES_(__VA_ARGS__))
int store_write_values(struct store *s, const char *sql, const struct store_value *values,
                       size_t n);
/* As store_write(), for a statement without parameters (BEGIN, COMMIT, ...). */
int store_run(struct store *s, const char *sql);
/* As store_write(), for a write by key that must change its row: -ENOENT when it changed
 * none (no row has that key). */
#define store_write_one(s, sql, ...) store_write_one_values((s), (sql), STORE_VALUES_(__VA_ARGS__))
int store_write_one_values(struct store *s, const char *sql, const struct store_value *values,
                           size_t n);

/* Check id as every id is checked (store_check_line(), STORE_ID_MAX), take sql's cached
 * statement, bind the id to ?1 and step to the one row it selects: -ENOENT when there is
 * none. On success *ret is the lent statement, its columns ready to read: give it back with
 * store_stmt_release(). */
int store_select_by_id(struct store *s, const char *sql, const char *id, struct store_stmt **ret);

/* Copy a text column; SQL NULL gives *ret = NULL. */
int store_column_strdup(sqlite3_stmt *st, int col, char **ret);

/* A caller's text (messages, reasons): NULL is -EINVAL unless optional (then 0); empty or
 * not UTF-8 text (utf8_is_valid_text(): no NUL, no C0 control but tab, CR, LF) is -EINVAL;
 * longer than max bytes is -E2BIG. */
int store_check_text(const char *value, size_t max, bool optional);
/* As store_check_text(), and one line: no control character at all (not even tab or
 * newline, nor DEL). For ids and tokens, which end up in log lines and URLs. */
int store_check_line(const char *value, size_t max, bool optional);
/* As store_check_text(), and the text must be one JSON value (RFC 8259, util/json.h):
 * -EINVAL when it is not. */
int store_check_json(const char *value, size_t max, bool optional);
/* value is one of the NULL-terminated names. */
bool store_name_in(const char *value, const char *const *names);

/* BEGIN IMMEDIATE: take the write lock up front, so a transaction never has to upgrade a
 * read lock and deadlock against another process doing the same. For the migrations, on the
 * bare connection; a struct store's transactions are store_transaction_begin()'s. */
int store_begin(sqlite3 *db);
/* COMMIT; on failure the transaction is rolled back, so the caller only reports. */
int store_commit(sqlite3 *db);
/* Cleanup for an open transaction: `_cleanup_(store_rollbackp) sqlite3 *txn = db;` and
 * `r = store_commit(TAKE_PTR(txn));` rolls back on every early return. */
void store_rollbackp(sqlite3 **txn);

/* Schema (store-schema.c): apply the migrations the database lacks, each in its own
 * transaction; the first also stores the key check. */
int store_migrate(sqlite3 *db, const struct seal_key *key);
/* PRAGMA user_version. */
int store_read_version(sqlite3 *db, int *ret);
/* Compare the key check stored in meta with key: -EKEYREJECTED when different, -EBADMSG
 * when missing (a database at version >= 1 always has one). */
int store_key_check_verify(sqlite3 *db, const struct seal_key *key);
