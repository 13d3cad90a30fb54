/* The bot's account: reuse the stored token (checked with whoami), else log in with the
 * password, else register with the registration token. Tokens and passwords are stored
 * sealed in bot.db and registered with the log's redaction before any request is made. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/seal.h"
#include "store/store.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

/* A password made for an account the runner registers: 32 random bytes, hex. */
#define GENERATED_PASSWORD_BYTES 32

static void use_token(struct worker *w, const char *token)
{
    (void)log_redact_add(token, strlen(token));
    mx_client_set_token(w->mx, token);
}

/* Fields of a /login or /register answer. */
static int read_session(const struct mx_result *res, char **ret_user, char **ret_device,
                        char **ret_token)
{
    _cleanup_free_ char *user = NULL, *device = NULL, *token = NULL;
    int r;

    if (!res->doc)
        return -EBADMSG;
    r = json_get_string(res->doc, res->root, "user_id", &user);
    if (r >= 0)
        r = json_get_string(res->doc, res->root, "device_id", &device);
    if (r >= 0)
        r = json_get_string(res->doc, res->root, "access_token", &token);
    if (r < 0)
        return -EBADMSG;
    *ret_user = TAKE_PTR(user);
    *ret_device = TAKE_PTR(device);
    *ret_token = TAKE_PTR(token);
    return 0;
}

static void session_established(struct worker *w, const struct mx_result *res, const char *how)
{
    _cleanup_free_ char *user = NULL, *device = NULL;
    _cleanup_free_ char *token = NULL;
    int r;

    r = read_session(res, &user, &device, &token);
    if (r < 0)
        return worker_fail(w, r, "The homeserver's login answer lacks user_id, device_id or "
                                 "access_token");
    (void)log_redact_add(token, strlen(token));
    if (!streq(user, w->user_id)) {
        log_error("The homeserver logged us in as %s, not %s", user, w->user_id);
        return worker_fail(w, -EPERM, "Wrong account");
    }
    r = store_account_put(w->store, w->inst->id, user, device, token);
    if (r < 0)
        return worker_fail(w, r, "Cannot store the account");
    free(w->device_id);
    w->device_id = TAKE_PTR(device);
    log_info("%s as %s (device %s)", how, w->user_id, w->device_id);
    w->relogin_in_flight = false;
    use_token(w, token);
    explicit_bzero(token, strlen(token));
    if (!w->account_ready)
        worker_account_ready(w);
}

static void on_login(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;

    if (r < 0) {
        log_error("Login as %s refused: %s %s", w->user_id, res && res->errcode ? res->errcode : "",
                  res && res->error ? res->error : "");
        return worker_fail(w, r, "Cannot log in");
    }
    session_established(w, res, "Logged in");
}

static int login(struct worker *w, bool keep_device)
{
    return mx_login_password(w->mx, w->localpart, w->password, keep_device ? w->device_id : NULL,
                             on_login, w);
}

static void on_register(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;

    /* The account exists: registered by an earlier run that crashed before storing its
     * token (the password was stored first), or by someone else (then login fails). */
    if (r < 0 && res && res->errcode && streq(res->errcode, "M_USER_IN_USE")) {
        log_info("%s exists already; logging in", w->user_id);
        r = login(w, false);
        if (r < 0)
            worker_fail(w, r, "Cannot log in");
        return;
    }
    if (r < 0) {
        log_error("Registration of %s refused: %s %s", w->user_id,
                  res && res->errcode ? res->errcode : "", res && res->error ? res->error : "");
        return worker_fail(w, r, "Cannot register");
    }
    session_established(w, res, "Registered");
}

/* Make, store (sealed) and then use a password: stored first, so that a crash between the
 * registration and storing its token still leaves a way to log in. */
static int generate_password(struct worker *w)
{
    unsigned char raw[GENERATED_PASSWORD_BYTES];
    char *hex = malloc(GENERATED_PASSWORD_BYTES * 2 + 1);
    int r;

    if (!hex)
        return -ENOMEM;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, GENERATED_PASSWORD_BYTES * 2 + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    r = store_account_password_put(w->store, w->inst->id, w->user_id, hex);
    if (r < 0) {
        sodium_memzero(hex, strlen(hex));
        free(hex);
        return r;
    }
    w->password = hex;
    w->password_len = strlen(hex);
    (void)log_redact_add(hex, w->password_len);
    return 0;
}

