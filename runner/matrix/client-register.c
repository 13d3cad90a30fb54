/* Registration through User-Interactive Auth: pick a flow we can complete (registration
 * token, dummy), then post one stage after another until the server hands out a token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "matrix/client-internal.h"

/* Flows and stages a server offers are few (Synapse: one or two flows of two stages); the
 * bounds keep a hostile answer from making us walk or copy without end. */
#define MX_UIA_MAX_FLOWS  32
#define MX_UIA_MAX_STAGES 8

/* Each round completes one stage, so a flow of MX_UIA_MAX_STAGES needs that many rounds
 * plus the first, stage-less request; a server asking for more is going in circles. */
#define MX_UIA_MAX_ROUNDS (MX_UIA_MAX_STAGES + 1)

#define STAGE_TOKEN          "m.login.registration_token"
#define STAGE_TOKEN_UNSTABLE "org.matrix.msc3231.login.registration_token" /* Synapse < 1.61 */
#define STAGE_DUMMY          "m.login.dummy"

struct reg {
    struct mx_client *client;
    char *localpart, *password, *token; /* password and token wiped when freed */
    char *session;
    char *stages[MX_UIA_MAX_STAGES]; /* the chosen flow */
    size_t n_stages;
    const char *sent; /* the stage in the last request (one of stages[]), or NULL */
    unsigned rounds;
    mx_done_t done;
    void *userdata;
};

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

static void reg_free(void *userdata)
{
    struct reg *g = userdata;

    if (!g)
        return;
    free(g->localpart);
    wipe_free(g->password);
    wipe_free(g->token);
    free(g->session);
    for (size_t i = 0; i < g->n_stages; i++)
        free(g->stages[i]);
    free(g);
}

static void reg_freep(struct reg **g)
{
    reg_free(*g);
}

static bool is_token_stage(const char *s)
{
    return streq(s, STAGE_TOKEN) || streq(s, STAGE_TOKEN_UNSTABLE);
}

static void on_register(int r, const struct mx_result *res, void *userdata);

/* The same body every round, with the auth object of the stage to complete. */
static int reg_send(struct reg *g, const char *stage)
{
    struct mx_call_args a = {
            .method = "POST", .path = MX_CLIENT_V3 "/register?kind=user", .flags = MX_RETRY};
    _cleanup_free_ char *body = NULL;
    struct json_writer w;
    size_t len = 0;
    int r;

    json_writer_init(&w, MX_MAX_REQUEST_BODY);
    json_begin_object(&w);
    json_key(&w, "username");
    json_string(&w, g->localpart);
    json_key(&w, "password");
    json_string(&w, g->password);
    json_key(&w, "initial_device_display_name");
    json_string(&w, "botrunner");
    json_key(&w, "inhibit_login");
    json_bool(&w, false);
    if (stage) {
        json_key(&w, "auth");
        json_begin_object(&w);
        json_key(&w, "type");
        json_string(&w, stage);
        if (g->session) {
            json_key(&w, "session");
            json_string(&w, g->session);
        }
        if (is_token_stage(stage)) {
            json_key(&w, "token");
            json_string(&w, g->token);
        }
        json_end_object(&w);
    }
    json_end_object(&w);
    r = json_writer_steal(&w, &body, &len);
    if (r < 0)
        return r;
    a.body = body;
    a.body_len = len;
    r = mx_start(g->client, &a, on_register, g, reg_free);
    explicit_bzero(body, len);
    if (r >= 0) {
        g->sent = stage;
        g->rounds++;
    }
    return r;
}

static bool stage_supported(const struct reg *g, const struct json_doc *d, int tok)
{
    return json_string_equals(d, tok, NULL, STAGE_DUMMY) == 1 ||
           (g->token && (json_string_equals(d, tok, NULL, STAGE_TOKEN) == 1 ||
                         json_string_equals(d, tok, NULL, STAGE_TOKEN_UNSTABLE) == 1));
}

/* Copy the stages of the first flow made only of stages we can complete; -EOPNOTSUPP when
 * there is none. */
