/* Builds struct yaml_node trees from libyaml events, with limits on size, node count,
 * depth and scalar length, refusing aliases, duplicate keys and multiple documents. */
#include "util/yaml_tree.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "util/arena.h"
#include "util/macro.h"
#include "util/text.h"


/* The root node and the arena holding the whole tree: yaml_node_free() gets the root and
 * finds the arena around it. */
struct yaml_tree {
    struct yaml_node root; /* first: a root pointer is a tree pointer */
    struct arena arena;
};

struct builder {
    yaml_parser_t parser;
    const char *buf;
    size_t len;
    size_t nodes;
    struct arena *arena;
    struct yaml_error *error;
};

/* Children of a mapping or sequence under construction, grown by doubling; copied into the
 * arena at the exact size once complete, then freed. */
struct child_vec {
    char **keys;
    unsigned *lines;
    struct yaml_node **nodes;
    size_t n, cap;
};

_printf_(3, 4) static int set_error(struct builder *b, const yaml_mark_t *mark, const char *fmt, ...)
{
    va_list ap;

    if (b->error) {
        b->error->line = mark ? (unsigned)mark->line + 1 : 0;
        b->error->column = mark ? (unsigned)mark->column + 1 : 0;
        va_start(ap, fmt);
        vsnprintf(b->error->message, sizeof(b->error->message), fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

void yaml_node_free(struct yaml_node *n)
{
    struct yaml_tree *t = (struct yaml_tree *)n;

    if (!n)
        return;
    arena_done(&t->arena);
    free(t);
}

/* libyaml's reader (encoding) errors carry a byte offset, not a mark: count the lines. */
static yaml_mark_t reader_error_mark(const struct builder *b)
{
    yaml_mark_t mark = {0};
    size_t end = b->parser.problem_offset < b->len ? b->parser.problem_offset : b->len;

    for (size_t i = 0; i < end; i++)
        if (b->buf[i] == '\n') {
            mark.line++;
            mark.column = 0;
        } else
            mark.column++;
    return mark;
}

/* ---- Hints for YAML's traps ---------------------------------------------------------------
 *
 * libyaml's sentences name the grammar, not the mistake. Two mistakes make most of them in a
 * hand-written config: a tab in the indentation (YAML allows only spaces there), and a `#`
 * where a value starts, which YAML reads as a comment to the end of the line (`[#lobby:x]`
 * loses the rest of the list). The hint is appended to the parser's sentence. */

/* Line line (0-based) of the text: its start and length, false past the end. */
static bool text_line(const struct builder *b, size_t line, const char **ret, size_t *ret_len)
{
    const char *s = b->buf, *end = b->buf + b->len, *nl;

    for (size_t i = 0; i < line; i++) {
        nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            return false;
        s = nl + 1;
    }
    nl = memchr(s, '\n', (size_t)(end - s));
    *ret = s;
    *ret_len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    return true;
}

/* Where on this line a `#` begins a comment right where a value was due inside a flow list
 * or mapping: after `[`, `{`, `,`, or `: ` after a `{` (outside quotes). The offset of the
 * `#`, or -1. (`key: #x` in a block is valid YAML, a null: config/hints.c explains that.) */
static ssize_t comment_for_value(const char *s, size_t len)
{
    char quote = 0, last = 0; /* last: the last character before the blanks */
    bool brace = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (quote) {
            if (c == quote)
                quote = 0;
            continue;
        }
        if (c == '"' || c == '\'')
            quote = c;
        else if (c == '#' && (last == '[' || last == '{' || last == ',' ||
                              (last == ':' && brace && (s[i - 1] == ' ' || s[i - 1] == '\t'))))
            return (ssize_t)i;
        else if (c == '#' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
            return -1; /* an ordinary comment: the rest of the line is one */
        if (c != ' ' && c != '\t')
            last = c;
        brace |= c == '{';
    }
    return -1;
}

static void append_hint(struct builder *b, const char *hint)
{
    size_t n;

    if (!b->error)
        return;
    n = strlen(b->error->message);
    snprintf(b->error->message + n, sizeof(b->error->message) - n, "%s", hint);
}

static void hint_syntax_error(struct builder *b, const yaml_mark_t *mark)
{
    const char *s;
    size_t len, i = 0;
    char hint[200];

    if (text_line(b, mark->line, &s, &len)) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            if (s[i++] == '\t') {
                append_hint(b, ": tabs are not allowed for indentation (use spaces)");
                return;
            }
    }
    if (b->parser.problem && strstr(b->parser.problem, "tab")) {
        append_hint(b, ": tabs are not allowed for indentation (use spaces)");
        return;
    }
    /* A comment that swallowed a value ends a flow list or mapping early: the parser
     * complains later, often at the end of the file. Name the line that did it. */
    s = b->buf;
    for (size_t line = 0; line <= mark->line && s <= b->buf + b->len; line++) {
        const char *nl = memchr(s, '\n', (size_t)(b->buf + b->len - s));
        ssize_t at;
        size_t end;

        len = nl ? (size_t)(nl - s) : (size_t)(b->buf + b->len - s);
        at = comment_for_value(s, len);
        if (at < 0) {
            if (!nl)
                break;
            s = nl + 1;
            continue;
        }
        /* The value meant: up to where the flow would have gone on (the text is not
         * NUL-terminated: bounded by the line). */
        for (end = (size_t)at; end < len && !strchr(",]}", s[end]); end++)
            ;
        while (end > (size_t)at && (s[end - 1] == ' ' || s[end - 1] == '\r'))
            end--;
        snprintf(hint, sizeof(hint), ": on line %zu, quote it: # starts a YAML comment "
                 "(write \"%.*s\")", line + 1, (int)(end - (size_t)at > 60 ? 60 : end - (size_t)at),
                 s + at);
        append_hint(b, hint);
        return;
    }
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev)) {
        yaml_mark_t mark = b->parser.problem_mark;

        if (b->parser.error == YAML_READER_ERROR) {
            mark = reader_error_mark(b);
            return set_error(b, &mark, "not valid UTF-8 text (%s at byte %zu)",
                             b->parser.problem ? b->parser.problem : "bad byte",
                             b->parser.problem_offset);
        }
        set_error(b, &mark, "%s%s%s", b->parser.problem ? b->parser.problem : "syntax error",
                  b->parser.context ? " " : "", b->parser.context ? b->parser.context : "");
        hint_syntax_error(b, &mark);
        return -EBADMSG;
    }
    return 0;
}

