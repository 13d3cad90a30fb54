/* Token sealing with libsodium: BLAKE2b subkey derivation from the secret key, secretbox
 * seal/open, and the key check. Key material lives only in sodium_malloc'd memory. */
#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "store/seal.h"

/* One context string per use of the secret key, so the subkeys are independent: learning the
 * key check tells nothing about the sealing key. The "v1" is part of the derivation; a new
 * scheme gets a new string and the old one stays readable. */
#define SEAL_CONTEXT_SEAL  "botrunner token sealing v1"
#define SEAL_CONTEXT_CHECK "botrunner key check v1"
/* The constant the key check hashes. */
#define SEAL_CHECK_MESSAGE "botrunner: bot.db belongs to this secret key"

#define SEAL_OVERHEAD (crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)

struct seal_key {
    unsigned char seal[crypto_secretbox_KEYBYTES];
    unsigned char check[crypto_generichash_BYTES];
};

/* Keyed BLAKE2b over the context string is a PRF of the secret key, which is all a KDF
 * needs. crypto_kdf would do the same, but it wants a master key of exactly 32 bytes and an
 * 8-byte context, and our secret is an operator's file of any length >= 32. BLAKE2b takes
 * keys of up to 64 bytes; a longer secret is first compressed by unkeyed BLAKE2b-512, the
 * way HMAC shortens long keys. */
static void derive(const unsigned char *secret, size_t len, const char *context, unsigned char *out,
                   size_t out_len)
{
    unsigned char compressed[crypto_generichash_BYTES_MAX];

    if (len > crypto_generichash_KEYBYTES_MAX) {
        crypto_generichash(compressed, sizeof(compressed), secret, len, NULL, 0);
        secret = compressed;
        len = sizeof(compressed);
    }
    crypto_generichash(out, out_len, (const unsigned char *)context, strlen(context), secret, len);
    sodium_memzero(compressed, sizeof(compressed));
}

int seal_key_new(const void *secret, size_t len, struct seal_key **ret)
{
    struct seal_key *key;

    assert(secret || len == 0);
    assert(ret);

    if (len < SEAL_SECRET_MIN)
        return -EINVAL;
    if (len > SEAL_SECRET_MAX)
        return -E2BIG;
    /* Idempotent and thread-safe; 1 means "already initialised". */
    if (sodium_init() < 0)
        return -EIO;

    key = sodium_malloc(sizeof(*key));
    if (!key)
        return -ENOMEM;
    derive(secret, len, SEAL_CONTEXT_SEAL, key->seal, sizeof(key->seal));
    derive(secret, len, SEAL_CONTEXT_CHECK, key->check, sizeof(key->check));
    *ret = key;
    return 0;
}

struct seal_key *seal_key_free(struct seal_key *key)
{
    if (!key)
        return NULL;
    /* sodium_free() wipes too; saying it here keeps the promise visible. */
    sodium_memzero(key, sizeof(*key));
    sodium_free(key);
    return NULL;
}

int seal_seal(const struct seal_key *key, const void *plaintext, size_t len, uint8_t **ret,
              size_t *ret_len)
{
    uint8_t *out;

    assert(key);
    assert(plaintext || len == 0);
    assert(ret && ret_len);

    if (len > SEAL_PLAINTEXT_MAX)
        return -E2BIG;

    out = malloc(SEAL_OVERHEAD + len);
    if (!out)
        return -ENOMEM;
    /* 24 random bytes: XSalsa20's nonce is long enough that random nonces never collide. */
    randombytes_buf(out, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES, plaintext, len, out, key->seal);
    *ret = out;
    *ret_len = SEAL_OVERHEAD + len;
    return 0;
}

int seal_open(const struct seal_key *key, const uint8_t *sealed, size_t len, char **ret)
{
    size_t plain_len;
    char *out;

    assert(key);
    assert(sealed || len == 0);
    assert(ret);

    if (len < SEAL_OVERHEAD || len - SEAL_OVERHEAD > SEAL_PLAINTEXT_MAX)
        return -EBADMSG;
    plain_len = len - SEAL_OVERHEAD;

    out = malloc(plain_len + 1);
    if (!out)
        return -ENOMEM;
    if (crypto_secretbox_open_easy((unsigned char *)out, sealed + crypto_secretbox_NONCEBYTES,
                                   len - crypto_secretbox_NONCEBYTES, sealed, key->seal) != 0) {
        free(out);
        return -EKEYREJECTED;
    }
    out[plain_len] = '\0';
    /* Callers get a C string: an authentic blob with a NUL inside was not sealed by us. */
    if (memchr(out, '\0', plain_len)) {
        sodium_memzero(out, plain_len);
        free(out);
        return -EBADMSG;
    }
    *ret = out;
    return 0;
}

void seal_plaintext_free(char *p)
{
    if (!p)
        return;
    sodium_memzero(p, strlen(p));
    free(p);
}

void seal_key_check(const struct seal_key *key, uint8_t ret[SEAL_KEY_CHECK_BYTES])
{
    assert(key);
    crypto_generichash(ret, SEAL_KEY_CHECK_BYTES, (const unsigned char *)SEAL_CHECK_MESSAGE,
                       strlen(SEAL_CHECK_MESSAGE), key->check, sizeof(key->check));
}

int seal_key_verify(const struct seal_key *key, const void *value, size_t len)
{
    uint8_t expected[SEAL_KEY_CHECK_BYTES];
    int r;

    assert(key);
    if (!value || len != sizeof(expected))
        return -EKEYREJECTED;
    seal_key_check(key, expected);
    r = sodium_memcmp(expected, value, sizeof(expected)) == 0 ? 0 : -EKEYREJECTED;
    sodium_memzero(expected, sizeof(expected));
    return r;
}
