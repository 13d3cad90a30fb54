/* botrunner.linktitle: the second example plugin, small and useful. A link in a message
 * (a passive regex) is answered with the page's <title>, as a notice replying to it. The
 * page is fetched by curl (spawned: argv only, the URL after --, bounded in time and size,
 * its transfer facts read as JSON with the runner's reader), and titles are kept in the
 * plugin's database so a link posted again is answered without a fetch. */
#include <botrunner/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* A title is in a page's first bytes; the rest is never read. */
#define HEAD_MAX (64 * 1024)
#define TITLE_MAX 300
#define URL_MAX   2048
/* curl gets 10 s for the page, and the runner kills it 5 s after that. */
#define FETCH_SECONDS "10"
#define SPAWN_TIMEOUT_MS 15000

struct linktitle {
    struct br_instance *inst;
    const struct br_runner *r;
    unsigned jobs;
};

/* One fetch: where to answer, the URL, the file curl writes the page to. */
struct job {
    struct linktitle *lt;
    struct br_target to;
    char url[URL_MAX + 1];
    char path[4096];
};

static const char *const migrations[] = {
    "CREATE TABLE titles (url TEXT PRIMARY KEY, title TEXT NOT NULL, fetched_at INTEGER NOT NULL)",
    NULL,
};

static void answer(struct linktitle *lt, const struct br_target *to, const char *title)
{
    char text[TITLE_MAX + 16];

    snprintf(text, sizeof(text), "Title: %s", title);
    (void)lt->r->reply(lt->inst, to, text, NULL, BR_SEND_NOTICE, NULL, NULL);
}

static bool cached(struct linktitle *lt, const char *url, char *title, size_t cap)
{
    struct sqlite3 *db = lt->r->database(lt->inst);
    sqlite3_stmt *st = NULL;
    bool found = false;

    if (db && sqlite3_prepare_v2(db, "SELECT title FROM titles WHERE url = ?1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        snprintf(title, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        found = true;
    }
    sqlite3_finalize(st);
    return found;
}

static void remember(struct linktitle *lt, const char *url, const char *title)
{
    struct sqlite3 *db = lt->r->database(lt->inst);
    sqlite3_stmt *st = NULL;

    if (db && sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO titles VALUES (?1, ?2, strftime('%s','now'))",
                                 -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, title, -1, SQLITE_STATIC) == SQLITE_OK)
        (void)sqlite3_step(st);
    sqlite3_finalize(st);
}

/* The text of the first <title> in html, blanks folded, at most cap - 1 bytes (cut at a
 * UTF-8 boundary); false when there is none. Entities are left as they are. */
static bool find_title(const char *html, size_t len, char *out, size_t cap)
{
    const char *start = NULL, *end, *c;
    size_t n = 0;
    bool blank = false;

    for (c = html; c + 6 < html + len; c++)
        if (strncasecmp(c, "<title", 6) == 0 && (c[6] == '>' || c[6] == ' ')) {
            start = memchr(c, '>', (size_t)(html + len - c));
            break;
        }
    if (!start)
        return false;
    start++;
    for (end = start; end + 8 <= html + len && strncasecmp(end, "</title>", 8) != 0; end++)
        ;
    for (c = start; c < end && n + 1 < cap; c++) {
        bool ws = *c == ' ' || *c == '\t' || *c == '\n' || *c == '\r';
        if (ws || (unsigned char)*c < 0x20) {
            blank = n > 0;
            continue;
        }
        if (blank && n + 2 < cap)
            out[n++] = ' ';
        blank = false;
        out[n++] = *c;
    }
    while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80 && n + 1 >= cap)
        n--; /* a character cut at the bound: drop its pieces */
    if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
        n--;
    out[n] = '\0';
    return n > 0;
}

static void job_free(struct job *j)
{
    unlink(j->path);
    j->lt->jobs--;
    free(j);
}

/* curl's --write-out '%{json}': the transfer's facts, read with the runner's reader. */
static bool transfer_ok(struct linktitle *lt, const struct br_process_result *res)
{
    struct br_json *doc = NULL;
    int64_t code = 0;
    char *type = NULL;
    bool ok;

    if (res->error != 0 || res->exit_code != 0 ||
        lt->r->json_parse(res->stdout_buf, res->stdout_len, 0, &doc) < 0)
        return false;
    (void)lt->r->json_int64(doc, 0, "http_code", &code);
    (void)lt->r->json_string(doc, 0, "content_type", &type);
    ok = code >= 200 && code < 300 && type && strncasecmp(type, "text/html", 9) == 0;
    free(type);
    lt->r->json_free(doc);
    return ok;
}

