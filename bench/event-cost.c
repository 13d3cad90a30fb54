/* Benchmark: what one timeline event costs the worker, from a parsed sync batch to the reply
 * queued in the outbox, with the real config, bot.db, plugin host and echo plugin in-process.
 *
 * The worker is set up as runner/worker/worker.c sets it up, less the Matrix client: with no
 * client and no ready account, outbox_kick() sends nothing, so every reply stays queued and
 * the benchmark drains the queue itself between events (outside the timed region), as the
 * homeserver's acknowledgement would. Each dispatch_event() call is timed alone with
 * CLOCK_MONOTONIC; figures are printed, never asserted. The pings are timed twice, in
 * alternating blocks: with SQLite's auto-checkpoint put back on the store's connection (the
 * checkpoint inside a batch's commit, as before) and as store_open() sets it up (the
 * checkpoint in store_sync_position_set(), which the syncer calls after each batch, and which
 * is timed apart).
 *
 * usage: event-cost [PLUGIN_DIR]   (default build/plugins/echo, from the repository root) */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "plugin/host.h"
#include "store/store-internal.h"
#include "store/store.h"
#include "util/log.h"
#include "util/macro.h"
#include "worker/worker.h"

/* Events timed per variant: enough for a stable p99 (100 samples above it). */
#define TIMED_EVENTS 10000u
/* The two checkpoint variants' pings are timed in this many alternating blocks each, so that
 * a change in the machine's load falls on both. */
#define CHECKPOINT_ROUNDS 4u
/* Events dispatched before any is timed: the first ones fault in code and SQLite's cache. */
#define WARMUP_EVENTS 1000u
/* Events in all, and the interval between RSS samples: 100 000 shows whether anything grows
 * per event, at a few seconds of run time. */
#define TOTAL_EVENTS 100000u
#define RSS_EVERY    10000u
/* Events per synthesized /sync batch: the limit of the worker's own sync filter. */
#define BATCH_EVENTS 50u
/* One event's JSON in a batch: the longest body below plus ids and timestamps. */
#define EVENT_JSON_MAX 512u
/* The goal this benchmark is read against (docs/benchmarks.md). */
#define GOAL_P99_US 50.0

#define ROOM_ID   "!bench:bench.local"
#define BOT_USER  "@bot:bench.local"
#define SENDER    "@alice:bench.local"
#define ECHO_TEXT "the quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps"
_Static_assert(sizeof(ECHO_TEXT) - 1 == 77, "the report names the text's length");
/* A secret key of the minimum length: bot.db is thrown away with the temporary directory. */
#define BENCH_KEY "0123456789abcdef0123456789abcdef"

/* Call times in ns: all of them, and split by whether the call waited for the disk. */
struct samples {
    uint64_t *ns, *quiet, *waited;
    size_t n, n_quiet, n_waited;
};

/* Where the WAL checkpoint runs. SQLITE_COMMIT: SQLite's auto-checkpoint, inside the commit
 * that takes the WAL past 1 000 frames (what store_open() did before; put back here on the
 * store's connection). AFTER_BATCH: store_open()'s own hook, the checkpoint in
 * store_sync_position_set() at the end of the batch. */
enum checkpoint_mode {
    CHECKPOINT_SQLITE_COMMIT,
    CHECKPOINT_AFTER_BATCH,
};

/* The run's state: the worker, the next event number, and the RSS series. */
struct bench {
    struct worker *w;
    uint64_t seq;         /* numbers event ids, which must all differ */
    size_t total;         /* events dispatched so far, warm-up included */
    struct samples block; /* the current block of RSS_EVERY events */
    long rss[TOTAL_EVENTS / RSS_EVERY], heap_kib[TOTAL_EVENTS / RSS_EVERY],
            sqlite_kib[TOTAL_EVENTS / RSS_EVERY];
    double block_p50[TOTAL_EVENTS / RSS_EVERY], block_p99[TOTAL_EVENTS / RSS_EVERY];
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* VmRSS of this process in KiB, or -1 when /proc cannot tell. */
static long rss_kib(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long kib = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    return kib;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 ? -errno : 0;
}

static void remove_tree(const char *dir)
{
    if (dir && nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "warning: cannot remove %s\n", dir);
}

static int write_config(const char *dir, const char *plugin_dir, char **ret_path)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_fclose_ FILE *f = NULL;

