/* Unit tests for matrix/curl_dl and supervisor/mhd_dl: neither library is mapped before its
 * first use, the tables hold the right functions, and a missing or foreign library is refused
 * with -EOPNOTSUPP and a message naming it, by the loaders and by the code that uses them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture_dirs.h"
#include "cli/status.h"
#include "matrix/curl_dl.h"
#include "matrix/http.h"
#include "supervisor/mhd_dl.h"
#include "supervisor/status_http.h"

/* Output kept from a child run: its log lines and one reason are a few hundred bytes. */
#define CHILD_OUTPUT_MAX 8192

static char dir[] = "/tmp/test-lib-dl-XXXXXX";
/* $(BUILD): this binary is $(BUILD)/tests/test_lib_dl. */
static char build[PATH_MAX];

/* ---- Fixtures ----------------------------------------------------------------------------- */

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

/* A directory for LD_LIBRARY_PATH where both sonames are empty files (the dynamic loader
 * finds them first and fails: "file too short"), or links to the echo plugin (a shared
 * object that loads but has none of the symbols). Returns its path (static buffer). */
static const char *fake_lib_dir(const char *name, bool foreign)
{
    static const char *const sonames[] = {CURL_DL_SONAME, MHD_DL_SONAME};
    static char path[PATH_MAX];
    char file[PATH_MAX + 64], target[PATH_MAX + 32];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (mkdir(path, 0755) < 0 && errno == EEXIST)
        return path;
    snprintf(target, sizeof(target), "%s/plugins/echo/echo.so", build);
    for (size_t i = 0; i < sizeof(sonames) / sizeof(sonames[0]); i++) {
        snprintf(file, sizeof(file), "%s/%s", path, sonames[i]);
        if (foreign) {
            assert_int_equal(symlink(target, file), 0);
        } else {
            int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

            assert_true(fd >= 0);
            close(fd);
        }
    }
    return path;
}

/* Run this binary as a child in mode `mode` (see child_main()) with LD_LIBRARY_PATH=libdir;
 * returns its exit status, its stdout and stderr together in out. */
