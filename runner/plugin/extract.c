/* Extracting a checked package for loading: once per sha256, into <packages>/<sha256>/, by
 * writing a temporary directory and renaming it into place, so a directory with that name is
 * always whole (two processes extracting at once: the second rename loses, and its copy is
 * removed). Everything is created relative to directory descriptors with O_NOFOLLOW and
 * O_EXCL: the names were checked, and nothing on disk can redirect a write. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/package.h"
#include "util/fs.h"
#include "util/text.h"

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? negative_errno() : -EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory holding name's last component, made (0700) where missing; *ret_base is the
 * component itself. The caller closes the descriptor. */
static int parent_of(int root, const char *name, int *ret_fd, const char **ret_base)
{
    const char *slash = strrchr(name, '/');
    int fd = dup(root);

    if (fd < 0)
        return negative_errno();
    for (const char *c = name; slash && c < slash;) {
        size_t n = strcspn(c, "/");
        char part[PACKAGE_NAME_MAX + 1];
        int next;

        memcpy(part, c, n);
        part[n] = '\0';
        if (mkdirat(fd, part, 0700) < 0 && errno != EEXIST) {
            int r = negative_errno();
            close(fd);
            return r;
        }
        next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        if (next < 0)
            return negative_errno();
        fd = next;
        c += n + 1;
    }
    *ret_fd = fd;
    *ret_base = slash ? slash + 1 : name;
    return 0;
}

static int write_entry(int root, const struct package_entry *e)
{
    _cleanup_close_ int dir = -EBADF, fd = -EBADF;
    const char *base;
    int r;

    r = parent_of(root, e->name, &dir, &base);
    if (r < 0)
        return r;
    if (e->directory)
        return mkdirat(dir, base, 0700) < 0 && errno != EEXIST ? negative_errno() : 0;
    fd = openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return negative_errno();
    r = write_all(fd, e->data, e->len);
    if (r >= 0 && fsync(fd) < 0)
        r = negative_errno();
    /* Read and run, never written again: 0500 (only the runner's own user exists here). */
    if (r >= 0 && fchmod(fd, 0500) < 0)
        r = negative_errno();
    return r;
}

static int write_tree(const struct package *p, const char *tmp, char *why, size_t cap)
{
    _cleanup_close_ int root = -EBADF;
    int r;

    if (mkdir(tmp, 0700) < 0)
        return fail(negative_errno(), why, cap, "cannot make %s: %m", tmp);
    root = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return fail(negative_errno(), why, cap, "cannot open %s: %m", tmp);
    for (size_t i = 0; i < p->n_entries; i++) {
        r = write_entry(root, &p->entries[i]);
        if (r < 0)
            return fail(r, why, cap, "cannot extract %s: %s", TEXT_QUOTE(p->entries[i].name),
                        strerror(-r));
    }
    if (fsync(root) < 0)
        return fail(negative_errno(), why, cap, "cannot sync %s: %m", tmp);
    return 0;
}

int package_extract(const struct package *p, const char *packages_dir, char **ret_dir, char *why,
                    size_t cap)
{
    _cleanup_free_ char *final = NULL, *tmp = NULL;
    struct stat st;
    int r;

    /* Its parent too (the state directory's plugins/, which the first plugin database would
     * otherwise be the one to make). */
    if (asprintf(&final, "%s", packages_dir) < 0)
        return -ENOMEM;
    if (strrchr(final, '/') && strrchr(final, '/') != final) {
        *strrchr(final, '/') = '\0';
        if (mkdir(final, 0700) < 0 && errno != EEXIST)
            return fail(negative_errno(), why, cap, "cannot make %s: %m", final);
    }
    free(TAKE_PTR(final));
    r = fs_ensure_dir(packages_dir, 0700);
    if (r < 0)
        return fail(r, why, cap, "cannot make %s: %s", packages_dir, strerror(-r));
    if (asprintf(&final, "%s/%s", packages_dir, p->sha256) < 0 ||
        asprintf(&tmp, "%s/.new-%s-%d", packages_dir, p->sha256, (int)getpid()) < 0)
        return -ENOMEM;
    if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
        *ret_dir = TAKE_PTR(final);
        return 0;
    }
    (void)fs_remove_tree(tmp); /* left by a crash of this pid's predecessor */
    r = write_tree(p, tmp, why, cap);
    if (r >= 0 && rename(tmp, final) < 0) {
        r = negative_errno();
        /* Another process put it there first: theirs is the same package. */
        if ((r == -EEXIST || r == -ENOTEMPTY) && lstat(final, &st) == 0 && S_ISDIR(st.st_mode))
            r = 0;
        else
            (void)fail(r, why, cap, "cannot move the extraction into place: %s", strerror(-r));
    }
    (void)fs_remove_tree(tmp);
    if (r < 0)
        return r;
    *ret_dir = TAKE_PTR(final);
    return 0;
}
