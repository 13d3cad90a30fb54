/* Reading a plugin package: the whole .mbp into memory (bounded), its sha256, then every
 * entry through libarchive with the contract's rules applied before a byte of it is kept:
 * names that cannot leave the package, regular files and directories only, counts and sizes
 * bounded (the sizes an entry declares can lie, so the bytes read are counted too), and the
 * expansion bounded against the file's size. Then maubot.yaml, parsed with every field. */
#include "plugin/package.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin/archive_dl.h"
#include "util/text.h"
#include "util/utf8.h"

/* Bytes read from libarchive at a time, and the first allocation for an entry whose size is
 * not declared. */
#define READ_CHUNK (64u * 1024u)

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

bool package_name_is_valid(const char *name)
{
    size_t len, depth = 0;

    if (!name)
        return false;
    len = strlen(name);
    if (len == 0 || len > PACKAGE_NAME_MAX || !utf8_is_valid_text(name, len) ||
        strchr(name, '\\') || strchr(name, 0x7f))
        return false;
    for (const char *c = name;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.') ||
            ++depth > PACKAGE_MAX_DEPTH)
            return false;
        c += n;
        if (*c == '\0')
            return true;
        c++;
    }
}

void package_free(struct package *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_entries; i++) {
        free(p->entries[i].name);
        free(p->entries[i].data);
    }
    free(p->entries);
    manifest_done(&p->manifest);
    free(p);
}

const struct package_entry *package_find(const struct package *p, const char *name)
{
    for (size_t i = 0; i < p->n_entries; i++)
        if (streq(p->entries[i].name, name))
            return &p->entries[i];
    return NULL;
}

/* The reading state: the archive, what the package may still expand to. */
struct reader {
    const struct archive_dl *dl;
    struct archive *a;
    size_t budget;
};

static void reader_done(struct reader *rd)
{
    if (rd->a)
        rd->dl->read_free(rd->a);
}

/* An entry's name as kept: a directory's trailing "/" dropped, then checked. */
static int entry_name(const char *raw, char **ret, char *why, size_t cap)
{
    size_t len;
    char *name;

    if (!raw)
        return fail(-EBADMSG, why, cap, "an entry's name is not UTF-8");
    len = strlen(raw);
    if (len > 0 && raw[len - 1] == '/')
        len--;
    name = strndup(raw, len);
    if (!name)
        return -ENOMEM;
    if (raw[0] == '/' || !package_name_is_valid(name)) {
        free(name);
        return fail(-EBADMSG, why, cap, "entry %s: %s", TEXT_QUOTE(raw),
                    raw[0] == '/' ? "an absolute path"
                                  : "a name that could leave the package (\"..\", \".\", an "
                                    "empty component, a backslash, a control character)");
    }
    *ret = name;
    return 0;
}

static int entry_kind(const struct reader *rd, struct archive_entry *e, const char *name,
                      bool *ret_dir, char *why, size_t cap)
{
    mode_t type = rd->dl->entry_filetype(e);

    if (rd->dl->entry_hardlink(e))
        return fail(-EBADMSG, why, cap, "entry %s is a hard link", TEXT_QUOTE(name));
    if (type == AE_IFLNK)
        return fail(-EBADMSG, why, cap, "entry %s is a symbolic link", TEXT_QUOTE(name));
    if (type != AE_IFREG && type != AE_IFDIR)
        return fail(-EBADMSG, why, cap, "entry %s is a device, FIFO or socket", TEXT_QUOTE(name));
    *ret_dir = type == AE_IFDIR;
    return 0;
}

/* The entry's bytes, counted against the budget as they come (its declared size is only a
 * first refusal: a zip can declare less than it holds). */
static int entry_data(struct reader *rd, struct archive_entry *e, const char *name,
                      struct package_entry *out, char *why, size_t cap)
{
    size_t len = 0, size;
    uint8_t *buf;

    if (rd->dl->entry_size_is_set(e) &&
        (rd->dl->entry_size(e) < 0 || (uint64_t)rd->dl->entry_size(e) > rd->budget))
        return fail(-E2BIG, why, cap, "entry %s declares %lld bytes, more than the package may "
                    "expand to", TEXT_QUOTE(name), (long long)rd->dl->entry_size(e));
    size = rd->dl->entry_size_is_set(e) ? (size_t)rd->dl->entry_size(e) : READ_CHUNK;
    buf = malloc(size + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        la_ssize_t n;
        if (len == size) {
            size_t grown = size + READ_CHUNK > rd->budget + 1 ? rd->budget + 1 : size + READ_CHUNK;
            uint8_t *b = grown > size ? realloc(buf, grown + 1) : NULL;
            if (!b) {
                free(buf);
                return grown > size ? -ENOMEM
                                    : fail(-E2BIG, why, cap, "the package expands past its "
                                           "bound (%zu bytes; compressed %u:1 or more)",
                                           rd->budget, PACKAGE_MAX_RATIO);
            }
            buf = b;
            size = grown;
        }
        n = rd->dl->read_data(rd->a, buf + len, size - len);
        if (n < 0) {
            free(buf);
            return fail(-EBADMSG, why, cap, "entry %s cannot be read: %s", TEXT_QUOTE(name),
                        rd->dl->error_string(rd->a));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > rd->budget) {
            free(buf);
            return fail(-E2BIG, why, cap, "the package expands past its bound (%zu bytes; "
                        "compressed %u:1 or more)", rd->budget, PACKAGE_MAX_RATIO);
        }
    }
    buf[len] = '\0';
    rd->budget -= len;
    out->data = buf;
    out->len = len;
    return 0;
}