    if (asprintf(&path, "%s/botrunner.yaml", dir) < 0)
        return -ENOMEM;
    f = fopen(path, "we");
    if (!f)
        return -errno;
    fprintf(f,
            "homeserver: {server_name: bench.local, url: 'http://127.0.0.1:1'}\n"
            "state_directory: %s/state\n"
            "secret_key_file: secret-key\n"
            "registration_token_file: registration-token\n"
            "logging: {level: WARN}\n"
            "plugins: [{path: '%s'}]\n"
            "instances:\n"
            "  - id: bench\n"
            "    plugin: botrunner.echo\n"
            "    user: '" BOT_USER "'\n"
            "    room_subscriptions: ['" ROOM_ID "']\n"
            "    command_prefix: '!echo'\n"
            "    features: {rate_limiting: false}\n",
            dir, plugin_dir);
    if (fflush(f) != 0)
        return -errno;
    *ret_path = TAKE_PTR(path);
    return 0;
}

/* The steps of worker_setup() that matter to dispatching, in its order, minus credentials
 * (the config is loaded with CONFIG_SKIP_CREDENTIALS and the key is a constant) and minus
 * the Matrix client. */
static int setup(struct worker *w, const char *config_path)
{
    struct diag_list d = {0};
    char why[256];
    int r;

    r = config_load(config_path, CONFIG_SKIP_CREDENTIALS, &d, &w->config);
    if (r < 0) {
        diag_print(&d, stderr);
        diag_list_done(&d);
        return r;
    }
    diag_list_done(&d);
    w->inst = config_find_instance(w->config, "bench");
    w->plugin_decl = &w->config->plugins[0];
    log_set_max_level(w->config->logging.level);
    r = store_open(w->config->state_directory, BENCH_KEY, strlen(BENCH_KEY), &w->store);
    if (r < 0)
        return r;
    r = sd_event_new(&w->event);
    if (r < 0)
        return r;
    r = plugin_host_load(w->plugin_decl->path, &w->plugin, why, sizeof(why));
    if (r < 0) {
        fprintf(stderr, "Cannot load %s: %s\n", w->plugin_decl->path, why);
        return r;
    }
    w->user_id = strdup(BOT_USER);
    /* rooms.c makes this array when it joins; here the room is simply joined already. */
    w->rooms = calloc(1, sizeof(*w->rooms));
    if (!w->user_id || !w->rooms)
        return -ENOMEM;
    w->rooms[0] = (struct worker_room){.worker = w, .room_id = strdup(ROOM_ID), .joined = true};
    if (!w->rooms[0].room_id)
        return -ENOMEM;
    w->n_rooms = 1;
    worker_set_state(w, "enabled", NULL); /* the instance's row, which the marks refer to */
    /* The account whose sync position the batches save (the token is never used). */
    r = store_account_put(w->store, "bench", BOT_USER, "BENCH", "bench-token");
    if (r < 0)
        return r;
    r = outbox_load(w);
    if (r < 0)
        return r;
    return api_start(w);
}

static void teardown(struct worker *w)
{
    api_free(w);
    outbox_free(w);
    rooms_free(w);
    plugin_host_free(w->plugin);
    store_close(w->store);
    sd_event_unref(w->event);
    free(w->user_id);
    if (w->config)
        config_free(w->config);
}

static int forget_one(const struct store_outbox_entry *e, void *userdata)
{
    struct worker *w = userdata;

    return store_outbox_remove(w->store, e->txn_id);
}

/* What the homeserver's acknowledgement does to a reply: the item leaves the queue and its
 * row leaves bot.db (which caps the outbox at STORE_OUTBOX_MAX per instance). */
static int drain_outbox(struct worker *w, size_t *ret_drained)
{
    size_t n = w->outbox_len;

    outbox_free(w);
    *ret_drained = n;
    return store_outbox_list(w->store, w->inst->id, forget_one, w);
}

