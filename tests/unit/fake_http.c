/* Test helper: a scripted HTTP/1.1 peer on loopback (a thread accepting, a thread per
 * connection, every answer closing its connection), and the loop-running helpers of tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_http.h"
#include "util/macro.h"

#define FAKE_MAX_REQUESTS 64
#define FAKE_HEAD_MAX     16384 /* request line and headers */
#define FAKE_IO_TIMEOUT   10000 /* ms: a test must never hang on its peer */
#define FAKE_MAX_CONNS    256

struct fake_http {
    int listen_fd, stop_fd;
    uint16_t port;
    char url[64];
    pthread_t thread;
    pthread_mutex_t lock;
    struct fake_step steps[FAKE_MAX_STEPS];
    size_t n_steps, next_step;
    struct fake_request requests[FAKE_MAX_REQUESTS];
    size_t n_requests, unexpected;
    pthread_t conns[FAKE_MAX_CONNS];
    size_t n_conns;
};

struct fake_conn {
    struct fake_http *f;
    int fd;
};

uint64_t fake_hash(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t fake_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool fake_run_until(sd_event *e, const bool *flag, unsigned timeout_ms)
{
    uint64_t deadline = fake_now_ms() + timeout_ms;

    while (!*flag) {
        uint64_t now = fake_now_ms();

        if (now >= deadline)
            return false;
        if (sd_event_run(e, (deadline - now) * 1000u) < 0)
            return false;
    }
    return true;
}

/* Wait until fd is readable (or the server is stopping): 1 ready, 0 stop/timeout. */
static int wait_readable(struct fake_http *f, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop_fd, .events = POLLIN}};
    int r = poll(p, 2, timeout_ms);

    if (r <= 0 || (p[1].revents & POLLIN))
        return 0;
    return 1;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

        if (k <= 0)
            return;
        s += k;
        n -= (size_t)k;
    }
}

/* Read the request line and headers into head; the bytes after them stay in head too. */
static ssize_t read_head(struct fake_http *f, int fd, char *head, size_t cap, size_t *ret_end)
{
    size_t len = 0;

    while (len < cap - 1) {
        ssize_t k;
        char *end;

        if (!wait_readable(f, fd, FAKE_IO_TIMEOUT))
            return -1;
        k = recv(fd, head + len, cap - 1 - len, 0);
        if (k <= 0)
            return -1;
        len += (size_t)k;
        head[len] = '\0';
        end = strstr(head, "\r\n\r\n");
        if (end) {
            *ret_end = (size_t)(end - head) + 4;
            return (ssize_t)len;
        }
    }
    return -1;
}

static void keep_body(struct fake_request *r, const char *data, size_t n)
{
    size_t room = r->body_len < FAKE_BODY_KEEP ? FAKE_BODY_KEEP - r->body_len : 0;
    size_t k = n < room ? n : room;

    memcpy(r->body + r->body_len, data, k);
    r->body_len += n;
    r->body_hash = fake_hash(r->body_hash, data, n);
}

static int read_request(struct fake_http *f, int fd, struct fake_request *r)
{
    char head[FAKE_HEAD_MAX], buf[16384], lenbuf[32];
    size_t end = 0, want = 0;
    ssize_t len = read_head(f, fd, head, sizeof(head), &end);
    char *line_end;

    if (len < 0)
        return -1;
    line_end = strstr(head, "\r\n");
    if (sscanf(head, "%15s %4095s", r->method, r->path) != 2)
        return -1;
    (void)snprintf(r->headers, sizeof(r->headers), "%.*s",
                   (int)(end - 2 - (size_t)(line_end + 2 - head)), line_end + 2);
    r->body = calloc(1, FAKE_BODY_KEEP + 1);
    r->body_hash = FAKE_HASH_INIT;
    if (!r->body)
        return -1;
    if (fake_header(r, "content-length", lenbuf, sizeof(lenbuf)))
        want = strtoull(lenbuf, NULL, 10);
    keep_body(r, head + end, (size_t)len - end);
    while (r->body_len < want) {
        size_t n = want - r->body_len < sizeof(buf) ? want - r->body_len : sizeof(buf);
        ssize_t k;

        if (!wait_readable(f, fd, FAKE_IO_TIMEOUT))
            return -1;
        k = recv(fd, buf, n, 0);
        if (k <= 0)
            return -1;
        keep_body(r, buf, (size_t)k);
    }
    return 0;
}

