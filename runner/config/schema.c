/* The config's libcyaml schema (one table per YAML mapping) and the generic structural
 * checker that reuses those tables, so the contract's shape is written down exactly once. */
#include "config/schema.h"

#include <limits.h>
#include <syslog.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"
#include "util/macro.h"
#include "util/text.h"


static const cyaml_strval_t level_strings[] = {
    {"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO}, {"WARN", LOG_WARNING},
    {"ERROR", LOG_ERR},   {"CRITICAL", LOG_CRIT},
};

#define STR(flags, type, field) CYAML_FIELD_STRING_PTR(#field, flags, type, field, 1, CONFIG_STRING_MAX)
#define OPT (CYAML_FLAG_OPTIONAL)

static const cyaml_schema_field_t homeserver_fields[] = {
    STR(CYAML_FLAG_POINTER, struct config_homeserver, server_name),
    STR(CYAML_FLAG_POINTER, struct config_homeserver, url),
    CYAML_FIELD_BOOL("allow_remote", OPT, struct config_homeserver, allow_remote),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t status_fields[] = {
    STR(CYAML_FLAG_POINTER | OPT, struct config_status, address),
    CYAML_FIELD_UINT("port", OPT, struct config_status, port),
    CYAML_FIELD_BOOL("allow_non_loopback", OPT, struct config_status, allow_non_loopback),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t notifications_fields[] = {
    STR(CYAML_FLAG_POINTER, struct config_notifications, room),
    STR(CYAML_FLAG_POINTER, struct config_notifications, sender),
    CYAML_FIELD_INT("max_per_minute", OPT, struct config_notifications, max_per_minute),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t logging_fields[] = {
    CYAML_FIELD_ENUM("level", OPT | CYAML_FLAG_STRICT, struct config_logging, level,
                     level_strings, CYAML_ARRAY_LEN(level_strings)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t plugin_fields[] = {
    STR(CYAML_FLAG_POINTER, struct config_plugin, path),
    CYAML_FIELD_BOOL("enabled", OPT, struct config_plugin, enabled),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t plugin_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct config_plugin, plugin_fields),
};

static const cyaml_schema_field_t features_fields[] = {
    CYAML_FIELD_BOOL("auto_fetch", OPT, struct config_features, auto_fetch),
    CYAML_FIELD_BOOL("rate_limiting", OPT, struct config_features, rate_limiting),
    CYAML_FIELD_BOOL("caching", OPT, struct config_features, caching),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t rate_limit_fields[] = {
    CYAML_FIELD_INT("max_requests_per_minute", OPT, struct config_rate_limit,
                    max_requests_per_minute),
    CYAML_FIELD_INT("burst_size", OPT, struct config_rate_limit, burst_size),
    CYAML_FIELD_INT("backoff_seconds", OPT, struct config_rate_limit, backoff_seconds),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t room_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, CONFIG_STRING_MAX),
};

static const cyaml_schema_field_t instance_fields[] = {
    STR(CYAML_FLAG_POINTER, struct config_instance, id),
    STR(CYAML_FLAG_POINTER, struct config_instance, plugin),
    STR(CYAML_FLAG_POINTER, struct config_instance, user),
    STR(CYAML_FLAG_POINTER | OPT, struct config_instance, password_file),
    CYAML_FIELD_BOOL("enabled", OPT, struct config_instance, enabled),
    STR(CYAML_FLAG_POINTER | OPT, struct config_instance, displayname),
    CYAML_FIELD_SEQUENCE("room_subscriptions", CYAML_FLAG_POINTER | OPT, struct config_instance,
                         room_subscriptions, &room_entry, 0, CONFIG_MAX_ROOMS),
    STR(CYAML_FLAG_POINTER | OPT, struct config_instance, command_prefix),
    CYAML_FIELD_MAPPING("features", OPT, struct config_instance, features, features_fields),
    CYAML_FIELD_MAPPING("rate_limit", OPT, struct config_instance, rate_limit, rate_limit_fields),
    CYAML_FIELD_ENUM("error_notification_level", OPT | CYAML_FLAG_STRICT, struct config_instance,
                     error_notification_level, level_strings, CYAML_ARRAY_LEN(level_strings)),
    CYAML_FIELD_INT("catch_up_max_age", OPT, struct config_instance, catch_up_max_age),
    CYAML_FIELD_INT("send_rate", OPT, struct config_instance, send_rate),
    CYAML_FIELD_INT("event_retries", OPT, struct config_instance, event_retries),
    CYAML_FIELD_IGNORE("config", OPT),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t instance_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct config_instance, instance_fields),
};

static const cyaml_schema_value_t port_entry = {
    CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint16_t),
};

static const cyaml_schema_field_t top_fields[] = {
    CYAML_FIELD_MAPPING("homeserver", CYAML_FLAG_DEFAULT, struct config, homeserver,
                        homeserver_fields),
    STR(CYAML_FLAG_POINTER, struct config, state_directory),
    STR(CYAML_FLAG_POINTER, struct config, secret_key_file),
    STR(CYAML_FLAG_POINTER | OPT, struct config, registration_token_file),
    CYAML_FIELD_MAPPING("status", OPT, struct config, status, status_fields),
    CYAML_FIELD_SEQUENCE("reserved_ports", CYAML_FLAG_POINTER | OPT, struct config, reserved_ports,
                         &port_entry, 0, CONFIG_MAX_PORTS),
    CYAML_FIELD_MAPPING_PTR("notifications", CYAML_FLAG_POINTER | OPT, struct config,
                            notifications, notifications_fields),
    CYAML_FIELD_MAPPING("logging", OPT, struct config, logging, logging_fields),
    CYAML_FIELD_SEQUENCE("plugins", CYAML_FLAG_POINTER | OPT, struct config, plugins,
                         &plugin_entry, 0, CONFIG_MAX_PLUGINS),
    CYAML_FIELD_SEQUENCE("instances", CYAML_FLAG_POINTER | OPT, struct config, instances,
                         &instance_entry, 0, CONFIG_MAX_INSTANCES),
    CYAML_FIELD_END,
};

const cyaml_schema_value_t config_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct config, top_fields),
};

/* libcyaml only runs after schema_check found nothing, so its own messages would only
 * repeat ours; it stays quiet and we report its rare disagreement ourselves. */
const cyaml_config_t config_cyaml_config = {
    .log_fn = NULL,
    .mem_fn = cyaml_mem,
    .log_level = CYAML_LOG_ERROR,
    .flags = CYAML_CFG_NO_ALIAS,
};

static const char *kind_name(enum yaml_kind k)
{
    return k == YAML_KIND_MAPPING ? "a mapping" : k == YAML_KIND_SEQUENCE ? "a list" : "a scalar";
}

static const char *expected_name(const cyaml_schema_value_t *s)
{
    switch (s->type) {
    case CYAML_INT:
    case CYAML_UINT:
        return "an integer";
    case CYAML_BOOL:
        return "true or false";
    case CYAML_ENUM:
    case CYAML_STRING:
        return "a string";
    case CYAML_MAPPING:
        return "a mapping";
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
        return "a list";
    default:
        return "a value";
    }
}

static void check_int(const struct yaml_node *n, const cyaml_schema_value_t *s,
                      const struct diag_path *p, struct diag_list *d)
{
    long long v, lo, hi;
    unsigned bits = s->data_size * 8;

    if (yaml_scalar_int64(n, &v) < 0) {
        diag_error(d, n->line, p->buf, "%s is not a decimal integer", TEXT_QUOTE(n->value));
        return;
    }
    if (s->type == CYAML_UINT) {
        lo = 0;
        hi = bits >= 63 ? LLONG_MAX : (1LL << bits) - 1;
    } else {
        lo = bits >= 64 ? LLONG_MIN : -(1LL << (bits - 1));
        hi = bits >= 64 ? LLONG_MAX : (1LL << (bits - 1)) - 1;
    }
    if (v < lo || v > hi)
        diag_error(d, n->line, p->buf, "%lld is out of range (%lld..%lld)", v, lo, hi);
}

static void check_enum(const struct yaml_node *n, const cyaml_schema_value_t *s,
                       const struct diag_path *p, struct diag_list *d)
{
    char allowed[256] = "";

    for (uint32_t i = 0; i < s->enumeration.count; i++)
        if (streq(n->value, s->enumeration.strings[i].str))
            return;
    for (uint32_t i = 0; i < s->enumeration.count; i++) {
        strncat(allowed, i ? ", " : "", sizeof(allowed) - strlen(allowed) - 1);
        strncat(allowed, s->enumeration.strings[i].str, sizeof(allowed) - strlen(allowed) - 1);
    }
    diag_error(d, n->line, p->buf, "%s is not one of %s", TEXT_QUOTE(n->value), allowed);
}

static void check_scalar(const struct yaml_node *n, const cyaml_schema_value_t *s,
                         const struct diag_path *p, struct diag_list *d)
{
    bool b;

    if (yaml_scalar_is_null(n) && s->type != CYAML_STRING) {
        diag_error(d, n->line, p->buf, "expected %s, not an empty value", expected_name(s));
        return;
    }
    switch (s->type) {
    case CYAML_INT:
    case CYAML_UINT:
        check_int(n, s, p, d);
        break;
    case CYAML_BOOL:
        if (yaml_scalar_bool(n, &b) < 0)
            diag_error(d, n->line, p->buf, "%s is not true or false", TEXT_QUOTE(n->value));
        break;
    case CYAML_ENUM:
        check_enum(n, s, p, d);
        break;
    case CYAML_STRING:
        if (yaml_scalar_is_null(n))
            diag_error(d, n->line, p->buf, "expected a string, not an empty value");
        else if (n->len < s->string.min || n->len > s->string.max)
            diag_error(d, n->line, p->buf, "length %zu is outside %u..%u", n->len,
                       s->string.min, s->string.max);
        break;
    default:
        break;
    }
}

static const cyaml_schema_field_t *find_field(const cyaml_schema_field_t *f, const char *key)
{
    for (; f->key; f++)
        if (streq(f->key, key))
            return f;
    return NULL;
}

static void report_unknown_key(const char *key, unsigned line, const cyaml_schema_field_t *fields,
                               const struct diag_path *p, struct diag_list *d)
{
    const char *best = NULL;
    size_t best_dist = 3;

    for (const cyaml_schema_field_t *f = fields; f->key; f++) {
        size_t dist = text_distance(key, f->key, best_dist - 1);
        if (dist < best_dist) {
            best = f->key;
            best_dist = dist;
        }
    }
    if (best)
        diag_error(d, line, p->buf, "unknown key %s (did you mean \"%s\"?)", TEXT_QUOTE(key), best);
    else
        diag_error(d, line, p->buf, "unknown key %s", TEXT_QUOTE(key));
}

static void check_mapping(const struct yaml_node *n, const cyaml_schema_value_t *s,
                          struct diag_path *p, struct diag_list *d)
{
    const cyaml_schema_field_t *fields = s->mapping.fields;

    for (size_t i = 0; i < n->n_children; i++) {
        const cyaml_schema_field_t *f = find_field(fields, n->keys[i]);
        size_t saved;

        if (!f) {
            report_unknown_key(n->keys[i], n->key_lines[i], fields, p, d);
            continue;
        }
        saved = diag_path_push_key(p, f->key);
        schema_check(n->children[i], &f->value, p, d);
        diag_path_pop(p, saved);
    }
    for (const cyaml_schema_field_t *f = fields; f->key; f++) {
        if (f->value.flags & CYAML_FLAG_OPTIONAL || yaml_map_get(n, f->key))
            continue;
        size_t saved = diag_path_push_key(p, f->key);
        diag_error(d, n->line, p->buf, "required key is missing");
        diag_path_pop(p, saved);
    }
}

static void check_sequence(const struct yaml_node *n, const cyaml_schema_value_t *s,
                           struct diag_path *p, struct diag_list *d)
{
    if (n->n_children < s->sequence.min || n->n_children > s->sequence.max)
        diag_error(d, n->line, p->buf, "has %zu entries, allowed %u..%u", n->n_children,
                   s->sequence.min, s->sequence.max);
    for (size_t i = 0; i < n->n_children && i < s->sequence.max; i++) {
        size_t saved = diag_path_push_index(p, i);
        schema_check(n->children[i], s->sequence.entry, p, d);
        diag_path_pop(p, saved);
    }
}

void schema_check(const struct yaml_node *node, const cyaml_schema_value_t *schema,
                  struct diag_path *path, struct diag_list *diags)
{
    enum yaml_kind want;

    switch (schema->type) {
    case CYAML_IGNORE:
        return;
    case CYAML_MAPPING:
        want = YAML_KIND_MAPPING;
        break;
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED:
        want = YAML_KIND_SEQUENCE;
        break;
    default:
        want = YAML_KIND_SCALAR;
        break;
    }
    if (node->kind != want) {
        diag_error(diags, node->line, path->buf, "expected %s, found %s", expected_name(schema),
                   kind_name(node->kind));
        return;
    }
    if (want == YAML_KIND_MAPPING)
        check_mapping(node, schema, path, diags);
    else if (want == YAML_KIND_SEQUENCE)
        check_sequence(node, schema, path, diags);
    else
        check_scalar(node, schema, path, diags);
}
