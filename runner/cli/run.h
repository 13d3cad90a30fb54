/* `botrunner run -c FILE`: the supervisor, in the foreground (the unit's main process). */
#pragma once

/* argv[0] is "run". Returns the exit code: 0 after a clean stop, 1 on failure, 2 usage. */
int cli_run(int argc, char **argv);