static int run_child(const char *mode, const char *libdir, char *out, size_t cap)
{
    int fds[2], status = 0;
    size_t len = 0;
    ssize_t n;
    pid_t pid;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char arg[64];

        snprintf(arg, sizeof(arg), "--child=%s", mode);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        setenv("LD_LIBRARY_PATH", libdir, 1);
        execl("/proc/self/exe", "test_lib_dl", arg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* ---- In this process ---------------------------------------------------------------------- */

/* The point of the loaders: the binary links neither library (the Makefile's LDLIBS, which
 * this test is linked with, does not name them), so a process that never speaks HTTP never
 * maps them. Runs first, before any test loads them. */
static void test_not_mapped_until_first_use(void **state)
{
    (void)state;
    assert_null(dlopen(CURL_DL_SONAME, RTLD_LAZY | RTLD_NOLOAD));
    assert_null(dlopen(MHD_DL_SONAME, RTLD_LAZY | RTLD_NOLOAD));
}

/* Each slot holds the function it is named for: a swapped or shifted slot would answer
 * these with another function's result (or crash). */
static void test_curl_table(void **state)
{
    const struct curl_dl *c, *again;
    struct curl_slist *l;
    CURLM *m;
    CURL *e;
    long code = -1;
    void *handle;
    (void)state;

    assert_int_equal(curl_dl_load(&c), 0);
    assert_int_equal(curl_dl_load(&again), 0);
    assert_ptr_equal(c, again);
    handle = dlopen(CURL_DL_SONAME, RTLD_LAZY | RTLD_NOLOAD);
    assert_non_null(handle);
    dlclose(handle);

    assert_string_equal(c->easy_strerror(CURLE_COULDNT_CONNECT), "Couldn't connect to server");
    /* RFC 9110's example HTTP-date. */
    assert_int_equal(c->getdate("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 784111777);
    e = c->easy_init();
    assert_non_null(e);
    assert_int_equal(c->easy_setopt(e, CURLOPT_URL, "http://127.0.0.1:9/"), CURLE_OK);
    assert_int_equal(c->easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L), CURLE_OK);
    assert_int_equal(c->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
    assert_int_equal(code, 0);
    l = c->slist_append(NULL, "Expect:");
    assert_non_null(l);
    assert_string_equal(l->data, "Expect:");
    c->slist_free_all(l);
    m = c->multi_init();
    assert_non_null(m);
    assert_int_equal(c->multi_setopt(m, CURLMOPT_MAXCONNECTS, 4L), CURLM_OK);
    assert_int_equal(c->multi_add_handle(m, e), CURLM_OK);
    assert_int_equal(c->multi_remove_handle(m, e), CURLM_OK);
    assert_int_equal(c->multi_cleanup(m), CURLM_OK);
    c->easy_cleanup(e);
}

static void test_mhd_table(void **state)
{
    const struct mhd_dl *m, *again;
    struct MHD_Response *resp;
    static char body[] = "ok";
    (void)state;

    assert_int_equal(mhd_dl_load(&m), 0);
    assert_int_equal(mhd_dl_load(&again), 0);
    assert_ptr_equal(m, again);
    assert_int_equal(m->is_feature_supported(MHD_FEATURE_POLL), MHD_YES);
    resp = m->create_response_from_buffer(sizeof(body) - 1, body, MHD_RESPMEM_PERSISTENT);
    assert_non_null(resp);
    assert_int_equal(m->add_response_header(resp, "Content-Type", "text/plain"), MHD_YES);
    /* A header with a line break is refused, not written into the response. */
    assert_int_equal(m->add_response_header(resp, "X-Bad", "a\r\nb"), MHD_NO);
    m->destroy_response(resp);
}

/* ---- In a child with a fake library first on the search path ---------------------------- */

static void test_missing_library_refused(void **state)
{
    const char *libs = fake_lib_dir("empty", false);
    char out[CHILD_OUTPUT_MAX];
    (void)state;

    assert_int_equal(run_child("curl", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_non_null(strstr(out, "Cannot load " CURL_DL_SONAME));
    assert_non_null(strstr(out, "file too short"));
    assert_int_equal(run_child("mhd", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_non_null(strstr(out, "Cannot load " MHD_DL_SONAME));
    assert_non_null(strstr(out, "file too short"));
}

static void test_foreign_library_refused(void **state)
{
    const char *libs = fake_lib_dir("foreign", true);
    char out[CHILD_OUTPUT_MAX];
    (void)state;

    assert_int_equal(run_child("curl", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_non_null(strstr(out, "Cannot use " CURL_DL_SONAME ": it lacks curl_"));
    assert_int_equal(run_child("mhd", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_non_null(strstr(out, "Cannot use " MHD_DL_SONAME ": it lacks MHD_"));
}

/* The users of the tables fail cleanly too: no call through a NULL slot, the errno passed
 * up, and the status command's reason naming the library. */
static void test_users_report_missing_library(void **state)
{
    const char *libs = fake_lib_dir("empty", false);
    char out[CHILD_OUTPUT_MAX];
    (void)state;

    assert_int_equal(run_child("http_new", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_int_equal(run_child("status_fetch", libs, out, sizeof(out)), EOPNOTSUPP);
    assert_non_null(strstr(out, "reason: cannot reach http://127.0.0.1:9/status: " CURL_DL_SONAME
                                " cannot be loaded"));
    assert_int_equal(run_child("status_http", libs, out, sizeof(out)), EOPNOTSUPP);
}

/* ---- The child side ----------------------------------------------------------------------- */

/* Exits with the errno of the call named by mode (0 on success). A failed load is cached:
 * the second call must answer the same without trying again (1 if it does not). */
static int child_main(const char *mode)
{
    char reason[512] = "", *body = NULL;
    size_t len = 0;
    int r, again;

    if (strcmp(mode, "curl") == 0) {
        const struct curl_dl *c;

        r = curl_dl_load(&c);
        again = curl_dl_load(&c);
    } else if (strcmp(mode, "mhd") == 0) {
        const struct mhd_dl *m;

        r = mhd_dl_load(&m);
        again = mhd_dl_load(&m);
    } else if (strcmp(mode, "http_new") == 0) {
        sd_event *event = NULL;
        struct http *h = NULL;

        if (sd_event_new(&event) < 0)
            return 2;
        r = again = http_new(event, &h);
        http_free(h);
        sd_event_unref(event);
    } else if (strcmp(mode, "status_fetch") == 0) {
        r = again = status_fetch("http://127.0.0.1:9", &body, &len, reason, sizeof(reason));
        printf("reason: %s\n", reason);
        free(r == 0 ? body : NULL);
    } else if (strcmp(mode, "status_http") == 0) {
        struct status_http *s = NULL;

        r = again = status_http_start("127.0.0.1", 0, &s);
        status_http_stop(s);
    } else
        return 2;
    fflush(stdout);
    return r != again ? 1 : -r;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_not_mapped_until_first_use),
            cmocka_unit_test(test_curl_table),
            cmocka_unit_test(test_mhd_table),
            cmocka_unit_test(test_missing_library_refused),
            cmocka_unit_test(test_foreign_library_refused),
            cmocka_unit_test(test_users_report_missing_library),
    };

    if (argc == 2 && strncmp(argv[1], "--child=", 8) == 0)
        return child_main(argv[1] + 8);
    return cmocka_run_group_tests(tests, setup, teardown);
}
