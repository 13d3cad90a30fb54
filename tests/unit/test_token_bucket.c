/* Tests for util/token_bucket.c: burst, refill rate, waits, independent keys, eviction of
 * the least recently used key, and a clock that jumps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/token_bucket.h"

static struct token_bucket *bucket(unsigned per_minute, unsigned burst)
{
    struct token_bucket *tb = NULL;

    assert_int_equal(token_bucket_new(per_minute, burst, &tb), 0);
    return tb;
}

/* take at now must be refused with exactly wait ms to wait. */
static void assert_wait(struct token_bucket *tb, const char *key, uint64_t now, uint64_t wait)
{
    uint64_t got = 0;

    assert_int_equal(token_bucket_take(tb, key, now, &got), -EAGAIN);
    assert_int_equal(got, wait);
}

static void test_burst_then_rate(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(10, 3);
    const uint64_t t0 = 1000000;
    (void)state;

    /* A full bucket: three at once, then one every 6 s (10 a minute). */
    for (int i = 0; i < 3; i++)
        assert_int_equal(token_bucket_take(tb, "@a:x", t0, NULL), 0);
    assert_wait(tb, "@a:x", t0, 6000);
    assert_wait(tb, "@a:x", t0 + 5999, 1);
    assert_int_equal(token_bucket_take(tb, "@a:x", t0 + 6000, NULL), 0);
    assert_wait(tb, "@a:x", t0 + 6000, 6000);
    /* A refusal takes nothing: waiting the time it said is enough. */
    assert_int_equal(token_bucket_take(tb, "@a:x", t0 + 12000, NULL), 0);
}

static void test_refill_caps_at_burst(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(60, 2);
    (void)state;

    assert_int_equal(token_bucket_take(tb, "k", 0, NULL), 0);
    assert_int_equal(token_bucket_take(tb, "k", 0, NULL), 0);
    /* An hour idle refills two tokens, not 3600. */
    assert_int_equal(token_bucket_take(tb, "k", 3600000, NULL), 0);
    assert_int_equal(token_bucket_take(tb, "k", 3600000, NULL), 0);
    assert_wait(tb, "k", 3600000, 1000);
    /* A clock read far in the future must not overflow the refill. */
    assert_int_equal(token_bucket_take(tb, "k", UINT64_MAX - 1, NULL), 0);
    assert_int_equal(token_bucket_take(tb, "k", UINT64_MAX - 1, NULL), 0);
    assert_wait(tb, "k", UINT64_MAX - 1, 1000);
}

static void test_fractional_rate(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(7, 1);
    (void)state;

    /* 7 a minute: 60000 / 7 = 8571.43 ms a token, so the wait rounds up to 8572. */
    assert_int_equal(token_bucket_take(tb, "k", 0, NULL), 0);
    assert_wait(tb, "k", 0, 8572);
    assert_wait(tb, "k", 8571, 1);
    assert_int_equal(token_bucket_take(tb, "k", 8572, NULL), 0);
}

static void test_keys_are_independent(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(1, 1);
    (void)state;

    assert_int_equal(token_bucket_take(tb, "@a:x", 0, NULL), 0);
    assert_wait(tb, "@a:x", 0, 60000);
    assert_int_equal(token_bucket_take(tb, "@b:x", 0, NULL), 0);
    assert_wait(tb, "@b:x", 0, 60000);
    assert_int_equal(token_bucket_count(tb), 2);
}

static void test_lru_eviction(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(1, 1);
    char key[32];
    (void)state;

    /* Fill every slot with an empty bucket, "k0" first. */
    for (unsigned i = 0; i < TOKEN_BUCKET_MAX_KEYS; i++) {
        snprintf(key, sizeof(key), "k%u", i);
        assert_int_equal(token_bucket_take(tb, key, 0, NULL), 0);
    }
    assert_int_equal(token_bucket_count(tb), TOKEN_BUCKET_MAX_KEYS);
    /* Touch k0 (refused, but used): k1 is now the least recently used. */
    assert_wait(tb, "k0", 1, 59999);

    assert_int_equal(token_bucket_take(tb, "new", 2, NULL), 0);
    assert_int_equal(token_bucket_count(tb), TOKEN_BUCKET_MAX_KEYS);
    /* k1 was forgotten: it starts again from a full bucket. k0 and k2 are remembered. */
    assert_int_equal(token_bucket_take(tb, "k1", 3, NULL), 0);
    assert_wait(tb, "k0", 4, 59996);
    /* k2 went out when k1 came back in (and k3 when k2 did); k4 is still there. */
    assert_int_equal(token_bucket_take(tb, "k2", 5, NULL), 0);
    assert_wait(tb, "k4", 6, 59994);
}

static void test_clock_backwards(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(60, 1);
    (void)state;

    assert_int_equal(token_bucket_take(tb, "k", 10000, NULL), 0);
    /* Going back refills nothing, and the wait still counts from the highest reading. */
    assert_wait(tb, "k", 5000, 1000);
    assert_wait(tb, "k", 10500, 500);
    assert_int_equal(token_bucket_take(tb, "k", 11000, NULL), 0);
}

static void test_arguments(void **state)
{
    _cleanup_(token_bucket_freep) struct token_bucket *tb = bucket(60, 3);
    struct token_bucket *none = NULL;
    char key[TOKEN_BUCKET_KEY_MAX + 2];
    (void)state;

    assert_int_equal(token_bucket_new(0, 3, &none), -EINVAL);
    assert_int_equal(token_bucket_new(10, 0, &none), -EINVAL);
    assert_int_equal(token_bucket_new(TOKEN_BUCKET_MAX_RATE + 1, 3, &none), -EINVAL);
    assert_int_equal(token_bucket_new(10, TOKEN_BUCKET_MAX_BURST + 1, &none), -EINVAL);
    assert_null(none);

    assert_int_equal(token_bucket_take(tb, "", 0, NULL), -EINVAL);
    assert_int_equal(token_bucket_take(tb, NULL, 0, NULL), -EINVAL);
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(token_bucket_take(tb, key, 0, NULL), -EINVAL);
    key[TOKEN_BUCKET_KEY_MAX] = '\0';
    assert_int_equal(token_bucket_take(tb, key, 0, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_burst_then_rate), cmocka_unit_test(test_refill_caps_at_burst),
            cmocka_unit_test(test_fractional_rate), cmocka_unit_test(test_keys_are_independent),
            cmocka_unit_test(test_lru_eviction),    cmocka_unit_test(test_clock_backwards),
            cmocka_unit_test(test_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
