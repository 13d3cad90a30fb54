/* Tests for config/config.c end to end on real files: typed values and defaults in the
 * structs, the plugin settings as JSON, plugin identities, credentials, and diagnostics. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config/config.h"
#include "util/json.h"
#include "util/macro.h"

static char dir[] = "/tmp/test-config-XXXXXX";
static char fixtures[PATH_MAX]; /* absolute path of tests/configs */

/* A config the loader must not touch when it fails. */
static struct config *const UNTOUCHED = (struct config *)(uintptr_t)0xc0f1;

static void diag_list_donep(struct diag_list *d)
{
    diag_list_done(d);
}
#define _cleanup_diags_ _cleanup_(diag_list_donep)

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* text with every @FIXTURES@ replaced by the absolute fixtures path (malloc'd). */
static char *expand(const char *text)
{
    static const char marker[] = "@FIXTURES@";
    size_t cap = strlen(text) * 2 + 4096, o = 0;
    char *out = malloc(cap);

    assert_non_null(out);
    for (const char *p = text; *p;) {
        if (strncmp(p, marker, strlen(marker)) == 0) {
            o += (size_t)snprintf(out + o, cap - o, "%s", fixtures);
            p += strlen(marker);
        } else
            out[o++] = *p++;
        assert_true(o + 1 < cap);
    }
    out[o] = '\0';
    return out;
}

/* Write text (fixtures expanded) to dir/name and return the path (static buffer). */
static const char *put_config(const char *name, const char *text)
{
    static char path[600];
    _cleanup_free_ char *body = expand(text);

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, body, strlen(body), 0600);
    return path;
}

static int load(const char *text, unsigned flags, struct diag_list *d, struct config **ret)
{
    return config_load(put_config("config.yaml", text), flags, d, ret);
}

/* Load text, which must be valid; on failure the diagnostics say why. */
static struct config *load_ok(const char *text, unsigned flags, struct diag_list *d)
{
    struct config *c = NULL;
    int r = load(text, flags, d, &c);

    if (r != 0) {
        diag_print(d, stderr);
        fail_msg("config_load() = %d", r);
    }
    assert_non_null(c);
    return c;
}

/* The diagnostic at path (the first one), or NULL. */
static const struct diag *find_diag(const struct diag_list *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (streq(d->items[i].path, path))
            return &d->items[i];
    return NULL;
}

static void assert_diag(const struct diag_list *d, const char *path, unsigned line,
                        enum diag_severity sev, const char *words)
{
    const struct diag *x = find_diag(d, path);

    if (!x) {
        diag_print(d, stderr);
        fail_msg("no diagnostic at \"%s\"", path);
    }
    assert_int_equal(x->severity, sev);
    if (line)
        assert_int_equal(x->line, line);
    if (!strstr(x->message, words))
        fail_msg("\"%s\" lacks \"%s\"", x->message, words);
}

/* Load text expecting -EINVAL with n_errors errors, *ret untouched. */
static void load_refused(const char *text, unsigned flags, struct diag_list *d, size_t n_errors)
{
    struct config *c = UNTOUCHED;

    assert_int_equal(load(text, flags, d, &c), -EINVAL);
    assert_ptr_equal(c, UNTOUCHED);
    if (d->n_errors != n_errors) {
        diag_print(d, stderr);
        fail_msg("%zu errors, expected %zu", d->n_errors, n_errors);
    }
}

/* The example of the contract in the design brief, plugin path aside. */
static const char contract[] = "homeserver:\n"
                               "  server_name: clarun.xyz\n"
                               "  url: http://127.0.0.1:6167\n"
                               "  allow_remote: false\n"
                               "state_directory: /var/lib/botrunner\n"
                               "secret_key_file: secret-key\n"
                               "registration_token_file: registration-token\n"
                               "status:\n"
                               "  address: 127.0.0.1\n"
                               "  port: 29316\n"
                               "  allow_non_loopback: false\n"
                               "reserved_ports: [8008, 29319, 3000]\n"
                               "notifications:\n"
                               "  room: \"!admin:clarun.xyz\"\n"
                               "  sender: instagram-bot-1\n"
                               "  max_per_minute: 10\n"
                               "logging:\n"
                               "  level: INFO\n"
                               "plugins:\n"
                               "  - path: @FIXTURES@/plugins/instagram\n"
                               "    enabled: true\n"
                               "instances:\n"
                               "  - id: instagram-bot-1\n"
                               "    plugin: sna.instagram\n"
                               "    user: \"@instagram-bot:clarun.xyz\"\n"
                               "    password_file: instagram-bot-password\n"
                               "    enabled: true\n"
                               "    displayname: Instagram\n"
                               "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n"
                               "    command_prefix: \"!ig\"\n"
                               "    features: {auto_fetch: true, rate_limiting: true, caching: "
                               "false}\n"
                               "    rate_limit: {max_requests_per_minute: 10, burst_size: 3, "
                               "backoff_seconds: 30}\n"
                               "    error_notification_level: ERROR\n"
                               "    catch_up_max_age: 3600\n"
                               "    config: {max_file_size: 50000000}\n";

