/* Reads maubot.yaml, from a plugin directory or as text (a package's entry: plugin/package.c),
 * and validates what it declares: the identity alone, or every field. */
#include "plugin/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/macro.h"
#include "util/text.h"
#include "util/utf8.h"
#include "util/yaml_json.h"
#include "util/yaml_tree.h"

#define MANIFEST_ID_MAX 64

_printf_(4, 5) static int fail(int r, char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return r;
}

void manifest_identity_done(struct manifest_identity *m)
{
    free(m->id);
    free(m->version);
    *m = (struct manifest_identity){0};
}

bool manifest_id_is_valid(const char *id)
{
    size_t len;

    if (!id)
        return false;
    len = strlen(id);

    return len >= 2 && len <= MANIFEST_ID_MAX && id[0] >= 'a' && id[0] <= 'z' &&
           text_only_chars(id, CHARS_LOWER_DIGITS "._-");
}

/* A numeric identifier: digits, no leading zero unless it is "0". */
static const char *numeric(const char *s)
{
    size_t n = strspn(s, "0123456789");

    if (n == 0 || (n > 1 && s[0] == '0'))
        return NULL;
    return s + n;
}

/* Dot-separated identifiers of [0-9A-Za-z-]; numeric ones without leading zeros when
 * strict (pre-release), any when not (build metadata). */
static bool identifiers(const char *s, bool strict)
{
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-";

    for (;;) {
        size_t n = strspn(s, alnum);
        if (n == 0)
            return false;
        if (strict && strspn(s, "0123456789") == n && n > 1 && s[0] == '0')
            return false;
        s += n;
        if (*s == '\0')
            return true;
        if (*s++ != '.')
            return false;
    }
}

bool manifest_version_is_valid(const char *v)
{
    const char *p = v;
    char pre[128], *plus;

    if (!v || strlen(v) > 64)
        return false;
    for (int i = 0; i < 3; i++) {
        p = numeric(p);
        if (!p || (i < 2 && *p++ != '.'))
            return false;
    }
    if (*p == '\0')
        return true;
    if (*p == '+')
        return identifiers(p + 1, false);
    if (*p != '-')
        return false;
    snprintf(pre, sizeof(pre), "%s", p + 1);
    plus = strchr(pre, '+');
    if (plus) {
        *plus = '\0';
        if (!identifiers(plus + 1, false))
            return false;
    }
    return identifiers(pre, true);
}

static int read_from_directory(const char *dir, char **ret, size_t *ret_len, char *why, size_t cap)
{
    _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    ssize_t n;

    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return fail(negative_errno(), why, cap, "cannot open the plugin directory: %m");
    /* Symlinks are followed: Nix-built plugin trees link their files into the store. */
    fd = openat(dfd, "maubot.yaml", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return fail(negative_errno(), why, cap, "no maubot.yaml in the plugin directory");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return fail(-EBADMSG, why, cap, "maubot.yaml is not a regular file");
    if (st.st_size > (off_t)MANIFEST_MAX_BYTES)
        return fail(-E2BIG, why, cap, "maubot.yaml is larger than %u bytes", MANIFEST_MAX_BYTES);
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    n = read(fd, buf, (size_t)st.st_size + 1);
    if (n < 0 || n > st.st_size)
        return fail(-EIO, why, cap, "cannot read maubot.yaml");
    *ret_len = (size_t)n;
    *ret = TAKE_PTR(buf);
    return 0;
}

/* maubot.yaml's text parsed into a mapping. */
static int parse_root(const char *text, size_t len, struct yaml_node **ret, char *why, size_t cap)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error yerr = {0};
    int r;

    if (len > MANIFEST_MAX_BYTES)
        return fail(-E2BIG, why, cap, "maubot.yaml is larger than %u bytes", MANIFEST_MAX_BYTES);
    r = yaml_tree_parse(text, len, &root, &yerr);
    if (r < 0)
        return fail(r, why, cap, "maubot.yaml line %u: %s", yerr.line, yerr.message);
    if (root->kind != YAML_KIND_MAPPING)
        return fail(-EBADMSG, why, cap, "maubot.yaml is not a mapping");
    *ret = TAKE_PTR(root);
    return 0;
}

/* Read maubot.yaml out of the plugin directory at path and parse it. */
static int load_root(const char *path, struct yaml_node **ret, char *why, size_t cap)
{
    _cleanup_free_ char *text = NULL;
    struct stat st;
    size_t len = 0;
    int r;

    if (stat(path, &st) < 0)
        return fail(negative_errno(), why, cap, "%m");
    if (!S_ISDIR(st.st_mode))
        return fail(-ENOTDIR, why, cap, "not a plugin directory");
    r = read_from_directory(path, &text, &len, why, cap);
    if (r < 0)
        return r;
    return parse_root(text, len, ret, why, cap);
}

