/* Fleet-wide config rules. Each collects (key, instance) entries, sorts them, and reports
 * runs of equal keys; the first instance of a run (in file order) is the one others repeat. */
#include "config/fleet.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/macro.h"
#include "util/text.h"

struct entry {
    const char *key;
    const char *room; /* second key, for prefixes; NULL otherwise */
    size_t instance;
    const struct yaml_node *node;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->key, y->key);

    if (c == 0 && x->room && y->room)
        c = strcmp(x->room, y->room);
    if (c == 0)
        c = x->instance < y->instance ? -1 : x->instance > y->instance;
    return c;
}

static bool same_key(const struct entry *a, const struct entry *b)
{
    return streq(a->key, b->key) && (!a->room || streq(a->room, b->room));
}

static const struct yaml_node *string_at(const struct yaml_node *map, const char *key)
{
    const struct yaml_node *n = yaml_map_get(map, key);

    return n && n->kind == YAML_KIND_SCALAR && !yaml_scalar_is_null(n) ? n : NULL;
}

static void path_of(char *buf, size_t cap, size_t instance, const char *key)
{
    snprintf(buf, cap, "instances[%zu].%s", instance, key);
}

void fleet_check_unique(const struct yaml_node *list, const char *key, const char *what,
                        const char *hint, struct diag_list *d)
{
    _cleanup_free_ struct entry *e = calloc(list->n_children + 1, sizeof(*e));
    size_t n = 0;

    if (!e) {
        d->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n_children; i++) {
        const struct yaml_node *v = string_at(list->children[i], key);
        if (v)
            e[n++] = (struct entry){.key = v->value, .instance = i, .node = v};
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        char path[DIAG_PATH_MAX];
        if (!same_key(&e[first], &e[i])) {
            first = i;
            continue;
        }
        path_of(path, sizeof(path), e[i].instance, key);
        diag_error(d, e[i].node->line, path, "%s %s is not unique (also instances[%zu])%s", what,
                   TEXT_QUOTE(e[i].key), e[first].instance, hint);
    }
}

void fleet_check_prefixes(const struct yaml_node *list, struct diag_list *d)
{
    _cleanup_free_ struct entry *e = NULL;
    _cleanup_free_ bool *warned = calloc(list->n_children + 1, sizeof(bool));
    size_t n = 0, total = 0;

    for (size_t i = 0; i < list->n_children; i++) {
        const struct yaml_node *rooms = yaml_map_get(list->children[i], "room_subscriptions");
        if (string_at(list->children[i], "command_prefix") && rooms &&
            rooms->kind == YAML_KIND_SEQUENCE)
            total += rooms->n_children;
    }
    e = calloc(total + 1, sizeof(*e));
    if (!e || !warned) {
        d->oom = true;
        return;
    }
    for (size_t i = 0; i < list->n_children; i++) {
        const struct yaml_node *p = string_at(list->children[i], "command_prefix");
        const struct yaml_node *rooms = yaml_map_get(list->children[i], "room_subscriptions");
        if (!p || !rooms || rooms->kind != YAML_KIND_SEQUENCE)
            continue;
        for (size_t r = 0; r < rooms->n_children; r++)
            if (rooms->children[r]->kind == YAML_KIND_SCALAR)
                e[n++] = (struct entry){.key = p->value, .room = rooms->children[r]->value,
                                        .instance = i, .node = p};
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    for (size_t i = 1, first = 0; i < n; i++) {
        char path[DIAG_PATH_MAX];
        if (!same_key(&e[first], &e[i])) {
            first = i;
            continue;
        }
        /* The same instance listing a room twice is validate_rooms' warning, not this one. */
        if (e[i].instance == e[first].instance || warned[e[i].instance])
            continue;
        warned[e[i].instance] = true;
        path_of(path, sizeof(path), e[i].instance, "command_prefix");
        diag_warning(d, e[i].node->line, path,
                     "%s is also the command prefix of instances[%zu] in room %s: both bots "
                     "would answer", TEXT_QUOTE(e[i].key), e[first].instance, TEXT_QUOTE(e[i].room));
    }
}
