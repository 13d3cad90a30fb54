/* The sync loop: one long-poll /sync at a time; each batch is handled (invites, gaps filled
 * from /messages, every timeline event dispatched once) and only then is its next_batch
 * saved, so a crash anywhere replays the batch and the dedup marks skip what was handled. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

/* The filter uploaded at every start (so a changed filter takes effect, and a homeserver
 * that lost it is no matter): no presence, no ephemeral events, no account data, no room
 * state; the timeline carries every event type, since plugins receive reactions, redactions
 * and state changes through event(). Invites arrive in invite_state, which room filters do
 * not touch. */
#define SYNC_FILTER                                                                              \
    "{\"presence\":{\"not_types\":[\"*\"]},\"account_data\":{\"not_types\":[\"*\"]},"          \
    "\"room\":{\"ephemeral\":{\"not_types\":[\"*\"]},\"account_data\":{\"not_types\":[\"*\"]},"  \
    "\"state\":{\"not_types\":[\"*\"]},\"timeline\":{\"limit\":50}}}"

/* After a sync error that retrying inside the client does not cover (a 4xx), wait this long
 * before the next attempt, so a persistent refusal cannot spin. */
#define SYNC_ERROR_DELAY_MS 5000u

/* The events found behind a limited timeline's gap, oldest first once complete. */
struct gap {
    struct mx_event *events;
    size_t n;
};

struct sync_job {
    struct mx_sync_batch *batch;
    struct gap *gaps;   /* parallel to batch->joined */
    size_t room;        /* the room whose gap is being filled */
    unsigned pages;
    char *from;         /* pagination token of the next /messages page */
    bool stop_room;     /* the gap reached handled or too old events */
};

static void sync_next(struct worker *w);

static void job_free(struct sync_job *j)
{
    if (!j)
        return;
    if (j->gaps && j->batch)
        for (size_t i = 0; i < j->batch->n_joined; i++) {
            for (size_t k = 0; k < j->gaps[i].n; k++)
                mx_event_done(&j->gaps[i].events[k]);
            free(j->gaps[i].events);
        }
    free(j->gaps);
    mx_sync_batch_free(j->batch);
    free(j->from);
    free(j);
}

void syncer_free(struct worker *w)
{
    job_free(w->job);
    w->job = NULL;
    w->sync_retry = sd_event_source_disable_unref(w->sync_retry);
}

static int64_t cutoff_ms(const struct worker *w)
{
    return worker_now_ms() - w->inst->catch_up_max_age * 1000;
}

/* Handled-event marks only matter while an event can still come back within the catch-up
 * window; a day of margin covers a clock that jumps. Pruned at start and once an hour. */
#define PRUNE_MARGIN_S   86400
#define PRUNE_INTERVAL_S 3600

static void prune_marks(struct worker *w)
{
    int64_t now = worker_now_ms() / 1000;
    int r;

    if (now - w->last_prune < PRUNE_INTERVAL_S)
        return;
    w->last_prune = now;
    r = store_event_prune(w->store, now - w->inst->catch_up_max_age - PRUNE_MARGIN_S);
    if (r < 0)
        log_warning_errno(r, "Cannot prune old handled-event marks: %m");
}

/* The position was saved with the batch's marks (dispatch_batch_commit): a crash before
 * that commit replays the batch, and the marks make that harmless. */
static void batch_done(struct worker *w)
{
    struct sync_job *j = w->job;

    free(w->next_batch);
    w->next_batch = TAKE_PTR(j->batch->next_batch);
    prune_marks(w);
    (void)store_instance_touch_sync(w->store, w->inst->id, worker_now_ms() / 1000);
    link_sync(w, worker_now_ms() / 1000);
    if (!w->first_sync_done) {
        w->first_sync_done = true;
        worker_set_state(w, "running", NULL);
        log_info("Synced; handling messages in %zu subscribed room%s", w->n_rooms,
                 w->n_rooms == 1 ? "" : "s");
    }
    job_free(w->job);
    w->job = NULL;
    sync_next(w);
}

