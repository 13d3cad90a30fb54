/* The run subcommand: the unit's ExecStart. Parses its arguments and hands over to the
 * supervisor. */
#include "cli/run.h"

#include <getopt.h>
#include <stdio.h>

#include "supervisor/supervisor.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] = "usage: botrunner run -c FILE\n";

int cli_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {},
    };
    const char *config = NULL;
    int opt;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) >= 0) {
        switch (opt) {
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
    if (!config || optind != argc) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    return supervisor_main(config) == 0 ? EXIT_OK : EXIT_FAILED;
}
