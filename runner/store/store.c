/* Opening bot.db: the state directory's and the file's modes and owner, the read-only checks
 * that refuse a corrupt, too new or wrongly keyed database without touching it, then the
 * read-write connection (WAL) and the migrations. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store-internal.h"
#include "util/log.h"

#define STORE_DB_NAME   "bot.db"
#define STORE_DIR_MODE  0700
#define STORE_FILE_MODE 0600

/* How long a statement waits for another process's write lock before failing with -EBUSY.
 * Every worker writes to bot.db, but only in short transactions (a row or two, well under a
 * millisecond plus a WAL append), so a wait of seconds means something is wedged; 5 s rides
 * out a checkpoint on a slow disk and still fails well inside systemd's watchdog interval. */
#define STORE_BUSY_TIMEOUT_MS 5000

static int refuse(int error, const char *why, const char *path)
{
    log_error("%s: %s; refusing to use it", path, why);
    return error;
}

/* The directory must be ours and closed to everyone else: bot.db's 0600 protects nothing
 * if another user can rename or replace it. */
static int check_dir(const struct stat *st, const char *path)
{
    if (!S_ISDIR(st->st_mode))
        return refuse(-EPERM, "state directory is not a directory", path);
    if (st->st_uid != geteuid())
        return refuse(-EPERM, "state directory is owned by another user", path);
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return refuse(-EPERM, "state directory is writable by group or others", path);
    return 0;
}

/* Create the directory if missing (its parent must exist: the state directory is
 * provisioned by systemd or the operator, and a typo should not grow a tree) and open it
 * without following a symlink, so every later check and file is relative to this fd. */
static int open_state_dir(const char *path, int *ret_fd)
{
    _cleanup_close_ int fd = -EBADF;
    struct stat st;
    int r;

    if (mkdir(path, STORE_DIR_MODE) >= 0) {
        /* mkdir's mode passed through the umask; set the exact mode we promise. */
        if (chmod(path, STORE_DIR_MODE) < 0)
            return -errno;
    } else if (errno != EEXIST)
        return -errno;

    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return refuse(-EPERM, "state directory is a symlink", path);
        if (errno == ENOTDIR)
            return refuse(-EPERM, "state directory is not a directory", path);
        return -errno;
    }
    if (fstat(fd, &st) < 0)
        return -errno;
    r = check_dir(&st, path);
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* An existing bot.db (or its -wal/-shm companion, which hold the same data) must be a
 * regular file of ours; a mode wider than 0600 is narrowed, not refused: it is the state an
 * old install or a careless copy leaves, and narrowing it is always safe. */
static int check_file(int dir_fd, const char *dir, const char *name, bool must_exist)
{
    _cleanup_close_ int fd = -EBADF;
    char path[PATH_MAX];
    struct stat st;

    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    /* O_NONBLOCK: a FIFO planted under the name must not hang us before fstat sees it. */
    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && !must_exist)
            return 0;
        if (errno == ELOOP)
            return refuse(-EPERM, "is a symlink", path);
        return -errno;
    }
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return refuse(-EPERM, "is not a regular file", path);
    if (st.st_uid != geteuid())
        return refuse(-EPERM, "is owned by another user", path);
    if (st.st_mode & 0077) {
        log_warning("%s: mode %04o is wider than %04o, tightening it", path,
                    (unsigned)(st.st_mode & 07777), (unsigned)STORE_FILE_MODE);
        if (fchmod(fd, STORE_FILE_MODE) < 0)
            return -errno;
    }
    return 0;
}

/* Create bot.db ourselves, before SQLite sees it: O_EXCL with mode 0600 means the file
 * never exists with a wider mode, whatever the umask (fchmod undoes a narrowing umask;
 * SQLite gives -wal and -shm the main file's mode). A -wal left beside it by a deleted
 * bot.db is no danger: SQLite deletes a WAL it finds beside an empty database file. */
static int prepare_db_file(int dir_fd, const char *dir)
{
    _cleanup_close_ int fd = -EBADF;
    int r;

    fd = openat(dir_fd, STORE_DB_NAME, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                STORE_FILE_MODE);
    if (fd >= 0)
        return fchmod(fd, STORE_FILE_MODE) < 0 ? -errno : 0;
    if (errno != EEXIST)
        return -errno;

    r = check_file(dir_fd, dir, STORE_DB_NAME, true);
    if (r < 0)
        return r;
    r = check_file(dir_fd, dir, STORE_DB_NAME "-wal", false);
    if (r < 0)
        return r;
    return check_file(dir_fd, dir, STORE_DB_NAME "-shm", false);
}

/* Settings for both connections. Defensive mode and an untrusted schema keep a hostile
 * database file from reaching SQL functions with side effects through its schema. */
static int configure(sqlite3 *db)
{
    int rc;

    rc = sqlite3_extended_result_codes(db, 1);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    return store_errno(rc);
}

