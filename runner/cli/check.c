/* The check subcommand: loads the config through the same path as the supervisor, prints
 * every diagnostic on stderr, and on success a one-paragraph summary on stdout. */
#include "cli/check.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "util/log.h"
#include "util/macro.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_USAGE = 2 };

static void print_summary(const struct config *c, const char *path, const struct diag_list *d)
{
    uint32_t enabled = 0, rooms = 0, plugins_on = 0;

    for (uint32_t i = 0; i < c->instances_count; i++) {
        enabled += c->instances[i].enabled;
        rooms += c->instances[i].room_subscriptions_count;
    }
    for (uint32_t i = 0; i < c->plugins_count; i++)
        plugins_on += c->plugins[i].enabled;
    printf("%s is valid: %u instance%s (%u enabled) serving %u room subscription%s with %u "
           "plugin%s (%u enabled), as users of %s through %s; state in %s; status endpoint on "
           "%s:%u; logging at %s%s%s%s.",
           path, c->instances_count, c->instances_count == 1 ? "" : "s", enabled, rooms,
           rooms == 1 ? "" : "s", c->plugins_count, c->plugins_count == 1 ? "" : "s", plugins_on,
           c->homeserver.server_name, c->homeserver.url, c->state_directory, c->status.address,
           c->status.port, log_level_to_string(c->logging.level),
           c->notifications ? "; admin notifications to " : "",
           c->notifications ? c->notifications->room : "",
           c->notifications ? "" : "; no admin notifications");
    if (d->n_warnings)
        printf(" %zu warning%s above.", d->n_warnings, d->n_warnings == 1 ? "" : "s");
    putchar('\n');
}

int cli_check(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"no-credentials", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    _cleanup_(config_freep) struct config *c = NULL;
    struct diag_list d = {0};
    const char *path = NULL;
    unsigned flags = 0;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            flags |= CONFIG_SKIP_CREDENTIALS;
            break;
        case 'h':
            printf("usage: botrunner check -c FILE [--no-credentials]\n");
            return EXIT_VALID;
        default:
            return EXIT_USAGE;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "usage: botrunner check -c FILE [--no-credentials]\n");
        return EXIT_USAGE;
    }
    r = config_load(path, flags, &d, &c);
    diag_print(&d, stderr);
    if (r == -EINVAL) {
        fprintf(stderr, "%s: %zu error%s\n", path, d.n_errors, d.n_errors == 1 ? "" : "s");
        diag_list_done(&d);
        return EXIT_INVALID;
    }
    if (r < 0) {
        fprintf(stderr, "%s: cannot be checked: %s\n", path, strerror(-r));
        diag_list_done(&d);
        return EXIT_INVALID;
    }
    print_summary(c, path, &d);
    diag_list_done(&d);
    return EXIT_VALID;
}
