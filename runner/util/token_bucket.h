/* Token buckets keyed by a string (a user id, a room id): the rate limiter behind
 * br_runner.rate_limit, with the instance's rate_limit settings. */
#pragma once

#include <stdint.h>

#include "util/macro.h"

/* Keys remembered at once; the least recently used is forgotten past it (its next request
 * starts from a full bucket). A bot talks with far fewer users than this, and the bound keeps
 * a flood of senders from growing memory. */
#define TOKEN_BUCKET_MAX_KEYS 1024u
/* A Matrix user or room id is at most 255 bytes. */
#define TOKEN_BUCKET_KEY_MAX 255u
/* The config allows 1..60 requests per minute; the limiter accepts up to this many, so that
 * its arithmetic (tokens in 1/60000ths, times milliseconds) cannot overflow. */
#define TOKEN_BUCKET_MAX_RATE 60000u
/* Likewise for the burst: far beyond any sensible bucket. */
#define TOKEN_BUCKET_MAX_BURST 100000u

struct token_bucket;

/* Buckets holding burst tokens when full, refilled at per_minute tokens a minute
 * (per_minute / 60 a second). -EINVAL for 0 or past the maxima above. */
int token_bucket_new(unsigned per_minute, unsigned burst, struct token_bucket **ret);
void token_bucket_free(struct token_bucket *tb);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct token_bucket *, token_bucket_free)

/* Take one token from key's bucket at time now_ms (any monotonic millisecond clock, the
 * caller's: tests drive it). Returns 0 when a token was there; -EAGAIN when not, with the
 * milliseconds until one will be in *ret_wait_ms (nothing is taken then); -EINVAL for an
 * empty key or one longer than TOKEN_BUCKET_KEY_MAX; -ENOMEM. A clock that goes backwards
 * refills nothing until it passes its highest reading again. */
int token_bucket_take(struct token_bucket *tb, const char *key, uint64_t now_ms,
                      uint64_t *ret_wait_ms);

/* Keys currently remembered (for tests and metrics). */
unsigned token_bucket_count(const struct token_bucket *tb);
