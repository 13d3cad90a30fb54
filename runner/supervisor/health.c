/* The seed's health rules as a pure function (see health.h): counts, the instances with
 * problems, and a bounded list of reasons a person can act on. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/health.h"
#include "util/macro.h"

static const char *const health_status_names[] = {
        [HEALTH_HEALTHY] = "healthy",
        [HEALTH_DEGRADED] = "degraded",
        [HEALTH_FAILED] = "failed",
};

const char *health_status_to_string(enum health_status s)
{
    if ((size_t)s >= ELEMENTSOF(health_status_names))
        return NULL;
    return health_status_names[s];
}

int health_status_from_string(const char *s, enum health_status *ret)
{
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < ELEMENTSOF(health_status_names); i++)
        if (streq(s, health_status_names[i])) {
            *ret = (enum health_status)i;
            return 0;
        }
    return -EINVAL;
}

/* Seconds from t to now; 0 for a time in the future, saturating for absurd inputs. */
static int64_t age(int64_t now, int64_t t)
{
    int64_t d;

    if (t >= now)
        return 0;
    if (__builtin_sub_overflow(now, t, &d))
        return INT64_MAX;
    return d;
}

/* Reasons past the array's end are only counted; the last slot then says how many. */
struct reasons {
    struct health_report *report;
    size_t total;
};

_printf_(2, 3) static void reason_add(struct reasons *rs, const char *format, ...)
{
    struct health_report *r = rs->report;
    va_list ap;

    rs->total++;
    if (r->n_reasons >= HEALTH_MAX_REASONS)
        return;
    va_start(ap, format);
    vsnprintf(r->reasons[r->n_reasons++], HEALTH_REASON_MAX, format, ap);
    va_end(ap);
}

static void reasons_finish(struct reasons *rs)
{
    struct health_report *r = rs->report;

    if (rs->total > HEALTH_MAX_REASONS)
        snprintf(r->reasons[HEALTH_MAX_REASONS - 1], HEALTH_REASON_MAX, "and %zu more problems",
                 rs->total - HEALTH_MAX_REASONS + 1);
}

static bool is_running(const struct health_instance *i)
{
    return i->state && streq(i->state, "running");
}

/* Check one enabled instance; adds its reasons and returns whether it is fine. */
static bool instance_fine(const struct health_thresholds *t, int64_t now,
                          const struct health_instance *i, struct reasons *rs)
{
    bool fine = true;

    if (!is_running(i)) {
        reason_add(rs, "%s is %s", i->id, i->state ? i->state : "unknown");
        fine = false;
    }
    if (i->last_error_at != 0 && age(now, i->last_error_at) < t->error_window_s) {
        reason_add(rs, "%s logged an ERROR %" PRId64 " s ago", i->id, age(now, i->last_error_at));
        fine = false;
    }
    /* Sync freshness only means something for a running worker; one that is not running
     * already has its reason. */
    if (!is_running(i))
        return fine;
    bool synced_this_run = i->last_sync_at != 0 && i->last_sync_at >= i->started_at;
    int64_t since = synced_this_run ? i->last_sync_at : i->started_at;
    if (since != 0 && age(now, since) < t->sync_max_age_s)
        return fine;
    if (synced_this_run)
        reason_add(rs, "%s has not synced for %" PRId64 " s", i->id, age(now, since));
    else if (i->started_at != 0)
        reason_add(rs, "%s has not synced since it started %" PRId64 " s ago", i->id,
                   age(now, since));
    else
        reason_add(rs, "%s has never synced", i->id);
    return false;
}

int health_evaluate(const struct health_thresholds *t, int64_t now,
                    const struct health_instance *instances, size_t n, const char *reload_refused,
                    struct health_report *ret)
{
    struct health_report r = {0};
    struct reasons rs = {.report = &r};
    _cleanup_free_ const char **failed = NULL;
    bool all_fine = true;

    assert(t && ret && (instances || n == 0));
    if (t->error_window_s <= 0 || t->sync_max_age_s <= 0)
        return -EINVAL;
    for (size_t k = 0; k < n; k++) {
        if (!instances[k].id)
            return -EINVAL;
        if (!instances[k].enabled)
            continue;
        r.enabled_count++;
        r.active_count += is_running(&instances[k]);
    }
    if (r.enabled_count > 0) {
        failed = calloc(r.enabled_count, sizeof *failed);
        if (!failed)
            return -ENOMEM;
    }

    if (r.enabled_count == 0)
        reason_add(&rs, "no instance is enabled");
    else if (r.active_count == 0)
        reason_add(&rs, "no enabled instance is running");
    if (reload_refused)
        reason_add(&rs, "the last reload was refused: %s", reload_refused);
    for (size_t k = 0; k < n; k++) {
        if (!instances[k].enabled)
            continue;
        if (!instance_fine(t, now, &instances[k], &rs))
            all_fine = false;
        if (!is_running(&instances[k]))
            failed[r.n_failed++] = instances[k].id;
    }
    reasons_finish(&rs);

    if (r.enabled_count > 0 && r.active_count == 0)
        r.status = HEALTH_FAILED;
    else if (r.enabled_count == 0 || !all_fine || reload_refused)
        r.status = HEALTH_DEGRADED;
    else
        r.status = HEALTH_HEALTHY;
    if (r.n_failed > 0)
        r.failed_ids = TAKE_PTR(failed);
    *ret = r;
    return 0;
}

void health_report_done(struct health_report *r)
{
    if (!r)
        return;
    free(r->failed_ids);
    r->failed_ids = NULL;
    r->n_failed = 0;
}
