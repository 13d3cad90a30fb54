/* Unit tests for runner/store: opening bot.db safely (modes, owner, symlinks, corruption,
 * schema version, secret key, each refusal leaving the file untouched), migrations, every
 * record API's happy and error paths, and the statement cache, the page cache bound and the
 * WAL checkpoints (through the store's internal header), in a fresh temporary directory per
 * test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "store/seal.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "util/log.h"

#define KEY_A "0123456789abcdef0123456789abcdef-key-a"
#define KEY_B "0123456789abcdef0123456789abcdef-key-b"
#define TOKEN "syt_aW5zdGFncmFt_TopSecretAccessToken_1x2y3z"
#define USER  "@instagram-bot:clarun.xyz"
/* Files compared byte for byte are small test databases; the bound only stops a runaway. */
#define FILE_READ_MAX (16 * 1024 * 1024)

struct fixture {
    char base[PATH_MAX]; /* the mkdtemp directory, removed afterwards */
    char dir[PATH_MAX];  /* base/state: the state directory (not created by the fixture) */
    char db[PATH_MAX];   /* dir/bot.db */
};

static void path_join(char *buf, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(buf, cap, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < cap);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    strcpy(f->base, "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->base));
    path_join(f->dir, sizeof(f->dir), f->base, "state");
    path_join(f->db, sizeof(f->db), f->dir, "bot.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    log_set_observer(NULL, NULL);
    /* A test may leave the state directory unwritable or world-writable: open it up so the
     * walk can delete what is inside. */
    (void)chmod(f->dir, 0700);
    assert_int_equal(fixture_rmtree(f->base), 0);
    free(f);
    return 0;
}

static struct store *open_ok(const struct fixture *f, const char *key)
{
    struct store *s = NULL;

    assert_int_equal(store_open(f->dir, key, strlen(key), &s), 0);
    assert_non_null(s);
    return s;
}

static int open_with(const struct fixture *f, const char *key)
{
    struct store *s = NULL;
    int r = store_open(f->dir, key, strlen(key), &s);

    if (r < 0)
        assert_null(s);
    store_close(s);
    return r;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static void read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
    _cleanup_fclose_ FILE *file = fopen(path, "re");
    uint8_t *buf = malloc(FILE_READ_MAX);
    size_t len;

    assert_non_null(file);
    assert_non_null(buf);
    len = fread(buf, 1, FILE_READ_MAX, file);
    assert_true(len < FILE_READ_MAX);
    *ret = buf;
    *ret_len = len;
}

/* The file as a refusal must leave it: same inode, size, mtime and bytes. */
struct snapshot {
    struct stat st;
    uint8_t *bytes;
    size_t len;
};

static void snapshot_take(const char *path, struct snapshot *ret)
{
    assert_int_equal(stat(path, &ret->st), 0);
    read_file(path, &ret->bytes, &ret->len);
}

static void snapshot_assert_same(const char *path, struct snapshot *before)
{
    struct snapshot after;

    snapshot_take(path, &after);
    assert_int_equal(after.st.st_ino, before->st.st_ino);
    assert_int_equal(after.st.st_size, before->st.st_size);
    assert_int_equal(after.st.st_mtim.tv_sec, before->st.st_mtim.tv_sec);
    assert_int_equal(after.st.st_mtim.tv_nsec, before->st.st_mtim.tv_nsec);
    assert_int_equal(after.len, before->len);
    assert_memory_equal(after.bytes, before->bytes, before->len);
    free(after.bytes);
    free(before->bytes);
}

/* Opening with key must fail with error and leave the file at path as it was. */
static void assert_open_refused_unchanged(const struct fixture *f, const char *path,
                                          const char *key, int error)
{
    struct snapshot before;

    snapshot_take(path, &before);
    assert_int_equal(open_with(f, key), error);
    snapshot_assert_same(path, &before);
}

/* Run fixed SQL on the database behind the store's back, as an attacker or a newer binary
 * would. */
static void raw_exec(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static int64_t raw_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t value;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return value;
}

/* Put the database back in rollback-journal mode, as a copy made with other tools may be:
 * then opening it read-write would rewrite its header (to WAL mode) at once, so only a
 * refusal made before any read-write open leaves it unchanged. */
static void rollback_journal_mode(const struct fixture *f)
{
    raw_exec(f->db, "PRAGMA journal_mode = DELETE");
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_journal_mode"
                                    "  WHERE journal_mode = 'delete'"),
                     1);
}

/* A store with one instance and enough handled events for the file to span many pages,
 * closed again. */
static void make_db_with_events(const struct fixture *f, const char *key)
{
    struct store *s = open_ok(f, key);
    char event[64];

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    for (int i = 0; i < 2000; i++) {
        (void)snprintf(event, sizeof(event), "$event-%04d:clarun.xyz", i);
        assert_int_equal(store_event_mark_handled(s, "bot-1", event, i), 0);
    }
    store_close(s);
}

/* A store with one instance and its account, closed again. */
static void make_db_with_account(const struct fixture *f, const char *key)
{
    struct store *s = open_ok(f, key);

    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 100), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "DEVICE1", TOKEN), 0);
    store_close(s);
}

struct captured {
    char text[1024];
};

static void capture(int priority, const char *message, void *userdata)
{
    struct captured *c = userdata;

    (void)priority;
    (void)snprintf(c->text + strlen(c->text), sizeof(c->text) - strlen(c->text), "%s\n", message);
}

/* --- opening: modes, owner, symlinks --- */

static void test_fresh_create_modes(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 8];
    struct store *s;
    mode_t old;

    /* A umask that would narrow both modes: the store must still set them exactly. */
    old = umask(0377);
    s = open_ok(f, KEY_A);
    umask(old);
    assert_int_equal(mode_of(f->dir), 0700);
    assert_int_equal(mode_of(f->db), 0600);
    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    /* The WAL companions carry the same data and must be as closed as the file. */
    (void)snprintf(path, sizeof(path), "%s-wal", f->db);
    assert_int_equal(mode_of(path), 0600);
    (void)snprintf(path, sizeof(path), "%s-shm", f->db);
    assert_int_equal(mode_of(path), 0600);
    store_close(s);
}

static void test_reopen_keeps_data(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *user = NULL, *device = NULL;
    _cleanup_plaintext_ char *token = NULL;
    struct store *s;

    make_db_with_account(f, KEY_A);
    s = open_ok(f, KEY_A);
    assert_int_equal(store_account_get(s, "bot-1", &user, &device, &token), 0);
    assert_string_equal(user, USER);
    assert_string_equal(device, "DEVICE1");
    assert_string_equal(token, TOKEN);
    store_close(s);
}

static void test_migration_sets_version_and_wal(void **state)
{
    struct fixture *f = *state;

    store_close(open_ok(f, KEY_A));
    assert_int_equal(store_schema_version(), 3);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                                    "  AND name IN ('meta', 'accounts', 'instances', 'plugins',"
                                    "  'outbox', 'handled_events', 'notifications',"
                                    "  'account_passwords')"),
                     8);
    /* WAL mode is persistent: it is recorded in the file header (bytes 18-19 = 2). */
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM pragma_journal_mode"
                                    "  WHERE journal_mode = 'wal'"),
                     1);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM meta WHERE key = 'key_check'"), 1);
    /* Opening again runs no step twice (it would fail on CREATE TABLE). */
    store_close(open_ok(f, KEY_A));
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
}