static int read_entry(struct reader *rd, struct archive_entry *e, struct package *p, char *why,
                      size_t cap)
{
    struct package_entry it = {0};
    int r;

    r = entry_name(rd->dl->entry_pathname_utf8(e), &it.name, why, cap);
    if (r >= 0)
        r = entry_kind(rd, e, it.name, &it.directory, why, cap);
    if (r >= 0 && package_find(p, it.name))
        r = fail(-EBADMSG, why, cap, "entry %s appears twice", TEXT_QUOTE(it.name));
    if (r >= 0 && !it.directory)
        r = entry_data(rd, e, it.name, &it, why, cap);
    if (r < 0) {
        free(it.name);
        return r;
    }
    p->entries[p->n_entries++] = it;
    return 0;
}

static int read_entries(const uint8_t *buf, size_t len, struct package *p, char *why, size_t cap)
{
    _cleanup_(reader_done) struct reader rd = {0};
    struct archive_entry *e;
    int r;

    r = archive_dl_load(&rd.dl);
    if (r < 0)
        return fail(r, why, cap, "libarchive cannot be loaded");
    rd.budget = (size_t)len * PACKAGE_MAX_RATIO < PACKAGE_RATIO_FLOOR ? PACKAGE_RATIO_FLOOR
                                                                      : (size_t)len * PACKAGE_MAX_RATIO;
    if (rd.budget > PACKAGE_MAX_TOTAL)
        rd.budget = PACKAGE_MAX_TOTAL;
    rd.a = rd.dl->read_new();
    if (!rd.a)
        return -ENOMEM;
    rd.dl->read_support_format_zip(rd.a);
    if (rd.dl->read_open_memory(rd.a, buf, len) != ARCHIVE_OK)
        return fail(-EBADMSG, why, cap, "not a readable zip archive: %s",
                    rd.dl->error_string(rd.a));
    p->entries = calloc(PACKAGE_MAX_ENTRIES, sizeof(*p->entries));
    if (!p->entries)
        return -ENOMEM;
    for (;;) {
        r = rd.dl->read_next_header(rd.a, &e);
        if (r == ARCHIVE_EOF)
            return 0;
        /* ARCHIVE_WARN is how libarchive says a name cannot be shown in the process's locale
         * (we never call setlocale); the UTF-8 name is still right. */
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return fail(-EBADMSG, why, cap, "not a valid zip archive: %s",
                        rd.dl->error_string(rd.a));
        if (p->n_entries == PACKAGE_MAX_ENTRIES)
            return fail(-E2BIG, why, cap, "more than %u entries", PACKAGE_MAX_ENTRIES);
        r = read_entry(&rd, e, p, why, cap);
        if (r < 0)
            return r;
    }
}

/* maubot.yaml at the top, parsed in full; each module it names a file at the top. */
static int read_manifest(struct package *p, char *why, size_t cap)
{
    const struct package_entry *y = package_find(p, "maubot.yaml");
    int r;

    if (!y || y->directory)
        return fail(-ENOENT, why, cap, "the package holds no maubot.yaml at its top");
    if (memchr(y->data, '\0', y->len))
        return fail(-EBADMSG, why, cap, "maubot.yaml holds a NUL byte");
    r = manifest_parse((const char *)y->data, y->len, &p->manifest, why, cap);
    if (r < 0)
        return r;
    for (size_t i = 0; i < p->manifest.n_modules; i++) {
        const struct package_entry *m = package_find(p, p->manifest.modules[i]);
        if (!m || m->directory)
            return fail(-ENOENT, why, cap, "module %s is not in the package",
                        TEXT_QUOTE(p->manifest.modules[i]));
    }
    return 0;
}

int package_parse(const uint8_t *buf, size_t len, struct package **ret, char *why, size_t cap)
{
    _cleanup_(package_freep) struct package *p = NULL;
    unsigned char digest[crypto_hash_sha256_BYTES];
    int r;

    if (len > PACKAGE_MAX_FILE)
        return fail(-E2BIG, why, cap, "larger than %u bytes", PACKAGE_MAX_FILE);
    if (len == 0)
        return fail(-EBADMSG, why, cap, "an empty file, not a zip archive");
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->size = len;
    crypto_hash_sha256(digest, buf, len);
    sodium_bin2hex(p->sha256, sizeof(p->sha256), digest, sizeof(digest));
    r = read_entries(buf, len, p, why, cap);
    if (r < 0)
        return r;
    r = read_manifest(p, why, cap);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(p);
    return 0;
}

int package_open(const char *path, struct package **ret, char *why, size_t cap)
{
    _cleanup_close_ int fd = -EBADF;
    _cleanup_free_ uint8_t *buf = NULL;
    struct stat st;
    size_t len = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return fail(negative_errno(), why, cap, "%m");
    if (fstat(fd, &st) < 0)
        return fail(negative_errno(), why, cap, "%m");
    if (!S_ISREG(st.st_mode))
        return fail(-EBADMSG, why, cap, "neither a .mbp file nor a plugin directory");
    if ((uint64_t)st.st_size > PACKAGE_MAX_FILE)
        return fail(-E2BIG, why, cap, "larger than %u bytes", PACKAGE_MAX_FILE);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    /* One byte past the size: a file that grows while read is not the one stat saw. */
    while (len <= (size_t)st.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(negative_errno(), why, cap, "cannot read it: %m");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len != (size_t)st.st_size)
        return fail(-EIO, why, cap, "it changed while it was read");
    return package_parse(buf, len, ret, why, cap);
}
