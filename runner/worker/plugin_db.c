/* The plugin's own database, plugins/<instance-id>.db in the state directory (0600, in a
 * 0700 folder), and its schema: the plugin's numbered migrations run here, before start(),
 * all in one transaction, with PRAGMA user_version as the version. A failed step rolls them
 * all back, so the old schema stays and the instance fails with the step and SQLite's word. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

/* Steps a plugin may declare: far past any real schema's history, and a bound on a
 * descriptor read from plugin memory. */
#define PLUGIN_DB_MAX_MIGRATIONS 1000

static int open_file(struct worker *w, sqlite3 **ret)
{
    _cleanup_free_ char *dir = NULL, *path = NULL;
    _cleanup_close_ int fd = -EBADF;
    sqlite3 *db = NULL;

    if (asprintf(&dir, "%s/plugins", w->config->state_directory) < 0 ||
        asprintf(&path, "%s/%s.db", dir, w->inst->id) < 0)
        return -ENOMEM;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return negative_errno();
    /* Made 0600 before SQLite sees it, so there is no moment with a wider mode. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return negative_errno();
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL) !=
        SQLITE_OK) {
        sqlite3_close_v2(db);
        return -EIO;
    }
    sqlite3_busy_timeout(db, 5000);
    *ret = db;
    return 0;
}

static int user_version(sqlite3 *db, int *ret)
{
    sqlite3_stmt *st = NULL;
    int r = -EIO;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *ret = sqlite3_column_int(st, 0);
        r = 0;
    }
    sqlite3_finalize(st);
    return r;
}

static size_t count(const char *const *migrations)
{
    size_t n = 0;

    while (migrations && migrations[n] && n <= PLUGIN_DB_MAX_MIGRATIONS)
        n++;
    return n;
}

/* Steps from..n-1 and the version bump, in one transaction. */
static int migrate(struct worker *w, sqlite3 *db, const char *const *migrations, int from, int n)
{
    char bump[64];
    char *err = NULL;
    int step = from, r;

    link_database(w, "migrating", from);
    r = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err);
    for (; r == SQLITE_OK && step < n; step++)
        r = sqlite3_exec(db, migrations[step], NULL, NULL, &err);
    if (r == SQLITE_OK) {
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %d", n);
        r = sqlite3_exec(db, bump, NULL, NULL, &err);
    }
    if (r == SQLITE_OK)
        r = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
    if (r == SQLITE_OK) {
        log_info("The plugin's database is at schema version %d (was %d)", n, from);
        return 0;
    }
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    log_error("Migration %d of the plugin's database failed: %s; it stays at schema version %d",
              step, err ? err : sqlite3_errstr(r), from);
    sqlite3_free(err);
    return -EBADMSG;
}

int plugin_db_open(struct worker *w, const char *const *migrations)
{
    size_t n = count(migrations);
    sqlite3 *db = NULL;
    int version, r;

    if (n > PLUGIN_DB_MAX_MIGRATIONS)
        return log_error_errno(-E2BIG, "The plugin declares more than %d migrations",
                               PLUGIN_DB_MAX_MIGRATIONS);
    r = open_file(w, &db);
    if (r < 0)
        return log_error_errno(r, "Cannot open the plugin's database: %m");
    r = user_version(db, &version);
    if (r < 0) {
        sqlite3_close_v2(db);
        return log_error_errno(r, "Cannot read the plugin's database: it is not SQLite");
    }
    if (version > (int)n)
        r = log_error_errno(-EPROTO, "The plugin's database is at schema version %d, newer than "
                                     "the plugin's %zu migrations: an older plugin?",
                            version, n);
    else if (version < (int)n)
        r = migrate(w, db, migrations, version, (int)n);
    if (r < 0) {
        link_database(w, "failed", version);
        sqlite3_close_v2(db);
        return r;
    }
    link_database(w, "active", (int)n);
    w->plugin_db = db;
    return 0;
}

void plugin_db_close(struct worker *w)
{
    if (w->plugin_db)
        sqlite3_close_v2(w->plugin_db);
    w->plugin_db = NULL;
}