/* The smallest valid config: everything optional left out. */
static const char minimal[] =
        "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
        "state_directory: /var/lib/botrunner\n"
        "secret_key_file: secret-key\n"
        "registration_token_file: registration-token\n"
        "plugins:\n"
        "  - path: @FIXTURES@/plugins/echo\n"
        "instances:\n"
        "  - id: echo-1\n"
        "    plugin: botrunner.echo\n"
        "    user: \"@echo:clarun.xyz\"\n"
        "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n";

static void test_contract_example(void **state)
{
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(contract, CONFIG_SKIP_CREDENTIALS, &d);
    const struct config_instance *in;
    (void)state;

    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 0);
    assert_string_equal(c->homeserver.server_name, "clarun.xyz");
    assert_string_equal(c->homeserver.url, "http://127.0.0.1:6167");
    assert_false(c->homeserver.allow_remote);
    assert_string_equal(c->state_directory, "/var/lib/botrunner");
    assert_string_equal(c->secret_key_file, "secret-key");
    assert_string_equal(c->registration_token_file, "registration-token");
    assert_string_equal(c->status.address, "127.0.0.1");
    assert_int_equal(c->status.port, 29316);
    assert_false(c->status.allow_non_loopback);
    assert_int_equal(c->reserved_ports_count, 3);
    assert_int_equal(c->reserved_ports[0], 8008);
    assert_int_equal(c->reserved_ports[1], 29319);
    assert_int_equal(c->reserved_ports[2], 3000);
    assert_non_null(c->notifications);
    assert_string_equal(c->notifications->room, "!admin:clarun.xyz");
    assert_string_equal(c->notifications->sender, "instagram-bot-1");
    assert_int_equal(c->notifications->max_per_minute, 10);
    assert_int_equal(c->logging.level, LOG_INFO);

    assert_int_equal(c->plugins_count, 1);
    assert_true(strstr(c->plugins[0].path, "/tests/configs/plugins/instagram") != NULL);
    assert_int_equal(c->plugins[0].path[0], '/');
    assert_true(c->plugins[0].enabled);
    assert_string_equal(c->plugins[0].id, "sna.instagram"); /* from its maubot.yaml */
    assert_string_equal(c->plugins[0].version, "1.0.0");

    assert_int_equal(c->instances_count, 1);
    in = &c->instances[0];
    assert_string_equal(in->id, "instagram-bot-1");
    assert_string_equal(in->plugin, "sna.instagram");
    assert_string_equal(in->user, "@instagram-bot:clarun.xyz");
    assert_string_equal(in->password_file, "instagram-bot-password");
    assert_true(in->enabled);
    assert_string_equal(in->displayname, "Instagram");
    assert_int_equal(in->room_subscriptions_count, 1);
    assert_string_equal(in->room_subscriptions[0], "!abc123def:clarun.xyz");
    assert_string_equal(in->command_prefix, "!ig");
    assert_true(in->features.auto_fetch);
    assert_true(in->features.rate_limiting);
    assert_false(in->features.caching);
    assert_int_equal(in->rate_limit.max_requests_per_minute, 10);
    assert_int_equal(in->rate_limit.burst_size, 3);
    assert_int_equal(in->rate_limit.backoff_seconds, 30);
    assert_int_equal(in->error_notification_level, LOG_ERR);
    assert_int_equal(in->catch_up_max_age, 3600);
    /* The plugin's config_schema (the fixture's) fills in what the file left out. */
    assert_string_equal(in->settings_json, "{\"max_file_size\":50000000,\"caption\":true}");
}

