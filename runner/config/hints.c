/* Hints for a value that `#` emptied: YAML reads `room: #lobby:example.org` as `room:`
 * followed by a comment, so the value is null and the error (or, for an optional key,
 * nothing at all) would not say why. The tree knows where each empty value sits; the text
 * says whether a `#` stands there. */
#include "config/hints.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "util/text.h"

/* The would-be value quoted in a hint: enough to recognise it. */
#define HINT_VALUE_MAX 80

struct hinter {
    const char *buf;
    size_t len;
    uint32_t *starts; /* byte offset of each line's start, line 1 at index 0 */
    size_t n_lines;
    struct diag_list *d;
    struct diag_path path;
    size_t n_hints;
};

/* One pass over the text: where each line starts (the file is at most 1 MiB, so offsets fit
 * 32 bits). -ENOMEM. */
static int index_lines(struct hinter *h)
{
    size_t n = 1, k = 0;

    for (size_t i = 0; i < h->len; i++)
        n += h->buf[i] == '\n';
    h->starts = calloc(n, sizeof(*h->starts));
    if (!h->starts)
        return -ENOMEM;
    h->starts[k++] = 0;
    for (size_t i = 0; i < h->len && k < n; i++)
        if (h->buf[i] == '\n')
            h->starts[k++] = (uint32_t)(i + 1);
    h->n_lines = k;
    return 0;
}

/* Line number line (1-based) of the text, without its newline: false past the end. */
static bool line_text(const struct hinter *h, unsigned line, const char **ret, size_t *ret_len)
{
    const char *s, *nl;

    if (line == 0 || line > h->n_lines)
        return false;
    s = h->buf + h->starts[line - 1];
    nl = memchr(s, '\n', h->len - h->starts[line - 1]);
    *ret = s;
    *ret_len = nl ? (size_t)(nl - s) : h->len - h->starts[line - 1];
    return true;
}

/* The byte offset of the column-th character (1-based) of s: libyaml counts characters,
 * and a key before the value may hold multi-byte ones. */
static size_t column_offset(const char *s, size_t len, unsigned column)
{
    size_t i = 0;

    for (unsigned c = 1; c < column && i < len; c++) {
        i++;
        while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* The error on this value's line and path, if one was reported: the hint goes there. */
static struct diag *error_at(struct diag_list *d, unsigned line, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->items[i].severity == DIAG_ERROR && d->items[i].line == line &&
            streq(d->items[i].path, path))
            return &d->items[i];
    return NULL;
}

static void hint(struct hinter *h, unsigned line, const char *value)
{
    struct diag *it = error_at(h->d, line, h->path.buf);
    char *longer = NULL;

    if (h->n_hints++ >= HINTS_MAX)
        return;
    if (!it) {
        diag_warning(h->d, line, h->path.buf,
                     "the value is empty: quote it: # starts a YAML comment (write %s if that "
                     "is the value)",
                     TEXT_QUOTE(value));
        return;
    }
    if (asprintf(&longer, "%s; quote it: # starts a YAML comment, so the value is empty (write %s)",
                 it->message, TEXT_QUOTE(value)) < 0) {
        h->d->oom = true;
        return;
    }
    free(it->message);
    it->message = longer;
}

/* n is a plain empty value: does a '#' stand where it would have started? */
static void check_value(struct hinter *h, const struct yaml_node *n)
{
    char value[HINT_VALUE_MAX + 1];
    const char *s;
    size_t len, i, end;

    if (n->kind != YAML_KIND_SCALAR || n->quoted || n->len != 0 || !yaml_scalar_is_null(n) ||
        !line_text(h, n->line, &s, &len))
        return;
    i = column_offset(s, len, n->column);
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= len || s[i] != '#')
        return;
    end = len;
    while (end > i && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r'))
        end--;
    if (end - i > HINT_VALUE_MAX)
        end = i + HINT_VALUE_MAX;
    memcpy(value, s + i, end - i);
    value[end - i] = '\0';
    hint(h, n->line, value);
}

static void walk(struct hinter *h, const struct yaml_node *n, unsigned depth)
{
    if (depth > YAML_TREE_MAX_DEPTH || h->n_hints >= HINTS_MAX)
        return;
    if (n->kind == YAML_KIND_SCALAR) {
        check_value(h, n);
        return;
    }
    for (size_t i = 0; i < n->n_children; i++) {
        size_t saved = n->kind == YAML_KIND_MAPPING ? diag_path_push_key(&h->path, n->keys[i])
                                                    : diag_path_push_index(&h->path, i);
        walk(h, n->children[i], depth + 1);
        diag_path_pop(&h->path, saved);
    }
}

void hints_comments(const char *buf, size_t len, const struct yaml_node *root,
                    struct diag_list *diags)
{
    struct hinter h = {.buf = buf, .len = len, .d = diags};

    /* Lines and columns were counted after a byte-order mark (yaml_tree skips it). */
    if (h.len >= 3 && memcmp(h.buf, "\xef\xbb\xbf", 3) == 0) {
        h.buf += 3;
        h.len -= 3;
    }
    if (index_lines(&h) < 0) {
        diags->oom = true;
        return;
    }
    walk(&h, root, 0);
    free(h.starts);
}
