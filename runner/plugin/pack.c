/* Building a plugin package from a plugin directory (`botrunner plugin pack`): every regular
 * file below it, sorted, written by libarchive's zip writer with nothing that varies from one
 * build to the next (times, owners, modes, order), then read back as the runner reads
 * packages, so a package this makes is one the runner takes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin/archive_dl.h"
#include "plugin/package.h"
#include "util/text.h"

/* 1980-01-01T00:00:00Z: the earliest time a zip can hold (and what Nix and other
 * reproducible builds use for it). */
#define PACK_MTIME 315532800

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

struct file_list {
    char **names;
    size_t n;
};

static void file_list_done(struct file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

/* Regular files (a symlink to one counts: Nix plugin trees link into the store) below
 * dir/rel, names relative to dir; hidden entries skipped. Bounded as packages are. */
static int collect(const char *dir, const char *rel, unsigned depth, struct file_list *l,
                   char *why, size_t cap)
{
    _cleanup_free_ char *path = NULL;
    struct dirent *de;
    DIR *d;
    int r = 0;

    if (depth > PACKAGE_MAX_DEPTH)
        return fail(-E2BIG, why, cap, "%s is nested deeper than %u", rel, PACKAGE_MAX_DEPTH);
    if (asprintf(&path, "%s%s%s", dir, *rel ? "/" : "", rel) < 0)
        return -ENOMEM;
    d = opendir(path);
    if (!d)
        return fail(negative_errno(), why, cap, "cannot read %s: %m", path);
    while (r >= 0 && (de = readdir(d))) {
        _cleanup_free_ char *name = NULL, *full = NULL;
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        if (asprintf(&name, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0 ||
            asprintf(&full, "%s/%s", dir, name) < 0) {
            r = -ENOMEM;
            break;
        }
        if (stat(full, &st) < 0)
            r = fail(negative_errno(), why, cap, "%s: %m", full);
        else if (S_ISDIR(st.st_mode))
            r = collect(dir, name, depth + 1, l, why, cap);
        else if (!S_ISREG(st.st_mode))
            continue;
        else if (l->n == PACKAGE_MAX_ENTRIES)
            r = fail(-E2BIG, why, cap, "more than %u files", PACKAGE_MAX_ENTRIES);
        else
            l->names[l->n++] = TAKE_PTR(name);
    }
    closedir(d);
    return r;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_module(const struct manifest *m, const char *name)
{
    for (size_t i = 0; i < m->n_modules; i++)
        if (streq(m->modules[i], name))
            return true;
    return false;
}

static int read_file(const char *path, uint8_t **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    _cleanup_free_ uint8_t *buf = NULL;
    struct stat st;
    size_t len = 0;

    if (fd < 0)
        return negative_errno();
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if ((uint64_t)st.st_size > PACKAGE_MAX_TOTAL)
        return -E2BIG;
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? negative_errno() : -EIO;
        len += (size_t)n;
    }
    *ret = TAKE_PTR(buf);
    *ret_len = len;
    return 0;
}

struct writer {
    const struct archive_dl *dl;
    struct archive *a;
};

static void writer_done(struct writer *w)
{
    if (w->a)
        w->dl->write_free(w->a);
}

static int add_file(struct writer *w, const char *dir, const char *name, bool module, char *why,
                    size_t cap)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ uint8_t *data = NULL;
    struct archive_entry *e;
    size_t len = 0;
    int r;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return -ENOMEM;
    r = read_file(path, &data, &len);
    if (r < 0)
        return fail(r, why, cap, "cannot read %s: %s", path, strerror(-r));
    e = w->dl->entry_new();
    if (!e)
        return -ENOMEM;
    w->dl->entry_set_pathname_utf8(e, name);
    w->dl->entry_set_filetype(e, AE_IFREG);
    w->dl->entry_set_perm(e, module ? 0755 : 0644);
    w->dl->entry_set_size(e, (la_int64_t)len);
    w->dl->entry_set_mtime(e, PACK_MTIME, 0);
    r = w->dl->write_header(w->a, e) == ARCHIVE_OK &&
                (len == 0 || w->dl->write_data(w->a, data, len) == (la_ssize_t)len)
                ? 0
                : fail(-EIO, why, cap, "cannot write %s: %s", name, w->dl->error_string(w->a));
    w->dl->entry_free(e);
    return r;
}

static int write_zip(const char *dir, const struct manifest *m, const struct file_list *l,
                     const char *out, char *why, size_t cap)
{
    _cleanup_(writer_done) struct writer w = {0};
    int r;

    r = archive_dl_load(&w.dl);
    if (r < 0)
        return fail(r, why, cap, "libarchive cannot be loaded");
    w.a = w.dl->write_new();
    if (!w.a)
        return -ENOMEM;
    if (w.dl->write_set_format_zip(w.a) != ARCHIVE_OK ||
        w.dl->write_set_options(w.a, "zip:compression=deflate") != ARCHIVE_OK ||
        w.dl->write_open_filename(w.a, out) != ARCHIVE_OK)
        return fail(-EIO, why, cap, "cannot write %s: %s", out, w.dl->error_string(w.a));
    for (size_t i = 0; i < l->n; i++) {
        r = add_file(&w, dir, l->names[i], is_module(m, l->names[i]), why, cap);
        if (r < 0)
            return r;
    }
    if (w.dl->write_close(w.a) != ARCHIVE_OK)
        return fail(-EIO, why, cap, "cannot finish %s: %s", out, w.dl->error_string(w.a));
    return 0;
}

int package_pack(const char *dir, const char *out, char *why, size_t cap)
{
    _cleanup_(manifest_done) struct manifest m = {0};
    _cleanup_(file_list_done) struct file_list l = {0};
    _cleanup_(package_freep) struct package *p = NULL;
    _cleanup_free_ char *tmp = NULL;
    int r;

    r = manifest_read(dir, &m, why, cap);
    if (r < 0)
        return r;
    l.names = calloc(PACKAGE_MAX_ENTRIES, sizeof(char *));
    if (!l.names)
        return -ENOMEM;
    r = collect(dir, "", 0, &l, why, cap);
    if (r < 0)
        return r;
    qsort(l.names, l.n, sizeof(char *), compare_names);
    if (asprintf(&tmp, "%s.tmp-%d", out, (int)getpid()) < 0)
        return -ENOMEM;
    r = write_zip(dir, &m, &l, tmp, why, cap);
    /* What the runner will not take is not kept. */
    if (r >= 0)
        r = package_open(tmp, &p, why, cap);
    if (r >= 0 && rename(tmp, out) < 0)
        r = fail(negative_errno(), why, cap, "cannot move it to %s: %m", out);
    if (r < 0)
        (void)unlink(tmp);
    return r;
}