/* Every value differs from its default, so each must have come from the file. */
static void test_values_land_in_the_structs(void **state)
{
    static const char text[] =
            "homeserver:\n"
            "  server_name: \"example.org:8448\"\n"
            "  url: https://matrix.example.org\n"
            "  allow_remote: true\n"
            "state_directory: /srv/bots\n"
            "secret_key_file: /run/keys/secret\n"
            "status: {address: 0.0.0.0, port: 29400, allow_non_loopback: true}\n"
            "reserved_ports: [1, 65535]\n"
            "notifications:\n"
            "  room: \"!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM\"\n"
            "  sender: b\n"
            "  max_per_minute: 600\n"
            "logging: {level: DEBUG}\n"
            "plugins:\n"
            "  - {path: @FIXTURES@/plugins/echo, enabled: false}\n"
            "  - path: @FIXTURES@/plugins/instagram\n"
            "instances:\n"
            "  - id: a\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@a:example.org:8448\"\n"
            "    password_file: a-pass\n"
            "    enabled: false\n"
            "    room_subscriptions: []\n"
            "    features: {auto_fetch: false, rate_limiting: false, caching: true}\n"
            "    rate_limit: {max_requests_per_minute: 60, burst_size: 1, backoff_seconds: 0}\n"
            "    error_notification_level: CRITICAL\n"
            "    catch_up_max_age: 0\n"
            "    send_rate: 1000\n"
            "    event_retries: 0\n"
            "  - id: b\n"
            "    plugin: sna.instagram\n"
            "    user: \"@b:example.org:8448\"\n"
            "    password_file: b-pass\n"
            "    room_subscriptions: [\"!r1:example.org\", \"!r2:example.org\"]\n"
            "    error_notification_level: WARN\n"
            "    catch_up_max_age: 2592000\n";
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
    const struct config_instance *a, *b;
    (void)state;

    assert_string_equal(c->homeserver.server_name, "example.org:8448");
    assert_string_equal(c->homeserver.url, "https://matrix.example.org");
    assert_true(c->homeserver.allow_remote);
    assert_string_equal(c->state_directory, "/srv/bots");
    assert_string_equal(c->secret_key_file, "/run/keys/secret");
    assert_null(c->registration_token_file);
    assert_string_equal(c->status.address, "0.0.0.0");
    assert_int_equal(c->status.port, 29400);
    assert_true(c->status.allow_non_loopback);
    assert_int_equal(c->reserved_ports_count, 2);
    assert_int_equal(c->reserved_ports[0], 1);
    assert_int_equal(c->reserved_ports[1], 65535);
    assert_string_equal(c->notifications->room, "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM");
    assert_string_equal(c->notifications->sender, "b");
    assert_int_equal(c->notifications->max_per_minute, 600);
    assert_int_equal(c->logging.level, LOG_DEBUG);

    assert_int_equal(c->plugins_count, 2);
    assert_false(c->plugins[0].enabled);
    assert_string_equal(c->plugins[0].id, "botrunner.echo");
    assert_string_equal(c->plugins[0].version, "0.1.0");
    assert_true(c->plugins[1].enabled);
    assert_string_equal(c->plugins[1].id, "sna.instagram");

    assert_int_equal(c->instances_count, 2);
    a = &c->instances[0];
    assert_false(a->enabled);
    assert_null(a->displayname);
    assert_null(a->command_prefix);
    assert_int_equal(a->room_subscriptions_count, 0);
    assert_false(a->features.auto_fetch);
    assert_false(a->features.rate_limiting);
    assert_true(a->features.caching);
    assert_int_equal(a->rate_limit.max_requests_per_minute, 60);
    assert_int_equal(a->rate_limit.burst_size, 1);
    assert_int_equal(a->rate_limit.backoff_seconds, 0);
    assert_int_equal(a->error_notification_level, LOG_CRIT);
    assert_int_equal(a->catch_up_max_age, 0);
    assert_int_equal(a->send_rate, 1000);
    assert_int_equal(a->event_retries, 0);
    b = &c->instances[1];
    assert_true(b->enabled);
    assert_int_equal(b->room_subscriptions_count, 2);
    assert_string_equal(b->room_subscriptions[1], "!r2:example.org");
    assert_int_equal(b->error_notification_level, LOG_WARNING);
    assert_int_equal(b->catch_up_max_age, 2592000);
}

static void test_defaults_when_absent(void **state)
{
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(minimal, CONFIG_SKIP_CREDENTIALS, &d);
    const struct config_instance *in = &c->instances[0];
    (void)state;

    assert_false(c->homeserver.allow_remote);
    assert_string_equal(c->status.address, "127.0.0.1");
    assert_int_equal(c->status.port, 29316);
    assert_false(c->status.allow_non_loopback);
    assert_int_equal(c->reserved_ports_count, 3);
    assert_int_equal(c->reserved_ports[0], 8008);
    assert_int_equal(c->reserved_ports[1], 29319);
    assert_int_equal(c->reserved_ports[2], 3000);
    assert_null(c->notifications);
    assert_int_equal(c->logging.level, LOG_INFO);
    assert_true(c->plugins[0].enabled);
    assert_string_equal(c->plugins[0].id, "botrunner.echo");
    assert_true(in->enabled);
    assert_null(in->password_file);
    assert_null(in->displayname);
    assert_null(in->command_prefix);
    assert_true(in->features.auto_fetch);
    assert_true(in->features.rate_limiting);
    assert_false(in->features.caching);
    assert_int_equal(in->rate_limit.max_requests_per_minute, 10);
    assert_int_equal(in->rate_limit.burst_size, 3);
    assert_int_equal(in->rate_limit.backoff_seconds, 30);
    assert_int_equal(in->error_notification_level, LOG_ERR);
    assert_int_equal(in->catch_up_max_age, 3600);
    assert_int_equal(in->send_rate, 10);
    assert_int_equal(in->event_retries, 1);
    assert_string_equal(in->settings_json, "{}");
}