static int dispatch_room(struct worker *w, size_t i, int64_t cutoff, size_t *skipped)
{
    const struct mx_room_timeline *t = &w->job->batch->joined[i];
    const struct gap *g = &w->job->gaps[i];
    int r;

    for (size_t k = 0; k < g->n; k++) {
        r = dispatch_event(w, t->room_id, &g->events[k], cutoff, skipped);
        if (r < 0)
            return r;
    }
    for (size_t k = 0; k < t->n_events; k++) {
        r = dispatch_event(w, t->room_id, &t->events[k], cutoff, skipped);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The plugin sees the batch's events one by one, no bot.db transaction open; then one short
 * transaction writes the marks, the staged replies and the sync position together, at one
 * commit for the batch. A crash before the commit replays the batch, which is as safe. */
static void dispatch_batch(struct worker *w)
{
    struct mx_sync_batch *b = w->job->batch;
    int64_t cutoff = cutoff_ms(w);
    size_t skipped = 0;
    int r = 0;

    dispatch_batch_begin(w);
    for (size_t i = 0; r >= 0 && i < b->n_joined; i++)
        r = dispatch_room(w, i, cutoff, &skipped);
    if (r >= 0)
        r = dispatch_batch_commit(w, b->next_batch);
    else
        dispatch_batch_abort(w); /* nothing of it is kept: the batch replays */
    if (r < 0)
        return worker_fail(w, r, "Cannot record handled events in bot.db");
    w->counters.skipped_old += (int64_t)skipped;
    if (skipped)
        log_info("Skipped %zu event%s older than catch_up_max_age (%lld s)", skipped,
                 skipped == 1 ? "" : "s", (long long)w->inst->catch_up_max_age);
    outbox_kick(w);
    batch_done(w);
}

/* Each event the parser refused, with its id, room and sender and why, then a count of the
 * rest: a message the homeserver accepted never vanishes without a line saying so. room is
 * the room of a /messages page, whose drops do not name it. */
static void log_refused(struct worker *w, const struct mx_drop *drops, size_t n, size_t total,
                        const char *room)
{
    w->counters.refused += (int64_t)total;
    for (size_t i = 0; i < n; i++) {
        const struct mx_drop *d = &drops[i];
        const char *in = d->room_id[0] ? d->room_id : room;
        log_room(LOG_WARNING, in, d->event_id[0] ? d->event_id : NULL,
                 "Refused event %s from %s: %s", d->event_id[0] ? d->event_id : "(no valid id)",
                 d->sender[0] ? d->sender : "(no valid sender)", d->reason);
    }
    if (total > n)
        log_warning("Refused %zu more event%s of the same response", total - n,
                    total - n == 1 ? "" : "s");
}

static void fill_next_gap(struct worker *w);

/* Keep a page's events that belong to the gap: stop at the first one already handled or
 * older than the catch-up window (pages come newest first). */
static int take_page(struct worker *w, struct mx_messages_page *p, int64_t cutoff)
{
    struct sync_job *j = w->job;
    struct gap *g = &j->gaps[j->room];
    struct mx_event *grown;

    grown = reallocarray(g->events, g->n + p->n_events + 1, sizeof(*g->events));
    if (!grown)
        return -ENOMEM;
    g->events = grown;
    for (size_t k = 0; k < p->n_events; k++) {
        struct mx_event *ev = &p->events[k];
        if ((ev->origin_server_ts && ev->origin_server_ts < cutoff) ||
            store_event_is_handled(w->store, w->inst->id, ev->event_id) != 0) {
            j->stop_room = true;
            break;
        }
        g->events[g->n++] = *ev;
        *ev = (struct mx_event){0}; /* moved */
    }
    free(j->from);
    j->from = p->end ? strdup(p->end) : NULL;
    if (!j->from)
        j->stop_room = true;
    return 0;
}

/* The gap's events came newest first; dispatch wants them in the order they happened. */
static void reverse(struct gap *g)
{
    for (size_t a = 0, b = g->n; a + 1 < b; a++, b--) {
        struct mx_event t = g->events[a];
        g->events[a] = g->events[b - 1];
        g->events[b - 1] = t;
    }
}

static void on_gap_page(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;
    struct sync_job *j = w->job;
    struct mx_messages_page *p = NULL;

    if (r >= 0)
        r = mx_messages_parse_doc(res->doc, &p);
    if (r < 0) {
        /* A gap that cannot be filled is logged and left: the rest of the batch still runs. */
        log_room(LOG_WARNING, j->batch->joined[j->room].room_id, NULL,
                 "Cannot fetch the messages missed in a gap: %s",
                 res && res->errcode ? res->errcode : strerror(-r));
        j->stop_room = true;
    } else {
        log_refused(w, p->drops, p->n_drops, p->n_dropped, j->batch->joined[j->room].room_id);
        r = take_page(w, p, cutoff_ms(w));
        mx_messages_page_free(p);
        if (r < 0)
            return worker_fail(w, r, "Out of memory filling a gap");
    }
    j->pages++;
    if (j->stop_room || j->pages >= WORKER_GAP_PAGES) {
        reverse(&j->gaps[j->room]);
        j->room++;
        j->pages = 0;
        j->stop_room = false;
        free(j->from);
        j->from = NULL;
    }
    fill_next_gap(w);
}

/* Limited timelines mean the server left events out; fetch them backwards from prev_batch
 * (bounded in pages) so nothing sent while we were away is lost. */
static void fill_next_gap(struct worker *w)
{
    struct sync_job *j = w->job;
    struct mx_sync_batch *b = j->batch;
    int r;

    while (j->room < b->n_joined) {
        const struct mx_room_timeline *t = &b->joined[j->room];
        if (t->limited && t->prev_batch && rooms_find(w, t->room_id)) {
            if (!j->from && j->pages == 0)
                j->from = strdup(t->prev_batch);
            if (j->from) {
                r = mx_messages(w->mx, t->room_id, j->from, WORKER_GAP_PAGE_EVENTS, on_gap_page,
                                w);
                if (r >= 0)
                    return;
                log_room(LOG_WARNING, t->room_id, NULL, "Cannot fetch a gap: %s", strerror(-r));
            }
        }
        j->room++;
        j->pages = 0;
        free(j->from);
        j->from = NULL;
    }
    dispatch_batch(w);
}

static void handle_memberships(struct worker *w, const struct mx_sync_batch *b)
{
    for (size_t i = 0; i < b->n_invites; i++)
        rooms_handle_invite(w, &b->invites[i]);
    for (size_t i = 0; i < b->n_left; i++)
        rooms_handle_left(w, b->left[i]);
    for (size_t i = 0; i < b->n_joined; i++)
        rooms_handle_joined(w, b->joined[i].room_id);
}

static void handle_batch(struct worker *w, struct mx_sync_batch *b)
{
    bool initial = !w->next_batch;

    w->job = calloc(1, sizeof(*w->job));
    if (w->job)
        w->job->gaps = calloc(b->n_joined + 1, sizeof(*w->job->gaps));
    if (!w->job || !w->job->gaps) {
        mx_sync_batch_free(b);
        return worker_fail(w, -ENOMEM, "Out of memory handling a sync");
    }
    w->job->batch = b;
    log_refused(w, b->drops, b->n_drops, b->n_dropped, NULL);
    handle_memberships(w, b);
    /* The first sync of an account is its history, not news: the bot was not down, it did
     * not exist yet. Only the position is taken. */
    if (initial) {
        int r;
        log_info("Initial sync: %zu joined room%s; earlier messages are not handled",
                 b->n_joined, b->n_joined == 1 ? "" : "s");
        dispatch_batch_begin(w);
        r = dispatch_batch_commit(w, b->next_batch);
        if (r < 0)
            return worker_fail(w, r, "Cannot save the sync position");
        return batch_done(w);
    }
    fill_next_gap(w);
}

static int on_sync_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct worker *w = userdata;

    (void)s;
    (void)usec;
    w->sync_retry = sd_event_source_disable_unref(w->sync_retry);
    sync_next(w);
    return 0;
}

static void sync_later(struct worker *w)
{
    int r = sd_event_add_time_relative(w->event, &w->sync_retry, CLOCK_MONOTONIC,
                                       SYNC_ERROR_DELAY_MS * 1000, 0, on_sync_retry, w);

    if (r < 0)
        worker_fail(w, r, "Cannot schedule the next sync");
}

static void on_sync(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;
    struct mx_sync_batch *b = NULL;

    w->syncing = false;
    if (r >= 0) {
        r = mx_sync_parse_doc(res->doc, &b);
        if (r < 0)
            log_warning_errno(r, "Cannot parse a sync response: %m");
    } else if (res && res->errcode && streq(res->errcode, "M_UNKNOWN_POS")) {
        /* The server forgot our position: start over (the dedup marks keep this safe). */
        log_warning("The homeserver does not know our sync position; starting afresh");
        free(w->next_batch);
        w->next_batch = NULL;
    } else
        log_warning("Sync failed: %s %s", res && res->errcode ? res->errcode : strerror(-r),
                    res && res->error ? res->error : "");
    if (r < 0)
        return sync_later(w);
    handle_batch(w, b);
}

static void sync_next(struct worker *w)
{
    int r;

    if (w->stopping || w->syncing || w->job)
        return;
    /* The initial sync returns at once; later ones wait for news. */
    r = mx_sync(w->mx, w->next_batch, w->filter_id, w->next_batch ? WORKER_SYNC_TIMEOUT_MS : 0,
                on_sync, w);
    if (r < 0) {
        log_warning_errno(r, "Cannot start a sync: %m");
        return sync_later(w);
    }
    w->syncing = true;
    w->syncs++;
}

static void on_filter(int r, const struct mx_result *res, void *userdata)
{
    struct worker *w = userdata;
    _cleanup_free_ char *id = NULL;

    if (r < 0 || !res->doc || json_get_string(res->doc, res->root, "filter_id", &id) < 0) {
        log_warning("Cannot upload the sync filter (%s); syncing with %s",
                    res && res->errcode ? res->errcode : strerror(r < 0 ? -r : EBADMSG),
                    w->filter_id ? "the last one" : "none");
        return sync_next(w);
    }
    free(w->filter_id);
    w->filter_id = TAKE_PTR(id);
    r = store_sync_position_set(w->store, w->inst->id, w->next_batch, w->filter_id);
    if (r < 0)
        log_warning_errno(r, "Cannot store the filter id: %m");
    sync_next(w);
}

int syncer_start(struct worker *w)
{
    int r;

    r = store_sync_position_get(w->store, w->inst->id, &w->next_batch, &w->filter_id);
    if (r < 0 && r != -ENOENT)
        return log_error_errno(r, "Cannot read the sync position: %m");
    if (w->next_batch)
        log_info("Resuming sync; messages newer than %lld s missed while down are handled",
                 (long long)w->inst->catch_up_max_age);
    return mx_upload_filter(w->mx, w->user_id, SYNC_FILTER, on_filter, w);
}
