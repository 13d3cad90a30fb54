/* `botrunner worker --instance ID -c FILE`: run one bot instance in the foreground. */
#pragma once

/* argv[0] is "worker". Returns the process exit code: 0 after a clean stop, 1 on failure,
 * 2 on bad usage. */
int cli_worker(int argc, char **argv);
