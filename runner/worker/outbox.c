/* Outgoing events: each gets a transaction id and a row in bot.db before any request, is
 * sent in order (paced by the instance's send_rate), and its row is
 * removed only when the homeserver acknowledged it, so a crash or a retry reuses the same
 * transaction id and the homeserver never shows the message twice. Sends a plugin queues
 * while handling a sync batch are staged in memory and get their rows in the batch's one
 * short transaction, with the events' handled marks: no bot.db lock is held while plugin
 * code runs, and a crash before the commit loses nothing the network saw. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/json.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/token_bucket.h"
#include "worker/worker.h"

/* "br" and 32 hex digits of randomness: unique per device without coordination. */
#define TXN_RANDOM_BYTES 16

struct outbox_item {
    struct outbox_item *next;
    struct worker *worker;
    char *txn_id;
    char *room_id;
    char *type;
    char *content;
    br_sent_t sent;
    void *userdata;
    bool in_flight;
    bool staged; /* queued during a batch: its row is written when the batch commits */
};

static void item_free(struct outbox_item *it)
{
    free(it->txn_id);
    free(it->room_id);
    free(it->type);
    free(it->content);
    free(it);
}

static struct outbox_item *item_new(struct worker *w, const char *txn_id, const char *room_id,
                                    const char *type, const char *content)
{
    struct outbox_item *it = calloc(1, sizeof(*it));

    if (!it)
        return NULL;
    it->worker = w;
    it->txn_id = strdup(txn_id);
    it->room_id = strdup(room_id);
    it->type = strdup(type);
    it->content = strdup(content);
    if (!it->txn_id || !it->room_id || !it->type || !it->content) {
        item_free(it);
        return NULL;
    }
    return it;
}

static void append(struct worker *w, struct outbox_item *it)
{
    if (w->outbox_tail)
        w->outbox_tail->next = it;
    else
        w->outbox_head = it;
    w->outbox_tail = it;
    w->outbox_len++;
}

static void unlink_item(struct worker *w, struct outbox_item *it)
{
    struct outbox_item **p = &w->outbox_head, *prev = NULL;

    while (*p && *p != it) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = it->next;
    if (w->outbox_tail == it)
        w->outbox_tail = prev;
    if (w->outbox_mark == it)
        w->outbox_mark = prev;
    w->outbox_len--;
}

static int load_one(const struct store_outbox_entry *e, void *userdata)
{
    struct worker *w = userdata;
    struct outbox_item *it = item_new(w, e->txn_id, e->room_id, e->event_type, e->content_json);

    if (!it)
        return -ENOMEM;
    append(w, it);
    return 0;
}

int outbox_load(struct worker *w)
{
    int r = store_outbox_list(w->store, w->inst->id, load_one, w);

    if (r >= 0 && w->outbox_len)
        log_info("%zu send%s left by the last run will be retried with their transaction ids",
                 w->outbox_len, w->outbox_len == 1 ? "" : "s");
    return r;
}

int outbox_queue(struct worker *w, const char *room_id, const char *type,
                 const char *content_json, br_sent_t sent, void *userdata)
{
    unsigned char raw[TXN_RANDOM_BYTES];
    char txn[2 + TXN_RANDOM_BYTES * 2 + 1] = "br";
    struct outbox_item *it;
    int r;

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(txn + 2, sizeof(txn) - 2, raw, sizeof(raw));
    it = item_new(w, txn, room_id, type, content_json);
    if (!it)
        return -ENOMEM;
    /* Outside a batch, the row is written now; inside one, at the batch's commit. */
    it->staged = dispatch_in_progress(w);
    if (!it->staged) {
        r = store_outbox_add(w->store, w->inst->id, txn, room_id, type, content_json,
                             worker_now_ms() / 1000);
        if (r < 0) {
            item_free(it);
            return r;
        }
    }
    it->sent = sent;
    it->userdata = userdata;
    append(w, it);
    if (!dispatch_in_progress(w))
        outbox_kick(w);
    return 0;
}

void outbox_mark(struct worker *w)
{
    w->outbox_mark = w->outbox_tail;
}

int outbox_commit_staged(struct worker *w)
{
    int64_t now = worker_now_ms() / 1000;

    for (struct outbox_item *it = w->outbox_head; it; it = it->next) {
        int r;
        if (!it->staged)
            continue;
        r = store_outbox_add(w->store, w->inst->id, it->txn_id, it->room_id, it->type,
                             it->content, now);
        if (r < 0)
            return r;
    }
    return 0;
}

void outbox_staged_written(struct worker *w)
{
    for (struct outbox_item *it = w->outbox_head; it; it = it->next)
        it->staged = false;
}

void outbox_drop_marked(struct worker *w)
{
    struct outbox_item *keep = w->outbox_mark, *it = keep ? keep->next : w->outbox_head;

    while (it) {
        struct outbox_item *next = it->next;
        if (it->sent)
            it->sent(it->userdata, -ECANCELED, NULL);
        item_free(it);
        w->outbox_len--;
        it = next;
    }
    if (keep)
        keep->next = NULL;
    else
        w->outbox_head = NULL;
    w->outbox_tail = keep;
}

