/* The config's semantic rules, run over the position-aware tree so every message can name
 * its line. Each rule reports and moves on: one run lists every violation. */
#include "config/validate.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/credentials.h"
#include "config/fleet.h"
#include "config/matrix_ids.h"
#include "config/plugin_facts.h"
#include "config/settings.h"
#include "plugin/manifest.h"
#include "util/macro.h"
#include "util/text.h"
#include "util/yaml_json.h"

/* Bounds for values the schema only types: see docs/configuration.md for each reason. */
#define RATE_MIN_PER_MINUTE   1
#define RATE_MAX_PER_MINUTE   60 /* the seed's rule */
#define BURST_MAX             60
#define BACKOFF_MAX           86400
#define CATCH_UP_MAX          (30 * 86400) /* handled-event ids are kept this long */
#define SEND_RATE_MAX         1000 /* a second: the token bucket's resolution (ms) */
#define EVENT_RETRIES_MAX     10   /* each costs a worker restart with backoff */
#define NOTIFY_RATE_MAX       600
#define INSTANCE_ID_MAX       64 /* becomes a file name: plugins/<id>.db */
#define DISPLAYNAME_MAX       256
#define COMMAND_PREFIX_MAX    32
#define PASSWORD_MAX          1024

struct validator {
    const struct yaml_node *root;
    struct diag_list *d;
    unsigned flags;
    struct diag_path path;
    const char *server_name; /* NULL when invalid */
    bool hs_loopback;
    unsigned hs_port;
    bool has_registration_token;
    size_t unreadable_plugins;
    struct validate_result *res;
};

#define ERR(v, node, ...)  diag_error((v)->d, (node) ? (node)->line : 0, (v)->path.buf, __VA_ARGS__)
#define WARN(v, node, ...) diag_warning((v)->d, (node) ? (node)->line : 0, (v)->path.buf, __VA_ARGS__)

/* A scalar child that is not null, or NULL: type errors were reported by schema_check. */
static const struct yaml_node *scalar(const struct yaml_node *map, const char *key)
{
    const struct yaml_node *n = yaml_map_get(map, key);

    return n && n->kind == YAML_KIND_SCALAR && !yaml_scalar_is_null(n) ? n : NULL;
}

static const char *str(const struct yaml_node *map, const char *key)
{
    const struct yaml_node *n = scalar(map, key);

    return n ? n->value : NULL;
}

static bool flag(const struct yaml_node *map, const char *key, bool dflt)
{
    bool b;

    return yaml_scalar_bool(scalar(map, key), &b) < 0 ? dflt : b;
}

static bool integer(const struct yaml_node *map, const char *key, long long *ret)
{
    return yaml_scalar_int64(scalar(map, key), ret) >= 0;
}

/* Enter map.key for messages; returns what to pass to leave(). */
static size_t enter(struct validator *v, const char *key)
{
    return diag_path_push_key(&v->path, key);
}
static size_t enter_index(struct validator *v, size_t i)
{
    return diag_path_push_index(&v->path, i);
}
static void leave(struct validator *v, size_t saved)
{
    diag_path_pop(&v->path, saved);
}

/* A path is written in normal form: absolute, no "." or ".." components, no "//". */
static bool path_is_normal(const char *p)
{
    if (p[0] != '/')
        return false;
    for (const char *c = p; *c;) {
        size_t n;
        c += strspn(c, "/");
        n = strcspn(c, "/");
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += n;
    }
    return !strstr(p, "//") && (strlen(p) == 1 || p[strlen(p) - 1] != '/');
}

