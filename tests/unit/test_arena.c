/* Tests for util/arena.c: alignment, copies, large allocations beside small ones, and
 * that everything is released (ASan's leak checker sees it in `make unit-asan`). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "util/arena.h"

static void test_alignment_and_reuse(void **state)
{
    (void)state;
    struct arena a = {0};
    char *prev = NULL;

    for (int i = 1; i < 200; i++) {
        char *p = arena_alloc(&a, (size_t)i % 13);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % sizeof(void *), 0);
        if (prev)
            assert_true(p != prev);
        memset(p, 0xab, (size_t)i % 13); /* ASan would flag an overlap or overrun */
        prev = p;
    }
    /* 200 small allocations fit one chunk. */
    assert_true(a.total < 2 * ARENA_CHUNK_SIZE);
    arena_done(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
}

static void test_large_allocation_keeps_current_chunk(void **state)
{
    (void)state;
    struct arena a = {0};
    char *small1 = arena_alloc(&a, 16);
    char *big = arena_alloc(&a, 3 * ARENA_CHUNK_SIZE);
    char *small2 = arena_alloc(&a, 16);

    assert_non_null(small1);
    assert_non_null(big);
    assert_non_null(small2);
    memset(big, 1, 3 * ARENA_CHUNK_SIZE);
    /* The small ones share the first chunk: the big one did not take its place. */
    assert_true(small2 > small1 && small2 - small1 < 64);
    arena_done(&a);
}

static void test_copies(void **state)
{
    (void)state;
    struct arena a = {0};
    const int src[] = {1, 2, 3, 4};
    char *s = arena_strndup(&a, "hello world", 5);
    int *v = arena_memdup(&a, src, 4, sizeof(int));
    void *empty = arena_memdup(&a, NULL, 0, sizeof(int));

    assert_string_equal(s, "hello");
    assert_memory_equal(v, src, sizeof(src));
    assert_non_null(empty);
    arena_done(&a);
}

static void test_refuses_absurd_sizes(void **state)
{
    (void)state;
    struct arena a = {0};

    assert_null(arena_alloc(&a, SIZE_MAX));
    assert_null(arena_memdup(&a, "x", SIZE_MAX / 2, 2));
    assert_int_equal(a.total, 0);
    arena_done(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_reuse),
        cmocka_unit_test(test_large_allocation_keeps_current_chunk),
        cmocka_unit_test(test_copies),
        cmocka_unit_test(test_refuses_absurd_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