/* A /sync response body holding n messages with this body, numbered from *seq. */
static int make_batch(const char *body, size_t n, uint64_t *seq, struct mx_sync_batch **ret)
{
    size_t cap = n * EVENT_JSON_MAX + 256, len = 0;
    _cleanup_free_ char *json = malloc(cap);
    int64_t ts = wall_ms();
    int k;

    if (!json)
        return -ENOMEM;
    k = snprintf(json, cap,
                 "{\"next_batch\":\"s%llu\",\"rooms\":{\"join\":{\"" ROOM_ID
                 "\":{\"timeline\":{\"limited\":false,\"events\":[",
                 (unsigned long long)*seq);
    len = (size_t)k;
    for (size_t i = 0; i < n; i++) {
        k = snprintf(json + len, cap - len,
                     "%s{\"type\":\"m.room.message\",\"event_id\":\"$bench%llu\","
                     "\"sender\":\"" SENDER "\",\"origin_server_ts\":%lld,"
                     "\"content\":{\"msgtype\":\"m.text\",\"body\":\"%s\"}}",
                     i ? "," : "", (unsigned long long)(*seq)++, (long long)ts, body);
        if (k < 0 || (size_t)k >= cap - len)
            return -E2BIG;
        len += (size_t)k;
    }
    k = snprintf(json + len, cap - len, "]}}}}}");
    if (k < 0 || (size_t)k >= cap - len)
        return -E2BIG;
    len += (size_t)k;
    return mx_sync_parse(json, len, ret);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of n sorted samples, in microseconds. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);

    return n ? (double)v[rank ? rank - 1 : 0] / 1000.0 : 0.0;
}

/* Voluntary context switches so far: this process is single-threaded and its files are in
 * the page cache, so a call during which this count moved waited for the disk (the
 * fdatasync() of a WAL checkpoint). */
static long voluntary_switches(void)
{
    struct rusage ru;

    return getrusage(RUSAGE_SELF, &ru) < 0 ? 0 : ru.ru_nvcsw;
}

static void record(struct samples *s, uint64_t dt, bool waited)
{
    s->ns[s->n++] = dt;
    if (waited)
        s->waited[s->n_waited++] = dt;
    else
        s->quiet[s->n_quiet++] = dt;
}

/* Every RSS_EVERY events: the process's RSS and heaps, and that block's p50 and p99. */
static void end_block(struct bench *b)
{
    size_t k = b->total / RSS_EVERY - 1;
    struct mallinfo2 mi = mallinfo2();

    if (k >= ELEMENTSOF(b->rss))
        return;
    qsort(b->block.ns, b->block.n, sizeof(*b->block.ns), cmp_u64);
    b->rss[k] = rss_kib();
    b->sqlite_kib[k] = (long)(sqlite3_memory_used() / 1024);
    b->heap_kib[k] = (long)((mi.uordblks + mi.hblkhd) / 1024);
    b->block_p50[k] = pct_us(b->block.ns, b->block.n, 0.50);
    b->block_p99[k] = pct_us(b->block.ns, b->block.n, 0.99);
    b->block.n = b->block.n_quiet = b->block.n_waited = 0;
}

/* Dispatch n events with this body as the syncer does: each batch of BATCH_EVENTS in one
 * bot.db transaction (each event a savepoint in it), the commit's cost shared out over the
 * batch's events. Each event must queue exactly one reply: a benchmark of events that did
 * nothing would measure nothing. */
static int run_events(struct bench *b, const char *body, size_t n, struct samples *out,
                      struct samples *batch_end)
{
    struct worker *w = b->w;
    uint64_t dts[BATCH_EVENTS];
    bool waits[BATCH_EVENTS];

