/* Tests for config/diag.c: the output format of every problem line, ordering by line,
 * the bound on collected items, and key paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"

/* Print the list into memory and return it (caller frees). */
static char *printed(const struct diag_list *l)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    diag_print(l, f);
    fclose(f);
    return buf;
}

static void test_format_and_order(void **state)
{
    (void)state;
    struct diag_list l = {0};
    char *out;

    diag_error(&l, 12, "instances[0].user", "%s is bad", "\"@Bot:x\"");
    diag_warning(&l, 3, "status", "odd");
    diag_error(&l, 0, "", "the file is empty");
    diag_error(&l, 12, "instances[0].id", "second on line 12");
    assert_int_equal(l.n_errors, 3);
    assert_int_equal(l.n_warnings, 1);
    out = printed(&l);
    /* Unknown line (0) first, then by line; equal lines keep the order they were found. */
    assert_string_equal(out, "the file is empty\n"
                             "status: warning: odd (line 3)\n"
                             "instances[0].user: \"@Bot:x\" is bad (line 12)\n"
                             "instances[0].id: second on line 12 (line 12)\n");
    free(out);
    diag_list_done(&l);
    assert_int_equal(l.n, 0);
}

static void test_bounded(void **state)
{
    (void)state;
    struct diag_list l = {0};
    char *out;

    for (unsigned i = 0; i < DIAG_MAX_ITEMS + 7; i++)
        diag_error(&l, i + 1, "k", "problem %u", i);
    assert_int_equal(l.n, DIAG_MAX_ITEMS);
    assert_int_equal(l.n_errors, DIAG_MAX_ITEMS + 7);
    assert_int_equal(l.n_dropped, 7);
    out = printed(&l);
    assert_non_null(strstr(out, "... and 7 more problems not shown\n"));
    free(out);
    diag_list_done(&l);
}

static void test_paths(void **state)
{
    (void)state;
    struct diag_path p = {0};
    size_t a = diag_path_push_key(&p, "instances");
    size_t b = diag_path_push_index(&p, 3);
    size_t c = diag_path_push_key(&p, "rate_limit");

    assert_string_equal(p.buf, "instances[3].rate_limit");
    diag_path_pop(&p, c);
    assert_string_equal(p.buf, "instances[3]");
    diag_path_pop(&p, b);
    diag_path_pop(&p, a);
    assert_string_equal(p.buf, "");
}

static void test_path_overflow_is_truncated_not_overrun(void **state)
{
    (void)state;
    struct diag_path p = {0};
    char key[100];

    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    for (int i = 0; i < 10; i++)
        diag_path_push_key(&p, key);
    assert_true(p.len < DIAG_PATH_MAX);
    assert_int_equal(strlen(p.buf), p.len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_order),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_path_overflow_is_truncated_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
