/* Collects and prints config diagnostics; bounded in count and in the size of each item.
 * Printing escapes nothing: messages are built from validated or quoted-and-escaped text. */
#include "config/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diag_add(struct diag_list *l, enum diag_severity sev, unsigned line, const char *path,
              const char *fmt, ...)
{
    struct diag *d;
    va_list ap;
    char *msg = NULL;

    if (sev == DIAG_ERROR)
        l->n_errors++;
    else
        l->n_warnings++;
    if (l->n >= DIAG_MAX_ITEMS) {
        l->n_dropped++;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        d = reallocarray(l->items, cap, sizeof(*d));
        if (!d) {
            l->oom = true;
            return;
        }
        l->items = d;
        l->cap = cap;
    }
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    d = &l->items[l->n];
    *d = (struct diag){.severity = sev, .line = line, .path = strdup(path ? path : ""), .message = msg};
    if (!d->path || !d->message) {
        free(d->path);
        free(d->message);
        l->oom = true;
        return;
    }
    l->n++;
}

/* Problems are found rule by rule, shape first; they read best in file order. */
static int by_line(const void *a, const void *b)
{
    const struct diag *x = *(const struct diag *const *)a, *y = *(const struct diag *const *)b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x < y ? -1 : x > y; /* items live in one array: keep the order they were found */
}

void diag_print(const struct diag_list *l, FILE *f)
{
    _cleanup_free_ const struct diag **order = calloc(l->n ? l->n : 1, sizeof(*order));

    for (size_t i = 0; i < l->n; i++)
        if (order)
            order[i] = &l->items[i];
    if (order)
        qsort(order, l->n, sizeof(*order), by_line);
    for (size_t i = 0; i < l->n; i++) {
        const struct diag *d = order ? order[i] : &l->items[i];

        fprintf(f, "%s%s%s%s", d->path, *d->path ? ": " : "",
                d->severity == DIAG_WARNING ? "warning: " : "", d->message);
        if (d->line)
            fprintf(f, " (line %u)", d->line);
        fputc('\n', f);
    }
    if (l->n_dropped)
        fprintf(f, "... and %zu more problems not shown\n", l->n_dropped);
    if (l->oom)
        fprintf(f, "out of memory while collecting problems; the list is incomplete\n");
}

void diag_list_done(struct diag_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].message);
    }
    free(l->items);
    *l = (struct diag_list){0};
}

size_t diag_path_push_key(struct diag_path *p, const char *key)
{
    size_t saved = p->len;
    int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s%s", p->len ? "." : "", key);

    if (n > 0)
        p->len = strnlen(p->buf, sizeof(p->buf) - 1);
    return saved;
}

size_t diag_path_push_index(struct diag_path *p, size_t index)
{
    size_t saved = p->len;
    int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "[%zu]", index);

    if (n > 0)
        p->len = strnlen(p->buf, sizeof(p->buf) - 1);
    return saved;
}
