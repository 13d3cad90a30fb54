/* Sealing secrets at rest (libsodium): subkeys derived from the operator's secret key, the
 * seal/open of access tokens, and the key check that tells a wrong secret key at start-up. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* The secret key must carry at least 256 bits: the subkeys derived from it are 256-bit
 * secretbox and BLAKE2b keys, and a shorter secret would be their weakest link. */
#define SEAL_SECRET_MIN 32
/* A secret key file is a few dozen bytes; anything past 4 KiB is a wrong file, not a key. */
#define SEAL_SECRET_MAX 4096
/* Plaintexts are tokens, well under this; the bound keeps a hostile sealed blob (read back
 * from a database someone edited) from making us allocate without limit. */
#define SEAL_PLAINTEXT_MAX 65536
/* Size of the value that proves the key (a BLAKE2b-256 output). */
#define SEAL_KEY_CHECK_BYTES 32

/* The subkeys derived from one secret key, kept in sodium_malloc'd (guarded, locked) memory
 * and wiped on free. The raw secret key is not retained. */
struct seal_key;

/* Derive the subkeys. -EINVAL when len < SEAL_SECRET_MIN, -E2BIG when len > SEAL_SECRET_MAX,
 * -ENOMEM, -EIO when libsodium cannot initialise. */
int seal_key_new(const void *secret, size_t len, struct seal_key **ret);
struct seal_key *seal_key_free(struct seal_key *key);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct seal_key *, seal_key_free)

/* Encrypt and authenticate len bytes (<= SEAL_PLAINTEXT_MAX, else -E2BIG) under the sealing
 * subkey: the result is nonce || MAC || ciphertext, malloc'd, *ret_len bytes. A fresh
 * random nonce each time, so sealing the same token twice gives different blobs. */
int seal_seal(const struct seal_key *key, const void *plaintext, size_t len, uint8_t **ret,
              size_t *ret_len);

/* Verify and decrypt a sealed blob into a NUL-terminated string (free it with
 * seal_plaintext_free()). -EBADMSG when the blob is too short or too long to be one of ours
 * or its plaintext holds a NUL byte, -EKEYREJECTED when authentication fails (sealed under
 * another key, or altered). */
int seal_open(const struct seal_key *key, const uint8_t *sealed, size_t len, char **ret);

/* Wipe and free a plaintext returned by seal_open() (or any string holding a secret). */
void seal_plaintext_free(char *p);
static inline void seal_plaintext_freep(char **p)
{
    seal_plaintext_free(*p);
}
#define _cleanup_plaintext_ _cleanup_(seal_plaintext_freep)

/* The value stored beside sealed data that proves which key sealed it: a keyed BLAKE2b hash
 * of a constant under a subkey of its own, so it reveals nothing about the sealing subkey. */
void seal_key_check(const struct seal_key *key, uint8_t ret[SEAL_KEY_CHECK_BYTES]);
/* 0 when value is the key check of key (constant-time compare), -EKEYREJECTED otherwise. */
int seal_key_verify(const struct seal_key *key, const void *value, size_t len);
