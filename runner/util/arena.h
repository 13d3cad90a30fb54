/* A bump allocator: many small allocations freed together. Used for parse trees, where
 * per-node malloc headers and fragmentation would cost more than the nodes themselves. */
#pragma once

#include <stddef.h>

/* Chunk size: large enough that malloc's own overhead is negligible, small enough that a
 * tiny document does not reserve much. */
#define ARENA_CHUNK_SIZE (64u * 1024u)

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    size_t total; /* bytes obtained from malloc so far */
};

/* size bytes aligned for pointers (not for long double), or NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t size);
/* Copy of n bytes of s plus a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Copy of an array of n elements of size each (n may be 0: returns a valid pointer). */
void *arena_memdup(struct arena *a, const void *p, size_t n, size_t size);
void arena_done(struct arena *a);