static void test_empty_file_is_fresh(void **state)
{
    struct fixture *f = *state;

    /* What a crash between creating bot.db and the first migration leaves. */
    assert_int_equal(mkdir(f->dir, 0700), 0);
    write_file(f->db, "", 0, 0600);
    store_close(open_ok(f, KEY_A));
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
}

static void test_writable_dir_refused(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_int_equal(open_with(f, KEY_A), -EPERM);
    assert_int_equal(chmod(f->dir, 0770), 0);
    assert_int_equal(open_with(f, KEY_A), -EPERM);
    assert_false(exists(f->db));
    /* Readable by others is not a refusal: bot.db itself is 0600. */
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(open_with(f, KEY_A), 0);
}

static void test_symlinked_dir_refused(void **state)
{
    struct fixture *f = *state;
    char real[PATH_MAX + 8], real_db[PATH_MAX + 16];

    path_join(real, sizeof(real), f->base, "real");
    path_join(real_db, sizeof(real_db), real, "bot.db");
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(symlink(real, f->dir), 0);
    assert_int_equal(open_with(f, KEY_A), -EPERM);
    assert_false(exists(real_db));
}

static void test_not_a_directory_refused(void **state)
{
    struct fixture *f = *state;
    char missing[PATH_MAX + 16];

    write_file(f->dir, "x", 1, 0600);
    assert_int_equal(open_with(f, KEY_A), -EPERM);

    /* The parent must exist: no tree is grown from a typo. */
    path_join(missing, sizeof(missing), f->base, "no/state");
    struct store *s = NULL;
    assert_int_equal(store_open(missing, KEY_A, strlen(KEY_A), &s), -ENOENT);
    assert_int_equal(store_open("relative/state", KEY_A, strlen(KEY_A), &s), -EINVAL);
    assert_null(s);
}

static void test_other_owner_refused(void **state)
{
    struct fixture *f = *state;

    if (geteuid() != 0)
        skip(); /* only root can give a directory away */
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    assert_int_equal(open_with(f, KEY_A), -EPERM);
    assert_false(exists(f->db));

    /* And a bot.db owned by someone else in our own directory. */
    assert_int_equal(chown(f->dir, 0, 0), 0);
    write_file(f->db, "", 0, 0600);
    assert_int_equal(chown(f->db, 65534, 65534), 0);
    assert_int_equal(open_with(f, KEY_A), -EPERM);
}

static void test_symlinked_db_refused(void **state)
{
    struct fixture *f = *state;
    char target[PATH_MAX + 8];

    path_join(target, sizeof(target), f->base, "elsewhere");
    write_file(target, "precious", 8, 0600);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    assert_int_equal(symlink(target, f->db), 0);
    assert_open_refused_unchanged(f, target, KEY_A, -EPERM);
}

static void test_wider_db_mode_tightened(void **state)
{
    struct fixture *f = *state;
    struct captured c = {{0}};

    store_close(open_ok(f, KEY_A));
    assert_int_equal(chmod(f->db, 0644), 0);
    log_set_observer(capture, &c);
    store_close(open_ok(f, KEY_A));
    log_set_observer(NULL, NULL);
    assert_int_equal(mode_of(f->db), 0600);
    assert_non_null(strstr(c.text, "tightening"));
}

static void test_short_key_refused(void **state)
{
    struct fixture *f = *state;
    struct store *s = NULL;

    assert_int_equal(store_open(f->dir, KEY_A, SEAL_SECRET_MIN - 1, &s), -EINVAL);
    assert_null(s);
    /* Refused before anything was created. */
    assert_false(exists(f->dir));
}

/* --- opening: refusals that leave the file untouched --- */

static void test_garbage_refused_unchanged(void **state)
{
    struct fixture *f = *state;
    static uint8_t garbage[8192];
    struct captured c = {{0}};

    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 131 + 7);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    write_file(f->db, garbage, sizeof(garbage), 0600);
    log_set_observer(capture, &c);
    assert_open_refused_unchanged(f, f->db, KEY_A, -EBADMSG);
    log_set_observer(NULL, NULL);
    assert_non_null(strstr(c.text, "refusing"));

    /* Short text is not a database either. */
    write_file(f->db, "not a database\n", 15, 0600);
    assert_open_refused_unchanged(f, f->db, KEY_A, -EBADMSG);
}

static void test_truncated_refused_unchanged(void **state)
{
    struct fixture *f = *state;
    struct stat st;

    make_db_with_events(f, KEY_A);
    assert_int_equal(stat(f->db, &st), 0);
    assert_true(st.st_size >= 16 * 4096);

    assert_int_equal(truncate(f->db, st.st_size / 2), 0);
    assert_open_refused_unchanged(f, f->db, KEY_A, -EBADMSG);
}

static void test_damaged_page_refused_unchanged(void **state)
{
    struct fixture *f = *state;
    static uint8_t noise[4096];
    int fd;

    make_db_with_events(f, KEY_A);

    /* Overwrite a page in the middle with noise, keeping the size. */
    memset(noise, 0xA5, sizeof(noise));
    fd = open(f->db, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, noise, sizeof(noise), 8 * 4096), (ssize_t)sizeof(noise));
    assert_int_equal(close(fd), 0);

    assert_open_refused_unchanged(f, f->db, KEY_A, -EBADMSG);
}

static void test_newer_schema_refused_unchanged(void **state)
{
    struct fixture *f = *state;

    make_db_with_account(f, KEY_A);
    raw_exec(f->db, "PRAGMA user_version = 999");
    rollback_journal_mode(f);
    assert_open_refused_unchanged(f, f->db, KEY_A, -EPROTONOSUPPORT);
}

static void test_wrong_key_refused_unchanged(void **state)
{
    struct fixture *f = *state;

    make_db_with_account(f, KEY_A);
    rollback_journal_mode(f);
    assert_open_refused_unchanged(f, f->db, KEY_B, -EKEYREJECTED);
    /* The right key still opens it. */
    assert_int_equal(open_with(f, KEY_A), 0);
}

static void test_missing_key_check_refused_unchanged(void **state)
{
    struct fixture *f = *state;

    make_db_with_account(f, KEY_A);
    /* Without the key check, any key would be taken: that must not happen silently. */
    raw_exec(f->db, "DELETE FROM meta");
    rollback_journal_mode(f);
    assert_open_refused_unchanged(f, f->db, KEY_B, -EBADMSG);
}

static void test_two_handles_share_state(void **state)
{
    struct fixture *f = *state;
    struct store *a = open_ok(f, KEY_A);
    struct store *b = open_ok(f, KEY_A);

    /* The supervisor and a worker hold the database at once. */
    assert_int_equal(store_instance_set_state(a, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_event_mark_handled(a, "bot-1", "$e:x", 1), 0);
    assert_int_equal(store_event_mark_handled(b, "bot-1", "$e:x", 2), -EEXIST);
    store_close(a);
    store_close(b);
}

/* --- accounts and tokens --- */

static bool file_contains(const char *path, const char *needle)
{
    uint8_t *bytes;
    size_t len;
    bool found;

    if (!exists(path))
        return false;
    read_file(path, &bytes, &len);
    found = memmem(bytes, len, needle, strlen(needle)) != NULL;
    free(bytes);
    return found;
}

static void test_token_sealed_in_file(void **state)
{
    struct fixture *f = *state;
    char wal[PATH_MAX + 8];
    struct store *s;

    (void)snprintf(wal, sizeof(wal), "%s-wal", f->db);
    s = open_ok(f, KEY_A);
    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "DEVICE1", TOKEN), 0);
    /* While open the rows are in the WAL; the token must not be there either. */
    assert_true(file_contains(wal, USER) || file_contains(f->db, USER));
    assert_false(file_contains(wal, TOKEN));
    store_close(s);

    /* The search works (the user id, stored in clear, is found) and finds no token. */
    assert_true(file_contains(f->db, USER));
    assert_false(file_contains(f->db, TOKEN));
    assert_false(file_contains(f->db, "TopSecretAccessToken"));
}

