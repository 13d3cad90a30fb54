/* Tests for plugin/verify.c and plugin/elf.c: `check` proves a plugin loadable by reading its
 * modules. Each broken descriptor of the fixture bad.so gets the verdict dlopen+dlsym give
 * (plugin/host.c), a missing or foreign module is named, and damaged ELF images of every
 * kind are refused without a read outside them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "plugin/elf.h"
#include "plugin/host.h"
#include "plugin/manifest.h"
#include "plugin/verify.h"
#include "util/macro.h"

static char dir[] = "/tmp/test-verify-XXXXXX";
static char build[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    if (fixture_build_dir(build, sizeof(build)) < 0)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_rmtree(dir);
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* A plugin directory holding maubot.yaml and, as bad.so, a symlink to the fixture (as Nix's
 * plugin directories link into the store). */
static const char *plugin_dir(const char *name, const char *manifest)
{
    static char path[PATH_MAX];
    char file[PATH_MAX + 32], target[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(file, sizeof(file), "%s/maubot.yaml", path);
    write_file(file, manifest, strlen(manifest));
    snprintf(file, sizeof(file), "%s/bad.so", path);
    snprintf(target, sizeof(target), "%s/tests/plugins/bad.so", build);
    assert_int_equal(symlink(target, file), 0);
    return path;
}

static const char *manifest_for(const char *cls)
{
    static char text[256];

    snprintf(text, sizeof(text), "id: test.bad\nversion: 1.0.0\nmodules: [bad.so]\nmain_class: %s\n",
             cls);
    return text;
}

/* manifest_read + plugin_verify_directory, as `check` runs them. */
static int verify(const char *path, char *why, size_t cap)
{
    _cleanup_(manifest_done) struct manifest m = {0};
    int r = manifest_read(path, &m, why, cap);

    return r < 0 ? r : plugin_verify_directory(path, &m, why, cap);
}

static void assert_verdict(const char *path, int want, const char *words)
{
    char why[512] = "";
    int r = verify(path, why, sizeof(why));

    if (r != want)
        fail_msg("%s: got %d, expected %d (%s)", path, r, want, why);
    if (words && !strstr(why, words))
        fail_msg("%s: \"%s\" lacks \"%s\"", path, why, words);
}

/* ---- The descriptor, read from the file ------------------------------------------------- */

static void test_real_plugins_verify(void **state)
{
    char path[PATH_MAX + 32];
    (void)state;

    snprintf(path, sizeof(path), "%s/plugins/echo", build);
    assert_verdict(path, 0, NULL);
    assert_verdict("tests/configs/plugins/instagram", 0, NULL);
    /* Found through a symbol relocation, not a relative one. */
    assert_verdict(plugin_dir("exported-id", manifest_for("ExportedId")), 0, NULL);
}

/* Every descriptor of bad.so: what check says from the file is what the host says after
 * dlopen, the same error and the same sentence. */
static void test_static_verdict_equals_the_loaders(void **state)
{
    static const struct {
        const char *cls;
        int r;
        const char *words;
    } cases[] = {
            {"Good", 0, NULL},
            {"WrongAbi", -EPROTO, "built for plugin ABI 3, the runner has 2: it needs a newer runner"},
            {"AbiOne", -EPROTO, "built for plugin ABI 1, the runner has 2: rebuild it against this "
                                "runner's plugin.h"},
            {"TooSmall", -EBADMSG, "smaller than"},
            {"NoId", -EBADMSG, "says id (none)"},
            {"OtherId", -EBADMSG, "says id \"test.other\", maubot.yaml says test.bad"},
            {"OtherVersion", -EBADMSG, "says version \"1.0.1\""},
            {"NoStart", -EBADMSG, "lacks one of start, stop, command"},
            {"NoCommand", -EBADMSG, "lacks one of start, stop, command"},
            {"ExportedId", 0, NULL},
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        const char *d = plugin_dir(cases[i].cls, manifest_for(cases[i].cls));
        struct plugin_host *h = NULL;
        char why[512] = "";
        int loaded = plugin_host_load(d, &h, why, sizeof(why));

        plugin_host_free(h);
        assert_int_equal(loaded, cases[i].r);
        assert_verdict(d, cases[i].r, cases[i].words);
    }
}

static void test_refuses_what_dlsym_would_not_find(void **state)
{
    (void)state;
    assert_verdict(plugin_dir("hidden", manifest_for("Hidden")), -EBADMSG,
                   "main_class Hidden is not exported by its module");
    assert_verdict(plugin_dir("absent", manifest_for("Absent")), -EBADMSG,
                   "main_class Absent is not exported");
    assert_verdict(plugin_dir("function", manifest_for("AFunction")), -EBADMSG,
                   "AFunction is a function, not a plugin descriptor");
}

/* ---- The modules ---------------------------------------------------------------------------- */

static void test_names_a_missing_module(void **state)
{
    (void)state;
    /* The bug this guards against: check accepted a maubot.yaml naming a file not there. */
    assert_verdict(plugin_dir("missing", "id: sna.instagram\nversion: 1.0.0\n"
                                         "modules: [instagram.so]\nmain_class: InstagramBot\n"),
                   -ENOENT, "module \"instagram.so\" does not exist");
    /* Every module must be there, even after main_class was found in an earlier one. */
    assert_verdict(plugin_dir("second-missing", "id: test.bad\nversion: 1.0.0\n"
                                                "modules: [bad.so, helper.so]\nmain_class: Good\n"),
                   -ENOENT, "module \"helper.so\" does not exist");
}

static void test_refuses_modules_that_are_not_shared_objects(void **state)
{
    char path[PATH_MAX + 32];
    const char *d;
    (void)state;

    d = plugin_dir("text", "id: test.bad\nversion: 1.0.0\nmodules: [x.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/x.so", d);
    write_file(path, "not an ELF file\n", 16);
    assert_verdict(d, -ENOEXEC, "module \"x.so\": not an ELF file");

    d = plugin_dir("empty", "id: test.bad\nversion: 1.0.0\nmodules: [x.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/x.so", d);
    write_file(path, "", 0);
    assert_verdict(d, -ENOEXEC, "module \"x.so\" is empty");

    d = plugin_dir("program", "id: test.bad\nversion: 1.0.0\nmodules: [x.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/x.so", d);
    assert_int_equal(symlink("/proc/self/exe", path), 0);
    assert_verdict(d, -EBADMSG, "an executable program, not a shared object");

    d = plugin_dir("subdir", "id: test.bad\nversion: 1.0.0\nmodules: [x.so]\nmain_class: Good\n");
    snprintf(path, sizeof(path), "%s/x.so", d);
    assert_int_equal(mkdir(path, 0755), 0);
    assert_verdict(d, -EBADFD, "module \"x.so\" is not a regular file");
}

/* ---- Damaged and foreign images ------------------------------------------------------------ */

static uint8_t *read_fixture(size_t *ret_len)
{
    char path[PATH_MAX + 32];
    const uint8_t *image;
    uint8_t *copy;
    size_t len;

    snprintf(path, sizeof(path), "%s/tests/plugins/bad.so", build);
    assert_int_equal(elf_map_file(path, &image, &len), 0);
    copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, image, len);
    elf_unmap(image, len);
    *ret_len = len;
    return copy;
}