static bool path_is_under(const char *p, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(p, dir, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

static bool check_abs_path(struct validator *v, const struct yaml_node *n, const char *what)
{
    if (n->value[0] != '/')
        ERR(v, n, "%s %s must be an absolute path", what, TEXT_QUOTE(n->value));
    else if (!path_is_normal(n->value))
        ERR(v, n, "%s %s must be in normal form (no \".\", \"..\", \"//\" or trailing \"/\")",
            what, TEXT_QUOTE(n->value));
    else
        return true;
    return false;
}

static void validate_homeserver(struct validator *v)
{
    const struct yaml_node *hs = yaml_map_get(v->root, "homeserver");
    const struct yaml_node *name, *url;
    struct http_url u;
    const char *why = NULL;
    size_t saved;

    if (!hs || hs->kind != YAML_KIND_MAPPING)
        return;
    saved = enter(v, "homeserver");
    name = scalar(hs, "server_name");
    if (name) {
        size_t s = enter(v, "server_name");
        if (matrix_server_name_is_valid(name->value))
            v->server_name = name->value;
        else
            ERR(v, name, "%s is not a valid server name (a DNS name or IP literal, optionally "
                         ":port)", TEXT_QUOTE(name->value));
        leave(v, s);
    }
    url = scalar(hs, "url");
    if (url) {
        size_t s = enter(v, "url");
        bool allow_remote = flag(hs, "allow_remote", false);
        if (strchr(url->value, '@'))
            /* Not echoed: what stands before the @ may be a password. */
            ERR(v, url, "must not contain user information (\"user:password@\"): credentials "
                        "belong in *_file keys");
        else if (http_url_parse(url->value, &u, &why) < 0)
            ERR(v, url, "%s %s", TEXT_QUOTE(url->value), why);
        else if (addr_classify(u.host) == ADDR_INVALID && !http_host_is_valid(u.host))
            ERR(v, url, "%s: %s is not a valid host name", TEXT_QUOTE(url->value),
                TEXT_QUOTE(u.host));
        else {
            enum addr_class c = addr_classify(u.host);
            v->hs_port = u.port;
            v->hs_loopback = c == ADDR_LOOPBACK;
            if (c == ADDR_LOCALHOST)
                ERR(v, url, "%s: use the IP literal 127.0.0.1 instead of \"localhost\", which may "
                            "resolve to ::1 first where the homeserver (conduwuit) does not listen",
                    TEXT_QUOTE(url->value));
            else if (c != ADDR_LOOPBACK && !allow_remote)
                ERR(v, url, "%s is not on a loopback IP literal (127.0.0.1 or [::1]); set "
                            "homeserver.allow_remote: true to use a remote https:// homeserver",
                    TEXT_QUOTE(url->value));
            else if (c != ADDR_LOOPBACK && !u.https)
                ERR(v, url, "%s: a remote homeserver must use https://, or access tokens would "
                            "cross the network in clear text", TEXT_QUOTE(url->value));
        }
        leave(v, s);
    }
    leave(v, saved);
}

static void validate_state_directory(struct validator *v)
{
    static const char *const forbidden[] = {"/nix/store", "/proc", "/sys", "/dev"};
    const struct yaml_node *n = scalar(v->root, "state_directory");
    size_t saved;

    if (!n)
        return;
    saved = enter(v, "state_directory");
    check_abs_path(v, n, "state directory");
    if (streq(n->value, "/"))
        ERR(v, n, "the root directory cannot be the state directory");
    for (size_t i = 0; i < ELEMENTSOF(forbidden); i++)
        if (path_is_under(n->value, forbidden[i]))
            ERR(v, n, "%s is under %s, which is not a place for mutable state",
                TEXT_QUOTE(n->value), forbidden[i]);
    leave(v, saved);
}

/* A credential reference: a bare name for $CREDENTIALS_DIRECTORY or an absolute path that
 * is not in the Nix store (which is world-readable). Then, unless skipped, read it. */
static void check_credential(struct validator *v, const struct yaml_node *n, size_t min,
                             size_t max, bool is_registration_token)
{
    _cleanup_credential_ struct credential c = {0};
    const char *reason = NULL;
    int r;

    if (strchr(n->value, '/')) {
        if (!check_abs_path(v, n, "credential path"))
            return;
        if (path_is_under(n->value, "/nix/store")) {
            ERR(v, n, "%s is in the Nix store, which every local user can read; pass secrets "
                      "by LoadCredential or a path outside the store", TEXT_QUOTE(n->value));
            return;
        }
    } else if (!credential_name_is_valid(n->value)) {
        ERR(v, n, "%s is not a valid credential name ([A-Za-z0-9._-]+)", TEXT_QUOTE(n->value));
        return;
    }
    if (v->flags & CONFIG_SKIP_CREDENTIALS)
        return;
    r = credential_load(n->value, min, max, &c, &reason);
    if (r < 0) {
        ERR(v, n, "credential %s: %s", TEXT_QUOTE(n->value), reason ? reason : strerror(-r));
        return;
    }
    if (is_registration_token && registration_token_validate(c.data, c.len) < 0)
        ERR(v, n, "credential %s: a registration token is 1..64 characters of A-Z a-z 0-9 . _ ~ -",
            TEXT_QUOTE(n->value));
    if (c.too_open)
        WARN(v, n, "credential %s can be read or written by group or others; make it mode 0600 or 0400",
             TEXT_QUOTE(n->value));
}

static void validate_secrets(struct validator *v)
{
    const struct yaml_node *n;
    size_t saved;

    n = scalar(v->root, "secret_key_file");
    if (n) {
        saved = enter(v, "secret_key_file");
        check_credential(v, n, CREDENTIAL_SECRET_KEY_MIN, CREDENTIAL_MAX, false);
        leave(v, saved);
    }
    n = scalar(v->root, "registration_token_file");
    if (n) {
        v->has_registration_token = true;
        saved = enter(v, "registration_token_file");
        check_credential(v, n, 1, REGISTRATION_TOKEN_MAX, true);
        leave(v, saved);
    }
}

static bool port_reserved(const struct yaml_node *list, long long port)
{
    long long p;

    if (!list || list->kind != YAML_KIND_SEQUENCE) {
        for (size_t i = 0; i < ELEMENTSOF(config_default_reserved_ports); i++)
            if (port == config_default_reserved_ports[i])
                return true;
        return false;
    }
    for (size_t i = 0; i < list->n_children; i++)
        if (yaml_scalar_int64(list->children[i], &p) >= 0 && p == port)
            return true;
    return false;
}

bool config_status_address_ok(const char *addr, bool allow_non_loopback, char *why, size_t cap)
{
    enum addr_class c = addr_classify(addr);

    if (c == ADDR_LOCALHOST)
        snprintf(why, cap, "use the IP literal 127.0.0.1 instead of \"localhost\"");
    else if (c == ADDR_INVALID)
        snprintf(why, cap, "%s is not an IP literal", TEXT_QUOTE(addr));
    else if (c == ADDR_OTHER_IP && !allow_non_loopback)
        snprintf(why, cap, "%s is not loopback; the status endpoint stays on loopback unless "
                           "status.allow_non_loopback is true", TEXT_QUOTE(addr));
    else
        return true;
    return false;
}

static void validate_status(struct validator *v)
{
    const struct yaml_node *st = yaml_map_get(v->root, "status");
    const struct yaml_node *reserved = yaml_map_get(v->root, "reserved_ports");
    const struct yaml_node *addr = scalar(st, "address"), *port_node = scalar(st, "port");
    long long port = CONFIG_DEFAULT_STATUS_PORT;
    size_t saved;

    if (reserved && reserved->kind == YAML_KIND_SEQUENCE) {
        saved = enter(v, "reserved_ports");
        for (size_t i = 0; i < reserved->n_children; i++) {
            long long p;
            if (yaml_scalar_int64(reserved->children[i], &p) >= 0 && p == 0)
                ERR(v, reserved->children[i], "port 0 is not a port");
        }
        leave(v, saved);
    }
    if (st && st->kind != YAML_KIND_MAPPING)
        return;
    saved = enter(v, "status");
    if (addr) {
        size_t s = enter(v, "address");
        char why[256];
        if (!config_status_address_ok(addr->value, flag(st, "allow_non_loopback", false), why,
                                      sizeof(why)))
            ERR(v, addr, "%s", why);
        leave(v, s);
    }
    if (port_node && yaml_scalar_int64(port_node, &port) >= 0) {
        size_t s = enter(v, "port");
        if (port == 0)
            ERR(v, port_node, "port 0 is not a port");
        else if (port_reserved(reserved, port))
            ERR(v, port_node, "port %lld is reserved (reserved_ports)", port);
        else if (v->hs_loopback && (unsigned)port == v->hs_port)
            ERR(v, port_node, "port %lld is the homeserver's", port);
        leave(v, s);
    } else if (!port_node && port_reserved(reserved, port)) {
        ERR(v, st, "the default status port %lld is reserved (reserved_ports): set status.port",
            port);
    } else if (!port_node && v->hs_loopback && (unsigned)port == v->hs_port) {
        ERR(v, st, "the default status port %lld is the homeserver's: set status.port", port);
    }
    leave(v, saved);
}

static void validate_plugins(struct validator *v)
{
    const struct yaml_node *list = yaml_map_get(v->root, "plugins");
    struct validate_result *res = v->res;
    size_t saved;

    if (!list || list->kind != YAML_KIND_SEQUENCE)
        return;
    res->plugins = calloc(list->n_children + 1, sizeof(*res->plugins));
    if (!res->plugins) {
        v->d->oom = true;
        return;
    }
    res->n_plugins = list->n_children;
    saved = enter(v, "plugins");
    for (size_t i = 0; i < list->n_children; i++) {
        const struct yaml_node *p = list->children[i], *path;
        char why[512];
        size_t s = enter_index(v, i), s2;

        path = p->kind == YAML_KIND_MAPPING ? scalar(p, "path") : NULL;
        if (!path) {
            leave(v, s);
            v->unreadable_plugins++;
            continue;
        }
        s2 = enter(v, "path");
        if (!check_abs_path(v, path, "plugin path"))
            v->unreadable_plugins++;
        else if (plugin_facts_read(path->value, flag(p, "enabled", true), &res->plugins[i], why,
                                   sizeof(why)) < 0) {
            ERR(v, path, "%s", why);
            v->unreadable_plugins++;
        } else
            for (size_t j = 0; j < i; j++)
                if (res->plugins[j].id && streq(res->plugins[j].id, res->plugins[i].id))
                    ERR(v, path, "plugin id \"%s\" is declared twice (also plugins[%zu])",
                        res->plugins[i].id, j);
        leave(v, s2);
        leave(v, s);
    }
    leave(v, saved);
}

/* Index of the declared plugin with this id, or -1. */
static ssize_t plugin_index(const struct validator *v, const char *id)
{
    for (size_t i = 0; i < v->res->n_plugins; i++)
        if (v->res->plugins[i].id && streq(v->res->plugins[i].id, id))
            return (ssize_t)i;
    return -1;
}

static void validate_instance_plugin(struct validator *v, const struct yaml_node *inst)
{
    const struct yaml_node *n = scalar(inst, "plugin"), *plugins = yaml_map_get(v->root, "plugins");
    size_t s;
    ssize_t idx;

    if (!n)
        return;
    s = enter(v, "plugin");
    idx = plugin_index(v, n->value);
    if (!manifest_id_is_valid(n->value))
        ERR(v, n, "%s is not a plugin id ([a-z][a-z0-9._-]+)", TEXT_QUOTE(n->value));
    else if (idx < 0)
        ERR(v, n, "%s is not the id of any declared plugin%s", TEXT_QUOTE(n->value),
            v->unreadable_plugins ? " (some declared plugins could not be read)" : "");
    else if (flag(inst, "enabled", true) && !flag(plugins->children[idx], "enabled", true))
        ERR(v, n, "plugin \"%s\" is disabled (plugins[%zd].enabled) but this instance is enabled",
            n->value, idx);
    leave(v, s);
}

/* A room is named by its id or by an alias, which the worker resolves when it starts. */
static void check_room(struct validator *v, const struct yaml_node *n)
{
    if (n->value[0] == '#' ? !matrix_room_alias_is_valid(n->value)
                           : !matrix_room_id_is_valid(n->value))
        ERR(v, n, "%s is not a valid room id (!opaque:server) or alias (#alias:server)",
            TEXT_QUOTE(n->value));
}

static void validate_rooms(struct validator *v, const struct yaml_node *inst)
{
    const struct yaml_node *rooms = yaml_map_get(inst, "room_subscriptions");
    size_t s;

    if (!rooms || (rooms->kind == YAML_KIND_SEQUENCE && rooms->n_children == 0)) {
        WARN(v, inst, "no room_subscriptions: this instance will not serve any room");
        return;
    }
    /* A list past the schema's limit was reported there; checking it pairwise here would
     * let one hostile list cost quadratic time. */
    if (rooms->kind != YAML_KIND_SEQUENCE || rooms->n_children > CONFIG_MAX_ROOMS)
        return;
    s = enter(v, "room_subscriptions");
    for (size_t i = 0; i < rooms->n_children; i++) {
        const struct yaml_node *r = rooms->children[i];
        size_t s2 = enter_index(v, i);
        if (r->kind != YAML_KIND_SCALAR || yaml_scalar_is_null(r)) {
            leave(v, s2);
            continue;
        }
        check_room(v, r);
        for (size_t j = 0; j < i; j++)
            if (rooms->children[j]->kind == YAML_KIND_SCALAR &&
                streq(rooms->children[j]->value, r->value)) {
                WARN(v, r, "room %s is listed more than once", TEXT_QUOTE(r->value));
                break;
            }
        leave(v, s2);
    }
    leave(v, s);
}

static void check_range(struct validator *v, const struct yaml_node *map, const char *key,
                        long long lo, long long hi)
{
    long long x;
    size_t s;

    if (!integer(map, key, &x) || (x >= lo && x <= hi))
        return;
    s = enter(v, key);
    ERR(v, scalar(map, key), "%lld is outside %lld..%lld", x, lo, hi);
    leave(v, s);
}

static void validate_instance_fields(struct validator *v, const struct yaml_node *inst)
{
    const struct yaml_node *n, *rl = yaml_map_get(inst, "rate_limit");
    size_t s;

    n = scalar(inst, "user");
    if (n && v->server_name && !matrix_user_id_is_valid(n->value, v->server_name)) {
        s = enter(v, "user");
        ERR(v, n, "%s is not a valid user id on %s (expected @localpart:%s, localpart of a-z, "
                  "0-9 and -)", TEXT_QUOTE(n->value), v->server_name, v->server_name);
        leave(v, s);
    }
    n = scalar(inst, "password_file");
    if (n) {
        s = enter(v, "password_file");
        check_credential(v, n, 1, PASSWORD_MAX, false);
        leave(v, s);
    } else if (!v->has_registration_token)
        ERR(v, inst, "no way to authenticate: set password_file here, or registration_token_file "
                     "at the top level so the bot can register");
    n = scalar(inst, "displayname");
    if (n && (n->len > DISPLAYNAME_MAX || strpbrk(n->value, "\n\r\t"))) {
        s = enter(v, "displayname");
        ERR(v, n, "must be one line of at most %d bytes", DISPLAYNAME_MAX);
        leave(v, s);
    }
    n = scalar(inst, "command_prefix");
    if (n && (n->len > COMMAND_PREFIX_MAX || strpbrk(n->value, " \t\r\n"))) {
        s = enter(v, "command_prefix");
        ERR(v, n, "%s must be one word of at most %d bytes", TEXT_QUOTE(n->value),
            COMMAND_PREFIX_MAX);
        leave(v, s);
    }
    if (rl && rl->kind == YAML_KIND_MAPPING) {
        s = enter(v, "rate_limit");
        check_range(v, rl, "max_requests_per_minute", RATE_MIN_PER_MINUTE, RATE_MAX_PER_MINUTE);
        check_range(v, rl, "burst_size", 1, BURST_MAX);
        check_range(v, rl, "backoff_seconds", 0, BACKOFF_MAX);
        leave(v, s);
    }
    check_range(v, inst, "catch_up_max_age", 0, CATCH_UP_MAX);
    check_range(v, inst, "send_rate", 1, SEND_RATE_MAX);
    check_range(v, inst, "event_retries", 0, EVENT_RETRIES_MAX);
}

/* The plugin settings become JSON text now: the conversion is where their size is known. */
/* The settings, checked against the plugin's config_schema when it has one (with its
 * defaults filled in), become the JSON text the plugin gets. */
static void validate_settings(struct validator *v, const struct yaml_node *inst, size_t i)
{
    const struct yaml_node *n = yaml_map_get(inst, "config"), *plugin = scalar(inst, "plugin");
    ssize_t idx = plugin ? plugin_index(v, plugin->value) : -1;
    size_t s = enter(v, "config");
    int r;

    if (n && n->kind != YAML_KIND_MAPPING && !yaml_scalar_is_null(n))
        ERR(v, n, "expected a mapping of plugin settings");
    else if (v->res->settings_json) {
        r = settings_check(n, idx >= 0 ? v->res->plugins[idx].schema_json : NULL, v->d,
                           &v->path, &v->res->settings_json[i]);
        if (r == -E2BIG)
            ERR(v, n ? n : inst, "the plugin settings are larger than %u bytes as JSON",
                YAML_JSON_MAX);
        else if (r < 0 && r != -EINVAL)
            v->d->oom = true;
    }
    leave(v, s);
}

static void validate_instance_id(struct validator *v, const struct yaml_node *inst)
{
    const struct yaml_node *n = scalar(inst, "id");
    size_t s;

    if (!n || (n->len <= INSTANCE_ID_MAX && text_only_chars(n->value, CHARS_LOWER_DIGITS "-")))
        return;
    s = enter(v, "id");
    ERR(v, n, "%s is not a valid instance id ([a-z0-9-]+, at most %d bytes)", TEXT_QUOTE(n->value),
        INSTANCE_ID_MAX);
    leave(v, s);
}

static void validate_instances(struct validator *v)
{
    const struct yaml_node *list = yaml_map_get(v->root, "instances");
    size_t saved;

    if (!list || list->kind != YAML_KIND_SEQUENCE)
        return;
    v->res->settings_json = calloc(list->n_children + 1, sizeof(char *));
    if (!v->res->settings_json) {
        v->d->oom = true;
        return;
    }
    v->res->n_instances = list->n_children;
    saved = enter(v, "instances");
    for (size_t i = 0; i < list->n_children; i++) {
        const struct yaml_node *inst = list->children[i];
        size_t s = enter_index(v, i);
        if (inst->kind == YAML_KIND_MAPPING) {
            validate_instance_id(v, inst);
            validate_instance_plugin(v, inst);
            validate_rooms(v, inst);
            validate_instance_fields(v, inst);
            validate_settings(v, inst, i);
        }
        leave(v, s);
    }
    leave(v, saved);
    fleet_check_unique(list, "id", "instance id", "", v->d);
    fleet_check_unique(list, "user", "user", "; each instance needs its own account", v->d);
    fleet_check_prefixes(list, v->d);
}

static const struct yaml_node *find_instance(const struct yaml_node *root, const char *id)
{
    const struct yaml_node *list = yaml_map_get(root, "instances");

    if (!list || list->kind != YAML_KIND_SEQUENCE)
        return NULL;
    for (size_t i = 0; i < list->n_children; i++) {
        const char *other = list->children[i]->kind == YAML_KIND_MAPPING
                                    ? str(list->children[i], "id") : NULL;
        if (other && streq(other, id))
            return list->children[i];
    }
    return NULL;
}

static void validate_notifications(struct validator *v)
{
    const struct yaml_node *nt = yaml_map_get(v->root, "notifications");
    const struct yaml_node *room, *sender, *inst;
    size_t saved, s;

    if (!nt || nt->kind != YAML_KIND_MAPPING)
        return;
    saved = enter(v, "notifications");
    room = scalar(nt, "room");
    if (room) {
        s = enter(v, "room");
        check_room(v, room);
        leave(v, s);
    }
    sender = scalar(nt, "sender");
    if (sender) {
        s = enter(v, "sender");
        inst = find_instance(v->root, sender->value);
        if (!inst)
            ERR(v, sender, "%s is not the id of a declared instance", TEXT_QUOTE(sender->value));
        else if (!flag(inst, "enabled", true))
            ERR(v, sender, "instance %s is disabled, so it cannot post notifications",
                TEXT_QUOTE(sender->value));
        leave(v, s);
    }
    check_range(v, nt, "max_per_minute", 1, NOTIFY_RATE_MAX);
    leave(v, saved);
}

void validate_result_done(struct validate_result *r)
{
    for (size_t i = 0; r->plugins && i < r->n_plugins; i++)
        plugin_facts_done(&r->plugins[i]);
    free(r->plugins);
    for (size_t i = 0; i < r->n_instances; i++)
        free(r->settings_json[i]);
    free(r->settings_json);
    *r = (struct validate_result){0};
}

void config_validate(const struct yaml_node *root, unsigned flags, struct diag_list *diags,
                     struct validate_result *ret)
{
    struct validator v = {.root = root, .d = diags, .flags = flags, .res = ret};

    if (root->kind != YAML_KIND_MAPPING)
        return;
    validate_homeserver(&v);
    validate_state_directory(&v);
    validate_secrets(&v);
    validate_status(&v);
    validate_plugins(&v);
    validate_instances(&v);
    validate_notifications(&v);
}