static void test_partial_sections_get_defaults(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "status: {port: 29400}\n"
            "notifications: {room: \"!admin:clarun.xyz\", sender: echo-1}\n"
            "logging: {}\n"
            "plugins: [{path: @FIXTURES@/plugins/echo}]\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n"
            "    features: {caching: true}\n"
            "    rate_limit: {burst_size: 5}\n";
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
    const struct config_instance *in = &c->instances[0];
    (void)state;

    assert_string_equal(c->status.address, "127.0.0.1");
    assert_int_equal(c->status.port, 29400);
    assert_int_equal(c->notifications->max_per_minute, 10);
    assert_int_equal(c->logging.level, LOG_INFO);
    assert_true(in->features.auto_fetch);
    assert_true(in->features.rate_limiting);
    assert_true(in->features.caching);
    assert_int_equal(in->rate_limit.max_requests_per_minute, 10);
    assert_int_equal(in->rate_limit.burst_size, 5);
    assert_int_equal(in->rate_limit.backoff_seconds, 30);
}

static void test_explicit_false_stays_false(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "plugins:\n"
            "  - {path: @FIXTURES@/plugins/echo, enabled: false}\n"
            "  - {path: @FIXTURES@/plugins/instagram, enabled: FALSE}\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    enabled: false\n"
            "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n"
            "    features: {auto_fetch: false, rate_limiting: False}\n";
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
    (void)state;

    assert_false(c->plugins[0].enabled);
    assert_false(c->plugins[1].enabled);
    assert_false(c->instances[0].enabled);
    assert_false(c->instances[0].features.auto_fetch);
    assert_false(c->instances[0].features.rate_limiting);
    assert_false(c->instances[0].features.caching);
}

static void test_settings_json_types(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "plugins: [{path: @FIXTURES@/plugins/echo}]\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n"
            "    config:\n"
            "      int: 50000000\n"
            "      neg: -3\n"
            "      float: 2.5\n"
            "      exp: 1e3\n"
            "      t: true\n"
            "      f: False\n"
            "      nothing: null\n"
            "      tilde: ~\n"
            "      empty:\n"
            "      quoted_int: \"5\"\n"
            "      quoted_bool: \"true\"\n"
            "      single: '1.5'\n"
            "      word: hello\n"
            "      yes_word: yes\n"
            "      escaped: \"tab\\there \\\"q\\\" caf\\u00e9\"\n"
            "      \"key.with.dots\": 1\n"
            "      list: [1, \"two\", 3.5, false, null]\n"
            "      nested: {x: {y: 7}}\n";
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
    _cleanup_(json_doc_freep) struct json_doc *j = NULL;
    const char *js = c->instances[0].settings_json;
    _cleanup_free_ char *s = NULL;
    int64_t i;
    double f;
    bool b;
    int tok, list;
    (void)state;

    assert_int_equal(json_parse(js, strlen(js), 1000, &j), 0);
    assert_int_equal(json_type(j, 0), JSON_OBJECT);
    assert_int_equal(json_get_int64(j, 0, "int", &i), 0);
    assert_int_equal(i, 50000000);
    assert_int_equal(json_get_int64(j, 0, "neg", &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(json_get_double(j, 0, "float", &f), 0);
    assert_true(f == 2.5);
    assert_int_equal(json_get_double(j, 0, "exp", &f), 0);
    assert_true(f == 1000.0);
    assert_int_equal(json_get_bool(j, 0, "t", &b), 0);
    assert_true(b);
    assert_int_equal(json_get_bool(j, 0, "f", &b), 0);
    assert_false(b);
    assert_int_equal(json_is_null(j, 0, "nothing"), 1);
    assert_int_equal(json_is_null(j, 0, "tilde"), 1);
    assert_int_equal(json_is_null(j, 0, "empty"), 1);

    /* Quoted scalars stay strings, whatever they look like. */
    assert_int_equal(json_get_int64(j, 0, "quoted_int", &i), -EBADMSG);
    assert_int_equal(json_get_string(j, 0, "quoted_int", &s), 0);
    assert_string_equal(s, "5");
    free(TAKE_PTR(s));
    assert_int_equal(json_get_bool(j, 0, "quoted_bool", &b), -EBADMSG);
    assert_int_equal(json_get_string(j, 0, "quoted_bool", &s), 0);
    assert_string_equal(s, "true");
    free(TAKE_PTR(s));
    assert_int_equal(json_get_string(j, 0, "single", &s), 0);
    assert_string_equal(s, "1.5");
    free(TAKE_PTR(s));
    assert_int_equal(json_get_string(j, 0, "word", &s), 0);
    assert_string_equal(s, "hello");
    free(TAKE_PTR(s));
    assert_int_equal(json_get_string(j, 0, "yes_word", &s), 0); /* YAML 1.2: not a bool */
    assert_string_equal(s, "yes");
    free(TAKE_PTR(s));
    assert_int_equal(json_get_string(j, 0, "escaped", &s), 0);
    assert_string_equal(s, "tab\there \"q\" caf\xC3\xA9");
    free(TAKE_PTR(s));

    /* A key with dots is one key, not a path. */
    assert_int_equal(json_get(j, 0, "key.with.dots", &tok), -ENOENT);
    assert_int_equal(json_get_key(j, 0, "key.with.dots", 13, &tok), 0);
    assert_int_equal(json_get_int64(j, tok, NULL, &i), 0);
    assert_int_equal(i, 1);

    assert_int_equal(json_get(j, 0, "list", &list), 0);
    assert_int_equal(json_array_len(j, list), 5);
    assert_int_equal(json_array_at(j, list, 0, &tok), 0);
    assert_int_equal(json_type(j, tok), JSON_NUMBER);
    assert_int_equal(json_array_at(j, list, 1, &tok), 0);
    assert_int_equal(json_type(j, tok), JSON_STRING);
    assert_int_equal(json_array_at(j, list, 2, &tok), 0);
    assert_int_equal(json_get_double(j, tok, NULL, &f), 0);
    assert_true(f == 3.5);
    assert_int_equal(json_array_at(j, list, 3, &tok), 0);
    assert_int_equal(json_type(j, tok), JSON_BOOL);
    assert_int_equal(json_array_at(j, list, 4, &tok), 0);
    assert_int_equal(json_type(j, tok), JSON_NULL);

    assert_int_equal(json_get_int64(j, 0, "nested.x.y", &i), 0);
    assert_int_equal(i, 7);
}

static void test_settings_json_absent_null_or_empty(void **state)
{
    static const char *const configs[] = {"", "    config:\n", "    config: ~\n",
                                          "    config: {}\n"};
    (void)state;

    for (size_t k = 0; k < ELEMENTSOF(configs); k++) {
        _cleanup_diags_ struct diag_list d = {0};
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "%s%s", minimal, configs[k]) > 0);
        _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
        assert_string_equal(c->instances[0].settings_json, "{}");
    }
}

