/* The service's health, by the seed's "Health Check State" rules: a pure function from the
 * instances' recorded activity and the time to healthy / degraded / failed, with reasons.
 *
 * Rules (every "instance" below is an enabled one; disabled instances are ignored):
 *   - an instance is fine when its state is "running", it has not logged ERROR or CRITICAL
 *     within error_window_s (now - last_error_at < error_window_s), and it synced within
 *     sync_max_age_s (now - last_sync_at < sync_max_age_s). An instance that has not synced
 *     since it (re)started (last_sync_at < started_at, or never) is measured from started_at
 *     instead: the grace a fresh worker needs for its first /sync;
 *   - HEALTHY:  at least one instance, every one fine, and the last reload (if any) was
 *               accepted;
 *   - FAILED:   at least one instance, and none running;
 *   - DEGRADED: anything else, including no instance enabled at all, and a refused reload:
 *               the old fleet runs on, but not what the file on disk declares.
 * The failed list (/status failed_instances) names the enabled instances that are not
 * running, and only those; one that runs but is not fine is degraded, its reasons say why.
 * A time in the future (a clock that stepped back) counts as "just now". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The seed's numbers: no ERROR/CRITICAL in the last 5 minutes, a sync in the last 10. */
#define HEALTH_ERROR_WINDOW_S 300
#define HEALTH_SYNC_MAX_AGE_S 600
/* Reasons kept in a report: enough to name every problem of a small fleet; a larger one
 * gets the first ones and "and N more" (the instance list in /status has the rest). */
#define HEALTH_MAX_REASONS 16
/* One reason: an instance id and a short sentence. Longer ids are cut. */
#define HEALTH_REASON_MAX 160

/* The values double as `botrunner health` exit codes. */
enum health_status {
    HEALTH_HEALTHY = 0,
    HEALTH_DEGRADED = 1,
    HEALTH_FAILED = 2,
};

struct health_thresholds {
    int64_t error_window_s; /* HEALTH_ERROR_WINDOW_S */
    int64_t sync_max_age_s; /* HEALTH_SYNC_MAX_AGE_S */
};
#define HEALTH_THRESHOLDS_DEFAULT                                                                  \
    ((struct health_thresholds){                                                                   \
            .error_window_s = HEALTH_ERROR_WINDOW_S,                                               \
            .sync_max_age_s = HEALTH_SYNC_MAX_AGE_S,                                               \
    })

/* What the supervisor knows of one instance. Times are Unix seconds. */
struct health_instance {
    const char *id;
    bool enabled;
    const char *state;     /* the seed's instance state; NULL reads as "unknown" */
    int64_t last_sync_at;  /* 0: never */
    int64_t last_error_at; /* the last ERROR or CRITICAL it logged; 0: never */
    int64_t started_at;    /* when its current worker started; 0: unknown */
};

struct health_report {
    enum health_status status;
    size_t enabled_count;
    size_t active_count; /* enabled and running */
    /* The enabled instances that are not running (the seed's "instance IDs with errors"
     * read as the failed ones: a running instance with an error is degraded, not failed),
     * in input order. A malloc'd array of the callers' id pointers (borrowed: they must
     * outlive the report); NULL when none. */
    const char **failed_ids;
    size_t n_failed;
    /* Why the status is not healthy, most important first ("no enabled instance is
     * running" before the per-instance reasons); empty when healthy. */
    char reasons[HEALTH_MAX_REASONS][HEALTH_REASON_MAX];
    size_t n_reasons;
};

/* Evaluate instances[0..n) at now. reload_refused: NULL when the last reload was accepted
 * (or there was none), else what was wrong with the file ("2 errors; first: ..."), quoted
 * in a reason. 0 and *ret filled (release with health_report_done()); -EINVAL for a
 * threshold <= 0 or a NULL id; -ENOMEM. */
int health_evaluate(const struct health_thresholds *t, int64_t now,
                    const struct health_instance *instances, size_t n, const char *reload_refused,
                    struct health_report *ret);
void health_report_done(struct health_report *r);

/* "healthy" | "degraded" | "failed" (the /status service_status values); NULL otherwise. */
const char *health_status_to_string(enum health_status s);
/* The inverse, exact; -EINVAL for anything else. */
int health_status_from_string(const char *s, enum health_status *ret);