/* For both connections too, but apart from configure(): the PRAGMA reads the database's
 * header, so on a file that is not a database it fails, and quick_check() reports that. */
static int set_cache_size(sqlite3 *db)
{
    char pragma[64];

    /* A negative cache_size is in KiB, a positive one in pages. PRAGMA takes no bound
     * parameter; the number is ours. */
    (void)snprintf(pragma, sizeof(pragma), "PRAGMA cache_size = -%d", STORE_PAGE_CACHE_KIB);
    return store_exec(db, pragma);
}

static int open_db(const char *path, int flags, sqlite3 **ret)
{
    _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
    int rc, r;

    /* No SQLITE_OPEN_CREATE: prepare_db_file() made the file. NOFOLLOW: as for the fd. */
    rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOFOLLOW, NULL);
    if (rc != SQLITE_OK)
        return store_errno(rc);
    r = configure(db);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(db);
    return 0;
}

/* PRAGMA quick_check reads every page and checks the b-trees (without the slower index
 * cross-check of integrity_check); its first row is "ok" or the first problem found. A file
 * that is not SQLite at all fails earlier with SQLITE_NOTADB. */
static int quick_check(sqlite3 *db, const char *path)
{
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    const char *result;
    int r;

    /* The bound first: the check reads every page, and what a larger cache held would stay
     * on the heap after this connection closes. */
    r = set_cache_size(db);
    if (r >= 0)
        r = store_prepare(db, "PRAGMA quick_check(1)", &st);
    if (r >= 0)
        r = store_step_row(st);
    if (r == -EBADMSG) {
        log_error("%s: not a valid SQLite database (%s); refusing to open it. Restore it from "
                  "a backup or move it aside to start afresh.",
                  path, sqlite3_errmsg(db));
        return r;
    }
    if (r < 0)
        return log_error_errno(r, "%s: cannot check the database (%s): %m", path,
                               sqlite3_errmsg(db));
    result = r > 0 ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!result || !streq(result, "ok")) {
        log_error("%s: database is corrupt (%s); refusing to open it. Restore it from a "
                  "backup or move it aside to start afresh.",
                  path, result ?: "no result");
        return -EBADMSG;
    }
    return 0;
}

/* Everything that could make us refuse the database, on a read-only connection so that
 * a refusal leaves the main file exactly as it was (SQLite may create -wal and -shm beside
 * it to read a WAL database, but a reader never checkpoints into the main file). */
static int check_db_readonly(const char *path, const struct seal_key *key)
{
    _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
    int r, version;

    r = open_db(path, SQLITE_OPEN_READONLY, &db);
    if (r < 0)
        return r;
    /* Belt and braces: a read-only connection cannot checkpoint, but say so. */
    (void)sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);

    r = quick_check(db, path);
    if (r < 0)
        return r;
    r = store_read_version(db, &version);
    if (r < 0)
        return r;
    if (version < 0 || version > store_schema_version()) {
        log_error("%s: schema version %d is newer than this botrunner knows (%d); refusing "
                  "to open it. Was botrunner downgraded?",
                  path, version, store_schema_version());
        return -EPROTONOSUPPORT;
    }
    /* Version 0 is a database we have not set up yet: it has no key check to compare. */
    if (version == 0)
        return 0;
    r = store_key_check_verify(db, key);
    if (r == -EKEYREJECTED)
        log_error("%s: the secret key is not the one this database was created with; "
                  "refusing to open it (its tokens could not be unsealed)",
                  path);
    else if (r == -EBADMSG)
        log_error("%s: database has no key check; refusing to open it", path);
    return r;
}

/* WAL lets every worker read while one writes, and a crash never leaves a half-written
 * page. synchronous=NORMAL in WAL mode syncs at checkpoints, not at every commit: a commit
 * is in the WAL (the OS has it) before it returns, so a crashed process, the failure we
 * guard against most, loses nothing; a power cut may lose the last commits, but the
 * database stays consistent, and since the WAL loses only a tail, "handled" marks and the
 * sync position saved after them roll back together (those events are handled again, their
 * sends deduplicated by the outbox's transaction ids). FULL would cost an fsync per handled
 * event. */
static int open_db_readwrite(const char *path, sqlite3 **ret)
{
    _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
    _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
    const char *mode;
    int r;

    r = open_db(path, SQLITE_OPEN_READWRITE, &db);
    if (r < 0)
        return r;

    r = store_prepare(db, "PRAGMA journal_mode = WAL", &st);
    if (r >= 0)
        r = store_step_row(st);
    if (r < 0)
        return r;
    mode = r > 0 ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (!mode || !streq(mode, "wal")) {
        log_error("%s: cannot switch to WAL mode (got %s)", path, mode ?: "nothing");
        return -EOPNOTSUPP;
    }

    r = store_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON");
    if (r >= 0)
        r = set_cache_size(db);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(db);
    return 0;
}

/* One PASSIVE checkpoint and what it leaves: the frames that a reader's snapshot still
 * needed wait for the next one. Once everything is copied, the next commit starts the WAL
 * over from its beginning and its hook counts from zero again. */
