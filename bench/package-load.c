/* Benchmark a package's way to a running plugin, step by step, as the supervisor and the
 * worker take it: read and check the .mbp (package_open), prove its modules
 * (plugin_verify_package), extract it (package_extract, into a fresh directory each run),
 * dlopen it (plugin_host_load). Medians over N runs, in microseconds; asserts nothing.
 *
 * usage: build/bench/package-load PACKAGE.mbp [RUNS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plugin/host.h"
#include "plugin/package.h"
#include "plugin/verify.h"
#include "util/fs.h"

#define STEPS 4

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const char *const names[STEPS] = {"read and check (package_open)",
                                             "prove the modules (verify)",
                                             "extract (package_extract)", "dlopen (host_load)"};
    int runs = argc > 2 ? atoi(argv[2]) : 51;
    double *t[STEPS];
    char tmp[] = "/tmp/bench-package-XXXXXX", why[512];

    if (argc < 2 || runs <= 0 || !mkdtemp(tmp)) {
        fprintf(stderr, "usage: %s PACKAGE.mbp [RUNS]\n", argv[0]);
        return 2;
    }
    for (int s = 0; s < STEPS; s++)
        t[s] = calloc((size_t)runs, sizeof(double));
    for (int i = 0; i < runs; i++) {
        struct package *p = NULL;
        struct plugin_host *h = NULL;
        char packages[600], *dir = NULL;
        double t0 = now_us(), t1, t2, t3, t4;

        if (package_open(argv[1], &p, why, sizeof(why)) < 0)
            return fprintf(stderr, "%s: %s\n", argv[1], why), 1;
        t1 = now_us();
        if (plugin_verify_package(p, why, sizeof(why)) < 0)
            return fprintf(stderr, "%s: %s\n", argv[1], why), 1;
        t2 = now_us();
        snprintf(packages, sizeof(packages), "%s/run-%d/packages", tmp, i);
        if (package_extract(p, packages, &dir, why, sizeof(why)) < 0)
            return fprintf(stderr, "extract: %s\n", why), 1;
        t3 = now_us();
        if (plugin_host_load(dir, &h, why, sizeof(why)) < 0)
            return fprintf(stderr, "load: %s\n", why), 1;
        t4 = now_us();
        t[0][i] = t1 - t0, t[1][i] = t2 - t1, t[2][i] = t3 - t2, t[3][i] = t4 - t3;
        plugin_host_free(h);
        free(dir);
        package_free(p);
    }
    printf("%s: %d runs, medians in µs (p90)\n", argv[1], runs);
    for (int s = 0; s < STEPS; s++) {
        qsort(t[s], (size_t)runs, sizeof(double), by_value);
        printf("  %-32s %9.1f  (%.1f)\n", names[s], t[s][runs / 2], t[s][runs * 9 / 10]);
        free(t[s]);
    }
    fs_remove_tree(tmp);
    return 0;
}
