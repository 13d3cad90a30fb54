/* Unit tests for store/seal.c: key derivation bounds, seal/open round trips, rejection of
 * other keys and altered blobs, and the key check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "store/seal.h"

static const char secret_a[] = "0123456789abcdef0123456789abcdef-secret-a";
static const char secret_b[] = "0123456789abcdef0123456789abcdef-secret-b";

static struct seal_key *key_from(const char *secret)
{
    struct seal_key *key = NULL;

    assert_int_equal(seal_key_new(secret, strlen(secret), &key), 0);
    assert_non_null(key);
    return key;
}

/* Sealed under sealer, plaintext must fail to open under opener with error, handing out
 * nothing. */
static void assert_open_refused(const struct seal_key *sealer, const struct seal_key *opener,
                                const char *plaintext, size_t len, int error)
{
    _cleanup_free_ uint8_t *sealed = NULL;
    char *plain = NULL;
    size_t sealed_len;

    assert_int_equal(seal_seal(sealer, plaintext, len, &sealed, &sealed_len), 0);
    assert_int_equal(seal_open(opener, sealed, sealed_len, &plain), error);
    assert_null(plain);
}

static void test_key_length_bounds(void **state)
{
    char big[SEAL_SECRET_MAX + 1];
    struct seal_key *key = NULL;

    (void)state;
    memset(big, 'k', sizeof(big));
    assert_int_equal(seal_key_new(big, SEAL_SECRET_MIN - 1, &key), -EINVAL);
    assert_int_equal(seal_key_new(big, 0, &key), -EINVAL);
    assert_int_equal(seal_key_new(big, SEAL_SECRET_MAX + 1, &key), -E2BIG);
    assert_null(key);
    assert_int_equal(seal_key_new(big, SEAL_SECRET_MIN, &key), 0);
    key = seal_key_free(key);
    assert_int_equal(seal_key_new(big, SEAL_SECRET_MAX, &key), 0);
    seal_key_free(key);
}

static void test_round_trip(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);
    _cleanup_(seal_key_freep) struct seal_key *same = key_from(secret_a);
    _cleanup_free_ uint8_t *sealed = NULL;
    _cleanup_plaintext_ char *plain = NULL, *again = NULL;
    const char token[] = "syt_Ym90_secretsecretsecret_0abc12";
    size_t len;

    (void)state;
    assert_int_equal(seal_seal(key, token, strlen(token), &sealed, &len), 0);
    assert_true(len > strlen(token));
    assert_null(memmem(sealed, len, token, strlen(token)));
    assert_int_equal(seal_open(key, sealed, len, &plain), 0);
    assert_string_equal(plain, token);
    /* The derivation is deterministic: a key made again from the same secret opens it. */
    assert_int_equal(seal_open(same, sealed, len, &again), 0);
    assert_string_equal(again, token);
}

static void test_empty_plaintext(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);
    _cleanup_free_ uint8_t *sealed = NULL;
    _cleanup_plaintext_ char *plain = NULL;
    size_t len;

    (void)state;
    assert_int_equal(seal_seal(key, "", 0, &sealed, &len), 0);
    assert_int_equal(seal_open(key, sealed, len, &plain), 0);
    assert_string_equal(plain, "");
}

static void test_nonce_is_fresh(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);
    _cleanup_free_ uint8_t *one = NULL, *two = NULL;
    size_t len1, len2;

    (void)state;
    assert_int_equal(seal_seal(key, "token", 5, &one, &len1), 0);
    assert_int_equal(seal_seal(key, "token", 5, &two, &len2), 0);
    assert_int_equal(len1, len2);
    assert_memory_not_equal(one, two, len1);
}

static void test_other_key_rejected(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *a = key_from(secret_a);
    _cleanup_(seal_key_freep) struct seal_key *b = key_from(secret_b);

    (void)state;
    assert_open_refused(a, b, "token", 5, -EKEYREJECTED);
}

