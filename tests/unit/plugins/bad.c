/* A test fixture for test_plugin_host: one shared object exporting descriptors that are each
 * wrong in one way (and one right one, to show the others fail for their fault alone). All
 * claim id test.bad, version 1.0.0. */
#include <botrunner/plugin.h>

#include <stddef.h>

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

#define DESCRIPTOR(abi, sz, id_, version_, start_, command_)                                       \
    {                                                                                              \
        .abi_version = (abi), .size = (sz), .id = (id_), .version = (version_), .start = (start_), \
        .stop = stop, .command = (command_),                                                       \
    }
#define SIZE sizeof(struct br_plugin)
#define V    BR_ABI_VERSION

BR_PLUGIN(Good) = DESCRIPTOR(V, SIZE, "test.bad", "1.0.0", start, command);
BR_PLUGIN(WrongAbi) = DESCRIPTOR(V + 1, SIZE, "test.bad", "1.0.0", start, command);
/* A plugin of ABI 1, whose descriptor ended at config (no migrations). */
BR_PLUGIN(AbiOne) = DESCRIPTOR(1, offsetof(struct br_plugin, migrations), "test.bad", "1.0.0", start,
                               command);
BR_PLUGIN(TooSmall) = DESCRIPTOR(V, offsetof(struct br_plugin, start), "test.bad", "1.0.0", start,
                                 command);
BR_PLUGIN(NoId) = DESCRIPTOR(V, SIZE, NULL, "1.0.0", start, command);
BR_PLUGIN(OtherId) = DESCRIPTOR(V, SIZE, "test.other", "1.0.0", start, command);
BR_PLUGIN(OtherVersion) = DESCRIPTOR(V, SIZE, "test.bad", "1.0.1", start, command);
BR_PLUGIN(NoStart) = DESCRIPTOR(V, SIZE, "test.bad", "1.0.0", NULL, command);
BR_PLUGIN(NoCommand) = DESCRIPTOR(V, SIZE, "test.bad", "1.0.0", start, NULL);
/* Defined, but not exported: -fvisibility=hidden keeps it out of the dynamic symbols. */
const struct br_plugin Hidden = DESCRIPTOR(V, SIZE, "test.bad", "1.0.0", start, command);
/* A function where a descriptor should be: `check` must say so without calling it. */
__attribute__((visibility("default"))) int AFunction(void)
{
    return 0;
}
/* The id through an exported string: a pointer the loader fills from a symbol (R_*_64 with
 * a symbol on x86-64) rather than from the module's base address. */
__attribute__((visibility("default"))) const char exported_id[] = "test.bad";
BR_PLUGIN(ExportedId) = DESCRIPTOR(V, SIZE, exported_id, "1.0.0", start, command);