    for (size_t done = 0; done < n;) {
        _cleanup_(mx_sync_batch_freep) struct mx_sync_batch *batch = NULL;
        size_t want = n - done < BATCH_EVENTS ? n - done : BATCH_EVENTS;
        int r = make_batch(body, want, &b->seq, &batch);
        uint64_t t0, commit_ns;
        long cs;

        if (r < 0)
            return r;
        if (batch->n_joined != 1 || batch->joined[0].n_events != want)
            return -EBADMSG;
        r = store_transaction_begin(w->store);
        if (r < 0)
            return r;
        w->batch_open = true;
        for (size_t i = 0; i < want; i++) {
            const struct mx_room_timeline *room = &batch->joined[0];
            int64_t cutoff = wall_ms() - w->inst->catch_up_max_age * 1000;
            size_t skipped = 0, replies = 0;
            cs = voluntary_switches();
            t0 = now_ns();
            r = dispatch_event(w, room->room_id, &room->events[i], cutoff, &skipped);
            dts[i] = now_ns() - t0;
            waits[i] = voluntary_switches() != cs;
            if (r >= 0)
                r = drain_outbox(w, &replies);
            if (r >= 0 && replies != 1)
                r = -EPROTO;
            if (r < 0) {
                store_transaction_rollback(w->store);
                w->batch_open = false;
                return r;
            }
        }
        cs = voluntary_switches();
        t0 = now_ns();
        r = store_transaction_commit(w->store);
        commit_ns = now_ns() - t0;
        w->batch_open = false;
        if (r < 0)
            return r;
        bool commit_waited = voluntary_switches() != cs;
        for (size_t i = 0; i < want; i++, done++) {
            uint64_t dt = dts[i] + commit_ns / want;
            bool waited = waits[i] || commit_waited;
            if (out)
                record(out, dt, waited);
            record(&b->block, dt, waited);
            if (++b->total % RSS_EVERY == 0)
                end_block(b);
        }
        /* What the syncer does next, after outbox_kick(): save the position (and, as
         * store_open() sets it up, checkpoint when one is due). Timed apart: no event of
         * the batch waits for it, only the next /sync request. */
        cs = voluntary_switches();
        t0 = now_ns();
        r = store_sync_position_set(w->store, w->inst->id, batch->next_batch, NULL);
        commit_ns = now_ns() - t0;
        if (r < 0)
            return r;
        if (batch_end)
            record(batch_end, commit_ns, voluntary_switches() != cs);
    }
    return 0;
}

static void set_checkpoint_mode(struct worker *w, enum checkpoint_mode mode)
{
    if (mode == CHECKPOINT_SQLITE_COMMIT) {
        (void)sqlite3_wal_autocheckpoint(w->store->db, STORE_CHECKPOINT_FRAMES);
        /* Our hook no longer counts, so store_checkpoint() stays a no-op. */
        w->store->wal_frames = 0;
    } else
        (void)sqlite3_wal_hook(w->store->db, store_wal_hook, w->store);
}

/* The same bot.db writes as one dispatched ping (the handled mark, the queued reply, the
 * instance's last message time, one commit), without the plugin or the parsing: the floor
 * that SQLite alone sets. */
static int store_writes(struct worker *w, const char *event_id, const char *txn)
{
    static const char content[] = "{\"msgtype\":\"m.notice\",\"body\":\"pong (took 0 ms)\","
                                  "\"m.relates_to\":{\"m.in_reply_to\":{\"event_id\":\"$x\"}}}";
    int64_t now = wall_ms() / 1000;
    int r;

    r = store_transaction_begin(w->store);
    if (r < 0)
        return r;
    r = store_event_mark_handled(w->store, w->inst->id, event_id, now);
    if (r >= 0)
        r = store_outbox_add(w->store, w->inst->id, txn, ROOM_ID, "m.room.message", content, now);
    if (r >= 0)
        r = store_instance_touch_message(w->store, w->inst->id, now);
    if (r < 0) {
        store_transaction_rollback(w->store);
        return r;
    }
    return store_transaction_commit(w->store);
}

