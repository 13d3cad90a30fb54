/* libFuzzer target for the config loader: any bytes through the YAML tree (self-consistent,
 * its JSON form parses back), then config_load_buffer(): schema, rules, libcyaml, defaults. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/json.h"
#include "util/macro.h"
#include "util/utf8.h"
#include "util/yaml_json.h"
#include "util/yaml_tree.h"

/* A property that failed: abort so libFuzzer keeps the input. Not assert(): it must not
 * vanish under NDEBUG. */
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Seeds name plugins as "@FIXTURES@/plugins/echo", expanded here to the repository's test
 * fixtures (tools/run-fuzz runs from the repository root), so that valid configs with
 * instances reach libcyaml and the defaults; without the fixtures the marker stays. */
#define FIXTURES_MARKER "@FIXTURES@"
/* How config.c reports a file libcyaml refused after our checks passed it. */
#define LIBCYAML_REFUSED "libcyaml refused the file"
/* Mapping lookups are checked pairwise: only for mappings this small. */
#define FUZZ_LOOKUP_CHECK_MAX 64
/* Enough tokens for the JSON form of any tree a 1 MiB input can build. */
#define FUZZ_JSON_MAX_TOKENS (4u * YAML_TREE_MAX_NODES)

static char fixtures[PATH_MAX];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!realpath("tests/configs", fixtures))
        snprintf(fixtures, sizeof(fixtures), "%s", FIXTURES_MARKER);
    devnull = fopen("/dev/null", "we");
    CHECK(devnull);
    return 0;
}

/* The input with every marker expanded (malloc'd, *ret_len bytes, no NUL needed). */
static char *expand(const uint8_t *data, size_t size, size_t *ret_len)
{
    const size_t mlen = strlen(FIXTURES_MARKER), flen = strlen(fixtures);
    size_t n = 0, o = 0;
    char *out;

    for (size_t i = 0; i + mlen <= size; i++)
        if (memcmp(data + i, FIXTURES_MARKER, mlen) == 0)
            n++;
    out = malloc(size + n * flen + 1);
    CHECK(out);
    for (size_t i = 0; i < size;)
        if (i + mlen <= size && memcmp(data + i, FIXTURES_MARKER, mlen) == 0) {
            memcpy(out + o, fixtures, flen);
            o += flen;
            i += mlen;
        } else
            out[o++] = (char)data[i++];
    *ret_len = o;
    return out;
}

static void check_scalar(const struct yaml_node *n)
{
    long long i;
    double x;
    bool b;
    bool is_null = yaml_scalar_is_null(n);
    int rb = yaml_scalar_bool(n, &b), ri = yaml_scalar_int64(n, &i), rd = yaml_scalar_double(n, &x);

    CHECK(n->value);
    CHECK(strlen(n->value) == n->len); /* no NUL inside */
    CHECK(n->len <= YAML_TREE_MAX_SCALAR);
    CHECK(utf8_is_valid(n->value, n->len));
    CHECK(rb == 0 || rb == -EINVAL);
    CHECK(ri == 0 || ri == -EINVAL || ri == -ERANGE);
    CHECK(rd == 0 || rd == -EINVAL);
    if (n->quoted)
        CHECK(!is_null && rb < 0 && ri < 0 && rd < 0);
    /* At most one reading: null, bool, or number. */
    CHECK(!(is_null && (rb == 0 || ri == 0 || rd == 0)));
    CHECK(!(rb == 0 && (ri == 0 || rd == 0)));
    /* An integer is also a number, of the same value as far as a double can say. */
    if (ri == 0)
        CHECK(rd == 0 && x == (double)i);
}

/* Walk the tree; returns the number of JSON tokens its JSON form must have. */
static size_t check_node(const struct yaml_node *n, unsigned depth)
{
    size_t tokens = 1;

    CHECK(depth <= YAML_TREE_MAX_DEPTH);
    CHECK(n->line >= 1 && n->column >= 1);
    switch (n->kind) {
    case YAML_KIND_SCALAR:
        CHECK(n->n_children == 0);
        check_scalar(n);
        break;
    case YAML_KIND_MAPPING:
        CHECK(n->n_children == 0 || (n->keys && n->key_lines));
        for (size_t i = 0; i < n->n_children; i++) {
            CHECK(n->keys[i]);
            CHECK(utf8_is_valid(n->keys[i], strlen(n->keys[i])));
            CHECK(n->key_lines[i] >= 1);
            if (n->n_children <= FUZZ_LOOKUP_CHECK_MAX) {
                /* Keys are unique, so lookup finds each one's own value. */
                CHECK(yaml_map_get(n, n->keys[i]) == n->children[i]);
                CHECK(yaml_map_key_line(n, n->keys[i]) == n->key_lines[i]);
            }
            tokens += 1 + check_node(n->children[i], depth + 1);
        }
        break;
    case YAML_KIND_SEQUENCE:
        CHECK(!n->keys);
        CHECK(!yaml_map_get(n, "x"));
        for (size_t i = 0; i < n->n_children; i++)
            tokens += check_node(n->children[i], depth + 1);
        break;
    default:
        CHECK(!"unknown node kind");
    }
    return tokens;
}