static int register_account(struct worker *w)
{
    int r;

    if (!w->password) {
        r = generate_password(w);
        if (r < 0)
            return log_error_errno(r, "Cannot store a password for %s: %m", w->user_id);
    }
    log_info("Registering %s with the registration token", w->user_id);
    return mx_register(w->mx, w->localpart, w->password, w->registration_token, on_register, w);
}

static void on_whoami(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;
    _cleanup_free_ char *user = NULL;

    if (r < 0)
        return worker_fail(w, r, "whoami failed");
    if (res->doc && json_get_string(res->doc, res->root, "user_id", &user) >= 0 &&
        !streq(user, w->user_id)) {
        log_error("The stored token belongs to %s, not %s", user, w->user_id);
        return worker_fail(w, -EPERM, "Wrong account");
    }
    log_info("Resumed as %s (device %s)", w->user_id, w->device_id ? w->device_id : "?");
    worker_account_ready(w);
}

/* The password known for the account: the password_file's, else one stored at
 * registration. */
static int load_stored_password(struct worker *w)
{
    char *pw = NULL;
    int r;

    if (w->password)
        return 0;
    r = store_account_password_get(w->store, w->inst->id, &pw);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    w->password = pw;
    w->password_len = strlen(pw);
    (void)log_redact_add(pw, w->password_len);
    return 0;
}

int account_start(struct worker *w)
{
    _cleanup_free_ char *user = NULL, *device = NULL;
    _cleanup_plaintext_ char *token = NULL;
    int r;

    r = load_stored_password(w);
    if (r < 0)
        return log_error_errno(r, "Cannot read the stored password: %m");
    r = store_account_get(w->store, w->inst->id, &user, &device, &token);
    if (r < 0 && r != -ENOENT)
        return log_error_errno(r, "Cannot read the stored account: %m");
    if (r >= 0 && token && streq(user, w->user_id)) {
        w->device_id = TAKE_PTR(device);
        use_token(w, token);
        return mx_whoami(w->mx, on_whoami, w);
    }
    if (w->password)
        return login(w, false);
    if (w->registration_token)
        return register_account(w);
    return log_error_errno(-ENOKEY, "No way to authenticate %s: no password_file and no "
                                    "registration_token_file", w->user_id);
}

void account_on_unknown_token(struct mx_client *c, bool soft_logout, void *userdata)
{
    struct worker *w = userdata;
    int r;

    (void)c;
    if (w->relogin_in_flight)
        return;
    log_warning("The homeserver no longer accepts our access token (%s logout); logging in "
                "again%s", soft_logout ? "soft" : "hard",
                soft_logout ? " on the same device" : " on a new device");
    if (!w->password)
        return worker_fail(w, -ENOKEY, "The token was revoked and no password is known");
    w->relogin_in_flight = true;
    r = login(w, soft_logout);
    if (r < 0)
        worker_fail(w, r, "Cannot log in again");
}

static void on_displayname(int r, const struct mx_result *res, void *userdata)
{
    (void)userdata;
    if (r < 0)
        log_warning("Cannot set the display name: %s", res && res->errcode ? res->errcode
                                                                            : strerror(-r));
}

void worker_account_ready(struct worker *w)
{
    int r;

    w->account_ready = true;
    worker_set_state(w, "configured", NULL);
    if (w->inst->displayname) {
        r = mx_set_displayname(w->mx, w->user_id, w->inst->displayname, on_displayname, w);
        if (r < 0)
            log_warning_errno(r, "Cannot set the display name: %m");
    }
    api_fetch_media_config(w);
    rooms_join_all(w);
    outbox_kick(w); /* sends queued by the plugin's start, or left by the last run */
    r = syncer_start(w);
    if (r < 0)
        worker_fail(w, r, "Cannot start syncing");
}
