/* Reading a declared plugin for the config: a package through plugin/package.c, a directory
 * through its maubot.yaml; then, for an enabled one, its modules and its dependencies. Every
 * message names the plugin, its path and the reason, in one sentence. */
#include "config/plugin_facts.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/settings.h"
#include "plugin/deps.h"
#include "plugin/elf.h"
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
    free(f->digest);
    *f = (struct plugin_facts){0};
}

/* One file of the digest: its name, its size and its bytes, so that moving bytes from one
 * file to the next changes the digest too. At most max bytes: past it (or not a regular
 * file) -EFBIG / -EBADF, and the digest is not made. */
static int digest_file(crypto_hash_sha256_state *h, int dirfd, const char *name, size_t max)
{
    _cleanup_close_ int fd = -EBADF;
    unsigned char buf[PLUGIN_DIGEST_CHUNK], size_le[8];
    uint64_t total = 0;
    struct stat st;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return negative_errno();
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if (!S_ISREG(st.st_mode))
        return -EBADF;
    if ((uint64_t)st.st_size > max)
        return -EFBIG;
    for (size_t i = 0; i < sizeof(size_le); i++)
        size_le[i] = (unsigned char)((uint64_t)st.st_size >> (8 * i));
    crypto_hash_sha256_update(h, (const unsigned char *)name, strlen(name) + 1);
    crypto_hash_sha256_update(h, size_le, sizeof(size_le));
    /* Read to the end, but no further than the bound: the file may grow after fstat. */
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return negative_errno();
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > max)
            return -EFBIG;
        crypto_hash_sha256_update(h, buf, (size_t)n);
    }
    return 0;
}

/* The SHA-256 of a plugin directory's maubot.yaml and its modules, in lowercase hex: what a
 * package's sha256 is to a package, a change of the code the worker would load. NULL in
 * *ret (and 0) when a file cannot be read: the plugin's verification says why, if it is
 * enabled; a disabled one need not be readable. */
static int directory_digest(const char *dir, const struct manifest *m, char **ret)
{
    _cleanup_close_ int dirfd = -EBADF;
    unsigned char sum[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state h;
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    int r;

    *ret = NULL;
    if (sodium_init() < 0)
        return -ENOMEM;
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return 0;
    crypto_hash_sha256_init(&h);
    r = digest_file(&h, dirfd, "maubot.yaml", MANIFEST_MAX_BYTES);
    for (size_t i = 0; r >= 0 && i < m->n_modules; i++)
        r = digest_file(&h, dirfd, m->modules[i], ELF_MODULE_MAX);
    if (r < 0)
        return 0;
    crypto_hash_sha256_final(&h, sum);
    sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
    *ret = strdup(hex);
    return *ret ? 0 : -ENOMEM;
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
    if (q >= 0 && !pkg)
        q = directory_digest(path, m, &ret->digest);
    return r < 0 ? r : q;
}