static int scalar_field(const struct yaml_node *root, const char *key, char **ret, char *why,
                        size_t cap)
{
    const struct yaml_node *n = yaml_map_get(root, key);

    if (!n || n->kind != YAML_KIND_SCALAR || yaml_scalar_is_null(n))
        return fail(-EBADMSG, why, cap, "maubot.yaml has no %s", key);
    *ret = strdup(n->value);
    return *ret ? 0 : -ENOMEM;
}

/* id and version, present and well-formed. */
static int identity_fields(const struct yaml_node *root, char **ret_id, char **ret_version,
                           char *why, size_t cap)
{
    _cleanup_free_ char *id = NULL, *version = NULL;
    int r;

    r = scalar_field(root, "id", &id, why, cap);
    if (r < 0)
        return r;
    r = scalar_field(root, "version", &version, why, cap);
    if (r < 0)
        return r;
    if (!manifest_id_is_valid(id))
        return fail(-EBADMSG, why, cap, "maubot.yaml: id %s is not [a-z][a-z0-9._-]+",
                    TEXT_QUOTE(id));
    if (!manifest_version_is_valid(version))
        return fail(-EBADMSG, why, cap, "maubot.yaml: version %s is not a semantic version",
                    TEXT_QUOTE(version));
    *ret_id = TAKE_PTR(id);
    *ret_version = TAKE_PTR(version);
    return 0;
}

static int identity_of(const struct yaml_node *root, struct manifest_identity *ret, char *why,
                       size_t cap)
{
    struct manifest_identity m = {0};
    int r = identity_fields(root, &m.id, &m.version, why, cap);

    if (r < 0)
        return r;
    *ret = m;
    return 0;
}

int manifest_read_identity(const char *path, struct manifest_identity *ret, char *why, size_t cap)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    int r = load_root(path, &root, why, cap);

    return r < 0 ? r : identity_of(root, ret, why, cap);
}

int manifest_parse_identity(const char *text, size_t len, struct manifest_identity *ret,
                            char *why, size_t cap)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    int r = parse_root(text, len, &root, why, cap);

    return r < 0 ? r : identity_of(root, ret, why, cap);
}

/* ---- The full manifest ------------------------------------------------------------------ */

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void manifest_done(struct manifest *m)
{
    free(m->id);
    free(m->version);
    free(m->license);
    strv_free(m->modules, m->n_modules);
    free(m->main_class);
    free(m->config_schema_json);
    strv_free(m->dependencies, m->n_dependencies);
    *m = (struct manifest){0};
}

bool manifest_module_name_is_valid(const char *name)
{
    static const char allowed[] = CHARS_LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ._+-";
    size_t len = name ? strlen(name) : 0;

    return len >= 1 && len <= MANIFEST_MODULE_NAME_MAX && name[0] != '.' && name[0] != '-' &&
           !strstr(name, "..") && text_only_chars(name, allowed);
}

static bool is_c_identifier(const char *s)
{
    static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    size_t len = s ? strlen(s) : 0;

    return len >= 1 && len <= MANIFEST_MAIN_CLASS_MAX && strchr(first, s[0]) &&
           text_only_chars(s, CHARS_LOWER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
}

/* One line of printable text of at most max bytes: no control characters, valid UTF-8. */
static bool is_short_text(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || !utf8_is_valid_text(s, len))
        return false;
    return !strpbrk(s, "\t\r\n");
}

/* An optional boolean: absent or null is false. */
static int bool_field(const struct yaml_node *root, const char *key, bool *ret, char *why,
                      size_t cap)
{
    const struct yaml_node *n = yaml_map_get(root, key);

    if (!n || yaml_scalar_is_null(n)) {
        *ret = false;
        return 0;
    }
    if (yaml_scalar_bool(n, ret) < 0)
        return fail(-EBADMSG, why, cap, "maubot.yaml: %s must be true or false", key);
    return 0;
}

/* A list of scalars under key, each checked by valid(); at most max entries. Absent or null
 * gives an empty list; required refuses that. */
