/* libFuzzer target for plugin/package: any bytes are a package or a refusal with a reason,
 * never a crash or a read outside the input; what is accepted holds to the rules: names
 * valid and unique, sizes within the bounds, maubot.yaml and every module present. The
 * verifier runs over what was accepted, as `check` runs it. Seeds: corpus/package/ (small
 * packages of the fuzz ELF seed, stored and deflated). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/package.h"
#include "plugin/verify.h"
#include "util/macro.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const struct package *p)
{
    size_t total = 0;

    CHECK(p->n_entries <= PACKAGE_MAX_ENTRIES);
    for (size_t i = 0; i < p->n_entries; i++) {
        const struct package_entry *e = &p->entries[i];
        CHECK(package_name_is_valid(e->name));
        CHECK(package_find(p, e->name) == e); /* unique: the first of its name is itself */
        CHECK(e->directory == (e->data == NULL));
        total += e->len;
    }
    CHECK(total <= PACKAGE_MAX_TOTAL);
    CHECK(package_find(p, "maubot.yaml") != NULL);
    for (size_t i = 0; i < p->manifest.n_modules; i++)
        CHECK(package_find(p, p->manifest.modules[i]) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct package *p = NULL;
    char why[512] = "";
    int r = package_parse(data, size, &p, why, sizeof(why));

    if (r < 0) {
        CHECK(p == NULL);
        CHECK(why[0] != '\0' || r == -ENOMEM);
        return 0;
    }
    check_accepted(p);
    (void)plugin_verify_package(p, why, sizeof(why));
    package_free(p);
    return 0;
}