static void send_head(int fd, const struct fake_step *s, size_t body_len)
{
    char head[4096], length[64] = "";
    int n;

    if (!s->no_length)
        (void)snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
    n = snprintf(head, sizeof(head), "HTTP/1.1 %d Fake\r\n%sConnection: close\r\n%s\r\n", s->status,
                 length, s->headers ? s->headers : "");

    send_all(fd, head, (size_t)n);
}

static void act(struct fake_http *f, int fd, const struct fake_step *s)
{
    size_t len = s->body ? (s->body_len ? s->body_len : strlen(s->body)) : 0;
    char drain[4096];

    switch (s->action) {
    case FAKE_RESPOND:
        send_head(fd, s, len);
        send_all(fd, s->body ? s->body : "", len);
        break;
    case FAKE_HANG:
        /* Until the client closes (or the test ends). */
        while (wait_readable(f, fd, FAKE_IO_TIMEOUT) && recv(fd, drain, sizeof(drain), 0) > 0)
            ;
        break;
    case FAKE_RESET_MID: {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};

        send_head(fd, s, len);
        send_all(fd, s->body ? s->body : "", len / 2);
        usleep(20 * 1000);
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        break;
    }
    case FAKE_CLOSE:
        break;
    case FAKE_SLOW:
        send_head(fd, s, len);
        for (size_t off = 0; off < len; off += s->slow_chunk) {
            size_t n = len - off < s->slow_chunk ? len - off : s->slow_chunk;
            struct pollfd p = {.fd = f->stop_fd, .events = POLLIN};

            if (send(fd, s->body + off, n, MSG_NOSIGNAL) <= 0 || poll(&p, 1, (int)s->slow_ms) != 0)
                break;
        }
        break;
    }
}

static void serve(struct fake_http *f, int fd)
{
    static const struct fake_step unexpected = {
            .action = FAKE_RESPOND, .status = 418, .body = "{\"errcode\":\"UNEXPECTED\"}"};
    struct fake_request r = {0};
    struct fake_step step;

    if (read_request(f, fd, &r) < 0) {
        free(r.body);
        return;
    }
    pthread_mutex_lock(&f->lock);
    if (f->next_step < f->n_steps)
        step = f->steps[f->next_step++];
    else {
        step = unexpected;
        f->unexpected++;
    }
    if (f->n_requests < FAKE_MAX_REQUESTS)
        f->requests[f->n_requests++] = r;
    else
        free(r.body);
    pthread_mutex_unlock(&f->lock);
    act(f, fd, &step);
}

static void *conn_thread(void *userdata)
{
    struct fake_conn *c = userdata;

    serve(c->f, c->fd);
    close(c->fd);
    free(c);
    return NULL;
}

static void *server_thread(void *userdata)
{
    struct fake_http *f = userdata;

    while (wait_readable(f, f->listen_fd, -1)) {
        struct fake_conn *c;
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        if (fd < 0)
            continue;
        c = malloc(sizeof(*c));
        if (!c || f->n_conns >= FAKE_MAX_CONNS) {
            free(c);
            close(fd);
            continue;
        }
        c->f = f;
        c->fd = fd;
        if (pthread_create(&f->conns[f->n_conns], NULL, conn_thread, c) != 0) {
            free(c);
            close(fd);
            continue;
        }
        f->n_conns++;
    }
    for (size_t i = 0; i < f->n_conns; i++)
        pthread_join(f->conns[i], NULL);
    return NULL;
}