static void test_refuses_another_architecture(void **state)
{
    _cleanup_free_ uint8_t *img = NULL;
    ElfW(Ehdr) *eh;
    char why[256];
    size_t len;
    (void)state;

    img = read_fixture(&len);
    eh = (ElfW(Ehdr) *)img;
    eh->e_machine = eh->e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
    assert_int_equal(elf_check_image(img, len, why, sizeof(why)), -EXDEV);
    assert_non_null(strstr(why, eh->e_machine == EM_AARCH64 ? "an ELF file for AArch64, not"
                                                            : "an ELF file for x86-64, not"));
    eh->e_machine = 0x1234;
    assert_int_equal(elf_check_image(img, len, why, sizeof(why)), -EXDEV);
    assert_non_null(strstr(why, "machine 4660"));

    free(img);
    img = read_fixture(&len);
    img[EI_CLASS] = img[EI_CLASS] == ELFCLASS64 ? ELFCLASS32 : ELFCLASS64;
    assert_int_equal(elf_check_image(img, len, why, sizeof(why)), -EXDEV);
    assert_non_null(strstr(why, "another architecture"));
}

static void test_refuses_other_kinds_of_elf(void **state)
{
    _cleanup_free_ uint8_t *img = NULL;
    char why[256];
    size_t len;
    (void)state;

    img = read_fixture(&len);
    ((ElfW(Ehdr) *)img)->e_type = ET_REL;
    assert_int_equal(elf_check_image(img, len, why, sizeof(why)), -EBADMSG);
    assert_non_null(strstr(why, "not a shared object"));
}

/* Every prefix of a real module: an error (or, for the whole file, success), never a read
 * past the bytes given (ASan watches, the copy is exactly that long). */
static void test_truncated_images(void **state)
{
    _cleanup_free_ uint8_t *img = NULL;
    struct descriptor_facts d;
    char why[256];
    size_t len;
    (void)state;

    img = read_fixture(&len);
    for (size_t n = 0; n < len; n += n < 4096 ? 1 : 61) {
        uint8_t *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, img, n);
        if (elf_check_image(cut, n, why, sizeof(why)) >= 0)
            (void)elf_read_descriptor(cut, n, "Good", &d, why, sizeof(why));
        free(cut);
    }
    assert_int_equal(elf_check_image(img, len, why, sizeof(why)), 0);
    assert_int_equal(elf_read_descriptor(img, len, "Good", &d, why, sizeof(why)), 0);
    assert_string_equal(d.id, "test.bad");
}

/* Flipped bytes in the headers and tables: whatever the verdict, no crash and no read out
 * of bounds; a deterministic generator, so a failure repeats. */
static void test_corrupted_images(void **state)
{
    _cleanup_free_ uint8_t *orig = NULL;
    struct descriptor_facts d;
    uint32_t x = 2463534242u;
    char why[256];
    size_t len;
    (void)state;

    orig = read_fixture(&len);
    for (int round = 0; round < 3000; round++) {
        uint8_t *img = malloc(len);
        assert_non_null(img);
        memcpy(img, orig, len);
        for (int k = 0; k < 1 + round % 8; k++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            /* Mostly the first 4 KiB (headers, dynsym) and the section table at the end. */
            size_t at = (k & 1) ? x % (len < 4096 ? len : 4096) : len - 1 - x % (len < 2048 ? len : 2048);
            img[at] = (uint8_t)(x >> 8);
        }
        if (elf_check_image(img, len, why, sizeof(why)) >= 0)
            (void)elf_read_descriptor(img, len, "Good", &d, why, sizeof(why));
        free(img);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_real_plugins_verify),
            cmocka_unit_test(test_static_verdict_equals_the_loaders),
            cmocka_unit_test(test_refuses_what_dlsym_would_not_find),
            cmocka_unit_test(test_names_a_missing_module),
            cmocka_unit_test(test_refuses_modules_that_are_not_shared_objects),
            cmocka_unit_test(test_refuses_another_architecture),
            cmocka_unit_test(test_refuses_other_kinds_of_elf),
            cmocka_unit_test(test_truncated_images),
            cmocka_unit_test(test_corrupted_images),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
