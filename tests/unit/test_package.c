/* Tests for plugin/package.c, extract.c and pack.c: packages built here with libarchive's
 * writer (which, unlike our packer, will write whatever it is told: links, devices, names that
 * leave the package), read under every rule of the contract, extracted, and packed again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "plugin/package.h"
#include "plugin/verify.h"
#include "util/macro.h"

static char dir[] = "/tmp/test-package-XXXXXX";
static char build[PATH_MAX];

/* libarchive's writer, resolved at run time as the runner resolves its reader. */
#define LA_FN(name) __typeof__(&name) name
static struct {
    LA_FN(archive_write_new);
    LA_FN(archive_write_set_format_zip);
    LA_FN(archive_write_set_options);
    LA_FN(archive_write_open_filename);
    LA_FN(archive_write_header);
    LA_FN(archive_write_data);
    LA_FN(archive_write_close);
    LA_FN(archive_write_free);
    LA_FN(archive_error_string);
    LA_FN(archive_entry_new);
    LA_FN(archive_entry_free);
    LA_FN(archive_entry_set_pathname);
    LA_FN(archive_entry_set_filetype);
    LA_FN(archive_entry_set_perm);
    LA_FN(archive_entry_set_size);
    LA_FN(archive_entry_unset_size);
    LA_FN(archive_entry_set_symlink);
    LA_FN(archive_entry_set_hardlink);
} la;

static int load_writer(void)
{
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        *(void **)&la.name = h ? dlsym(h, #name) : NULL;                                           \
        if (!la.name)                                                                              \
            return -1;                                                                             \
    } while (0)
    RESOLVE(archive_write_new);
    RESOLVE(archive_write_set_format_zip);
    RESOLVE(archive_write_set_options);
    RESOLVE(archive_write_open_filename);
    RESOLVE(archive_write_header);
    RESOLVE(archive_write_data);
    RESOLVE(archive_write_close);
    RESOLVE(archive_write_free);
    RESOLVE(archive_error_string);
    RESOLVE(archive_entry_new);
    RESOLVE(archive_entry_free);
    RESOLVE(archive_entry_set_pathname);
    RESOLVE(archive_entry_set_filetype);
    RESOLVE(archive_entry_set_perm);
    RESOLVE(archive_entry_set_size);
    RESOLVE(archive_entry_unset_size);
    RESOLVE(archive_entry_set_symlink);
    RESOLVE(archive_entry_set_hardlink);
#undef RESOLVE
    return 0;
}

struct item {
    const char *name;
    const void *data;
    size_t len;
    unsigned type;     /* AE_IFREG when 0 */
    const char *link;  /* symlink or hardlink target */
    bool size_unknown; /* streamed: no size in the header */
};

static const char manifest[] = "id: test.pkg\nversion: 1.0.0\nmodules: [m.so]\nmain_class: Good\n";
#define MANIFEST {.name = "maubot.yaml", .data = manifest, .len = sizeof(manifest) - 1}

