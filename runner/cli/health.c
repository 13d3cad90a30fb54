/* The health subcommand: one fetch of /status, one line, one exit code; the supervisor has
 * already judged the fleet (service_status), so this reads its verdict and says why. */
#include "cli/health.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/status.h"
#include "util/json.h"
#include "util/macro.h"

/* Reasons quoted on the one line: enough to say what is wrong, few enough to stay a line in
 * the journal; the rest are counted ("and 3 more"). */
#define HEALTH_LINE_REASONS      3
#define HEALTH_LINE_REASON_CHARS 160

static const struct {
    const char *name;
    int code;
} verdicts[] = {
        {"healthy", HEALTH_EXIT_HEALTHY},
        {"degraded", HEALTH_EXIT_DEGRADED},
        {"failed", HEALTH_EXIT_FAILED},
};

/* "2/3 instances running", with "?" for a count the document lacks. */
static void counts(const struct json_doc *d, char *buf, size_t cap)
{
    int64_t active, enabled;
    char a[24] = "?", e[24] = "?";

    if (json_get_int64(d, 0, "active_instances_count", &active) == 0)
        (void)snprintf(a, sizeof(a), "%lld", (long long)active);
    if (json_get_int64(d, 0, "enabled_instances_count", &enabled) == 0)
        (void)snprintf(e, sizeof(e), "%lld", (long long)enabled);
    (void)snprintf(buf, cap, "%s/%s instances running", a, e);
}

/* The reasons joined with "; "; false when there are none to give. */
static bool reasons(const struct json_doc *d, char *buf, size_t cap)
{
    char item[HEALTH_LINE_REASON_CHARS * 4 + 4];
    int arr, n, elem, cursor = 0, shown = 0;
    size_t len = 0;

    if (json_get(d, 0, "reasons", &arr) < 0 || (n = json_array_len(d, arr)) <= 0)
        return false;
    buf[0] = '\0';
    while (json_array_iter(d, arr, &cursor, &elem) > 0 && shown < HEALTH_LINE_REASONS) {
        if (status_get_clean(d, elem, NULL, HEALTH_LINE_REASON_CHARS, item, sizeof(item)) <= 0 ||
            item[0] == '\0')
            continue; /* not a string, or empty: nothing to say */
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", shown ? "; " : "", item);
        if (len >= cap)
            return true;
        shown++;
    }
    if (shown == 0)
        return false;
    if (n > shown)
        (void)snprintf(buf + len, cap - len, "; and %d more", n - shown);
    return true;
}

int health_verdict(const char *url, const char *body, size_t len, char *line, size_t cap)
{
    _cleanup_(json_doc_freep) struct json_doc *d = NULL;
    char why[HEALTH_LINE_REASONS * (HEALTH_LINE_REASON_CHARS * 4 + 4) + 64];

    if (status_parse(body, len, &d) < 0) {
        (void)snprintf(line, cap, "failed: %s answered malformed JSON", url);
        return HEALTH_EXIT_FAILED;
    }
    for (size_t i = 0; i < ELEMENTSOF(verdicts); i++) {
        if (json_string_equals(d, 0, "service_status", verdicts[i].name) != 1)
            continue;
        if (verdicts[i].code == HEALTH_EXIT_HEALTHY || !reasons(d, why, sizeof(why)))
            counts(d, why, sizeof(why));
        (void)snprintf(line, cap, "%s: %s", verdicts[i].name, why);
        return verdicts[i].code;
    }
    (void)snprintf(line, cap,
                   "failed: %s answered no service_status of healthy, degraded or failed", url);
    return HEALTH_EXIT_FAILED;
}

int cli_health(int argc, char **argv)
{
    static const struct option opts[] = {
            {"url", required_argument, NULL, 'u'},
            {"config", required_argument, NULL, 'c'},
            {"help", no_argument, NULL, 'h'},
            {},
    };
    _cleanup_free_ char *body = NULL;
    const char *base = NULL, *config = NULL;
    char url[4096], line[4096], from_config[4096];
    size_t len = 0;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "hc:", opts, NULL)) >= 0) {
        switch (opt) {
        case 'u':
            base = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            printf("usage: botrunner health [--url URL | -c FILE]   (the endpoint of FILE's "
                   "status:, else %s)\n",
                   STATUS_DEFAULT_URL);
            return HEALTH_EXIT_HEALTHY;
        default:
            return HEALTH_EXIT_FAILED;
        }
    }
    if (optind != argc || (base && config)) {
        fprintf(stderr, "usage: botrunner health [--url URL | -c FILE]\n");
        return HEALTH_EXIT_FAILED;
    }
    if (config) {
        r = status_base_from_config(config, from_config, sizeof(from_config), line,
                                    sizeof(line));
        if (r < 0) {
            printf("failed: cannot read the status address: %s\n", line);
            return HEALTH_EXIT_FAILED;
        }
        base = from_config;
    }
    if (!base)
        base = STATUS_DEFAULT_URL;
    r = status_fetch(base, &body, &len, line, sizeof(line));
    if (r < 0) {
        printf("failed: %s\n", line);
        return HEALTH_EXIT_FAILED;
    }
    (void)status_url(base, url, sizeof(url));
    r = health_verdict(url, body, len, line, sizeof(line));
    printf("%s\n", line);
    return r;
}