static int list_field(const struct yaml_node *root, const char *key, size_t max, bool required,
                      bool (*valid)(const char *s, size_t len), char ***ret, size_t *ret_n,
                      char *why, size_t cap)
{
    const struct yaml_node *n = yaml_map_get(root, key);
    char **v;
    size_t count;

    if (!n || yaml_scalar_is_null(n)) {
        if (required)
            return fail(-EBADMSG, why, cap, "maubot.yaml has no %s", key);
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (n->kind != YAML_KIND_SEQUENCE)
        return fail(-EBADMSG, why, cap, "maubot.yaml: %s must be a list", key);
    if (n->n_children == 0 && required)
        return fail(-EBADMSG, why, cap, "maubot.yaml: %s is empty", key);
    if (n->n_children > max)
        return fail(-E2BIG, why, cap, "maubot.yaml: more than %zu %s", max, key);
    v = calloc(n->n_children + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (count = 0; count < n->n_children; count++) {
        const struct yaml_node *c = n->children[count];

        if (c->kind != YAML_KIND_SCALAR || !valid(c->value, c->len)) {
            strv_free(v, count);
            return fail(-EBADMSG, why, cap, "maubot.yaml: %s[%zu] %s is not valid", key, count,
                        c->kind == YAML_KIND_SCALAR ? TEXT_QUOTE(c->value) : "(a collection)");
        }
        for (size_t j = 0; j < count; j++)
            if (streq(v[j], c->value)) {
                strv_free(v, count);
                return fail(-EBADMSG, why, cap, "maubot.yaml: %s lists %s twice", key,
                            TEXT_QUOTE(c->value));
            }
        v[count] = strdup(c->value);
        if (!v[count]) {
            strv_free(v, count);
            return -ENOMEM;
        }
    }
    *ret = v;
    *ret_n = count;
    return 0;
}

static bool valid_module(const char *s, size_t len)
{
    return strlen(s) == len && manifest_module_name_is_valid(s);
}

static bool valid_dependency(const char *s, size_t len)
{
    return strlen(s) == len && is_short_text(s, len, MANIFEST_DEPENDENCY_MAX);
}

static int optional_text_field(const struct yaml_node *root, const char *key, size_t max,
                               char **ret, char *why, size_t cap)
{
    const struct yaml_node *n = yaml_map_get(root, key);

    if (!n || yaml_scalar_is_null(n)) {
        *ret = NULL;
        return 0;
    }
    if (n->kind != YAML_KIND_SCALAR || strlen(n->value) != n->len ||
        !is_short_text(n->value, n->len, max))
        return fail(-EBADMSG, why, cap, "maubot.yaml: %s must be one line of at most %zu bytes",
                    key, max);
    *ret = strdup(n->value);
    return *ret ? 0 : -ENOMEM;
}

static int schema_field(const struct yaml_node *root, char **ret, char *why, size_t cap)
{
    const struct yaml_node *n = yaml_map_get(root, "config_schema");
    int r;

    if (!n || yaml_scalar_is_null(n)) {
        *ret = NULL;
        return 0;
    }
    if (n->kind != YAML_KIND_MAPPING)
        return fail(-EBADMSG, why, cap, "maubot.yaml: config_schema must be a mapping");
    r = yaml_to_json(n, ret);
    if (r < 0)
        return fail(r, why, cap, "maubot.yaml: config_schema cannot be converted to JSON");
    return 0;
}

static int read_fields(const struct yaml_node *root, struct manifest *m, char *why, size_t cap)
{
    int r;

    r = identity_fields(root, &m->id, &m->version, why, cap);
    if (r < 0)
        return r;
    r = optional_text_field(root, "license", MANIFEST_LICENSE_MAX, &m->license, why, cap);
    if (r < 0)
        return r;
    r = list_field(root, "modules", MANIFEST_MAX_MODULES, true, valid_module, &m->modules,
                   &m->n_modules, why, cap);
    if (r < 0)
        return r;
    r = scalar_field(root, "main_class", &m->main_class, why, cap);
    if (r < 0)
        return r;
    if (!is_c_identifier(m->main_class))
        return fail(-EBADMSG, why, cap, "maubot.yaml: main_class %s is not a C identifier",
                    TEXT_QUOTE(m->main_class));
    r = bool_field(root, "database", &m->database, why, cap);
    if (r < 0)
        return r;
    r = bool_field(root, "config", &m->config, why, cap);
    if (r < 0)
        return r;
    r = schema_field(root, &m->config_schema_json, why, cap);
    if (r < 0)
        return r;
    return list_field(root, "dependencies", MANIFEST_MAX_DEPENDENCIES, false, valid_dependency,
                      &m->dependencies, &m->n_dependencies, why, cap);
}

static int full_of(const struct yaml_node *root, struct manifest *ret, char *why, size_t cap)
{
    _cleanup_(manifest_done) struct manifest m = {0};
    int r = read_fields(root, &m, why, cap);

    if (r < 0)
        return r;
    *ret = m;
    m = (struct manifest){0};
    return 0;
}

int manifest_read(const char *path, struct manifest *ret, char *why, size_t cap)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    int r = load_root(path, &root, why, cap);

    return r < 0 ? r : full_of(root, ret, why, cap);
}

int manifest_parse(const char *text, size_t len, struct manifest *ret, char *why, size_t cap)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    int r = parse_root(text, len, &root, why, cap);

    return r < 0 ? r : full_of(root, ret, why, cap);
}
