/* Diagnostics: the list of every problem found in one config run, each with the key path
 * (instances[0].user), the line where the parser knows it, and a sentence. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/macro.h"

/* A broken file can produce an error per key; past this many the rest are only counted,
 * so a hostile 1 MiB config cannot make us print (or allocate) without bound. */
#define DIAG_MAX_ITEMS 5000u
#define DIAG_PATH_MAX  256u

enum diag_severity {
    DIAG_ERROR,
    DIAG_WARNING,
};

struct diag {
    enum diag_severity severity;
    unsigned line; /* 0 when unknown */
    char *path;    /* "" for the file as a whole */
    char *message;
};

struct diag_list {
    struct diag *items;
    size_t n, cap;
    size_t n_errors, n_warnings, n_dropped;
    bool oom;
};

void diag_add(struct diag_list *l, enum diag_severity sev, unsigned line, const char *path,
              const char *fmt, ...) _printf_(5, 6);
#define diag_error(l, line, path, ...)   diag_add((l), DIAG_ERROR, (line), (path), __VA_ARGS__)
#define diag_warning(l, line, path, ...) diag_add((l), DIAG_WARNING, (line), (path), __VA_ARGS__)

/* One line per item: "PATH: message (line N)", warnings as "PATH: warning: message". */
void diag_print(const struct diag_list *l, FILE *f);
void diag_list_done(struct diag_list *l);

/* A key path under construction: push ".key" or "[i]", pop back to a saved length. */
struct diag_path {
    char buf[DIAG_PATH_MAX];
    size_t len;
};
size_t diag_path_push_key(struct diag_path *p, const char *key);
size_t diag_path_push_index(struct diag_path *p, size_t index);
static inline void diag_path_pop(struct diag_path *p, size_t saved)
{
    p->len = saved;
    p->buf[saved] = '\0';
}
