/* Loading the config: read the file (bounded), build the position-aware tree, check its
 * shape against the libcyaml schema and its meaning against the seed's rules, collecting
 * every problem; only a clean file is then loaded into typed structs by libcyaml. */
#include "config/config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config/hints.h"
#include "config/schema.h"
#include "config/validate.h"
#include "util/json.h"
#include "util/macro.h"
#include "util/text.h"
#include "util/yaml_json.h"
#include "util/yaml_tree.h"

const uint16_t config_default_reserved_ports[3] = {8008, 29319, 3000};

/* Read the whole file, refusing what cannot be a config before parsing anything. */
static int read_config_file(const char *path, struct diag_list *d, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd = -EBADF;
    _cleanup_free_ char *buf = NULL;
    struct stat st;
    size_t len = 0;

    /* O_NONBLOCK: a FIFO named as the config must not hang the check (fstat refuses it). */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int r = negative_errno();
        diag_error(d, 0, "", "cannot open %s: %s", TEXT_QUOTE(path), strerror(-r));
        return -EINVAL;
    }
    if (fstat(fd, &st) < 0)
        return negative_errno();
    if (S_ISDIR(st.st_mode)) {
        diag_error(d, 0, "", "%s is a directory, not a config file", TEXT_QUOTE(path));
        return -EINVAL;
    }
    if (!S_ISREG(st.st_mode)) {
        diag_error(d, 0, "", "%s is not a regular file", TEXT_QUOTE(path));
        return -EINVAL;
    }
    if (st.st_size > (off_t)YAML_TREE_MAX_BYTES) {
        diag_error(d, 0, "", "the file is too large (%lld bytes, limit %u)",
                   (long long)st.st_size, YAML_TREE_MAX_BYTES);
        return -EINVAL;
    }
    buf = malloc(YAML_TREE_MAX_BYTES + 1);
    if (!buf)
        return -ENOMEM;
    /* Read to EOF, one byte past the limit, since the file may grow after fstat. */
    while (len <= YAML_TREE_MAX_BYTES) {
        ssize_t n = read(fd, buf + len, YAML_TREE_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return negative_errno();
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > YAML_TREE_MAX_BYTES) {
        diag_error(d, 0, "", "the file is too large (limit %u bytes)", YAML_TREE_MAX_BYTES);
        return -EINVAL;
    }
    *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

/* libcyaml leaves absent optional keys zeroed; the contract's defaults are applied here,
 * keyed on absence in the tree (a present `false` must stay false). */
static int apply_defaults(struct config *c, const struct yaml_node *root)
{
    const struct yaml_node *st = yaml_map_get(root, "status");
    const struct yaml_node *logging = yaml_map_get(root, "logging");
    const struct yaml_node *plugins = yaml_map_get(root, "plugins");
    const struct yaml_node *instances = yaml_map_get(root, "instances");

    if (!yaml_map_get(st, "address") && !(c->status.address = strdup(CONFIG_DEFAULT_STATUS_ADDRESS)))
        return -ENOMEM;
    if (!yaml_map_get(st, "port"))
        c->status.port = CONFIG_DEFAULT_STATUS_PORT;
    if (!yaml_map_get(root, "reserved_ports")) {
        c->reserved_ports = calloc(ELEMENTSOF(config_default_reserved_ports), sizeof(uint16_t));
        if (!c->reserved_ports)
            return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(config_default_reserved_ports); i++)
            c->reserved_ports[i] = config_default_reserved_ports[i];
        c->reserved_ports_count = ELEMENTSOF(config_default_reserved_ports);
    }
    if (c->notifications && !yaml_map_get(yaml_map_get(root, "notifications"), "max_per_minute"))
        c->notifications->max_per_minute = CONFIG_DEFAULT_NOTIFY_RATE;
    if (!yaml_map_get(logging, "level"))
        c->logging.level = LOG_INFO;
    for (uint32_t i = 0; i < c->plugins_count; i++)
        if (!yaml_map_get(plugins->children[i], "enabled"))
            c->plugins[i].enabled = true;
    for (uint32_t i = 0; i < c->instances_count; i++) {
        const struct yaml_node *n = instances->children[i];
        const struct yaml_node *f = yaml_map_get(n, "features"), *rl = yaml_map_get(n, "rate_limit");
        struct config_instance *in = &c->instances[i];

        if (!yaml_map_get(n, "enabled"))
            in->enabled = true;
        if (!yaml_map_get(f, "auto_fetch"))
            in->features.auto_fetch = true;
        if (!yaml_map_get(f, "rate_limiting"))
            in->features.rate_limiting = true;
        if (!yaml_map_get(rl, "max_requests_per_minute"))
            in->rate_limit.max_requests_per_minute = 10;
        if (!yaml_map_get(rl, "burst_size"))
            in->rate_limit.burst_size = 3;
        if (!yaml_map_get(rl, "backoff_seconds"))
            in->rate_limit.backoff_seconds = 30;
        if (!yaml_map_get(n, "error_notification_level"))
            in->error_notification_level = LOG_ERR;
        if (!yaml_map_get(n, "catch_up_max_age"))
            in->catch_up_max_age = CONFIG_DEFAULT_CATCH_UP;
        if (!yaml_map_get(n, "send_rate"))
            in->send_rate = CONFIG_DEFAULT_SEND_RATE;
        if (!yaml_map_get(n, "event_retries"))
            in->event_retries = CONFIG_DEFAULT_EVENT_RETRIES;
    }
    return 0;
}

