/* Reading a declared plugin for the config: a package through plugin/package.c, a directory
 * through its maubot.yaml; then, for an enabled one, its modules and its dependencies. Every
 * message names the plugin, its path and the reason, in one sentence. */
#include "config/plugin_facts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/settings.h"
#include "plugin/deps.h"
#include "plugin/manifest.h"
#include "plugin/package.h"
#include "plugin/verify.h"
#include "util/text.h"

void plugin_facts_done(struct plugin_facts *f)
{
    free(f->id);
    free(f->version);
    free(f->schema_json);
    free(f->sha256);
    *f = (struct plugin_facts){0};
}

static int take_manifest(struct manifest *m, const char *sha256, struct plugin_facts *ret)
{
    ret->id = TAKE_PTR(m->id);
    ret->version = TAKE_PTR(m->version);
    ret->schema_json = TAKE_PTR(m->config_schema_json);
    ret->sha256 = sha256 ? strdup(sha256) : NULL;
    return sha256 && !ret->sha256 ? -ENOMEM : 0;
}

int plugin_facts_read(const char *path, bool enabled, struct plugin_facts *ret, char *why,
                      size_t cap)
{
    _cleanup_(manifest_done) struct manifest dir_m = {0};
    _cleanup_(package_freep) struct package *pkg = NULL;
    struct manifest *m;
    struct stat st;
    char reason[384];
    int r, q;

    if (stat(path, &st) < 0) {
        snprintf(why, cap, "plugin %s cannot be read: %s", TEXT_QUOTE(path), strerror(errno));
        return negative_errno();
    }
    r = S_ISDIR(st.st_mode) ? manifest_read(path, &dir_m, reason, sizeof(reason))
                            : package_open(path, &pkg, reason, sizeof(reason));
    if (r < 0) {
        snprintf(why, cap, "plugin %s cannot be read: %s", TEXT_QUOTE(path), reason);
        return r;
    }
    m = pkg ? &pkg->manifest : &dir_m;
    /* A schema the checker cannot apply would let any settings through: refused. */
    if (m->config_schema_json && settings_schema_check(m->config_schema_json, reason, sizeof(reason)) < 0) {
        snprintf(why, cap, "plugin %s %s (%s) has a config_schema botrunner cannot apply: %s",
                 m->id, m->version, TEXT_QUOTE(path), reason);
        take_manifest(m, NULL, ret);
        return -EBADMSG;
    }
    if (enabled) {
        r = pkg ? plugin_verify_package(pkg, reason, sizeof(reason))
                : plugin_verify_directory(path, m, reason, sizeof(reason));
        if (r >= 0)
            r = deps_check_all(m, reason, sizeof(reason));
        if (r < 0)
            snprintf(why, cap, "plugin %s %s (%s) cannot be loaded: %s", m->id, m->version,
                     TEXT_QUOTE(path), reason);
    }
    q = take_manifest(m, pkg ? pkg->sha256 : NULL, ret);
    return r < 0 ? r : q;
}
