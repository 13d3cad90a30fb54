/* Fixture: a module with the instagram plugin's identity (sna.instagram 1.0.0, main_class
 * InstagramBot), so that the config corpus's plugin directory is loadable as `botrunner
 * check` proves it. The Makefile builds it in place; it is read, never run. */
#include <botrunner/plugin.h>

static int start(struct br_instance *inst, const struct br_runner *runner, void **ret_state)
{
    (void)inst;
    (void)runner;
    *ret_state = NULL;
    return 0;
}

static void stop(void *state)
{
    (void)state;
}

static int command(void *state, const struct br_message *msg, const char *name, const char *args)
{
    (void)state;
    (void)msg;
    (void)name;
    (void)args;
    return 0;
}

BR_PLUGIN(InstagramBot) = {
    .abi_version = BR_ABI_VERSION,
    .size = sizeof(struct br_plugin),
    .id = "sna.instagram",
    .version = "1.0.0",
    .start = start,
    .stop = stop,
    .command = command,
};