static void test_token_from_other_key_rejected(void **state)
{
    struct fixture *f = *state;
    char attach[PATH_MAX * 2];
    struct fixture other;
    struct store *s;
    char *token = NULL;

    /* A second database under key B, then its sealed token is copied into ours (a restored
     * row from someone else's backup). */
    other = *f;
    path_join(other.dir, sizeof(other.dir), f->base, "other");
    path_join(other.db, sizeof(other.db), other.dir, "bot.db");
    make_db_with_account(&other, KEY_B);
    make_db_with_account(f, KEY_A);
    (void)snprintf(attach, sizeof(attach),
                   "ATTACH '%s' AS other; UPDATE main.accounts SET access_token ="
                   " (SELECT access_token FROM other.accounts WHERE instance_id = 'bot-1');",
                   other.db);
    raw_exec(f->db, attach);

    s = open_ok(f, KEY_A);
    assert_int_equal(store_account_get(s, "bot-1", NULL, NULL, &token), -EKEYREJECTED);
    assert_null(token);
    store_close(s);
}

static void test_account_api(void **state)
{
    struct fixture *f = *state;
    char long_token[STORE_TOKEN_MAX + 2];
    _cleanup_free_ char *user = NULL, *device = NULL;
    _cleanup_plaintext_ char *token = NULL;
    struct store *s = open_ok(f, KEY_A);

    memset(long_token, 't', sizeof(long_token) - 1);
    long_token[sizeof(long_token) - 1] = '\0';

    assert_int_equal(store_account_get(s, "bot-1", &user, &device, &token), -ENOENT);
    /* The instance must exist first. */
    assert_int_equal(store_account_put(s, "bot-1", USER, "D1", TOKEN), -ENOENT);
    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "D1", long_token), -E2BIG);
    assert_int_equal(store_account_put(s, "bot-1", "", "D1", TOKEN), -EINVAL);
    assert_int_equal(store_account_put(s, "bot-1", USER, NULL, TOKEN), -EINVAL);
    assert_int_equal(store_account_put(s, "bot-1", "@bad\xff:x", "D1", TOKEN), -EINVAL);
    assert_int_equal(store_account_put(s, "bot\n1", USER, "D1", TOKEN), -EINVAL);
    assert_int_equal(store_account_get(s, "bot-1", NULL, NULL, NULL), -ENOENT);

    assert_int_equal(store_account_put(s, "bot-1", USER, "D1", "first-token"), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "D2", TOKEN), 0);
    assert_int_equal(store_account_get(s, "bot-1", &user, &device, &token), 0);
    assert_string_equal(user, USER);
    assert_string_equal(device, "D2");
    assert_string_equal(token, TOKEN);
    /* Out-params are optional. */
    assert_int_equal(store_account_get(s, "bot-1", NULL, NULL, NULL), 0);
    store_close(s);
}

static void test_sync_position(void **state)
{
    struct fixture *f = *state;
    char long_batch[STORE_TOKEN_MAX + 2];
    struct store *s = open_ok(f, KEY_A);
    char *batch = NULL, *filter = NULL;

    memset(long_batch, 's', sizeof(long_batch) - 1);
    long_batch[sizeof(long_batch) - 1] = '\0';
    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_sync_position_set(s, "bot-1", "s1", "f1"), -ENOENT);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, &filter), -ENOENT);

    assert_int_equal(store_account_put(s, "bot-1", USER, "D1", TOKEN), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, &filter), 0);
    assert_null(batch);
    assert_null(filter);
    assert_int_equal(store_sync_position_set(s, "bot-1", long_batch, "f1"), -E2BIG);
    assert_int_equal(store_sync_position_set(s, "bot-1", "s72594_4483_1934", "f1"), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, &filter), 0);
    assert_string_equal(batch, "s72594_4483_1934");
    assert_string_equal(filter, "f1");
    free(batch);
    free(filter);

    /* A new device for the same user keeps the position... */
    assert_int_equal(store_account_put(s, "bot-1", USER, "D2", TOKEN), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, NULL), 0);
    assert_string_equal(batch, "s72594_4483_1934");
    free(batch);
    /* ...another user starts afresh. */
    assert_int_equal(store_account_put(s, "bot-1", "@other:clarun.xyz", "D3", TOKEN), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, &filter), 0);
    assert_null(batch);
    assert_null(filter);

    assert_int_equal(store_sync_position_set(s, "bot-1", "s2", NULL), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &batch, &filter), 0);
    assert_string_equal(batch, "s2");
    assert_null(filter);
    free(batch);
    store_close(s);
}

/* --- instances and plugins --- */

static void test_instance_state(void **state)
{
    struct fixture *f = *state;
    char long_error[STORE_TEXT_MAX + 2];
    struct store *s = open_ok(f, KEY_A);
    struct store_instance i = {0};

    memset(long_error, 'e', sizeof(long_error) - 1);
    long_error[sizeof(long_error) - 1] = '\0';
    assert_int_equal(store_instance_get(s, "bot-1", &i), -ENOENT);
    assert_int_equal(store_instance_set_state(s, "bot-1", "sleeping", NULL, 1), -EINVAL);
    assert_int_equal(store_instance_set_state(s, "bot-1", NULL, NULL, 1), -EINVAL);
    assert_int_equal(store_instance_set_state(s, "bot-1", "failed", long_error, 1), -E2BIG);
    assert_int_equal(store_instance_touch_sync(s, "bot-1", 5), -ENOENT);
    assert_int_equal(store_instance_touch_message(s, "bot-1", 5), -ENOENT);

    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 100), 0);
    assert_int_equal(store_instance_get(s, "bot-1", &i), 0);
    assert_string_equal(i.state, "created");
    assert_int_equal(i.state_since, 100);
    assert_int_equal(i.restart_count, 0);
    assert_int_equal(i.last_sync_at, 0);
    assert_int_equal(i.last_message_at, 0);
    assert_null(i.last_error);
    store_instance_done(&i);

    /* Reporting the same state again keeps the time it was entered. */
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 200), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 250), 0);
    assert_int_equal(store_instance_touch_sync(s, "bot-1", 260), 0);
    assert_int_equal(store_instance_touch_message(s, "bot-1", 270), 0);
    assert_int_equal(store_instance_get(s, "bot-1", &i), 0);
    assert_int_equal(i.state_since, 200);
    assert_int_equal(i.last_sync_at, 260);
    assert_int_equal(i.last_message_at, 270);
    store_instance_done(&i);

    /* failed -> restarting counts once per entry, not per report. */
    assert_int_equal(store_instance_set_state(s, "bot-1", "failed", "exit status 1", 300), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "restarting", NULL, 301), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "restarting", NULL, 302), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "failed", "killed by SIGSEGV", 310), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "restarting", NULL, 311), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 320), 0);
    assert_int_equal(store_instance_get(s, "bot-1", &i), 0);
    assert_string_equal(i.state, "running");
    assert_int_equal(i.state_since, 320);
    assert_int_equal(i.restart_count, 2);
    /* NULL error keeps the last one. */
    assert_string_equal(i.last_error, "killed by SIGSEGV");
    store_instance_done(&i);
    store_close(s);
}

