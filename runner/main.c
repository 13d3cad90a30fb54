/* botrunner's command line: parses the arguments and dispatches to a subcommand; nothing
 * else lives here. Exit codes follow the contract in docs/configuration.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/check.h"
#include "cli/run.h"
#include "cli/health.h"
#include "cli/plugin.h"
#include "cli/status.h"
#include "cli/worker.h"
#include "util/macro.h"

#define EXIT_USAGE 2

static void usage(FILE *f)
{
    fputs("usage: botrunner check -c FILE [--no-credentials]   validate a config\n"
          "       botrunner run -c FILE                       the supervisor: run the whole fleet\n"
          "       botrunner worker --instance ID -c FILE      run one instance in the foreground\n"
          "       botrunner health [--url URL | -c FILE]      is the fleet healthy? (one line)\n"
          "       botrunner status [--url URL | -c FILE] [--json]   instances, plugins, notifications\n"
          "       botrunner plugin pack DIR -o FILE.mbp       build a plugin package\n"
          "       botrunner plugin inspect FILE.mbp [--json]  what a package holds, and the verdict\n"
          "       botrunner --version\n"
          "\n"
          "check exits 0 when the file is valid, 1 when it is not (every problem listed),\n"
          "2 on bad usage. health exits 0 healthy, 1 degraded, 2 failed or unreachable.\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (streq(argv[1], "--version") || streq(argv[1], "version")) {
        printf("botrunner %s\n", BOTRUNNER_VERSION);
        return 0;
    }
    if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (streq(argv[1], "check"))
        return cli_check(argc - 1, argv + 1);
    if (streq(argv[1], "run"))
        return cli_run(argc - 1, argv + 1);
    if (streq(argv[1], "worker"))
        return cli_worker(argc - 1, argv + 1);
    if (streq(argv[1], "health"))
        return cli_health(argc - 1, argv + 1);
    if (streq(argv[1], "status"))
        return cli_status(argc - 1, argv + 1);
    if (streq(argv[1], "plugin"))
        return cli_plugin(argc - 1, argv + 1);
    fprintf(stderr, "botrunner: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