static void test_altered_blob_rejected(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);
    _cleanup_free_ uint8_t *sealed = NULL;
    char *plain = NULL;
    size_t len;

    (void)state;
    assert_int_equal(seal_seal(key, "token-value", 11, &sealed, &len), 0);
    /* Flip one bit each in the nonce (24 bytes), the MAC (16) and the ciphertext. */
    const size_t at[] = {0, 30, len - 1};
    for (size_t i = 0; i < ELEMENTSOF(at); i++) {
        sealed[at[i]] ^= 0x01;
        assert_int_equal(seal_open(key, sealed, len, &plain), -EKEYREJECTED);
        sealed[at[i]] ^= 0x01;
    }
    assert_int_equal(seal_open(key, sealed, len, &plain), 0);
    plain = (seal_plaintext_free(plain), NULL);
    assert_int_equal(seal_open(key, sealed, len - 1, &plain), -EKEYREJECTED);
    assert_null(plain);
}

static void test_short_and_huge_blobs(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);
    _cleanup_free_ uint8_t *sealed = NULL;
    static uint8_t huge[SEAL_PLAINTEXT_MAX + 100];
    char *plain = NULL;
    size_t len;

    (void)state;
    assert_int_equal(seal_open(key, (const uint8_t *)"short", 5, &plain), -EBADMSG);
    assert_int_equal(seal_open(key, huge, sizeof(huge), &plain), -EBADMSG);
    assert_int_equal(seal_seal(key, huge, SEAL_PLAINTEXT_MAX + 1, &sealed, &len), -E2BIG);
    assert_null(sealed);
    assert_null(plain);
}

static void test_embedded_nul_refused(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *key = key_from(secret_a);

    (void)state;
    assert_open_refused(key, key, "ab\0cd", 5, -EBADMSG);
}

static void test_key_check(void **state)
{
    _cleanup_(seal_key_freep) struct seal_key *a = key_from(secret_a);
    _cleanup_(seal_key_freep) struct seal_key *a2 = key_from(secret_a);
    _cleanup_(seal_key_freep) struct seal_key *b = key_from(secret_b);
    uint8_t check_a[SEAL_KEY_CHECK_BYTES], check_b[SEAL_KEY_CHECK_BYTES];

    (void)state;
    seal_key_check(a, check_a);
    seal_key_check(b, check_b);
    assert_memory_not_equal(check_a, check_b, sizeof(check_a));
    assert_int_equal(seal_key_verify(a2, check_a, sizeof(check_a)), 0);
    assert_int_equal(seal_key_verify(b, check_a, sizeof(check_a)), -EKEYREJECTED);
    assert_int_equal(seal_key_verify(a, check_a, sizeof(check_a) - 1), -EKEYREJECTED);
    assert_int_equal(seal_key_verify(a, NULL, 0), -EKEYREJECTED);
}

/* Secrets longer than BLAKE2b's 64-byte key limit are compressed, not truncated: two secrets
 * that share their first 64 bytes must give different keys. */
static void test_long_secret_not_truncated(void **state)
{
    char one[100], two[100];
    _cleanup_(seal_key_freep) struct seal_key *a = NULL;
    _cleanup_(seal_key_freep) struct seal_key *b = NULL;
    uint8_t check_a[SEAL_KEY_CHECK_BYTES], check_b[SEAL_KEY_CHECK_BYTES];

    (void)state;
    memset(one, 'x', sizeof(one));
    memset(two, 'x', sizeof(two));
    two[sizeof(two) - 1] = 'y';
    assert_int_equal(seal_key_new(one, sizeof(one), &a), 0);
    assert_int_equal(seal_key_new(two, sizeof(two), &b), 0);
    seal_key_check(a, check_a);
    seal_key_check(b, check_b);
    assert_memory_not_equal(check_a, check_b, sizeof(check_a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_key_length_bounds),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_empty_plaintext),
            cmocka_unit_test(test_nonce_is_fresh),
            cmocka_unit_test(test_other_key_rejected),
            cmocka_unit_test(test_altered_blob_rejected),
            cmocka_unit_test(test_short_and_huge_blobs),
            cmocka_unit_test(test_embedded_nul_refused),
            cmocka_unit_test(test_key_check),
            cmocka_unit_test(test_long_secret_not_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