static void test_plugin_state(void **state)
{
    struct fixture *f = *state;
    const char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const char sha_upper[] = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    struct store *s = open_ok(f, KEY_A);
    struct store_plugin p = {0};

    assert_int_equal(store_plugin_get(s, "sna.instagram", &p), -ENOENT);
    assert_int_equal(store_plugin_set_state(s, "sna.instagram", "1.0.0", sha, "ready", NULL),
                     -EINVAL);
    assert_int_equal(store_plugin_set_state(s, "sna.instagram", "1.0.0", "abc", "loaded", NULL),
                     -EINVAL);
    assert_int_equal(store_plugin_set_state(s, "sna.instagram", "1.0.0", sha_upper, "loaded", NULL),
                     -EINVAL);

    assert_int_equal(store_plugin_set_state(s, "sna.instagram", "1.0.0", sha, "validated", NULL),
                     0);
    assert_int_equal(store_plugin_get(s, "sna.instagram", &p), 0);
    assert_string_equal(p.version, "1.0.0");
    assert_string_equal(p.sha256, sha);
    assert_string_equal(p.state, "validated");
    assert_null(p.reason);
    assert_true(p.updated_at > 0);
    store_plugin_done(&p);

    /* Rejected before its metadata was read: no version, a reason. */
    assert_int_equal(store_plugin_set_state(s, "sna.instagram", NULL, sha, "rejected",
                                            "main_class InstagramBot is not exported"),
                     0);
    assert_int_equal(store_plugin_get(s, "sna.instagram", &p), 0);
    assert_null(p.version);
    assert_string_equal(p.state, "rejected");
    assert_string_equal(p.reason, "main_class InstagramBot is not exported");
    store_plugin_done(&p);
    store_close(s);
}

/* --- outbox --- */

struct listing {
    struct store *s;
    char txn_ids[8][32];
    int64_t attempts[8];
    size_t n;
    bool remove;    /* remove each entry from inside the callback */
    size_t stop_at; /* return -ECANCELED at this entry (0: never) */
};

static int collect_outbox(const struct store_outbox_entry *e, void *userdata)
{
    struct listing *l = userdata;

    assert_true(l->n < ELEMENTSOF(l->txn_ids));
    assert_string_equal(e->room_id, "!abc123def:clarun.xyz");
    assert_string_equal(e->event_type, "m.room.message");
    (void)snprintf(l->txn_ids[l->n], sizeof(l->txn_ids[0]), "%s", e->txn_id);
    l->attempts[l->n] = e->attempts;
    l->n++;
    if (l->remove)
        assert_int_equal(store_outbox_remove(l->s, e->txn_id), 0);
    if (l->stop_at && l->n == l->stop_at)
        return -ECANCELED;
    return 0;
}

static void outbox_add(struct store *s, const char *instance, const char *txn, int64_t now)
{
    assert_int_equal(store_outbox_add(s, instance, txn, "!abc123def:clarun.xyz", "m.room.message",
                                      "{\"body\":\"hi\",\"msgtype\":\"m.text\"}", now),
                     0);
}

static void test_outbox(void **state)
{
    struct fixture *f = *state;
    static char big[STORE_CONTENT_MAX + 2];
    struct store *s = open_ok(f, KEY_A);
    struct listing l = {.s = s};

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_instance_set_state(s, "bot-2", "running", NULL, 1), 0);
    /* Created out of clock order: the listing follows the order they were added. */
    outbox_add(s, "bot-1", "txn-c", 300);
    outbox_add(s, "bot-2", "txn-other", 250);
    outbox_add(s, "bot-1", "txn-a", 100);
    outbox_add(s, "bot-1", "txn-b", 200);

    assert_int_equal(store_outbox_add(s, "bot-1", "txn-a", "!r:x", "m.room.message", "{}", 1),
                     -EEXIST);
    assert_int_equal(store_outbox_add(s, "bot-9", "txn-z", "!r:x", "m.room.message", "{}", 1),
                     -ENOENT);
    assert_int_equal(store_outbox_add(s, "bot-1", "txn-z", "!r:x", "m.room.message", "{bad", 1),
                     -EINVAL);
    memset(big, ' ', sizeof(big) - 1);
    assert_int_equal(store_outbox_add(s, "bot-1", "txn-z", "!r:x", "m.room.message", big, 1),
                     -E2BIG);

    assert_int_equal(store_outbox_attempted(s, "txn-a"), 0);
    assert_int_equal(store_outbox_attempted(s, "txn-a"), 0);
    assert_int_equal(store_outbox_attempted(s, "txn-none"), -ENOENT);

    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.txn_ids[0], "txn-c");
    assert_string_equal(l.txn_ids[1], "txn-a");
    assert_string_equal(l.txn_ids[2], "txn-b");
    assert_int_equal(l.attempts[1], 2);

    assert_int_equal(store_outbox_remove(s, "txn-a"), 0);
    assert_int_equal(store_outbox_remove(s, "txn-a"), -ENOENT);

    /* A callback's error stops the listing and comes back. */
    l = (struct listing){.s = s, .stop_at = 1};
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), -ECANCELED);
    assert_int_equal(l.n, 1);

    /* The callback may remove what it is given (what a worker does on acknowledgement). */
    l = (struct listing){.s = s, .remove = true};
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.txn_ids[0], "txn-c");
    assert_string_equal(l.txn_ids[1], "txn-b");
    l = (struct listing){.s = s};
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), 0);
    assert_int_equal(l.n, 0);
    /* The other instance's entry was never listed nor removed. */
    assert_int_equal(store_outbox_remove(s, "txn-other"), 0);
    store_close(s);
}

static void test_outbox_survives_reopen_and_cap(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct listing l = {0};
    char txn[32];

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    for (int i = 0; i < STORE_OUTBOX_MAX; i++) {
        (void)snprintf(txn, sizeof(txn), "txn-%d", i);
        outbox_add(s, "bot-1", txn, i);
    }
    assert_int_equal(store_outbox_add(s, "bot-1", "txn-over", "!r:x", "m.room.message", "{}", 1),
                     -ENOBUFS);
    store_close(s);

    /* After a crash and restart the queued sends are still there, with their txn ids. */
    s = open_ok(f, KEY_A);
    l.s = s;
    l.stop_at = 2;
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), -ECANCELED);
    assert_string_equal(l.txn_ids[0], "txn-0");
    assert_string_equal(l.txn_ids[1], "txn-1");
    assert_int_equal(store_outbox_remove(s, "txn-0"), 0);
    outbox_add(s, "bot-1", "txn-over", 1);
    store_close(s);
}

/* --- handled events --- */

static void test_event_dedup(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);

    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 100), -ENOENT);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_instance_set_state(s, "bot-2", "running", NULL, 1), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "", 100), -EINVAL);

    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 100), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 101), -EEXIST);
    /* Each instance handles the same event once itself. */
    assert_int_equal(store_event_mark_handled(s, "bot-2", "$ev1:clarun.xyz", 102), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev2:clarun.xyz", 200), 0);
    store_close(s);

    /* A crash after marking: the mark survives the restart. */
    s = open_ok(f, KEY_A);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 300), -EEXIST);
    assert_int_equal(store_event_mark_handled(s, "bot-2", "$ev1:clarun.xyz", 300), -EEXIST);

    /* Pruning forgets only the marks older than the bound. */
    assert_int_equal(store_event_prune(s, 150), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev2:clarun.xyz", 301), -EEXIST);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 302), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-2", "$ev1:clarun.xyz", 303), 0);
    store_close(s);
}

