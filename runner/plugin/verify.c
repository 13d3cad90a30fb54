/* Proves a plugin directory loadable by reading its modules (plugin/elf.c), never running
 * them: what dlopen and dlsym will find, checked by the rules the host applies after them. */
#include "plugin/verify.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "plugin/descriptor.h"
#include "plugin/elf.h"
#include "plugin/package.h"
#include "util/macro.h"
#include "util/text.h"

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

static const char *map_error(int r)
{
    switch (r) {
    case -ENOENT:
        return "does not exist";
    case -EBADFD:
        return "is not a regular file";
    case -ENOEXEC:
        return "is empty";
    case -EFBIG:
        return "is larger than 64 MiB";
    case -ELOOP:
        return "is a symbolic link loop";
    default:
        return NULL;
    }
}

/* Check one module's image; when *found is false, also look for main_class in it. */
static int verify_image(const struct manifest *m, const char *name, const uint8_t *image,
                        size_t len, bool *found, char *why, size_t cap)
{
    struct descriptor_facts d;
    char reason[256];
    int r;

    r = elf_check_image(image, len, reason, sizeof(reason));
    if (r >= 0 && !*found) {
        r = elf_read_descriptor(image, len, m->main_class, &d, reason, sizeof(reason));
        if (r >= 0) {
            *found = true;
            r = descriptor_check(m, &d, reason, sizeof(reason));
        } else if (r == -ENOENT)
            r = 0; /* maybe a later module exports it */
    }
    if (r < 0)
        return fail(r, why, cap, "module %s: %s", TEXT_QUOTE(name), reason);
    return 0;
}

static int verify_file(const char *dir, const struct manifest *m, const char *name, bool *found,
                       char *why, size_t cap)
{
    const uint8_t *image = NULL;
    char path[PATH_MAX];
    size_t len = 0;
    int n, r;

    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(-ENAMETOOLONG, why, cap, "the path of module %s is too long", TEXT_QUOTE(name));
    r = elf_map_file(path, &image, &len);
    if (r < 0)
        return fail(r, why, cap, "module %s %s", TEXT_QUOTE(name),
                    map_error(r) ? map_error(r) : strerror(-r));
    r = verify_image(m, name, image, len, found, why, cap);
    elf_unmap(image, len);
    return r;
}

static int not_found(const struct manifest *m, char *why, size_t cap)
{
    return fail(-EBADMSG, why, cap, "main_class %s is not exported by %s", m->main_class,
                m->n_modules == 1 ? "its module" : "any of its modules");
}

int plugin_verify_directory(const char *dir, const struct manifest *m, char *why, size_t cap)
{
    bool found = false;
    int r;

    /* Every module, as the host dlopens every one; the first to export main_class wins. */
    for (size_t i = 0; i < m->n_modules; i++) {
        r = verify_file(dir, m, m->modules[i], &found, why, cap);
        if (r < 0)
            return r;
    }
    return found ? 0 : not_found(m, why, cap);
}

int plugin_verify_package(const struct package *p, char *why, size_t cap)
{
    const struct manifest *m = &p->manifest;
    bool found = false;
    int r;

    for (size_t i = 0; i < m->n_modules; i++) {
        const struct package_entry *e = package_find(p, m->modules[i]);
        /* package_parse() checked that each module is a file of the package. */
        r = verify_image(m, m->modules[i], e->data, e->len, &found, why, cap);
        if (r < 0)
            return r;
    }
    return found ? 0 : not_found(m, why, cap);
}
