/* Tests for config/credentials.c: name and path resolution, file type, size and mode
 * checks, newline stripping, and the registration token rules. */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/credentials.h"

static char dir[] = "/tmp/test-credentials-XXXXXX";

/* Write a file in the test directory with the given mode, return its absolute path. */
static const char *put(const char *name, const void *data, size_t len, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_from_credentials_directory(void **state)
{
    _cleanup_credential_ struct credential c = {};
    const char *reason = "unset";
    (void)state;

    put("secret-key", "0123456789abcdef0123456789abcdef\n", 33, 0400);
    assert_int_equal(
            credential_load("secret-key", CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX, &c, &reason),
            0);
    assert_int_equal(c.len, 32);
    assert_memory_equal(c.data, "0123456789abcdef0123456789abcdef", 33);
    assert_false(c.too_open);
    char expect[512];
    snprintf(expect, sizeof expect, "%s/secret-key", dir);
    assert_string_equal(c.origin, expect);
    assert_null(reason);
}

static void test_from_absolute_path(void **state)
{
    char *data = NULL;
    size_t len = 0;
    (void)state;

    const char *path = put("pw", "hunter22\r\n", 10, 0600);
    assert_int_equal(credential_read(path, 1, 64, &data, &len), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "hunter22");
    credential_free(data, len);

    /* Only one trailing newline is stripped; a lone "\r" is content. */
    path = put("pw2", "a\n\n", 3, 0600);
    assert_int_equal(credential_read(path, 1, 64, &data, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(data, "a\n", 2);
    credential_free(data, len);
    path = put("pw3", "abc\r", 4, 0600);
    assert_int_equal(credential_read(path, 1, 64, &data, &len), 0);
    assert_int_equal(len, 4);
    credential_free(data, len);

    /* Binary content is kept whole; len is authoritative. */
    path = put("bin", "ab\0cd", 5, 0600);
    assert_int_equal(credential_read(path, 5, 5, &data, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "ab\0cd", 5);
    credential_free(data, len);

    /* Symlinks are followed to the regular file they name. */
    char link[512];
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(credential_read(link, 5, 5, &data, &len), 0);
    credential_free(data, len);
}

static void test_bad_references(void **state)
{
    struct credential c = {.len = 7};
    const char *reason = NULL;
    (void)state;

    assert_int_equal(credential_load("sub/secret", 0, 64, &c, &reason), -EINVAL);
    assert_non_null(strstr(reason, "absolute"));
    assert_int_equal(credential_load("./secret", 0, 64, &c, NULL), -EINVAL);

    const char *unsafe[] = {".", "..", "", "a b", "name\n", "na*me", "x:y", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        reason = NULL;
        assert_int_equal(credential_load(unsafe[i], 0, 64, &c, &reason), -EINVAL);
        assert_non_null(reason);
        assert_false(credential_name_is_valid(unsafe[i]));
    }
    char longname[CREDENTIAL_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(credential_name_is_valid(longname));
    longname[CREDENTIAL_NAME_MAX] = '\0';
    assert_true(credential_name_is_valid(longname));
    assert_true(credential_name_is_valid("..secret-key_1.txt"));

    /* Failures leave *ret alone. */
    assert_int_equal(c.len, 7);
    assert_null(c.data);
}

static void test_no_credentials_directory(void **state)
{
    struct credential c = {};
    const char *reason = NULL;
    (void)state;

    put("token", "abcdef", 6, 0600);
    unsetenv("CREDENTIALS_DIRECTORY");
    assert_int_equal(credential_load("token", 0, 64, &c, &reason), -ENXIO);
    assert_non_null(strstr(reason, "CREDENTIALS_DIRECTORY"));
    setenv("CREDENTIALS_DIRECTORY", "relative/dir", 1);
    assert_int_equal(credential_load("token", 0, 64, &c, &reason), -ENXIO);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    assert_int_equal(credential_load("token", 0, 64, &c, &reason), 0);
    credential_done(&c);
    assert_null(c.data);
    assert_null(c.origin);
}

static void test_file_errors(void **state)
{
    struct credential c = {};
    const char *reason = NULL;
    char path[512];
    (void)state;

    assert_int_equal(credential_load("missing", 0, 64, &c, &reason), -ENOENT);
    assert_null(reason);

    snprintf(path, sizeof path, "%s/adir", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(credential_load("adir", 0, 64, &c, &reason), -EISDIR);
    assert_int_equal(credential_load(path, 0, 64, &c, NULL), -EISDIR);

    /* A FIFO is refused without blocking on open. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(credential_load(path, 0, 64, &c, &reason), -EBADFD);
    assert_int_equal(credential_load("/dev/null", 0, 64, &c, NULL), -EBADFD);
}

static void test_sizes(void **state)
{
    struct credential c = {};
    const char *reason = NULL;
    char big[CREDENTIAL_MAX + 2];
    (void)state;

    memset(big, 'k', sizeof big);
    put("big", big, CREDENTIAL_MAX + 1, 0600);
    assert_int_equal(credential_load("big", 0, CREDENTIAL_MAX, &c, &reason), -E2BIG);
    assert_non_null(reason);

    /* Exactly max_len, with or without a trailing newline, fits. */
    put("max", big, 16, 0600);
    assert_int_equal(credential_load("max", 0, 16, &c, NULL), 0);
    credential_done(&c);
    big[16] = '\n';
    put("max-nl", big, 17, 0600);
    assert_int_equal(credential_load("max-nl", 0, 16, &c, NULL), 0);
    assert_int_equal(c.len, 16);
    credential_done(&c);
    /* One byte more does not, newline or not. */
    big[16] = 'k';
    big[17] = '\n';
    put("over-nl", big, 18, 0600);
    assert_int_equal(credential_load("over-nl", 0, 16, &c, NULL), -E2BIG);
    put("over", big, 17, 0600);
    assert_int_equal(credential_load("over", 0, 16, &c, NULL), -E2BIG);

    /* The minimum is checked after the newline is stripped: 31 bytes and "\n" is short. */
    put("short-key", big, 31, 0600);
    big[31] = '\n';
    put("short-key-nl", big, 32, 0600);
    assert_int_equal(
            credential_load("short-key", CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX, &c, &reason),
            -EINVAL);
    assert_non_null(strstr(reason, "shorter"));
    assert_int_equal(
            credential_load("short-key-nl", CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX, &c, NULL),
            -EINVAL);
    put("empty", "", 0, 0600);
    assert_int_equal(credential_load("empty", 1, 64, &c, NULL), -EINVAL);
    assert_int_equal(credential_load("empty", 0, 64, &c, NULL), 0);
    assert_int_equal(c.len, 0);
    assert_string_equal(c.data, "");
    credential_done(&c);
}

static void test_modes(void **state)
{
    struct credential c = {};
    (void)state;

    const char *path = put("open", "password", 8, 0644);
    assert_int_equal(credential_load(path, 1, 64, &c, NULL), 0);
    assert_true(c.too_open);
    credential_done(&c);
    assert_int_equal(credential_load("open", 1, 64, &c, NULL), 0);
    assert_true(c.too_open);
    credential_done(&c);

    path = put("closed", "password", 8, 0600);
    assert_int_equal(credential_load(path, 1, 64, &c, NULL), 0);
    assert_false(c.too_open);
    credential_done(&c);

    /* Group-readable: flagged at an arbitrary path, but not in $CREDENTIALS_DIRECTORY,
     * where systemd's ACL shows as group bits and the directory is private to the unit. */
    path = put("group", "password", 8, 0640);
    assert_int_equal(credential_load(path, 1, 64, &c, NULL), 0);
    assert_true(c.too_open);
    credential_done(&c);
    assert_int_equal(credential_load("group", 1, 64, &c, NULL), 0);
    assert_false(c.too_open);
    credential_done(&c);
}

static void test_registration_token(void **state)
{
    char tok[REGISTRATION_TOKEN_MAX + 1];
    (void)state;

    assert_int_equal(registration_token_validate("abc-DEF_1.2~3", 13), 0);
    memset(tok, 'a', sizeof tok);
    assert_int_equal(registration_token_validate(tok, REGISTRATION_TOKEN_MAX), 0);
    assert_int_equal(registration_token_validate(tok, REGISTRATION_TOKEN_MAX + 1), -EINVAL);
    assert_int_equal(registration_token_validate("", 0), -EINVAL);
    assert_int_equal(registration_token_validate(NULL, 3), -EINVAL);

    const char *bad[] = {"a b", "a/b", "a+b", "a=b", "t\xc3\xa9", "a\nb", "a%b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(registration_token_validate(bad[i], strlen(bad[i])), -EINVAL);
    /* An embedded NUL is not a token character. */
    assert_int_equal(registration_token_validate("ab\0c", 4), -EINVAL);
}

static void test_free_handles_null(void **state)
{
    struct credential c = {};
    (void)state;

    credential_free(NULL, 0);
    credential_free(NULL, 99);
    credential_done(&c);
    credential_done(NULL);
    /* The cleanup of a loaded credential resets it: a double cleanup is harmless. */
    put("twice", "abcdef", 6, 0600);
    assert_int_equal(credential_load("twice", 0, 64, &c, NULL), 0);
    credential_done(&c);
    assert_int_equal(c.len, 0);
    credential_done(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_from_credentials_directory),
            cmocka_unit_test(test_from_absolute_path),
            cmocka_unit_test(test_bad_references),
            cmocka_unit_test(test_no_credentials_directory),
            cmocka_unit_test(test_file_errors),
            cmocka_unit_test(test_sizes),
            cmocka_unit_test(test_modes),
            cmocka_unit_test(test_registration_token),
            cmocka_unit_test(test_free_handles_null),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