/* A child process opens the store, marks $ev1 handled for bot-1 and dies without closing
 * (no checkpoint: the mark exists only in the WAL). */
static void crash_after_marking(const struct fixture *f)
{
    struct store *s;
    pid_t pid;
    int status;

    s = open_ok(f, KEY_A);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    store_close(s);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct store *child = NULL;

        if (store_open(f->dir, KEY_A, strlen(KEY_A), &child) < 0 ||
            store_event_mark_handled(child, "bot-1", "$ev1:clarun.xyz", 100) < 0)
            _exit(1);
        _exit(0); /* a crash: no store_close() */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A worker killed right after marking (no close, so no checkpoint: the mark exists only in
 * the WAL) must still see the event as handled when it restarts. */
static void test_event_dedup_survives_crash(void **state)
{
    struct fixture *f = *state;
    char wal[PATH_MAX + 8];
    struct store *s;

    (void)snprintf(wal, sizeof(wal), "%s-wal", f->db);
    crash_after_marking(f);
    assert_true(file_contains(wal, "$ev1:clarun.xyz"));
    assert_false(file_contains(f->db, "$ev1:clarun.xyz"));

    /* The WAL holds the same data as the file: a wide mode on it is narrowed too. */
    assert_int_equal(chmod(wal, 0644), 0);
    s = open_ok(f, KEY_A);
    assert_int_equal(mode_of(wal), 0600);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$ev1:clarun.xyz", 200), -EEXIST);
    store_close(s);
}

/* An operator deletes bot.db after a crash but leaves its WAL: the new database must start
 * empty, not replay the old WAL. (SQLite drops a WAL beside an empty file; this holds as
 * long as the store creates bot.db empty and lets SQLite write its first page.) */
static void test_stale_wal_not_replayed(void **state)
{
    struct fixture *f = *state;
    struct store_instance i = {0};
    char wal[PATH_MAX + 8];
    struct store *s;

    (void)snprintf(wal, sizeof(wal), "%s-wal", f->db);
    crash_after_marking(f);
    assert_true(file_contains(wal, "$ev1:clarun.xyz"));
    assert_int_equal(unlink(f->db), 0);

    s = open_ok(f, KEY_A);
    assert_false(file_contains(wal, "$ev1:clarun.xyz"));
    assert_int_equal(store_instance_get(s, "bot-1", &i), -ENOENT);
    store_close(s);
}

/* --- notifications --- */

struct notices {
    size_t n;
    int64_t first_ts, last_ts;
    int64_t last_id;
    bool ids_descending;
};

static int collect_notice(const struct store_notification *n, void *userdata)
{
    struct notices *c = userdata;

    if (c->n == 0) {
        c->first_ts = n->timestamp;
        c->ids_descending = true;
    } else if (n->id >= c->last_id)
        c->ids_descending = false;
    c->last_ts = n->timestamp;
    c->last_id = n->id;
    assert_string_equal(n->severity, "ERROR");
    assert_string_equal(n->source_instance, "bot-1");
    c->n++;
    return 0;
}

static void test_notifications(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct notices c = {0};
    int total = STORE_NOTIFICATIONS_MAX + 5;

    assert_int_equal(store_notification_add(s, 1, "bot-1", "WARN", "m", NULL), -EINVAL);
    assert_int_equal(store_notification_add(s, 1, "bot-1", "ERROR", "", NULL), -EINVAL);
    assert_int_equal(store_notification_add(s, 1, "bot-1", "ERROR", "m", "{not json"), -EINVAL);
    /* The supervisor's own notices have no source instance. */
    assert_int_equal(store_notification_add(s, 1, NULL, "CRITICAL", "all failed", NULL), 0);

    for (int i = 1; i <= total; i++)
        assert_int_equal(store_notification_add(s, 1000 + i, "bot-1", "ERROR", "yt-dlp failed",
                                                "{\"url\":\"x\"}"),
                         0);

    assert_int_equal(store_notification_list_recent(s, 3, collect_notice, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.first_ts, 1000 + total);
    assert_int_equal(c.last_ts, 1000 + total - 2);

    /* Only the newest STORE_NOTIFICATIONS_MAX remain; the oldest (and the CRITICAL one, or
     * the callback's severity check would fail) are gone. */
    c = (struct notices){0};
    assert_int_equal(store_notification_list_recent(s, UINT32_MAX, collect_notice, &c), 0);
    assert_int_equal(c.n, STORE_NOTIFICATIONS_MAX);
    assert_true(c.ids_descending);
    assert_int_equal(c.first_ts, 1000 + total);
    assert_int_equal(c.last_ts, 1000 + total - STORE_NOTIFICATIONS_MAX + 1);
    store_close(s);
}

/* A database left at version 1 by an older botrunner is migrated to the current version,
 * keeping its data. */
static void test_migration_from_version_1(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    char *user = NULL;

    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "DEVICE1", TOKEN), 0);
    store_close(s);
    /* Version 1 had neither the passwords (2) nor the dispatching table (3). */
    raw_exec(f->db, "DROP TABLE account_passwords; DROP TABLE dispatching;"
                    " PRAGMA user_version = 1");
    s = open_ok(f, KEY_A);
    assert_int_equal(raw_int(f->db, "PRAGMA user_version"), store_schema_version());
    assert_int_equal(store_account_get(s, "bot-1", &user, NULL, NULL), 0);
    assert_string_equal(user, USER);
    free(user);
    assert_int_equal(store_account_password_put(s, "bot-1", USER, "generated-pw"), 0);
    store_close(s);
}

/* The event being handled counts its attempts across restarts of the worker (a reopened
 * store), starts again at 1 for another event, and is gone once cleared. */
static void test_dispatch_attempts(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    unsigned attempts = 0;

    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_dispatch_begin(s, "bot-1", "$a", 10, &attempts), 0);
    assert_int_equal(attempts, 1);
    store_close(s);
    s = open_ok(f, KEY_A);
    assert_int_equal(store_dispatch_begin(s, "bot-1", "$a", 11, &attempts), 0);
    assert_int_equal(attempts, 2);
    assert_int_equal(store_dispatch_begin(s, "bot-1", "$b", 12, &attempts), 0);
    assert_int_equal(attempts, 1);
    assert_int_equal(store_dispatch_clear(s, "bot-1"), 0);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM dispatching"), 0);
    assert_int_equal(store_dispatch_begin(s, "bot-1", "$b", 13, &attempts), 0);
    assert_int_equal(attempts, 1);
    /* Hostile ids change nothing. */
    assert_int_equal(store_dispatch_begin(s, "bot-1", "$c\n", 14, &attempts), -EINVAL);
    assert_int_equal(raw_int(f->db, "SELECT count(*) FROM dispatching"), 1);
    store_close(s);
}

