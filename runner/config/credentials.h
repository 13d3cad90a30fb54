/* Reading the secrets that `*_file` config keys name: a systemd credential name
 * ($CREDENTIALS_DIRECTORY/NAME) or an absolute path; bounded, checked, wiped when freed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util/macro.h"

/* secret_key_file: the key that seals access tokens at rest is derived from it. 32 bytes
 * is the key size of libsodium's secretbox and KDF: a shorter file cannot carry a
 * full-strength key. */
#define CREDENTIAL_SECRET_KEY_MIN 32
/* The largest credential any key may name (and the largest max_len a caller may pass).
 * Passwords, tokens and keys are far below it; the file is read whole into memory, so a
 * bigger file is a wrong path, not a secret. */
#define CREDENTIAL_MAX 4096
/* A credential name is a file name in $CREDENTIALS_DIRECTORY: at most NAME_MAX bytes. */
#define CREDENTIAL_NAME_MAX 255
/* Registration tokens (Matrix spec, m.login.registration_token): 1 to 64 characters of
 * [A-Za-z0-9._~-]. */
#define REGISTRATION_TOKEN_MAX 64

struct credential {
    char *data;    /* len bytes followed by a NUL; may itself hold NUL bytes (binary keys) */
    size_t len;    /* without the one trailing "\n" or "\r\n" the file may end with */
    bool too_open; /* others (or, outside $CREDENTIALS_DIRECTORY, the group) may read or
                    * write the file: the caller should warn, naming origin */
    char *origin;  /* the path it was read from, for messages; never the content */
};

/* [A-Za-z0-9._-]+, at most CREDENTIAL_NAME_MAX bytes, and neither "." nor "..". */
bool credential_name_is_valid(const char *name);

/* Read a credential. name_or_path without a '/' is a credential name, read from
 * $CREDENTIALS_DIRECTORY/NAME; with a '/' it must be an absolute path. Symlinks are
 * followed: secret managers (agenix, sops-nix) publish their files as symlinks, and what
 * matters is the file at the end, which must be a regular file.
 *
 * Errors: -EINVAL (not a valid name, a relative path, or content shorter than min_len),
 * -ENXIO (a name but no $CREDENTIALS_DIRECTORY), -ENAMETOOLONG, -EISDIR (a directory),
 * -EBADFD (another kind of file), -E2BIG (content longer than max_len), and what open(2)
 * or read(2) return (-ENOENT, -EACCES, ...). On failure, *reason (when reason is not NULL)
 * points to a static phrase saying what was wrong, or is NULL when strerror() says it;
 * the caller builds the message, naming name_or_path, never the content.
 * Requires min_len <= max_len <= CREDENTIAL_MAX. */
int credential_load(const char *name_or_path, size_t min_len, size_t max_len,
                    struct credential *ret, const char **reason);

/* credential_load() for callers that need only the bytes: free them with
 * credential_free(*ret, *ret_len). */
int credential_read(const char *name_or_path, size_t min_len, size_t max_len, char **ret,
                    size_t *ret_len);

/* Wipe (explicit_bzero) and free. NULL is fine. */
void credential_free(char *data, size_t len);
/* Wipe and free both members and reset *c to empty; for _cleanup_credential_. */
void credential_done(struct credential *c);
#define _cleanup_credential_ _cleanup_(credential_done)

/* 0 when tok[0..len) is a registration token the Matrix spec allows, else -EINVAL. */
int registration_token_validate(const char *tok, size_t len);
