/* Reading `*_file` credentials: resolving a name or path, checking the file's type, size
 * and mode, reading it whole within bounds, and wiping every copy when it is freed.
 *
 * Nothing here logs or registers secrets with the log: the caller knows which config key
 * asked for the credential and decides both. */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/credentials.h"

static void set_reason(const char **reason, const char *text)
{
    if (reason)
        *reason = text;
}

bool credential_name_is_valid(const char *name)
{
    size_t n;

    if (!name || streq(name, ".") || streq(name, ".."))
        return false;
    n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    return n > 0 && name[n] == '\0' && n <= CREDENTIAL_NAME_MAX;
}

/* The path a name or path refers to. from_dir tells whether it came from
 * $CREDENTIALS_DIRECTORY, which changes what counts as too open. */
static int credential_resolve(const char *name_or_path, char **ret_path, bool *ret_from_dir,
                              const char **reason)
{
    _cleanup_free_ char *path = NULL;
    bool from_dir = !strchr(name_or_path, '/');

    if (!from_dir) {
        if (name_or_path[0] != '/') {
            set_reason(reason, "a value with a '/' must be an absolute path");
            return -EINVAL;
        }
        path = strdup(name_or_path);
    } else {
        if (!credential_name_is_valid(name_or_path)) {
            set_reason(reason, "a credential name may only hold the characters "
                               "[A-Za-z0-9._-] and may not be \".\" or \"..\"");
            return -EINVAL;
        }
        /* secure_getenv: a credential directory is never taken from an untrusted
         * environment. */
        const char *dir = secure_getenv("CREDENTIALS_DIRECTORY");
        if (!dir || dir[0] == '\0') {
            set_reason(reason, "$CREDENTIALS_DIRECTORY is not set: a credential name needs "
                               "systemd's LoadCredential= (or give an absolute path)");
            return -ENXIO;
        }
        if (dir[0] != '/') {
            set_reason(reason, "$CREDENTIALS_DIRECTORY is not an absolute path");
            return -ENXIO;
        }
        if (asprintf(&path, "%s/%s", dir, name_or_path) < 0)
            path = NULL;
    }
    if (!path)
        return -ENOMEM;
    if (strlen(path) >= PATH_MAX) {
        set_reason(reason, "the path is too long");
        return -ENAMETOOLONG;
    }

    *ret_path = TAKE_PTR(path);
    *ret_from_dir = from_dir;
    return 0;
}

/* Under $CREDENTIALS_DIRECTORY systemd grants the service user access through an ACL,
 * whose mask shows in the group bits (-r--r-----+), and the directory itself is private to
 * the unit: only access by others is a problem there. Elsewhere group access is too. */
static bool mode_too_open(mode_t mode, bool from_dir)
{
    mode_t others = S_IROTH | S_IWOTH, group = S_IRGRP | S_IWGRP;

    return (mode & (from_dir ? others : others | group)) != 0;
}

static int check_file(const struct stat *st, size_t max_len, const char **reason)
{
    if (S_ISDIR(st->st_mode)) {
        set_reason(reason, "is a directory");
        return -EISDIR;
    }
    if (!S_ISREG(st->st_mode)) {
        set_reason(reason, "is not a regular file");
        return -EBADFD;
    }
    /* Two bytes more for the trailing "\r\n" that is stripped. */
    if (st->st_size < 0 || (unsigned long long)st->st_size > max_len + 2) {
        set_reason(reason, "is larger than the maximum size");
        return -E2BIG;
    }
    return 0;
}

/* Read until end of file or until cap bytes are in buf. The size from fstat() is not
 * trusted (the file may grow), so the caller passes one byte more than it accepts and
 * treats a full buffer as too large. On failure the bytes read so far are wiped. */
static int read_bounded(int fd, char *buf, size_t cap, size_t *ret_len)
{
    size_t n = 0;

    while (n < cap) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            int r = negative_errno();
            explicit_bzero(buf, n);
            return r;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    *ret_len = n;
    return 0;
}

/* One trailing "\n" or "\r\n", as left by `echo` or an editor, is not part of the secret. */
static size_t strip_newline(const char *data, size_t len)
{
    if (len > 0 && data[len - 1] == '\n') {
        len--;
        if (len > 0 && data[len - 1] == '\r')
            len--;
    }
    return len;
}

int credential_load(const char *name_or_path, size_t min_len, size_t max_len,
                    struct credential *ret, const char **reason)
{
    _cleanup_credential_ struct credential c = {};
    _cleanup_close_ int fd = -EBADF;
    struct stat st;
    bool from_dir;
    size_t n = 0;
    int r;

    assert(ret);
    assert(min_len <= max_len && max_len <= CREDENTIAL_MAX);
    set_reason(reason, NULL);

    if (!name_or_path || name_or_path[0] == '\0') {
        set_reason(reason, "is empty");
        return -EINVAL;
    }
    r = credential_resolve(name_or_path, &c.origin, &from_dir, reason);
    if (r < 0)
        return r;

    /* O_NONBLOCK: opening a FIFO planted at the path must not hang start-up; fstat() then
     * refuses it. It has no effect on reading a regular file. */
    fd = open(c.origin, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return negative_errno();
    if (fstat(fd, &st) < 0)
        return negative_errno();
    r = check_file(&st, max_len, reason);
    if (r < 0)
        return r;

    /* Content, "\r\n", one byte to detect a larger file, and the NUL. */
    size_t cap = max_len + 3;
    c.data = malloc(cap + 1);
    if (!c.data)
        return -ENOMEM;
    r = read_bounded(fd, c.data, cap, &n);
    if (r < 0)
        return r;
    c.len = n; /* from here on, the cleanup wipes what was read */

    if (n == cap || strip_newline(c.data, n) > max_len) {
        set_reason(reason, "is larger than the maximum size");
        return -E2BIG;
    }
    if (strip_newline(c.data, n) < min_len) {
        set_reason(reason, "is shorter than the minimum size");
        return -EINVAL;
    }
    /* The stripped newline bytes are not secret; the wipe covers len bytes from here on. */
    c.len = strip_newline(c.data, n);
    c.data[c.len] = '\0';
    c.too_open = mode_too_open(st.st_mode, from_dir);

    *ret = c;
    c = (struct credential){}; /* NOLINT(clang-analyzer-deadcode.DeadStores): read by the cleanup */
    return 0;
}

int credential_read(const char *name_or_path, size_t min_len, size_t max_len, char **ret,
                    size_t *ret_len)
{
    _cleanup_credential_ struct credential c = {};
    int r;

    assert(ret);
    assert(ret_len);

    r = credential_load(name_or_path, min_len, max_len, &c, NULL);
    if (r < 0)
        return r;
    *ret_len = c.len;
    *ret = TAKE_PTR(c.data);
    return 0;
}

void credential_free(char *data, size_t len)
{
    if (!data)
        return;
    explicit_bzero(data, len);
    free(data);
}

void credential_done(struct credential *c)
{
    if (!c)
        return;
    credential_free(c->data, c->len);
    free(c->origin);
    *c = (struct credential){};
}

int registration_token_validate(const char *tok, size_t len)
{
    static const char allowed[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";

    if (!tok || len == 0 || len > REGISTRATION_TOKEN_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (tok[i] == '\0' || !strchr(allowed, tok[i]))
            return -EINVAL;
    return 0;
}
