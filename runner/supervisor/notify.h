/* Admin notifications (the seed's "Admin Notification" entity): which ERROR/CRITICAL events
 * reach the admin room, a per-minute rate limit with summaries of what it held back, the
 * recent ones for /status, and the room text, sanitized and redacted. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

/* Notifications remembered for /status, posted or suppressed. */
#define NOTIFY_KEEP 50
/* The rate limit's rolling window: the config says max_per_minute. */
#define NOTIFY_WINDOW_S 60
/* The config validator's bound on notifications.max_per_minute (runner/config/validate.c). */
#define NOTIFY_MAX_PER_MINUTE 600
/* The room text: a few lines an admin reads on a phone; the journal has the rest. */
#define NOTIFY_TEXT_MAX 2000
/* Bounds on each part, in bytes (cut on a UTF-8 boundary, marked with "..."). */
#define NOTIFY_MESSAGE_MAX    1000
#define NOTIFY_ID_MAX         255 /* instance, room and event ids: the Matrix bound */
#define NOTIFY_ERROR_TYPE_MAX 128
/* The seed: "abbreviated stack trace (last 10 lines)". */
#define NOTIFY_TRACE_LINES    10
#define NOTIFY_TRACE_LINE_MAX 200

/* One notification as remembered: every string already sanitized (no control characters
 * but LF in the trace, valid UTF-8), redacted (util/log.h) and bounded as above.
 * context_json is an object with the optional string members room_id, event_id,
 * exception_type and stack_trace (the last lines, LF-separated), or NULL when there is no
 * context. */
struct notification {
    int64_t timestamp;     /* Unix seconds */
    char *source_instance; /* NULL: the runner itself */
    char *severity;        /* "ERROR" | "CRITICAL" */
    char *message;         /* never empty */
    char *context_json;
    bool suppressed; /* held back by the rate limit (counted in a summary) */
};

/* What a caller offers: raw, untrusted text (from a worker's LOG datagram or the
 * supervisor's own events). NULL optional fields are absent. */
struct notification_in {
    const char *source_instance; /* optional */
    const char *severity;        /* "ERROR" | "CRITICAL" */
    const char *message;         /* required, non-empty */
    const char *room_id;         /* optional */
    const char *event_id;        /* optional */
    const char *error_type;      /* optional */
    const char *trace;           /* optional: LF-separated lines, the last ones are kept */
};

struct notifier;

/* max_per_minute: 1..NOTIFY_MAX_PER_MINUTE (-EINVAL otherwise). */
int notifier_new(unsigned max_per_minute, struct notifier **ret);
void notifier_free(struct notifier *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct notifier *, notifier_free)

/* Offer one notification at now (Unix seconds). It is remembered in the ring either way.
 * Returns 1 when it is to be posted: *ret_text is its room text (notify_format()); 0 when
 * the rate limit holds it back (at most max_per_minute posts in any NOTIFY_WINDOW_S
 * seconds): it is counted for a summary and *ret_text is NULL.
 * *ret_summary is a summary to post FIRST, or NULL: it comes once the minute that began with
 * the first held-back notification is over, at this offer or at notify_flush(), whichever
 * comes first. Summaries are not counted against the limit (so at most max_per_minute + 1
 * messages a minute) and come at most once a minute.
 * -EINVAL for a severity other than ERROR/CRITICAL or an empty message; -ENOMEM. On error
 * nothing changes. Both strings are malloc'd. */
int notify_offer(struct notifier *n, int64_t now, const struct notification_in *in,
                 char **ret_summary, char **ret_text);

/* The flush timer: 1 and *ret_summary when a summary is due at now, else 0 (*ret_summary
 * NULL). -ENOMEM. */
int notify_flush(struct notifier *n, int64_t now, char **ret_summary);
/* When the pending summary falls due (arm the flush timer for it); 0 when none is pending. */
int64_t notify_flush_at(const struct notifier *n);

/* The ring, for /status: i = 0 is the newest; NULL past the end. Valid until the next
 * notify_offer(). */
size_t notify_recent_count(const struct notifier *n);
const struct notification *notify_recent(const struct notifier *n, size_t i);

/* The room text of a notification:
 *     [CRITICAL] echo-2: worker killed by SIGSEGV; restarting in 2 s
 *     room: !abc:clarun.xyz
 *     event: $ev
 *     error type: M_FORBIDDEN
 *     trace:
 *       <up to the last NOTIFY_TRACE_LINES lines>
 * at most NOTIFY_TEXT_MAX bytes, valid UTF-8, no control character but LF, every part and
 * the whole passed through log_redact_buffer(). n need not come from a notifier (it may be
 * read back from the store): its strings are sanitized again, and a context_json that does
 * not parse as an object is left out. -EINVAL for a bad severity or an empty message;
 * -ENOMEM. *ret_text is malloc'd. */
int notify_format(const struct notification *n, char **ret_text);

/* Does an event at priority reach the admin room of an instance whose
 * error_notification_level is instance_level? Both are syslog priorities (LOG_DEBUG ..
 * LOG_CRIT, lower is more severe): only ERROR and CRITICAL (and anything more severe) ever
 * go, and only at or above the instance's level. */
bool notify_wanted(int instance_level, int priority);
/* "CRITICAL" for LOG_CRIT and more severe, "ERROR" for LOG_ERR, NULL otherwise. */
const char *notify_severity(int priority);