static void finish(struct worker *w, struct outbox_item *it, int r, const char *event_id)
{
    int q = store_outbox_remove(w->store, it->txn_id);

    if (q < 0 && q != -ENOENT)
        log_warning_errno(q, "Cannot forget a sent event in bot.db: %m");
    unlink_item(w, it);
    if (it->sent)
        it->sent(it->userdata, r, event_id);
    item_free(it);
}

/* What a plugin hears of a refusal (plugin.h, br_sent_t): the two a plugin can act on by
 * errno, the client's mapping for the rest. */
static int refusal_errno(int r, const struct mx_result *res)
{
    if (res && res->errcode && streq(res->errcode, "M_TOO_LARGE"))
        return -EFBIG;
    if (res && res->errcode && streq(res->errcode, "M_FORBIDDEN"))
        return -EPERM;
    return r;
}

static void on_sent(int r, const struct mx_result *res, void *userdata)
{
    struct outbox_item *it = userdata;
    struct worker *w = it->worker;
    _cleanup_free_ char *event_id = NULL;

    w->sends_in_flight--;
    it->in_flight = false;
    if (r >= 0 && streq(it->type, "m.room.message"))
        w->counters.replies++;
    if (r >= 0 && res->doc)
        (void)json_get_string(res->doc, res->root, "event_id", &event_id);
    else if (r < 0) {
        /* Transient failures were retried by the client; this one cannot succeed. */
        log_room(LOG_ERR, it->room_id, NULL, "The homeserver refused an event (%s): %s %s",
                 it->type, res && res->errcode ? res->errcode : strerror(-r),
                 res && res->error ? res->error : "");
        r = refusal_errno(r, res);
    }
    finish(w, it, r, event_id);
    outbox_kick(w);
}

/* A redaction is queued as an m.room.redaction with {"redacts", "reason"} and goes out
 * through its own endpoint, with its stored transaction id like every other send. */
static int send_item(struct worker *w, struct outbox_item *it)
{
    _cleanup_(json_doc_freep) struct json_doc *doc = NULL;
    _cleanup_free_ char *redacts = NULL, *reason = NULL;
    int r;

    if (!streq(it->type, OUTBOX_REDACTION))
        return mx_send(w->mx, it->room_id, it->type, it->txn_id, it->content, on_sent, it);
    r = json_parse(it->content, strlen(it->content), 64, &doc);
    if (r >= 0)
        r = json_get_string(doc, 0, "redacts", &redacts);
    if (r < 0)
        return r;
    (void)json_get_string(doc, 0, "reason", &reason);
    return mx_redact(w->mx, it->room_id, redacts, it->txn_id, reason, on_sent, it);
}

static int on_send_wait(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker *w = userdata;

    (void)s;
    (void)usec;
    w->send_wait = sd_event_source_disable_unref(w->send_wait);
    outbox_kick(w);
    return 0;
}

/* Outbound pacing by the instance's send_rate, whatever its rate_limiting feature says: that
 * feature and rate_limit are the plugin's, for its external calls, not for its replies. */
static bool paced(struct worker *w)
{
    uint64_t wait_ms = 0;

    if (token_bucket_take(w->send_bucket, "send", (uint64_t)worker_now_ms(), &wait_ms) >= 0)
        return false;
    if (!w->send_wait &&
        sd_event_add_time_relative(w->event, &w->send_wait, CLOCK_MONOTONIC, wait_ms * 1000, 0,
                                   on_send_wait, w) < 0)
        log_warning("Cannot schedule a paced send");
    return true;
}

void outbox_kick(struct worker *w)
{
    struct outbox_item *it = w->outbox_head;
    int r;

    /* After a fatal error nothing more goes out: what is queued may have been rolled back. */
    if (!w->mx || !w->account_ready || dispatch_in_progress(w) || w->send_wait || w->exit_code)
        return;
    while (it && w->sends_in_flight < WORKER_SENDS_IN_FLIGHT) {
        if (it->in_flight) {
            it = it->next;
            continue;
        }
        if (paced(w))
            return;
        (void)store_outbox_attempted(w->store, it->txn_id);
        r = send_item(w, it);
        if (r == -EINVAL || r == -EBADMSG || r == -E2BIG || r == -ENOENT) {
            /* It can never go out (its stored content is not what can be sent): drop it, so
             * that it does not hold back everything queued after it. */
            log_room(LOG_ERR, it->room_id, NULL, "Cannot send an event (%s): %s; dropped",
                     it->type, strerror(-r));
            finish(w, it, r, NULL);
            it = w->outbox_head;
            continue;
        }
        if (r < 0) { /* -EBUSY, -ENOMEM: the next kick tries again */
            log_room(LOG_WARNING, it->room_id, NULL, "Cannot send an event yet: %s", strerror(-r));
            return;
        }
        it->in_flight = true;
        w->sends_in_flight++;
        it = it->next;
    }
}

void outbox_free(struct worker *w)
{
    while (w->outbox_head) {
        struct outbox_item *it = w->outbox_head;
        unlink_item(w, it);
        item_free(it);
    }
    w->send_wait = sd_event_source_disable_unref(w->send_wait);
}
