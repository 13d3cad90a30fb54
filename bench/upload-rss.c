/* Benchmark: the memory an upload costs the worker's Matrix client. One mx_upload() of a file
 * on an sd-event loop, as a plugin's upload runs in the worker; prints the peak RSS growth
 * (VmHWM, reset before the upload) and the time. bench/upload-rss.py starts Synapse for it.
 *
 * usage: BENCH_HS_URL=http://127.0.0.1:PORT BENCH_TOKEN=TOKEN upload-rss FILE
 * Figures are printed, never asserted; the exit status is 0 only when the upload succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "matrix/client.h"
#include "util/json.h"
#include "util/macro.h"

/* The whole upload, from the first byte to the answer: a 50 MB file to a homeserver on the
 * same machine takes seconds; ten minutes is a hang. */
#define UPLOAD_TIMEOUT_US (600ull * 1000000ull)

struct upload {
    sd_event *event;
    int result;
    char *content_uri;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A "Field: N kB" line of /proc/self/status (VmRSS, VmHWM), in KiB; -1 when missing. */
static long status_kib(const char *field)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
    size_t len = strlen(field);
    char line[256];
    long kib;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, len) == 0 && line[len] == ':' &&
            sscanf(line + len + 1, "%ld", &kib) == 1)
            return kib;
    return -1;
}

/* "5" resets VmHWM to the current RSS (proc(5), /proc/pid/clear_refs), so the peak read
 * after the upload is the upload's own. */
static int reset_peak(void)
{
    _cleanup_close_ int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    return write(fd, "5", 1) == 1 ? 0 : -errno;
}

static void on_uploaded(int r, const struct mx_result *res, void *userdata)
{
    struct upload *u = userdata;

    if (r >= 0 &&
        (!res->doc || json_get_string(res->doc, res->root, "content_uri", &u->content_uri) < 0))
        r = -EBADMSG;
    if (r < 0)
        fprintf(stderr, "upload failed: %s %s %s\n", strerror(-r), res->errcode ? res->errcode : "",
                res->error ? res->error : "");
    u->result = r;
    sd_event_exit(u->event, 0);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
    struct upload *u = userdata;

    (void)s;
    (void)usec;
    u->result = -ETIMEDOUT;
    return sd_event_exit(u->event, 0);
}

static void print_result(const struct upload *u, uint64_t size, double secs, long rss_before,
                         long hwm_after)
{
    printf("uploaded %llu bytes in %.2f s (%.0f MB/s) as %s\n", (unsigned long long)size, secs,
           (double)size / secs / 1e6, u->content_uri);
    printf("RSS before %ld KiB, peak during the upload %ld KiB: growth %ld KiB "
           "(goal: under 1024 KiB)\n",
           rss_before, hwm_after, hwm_after - rss_before);
}

/* Freed in reverse order of declaration: the timer and the client before their loop. */
static int upload(const char *url, const char *token, int fd, uint64_t size)
{
    _cleanup_(sd_event_unrefp) sd_event *event = NULL;
    _cleanup_(mx_client_freep) struct mx_client *c = NULL;
    _cleanup_(sd_event_source_disable_unrefp) sd_event_source *timer = NULL;
    struct mx_client_options o = {.base_url = url};
    struct upload u = {.result = -EINPROGRESS};
    long rss_before, hwm_after;
    double t0;
    int r;

    r = sd_event_new(&event);
    if (r < 0)
        return r;
    u.event = event;
    r = mx_client_new(event, &o, &c);
    if (r < 0)
        return r;
    r = sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, UPLOAD_TIMEOUT_US, 0, on_timeout,
                                   &u);
    if (r < 0)
        return r;
    mx_client_set_token(c, token);
    r = reset_peak();
    if (r < 0) {
        fprintf(stderr, "cannot reset VmHWM through /proc/self/clear_refs\n");
        return r;
    }
    rss_before = status_kib("VmRSS");
    t0 = now_s();
    r = mx_upload(c, fd, size, "application/octet-stream", "bench.bin", on_uploaded, &u);
    if (r >= 0)
        r = sd_event_loop(event);
    if (r >= 0)
        r = u.result;
    hwm_after = status_kib("VmHWM");
    if (r >= 0)
        print_result(&u, size, now_s() - t0, rss_before, hwm_after);
    free(u.content_uri);
    return r;
}

int main(int argc, char **argv)
{
    const char *url = getenv("BENCH_HS_URL"), *token = getenv("BENCH_TOKEN");
    _cleanup_close_ int fd = -EBADF;
    struct stat st;
    int r;

    if (argc != 2 || !url || !token) {
        fprintf(stderr, "usage: BENCH_HS_URL=URL BENCH_TOKEN=TOKEN %s FILE\n", argv[0]);
        return 2;
    }
    fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    r = upload(url, token, fd, (uint64_t)st.st_size);
    if (r < 0) {
        fprintf(stderr, "upload-rss: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}