static int run_store_only(struct bench *b, size_t n, struct samples *out)
{
    for (size_t i = 0; i < n; i++) {
        char event_id[64], txn[64];
        size_t drained;
        int r;

        snprintf(event_id, sizeof(event_id), "$store%llu", (unsigned long long)b->seq);
        snprintf(txn, sizeof(txn), "brstore%llu", (unsigned long long)b->seq++);
        long cs = voluntary_switches();
        uint64_t t0 = now_ns();
        r = store_writes(b->w, event_id, txn);
        uint64_t dt = now_ns() - t0;
        if (r < 0)
            return r;
        record(out, dt, voluntary_switches() != cs);
        r = drain_outbox(b->w, &drained);
        if (r < 0)
            return r;
        /* A position saved per BATCH_EVENTS transactions would checkpoint here, untimed. */
        if ((i + 1) % BATCH_EVENTS == 0 && (r = store_checkpoint(b->w->store)) < 0)
            return r;
    }
    return 0;
}

static void report(const char *what, struct samples *s)
{
    double sum = 0;

    qsort(s->ns, s->n, sizeof(*s->ns), cmp_u64);
    qsort(s->quiet, s->n_quiet, sizeof(*s->quiet), cmp_u64);
    qsort(s->waited, s->n_waited, sizeof(*s->waited), cmp_u64);
    for (size_t i = 0; i < s->n; i++)
        sum += (double)s->ns[i];
    printf("  %-36s p50 %5.1f  p99 %6.1f  max %7.1f  mean %5.1f\n", what, pct_us(s->ns, s->n, 0.50),
           pct_us(s->ns, s->n, 0.99), (double)s->ns[s->n - 1] / 1000.0,
           sum / (double)s->n / 1000.0);
    printf("  %-36s p50 %5.1f  p99 %6.1f   (%zu calls waited for the disk: p50 %.1f)\n",
           "  the calls that did not wait", pct_us(s->quiet, s->n_quiet, 0.50),
           pct_us(s->quiet, s->n_quiet, 0.99), s->n_waited, pct_us(s->waited, s->n_waited, 0.50));
}

static int samples_new(size_t n, struct samples *ret)
{
    uint64_t *ns = calloc(n, sizeof(uint64_t)), *quiet = calloc(n, sizeof(uint64_t)),
             *waited = calloc(n, sizeof(uint64_t));

    if (!ns || !quiet || !waited) {
        free(ns);
        free(quiet);
        free(waited);
        return -ENOMEM;
    }
    *ret = (struct samples){.ns = ns, .quiet = quiet, .waited = waited};
    return 0;
}

static void samples_done(struct samples *s)
{
    free(s->ns);
    free(s->quiet);
    free(s->waited);
}

/* A warm-up the figures leave out (first calls fault in code and SQLite's cache), then
 * TIMED_EVENTS pings under each checkpoint mode (in CHECKPOINT_ROUNDS alternating blocks),
 * TIMED_EVENTS echoes, then pings until TOTAL_EVENTS were dispatched; then the bot.db writes
 * alone. RSS is read every RSS_EVERY events all along. Everything after the pings runs as
 * store_open() sets it up. */
static int measure(struct bench *b, struct samples ping[2], struct samples end[2],
                   struct samples *echo, struct samples *store)
{
    int r;

    r = run_events(b, "!echo ping", WARMUP_EVENTS, NULL, NULL);
    for (unsigned round = 0; r >= 0 && round < CHECKPOINT_ROUNDS; round++)
        for (int mode = CHECKPOINT_SQLITE_COMMIT; r >= 0 && mode <= CHECKPOINT_AFTER_BATCH;
             mode++) {
            set_checkpoint_mode(b->w, mode);
            r = run_events(b, "!echo ping", TIMED_EVENTS / CHECKPOINT_ROUNDS, &ping[mode],
                           &end[mode]);
        }
    set_checkpoint_mode(b->w, CHECKPOINT_AFTER_BATCH);
    if (r >= 0)
        r = run_events(b, "!echo echo " ECHO_TEXT, TIMED_EVENTS, echo, NULL);
    if (r >= 0)
        r = run_events(b, "!echo ping", TOTAL_EVENTS - b->total, NULL, NULL);
    if (r >= 0)
        r = run_store_only(b, TIMED_EVENTS, store);
    return r;
}