static int node_new(struct builder *b, enum yaml_kind kind, const yaml_mark_t *mark,
                    struct yaml_node **ret)
{
    struct yaml_node *n;

    if (++b->nodes > YAML_TREE_MAX_NODES) {
        set_error(b, mark, "too many nodes (limit %u)", YAML_TREE_MAX_NODES);
        return -E2BIG;
    }
    n = arena_alloc(b->arena, sizeof(*n));
    if (!n)
        return -ENOMEM;
    *n = (struct yaml_node){.kind = kind,
                           .line = (unsigned)mark->line + 1,
                           .column = (unsigned)mark->column + 1};
    *ret = n;
    return 0;
}

static void child_vec_done(struct child_vec *v)
{
    free(v->keys);
    free(v->lines);
    free(v->nodes);
}

static int child_vec_push(struct child_vec *v, char *key, unsigned line, struct yaml_node *child)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        struct yaml_node **nodes = reallocarray(v->nodes, cap, sizeof(*nodes));
        if (!nodes)
            return -ENOMEM;
        v->nodes = nodes;
        char **keys = reallocarray(v->keys, cap, sizeof(*keys));
        if (!keys)
            return -ENOMEM;
        v->keys = keys;
        unsigned *lines = reallocarray(v->lines, cap, sizeof(*lines));
        if (!lines)
            return -ENOMEM;
        v->lines = lines;
        v->cap = cap;
    }
    v->keys[v->n] = key;
    v->lines[v->n] = line;
    v->nodes[v->n] = child;
    v->n++;
    return 0;
}

/* Move the collected children into the arena, at their exact size. */
static int child_vec_settle(struct builder *b, struct child_vec *v, struct yaml_node *parent)
{
    parent->children = arena_memdup(b->arena, v->nodes, v->n, sizeof(*v->nodes));
    if (!parent->children)
        return -ENOMEM;
    if (parent->kind == YAML_KIND_MAPPING) {
        parent->keys = arena_memdup(b->arena, v->keys, v->n, sizeof(*v->keys));
        parent->key_lines = arena_memdup(b->arena, v->lines, v->n, sizeof(*v->lines));
        if (!parent->keys || !parent->key_lines)
            return -ENOMEM;
    }
    parent->n_children = v->n;
    return 0;
}

