/* `botrunner check -c FILE`: validate a config and say so, listing every problem. */
#pragma once

/* argv[0] is "check". Returns the process exit code: 0 valid, 1 invalid, 2 usage. */
int cli_check(int argc, char **argv);