static void on_fetched(void *userdata, const struct br_process_result *res)
{
    struct job *j = userdata;
    char head[HEAD_MAX + 1], title[TITLE_MAX];
    ssize_t n = -1;
    int fd;

    if (transfer_ok(j->lt, res) && (fd = open(j->path, O_RDONLY | O_CLOEXEC)) >= 0) {
        n = read(fd, head, HEAD_MAX);
        close(fd);
    }
    if (n > 0 && find_title(head, (size_t)n, title, sizeof(title))) {
        remember(j->lt, j->url, title);
        answer(j->lt, &j->to, title);
    } else
        j->lt->r->log(j->lt->inst, BR_LOG_INFO, "No title for %s (curl exit %d, %s)", j->url,
                      res->exit_code, res->stderr_tail);
    job_free(j);
}

static int fetch(struct linktitle *lt, const struct br_message *msg, const char *url)
{
    struct job *j = calloc(1, sizeof(*j));
    const char *argv[] = {"curl", "--silent", "--location", "--proto", "=http,https",
                          "--max-redirs", "5", "--max-time", FETCH_SECONDS, "--range",
                          "0-65535", "--max-filesize", "1048576", "--output", NULL,
                          "--write-out", "%{json}", "--", url, NULL};
    struct br_spawn spec = {.argv = argv, .timeout_ms = SPAWN_TIMEOUT_MS, .max_output = 16384};
    int r;

    if (!j)
        return -ENOMEM;
    j->lt = lt;
    j->to = *msg->target;
    snprintf(j->url, sizeof(j->url), "%s", url);
    snprintf(j->path, sizeof(j->path), "%s/page-%u", lt->r->work_dir(lt->inst), ++lt->jobs);
    argv[14] = j->path;
    r = lt->r->spawn(lt->inst, &spec, on_fetched, j, NULL);
    if (r < 0)
        job_free(j);
    return r;
}

static int on_link(void *state, const struct br_message *msg, const char *const *match, size_t n)
{
    struct linktitle *lt = state;
    char title[TITLE_MAX], url[URL_MAX + 1];
    uint64_t wait_ms = 0;
    size_t len;

    if (n < 1 || !match[0] || strlen(match[0]) > URL_MAX || strcmp(msg->msgtype, "m.text") != 0 ||
        (msg->relation && strcmp(msg->relation, "m.replace") == 0))
        return 0;
    /* "see https://example.org/page." : the sentence's punctuation is not the link's. */
    len = strlen(match[0]);
    while (len > 0 && strchr(".,!?;:", match[0][len - 1]))
        len--;
    snprintf(url, sizeof(url), "%.*s", (int)len, match[0]);
    if (cached(lt, url, title, sizeof(title))) {
        answer(lt, msg->target, title);
        return 0;
    }
    /* A fetch is an external call made for someone: the instance's rate limit, per room. */
    if (lt->r->rate_limit(lt->inst, msg->room_id, &wait_ms) < 0)
        return 0;
    return fetch(lt, msg, url);
}

static int lt_start(struct br_instance *inst, const struct br_runner *runner, void **ret_state)
{
    struct linktitle *lt;
    int r;

    if (runner->abi_version != BR_ABI_VERSION ||
        runner->size < offsetof(struct br_runner, json_finish) + sizeof(void *))
        return -EPROTO;
    lt = calloc(1, sizeof(*lt));
    if (!lt)
        return -ENOMEM;
    lt->inst = inst;
    lt->r = runner;
    r = runner->add_passive(inst, "https?://[^][ \t\r\n<>\"'()]+", on_link);
    if (r < 0) {
        free(lt);
        return r;
    }
    *ret_state = lt;
    return 0;
}

static void lt_stop(void *state)
{
    free(state);
}

static int lt_command(void *state, const struct br_message *msg, const char *name, const char *args)
{
    struct linktitle *lt = state;

    (void)name;
    (void)args;
    (void)lt->r->reply(lt->inst, msg->target, "Post a link: I answer with its page's title.", NULL,
                       BR_SEND_NOTICE, NULL, NULL);
    return 0;
}

BR_PLUGIN(LinkTitleBot) = {
    .abi_version = BR_ABI_VERSION,
    .size = sizeof(struct br_plugin),
    .id = "botrunner.linktitle",
    .version = "0.1.0",
    .start = lt_start,
    .stop = lt_stop,
    .command = lt_command,
    .migrations = migrations,
};