static int build_node(struct builder *b, yaml_event_t *ev, unsigned depth, struct yaml_node **ret);

static int build_scalar(struct builder *b, yaml_event_t *ev, struct yaml_node **ret)
{
    struct yaml_node *n;
    size_t len = ev->data.scalar.length;
    int r;

    if (len > YAML_TREE_MAX_SCALAR) {
        set_error(b, &ev->start_mark, "scalar too long (%zu bytes, limit %u)", len,
                  YAML_TREE_MAX_SCALAR);
        return -E2BIG;
    }
    if (memchr(ev->data.scalar.value, '\0', len))
        return set_error(b, &ev->start_mark, "NUL character in a value");
    r = node_new(b, YAML_KIND_SCALAR, &ev->start_mark, &n);
    if (r < 0)
        return r;
    n->value = arena_strndup(b->arena, (const char *)ev->data.scalar.value, len);
    if (!n->value)
        return -ENOMEM;
    n->len = len;
    /* "!!str 5" is the string "5", as a quoted scalar would be (tag_allowed() let through
     * only the standard tags). */
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL;
    *ret = n;
    return 0;
}

/* Duplicate keys: YAML forbids them and libyaml does not check. Sorting the indexes costs
 * O(n log n) where pairwise comparison would let one hostile mapping of 100 000 keys cost
 * 10^10 comparisons. */
static int key_index_cmp(const void *a, const void *b, void *userdata)
{
    const struct child_vec *v = userdata;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(v->keys[x], v->keys[y]);

    return c ? c : (x < y ? -1 : x > y);
}

static int check_duplicate_keys(struct builder *b, const struct child_vec *v)
{
    _cleanup_free_ size_t *idx = NULL;

    if (v->n < 2)
        return 0;
    idx = calloc(v->n, sizeof(*idx));
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < v->n; i++)
        idx[i] = i;
    qsort_r(idx, v->n, sizeof(*idx), key_index_cmp, (void *)v);
    for (size_t i = 1; i < v->n; i++)
        if (streq(v->keys[idx[i - 1]], v->keys[idx[i]])) {
            yaml_mark_t mark = {.line = v->lines[idx[i]] - 1};
            return set_error(b, &mark, "duplicate key %s", TEXT_QUOTE(v->keys[idx[i]]));
        }
    return 0;
}

static int build_mapping(struct builder *b, yaml_event_t *start, unsigned depth,
                         struct yaml_node **ret)
{
    _cleanup_(child_vec_done) struct child_vec v = {0};
    struct yaml_node *map;
    int r = node_new(b, YAML_KIND_MAPPING, &start->start_mark, &map);

    if (r < 0)
        return r;
    for (;;) {
        yaml_event_t kev, vev;
        struct yaml_node *key = NULL, *value = NULL;

        r = next_event(b, &kev);
        if (r < 0)
            return r;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            r = set_error(b, &kev.start_mark, "mapping keys must be plain strings");
            yaml_event_delete(&kev);
            return r;
        }
        r = build_node(b, &kev, depth + 1, &key);
        yaml_event_delete(&kev);
        if (r < 0)
            return r;
        r = next_event(b, &vev);
        if (r < 0)
            return r;
        r = build_node(b, &vev, depth + 1, &value);
        yaml_event_delete(&vev);
        if (r < 0)
            return r;
        assert(key && value); /* build_node sets its result whenever it returns 0 */
        r = child_vec_push(&v, key->value, key->line, value);
        if (r < 0)
            return r;
    }
    r = check_duplicate_keys(b, &v);
    if (r < 0)
        return r;
    r = child_vec_settle(b, &v, map);
    if (r < 0)
        return r;
    *ret = map;
    return 0;
}

static int build_sequence(struct builder *b, yaml_event_t *start, unsigned depth,
                          struct yaml_node **ret)
{
    _cleanup_(child_vec_done) struct child_vec v = {0};
    struct yaml_node *seq;
    int r = node_new(b, YAML_KIND_SEQUENCE, &start->start_mark, &seq);

