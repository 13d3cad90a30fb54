/* The worker subcommand: parse its arguments and run the instance; the supervisor starts
 * workers this way (fork and exec of the same binary), and so can a person, to debug one. */
#include "cli/worker.h"

#include <getopt.h>
#include <stdio.h>

#include "worker/worker.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] = "usage: botrunner worker --instance ID -c FILE\n";

int cli_worker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"instance", required_argument, NULL, 'i'},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    const char *instance = NULL, *config = NULL;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "i:c:h", opts, NULL)) >= 0) {
        switch (opt) {
        case 'i':
            instance = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            return EXIT_USAGE;
        }
    }
    if (!instance || !config || optind != argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    return worker_main(config, instance) == 0 ? EXIT_OK : EXIT_FAILED;
}
