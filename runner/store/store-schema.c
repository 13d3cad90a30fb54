/* bot.db's schema: the numbered migrations (PRAGMA user_version is how many have run) and
 * the key check stored with the first of them. A schema change is a new step at the end. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>

#include "store/store-internal.h"

/* The meta key holding the key check (store/seal.h). */
#define STORE_META_KEY_CHECK "key_check"

/* Step N (1-based) takes the schema from version N-1 to N. Never edit a released step:
 * databases out there have run it. Foreign keys tie per-instance rows to their instance
 * (so no orphan can be written); notifications do not, since they outlive instances. The
 * JSON columns are checked in C (util/json.h), not by CHECK (json_valid(...)): with the
 * schema untrusted (store.c), SQLite refuses json_valid() in a schema. */
static const char *const migrations[] = {
        /* 1: the initial schema. */
        "CREATE TABLE meta ("
        "  key   TEXT PRIMARY KEY NOT NULL,"
        "  value BLOB NOT NULL"
        ");"
        "CREATE TABLE instances ("
        "  id              TEXT PRIMARY KEY NOT NULL,"
        "  state           TEXT NOT NULL CHECK (state IN ('created', 'configured', 'enabled',"
        "                    'running', 'stopped', 'failed', 'restarting')),"
        "  state_since     INTEGER NOT NULL,"
        "  restart_count   INTEGER NOT NULL DEFAULT 0,"
        "  last_sync_at    INTEGER,"
        "  last_message_at INTEGER,"
        "  last_error      TEXT"
        ");"
        "CREATE TABLE accounts ("
        "  instance_id  TEXT PRIMARY KEY NOT NULL"
        "                 REFERENCES instances (id) ON DELETE CASCADE,"
        "  user_id      TEXT NOT NULL,"
        "  device_id    TEXT NOT NULL,"
        "  access_token BLOB NOT NULL," /* sealed: nonce || MAC || ciphertext */
        "  next_batch   TEXT,"
        "  filter_id    TEXT,"
        "  updated_at   INTEGER NOT NULL"
        ");"
        "CREATE TABLE plugins ("
        "  id         TEXT PRIMARY KEY NOT NULL,"
        "  version    TEXT,"
        "  sha256     TEXT,"
        "  state      TEXT NOT NULL CHECK (state IN ('uploaded', 'validated', 'rejected',"
        "               'loaded', 'disabled', 'active', 'trashed', 'deleted')),"
        "  reason     TEXT,"
        "  updated_at INTEGER NOT NULL"
        ");"
        "CREATE TABLE outbox ("
        "  txn_id      TEXT PRIMARY KEY NOT NULL,"
        "  instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
        "  room_id     TEXT NOT NULL,"
        "  event_type  TEXT NOT NULL,"
        "  content     TEXT NOT NULL,"
        "  created_at  INTEGER NOT NULL,"
        "  attempts    INTEGER NOT NULL DEFAULT 0"
        ");"
        "CREATE INDEX outbox_by_instance ON outbox (instance_id);"
        "CREATE TABLE handled_events ("
        "  instance_id TEXT NOT NULL REFERENCES instances (id) ON DELETE CASCADE,"
        "  event_id    TEXT NOT NULL,"
        "  handled_at  INTEGER NOT NULL,"
        "  PRIMARY KEY (instance_id, event_id)"
        ") WITHOUT ROWID;"
        "CREATE INDEX handled_events_by_age ON handled_events (handled_at);"
        "CREATE TABLE notifications ("
        "  id              INTEGER PRIMARY KEY,"
        "  timestamp       INTEGER NOT NULL,"
        "  source_instance TEXT,"
        "  severity        TEXT NOT NULL CHECK (severity IN ('ERROR', 'CRITICAL')),"
        "  message         TEXT NOT NULL,"
        "  context         TEXT"
        ");",
        /* 2: a password the runner made for an account it registers, sealed like tokens,
         * so the bot can log in again when its token is revoked. Kept apart from accounts,
         * whose row needs a device and a token: the password is stored before registering. */
        "CREATE TABLE account_passwords ("
        "  instance_id TEXT PRIMARY KEY NOT NULL"
        "                REFERENCES instances (id) ON DELETE CASCADE,"
        "  user_id     TEXT NOT NULL,"
        "  password    BLOB NOT NULL," /* sealed */
        "  created_at  INTEGER NOT NULL"
        ");",
        /* 3: the event an instance's plugin is handling, written before the plugin sees it
         * and cleared when the batch commits: one still there at start was in flight when
         * its worker died, and attempts counts how often (a poison event is skipped). */
        "CREATE TABLE dispatching ("
        "  instance_id TEXT PRIMARY KEY NOT NULL"
        "                REFERENCES instances (id) ON DELETE CASCADE,"
        "  event_id    TEXT NOT NULL,"
        "  attempts    INTEGER NOT NULL,"
        "  started_at  INTEGER NOT NULL"
        ");",
};