    if (r < 0)
        return r;
    for (;;) {
        yaml_event_t ev;
        struct yaml_node *item = NULL;

        r = next_event(b, &ev);
        if (r < 0)
            return r;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        r = build_node(b, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (r < 0)
            return r;
        r = child_vec_push(&v, NULL, 0, item);
        if (r < 0)
            return r;
    }
    r = child_vec_settle(b, &v, seq);
    if (r < 0)
        return r;
    *ret = seq;
    return 0;
}

/* Tags select types in YAML; the config's types come from its schema, so an explicit tag
 * could only contradict it. The standard string tag is harmless and allowed. */
static bool tag_allowed(const yaml_char_t *tag)
{
    return !tag || streq((const char *)tag, "tag:yaml.org,2002:str") ||
           streq((const char *)tag, "tag:yaml.org,2002:map") ||
           streq((const char *)tag, "tag:yaml.org,2002:seq");
}

static int build_node(struct builder *b, yaml_event_t *ev, unsigned depth, struct yaml_node **ret)
{
    if (depth > YAML_TREE_MAX_DEPTH) {
        set_error(b, &ev->start_mark, "nested too deeply (limit %u levels)", YAML_TREE_MAX_DEPTH);
        return -E2BIG;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return set_error(b, &ev->start_mark, "aliases are not allowed in the config (alias %s)",
                         TEXT_QUOTE((const char *)ev->data.alias.anchor));
    case YAML_SCALAR_EVENT:
        /* `command_prefix: !ig` is a tag "!ig" on an empty value: the person meant text. */
        if (!tag_allowed(ev->data.scalar.tag) && ev->data.scalar.tag[0] == '!')
            return set_error(b, &ev->start_mark,
                             "explicit tag %s is not allowed; quote it: ! starts a YAML tag "
                             "(write \"%s%s%.60s\")",
                             TEXT_QUOTE((const char *)ev->data.scalar.tag),
                             (const char *)ev->data.scalar.tag, ev->data.scalar.length ? " " : "",
                             (const char *)ev->data.scalar.value);
        if (!tag_allowed(ev->data.scalar.tag))
            return set_error(b, &ev->start_mark, "explicit tag %s is not allowed",
                             TEXT_QUOTE((const char *)ev->data.scalar.tag));
        return build_scalar(b, ev, ret);
    case YAML_MAPPING_START_EVENT:
        if (!tag_allowed(ev->data.mapping_start.tag))
            return set_error(b, &ev->start_mark, "explicit tag %s is not allowed",
                             TEXT_QUOTE((const char *)ev->data.mapping_start.tag));
        return build_mapping(b, ev, depth, ret);
    case YAML_SEQUENCE_START_EVENT:
        if (!tag_allowed(ev->data.sequence_start.tag))
            return set_error(b, &ev->start_mark, "explicit tag %s is not allowed",
                             TEXT_QUOTE((const char *)ev->data.sequence_start.tag));
        return build_sequence(b, ev, depth, ret);
    default:
        return set_error(b, &ev->start_mark, "unexpected YAML event");
    }
}

/* Expect an event of the given type, consuming it. */
static int expect(struct builder *b, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    int r = next_event(b, &ev);

    if (r < 0)
        return r;
    if (ev.type != type)
        r = set_error(b, &ev.start_mark, "%s", what);
    yaml_event_delete(&ev);
    return r;
}

static int parse_document(struct builder *b, struct yaml_node **ret)
{
    yaml_event_t ev;
    int r;

    r = expect(b, YAML_STREAM_START_EVENT, "not a YAML stream");
    if (r < 0)
        return r;
    r = next_event(b, &ev);
    if (r < 0)
        return r;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return set_error(b, NULL, "the file holds no YAML document");
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    r = next_event(b, &ev);
    if (r < 0)
        return r;
    r = build_node(b, &ev, 0, ret);
    yaml_event_delete(&ev);
    if (r < 0)
        return r;
    r = expect(b, YAML_DOCUMENT_END_EVENT, "unexpected content after the document");
    if (r >= 0)
        r = expect(b, YAML_STREAM_END_EVENT, "only one YAML document is allowed");
    return r;
}

int yaml_tree_parse(const char *buf, size_t len, struct yaml_node **ret, struct yaml_error *ret_error)
{
    _cleanup_free_ struct yaml_tree *t = NULL;
    struct builder b = {.error = ret_error, .buf = buf, .len = len};
    struct yaml_node *root = NULL;
    int r;

    if (len > YAML_TREE_MAX_BYTES) {
        if (ret_error)
            snprintf(ret_error->message, sizeof(ret_error->message),
                     "too large (%zu bytes, limit %u)", len, YAML_TREE_MAX_BYTES);
        return -E2BIG;
    }
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    b.arena = &t->arena;
    if (!yaml_parser_initialize(&b.parser))
        return -ENOMEM;
    /* Setting the encoding turns off libyaml's byte-order-mark detection; a BOM in a UTF-8
     * file is legal and editors write it, so skip it here. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
        b.buf = buf;
        b.len = len;
    }
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
    yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);
    r = parse_document(&b, &root);
    yaml_parser_delete(&b.parser);
    if (r >= 0 && !root)
        r = -EBADMSG; /* cannot happen: parse_document returns 0 only with a root */
    if (r < 0) {
        arena_done(&t->arena);
        return r;
    }
    /* The root was built in the arena like every node; its copy in the tree header is the
     * one callers get, so that yaml_node_free() can find the arena. */
    t->root = *root;
    *ret = &TAKE_PTR(t)->root;
    return 0;
}

struct yaml_node *yaml_map_get(const struct yaml_node *map, const char *key)
{
    if (!map || map->kind != YAML_KIND_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->n_children; i++)
        if (streq(map->keys[i], key))
            return map->children[i];
    return NULL;
}

unsigned yaml_map_key_line(const struct yaml_node *map, const char *key)
{
    if (!map || map->kind != YAML_KIND_MAPPING)
        return map ? map->line : 0;
    for (size_t i = 0; i < map->n_children; i++)
        if (streq(map->keys[i], key))
            return map->key_lines[i];
    return map->line;
}

bool yaml_scalar_is_null(const struct yaml_node *n)
{
    return n && n->kind == YAML_KIND_SCALAR && !n->quoted &&
           (n->len == 0 || streq(n->value, "~") || streq(n->value, "null") ||
            streq(n->value, "Null") || streq(n->value, "NULL"));
}

int yaml_scalar_bool(const struct yaml_node *n, bool *ret)
{
    if (!n || n->kind != YAML_KIND_SCALAR || n->quoted)
        return -EINVAL;
    if (streq(n->value, "true") || streq(n->value, "True") || streq(n->value, "TRUE")) {
        *ret = true;
        return 0;
    }
    if (streq(n->value, "false") || streq(n->value, "False") || streq(n->value, "FALSE")) {
        *ret = false;
        return 0;
    }
    return -EINVAL;
}

int yaml_scalar_int64(const struct yaml_node *n, long long *ret)
{
    const char *s;
    char *end;
    long long v;

    if (!n || n->kind != YAML_KIND_SCALAR || n->quoted || n->len == 0)
        return -EINVAL;
    s = n->value;
    if (*s == '-' || *s == '+')
        s++;
    /* Decimal only: a leading zero would mean octal to strtoll(base 0) and to libcyaml. */
    if (!*s || strspn(s, "0123456789") != strlen(s) || (s[0] == '0' && s[1]))
        return -EINVAL;
    errno = 0;
    v = strtoll(n->value, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    *ret = v;
    return 0;
}

int yaml_scalar_double(const struct yaml_node *n, double *ret)
{
    char *end;
    double v;

    if (!n || n->kind != YAML_KIND_SCALAR || n->quoted || n->len == 0)
        return -EINVAL;
    if (strspn(n->value, "0123456789+-.eE") != n->len)
        return -EINVAL;
    /* Digits alone are an integer or, with a leading zero, not a number at all ("0755"
     * stays a string rather than turning into 755 here and 493 elsewhere). */
    if (strspn(n->value, "0123456789+-") == n->len) {
        long long i;
        if (yaml_scalar_int64(n, &i) < 0)
            return -EINVAL;
        *ret = (double)i;
        return 0;
    }
    errno = 0;
    v = strtod(n->value, &end);
    if (*end || errno == ERANGE || !isfinite(v))
        return -EINVAL;
    *ret = v;
    return 0;
}