static void print_rss(const struct bench *b)
{
    size_t last = ELEMENTSOF(b->rss) - 1;

    printf("Memory every %u events dispatched (%u warm-up, %u pings in each checkpoint mode, %u\n"
           "echoes, then pings), with each block's p50/p99 in µs:\n",
           RSS_EVERY, WARMUP_EVENTS, TIMED_EVENTS, TIMED_EVENTS);
    for (size_t k = 0; k <= last; k++)
        printf("  %6zu events: VmRSS %6ld KiB  (malloc in use %5ld KiB, of it SQLite %5ld KiB)"
               "  p50 %5.1f  p99 %6.1f\n",
               (k + 1) * RSS_EVERY, b->rss[k], b->heap_kib[k], b->sqlite_kib[k], b->block_p50[k],
               b->block_p99[k]);
    printf("  VmRSS growth from %u to %u events: %+ld KiB (goal: none)\n", RSS_EVERY, TOTAL_EVENTS,
           b->rss[last] - b->rss[0]);
}

static int run(struct worker *w)
{
    struct samples ping[2] = {}, end[2] = {}, echo = {}, store = {}, block = {};
    struct bench b = {.w = w};
    size_t batches = TIMED_EVENTS / CHECKPOINT_ROUNDS / BATCH_EVENTS * CHECKPOINT_ROUNDS + 1;
    int r = 0;

    for (int mode = 0; r >= 0 && mode < 2; mode++) {
        r = samples_new(TIMED_EVENTS, &ping[mode]);
        if (r >= 0)
            r = samples_new(batches, &end[mode]);
    }
    if (r >= 0)
        r = samples_new(TIMED_EVENTS, &echo);
    if (r >= 0)
        r = samples_new(TIMED_EVENTS, &store);
    if (r >= 0)
        r = samples_new(RSS_EVERY, &block);
    b.block = block;
    if (r >= 0)
        r = measure(&b, ping, end, &echo, &store);
    if (r >= 0) {
        printf("dispatch_event(), from a parsed /sync batch to the reply queued in bot.db,\n"
               "%u calls each, in µs:\n",
               TIMED_EVENTS);
        report("\"!echo ping\", checkpoint in commit", &ping[CHECKPOINT_SQLITE_COMMIT]);
        report("\"!echo ping\", checkpoint after", &ping[CHECKPOINT_AFTER_BATCH]);
        report("\"!echo echo <77 bytes of text>\"", &echo);
        report("bot.db writes alone (no plugin)", &store);
        printf("  goal: p99 < %.0f µs\n", GOAL_P99_US);
        printf("The end of each batch of those pings (store_sync_position_set(), where the\n"
               "checkpoint now runs when one is due), %zu calls each, in µs:\n",
               end[0].n);
        report("before: SQLite's, in the commit", &end[CHECKPOINT_SQLITE_COMMIT]);
        report("now: store_checkpoint() here", &end[CHECKPOINT_AFTER_BATCH]);
        print_rss(&b);
    }
    for (int mode = 0; mode < 2; mode++) {
        samples_done(&ping[mode]);
        samples_done(&end[mode]);
    }
    samples_done(&echo);
    samples_done(&store);
    samples_done(&block);
    return r;
}

int main(int argc, char **argv)
{
    const char *plugin_arg = argc > 1 ? argv[1] : "build/plugins/echo";
    char tmpl[] = "/tmp/br-event-cost.XXXXXX", plugin_dir[PATH_MAX];
    _cleanup_free_ char *config_path = NULL;
    struct worker w = {.started_ms = wall_ms()};
    int r;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: %s [PLUGIN_DIR]\n", argv[0]);
        return 2;
    }
    if (!realpath(plugin_arg, plugin_dir)) {
        fprintf(stderr,
                "%s: %s (run from the repository root, or name the echo plugin's "
                "directory)\n",
                plugin_arg, strerror(errno));
        return 1;
    }
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        return 1;
    }
    w.api.worker = &w;
    r = write_config(tmpl, plugin_dir, &config_path);
    if (r >= 0)
        r = setup(&w, config_path);
    if (r >= 0)
        r = run(&w);
    if (r < 0)
        fprintf(stderr, "event-cost: %s\n", strerror(-r));
    teardown(&w);
    remove_tree(tmpl);
    return r < 0 ? 1 : 0;
}
