/* Tests for supervisor/health.c: each rule of the seed's health check and each boundary
 * (error window, sync age, start-up grace), the counts, the failed list and the reasons. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "supervisor/health.h"
#include "util/macro.h"

#define NOW 1700000000

/* A running instance that synced a second ago, started an hour ago, never logged an error. */
static struct health_instance good(const char *id)
{
    return (struct health_instance){
            .id = id,
            .enabled = true,
            .state = "running",
            .last_sync_at = NOW - 1,
            .started_at = NOW - 3600,
    };
}

static struct health_report eval_at(int64_t now, const struct health_instance *v, size_t n)
{
    struct health_thresholds t = HEALTH_THRESHOLDS_DEFAULT;
    struct health_report r;

    assert_int_equal(health_evaluate(&t, now, v, n, NULL, &r), 0);
    return r;
}

static struct health_report eval(const struct health_instance *v, size_t n)
{
    return eval_at(NOW, v, n);
}

static void assert_reasons(const struct health_report *r, size_t n, ...)
{
    va_list ap;

    assert_int_equal(r->n_reasons, n);
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(r->reasons[i], va_arg(ap, const char *));
    va_end(ap);
}

static void test_all_fine_is_healthy(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-2"), good("off")};
    (void)state;

    /* A disabled instance counts for nothing, whatever its state and errors. */
    v[2].enabled = false;
    v[2].state = "stopped";
    v[2].last_error_at = NOW - 1;
    v[2].last_sync_at = 0;

    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_HEALTHY);
    assert_int_equal(r.enabled_count, 2);
    assert_int_equal(r.active_count, 2);
    assert_int_equal(r.n_failed, 0);
    assert_null(r.failed_ids);
    assert_reasons(&r, 0);
    health_report_done(&r);
}

static void test_not_running_is_degraded(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-2"), good("echo-3")};
    (void)state;

    v[1].state = "restarting";
    v[2].state = NULL;
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.enabled_count, 3);
    assert_int_equal(r.active_count, 1);
    assert_int_equal(r.n_failed, 2);
    assert_string_equal(r.failed_ids[0], "echo-2");
    assert_string_equal(r.failed_ids[1], "echo-3");
    assert_reasons(&r, 2, "echo-2 is restarting", "echo-3 is unknown");
    health_report_done(&r);
}

static void test_none_running_is_failed(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-2"), good("off")};
    (void)state;

    v[0].state = "failed";
    v[1].state = "restarting";
    v[1].last_error_at = NOW - 42;
    v[2].enabled = false; /* running but disabled: does not save the service */
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_FAILED);
    assert_int_equal(r.enabled_count, 2);
    assert_int_equal(r.active_count, 0);
    assert_int_equal(r.n_failed, 2);
    assert_reasons(&r, 4, "no enabled instance is running", "echo-1 is failed",
                   "echo-2 is restarting", "echo-2 logged an ERROR 42 s ago");
    health_report_done(&r);
}

static void test_none_enabled_is_degraded(void **state)
{
    struct health_instance v[] = {good("off")};
    (void)state;

    v[0].enabled = false;
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.enabled_count, 0);
    assert_int_equal(r.active_count, 0);
    assert_reasons(&r, 1, "no instance is enabled");
    health_report_done(&r);

    /* No instances at all: the same. */
    r = eval(NULL, 0);
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "no instance is enabled");
    health_report_done(&r);
}

static void test_error_window_boundary(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-2")};
    struct health_report r;
    (void)state;

    /* 299 s ago is inside the 5 minutes; 300 s ago is not. */
    v[0].last_error_at = NOW - 299;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.active_count, 2);
    /* Degraded, with its reason; not failed: it runs. */
    assert_int_equal(r.n_failed, 0);
    assert_null(r.failed_ids);
    assert_reasons(&r, 1, "echo-1 logged an ERROR 299 s ago");
    health_report_done(&r);

    v[0].last_error_at = NOW - 300;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);

    /* A time ahead of the clock is "just now", not ignored. */
    v[0].last_error_at = NOW + 100;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "echo-1 logged an ERROR 0 s ago");
    health_report_done(&r);
}

