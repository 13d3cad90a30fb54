/* Loads a plugin directory into the process: maubot.yaml through manifest_read(), each module
 * through dlopen, and the descriptor through dlsym(main_class), checked before any use. */
#include "plugin/host.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plugin/descriptor.h"
#include "util/macro.h"
#include "util/text.h"

struct plugin_host {
    char *dir;
    struct manifest manifest;
    void **handles; /* one per module, in the manifest's order */
    size_t n_handles;
    struct br_plugin plugin;
};

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

void plugin_host_free(struct plugin_host *h)
{
    if (!h)
        return;
    /* Unload in reverse order: a later module may use symbols of an earlier one. */
    for (size_t i = h->n_handles; i > 0; i--)
        if (h->handles[i - 1])
            (void)dlclose(h->handles[i - 1]);
    free(h->handles);
    manifest_done(&h->manifest);
    free(h->dir);
    free(h);
}

const struct br_plugin *plugin_host_plugin(const struct plugin_host *h)
{
    return &h->plugin;
}

const struct manifest *plugin_host_manifest(const struct plugin_host *h)
{
    return &h->manifest;
}

const char *plugin_host_directory(const struct plugin_host *h)
{
    return h->dir;
}

static int open_module(struct plugin_host *h, const char *name, void **ret, char *why, size_t cap)
{
    char path[PATH_MAX];
    struct stat st;
    void *handle;
    int n;

    /* manifest_read() allowed only plain file names: the path stays inside dir. */
    n = snprintf(path, sizeof(path), "%s/%s", h->dir, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(-ENAMETOOLONG, why, cap, "the path of module %s is too long", TEXT_QUOTE(name));
    if (stat(path, &st) < 0)
        return fail(negative_errno(), why, cap, "module %s: %m", TEXT_QUOTE(name));
    if (!S_ISREG(st.st_mode))
        return fail(-EBADMSG, why, cap, "module %s is not a regular file", TEXT_QUOTE(name));
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *e = dlerror();
        return fail(-EBADMSG, why, cap, "module %s does not load: %s", TEXT_QUOTE(name),
                    e ? e : "unknown error");
    }
    *ret = handle;
    return 0;
}

static int check_descriptor(struct plugin_host *h, const struct br_plugin *d, char *why, size_t cap)
{
    struct descriptor_facts f = {
        .abi_version = d->abi_version,
        .size = d->size,
        .id = d->id,
        .version = d->version,
    };
    int r;

    /* The callbacks are read only once the size says they are there. */
    if (d->abi_version == BR_ABI_VERSION && d->size >= DESCRIPTOR_MIN_SIZE) {
        f.has_start = d->start;
        f.has_stop = d->stop;
        f.has_command = d->command;
    }
    r = descriptor_check(&h->manifest, &f, why, cap);
    if (r < 0)
        return r;
    /* Copy only what the plugin declared; the rest of ours stays NULL. */
    memcpy(&h->plugin, d, d->size < sizeof(h->plugin) ? (size_t)d->size : sizeof(h->plugin));
    return 0;
}

static int load_modules(struct plugin_host *h, char *why, size_t cap)
{
    const struct manifest *m = &h->manifest;
    const struct br_plugin *d = NULL;
    int r;

    h->handles = calloc(m->n_modules, sizeof(void *));
    if (!h->handles)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_modules; i++) {
        r = open_module(h, m->modules[i], &h->handles[i], why, cap);
        if (r < 0)
            return r;
        h->n_handles = i + 1;
        /* The first module exporting main_class wins, in the manifest's order. */
        if (!d)
            d = dlsym(h->handles[i], m->main_class);
    }
    if (!d)
        return fail(-EBADMSG, why, cap, "main_class %s is not exported by the modules",
                    m->main_class);
    return check_descriptor(h, d, why, cap);
}

int plugin_host_load(const char *dir, struct plugin_host **ret, char *why, size_t cap)
{
    _cleanup_(plugin_host_freep) struct plugin_host *h = NULL;
    struct stat st;
    int r;

    /* A package is unpacked into a directory first; this reads only directories. */
    if (stat(dir, &st) < 0)
        return fail(negative_errno(), why, cap, "%s: %m", dir);
    if (!S_ISDIR(st.st_mode))
        return fail(-ENOTDIR, why, cap, "%s is not a plugin directory", dir);
    h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->dir = strdup(dir);
    if (!h->dir)
        return -ENOMEM;
    r = manifest_read(dir, &h->manifest, why, cap);
    if (r < 0)
        return r;
    r = load_modules(h, why, cap);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(h);
    return 0;
}