static void test_account_password(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    char *pw = NULL;

    assert_int_equal(store_account_password_get(s, "bot-1", &pw), -ENOENT);
    /* The instance must exist (the worker records its state first). */
    assert_int_equal(store_account_password_put(s, "bot-1", USER, "pw-1"), -ENOENT);
    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_account_password_put(s, "bot-1", USER, "pw-1"), 0);
    assert_int_equal(store_account_password_put(s, "bot-1", USER, "hunter2-but-longer"), 0);
    assert_int_equal(store_account_password_get(s, "bot-1", &pw), 0);
    assert_string_equal(pw, "hunter2-but-longer");
    seal_plaintext_free(pw);
    assert_int_equal(store_account_password_put(s, "bot-1", USER, "two\nlines"), -EINVAL);
    store_close(s);
    /* Sealed at rest, like the token. */
    assert_false(file_contains(f->db, "hunter2-but-longer"));
}

/* One transaction around "mark handled" and "queue the reply": both land or neither. */
static void test_transactions_nest_and_roll_back(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct listing c = {.s = s};

    assert_int_equal(store_instance_set_state(s, "bot-1", "created", NULL, 1), 0);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$e1"), 0);
    assert_int_equal(store_transaction_begin(s), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e1", 10), 0);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$e1"), 1);
    /* outbox_add opens its own (now nested) transaction. */
    outbox_add(s, "bot-1", "txn-1", 10);
    store_transaction_rollback(s);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$e1"), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e1", 11), 0);
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &c), 0);
    assert_int_equal(c.n, 0);

    assert_int_equal(store_transaction_begin(s), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e2", 12), 0);
    outbox_add(s, "bot-1", "txn-2", 12);
    assert_int_equal(store_transaction_commit(s), 0);
    store_close(s);

    s = open_ok(f, KEY_A);
    c = (struct listing){.s = s};
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e2", 13), -EEXIST);
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.txn_ids[0], "txn-2");
    store_close(s);
}

/* --- the statement cache --- */

/* The statements prepared on the store's connection: the cache's, since every other
 * statement is finalized before its function returns. */
static size_t stmts_on(struct store *s)
{
    size_t n = 0;

    for (sqlite3_stmt *st = sqlite3_next_stmt(s->db, NULL); st; st = sqlite3_next_stmt(s->db, st))
        n++;
    return n;
}

/* The one statement on the connection whose SQL starts with prefix; NULL when none. */
static sqlite3_stmt *stmt_for(struct store *s, const char *prefix)
{
    sqlite3_stmt *found = NULL;

    for (sqlite3_stmt *st = sqlite3_next_stmt(s->db, NULL); st; st = sqlite3_next_stmt(s->db, st))
        if (strncmp(sqlite3_sql(st), prefix, strlen(prefix)) == 0) {
            assert_null(found);
            found = st;
        }
    return found;
}

static int64_t runs_of(sqlite3_stmt *st)
{
    return sqlite3_stmt_status(st, SQLITE_STMTSTATUS_RUN, 0);
}

/* Statements on the connection still stepping (not reset): each keeps a read transaction. */
static size_t busy_stmts(struct store *s)
{
    size_t n = 0;

    for (sqlite3_stmt *st = sqlite3_next_stmt(s->db, NULL); st; st = sqlite3_next_stmt(s->db, st))
        if (sqlite3_stmt_busy(st))
            n++;
    return n;
}

/* Whether another connection can write, then checkpoint the whole WAL and truncate it: it
 * cannot while a reader (an un-reset statement of ours) holds a snapshot older than that
 * write. The write sets the schema version to what it is: a page written (a row updated to
 * its own value would not be), no data or schema changed (that would re-prepare the cache). */
static bool wal_checkpoints_fully(const struct fixture *f)
{
    char pragma[64];
    sqlite3 *db = NULL;
    int log = -1, done = -1, rc;

    (void)snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", store_schema_version());
    assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, pragma, NULL, NULL, NULL), SQLITE_OK);
    rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_true(rc == SQLITE_OK || rc == SQLITE_BUSY);
    return rc == SQLITE_OK && log == 0;
}

/* After any API call: nothing left stepping, nothing lent out, no transaction open, and the
 * WAL free to be checkpointed to the end. */
static void assert_idle(const struct fixture *f, struct store *s)
{
    assert_int_equal(busy_stmts(s), 0);
    for (size_t i = 0; i < s->n_stmts; i++)
        assert_false(s->stmts[i].in_use);
    assert_int_equal(stmts_on(s), s->n_stmts);
    assert_true(sqlite3_get_autocommit(s->db));
    assert_true(wal_checkpoints_fully(f));
}

/* The checks above can fail: a statement stepped to a row and not reset is seen as busy,
 * and it blocks the checkpoint until it is given back. */
static void test_stmt_cache_busy_is_detected(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct store_stmt *q = NULL;

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_idle(f, s);
    assert_int_equal(store_stmt_get(s, "SELECT id FROM instances", &q), 0);
    assert_int_equal(store_step_row(q->stmt), 1);
    assert_int_equal(busy_stmts(s), 1);
    assert_false(wal_checkpoints_fully(f));
    store_stmt_release(q);
    assert_idle(f, s);
    store_close(s);
}

static int count_outbox(const struct store_outbox_entry *e, void *userdata)
{
    (void)e;
    (*(size_t *)userdata)++;
    return 0;
}

static int count_notice(const struct store_notification *n, void *userdata)
{
    (void)n;
    (*(size_t *)userdata)++;
    return 0;
}

/* Every API function once, on its happy path and on the error paths that reach SQLite (a
 * missing row, a constraint failing at the step), checking after each call that it left
 * nothing open. */