static void test_errors_collected_at_once(void **state)
{
    /* tests/configs/invalid/many-errors.yaml: five errors in five places. */
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://localhost:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "logging: {levle: INFO}\n"
            "plugins: [{path: \"@FIXTURES@/plugins/echo\"}]\n"
            "instances:\n"
            "  - {id: a, plugin: botrunner.echo, user: \"@Bot:clarun.xyz\", rate_limit: "
            "{max_requests_per_minute: 100}}\n"
            "  - {id: a, plugin: botrunner.echo, user: \"@b:clarun.xyz\"}\n";
    _cleanup_diags_ struct diag_list d = {0};
    (void)state;

    load_refused(text, CONFIG_SKIP_CREDENTIALS, &d, 5);
    assert_diag(&d, "homeserver.url", 1, DIAG_ERROR, "instead of \"localhost\"");
    assert_diag(&d, "logging", 5, DIAG_ERROR, "unknown key \"levle\" (did you mean \"level\"?)");
    assert_diag(&d, "instances[0].user", 8, DIAG_ERROR, "\"@Bot:clarun.xyz\" is not a valid");
    assert_diag(&d, "instances[0].rate_limit.max_requests_per_minute", 8, DIAG_ERROR,
                "100 is outside 1..60");
    assert_diag(&d, "instances[1].id", 9, DIAG_ERROR, "instance id \"a\" is not unique");
    assert_int_equal(d.n_warnings, 2); /* neither instance subscribes to a room */
}

static void test_one_error_names_path_and_line(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "plugins:\n"
            "  - path: @FIXTURES@/plugins/echo\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    room_subscriptions:\n"
            "      - \"#alias:clarun.xyz\"\n"
            "      - \"#alias\"\n";
    _cleanup_diags_ struct diag_list d = {0};
    (void)state;

    load_refused(text, CONFIG_SKIP_CREDENTIALS, &d, 1);
    assert_int_equal(d.n, 1);
    assert_diag(&d, "instances[0].room_subscriptions[1]", 13, DIAG_ERROR,
                "\"#alias\" is not a valid room id (!opaque:server) or alias (#alias:server)");
}