static void test_sync_age_boundary(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-3")};
    struct health_report r;
    (void)state;

    v[1].last_sync_at = NOW - 599;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);

    v[1].last_sync_at = NOW - 600;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "echo-3 has not synced for 600 s");
    health_report_done(&r);

    v[1].last_sync_at = NOW - 700;
    r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.n_failed, 0);
    assert_reasons(&r, 1, "echo-3 has not synced for 700 s");
    health_report_done(&r);
}

static void test_startup_grace(void **state)
{
    struct health_instance v[] = {good("echo-1")};
    struct health_report r;
    (void)state;

    /* Just started, never synced: fine for sync_max_age from its start. */
    v[0].last_sync_at = 0;
    v[0].started_at = NOW - 599;
    r = eval(v, 1);
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);

    v[0].started_at = NOW - 600;
    r = eval(v, 1);
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "echo-1 has not synced since it started 600 s ago");
    health_report_done(&r);

    /* Restarted after a long outage: its last sync (from the previous run) is old, but the
     * new worker gets its grace too. */
    v[0].last_sync_at = NOW - 5000;
    v[0].started_at = NOW - 10;
    r = eval(v, 1);
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);
    v[0].started_at = NOW - 601;
    r = eval(v, 1);
    assert_reasons(&r, 1, "echo-1 has not synced since it started 601 s ago");
    health_report_done(&r);

    /* Nothing known at all: never synced, no grace. */
    v[0].last_sync_at = 0;
    v[0].started_at = 0;
    r = eval(v, 1);
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "echo-1 has never synced");
    health_report_done(&r);
}

/* Sync age is not held against an instance that is not running: its state is the reason. */
static void test_stale_sync_of_stopped_instance(void **state)
{
    struct health_instance v[] = {good("echo-1"), good("echo-2")};
    (void)state;

    v[1].state = "stopped";
    v[1].last_sync_at = NOW - 10000;
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_reasons(&r, 1, "echo-2 is stopped");
    health_report_done(&r);
}

static void test_custom_thresholds(void **state)
{
    struct health_thresholds t = {.error_window_s = 10, .sync_max_age_s = 20};
    struct health_instance v[] = {good("echo-1")};
    struct health_report r;
    (void)state;

    v[0].last_error_at = NOW - 10;
    v[0].last_sync_at = NOW - 19;
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), 0);
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);
    v[0].last_sync_at = NOW - 20;
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), 0);
    assert_int_equal(r.status, HEALTH_DEGRADED);
    health_report_done(&r);

    t.error_window_s = 0;
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), -EINVAL);
    t = (struct health_thresholds){.error_window_s = 1, .sync_max_age_s = -1};
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), -EINVAL);
    t = HEALTH_THRESHOLDS_DEFAULT;
    v[0].id = NULL;
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), -EINVAL);
}

/* A large broken fleet: reasons stop at the bound and say how many were left out; the
 * failed list names every one. */
static void test_reasons_bounded(void **state)
{
    struct health_instance v[40];
    char ids[40][16];
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(v); i++) {
        snprintf(ids[i], sizeof ids[i], "bot-%zu", i);
        v[i] = good(ids[i]);
        v[i].state = "failed";
    }
    v[0].state = "running";
    v[0].last_error_at = NOW - 1;
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.n_failed, 39);
    assert_string_equal(r.failed_ids[0], "bot-1");
    assert_string_equal(r.failed_ids[38], "bot-39");
    assert_int_equal(r.n_reasons, HEALTH_MAX_REASONS);
    assert_string_equal(r.reasons[0], "bot-0 logged an ERROR 1 s ago");
    assert_string_equal(r.reasons[HEALTH_MAX_REASONS - 2], "bot-14 is failed");
    /* 40 reasons, 15 shown, 25 counted. */
    assert_string_equal(r.reasons[HEALTH_MAX_REASONS - 1], "and 25 more problems");
    health_report_done(&r);

    /* A very long id is cut, never overflows. */
    char long_id[600];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    v[0] = good(long_id);
    v[0].state = "failed";
    r = eval(v, 1);
    assert_int_equal(strlen(r.reasons[1]), HEALTH_REASON_MAX - 1);
    health_report_done(&r);
}

