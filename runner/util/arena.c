/* The bump allocator of arena.h: a list of malloc'd chunks, the newest first; an
 * allocation larger than a chunk gets a chunk of its own. */
#include "util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

/* Pointer alignment is enough for what arenas hold (nodes, strings, pointer arrays), and
 * spends half as much on padding as max_align_t's 16 bytes would. */
#define ARENA_ALIGN alignof(void *)

static size_t align_up(size_t n)
{
    size_t a = ARENA_ALIGN;

    return (n + a - 1) & ~(a - 1);
}

void *arena_alloc(struct arena *a, size_t size)
{
    struct arena_chunk *c = a->head;
    void *p;

    if (size > SIZE_MAX / 2)
        return NULL;
    size = align_up(size ? size : 1);
    if (!c || c->cap - c->used < size) {
        size_t cap = size > ARENA_CHUNK_SIZE ? size : ARENA_CHUNK_SIZE;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->used = 0;
        c->cap = cap;
        /* A big private chunk goes behind the current one, so the current one keeps
         * serving small allocations. */
        if (a->head && size > ARENA_CHUNK_SIZE) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
        a->total += sizeof(*c) + cap;
    }
    p = c->data + c->used;
    c->used += size;
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void *arena_memdup(struct arena *a, const void *p, size_t n, size_t size)
{
    void *q;

    if (size && n > SIZE_MAX / 4 / size)
        return NULL;
    q = arena_alloc(a, n * size);
    if (q && n)
        memcpy(q, p, n * size);
    return q;
}

void arena_done(struct arena *a)
{
    while (a->head) {
        struct arena_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
    a->total = 0;
}
