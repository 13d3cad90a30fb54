/* `botrunner plugin pack|inspect`: building and inspecting plugin packages (.mbp). */
#pragma once

/* argv[0] is "plugin". Returns the exit code: 0 done/valid, 1 failed/rejected, 2 usage. */
int cli_plugin(int argc, char **argv);