static int build_config(const char *buf, size_t len, const struct yaml_node *root,
                        struct validate_result *vr, struct diag_list *d, struct config **ret)
{
    struct config *c = NULL;
    cyaml_err_t err;
    int r;

    err = cyaml_load_data((const uint8_t *)buf, len, &config_cyaml_config, &config_schema,
                          (cyaml_data_t **)&c, NULL);
    if (err != CYAML_OK) {
        /* schema_check accepted what libcyaml refuses: a gap in our checker, reported
         * plainly rather than hidden. */
        diag_error(d, 0, "", "libcyaml refused the file: %s", cyaml_strerror(err));
        return -EINVAL;
    }
    for (uint32_t i = 0; i < c->plugins_count && i < vr->n_plugins; i++) {
        c->plugins[i].id = TAKE_PTR(vr->plugins[i].id);
        c->plugins[i].version = TAKE_PTR(vr->plugins[i].version);
        c->plugins[i].sha256 = TAKE_PTR(vr->plugins[i].sha256);
        c->plugins[i].digest = TAKE_PTR(vr->plugins[i].digest);
    }
    for (uint32_t i = 0; i < c->instances_count && i < vr->n_instances; i++)
        c->instances[i].settings_json = TAKE_PTR(vr->settings_json[i]);
    r = apply_defaults(c, root);
    if (r < 0) {
        config_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

/* Only blanks: said plainly, rather than as libyaml's "no document". The buffer is not
 * NUL-terminated, so this walks len bytes and no further. */
static bool is_blank(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n')
            return false;
    return true;
}

int config_load_buffer(const char *buf, size_t len, unsigned flags, struct diag_list *d,
                       struct config **ret)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct validate_result vr = {0};
    struct yaml_error yerr = {0};
    struct diag_path p = {0};
    int r;

    if (is_blank(buf, len)) {
        diag_error(d, 0, "", "the file is empty");
        return -EINVAL;
    }
    r = yaml_tree_parse(buf, len, &root, &yerr);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        diag_error(d, yerr.line, "", "%s", yerr.message);
        return -EINVAL;
    }
    if (root->kind != YAML_KIND_MAPPING) {
        diag_error(d, root->line, "", "the config must be a mapping of keys (homeserver:, ...)");
        return -EINVAL;
    }
    schema_check(root, &config_schema, &p, d);
    config_validate(root, flags, d, &vr);
    hints_comments(buf, len, root, d);
    if (d->oom) {
        validate_result_done(&vr);
        return -ENOMEM;
    }
    if (d->n_errors == 0)
        r = build_config(buf, len, root, &vr, d, ret);
    else
        r = -EINVAL;
    validate_result_done(&vr);
    return r;
}

int config_load(const char *path, unsigned flags, struct diag_list *d, struct config **ret)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r;

    r = read_config_file(path, d, &buf, &len);
    if (r < 0)
        return r;
    return config_load_buffer(buf, len, flags, d, ret);
}

/* The status field of the contract's schema: the one part of it this reader checks. */
static const cyaml_schema_value_t *status_schema(void)
{
    for (const cyaml_schema_field_t *f = config_schema.mapping.fields; f->key; f++)
        if (streq(f->key, "status"))
            return &f->value;
    return NULL;
}