static void test_structural_errors(void **state)
{
    static const char text[] = "homeserver: {server_name: clarun.xyz}\n"
                               "state_directory: [a]\n"
                               "secret_key_file: secret-key\n"
                               "registration_token_file: registration-token\n"
                               "status: {port: 70000}\n"
                               "logging: {level: VERBOSE}\n"
                               "plugins: []\n"
                               "instances: []\n"
                               "instancs: []\n";
    _cleanup_diags_ struct diag_list d = {0};
    (void)state;

    load_refused(text, CONFIG_SKIP_CREDENTIALS, &d, 5);
    assert_diag(&d, "homeserver.url", 1, DIAG_ERROR, "required key is missing");
    assert_diag(&d, "state_directory", 2, DIAG_ERROR, "expected a string, found a list");
    assert_diag(&d, "status.port", 5, DIAG_ERROR, "70000 is out of range (0..65535)");
    assert_diag(&d, "logging.level", 6, DIAG_ERROR, "\"VERBOSE\" is not one of DEBUG, INFO");
    assert_diag(&d, "", 9, DIAG_ERROR, "unknown key \"instancs\" (did you mean \"instances\"?)");
}

static void test_file_level_errors(void **state)
{
    size_t big = 1024 * 1024 + 1;
    _cleanup_free_ char *huge = malloc(big);
    char path[600];
    (void)state;

    {
        _cleanup_diags_ struct diag_list d = {0};
        struct config *c = UNTOUCHED;
        snprintf(path, sizeof(path), "%s/does-not-exist.yaml", dir);
        assert_int_equal(config_load(path, 0, &d, &c), -EINVAL);
        assert_ptr_equal(c, UNTOUCHED);
        assert_diag(&d, "", 0, DIAG_ERROR, "cannot open");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        struct config *c = UNTOUCHED;
        assert_int_equal(config_load(dir, 0, &d, &c), -EINVAL);
        assert_diag(&d, "", 0, DIAG_ERROR, "is a directory");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused("", 0, &d, 1);
        assert_diag(&d, "", 0, DIAG_ERROR, "the file is empty");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused(" \n\t\r\n", 0, &d, 1);
        assert_diag(&d, "", 0, DIAG_ERROR, "the file is empty");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused("# just a comment\n", 0, &d, 1);
        assert_diag(&d, "", 0, DIAG_ERROR, "no YAML document");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused("- a\n- b\n", 0, &d, 1);
        assert_diag(&d, "", 1, DIAG_ERROR, "must be a mapping");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused("homeserver: {}\nhomeserver: {}\n", 0, &d, 1);
        assert_diag(&d, "", 2, DIAG_ERROR, "duplicate key \"homeserver\"");
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        struct config *c = UNTOUCHED;
        memcpy(huge, "a: 1\n#", 6);
        memset(huge + 6, 'x', big - 6);
        snprintf(path, sizeof(path), "%s/huge.yaml", dir);
        write_file(path, huge, big, 0600);
        assert_int_equal(config_load(path, 0, &d, &c), -EINVAL);
        assert_diag(&d, "", 0, DIAG_ERROR, "too large");
    }
}

static void test_load_buffer_reads_only_len_bytes(void **state)
{
    _cleanup_free_ char *text = expand(minimal);
    size_t len = strlen(text);
    /* An exact-size copy without a NUL: a read past len is an ASan error. */
    _cleanup_free_ char *buf = malloc(len);
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = NULL;
    (void)state;

    memcpy(buf, text, len);
    assert_int_equal(config_load_buffer(buf, len, CONFIG_SKIP_CREDENTIALS, &d, &c), 0);
    assert_string_equal(c->instances[0].id, "echo-1");

    /* Blanks only, without a NUL after them. */
    _cleanup_diags_ struct diag_list d2 = {0};
    struct config *c2 = UNTOUCHED;
    memset(buf, ' ', len);
    assert_int_equal(config_load_buffer(buf, len, 0, &d2, &c2), -EINVAL);
    assert_ptr_equal(c2, UNTOUCHED);
    assert_diag(&d2, "", 0, DIAG_ERROR, "the file is empty");
}

static void test_find_instance(void **state)
{
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(contract, CONFIG_SKIP_CREDENTIALS, &d);
    (void)state;

    assert_ptr_equal(config_find_instance(c, "instagram-bot-1"), &c->instances[0]);
    assert_null(config_find_instance(c, "instagram-bot"));
    assert_null(config_find_instance(c, "instagram-bot-10"));
    assert_null(config_find_instance(c, ""));
}

