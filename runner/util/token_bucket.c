/* Keyed token buckets in fixed memory: a pool of TOKEN_BUCKET_MAX_KEYS entries, a chained
 * hash index over them and a recency list that picks the entry to reuse when all are taken.
 * Tokens are counted in integer units (1/60000 of a token) so that a rate given per minute
 * refills an exact whole number of units per millisecond. */
#include "util/token_bucket.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* per_minute tokens every 60000 ms: per_minute units per millisecond. */
#define UNITS_PER_TOKEN 60000u
/* Twice the keys, a power of two: chains stay short and the index is a mask. */
#define INDEX_SIZE (2u * TOKEN_BUCKET_MAX_KEYS)
#define NONE       (-1)

struct entry {
    char *key; /* NULL while the entry is free */
    uint32_t hash;
    uint64_t units;   /* tokens * UNITS_PER_TOKEN */
    uint64_t last_ms; /* the highest clock reading seen */
    int chain;        /* next entry in the same index slot */
    int newer, older; /* recency list */
};

struct token_bucket {
    uint64_t rate;     /* units per millisecond */
    uint64_t capacity; /* units in a full bucket */
    struct entry entries[TOKEN_BUCKET_MAX_KEYS];
    int index[INDEX_SIZE];
    unsigned used;
    int newest, oldest;
};

/* FNV-1a. Hostile keys can collide on purpose; a chain is still at most
 * TOKEN_BUCKET_MAX_KEYS long, so the worst case stays bounded. */
static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

int token_bucket_new(unsigned per_minute, unsigned burst, struct token_bucket **ret)
{
    struct token_bucket *tb;

    if (per_minute == 0 || per_minute > TOKEN_BUCKET_MAX_RATE || burst == 0 ||
        burst > TOKEN_BUCKET_MAX_BURST)
        return -EINVAL;
    tb = calloc(1, sizeof(*tb));
    if (!tb)
        return -ENOMEM;
    tb->rate = per_minute;
    tb->capacity = (uint64_t)burst * UNITS_PER_TOKEN;
    for (unsigned i = 0; i < INDEX_SIZE; i++)
        tb->index[i] = NONE;
    tb->newest = tb->oldest = NONE;
    *ret = tb;
    return 0;
}

void token_bucket_free(struct token_bucket *tb)
{
    if (!tb)
        return;
    for (unsigned i = 0; i < TOKEN_BUCKET_MAX_KEYS; i++)
        free(tb->entries[i].key);
    free(tb);
}

unsigned token_bucket_count(const struct token_bucket *tb)
{
    return tb->used;
}

static void recency_unlink(struct token_bucket *tb, int i)
{
    struct entry *e = &tb->entries[i];

    if (e->newer != NONE)
        tb->entries[e->newer].older = e->older;
    else
        tb->newest = e->older;
    if (e->older != NONE)
        tb->entries[e->older].newer = e->newer;
    else
        tb->oldest = e->newer;
}

static void recency_push(struct token_bucket *tb, int i)
{
    struct entry *e = &tb->entries[i];

    e->newer = NONE;
    e->older = tb->newest;
    if (tb->newest != NONE)
        tb->entries[tb->newest].newer = i;
    tb->newest = i;
    if (tb->oldest == NONE)
        tb->oldest = i;
}

static void index_unlink(struct token_bucket *tb, int i)
{
    int *link = &tb->index[tb->entries[i].hash & (INDEX_SIZE - 1)];

    while (*link != i)
        link = &tb->entries[*link].chain;
    *link = tb->entries[i].chain;
}

static int lookup(const struct token_bucket *tb, const char *key, uint32_t hash)
{
    for (int i = tb->index[hash & (INDEX_SIZE - 1)]; i != NONE; i = tb->entries[i].chain)
        if (tb->entries[i].hash == hash && strcmp(tb->entries[i].key, key) == 0)
            return i;
    return NONE;
}

/* A fresh entry for key with a full bucket: a free one, else the least recently used. */
static int insert(struct token_bucket *tb, const char *key, uint32_t hash, uint64_t now_ms)
{
    char *copy = strdup(key);
    int i;

    if (!copy)
        return -ENOMEM;
    if (tb->used < TOKEN_BUCKET_MAX_KEYS)
        i = (int)tb->used++;
    else {
        i = tb->oldest;
        index_unlink(tb, i);
        recency_unlink(tb, i);
        free(tb->entries[i].key);
    }
    tb->entries[i] = (struct entry){
            .key = copy,
            .hash = hash,
            .units = tb->capacity,
            .last_ms = now_ms,
            .chain = tb->index[hash & (INDEX_SIZE - 1)],
    };
    tb->index[hash & (INDEX_SIZE - 1)] = i;
    recency_push(tb, i);
    return i;
}

static void refill(const struct token_bucket *tb, struct entry *e, uint64_t now_ms)
{
    uint64_t elapsed, deficit;

    if (now_ms <= e->last_ms)
        return;
    elapsed = now_ms - e->last_ms;
    e->last_ms = now_ms;
    deficit = tb->capacity - e->units;
    /* Compare before multiplying: elapsed may be any size, the product must not wrap. */
    if (elapsed >= (deficit + tb->rate - 1) / tb->rate)
        e->units = tb->capacity;
    else
        e->units += elapsed * tb->rate;
}

int token_bucket_take(struct token_bucket *tb, const char *key, uint64_t now_ms,
                      uint64_t *ret_wait_ms)
{
    size_t len = key ? strnlen(key, TOKEN_BUCKET_KEY_MAX + 1) : 0;
    uint32_t hash;
    struct entry *e;
    int i;

    if (len == 0 || len > TOKEN_BUCKET_KEY_MAX)
        return -EINVAL;
    hash = hash_key(key);
    i = lookup(tb, key, hash);
    if (i == NONE) {
        i = insert(tb, key, hash, now_ms);
        if (i < 0)
            return i;
    } else {
        recency_unlink(tb, i);
        recency_push(tb, i);
    }

    e = &tb->entries[i];
    refill(tb, e, now_ms);
    if (e->units >= UNITS_PER_TOKEN) {
        e->units -= UNITS_PER_TOKEN;
        return 0;
    }
    if (ret_wait_ms)
        *ret_wait_ms = (UNITS_PER_TOKEN - e->units + tb->rate - 1) / tb->rate;
    return -EAGAIN;
}
