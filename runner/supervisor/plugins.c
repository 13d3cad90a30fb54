/* The declared plugins' states (the seed's: validated, loaded, disabled, active, trashed,
 * deleted), kept in bot.db, and the package extractions behind them. At start and after each
 * accepted reload: every enabled package is extracted (once per sha256) before its workers
 * start; an extraction no declared plugin uses any more moves to trash/, a plugin no longer
 * declared is trashed, and trash older than the retention is deleted. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "plugin/package.h"
#include "store/store.h"
#include "supervisor/supervisor.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/macro.h"

/* Trash is kept a week: long enough to roll a bad upgrade back by hand, short enough that
 * old builds do not pile up. BOTRUNNER_TRASH_RETENTION_S shortens it for tests. */
#define PLUGINS_TRASH_RETENTION_S (7 * 86400)

static int64_t retention(void)
{
    const char *v = getenv("BOTRUNNER_TRASH_RETENTION_S");
    char *end;
    long long n;

    if (!v)
        return PLUGINS_TRASH_RETENTION_S;
    n = strtoll(v, &end, 10);
    return *v && !*end && n >= 0 ? n : PLUGINS_TRASH_RETENTION_S;
}

static int dir_path(const struct supervisor *s, const char *sub, char **ret)
{
    return asprintf(ret, "%s/%s", s->config->state_directory, sub) < 0 ? -ENOMEM : 0;
}

/* Extract an enabled package now, so its workers find it ready (and so that a package that
 * cannot be extracted is said once, here). */
static const char *prepare_one(const struct supervisor *s, const struct config_plugin *p,
                               char *why, size_t cap)
{
    _cleanup_(package_freep) struct package *pkg = NULL;
    _cleanup_free_ char *packages = NULL, *dir = NULL;

    if (!p->enabled)
        return "disabled";
    if (!p->sha256)
        return "validated"; /* a directory, loaded in place */
    if (dir_path(s, "plugins/packages", &packages) < 0 ||
        package_open(p->path, &pkg, why, cap) < 0 || package_extract(pkg, packages, &dir, why, cap) < 0)
        return "rejected";
    return "loaded";
}

static bool declared_sha(const struct config *c, const char *sha)
{
    for (uint32_t i = 0; i < c->plugins_count; i++)
        if (c->plugins[i].sha256 && streq(c->plugins[i].sha256, sha))
            return true;
    return false;
}

static bool declared_id(const struct config *c, const char *id)
{
    for (uint32_t i = 0; i < c->plugins_count; i++)
        if (c->plugins[i].id && streq(c->plugins[i].id, id))
            return true;
    return false;
}

/* Extractions of packages no longer declared go to trash/<sha256>. */
static void trash_extractions(const struct supervisor *s)
{
    _cleanup_free_ char *packages = NULL, *trash = NULL;
    struct dirent *de;
    DIR *d;

    if (dir_path(s, "plugins/packages", &packages) < 0 || dir_path(s, "trash", &trash) < 0)
        return;
    d = opendir(packages);
    if (!d)
        return;
    while ((de = readdir(d))) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        if (strlen(de->d_name) != PACKAGE_SHA256_HEX || declared_sha(s->config, de->d_name))
            continue;
        if (asprintf(&from, "%s/%s", packages, de->d_name) < 0 ||
            asprintf(&to, "%s/%s", trash, de->d_name) < 0 || fs_ensure_dir(trash, 0700) < 0)
            break;
        (void)fs_remove_tree(to); /* an older copy of the same package */
        if (rename(from, to) < 0)
            log_warning_errno(negative_errno(), "Cannot move %s to the trash: %m", from);
        else {
            (void)utimensat(AT_FDCWD, to, NULL, 0); /* the retention counts from now */
            log_info("Package %s is no longer declared: moved to %s", de->d_name, to);
        }
    }
    closedir(d);
}

static void empty_trash(const struct supervisor *s, int64_t now)
{
    _cleanup_free_ char *trash = NULL;
    struct dirent *de;
    DIR *d;

    if (dir_path(s, "trash", &trash) < 0 || !(d = opendir(trash)))
        return;
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", trash, de->d_name) < 0 ||
            lstat(path, &st) < 0 || now - st.st_mtime < retention())
            continue;
        if (fs_remove_tree(path) < 0)
            log_warning("Cannot delete %s from the trash", path);
        else
            log_info("Deleted %s from the trash (older than %lld s)", path, (long long)retention());
    }
    closedir(d);
}

/* Rows of plugins no longer declared: trashed, then deleted past the retention. */
static int age_row(const char *id, const struct store_plugin *p, void *userdata)
{
    struct supervisor *s = userdata;
    int64_t now = sup_now_ms() / 1000;

    if (declared_id(s->config, id) || streq(p->state, "deleted"))
        return 0;
    if (!streq(p->state, "trashed"))
        (void)store_plugin_set_state(s->store, id, p->version, p->sha256, "trashed", NULL);
    else if (now - p->updated_at >= retention())
        (void)store_plugin_set_state(s->store, id, p->version, p->sha256, "deleted", NULL);
    return 0;
}

/* What /status lists beside the declared plugins: the trashed and deleted ones. */
static int keep_gone(const char *id, const struct store_plugin *p, void *userdata)
{
    struct supervisor *s = userdata;
    struct gone_plugin *g;

    if (declared_id(s->config, id) || s->n_gone == SUP_GONE_PLUGINS)
        return 0;
    g = &s->gone[s->n_gone];
    g->id = strdup(id);
    g->version = p->version ? strdup(p->version) : NULL;
    snprintf(g->state, sizeof(g->state), "%s", p->state);
    if (g->id)
        s->n_gone++;
    return 0;
}

void plugins_gone_clear(struct supervisor *s)
{
    for (size_t i = 0; i < s->n_gone; i++) {
        free(s->gone[i].id);
        free(s->gone[i].version);
    }
    s->n_gone = 0;
}

void plugins_prepare(struct supervisor *s)
{
    int64_t now = sup_now_ms() / 1000;

    for (uint32_t i = 0; i < s->config->plugins_count; i++) {
        const struct config_plugin *p = &s->config->plugins[i];
        char why[512] = "";
        const char *state = prepare_one(s, p, why, sizeof(why));

        if (streq(state, "rejected"))
            log_error("Plugin %s %s (%s) cannot be extracted: %s", p->id, p->version, p->path, why);
        if (p->id && store_plugin_set_state(s->store, p->id, p->version, p->sha256, state,
                                            *why ? why : NULL) < 0)
            log_warning("Cannot record the state of plugin %s in bot.db", p->id);
    }
    trash_extractions(s);
    empty_trash(s, now);
    (void)store_plugin_list(s->store, age_row, s);
    plugins_gone_clear(s);
    (void)store_plugin_list(s->store, keep_gone, s);
    sup_state_changed(s);
}