/* Credentials are read unless skipped: from $CREDENTIALS_DIRECTORY for bare names. */
static void test_credentials_read(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "plugins:\n"
            "  - path: @FIXTURES@/plugins/echo\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    password_file: echo-password\n"
            "    room_subscriptions: [\"!abc123def:clarun.xyz\"]\n";
    static const char key[] = "0123456789abcdef0123456789abcdef0123456789abcdef\n";
    char creds[600], path[700];
    (void)state;

    snprintf(creds, sizeof(creds), "%s/credentials", dir);
    assert_int_equal(mkdir(creds, 0700), 0);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
    snprintf(path, sizeof(path), "%s/secret-key", creds);
    write_file(path, key, strlen(key), 0600);
    snprintf(path, sizeof(path), "%s/registration-token", creds);
    write_file(path, "tok3n_ok\n", 9, 0600);
    snprintf(path, sizeof(path), "%s/echo-password", creds);
    write_file(path, "hunter22", 8, 0600);

    {
        _cleanup_diags_ struct diag_list d = {0};
        _cleanup_(config_freep) struct config *c = load_ok(text, 0, &d);
        assert_int_equal(d.n_warnings, 0);
        assert_string_equal(c->instances[0].password_file, "echo-password");
    }
    /* Readable by others: loaded, with a warning naming the credential. */
    snprintf(path, sizeof(path), "%s/echo-password", creds);
    assert_int_equal(chmod(path, 0644), 0);
    {
        _cleanup_diags_ struct diag_list d = {0};
        _cleanup_(config_freep) struct config *c = load_ok(text, 0, &d);
        assert_diag(&d, "instances[0].password_file", 11, DIAG_WARNING, "group or others");
    }
    /* A short key, a token with a forbidden character and a missing password: three errors,
     * and none of them when credentials are skipped. */
    snprintf(path, sizeof(path), "%s/secret-key", creds);
    write_file(path, "too short\n", 10, 0600);
    snprintf(path, sizeof(path), "%s/registration-token", creds);
    write_file(path, "bad token$\n", 11, 0600);
    snprintf(path, sizeof(path), "%s/echo-password", creds);
    assert_int_equal(unlink(path), 0);
    {
        _cleanup_diags_ struct diag_list d = {0};
        load_refused(text, 0, &d, 3);
        assert_diag(&d, "secret_key_file", 3, DIAG_ERROR, "credential \"secret-key\"");
        assert_diag(&d, "registration_token_file", 4, DIAG_ERROR, "registration token");
        assert_diag(&d, "instances[0].password_file", 11, DIAG_ERROR,
                    "credential \"echo-password\"");
        /* Messages name credentials, never their content. */
        for (size_t i = 0; i < d.n; i++) {
            assert_null(strstr(d.items[i].message, "too short"));
            assert_null(strstr(d.items[i].message, "bad token"));
        }
    }
    {
        _cleanup_diags_ struct diag_list d = {0};
        _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
        assert_int_equal(d.n_errors, 0);
    }
    assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
}

/* The fingerprint of each instance of text (two instances, a and b), for comparing. */
static void fingerprints(const char *text, char **ret_a, char **ret_b)
{
    _cleanup_diags_ struct diag_list d = {0};
    _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);

    assert_int_equal(config_instance_fingerprint(c, &c->instances[0], ret_a), 0);
    assert_int_equal(config_instance_fingerprint(c, &c->instances[1], ret_b), 0);
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* A reload restarts an instance when its fingerprint changes: a plugin directory whose
 * module was rebuilt (same version, one byte more) changes it; notifications change the
 * sender's alone. */