int config_load_status(const char *path, struct diag_list *d, struct config_status *ret)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    _cleanup_free_ char *buf = NULL;
    const struct yaml_node *st, *addr, *port;
    const cyaml_schema_value_t *schema = status_schema();
    struct yaml_error yerr = {0};
    struct diag_path p = {0};
    long long port_value = CONFIG_DEFAULT_STATUS_PORT;
    bool allow = false;
    char why[256];
    size_t len = 0;
    int r;

    assert(schema);
    r = read_config_file(path, d, &buf, &len);
    if (r < 0)
        return r;
    if (is_blank(buf, len)) {
        diag_error(d, 0, "", "the file is empty");
        return -EINVAL;
    }
    r = yaml_tree_parse(buf, len, &root, &yerr);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        diag_error(d, yerr.line, "", "%s", yerr.message);
        return -EINVAL;
    }
    if (root->kind != YAML_KIND_MAPPING) {
        diag_error(d, root->line, "", "the config must be a mapping of keys (homeserver:, ...)");
        return -EINVAL;
    }
    st = yaml_map_get(root, "status");
    if (st) {
        diag_path_push_key(&p, "status");
        schema_check(st, schema, &p, d);
        if (d->n_errors > 0)
            return -EINVAL;
    }
    addr = yaml_map_get(st, "address");
    port = yaml_map_get(st, "port");
    if (yaml_map_get(st, "allow_non_loopback"))
        (void)yaml_scalar_bool(yaml_map_get(st, "allow_non_loopback"), &allow);
    if (addr && !config_status_address_ok(addr->value, allow, why, sizeof(why)))
        diag_error(d, addr->line, "status.address", "%s", why);
    if (port && (yaml_scalar_int64(port, &port_value) < 0 || port_value == 0))
        diag_error(d, port->line, "status.port", "port 0 is not a port");
    if (d->n_errors > 0)
        return -EINVAL;
    ret->address = strdup(addr ? addr->value : CONFIG_DEFAULT_STATUS_ADDRESS);
    if (!ret->address)
        return -ENOMEM;
    ret->port = (uint16_t)port_value;
    ret->allow_non_loopback = allow;
    return 0;
}

void config_free(struct config *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->plugins_count; i++) {
        free(c->plugins[i].id);
        free(c->plugins[i].version);
        free(c->plugins[i].sha256);
        free(c->plugins[i].digest);
    }
    for (uint32_t i = 0; i < c->instances_count; i++)
        free(c->instances[i].settings_json);
    /* The defaults apply_defaults() allocated sit in fields the schema describes and were
     * allocated with malloc, as libcyaml's own cyaml_mem does, so cyaml_free releases them. */
    cyaml_free(&config_cyaml_config, &config_schema, c, 0);
}

const struct config_instance *config_find_instance(const struct config *c, const char *id)
{
    for (uint32_t i = 0; i < c->instances_count; i++)
        if (streq(c->instances[i].id, id))
            return &c->instances[i];
    return NULL;
}

/* What a worker reads of the file for its instance, as text: equal texts mean a reload need
 * not restart it. */
int config_instance_fingerprint(const struct config *cfg, const struct config_instance *in,
                                char **ret)
{
    struct json_writer w;
    size_t len;
    int r;

    json_writer_init(&w, 1024 * 1024);
    json_begin_array(&w);
    /* What every worker reads from the rest of the file. */
    json_string(&w, cfg->homeserver.server_name);
    json_string(&w, cfg->homeserver.url);
    json_string(&w, cfg->state_directory);
    json_string(&w, cfg->secret_key_file);
    json_string(&w, cfg->registration_token_file);
    json_int(&w, cfg->logging.level);
    /* The admin room is read by the sender's worker alone (it joins it and posts there): for
     * every other instance notifications are nothing, and adding them restarts only it. */
    if (cfg->notifications && streq(cfg->notifications->sender, in->id)) {
        json_string(&w, cfg->notifications->room);
        json_string(&w, cfg->notifications->sender);
    }
    /* The plugin's code: a package by its sha256, a directory by its digest, so a module
     * rebuilt under the same version restarts the instances that run it. */
    for (uint32_t i = 0; i < cfg->plugins_count; i++)
        if (cfg->plugins[i].id && streq(cfg->plugins[i].id, in->plugin)) {
            json_string(&w, cfg->plugins[i].path);
            json_string(&w, cfg->plugins[i].version);
            json_string(&w, cfg->plugins[i].sha256);
            json_string(&w, cfg->plugins[i].digest);
        }
    /* The instance itself, but for its settings: a change of those alone is handed to the
     * running plugin (br_plugin.config) instead of restarting it. */
    json_string(&w, in->id);
    json_string(&w, in->plugin);
    json_string(&w, in->user);
    json_string(&w, in->password_file);
    json_string(&w, in->displayname);
    json_begin_array(&w);
    for (uint32_t i = 0; i < in->room_subscriptions_count; i++)
        json_string(&w, in->room_subscriptions[i]);
    json_end_array(&w);
    json_string(&w, in->command_prefix);
    json_bool(&w, in->features.auto_fetch);
    json_bool(&w, in->features.rate_limiting);
    json_bool(&w, in->features.caching);
    json_int(&w, in->rate_limit.max_requests_per_minute);
    json_int(&w, in->rate_limit.burst_size);
    json_int(&w, in->rate_limit.backoff_seconds);
    json_int(&w, in->error_notification_level);
    json_int(&w, in->catch_up_max_age);
    json_int(&w, in->send_rate);
    json_int(&w, in->event_retries);
    json_end_array(&w);
    r = json_writer_steal(&w, ret, &len);
    json_writer_done(&w);
    return r;
}