/* failed_instances names the instances that do not run, and only those: one that runs with
 * a recent error or a stale sync is degraded, with its reason, but not failed. */
static void test_failed_means_not_running(void **state)
{
    struct health_instance v[] = {good("ok"), good("erring"), good("stale"), good("down"),
                                  good("off")};
    (void)state;

    v[1].last_error_at = NOW - 5;
    v[2].last_sync_at = NOW - 900;
    v[3].state = "restarting";
    v[3].last_error_at = NOW - 5;
    v[4].enabled = false;
    v[4].state = "stopped";
    struct health_report r = eval(v, ELEMENTSOF(v));
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.active_count, 3);
    assert_int_equal(r.n_failed, 1);
    assert_string_equal(r.failed_ids[0], "down");
    assert_reasons(&r, 4, "erring logged an ERROR 5 s ago", "stale has not synced for 900 s",
                   "down is restarting", "down logged an ERROR 5 s ago");
    health_report_done(&r);
}

/* A refused reload leaves the old fleet running, but the declaration on disk is not what
 * runs: degraded, saying so first, until a reload is accepted (the caller passes NULL). */
static void test_refused_reload_degrades(void **state)
{
    struct health_thresholds t = HEALTH_THRESHOLDS_DEFAULT;
    struct health_instance v[] = {good("echo-1")};
    struct health_report r;
    (void)state;

    assert_int_equal(health_evaluate(&t, NOW, v, 1, "2 errors; first: x: y (line 3)", &r), 0);
    assert_int_equal(r.status, HEALTH_DEGRADED);
    assert_int_equal(r.n_failed, 0);
    assert_reasons(&r, 1, "the last reload was refused: 2 errors; first: x: y (line 3)");
    health_report_done(&r);

    /* Nothing running is still failed, the refusal a reason after that one. */
    v[0].state = "failed";
    assert_int_equal(health_evaluate(&t, NOW, v, 1, "1 error", &r), 0);
    assert_int_equal(r.status, HEALTH_FAILED);
    assert_reasons(&r, 3, "no enabled instance is running",
                   "the last reload was refused: 1 error", "echo-1 is failed");
    health_report_done(&r);

    v[0].state = "running";
    assert_int_equal(health_evaluate(&t, NOW, v, 1, NULL, &r), 0);
    assert_int_equal(r.status, HEALTH_HEALTHY);
    health_report_done(&r);
}

static void test_status_strings(void **state)
{
    enum health_status s;
    (void)state;

    assert_string_equal(health_status_to_string(HEALTH_HEALTHY), "healthy");
    assert_string_equal(health_status_to_string(HEALTH_DEGRADED), "degraded");
    assert_string_equal(health_status_to_string(HEALTH_FAILED), "failed");
    assert_null(health_status_to_string((enum health_status)3));
    assert_int_equal(health_status_from_string("failed", &s), 0);
    assert_int_equal(s, HEALTH_FAILED);
    assert_int_equal(health_status_from_string("degraded", &s), 0);
    assert_int_equal(s, HEALTH_DEGRADED);
    assert_int_equal(health_status_from_string("Healthy", &s), -EINVAL);
    assert_int_equal(health_status_from_string(NULL, &s), -EINVAL);
    /* The exit codes of `botrunner health`. */
    assert_int_equal(HEALTH_HEALTHY, 0);
    assert_int_equal(HEALTH_DEGRADED, 1);
    assert_int_equal(HEALTH_FAILED, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_all_fine_is_healthy),
            cmocka_unit_test(test_not_running_is_degraded),
            cmocka_unit_test(test_none_running_is_failed),
            cmocka_unit_test(test_none_enabled_is_degraded),
            cmocka_unit_test(test_error_window_boundary),
            cmocka_unit_test(test_sync_age_boundary),
            cmocka_unit_test(test_startup_grace),
            cmocka_unit_test(test_stale_sync_of_stopped_instance),
            cmocka_unit_test(test_custom_thresholds),
            cmocka_unit_test(test_reasons_bounded),
            cmocka_unit_test(test_failed_means_not_running),
            cmocka_unit_test(test_refused_reload_degrades),
            cmocka_unit_test(test_status_strings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