static const char *make_zip(const char *name, const struct item *items, size_t n)
{
    static char path[600];
    struct archive *a;

    snprintf(path, sizeof(path), "%s/%s.mbp", dir, name);
    a = la.archive_write_new();
    assert_non_null(a);
    assert_int_equal(la.archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(la.archive_write_set_options(a, "zip:compression=deflate"), ARCHIVE_OK);
    assert_int_equal(la.archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = la.archive_entry_new();
        unsigned type = items[i].type ? items[i].type : AE_IFREG;
        la.archive_entry_set_pathname(e, items[i].name);
        la.archive_entry_set_filetype(e, type);
        la.archive_entry_set_perm(e, 0644);
        if (type == AE_IFLNK)
            la.archive_entry_set_symlink(e, items[i].link);
        else if (items[i].link)
            la.archive_entry_set_hardlink(e, items[i].link);
        if (items[i].size_unknown)
            la.archive_entry_unset_size(e);
        else
            la.archive_entry_set_size(e, (la_int64_t)items[i].len);
        if (la.archive_write_header(a, e) < ARCHIVE_WARN)
            fail_msg("%s: %s", items[i].name, la.archive_error_string(a));
        if (items[i].len)
            assert_int_equal(la.archive_write_data(a, items[i].data, items[i].len),
                             (la_ssize_t)items[i].len);
        la.archive_entry_free(e);
    }
    assert_int_equal(la.archive_write_close(a), ARCHIVE_OK);
    la.archive_write_free(a);
    return path;
}

static struct package *open_ok(const char *path)
{
    struct package *p = NULL;
    char why[512] = "";

    if (package_open(path, &p, why, sizeof(why)) != 0)
        fail_msg("%s: %s", path, why);
    return p;
}

static void assert_refused(const char *path, int r, const char *words)
{
    struct package *p = (struct package *)&p;
    char why[512] = "";
    int got = package_open(path, &p, why, sizeof(why));

    if (r ? got != r : got >= 0)
        fail_msg("%s: got %d, expected %d (%s)", path, got, r, why);
    assert_ptr_equal(p, (struct package *)&p);
    if (!strstr(why, words))
        fail_msg("%s: \"%s\" lacks \"%s\"", path, why, words);
}

static uint8_t *read_all(const char *path, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    uint8_t *buf;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *ret_len = (size_t)st.st_size;
    return buf;
}

/* ---- Reading ------------------------------------------------------------------------------ */

static void test_a_packed_plugin_reads_and_verifies(void **state)
{
    _cleanup_(package_freep) struct package *p = NULL;
    char src[PATH_MAX + 32], out[PATH_MAX + 32], why[512] = "";
    (void)state;

    snprintf(src, sizeof(src), "%s/plugins/echo", build);
    snprintf(out, sizeof(out), "%s/echo.mbp", dir);
    if (package_pack(src, out, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    p = open_ok(out);
    assert_string_equal(p->manifest.id, "botrunner.echo");
    assert_string_equal(p->manifest.main_class, "EchoBot");
    assert_int_equal(strlen(p->sha256), PACKAGE_SHA256_HEX);
    assert_int_equal(strspn(p->sha256, "0123456789abcdef"), PACKAGE_SHA256_HEX);
    assert_int_equal(p->n_entries, 2);
    assert_non_null(package_find(p, "echo.so"));
    assert_int_equal(plugin_verify_package(p, why, sizeof(why)), 0);
}

static void test_pack_is_reproducible(void **state)
{
    _cleanup_free_ uint8_t *a = NULL, *b = NULL;
    char src[PATH_MAX + 32], out1[PATH_MAX + 32], out2[PATH_MAX + 32], cmd[8 * PATH_MAX];
    char why[512] = "";
    size_t la_len, lb_len;
    (void)state;

    snprintf(src, sizeof(src), "%s/copy", dir);
    snprintf(cmd, sizeof(cmd), "cp -r '%s/plugins/echo' '%s' && mkdir '%s/data' && "
             "echo extra > '%s/data/notes.txt' && echo hidden > '%s/.hidden'",
             build, src, src, src, src);
    assert_int_equal(system(cmd), 0);
    snprintf(out1, sizeof(out1), "%s/one.mbp", dir);
    snprintf(out2, sizeof(out2), "%s/two.mbp", dir);
    assert_int_equal(package_pack(src, out1, why, sizeof(why)), 0);
    /* Other times on every file: the bytes do not change. */
    snprintf(cmd, sizeof(cmd), "touch -d '2030-01-01 12:00' '%s'/* '%s'/data/*", src, src);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(package_pack(src, out2, why, sizeof(why)), 0);
    a = read_all(out1, &la_len);
    b = read_all(out2, &lb_len);
    assert_int_equal(la_len, lb_len);
    assert_memory_equal(a, b, la_len);
    {
        _cleanup_(package_freep) struct package *p = open_ok(out1);
        /* Extra files go in, sorted; hidden ones do not. */
        assert_int_equal(p->n_entries, 3);
        assert_string_equal(p->entries[0].name, "data/notes.txt");
        assert_string_equal(p->entries[1].name, "echo.so");
        assert_string_equal(p->entries[2].name, "maubot.yaml");
    }
}

static void test_pack_refuses_what_the_runner_would_not_take(void **state)
{
    char src[PATH_MAX + 32], out[PATH_MAX + 32], cmd[4 * PATH_MAX], why[512] = "";
    (void)state;

    snprintf(src, sizeof(src), "%s/nomodule", dir);
    snprintf(cmd, sizeof(cmd), "mkdir '%s' && printf 'id: a.b\\nversion: 1.0.0\\nmodules: [x.so]\\n"
             "main_class: X\\n' > '%s/maubot.yaml'", src, src);
    assert_int_equal(system(cmd), 0);
    snprintf(out, sizeof(out), "%s/nomodule.mbp", dir);
    assert_int_equal(package_pack(src, out, why, sizeof(why)), -ENOENT);
    assert_non_null(strstr(why, "module \"x.so\" is not in the package"));
    assert_int_equal(access(out, F_OK), -1);
}

static void test_names_that_leave_the_package(void **state)
{
    static const struct {
        const char *name;
        const char *words;
    } bad[] = {
            {"../evil.so", "could leave the package"},   {"a/../../evil", "could leave"},
            {"/etc/cron.d/evil", "an absolute path"},      {"a/./b", "could leave"},
            {"a//b", "could leave"},
            {"a\x01" "b", "could leave"},                    {"./maubot.yaml", "could leave"},
            {"1/2/3/4/5/6/7/8/9", "could leave"},
    };
    char name[64];
    (void)state;

    /* libarchive's reader turns a zip's backslashes into slashes; the rule holds anyway. */
    assert_false(package_name_is_valid("a\\b"));
    assert_false(package_name_is_valid(""));
    assert_false(package_name_is_valid("a\x7f"));
    assert_true(package_name_is_valid("share/deep/file.txt"));
    assert_true(package_name_is_valid("caf\xc3\xa9.txt"));
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        const struct item items[] = {MANIFEST, {.name = "m.so", .data = "x", .len = 1},
                                     {.name = bad[i].name, .data = "x", .len = 1}};
        snprintf(name, sizeof(name), "name%zu", i);
        assert_refused(make_zip(name, items, ELEMENTSOF(items)), -EBADMSG, bad[i].words);
    }
}

static void test_links_and_duplicates(void **state)
{
    const struct item symlink[] = {MANIFEST, {.name = "m.so", .type = AE_IFLNK, .link = "/etc/passwd"}};
    const struct item hardlink[] = {MANIFEST, {.name = "m.so", .data = "x", .len = 1},
                                    {.name = "n.so", .link = "m.so"}};
    const struct item twice[] = {MANIFEST, {.name = "m.so", .data = "x", .len = 1},
                                 {.name = "m.so", .data = "y", .len = 1}};
    (void)state;

    assert_refused(make_zip("symlink", symlink, ELEMENTSOF(symlink)), -EBADMSG, "symbolic link");
    /* The zip writer stores a hard link as its own entry or as a link: either is refused or
     * harmless (then it is a plain second file). */
    {
        struct package *p = NULL;
        char why[512] = "";
        int r = package_open(make_zip("hardlink", hardlink, ELEMENTSOF(hardlink)), &p, why,
                             sizeof(why));
        assert_true(r == 0 || (r == -EBADMSG && strstr(why, "link")));
        package_free(p);
    }
    /* libarchive's zip writer will not store a device or a FIFO: the end-to-end tests make
     * those zips by hand (tests/e2e/test_packages.py). */
    assert_refused(make_zip("twice", twice, ELEMENTSOF(twice)), -EBADMSG, "appears twice");
}

static void test_bounds(void **state)
{
    size_t bomb_len = 64u * 1024u * 1024u;
    _cleanup_free_ char *zeros = calloc(1, bomb_len);
    _cleanup_free_ struct item *many = calloc(PACKAGE_MAX_ENTRIES + 2, sizeof(*many));
    _cleanup_free_ char *names = malloc((PACKAGE_MAX_ENTRIES + 2) * 16);
    (void)state;

    assert_non_null(zeros);
    /* 64 MiB of zeros deflate about 1000:1: far past the ratio, declared or streamed. */
    {
        const struct item bomb[] = {MANIFEST, {.name = "m.so", .data = zeros, .len = bomb_len}};
        const struct item streamed[] = {
                MANIFEST, {.name = "m.so", .data = zeros, .len = bomb_len, .size_unknown = true}};
        assert_refused(make_zip("bomb", bomb, ELEMENTSOF(bomb)), -E2BIG, "expand");
        assert_refused(make_zip("bomb-streamed", streamed, ELEMENTSOF(streamed)), -E2BIG, "expand");
    }
    /* 1000 entries are read; one more is refused. */
    many[0] = (struct item)MANIFEST;
    many[1] = (struct item){.name = "m.so", .data = "x", .len = 1};
    for (size_t i = 2; i < PACKAGE_MAX_ENTRIES + 1; i++) {
        snprintf(names + i * 16, 16, "f%zu", i);
        many[i] = (struct item){.name = names + i * 16, .data = "x", .len = 1};
    }
    package_free(open_ok(make_zip("many-ok", many, PACKAGE_MAX_ENTRIES)));
    assert_refused(make_zip("many", many, PACKAGE_MAX_ENTRIES + 1), -E2BIG, "more than 1000 entries");
}

static void test_manifest_and_modules(void **state)
{
    static const char alias_bomb[] = "id: &a test.pkg\nversion: *a\n";
    const struct item nested[] = {{.name = "lib/maubot.yaml", .data = manifest, .len = sizeof(manifest) - 1}};
    const struct item no_module[] = {MANIFEST};
    const struct item dir_module[] = {MANIFEST, {.name = "m.so", .type = AE_IFDIR}};
    const struct item bombed[] = {{.name = "maubot.yaml", .data = alias_bomb, .len = sizeof(alias_bomb) - 1}};
    const struct item not_elf[] = {MANIFEST, {.name = "m.so", .data = "text, not ELF", .len = 13}};
    _cleanup_(package_freep) struct package *p = NULL;
    char why[512] = "";
    (void)state;

    assert_refused(make_zip("nested", nested, 1), -ENOENT, "no maubot.yaml at its top");
    assert_refused(make_zip("no-module", no_module, 1), -ENOENT, "module \"m.so\" is not in the package");
    assert_refused(make_zip("dir-module", dir_module, 2), -ENOENT, "module \"m.so\" is not in the package");
    assert_refused(make_zip("alias-bomb", bombed, 1), -EBADMSG, "aliases");
    /* Readable, but not loadable: that is the verifier's verdict. */
    p = open_ok(make_zip("not-elf", not_elf, 2));
    assert_int_equal(plugin_verify_package(p, why, sizeof(why)), -ENOEXEC);
    assert_non_null(strstr(why, "module \"m.so\": not an ELF file"));
}

static void test_garbage(void **state)
{
    static const char text[] = "this is not a zip archive\n\x01\x02\xff";
    const struct item items[] = {MANIFEST, {.name = "m.so", .data = "x", .len = 1}};
    _cleanup_free_ uint8_t *bytes = NULL;
    char path[700];
    size_t len;
    (void)state;

    snprintf(path, sizeof(path), "%s/garbage.mbp", dir);
    {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_int_equal(write(fd, text, sizeof(text)), (ssize_t)sizeof(text));
        close(fd);
    }
    assert_refused(path, -EBADMSG, "zip");
    assert_refused("/dev/null", -EBADMSG, "neither");
    bytes = read_all(make_zip("whole", items, ELEMENTSOF(items)), &len);
    /* Every prefix and a copy with bytes flipped: refused or read, never a crash. */
    for (size_t n = 0; n < len; n++) {
        struct package *p = NULL;
        char why[512];
        (void)package_parse(bytes, n, &p, why, sizeof(why));
        package_free(p);
    }
    for (size_t i = 30; i < len; i += 7) {
        struct package *p = NULL;
        char why[512];
        bytes[i] ^= 0x5a;
        (void)package_parse(bytes, len, &p, why, sizeof(why));
        package_free(p);
    }
}

/* ---- Extracting ---------------------------------------------------------------------------- */

static void test_extract_once_with_our_modes(void **state)
{
    static const char data[] = "some data\n";
    const struct item items[] = {MANIFEST, {.name = "m.so", .data = "x", .len = 1},
                                 {.name = "share/", .type = AE_IFDIR},
                                 {.name = "share/deep/file.txt", .data = data, .len = sizeof(data) - 1}};
    _cleanup_(package_freep) struct package *p = open_ok(make_zip("tree", items, ELEMENTSOF(items)));
    _cleanup_free_ char *out = NULL, *again = NULL;
    char packages[700], path[1200], why[512] = "";
    struct stat st, st2;
    (void)state;

    snprintf(packages, sizeof(packages), "%s/state/packages", dir);
    snprintf(path, sizeof(path), "%s/state", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    if (package_extract(p, packages, &out, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    snprintf(path, sizeof(path), "%s/%s", packages, p->sha256);
    assert_string_equal(out, path);
    assert_int_equal(lstat(out, &st), 0);
    assert_true(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    snprintf(path, sizeof(path), "%s/share/deep/file.txt", out);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0500);
    assert_int_equal(st.st_size, sizeof(data) - 1);
    snprintf(path, sizeof(path), "%s/share/deep", out);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(lstat(packages, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Once: the second call finds it and writes nothing. */
    snprintf(path, sizeof(path), "%s/m.so", out);
    assert_int_equal(lstat(path, &st), 0);
    assert_int_equal(package_extract(p, packages, &again, why, sizeof(why)), 0);
    assert_string_equal(again, out);
    assert_int_equal(lstat(path, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    /* No temporary directory is left behind. */
    {
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = '%s'", packages, p->sha256);
        assert_int_equal(system(cmd), 0);
    }
}

static int setup(void **state)
{
    (void)state;
    if (fixture_build_dir(build, sizeof(build)) < 0 || !mkdtemp(dir))
        return -1;
    return load_writer();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_a_packed_plugin_reads_and_verifies),
            cmocka_unit_test(test_pack_is_reproducible),
            cmocka_unit_test(test_pack_refuses_what_the_runner_would_not_take),
            cmocka_unit_test(test_names_that_leave_the_package),
            cmocka_unit_test(test_links_and_duplicates),
            cmocka_unit_test(test_bounds),
            cmocka_unit_test(test_manifest_and_modules),
            cmocka_unit_test(test_garbage),
            cmocka_unit_test(test_extract_once_with_our_modes),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