static void test_fingerprint_follows_code_and_notifications(void **state)
{
    static const char head[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner\n"
            "secret_key_file: secret-key\n"
            "plugins:\n"
            "  - path: %s\n"
            "instances:\n"
            "  - {id: a, plugin: botrunner.echo, user: \"@a:clarun.xyz\", password_file: pw,\n"
            "     room_subscriptions: [\"!abc123def:clarun.xyz\"]}\n"
            "  - {id: b, plugin: botrunner.echo, user: \"@b:clarun.xyz\", password_file: pw,\n"
            "     room_subscriptions: [\"!abc123def:clarun.xyz\"]}\n";
    char plugdir[600], from[PATH_MAX + 32], to[700];
    _cleanup_free_ char *text = NULL, *with_notices = NULL, *other_sender = NULL;
    _cleanup_free_ char *a1 = NULL, *b1 = NULL, *a2 = NULL, *b2 = NULL, *a3 = NULL, *b3 = NULL,
                        *a4 = NULL, *b4 = NULL;
    FILE *f;
    (void)state;

    snprintf(plugdir, sizeof(plugdir), "%s/echo-plugin", dir);
    assert_int_equal(mkdir(plugdir, 0700), 0);
    for (size_t i = 0; i < 2; i++) {
        const char *name = i ? "echo.so" : "maubot.yaml";
        snprintf(from, sizeof(from), "%s/plugins/echo/%s", fixtures, name);
        snprintf(to, sizeof(to), "%s/%s", plugdir, name);
        copy_file(from, to);
    }
    assert_true(asprintf(&text, head, plugdir) > 0);
    assert_true(asprintf(&with_notices, "%snotifications: {room: \"!admin:clarun.xyz\", "
                                        "sender: a}\n", text) > 0);
    assert_true(asprintf(&other_sender, "%snotifications: {room: \"!admin:clarun.xyz\", "
                                        "sender: b, max_per_minute: 3}\n", text) > 0);

    {
        _cleanup_diags_ struct diag_list d = {0};
        _cleanup_(config_freep) struct config *c = load_ok(text, CONFIG_SKIP_CREDENTIALS, &d);
        assert_null(c->plugins[0].sha256);
        assert_non_null(c->plugins[0].digest);
        assert_int_equal(strlen(c->plugins[0].digest), 64);
        assert_int_equal(strspn(c->plugins[0].digest, "0123456789abcdef"), 64);
    }
    fingerprints(text, &a1, &b1);

    /* The same version, rebuilt: the module has one more byte (an ELF stays valid). */
    f = fopen(to, "ab");
    assert_non_null(f);
    assert_int_equal(fputc(0, f), 0);
    assert_int_equal(fclose(f), 0);
    fingerprints(text, &a2, &b2);
    assert_string_not_equal(a1, a2);
    assert_string_not_equal(b1, b2);

    /* Notifications added: the sender's fingerprint changes, the other's does not; a new
     * sender changes both of theirs (and max_per_minute is the supervisor's alone). */
    fingerprints(with_notices, &a3, &b3);
    assert_string_not_equal(a2, a3);
    assert_string_equal(b2, b3);
    fingerprints(other_sender, &a4, &b4);
    assert_string_equal(a4, a2);
    assert_string_not_equal(b4, b3);
}

/* `room: #lobby` is `room: null` to YAML: the error on that line says why, and an empty value
 * that is no error (free-form settings) gets a warning saying the same. A comment after a
 * value, or a quoted #, is nothing of the sort. */
static void test_hash_comment_emptied_value(void **state)
{
    static const char text[] =
            "homeserver: {server_name: clarun.xyz, url: \"http://127.0.0.1:6167\"}\n"
            "state_directory: /var/lib/botrunner # a comment after a value\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "plugins:\n"
            "  - path: @FIXTURES@/plugins/echo\n"
            "notifications: {room: \"#admin:clarun.xyz\", sender: echo-1}\n"
            "instances:\n"
            "  - id: echo-1\n"
            "    plugin: botrunner.echo\n"
            "    user: \"@echo:clarun.xyz\"\n"
            "    displayname:   #Échos\n"
            "    room_subscriptions:\n"
            "      - #lobby:clarun.xyz   \n"
            "    config:\n"
            "      channel: #general\n";
    _cleanup_diags_ struct diag_list d = {0};
    struct config *c = UNTOUCHED;
    (void)state;

    assert_int_equal(load(text, CONFIG_SKIP_CREDENTIALS, &d, &c), -EINVAL);
    assert_int_equal(d.n_errors, 2);
    assert_diag(&d, "instances[0].displayname", 12, DIAG_ERROR,
                "expected a string, not an empty value; quote it: # starts a YAML comment, so "
                "the value is empty (write \"#Échos\")");
    assert_diag(&d, "instances[0].room_subscriptions[0]", 14, DIAG_ERROR,
                "; quote it: # starts a YAML comment, so the value is empty (write "
                "\"#lobby:clarun.xyz\")");
    assert_diag(&d, "instances[0].config.channel", 16, DIAG_WARNING,
                "the value is empty: quote it: # starts a YAML comment (write \"#general\" if "
                "that is the value)");
    assert_int_equal(d.n_warnings, 1);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir) || !realpath("tests/configs", fixtures))
        return -1;
    unsetenv("CREDENTIALS_DIRECTORY");
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_contract_example),
            cmocka_unit_test(test_values_land_in_the_structs),
            cmocka_unit_test(test_defaults_when_absent),
            cmocka_unit_test(test_partial_sections_get_defaults),
            cmocka_unit_test(test_explicit_false_stays_false),
            cmocka_unit_test(test_settings_json_types),
            cmocka_unit_test(test_settings_json_absent_null_or_empty),
            cmocka_unit_test(test_errors_collected_at_once),
            cmocka_unit_test(test_one_error_names_path_and_line),
            cmocka_unit_test(test_structural_errors),
            cmocka_unit_test(test_file_level_errors),
            cmocka_unit_test(test_load_buffer_reads_only_len_bytes),
            cmocka_unit_test(test_find_instance),
            cmocka_unit_test(test_credentials_read),
            cmocka_unit_test(test_fingerprint_follows_code_and_notifications),
            cmocka_unit_test(test_hash_comment_emptied_value),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
