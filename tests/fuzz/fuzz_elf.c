/* libFuzzer target for plugin/elf: any bytes are refused or read, never read outside; what is
 * read is consistent: a descriptor's strings lie inside the image and end inside it.
 *
 * The seed (corpus/elf/descriptor.so) is a 2 KiB shared object exporting a descriptor
 * "Seed" (id test.seed), linked small for the fuzzer (not loadable by dlopen):
 *   cc -Irunner/include -shared -fPIC -fvisibility=hidden -nostdlib -O2 -s
 *      -Wl,-z,noseparate-code -Wl,-z,max-page-size=16 -Wl,-z,norelro -Wl,--build-id=none
 *      -o descriptor.so seed.c   (seed.c: BR_PLUGIN(Seed) = {...} with start, stop, command) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin/elf.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const uint8_t *image, size_t size, const char *s)
{
    if (!s)
        return;
    CHECK((const uint8_t *)s >= image && (const uint8_t *)s < image + size);
    CHECK(memchr(s, '\0', size - (size_t)((const uint8_t *)s - image)));
    CHECK(strlen(s) < DESCRIPTOR_STRING_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const symbols[] = {"Seed", "EchoBot", ""};
    struct descriptor_facts d;
    char why[256];
    /* An exact copy, so that ASan sees a read one byte past the input. */
    uint8_t *image = malloc(size ? size : 1);
    int r;

    CHECK(image);
    memcpy(image, data, size);
    why[0] = '\0';
    r = elf_check_image(image, size, why, sizeof(why));
    CHECK(r == 0 || r == -ENOEXEC || r == -EBADMSG || r == -EXDEV);
    CHECK(r == 0 || why[0]);
    for (size_t i = 0; r == 0 && i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        int q = elf_read_descriptor(image, size, symbols[i], &d, why, sizeof(why));
        CHECK(q == 0 || q == -ENOENT || q == -EBADMSG);
        if (q == 0) {
            check_string(image, size, d.id);
            check_string(image, size, d.version);
        }
    }
    free(image);
    return 0;
}