static int checkpoint(struct store *s)
{
    int log_frames = 0, copied = 0, rc;

    rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    if (rc != SQLITE_OK)
        return store_errno(rc);
    s->wal_frames = log_frames > copied ? log_frames - copied : 0;
    return copied;
}

int store_wal_hook(void *userdata, sqlite3 *db, const char *name, int frames)
{
    struct store *s = userdata;

    (void)db;
    (void)name;
    s->wal_frames = frames;
    /* The bound for a process that never reaches store_checkpoint(); inside the hook, as
     * SQLite's own auto-checkpoint runs. A busy checkpointer elsewhere is doing the work. */
    if (frames >= STORE_CHECKPOINT_FORCE_FRAMES)
        (void)checkpoint(s);
    return SQLITE_OK;
}

int store_checkpoint(struct store *s)
{
    assert(s);
    /* Inside a transaction a checkpoint cannot run (and would be on the dispatch path). */
    if (s->wal_frames < STORE_CHECKPOINT_FRAMES || s->txn_depth > 0)
        return 0;
    return checkpoint(s);
}

static int open_once(const char *state_dir, const void *secret_key, size_t key_len,
                     struct store **ret)
{
    _cleanup_(seal_key_freep) struct seal_key *key = NULL;
    _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
    _cleanup_close_ int dir_fd = -EBADF;
    _cleanup_free_ char *path = NULL;
    struct store *s;
    int r;

    assert(state_dir);
    assert(ret);

    /* Absolute: the path is also handed to SQLite, where a relative one would depend on
     * the working directory and one starting with "file:" could be read as a URI. */
    if (state_dir[0] != '/')
        return -EINVAL;
    if (strlen(state_dir) + 1 + sizeof(STORE_DB_NAME "-wal") > PATH_MAX)
        return -ENAMETOOLONG;
    r = seal_key_new(secret_key, key_len, &key);
    if (r < 0)
        return r;
    if (asprintf(&path, "%s/%s", state_dir, STORE_DB_NAME) < 0)
        return -ENOMEM;

    r = open_state_dir(state_dir, &dir_fd);
    if (r < 0)
        return r;
    r = prepare_db_file(dir_fd, state_dir);
    if (r < 0)
        return r;
    r = check_db_readonly(path, key);
    if (r < 0)
        return r;

    r = open_db_readwrite(path, &db);
    if (r < 0)
        return r;
    r = store_migrate(db, key);
    if (r < 0)
        return r;
    /* Again, on this connection: another process may have created the database between
     * our read-only check (which saw version 0) and the migration (which found it done). */
    r = store_key_check_verify(db, key);
    if (r < 0)
        return r;

    s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    *s = (struct store){
            .db = TAKE_PTR(db),
            .key = TAKE_PTR(key),
    };
    /* In place of SQLite's auto-checkpoint: see STORE_CHECKPOINT_FRAMES. */
    (void)sqlite3_wal_hook(s->db, store_wal_hook, s);
    *ret = s;
    return 0;
}

struct store *store_close(struct store *s)
{
    if (!s)
        return NULL;
    /* Finalized first: a connection with statements left closes only when they are. The
     * last connection to close checkpoints the WAL into the main file. */
    store_stmt_cache_clear(s);
    (void)sqlite3_close_v2(s->db);
    seal_key_free(s->key);
    free(s);
    return NULL;
}

/* SQLite's page cache, process-wide: no bulk allocation up front. By default each connection's
 * cache takes 20 pages at once from the heap the first time it reads (about 87 KiB: 4 KiB pages
 * and their headers), and writes a header into every slot, so all of it is resident whether
 * the pages are used or not; the read-only check connection's bulk, freed when it closes,
 * stays resident in the heap too. Without it, pages are allocated one at a time as the cache
 * fills, up to STORE_PAGE_CACHE_KIB as before. It must be set before SQLite initialises, which
 * the first connection does: store_open() sets it once per process (a process that used SQLite
 * before keeps the default; sqlite3_config() then refuses, and nothing else changes). */
static void configure_sqlite(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

/* Several processes open bot.db at once when the fleet starts, and SQLite can answer
 * SQLITE_BUSY outside its busy handler while another connection is opening the file (seen
 * in the fleet tests): the whole open is tried again, a bounded number of times. */
#define STORE_OPEN_TRIES    10u
#define STORE_OPEN_RETRY_MS 200u

int store_open(const char *state_dir, const void *secret_key, size_t key_len, struct store **ret)
{
    static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;
    int r;

    (void)pthread_once(&sqlite_configured, configure_sqlite);
    for (unsigned attempt = 1;; attempt++) {
        r = open_once(state_dir, secret_key, key_len, ret);
        if (r != -EBUSY || attempt >= STORE_OPEN_TRIES)
            return r;
        (void)usleep(STORE_OPEN_RETRY_MS * 1000);
    }
}