int fake_http_start(const struct fake_step *steps, size_t n, struct fake_http **ret)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    struct fake_http *f;

    if (n > FAKE_MAX_STEPS)
        return -E2BIG;
    f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    if (n > 0)
        memcpy(f->steps, steps, n * sizeof(*steps));
    f->n_steps = n;
    pthread_mutex_init(&f->lock, NULL);
    f->stop_fd = eventfd(0, EFD_CLOEXEC);
    f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->stop_fd < 0 || f->listen_fd < 0 || bind(f->listen_fd, (void *)&sa, sizeof(sa)) < 0 ||
        listen(f->listen_fd, 128) < 0 || getsockname(f->listen_fd, (void *)&sa, &salen) < 0) {
        fake_http_stop(f);
        return -errno;
    }
    f->port = ntohs(sa.sin_port);
    (void)snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u", (unsigned)f->port);
    if (pthread_create(&f->thread, NULL, server_thread, f) != 0) {
        f->thread = 0;
        fake_http_stop(f);
        return -EAGAIN;
    }
    *ret = f;
    return 0;
}

void fake_http_stop(struct fake_http *f)
{
    uint64_t one = 1;

    if (!f)
        return;
    if (f->thread) {
        (void)!write(f->stop_fd, &one, sizeof(one));
        pthread_join(f->thread, NULL);
    }
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    if (f->stop_fd >= 0)
        close(f->stop_fd);
    for (size_t i = 0; i < f->n_requests; i++)
        free(f->requests[i].body);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

uint16_t fake_http_port(const struct fake_http *f)
{
    return f->port;
}

const char *fake_http_url(const struct fake_http *f)
{
    return f->url;
}

size_t fake_http_count(struct fake_http *f)
{
    size_t n;

    pthread_mutex_lock(&f->lock);
    n = f->n_requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

size_t fake_http_unexpected(struct fake_http *f)
{
    size_t n;

    pthread_mutex_lock(&f->lock);
    n = f->unexpected;
    pthread_mutex_unlock(&f->lock);
    return n;
}

const struct fake_request *fake_http_request(struct fake_http *f, size_t i)
{
    return i < fake_http_count(f) ? &f->requests[i] : NULL;
}

const char *fake_header(const struct fake_request *r, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);

    for (const char *line = r->headers; *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);

        if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;

            while (*v == ' ')
                v++;
            (void)snprintf(buf, cap, "%.*s", (int)(len - (size_t)(v - line)), v);
            return buf;
        }
        line += len + (eol ? 2 : 0);
    }
    return NULL;
}

static long status_kb(const char *key)
{
    char line[256];
    long v = -1;
    FILE *fp = fopen("/proc/self/status", "re");

    if (!fp)
        return -1;
    while (fgets(line, sizeof(line), fp))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    fclose(fp);
    return v;
}

bool fake_reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

long fake_rss_kb(bool peak)
{
    return status_kb(peak ? "VmHWM:" : "VmRSS:");
}

int fake_make_file(size_t size, uint64_t *ret_hash)
{
    char path[] = "/tmp/botrunner_fake_upload_XXXXXX", chunk[65536];
    uint64_t hash = FAKE_HASH_INIT;
    int fd = mkstemp(path);

    if (fd < 0)
        return -errno;
    unlink(path);
    for (size_t off = 0; off < size; off += sizeof(chunk)) {
        size_t n = size - off < sizeof(chunk) ? size - off : sizeof(chunk);

        for (size_t i = 0; i < n; i++)
            chunk[i] = (char)((off + i) * 7 + (off + i) / 251);
        if (write(fd, chunk, n) != (ssize_t)n) {
            close(fd);
            return -EIO;
        }
        hash = fake_hash(hash, chunk, n);
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -EIO;
    }
    *ret_hash = hash;
    return fd;
}

bool fake_run_until_count(sd_event *e, struct fake_http *f, size_t n, unsigned timeout_ms)
{
    uint64_t deadline = fake_now_ms() + timeout_ms;

    /* Short steps: the server thread's progress does not wake the loop. */
    while (fake_http_count(f) < n) {
        if (fake_now_ms() >= deadline || sd_event_run(e, 10 * 1000) < 0)
            return false;
    }
    return true;
}