static void every_api_call(const struct fixture *f, struct store *s, int round)
{
    const char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    _cleanup_free_ char *user = NULL, *batch = NULL;
    struct store_instance inst = {0};
    struct store_plugin plugin = {0};
    char event[32], txn[32];
    size_t n = 0;
    char *secret = NULL;

    (void)snprintf(event, sizeof(event), "$ev%d", round);
    (void)snprintf(txn, sizeof(txn), "txn-%d", round);
#define IDLE(call, expected)                                                                       \
    do {                                                                                           \
        assert_int_equal((call), (expected));                                                      \
        assert_idle(f, s);                                                                         \
    } while (0)
    IDLE(store_account_get(s, "bot-9", NULL, NULL, NULL), -ENOENT);
    IDLE(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    IDLE(store_account_put(s, "bot-9", USER, "D1", TOKEN), -ENOENT);
    IDLE(store_account_put(s, "bot-1", USER, "D1", TOKEN), 0);
    IDLE(store_account_get(s, "bot-1", &user, NULL, &secret), 0);
    seal_plaintext_free(secret);
    IDLE(store_account_password_put(s, "bot-1", USER, "pw"), 0);
    IDLE(store_account_password_get(s, "bot-9", &secret), -ENOENT);
    IDLE(store_account_password_get(s, "bot-1", &secret), 0);
    seal_plaintext_free(secret);
    IDLE(store_sync_position_set(s, "bot-9", "s1", NULL), -ENOENT);
    IDLE(store_sync_position_set(s, "bot-1", "s1", NULL), 0);
    IDLE(store_sync_position_get(s, "bot-1", &batch, NULL), 0);
    IDLE(store_instance_get(s, "bot-9", &inst), -ENOENT);
    IDLE(store_instance_get(s, "bot-1", &inst), 0);
    store_instance_done(&inst);
    IDLE(store_instance_touch_sync(s, "bot-9", 2), -ENOENT);
    IDLE(store_instance_touch_sync(s, "bot-1", 2), 0);
    IDLE(store_instance_touch_message(s, "bot-1", 2), 0);
    IDLE(store_plugin_set_state(s, "p", "1.0", sha, "loaded", NULL), 0);
    IDLE(store_plugin_get(s, "q", &plugin), -ENOENT);
    IDLE(store_plugin_get(s, "p", &plugin), 0);
    store_plugin_done(&plugin);
    IDLE(store_outbox_add(s, "bot-9", txn, "!r:x", "m.room.message", "{}", 1), -ENOENT);
    IDLE(store_outbox_add(s, "bot-1", txn, "!r:x", "m.room.message", "{}", 1), 0);
    IDLE(store_outbox_add(s, "bot-1", txn, "!r:x", "m.room.message", "{}", 1), -EEXIST);
    IDLE(store_outbox_attempted(s, txn), 0);
    IDLE(store_outbox_list(s, "bot-1", count_outbox, &n), 0);
    IDLE(store_outbox_remove(s, txn), 0);
    IDLE(store_outbox_remove(s, txn), -ENOENT);
    IDLE(store_event_mark_handled(s, "bot-9", event, 1), -ENOENT);
    IDLE(store_event_mark_handled(s, "bot-1", event, 1), 0);
    IDLE(store_event_mark_handled(s, "bot-1", event, 1), -EEXIST);
    IDLE(store_event_is_handled(s, "bot-1", event), 1);
    IDLE(store_event_prune(s, 0), 0);
    IDLE(store_notification_add(s, 1, NULL, "ERROR", "m", NULL), 0);
    IDLE(store_notification_list_recent(s, 10, count_notice, &n), 0);
    /* A transaction committed, one rolled back, one whose inner level failed. */
    assert_int_equal(store_transaction_begin(s), 0);
    IDLE(store_transaction_commit(s), 0);
    assert_int_equal(store_transaction_begin(s), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$rolled-back", 1), 0);
    store_transaction_rollback(s);
    assert_idle(f, s);
    assert_int_equal(store_transaction_begin(s), 0);
    assert_int_equal(store_outbox_add(s, "bot-1", txn, "!r:x", "m.room.message", "{}", 1), 0);
    assert_int_equal(store_outbox_add(s, "bot-1", txn, "!r:x", "m.room.message", "{}", 1), -EEXIST);
    IDLE(store_transaction_commit(s), 0);
    IDLE(store_outbox_remove(s, txn), 0);
#undef IDLE
}

/* Each statement is prepared once and reused: after a first round of every call, a second
 * adds none, and the handled mark's statement has run once per mark. */
static void test_stmt_cache_reuses_statements(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    sqlite3_stmt *mark;
    size_t after_first;

    assert_int_equal(stmts_on(s), 0);
    every_api_call(f, s, 0);
    after_first = stmts_on(s);
    assert_true(after_first > 20);
    assert_true(after_first <= STORE_STMT_CACHE_MAX);
    mark = stmt_for(s, "INSERT INTO handled_events");
    assert_non_null(mark);
    /* Per round: unknown instance, a mark, a duplicate, the rolled-back mark. */
    assert_int_equal(runs_of(mark), 4);

    every_api_call(f, s, 1);
    assert_int_equal(stmts_on(s), after_first);
    assert_ptr_equal(stmt_for(s, "INSERT INTO handled_events"), mark);
    assert_int_equal(runs_of(mark), 8);
    /* Reused, never prepared again (a schema change would re-prepare it). */
    assert_int_equal(sqlite3_stmt_status(mark, SQLITE_STMTSTATUS_REPREPARE, 0), 0);
    /* Savepoints too: one statement serves every nested level. */
    assert_non_null(stmt_for(s, "SAVEPOINT nested"));
    store_close(s);
}

/* A statement whose step failed (a constraint) is reset and works as new on its next use,
 * and it keeps none of the failed call's values. */
static void test_stmt_cache_same_after_error(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct listing l = {.s = s};
    sqlite3_stmt *mark;

    /* The foreign key fails at the step, on the cached statement. */
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e1", 1), -ENOENT);
    mark = stmt_for(s, "INSERT INTO handled_events");
    assert_non_null(mark);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e1", 1), 0);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e1", 2), -EEXIST);
    assert_int_equal(store_event_mark_handled(s, "bot-1", "$e2", 2), 0);
    assert_ptr_equal(stmt_for(s, "INSERT INTO handled_events"), mark);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$e1"), 1);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$e3"), 0);

    /* A unique key failing inside the outbox's nested transaction, then the next add. */
    outbox_add(s, "bot-1", "txn-a", 1);
    assert_int_equal(store_outbox_add(s, "bot-1", "txn-a", "!r:x", "m.room.message", "{}", 2),
                     -EEXIST);
    outbox_add(s, "bot-1", "txn-b", 2);
    outbox_add(s, "bot-1", "txn-c", 3);

    /* A listing stopped by its callback, then a full one: the stopped one's cursor and
     * instance are not left bound. */
    l.stop_at = 1;
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), -ECANCELED);
    l = (struct listing){.s = s};
    assert_int_equal(store_outbox_list(s, "bot-1", collect_outbox, &l), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.txn_ids[0], "txn-a");
    assert_string_equal(l.txn_ids[2], "txn-c");
    assert_idle(f, s);

    /* No statement keeps a value bound after its call (the caller's strings are freed). */
    assert_int_equal(store_account_put(s, "bot-1", USER, "D1", TOKEN), 0);
    for (sqlite3_stmt *st = sqlite3_next_stmt(s->db, NULL); st; st = sqlite3_next_stmt(s->db, st)) {
        char *sql = sqlite3_expanded_sql(st);

        assert_non_null(sql);
        assert_null(strstr(sql, USER));
        assert_null(strstr(sql, "txn-"));
        sqlite3_free(sql);
    }
    store_close(s);
}

struct nested {
    struct store *s;
    size_t outer, inner;
};

static int list_inner(const struct store_outbox_entry *e, void *userdata)
{
    struct nested *n = userdata;

    (void)e;
    n->inner++;
    return 0;
}

static int list_again(const struct store_outbox_entry *e, void *userdata)
{
    struct nested *n = userdata;

    (void)e;
    n->outer++;
    return store_outbox_list(n->s, "bot-1", list_inner, n);
}

/* A callback may list the same outbox again: the outer listing's statement is lent out, so
 * the inner one gets a copy of its own, which later nested listings reuse. */
static void test_stmt_cache_nested_listing(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    struct nested n = {.s = s};
    size_t stmts;

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    outbox_add(s, "bot-1", "txn-a", 1);
    outbox_add(s, "bot-1", "txn-b", 2);
    outbox_add(s, "bot-1", "txn-c", 3);
    assert_int_equal(store_outbox_list(s, "bot-1", list_again, &n), 0);
    assert_int_equal(n.outer, 3);
    assert_int_equal(n.inner, 9);
    assert_idle(f, s);
    stmts = stmts_on(s);

    n = (struct nested){.s = s};
    assert_int_equal(store_outbox_list(s, "bot-1", list_again, &n), 0);
    assert_int_equal(n.inner, 9);
    assert_int_equal(stmts_on(s), stmts);
    store_close(s);
}

/* --- the page cache --- */

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t value;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return value;
}

/* With a database several times larger than the cache, the connection's page cache stays
 * within STORE_PAGE_CACHE_KIB (SQLite's default would hold 2 000 KiB of it). */