/* The JSON form of a tree is JSON, with one token per node and key. */
static void check_json(const struct yaml_node *root, size_t tokens)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    int r = yaml_to_json(root, &text);

    CHECK(r == 0 || r == -E2BIG);
    if (r < 0)
        return;
    CHECK(json_parse(text, strlen(text), FUZZ_JSON_MAX_TOKENS, &doc) == 0);
    if (yaml_scalar_is_null(root))
        CHECK(streq(text, "{}"));
    else
        CHECK((size_t)json_token_count(doc) == tokens);
}

static void check_tree(const uint8_t *data, size_t size)
{
    _cleanup_(yaml_node_freep) struct yaml_node *root = NULL;
    struct yaml_error err = {0};
    int r = yaml_tree_parse((const char *)data, size, &root, &err);

    CHECK(r == 0 || r == -EBADMSG || r == -E2BIG);
    if (r < 0) {
        CHECK(memchr(err.message, '\0', sizeof(err.message)));
        CHECK(err.message[0] != '\0');
        return;
    }
    check_json(root, check_node(root, 0));
}

/* A loaded config holds what the contract promises. */
static void check_config(const struct config *c)
{
    CHECK(c->homeserver.server_name && c->homeserver.url && c->state_directory &&
          c->secret_key_file && c->status.address);
    CHECK(c->status.port != 0);
    CHECK(c->reserved_ports_count == 0 || c->reserved_ports);
    CHECK(c->logging.level >= 0 && c->logging.level <= 7);
    for (uint32_t i = 0; i < c->plugins_count; i++)
        CHECK(c->plugins[i].path && c->plugins[i].id && c->plugins[i].version);
    for (uint32_t i = 0; i < c->instances_count; i++) {
        const struct config_instance *in = &c->instances[i];
        _cleanup_(json_doc_freep) struct json_doc *doc = NULL;

        CHECK(in->id && in->plugin && in->user && in->settings_json);
        CHECK(config_find_instance(c, in->id) == in); /* ids are unique */
        CHECK(json_parse(in->settings_json, strlen(in->settings_json), FUZZ_JSON_MAX_TOKENS,
                         &doc) == 0);
        CHECK(json_type(doc, 0) == JSON_OBJECT);
        CHECK(in->rate_limit.max_requests_per_minute >= 1 &&
              in->rate_limit.max_requests_per_minute <= 60);
        for (uint32_t k = 0; k < in->room_subscriptions_count; k++)
            CHECK(in->room_subscriptions[k]);
    }
    if (c->notifications)
        CHECK(c->notifications->room && c->notifications->sender &&
              config_find_instance(c, c->notifications->sender));
}

static void check_load(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *buf = NULL;
    _cleanup_(config_freep) struct config *c = NULL;
    struct diag_list d = {0};
    size_t len;
    int r;

    buf = expand(data, size, &len);
    r = config_load_buffer(buf, len, CONFIG_SKIP_CREDENTIALS, &d, &c);
    CHECK(r == 0 || r == -EINVAL);
    CHECK(!d.oom);
    CHECK(d.n + d.n_dropped == d.n_errors + d.n_warnings);
    if (r == 0) {
        CHECK(c && d.n_errors == 0);
        check_config(c);
    } else {
        CHECK(!c && d.n_errors > 0);
        /* schema_check accepting what libcyaml refuses is a gap in our checker. (Values
         * appear in messages only quoted, so no input can forge this prefix.) */
        for (size_t i = 0; i < d.n; i++)
            CHECK(strncmp(d.items[i].message, LIBCYAML_REFUSED, strlen(LIBCYAML_REFUSED)) != 0);
    }
    diag_print(&d, devnull);
    diag_list_done(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_tree(data, size);
    check_load(data, size);
    return 0;
}