static int choose_flow(struct reg *g, const struct json_doc *d)
{
    int flows, flow, stages, st;
    unsigned n_flows = 0;

    if (json_get(d, 0, "flows", &flows) < 0)
        return -EOPNOTSUPP;
    for (int cur = 0; json_array_iter(d, flows, &cur, &flow) > 0 && n_flows < MX_UIA_MAX_FLOWS;
         n_flows++) {
        bool usable = true;
        int n;

        if (json_get(d, flow, "stages", &stages) < 0)
            continue;
        n = json_array_len(d, stages);
        if (n <= 0 || n > MX_UIA_MAX_STAGES)
            continue;
        for (int c2 = 0; usable && json_array_iter(d, stages, &c2, &st) > 0;)
            usable = stage_supported(g, d, st);
        if (!usable)
            continue;
        for (int c2 = 0; json_array_iter(d, stages, &c2, &st) > 0;) {
            int r = json_get_string(d, st, NULL, &g->stages[g->n_stages]);

            if (r < 0)
                return r;
            g->n_stages++;
        }
        return 0;
    }
    return -EOPNOTSUPP;
}

static bool stage_completed(const struct json_doc *d, const char *stage)
{
    int completed, st;

    if (json_get(d, 0, "completed", &completed) < 0)
        return false;
    for (int cur = 0; json_array_iter(d, completed, &cur, &st) > 0;)
        if (json_string_equals(d, st, NULL, stage) == 1)
            return true;
    return false;
}

/* The next stage of the chosen flow that the server has not marked completed. */
static const char *next_stage(const struct reg *g, const struct json_doc *d)
{
    for (size_t i = 0; i < g->n_stages; i++)
        if (!stage_completed(d, g->stages[i]))
            return g->stages[i];
    return NULL;
}

static void reg_finish(struct reg *g, int r, const struct mx_result *res)
{
    mx_done_t done = g->done;
    void *userdata = g->userdata;

    reg_free(g);
    done(r, res, userdata);
}

/* One round of 401: advance to the next stage, or give up with the reason. */
static int reg_advance(struct reg *g, const struct mx_result *res)
{
    const char *next;
    char *session = NULL;
    int r;

    /* The server names a refused stage (a wrong token: M_FORBIDDEN) with an errcode. */
    if (res->errcode)
        return -EACCES;
    if (g->n_stages == 0) {
        r = choose_flow(g, res->doc);
        if (r < 0)
            return r;
    }
    if (json_get_string(res->doc, 0, "session", &session) >= 0) {
        free(g->session);
        g->session = session;
    }
    next = next_stage(g, res->doc);
    /* Every stage done yet still 401, the stage just sent not taken, or too many rounds:
     * the server is not advancing, and asking again would loop. */
    if (!next || next == g->sent || g->rounds >= MX_UIA_MAX_ROUNDS)
        return -EPROTO;
    return reg_send(g, next);
}

static void on_register(int r, const struct mx_result *res, void *userdata)
{
    struct reg *g = userdata;

    if (r == -EACCES && res->status == 401 && res->doc) {
        r = reg_advance(g, res);
        if (r >= 0)
            return; /* the next round owns g */
    }
    reg_finish(g, r, res);
}

int mx_register(struct mx_client *c, const char *localpart, const char *password,
                const char *registration_token, mx_done_t done, void *userdata)
{
    _cleanup_(reg_freep) struct reg *g = NULL;
    int r;

    if (!c || !localpart || !*localpart || !password || !done)
        return -EINVAL;
    g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    g->client = c;
    g->done = done;
    g->userdata = userdata;
    g->localpart = strdup(localpart);
    g->password = strdup(password);
    if (registration_token)
        g->token = strdup(registration_token);
    if (!g->localpart || !g->password || (registration_token && !g->token))
        return -ENOMEM;
    r = reg_send(g, NULL);
    if (r < 0)
        return r;
    TAKE_PTR(g);
    return 0;
}