static void test_page_cache_bounded(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    int cur = 0, high = 0;
    char event[64];

    assert_int_equal(pragma_int(s->db, "PRAGMA cache_size"), -STORE_PAGE_CACHE_KIB);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_transaction_begin(s), 0);
    for (int i = 0; i < 30000; i++) {
        (void)snprintf(event, sizeof(event), "$event-%06d:clarun.xyz", (i * 7919) % 30000);
        assert_int_equal(store_event_mark_handled(s, "bot-1", event, i), 0);
    }
    assert_int_equal(store_transaction_commit(s), 0);
    for (int i = 0; i < 30000; i += 97) {
        (void)snprintf(event, sizeof(event), "$event-%06d:clarun.xyz", i);
        assert_int_equal(store_event_is_handled(s, "bot-1", event), 1);
    }
    assert_true(pragma_int(s->db, "PRAGMA page_count") * pragma_int(s->db, "PRAGMA page_size") >
                4 * STORE_PAGE_CACHE_KIB * 1024);
    assert_int_equal(sqlite3_db_status(s->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &high, 0),
                     SQLITE_OK);
    /* Full, and within the bound: SQLite counts each page's header and malloc's rounding
     * too, a few percent over the pages themselves (the default's cache held 2 050 KiB). */
    assert_true(cur > STORE_PAGE_CACHE_KIB * 1024 / 2);
    assert_true(cur <= STORE_PAGE_CACHE_KIB * 1024 + STORE_PAGE_CACHE_KIB * 1024 / 8);
    store_close(s);
}

/* The page cache has no bulk allocation up front (store_open() configures SQLite so): a
 * connection that reads one page of a small database holds a few pages' worth of memory, not
 * the 20 pages (about 87 KiB) of SQLite's default bulk. */
static void test_page_cache_not_preallocated(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    char other[PATH_MAX];
    sqlite3 *db = NULL;
    sqlite3_int64 before;

    store_close(s);
    path_join(other, sizeof(other), f->base, "other.db");
    before = sqlite3_memory_used();
    assert_int_equal(sqlite3_open_v2(other, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    assert_int_equal(
            sqlite3_exec(db, "CREATE TABLE t (x); SELECT * FROM sqlite_master", NULL, NULL, NULL),
            SQLITE_OK);
    assert_true(sqlite3_memory_used() - before < 64 * 1024);
    sqlite3_close(db);
}

/* --- WAL checkpoints, off the commit --- */

static off_t size_of(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* One batch as the worker commits it: BATCH marks in one transaction. */
static void commit_batch(struct store *s, int *serial, int batch)
{
    char event[64];

    assert_int_equal(store_transaction_begin(s), 0);
    for (int i = 0; i < batch; i++, (*serial)++) {
        (void)snprintf(event, sizeof(event), "$event-%08d:clarun.xyz", *serial);
        assert_int_equal(store_event_mark_handled(s, "bot-1", event, *serial), 0);
    }
    assert_int_equal(store_transaction_commit(s), 0);
}

/* No commit copies the WAL into bot.db (in WAL mode the main file changes only at a
 * checkpoint), however many frames the batches gather; saving the sync position after a
 * batch does, once STORE_CHECKPOINT_FRAMES are there, and does nothing before. */
static void test_checkpoint_after_batch_not_in_commit(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    int serial = 0, batches = 0;
    off_t before;
    char *next_batch = NULL;

    /* SQLite's auto-checkpoint is off: PRAGMA wal_autocheckpoint reads 0 under our hook. */
    assert_int_equal(pragma_int(s->db, "PRAGMA wal_autocheckpoint"), 0);
    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    assert_int_equal(store_account_put(s, "bot-1", USER, "DEVICE", TOKEN), 0);
    assert_int_equal(store_sync_position_set(s, "bot-1", "s0", "f0"), 0);
    before = size_of(f->db);
    assert_int_equal(store_checkpoint(s), 0);

    while (s->wal_frames < STORE_CHECKPOINT_FRAMES) {
        commit_batch(s, &serial, 50);
        assert_true(++batches < 10000);
    }
    assert_int_equal(size_of(f->db), before);
    /* Not inside a transaction: that is the dispatch path. */
    assert_int_equal(store_transaction_begin(s), 0);
    assert_int_equal(store_checkpoint(s), 0);
    assert_int_equal(store_transaction_commit(s), 0);
    assert_int_equal(size_of(f->db), before);

    assert_int_equal(store_sync_position_set(s, "bot-1", "s1", "f1"), 0);
    assert_true(size_of(f->db) > before);
    assert_true(s->wal_frames < STORE_CHECKPOINT_FRAMES);
    assert_int_equal(store_checkpoint(s), 0);
    assert_int_equal(store_sync_position_get(s, "bot-1", &next_batch, NULL), 0);
    assert_string_equal(next_batch, "s1");
    free(next_batch);
    assert_int_equal(store_event_is_handled(s, "bot-1", "$event-00000000:clarun.xyz"), 1);
    store_close(s);
}

/* A process that never saves a sync position (the supervisor) still bounds the WAL: the
 * commit that takes it past STORE_CHECKPOINT_FORCE_FRAMES checkpoints, and none before. */
static void test_checkpoint_forced_past_bound(void **state)
{
    struct fixture *f = *state;
    struct store *s = open_ok(f, KEY_A);
    int serial = 0, frames_before = 0;
    off_t before;

    assert_int_equal(store_instance_set_state(s, "bot-1", "running", NULL, 1), 0);
    before = size_of(f->db);
    for (int batches = 0; size_of(f->db) == before; batches++) {
        assert_true(batches < 10000);
        frames_before = s->wal_frames;
        commit_batch(s, &serial, 200);
    }
    assert_true(frames_before > STORE_CHECKPOINT_FRAMES);
    assert_true(frames_before < STORE_CHECKPOINT_FORCE_FRAMES);
    assert_true(s->wal_frames < STORE_CHECKPOINT_FRAMES);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
            T(test_fresh_create_modes),
            T(test_reopen_keeps_data),
            T(test_migration_sets_version_and_wal),
            T(test_empty_file_is_fresh),
            T(test_writable_dir_refused),
            T(test_symlinked_dir_refused),
            T(test_not_a_directory_refused),
            T(test_other_owner_refused),
            T(test_symlinked_db_refused),
            T(test_wider_db_mode_tightened),
            T(test_short_key_refused),
            T(test_garbage_refused_unchanged),
            T(test_truncated_refused_unchanged),
            T(test_damaged_page_refused_unchanged),
            T(test_newer_schema_refused_unchanged),
            T(test_wrong_key_refused_unchanged),
            T(test_missing_key_check_refused_unchanged),
            T(test_two_handles_share_state),
            T(test_token_sealed_in_file),
            T(test_token_from_other_key_rejected),
            T(test_account_api),
            T(test_sync_position),
            T(test_instance_state),
            T(test_plugin_state),
            T(test_outbox),
            T(test_outbox_survives_reopen_and_cap),
            T(test_event_dedup),
            T(test_event_dedup_survives_crash),
            T(test_stale_wal_not_replayed),
            T(test_notifications),
            T(test_migration_from_version_1),
            T(test_dispatch_attempts),
            T(test_account_password),
            T(test_transactions_nest_and_roll_back),
            T(test_stmt_cache_busy_is_detected),
            T(test_stmt_cache_reuses_statements),
            T(test_stmt_cache_same_after_error),
            T(test_stmt_cache_nested_listing),
            T(test_page_cache_bounded),
            T(test_page_cache_not_preallocated),
            T(test_checkpoint_after_batch_not_in_commit),
            T(test_checkpoint_forced_past_bound),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