int store_schema_version(void)
{
    return (int)ELEMENTSOF(migrations);
}

int store_read_version(sqlite3 *db, int *ret)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(db, "PRAGMA user_version", &st);
    if (r < 0)
        return r;
    r = store_step_row(st);
    if (r < 0)
        return r;
    if (r == 0)
        return -EIO;
    *ret = sqlite3_column_int(st, 0);
    return 0;
}

/* Run once in a database's life, on the bare connection: not worth a cached statement. */
static int key_check_insert(sqlite3 *db, const struct seal_key *key)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    uint8_t check[SEAL_KEY_CHECK_BYTES];
    int r;

    seal_key_check(key, check);
    r = store_prepare(db, "INSERT INTO meta (key, value) VALUES (?1, ?2)", &st);
    if (r >= 0)
        r = store_bind_values(st, STORE_VALUES_(STORE_TEXT(STORE_META_KEY_CHECK),
                                                STORE_BLOB(check, sizeof(check))));
    if (r >= 0)
        r = store_step_done(st);
    return r;
}

int store_key_check_verify(sqlite3 *db, const struct seal_key *key)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    int r;

    r = store_prepare(db, "SELECT value FROM meta WHERE key = ?1", &st);
    /* No meta table at a version that has one: the schema was tampered with. */
    if (r < 0)
        return r == -EIO ? -EBADMSG : r;
    r = store_bind_text(st, 1, STORE_META_KEY_CHECK);
    if (r < 0)
        return r;
    r = store_step_row(st);
    if (r < 0)
        return r;
    if (r == 0 || sqlite3_column_type(st, 0) != SQLITE_BLOB)
        return -EBADMSG;
    return seal_key_verify(key, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
}

/* One step inside the write lock. The version is read again under the lock, so that two
 * processes opening a fresh database at once do not both run the same step: the second
 * finds the step done and moves on. */
static int migrate_one(sqlite3 *db, const struct seal_key *key, bool *ret_done)
{
    char pragma[64];
    int r, version;

    r = store_begin(db);
    if (r < 0)
        return r;
    _cleanup_(store_rollbackp) sqlite3 *txn = db;

    r = store_read_version(db, &version);
    if (r < 0)
        return r;
    if (version < 0 || version > store_schema_version())
        return -EPROTONOSUPPORT;
    if (version == store_schema_version()) {
        *ret_done = true;
        return 0;
    }

    r = store_exec(db, migrations[version]);
    if (r < 0)
        return r;
    /* The key check is born with the schema, in the same transaction: there is no moment
     * at which a database has tables but no record of its key. */
    if (version == 0) {
        r = key_check_insert(db, key);
        if (r < 0)
            return r;
    }
    /* PRAGMA takes no bound parameters; the number is ours, not input. */
    (void)snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
    r = store_exec(db, pragma);
    if (r < 0)
        return r;
    *ret_done = false;
    return store_commit(TAKE_PTR(txn));
}

int store_migrate(sqlite3 *db, const struct seal_key *key)
{
    /* Each pass runs one step or finds nothing to do: the bound is the step count. */
    for (size_t i = 0; i <= ELEMENTSOF(migrations); i++) {
        bool done = false;
        int r = migrate_one(db, key, &done);

        if (r < 0)
            return r;
        if (done)
            return 0;
    }
    return -EIO;
}
