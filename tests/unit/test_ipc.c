/* Tests for util/ipc.c: round trips through a real SOCK_SEQPACKET socketpair, every kind of
 * malformed datagram refused whole, oversized datagrams, escaping (unicode included), the
 * builder's sticky errors and the head/tail cuts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/ipc.h"
#include "util/macro.h"

static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
}

static void parse_ok(const char *text, struct ipc_message *m)
{
    assert_int_equal(ipc_parse(text, strlen(text), m), 0);
}

/* Parsing must fail, and leave *m exactly as it was. */
static void parse_bad_len(const char *text, size_t len)
{
    struct ipc_message m, before;

    memset(&m, 0x5a, sizeof m);
    before = m;
    assert_int_equal(ipc_parse(text, len, &m), -EBADMSG);
    assert_memory_equal(&m, &before, sizeof m);
}

static void parse_bad(const char *text)
{
    parse_bad_len(text, strlen(text));
}

static void test_roundtrip_socketpair(void **state)
{
    _cleanup_close_ int a = -EBADF, b = -EBADF;
    int fds[2];
    struct ipc_builder bld;
    struct ipc_message m;
    int64_t t;
    (void)state;

    pair(fds);
    a = fds[0], b = fds[1];

    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_LOG, "CRITICAL");
    ipc_add(&bld, IPC_TEXT, "upload failed: 413\nbody: {\"errcode\":\"M_TOO_LARGE\"} C:\\tmp");
    ipc_add(&bld, IPC_ROOM_ID, "!abc:clarun.xyz");
    ipc_add(&bld, IPC_EVENT_ID, "$ev1");
    ipc_add(&bld, IPC_ERROR_TYPE, "");
    ipc_add(&bld, IPC_TRACE, "line 1\r\nline 2\n");
    assert_int_equal(ipc_send(a, &bld), 0);

    ipc_builder_init(&bld);
    ipc_add_int64(&bld, IPC_SYNC, 1700000000);
    assert_int_equal(ipc_send(a, &bld), 0);

    /* Datagram boundaries hold: two sends are two receives, in order. */
    assert_int_equal(ipc_recv(b, &m), 0);
    assert_int_equal(m.n_fields, 6);
    assert_int_equal(ipc_kind(&m), IPC_KIND_LOG);
    assert_string_equal(ipc_get(&m, IPC_LOG), "CRITICAL");
    assert_string_equal(ipc_get(&m, IPC_TEXT),
                        "upload failed: 413\nbody: {\"errcode\":\"M_TOO_LARGE\"} C:\\tmp");
    assert_string_equal(ipc_get(&m, IPC_ROOM_ID), "!abc:clarun.xyz");
    assert_string_equal(ipc_get(&m, IPC_EVENT_ID), "$ev1");
    assert_string_equal(ipc_get(&m, IPC_ERROR_TYPE), "");
    assert_string_equal(ipc_get(&m, IPC_TRACE), "line 1\r\nline 2\n");
    assert_null(ipc_get(&m, "NOPE"));
    assert_string_equal(ipc_field_key(&m, 0), "LOG");
    assert_string_equal(ipc_field_value(&m, 5), "line 1\r\nline 2\n");

    assert_int_equal(ipc_recv(b, &m), 0);
    assert_int_equal(ipc_kind(&m), IPC_KIND_SYNC);
    assert_int_equal(ipc_get_int64(&m, IPC_SYNC, &t), 0);
    assert_int_equal(t, 1700000000);

    /* Nothing waiting: the call does not block. */
    assert_int_equal(ipc_recv(b, &m), -EAGAIN);

    /* And the other way, supervisor -> worker. */
    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_NOTIFY, "ERROR");
    ipc_add(&bld, IPC_ROOM_ID, "!admin:clarun.xyz");
    ipc_add(&bld, IPC_TEXT, "[ERROR] echo-1: boom");
    assert_int_equal(ipc_send(b, &bld), 0);
    assert_int_equal(ipc_recv(a, &m), 0);
    assert_int_equal(ipc_kind(&m), IPC_KIND_NOTIFY);
    assert_string_equal(ipc_get(&m, IPC_TEXT), "[ERROR] echo-1: boom");
}

static void test_peer_closed(void **state)
{
    _cleanup_close_ int a = -EBADF;
    int fds[2];
    struct ipc_builder bld;
    struct ipc_message m;
    (void)state;

    pair(fds);
    a = fds[0];
    assert_int_equal(close(fds[1]), 0);

    assert_int_equal(ipc_recv(a, &m), -ECONNRESET);
    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_STATE, "running");
    /* MSG_NOSIGNAL: -EPIPE comes back instead of a SIGPIPE killing the test. */
    assert_int_equal(ipc_send(a, &bld), -EPIPE);
}

static void test_full_socket_eagain(void **state)
{
    _cleanup_close_ int a = -EBADF, b = -EBADF;
    int fds[2], r = 0, sent = 0, size = 4096;
    struct ipc_builder bld;
    (void)state;

    pair(fds);
    a = fds[0], b = fds[1];
    assert_int_equal(setsockopt(a, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_STATE, "running");
    /* The peer never reads: the buffer fills and send reports it instead of blocking. */
    while (sent < 100000 && (r = ipc_send(a, &bld)) == 0)
        sent++;
    assert_int_equal(r, -EAGAIN);
    assert_true(sent > 0);
}

static void test_oversized_datagram(void **state)
{
    _cleanup_close_ int a = -EBADF, b = -EBADF;
    int fds[2];
    char big[IPC_MAX_DATAGRAM + 100];
    struct ipc_message m, before;
    struct ipc_builder bld;
    (void)state;

    pair(fds);
    a = fds[0], b = fds[1];

    /* A well-formed but too long datagram: refused, consumed, and the next one reads. */
    memcpy(big, "TEXT=", 5);
    memset(big + 5, 'x', sizeof big - 6);
    big[sizeof big - 1] = '\n';
    assert_int_equal(send(a, big, sizeof big, 0), (ssize_t)sizeof big);
    /* Exactly one byte too long is caught too. */
    big[IPC_MAX_DATAGRAM] = '\n';
    assert_int_equal(send(a, big, IPC_MAX_DATAGRAM + 1, 0), IPC_MAX_DATAGRAM + 1);
    /* And exactly IPC_MAX_DATAGRAM is fine. */
    big[IPC_MAX_DATAGRAM - 1] = '\n';
    assert_int_equal(send(a, big, IPC_MAX_DATAGRAM, 0), IPC_MAX_DATAGRAM);
    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_STATE, "running");
    assert_int_equal(ipc_send(a, &bld), 0);

    memset(&m, 0x5a, sizeof m);
    before = m;
    assert_int_equal(ipc_recv(b, &m), -EMSGSIZE);
    assert_int_equal(ipc_recv(b, &m), -EMSGSIZE);
    assert_memory_equal(&m, &before, sizeof m);
    assert_int_equal(ipc_recv(b, &m), 0);
    assert_int_equal(strlen(ipc_get(&m, IPC_TEXT)), IPC_MAX_DATAGRAM - 6);
    assert_int_equal(ipc_recv(b, &m), 0);
    assert_string_equal(ipc_get(&m, IPC_STATE), "running");

    /* Malformed on the socket: -EBADMSG, and the stream goes on. */
    assert_int_equal(send(a, "STATE=running", 13, 0), 13);
    ipc_builder_init(&bld);
    ipc_add(&bld, IPC_STATE, "failed");
    assert_int_equal(ipc_send(a, &bld), 0);
    assert_int_equal(ipc_recv(b, &m), -EBADMSG);
    assert_int_equal(ipc_recv(b, &m), 0);
    assert_string_equal(ipc_get(&m, IPC_STATE), "failed");
}

static void test_parse_accepts(void **state)
{
    struct ipc_message m;
    char max_key[IPC_KEY_MAX + 8];
    char many[IPC_MAX_FIELDS * 8 + 1] = "";
    (void)state;

    parse_ok("A=\n", &m);
    assert_int_equal(m.n_fields, 1);
    assert_string_equal(ipc_get(&m, "A"), "");
    /* '=' inside a value is data; only the first one separates. */
    parse_ok("K_=a=b==\n", &m);
    assert_string_equal(ipc_get(&m, "K_"), "a=b==");
    /* Tabs and other non-line controls are valid UTF-8 text and pass through. */
    parse_ok("T=a\tb\x1b[0m\n", &m);
    assert_string_equal(ipc_get(&m, "T"), "a\tb\x1b[0m");

    memset(max_key, 'K', IPC_KEY_MAX);
    strcpy(max_key + IPC_KEY_MAX, "=v\n");
    parse_ok(max_key, &m);

    for (int i = 0; i < IPC_MAX_FIELDS; i++)
        sprintf(many + strlen(many), "K%c=%d\n", 'A' + i, i);
    parse_ok(many, &m);
    assert_int_equal(m.n_fields, IPC_MAX_FIELDS);
    assert_string_equal(ipc_get(&m, "KP"), "15");
}

static void test_parse_refuses(void **state)
{
    char text[IPC_MAX_DATAGRAM + 2];
    char many[(IPC_MAX_FIELDS + 1) * 8 + 1] = "";
    (void)state;

    parse_bad("");
    parse_bad("\n");
    parse_bad("STATE=running");           /* no final newline */
    parse_bad("STATE=running\n\n");       /* empty line */
    parse_bad("STATE\n");                 /* no '=' */
    parse_bad("=running\n");              /* empty key */
    parse_bad("state=running\n");         /* lower case */
    parse_bad("STATE1=x\n");              /* digit */
    parse_bad("ST ATE=x\n");              /* space */
    parse_bad(" STATE=x\n");              /* leading space */
    parse_bad("STATE=a\r\n");             /* CR */
    parse_bad("STATE=a\rb\n");            /* CR inside */
    parse_bad("STATE=x\nSTATE=y\n");      /* duplicate key */
    parse_bad("A=1\nB=2\nA=3\n");         /* duplicate key, later */
    parse_bad("TEXT=a\\tb\n");            /* unknown escape */
    parse_bad("TEXT=a\\\n");              /* backslash at the end */
    parse_bad("TEXT=\\x41\n");            /* no hex escapes */
    parse_bad("TEXT=\xc3\x28\n");         /* invalid UTF-8 */
    parse_bad("TEXT=\xc0\xaf\n");         /* overlong */
    parse_bad("TEXT=\xed\xa0\x80\n");     /* surrogate */
    parse_bad("TEXT=\xf4\x90\x80\x80\n"); /* above U+10FFFF */
    parse_bad("TEXT=\xe2\x82\n");         /* truncated sequence */
    parse_bad("T\xc3\xa9=x\n");           /* non-ASCII key */
    parse_bad_len("TEXT=a\0b\n", 9);      /* NUL in a value */
    parse_bad_len("TE\0T=ab\n", 8);       /* NUL in a key */
    parse_bad_len("A=1\n\0", 5);          /* NUL after the last line */

    memset(text, 'K', IPC_KEY_MAX + 1);
    strcpy(text + IPC_KEY_MAX + 1, "=v\n");
    parse_bad(text); /* key too long */

    for (int i = 0; i <= IPC_MAX_FIELDS; i++)
        sprintf(many + strlen(many), "K%c=%d\n", 'A' + i, i);
    parse_bad(many);

    memcpy(text, "TEXT=", 5);
    memset(text + 5, 'x', IPC_MAX_DATAGRAM - 5);
    text[IPC_MAX_DATAGRAM] = '\n';
    parse_bad_len(text, IPC_MAX_DATAGRAM + 1);
    parse_bad_len(NULL, 0);
}

static void test_get_int64(void **state)
{
    struct ipc_message m;
    int64_t v = 0;
    (void)state;

    parse_ok("A=0\nB=-9223372036854775808\nC=9223372036854775807\nD=9223372036854775808\n"
             "E=-9223372036854775809\nF=007\nG=-0\nH=+1\nI=1x\nJ=\nK=-\nL= 1\n",
             &m);
    assert_int_equal(ipc_get_int64(&m, "A", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(ipc_get_int64(&m, "B", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(ipc_get_int64(&m, "C", &v), 0);
    assert_true(v == INT64_MAX);
    v = 42;
    assert_int_equal(ipc_get_int64(&m, "D", &v), -ERANGE);
    assert_int_equal(ipc_get_int64(&m, "E", &v), -ERANGE);
    for (const char *k = "FGHIJKL"; *k; k++)
        assert_int_equal(ipc_get_int64(&m, (char[]){*k, 0}, &v), -EBADMSG);
    assert_int_equal(ipc_get_int64(&m, "Z", &v), -ENOENT);
    assert_int_equal(v, 42); /* untouched by every failure */
}

static void test_kind(void **state)
{
    struct ipc_message m;
    (void)state;

    parse_ok("STATE=failed\nERROR=exit 1\n", &m);
    assert_int_equal(ipc_kind(&m), IPC_KIND_STATE);
    parse_ok("MESSAGE=5\n", &m);
    assert_int_equal(ipc_kind(&m), IPC_KIND_MESSAGE);
    parse_ok("ROOM=#family:clarun.xyz\nROOM_ID=!fam:clarun.xyz\nJOINED=1\n", &m);
    assert_int_equal(ipc_kind(&m), IPC_KIND_ROOM);
    parse_ok("RESOLVE=1\n", &m);
    assert_int_equal(ipc_kind(&m), IPC_KIND_RESOLVE);
    parse_ok("COUNTERS=5\nCOMMANDS=1\nREPLIES=1\nPLUGIN_ERRORS=0\nSKIPPED_OLD=0\nREFUSED=0\n", &m);
    assert_int_equal(ipc_kind(&m), IPC_KIND_COUNTERS);
    parse_ok("COUNTERS=5\nSYNC=5\n", &m);
    assert_int_equal(ipc_kind(&m), -EBADMSG);
    parse_ok("ROOM=#a:b\nSTATE=running\n", &m);
    assert_int_equal(ipc_kind(&m), -EBADMSG);
    parse_ok("TEXT=x\n", &m);
    assert_int_equal(ipc_kind(&m), -EBADMSG);
    parse_ok("SYNC=1\nMESSAGE=1\n", &m);
    assert_int_equal(ipc_kind(&m), -EBADMSG);
}

/* COUNTERS: built whole by ipc_add_counters(), read whole by ipc_get_counters(); a field
 * missing, negative or not a decimal refuses the datagram and leaves the struct alone. */
static void test_counters(void **state)
{
    static const char *const bad[] = {
            "COUNTERS=1\nCOMMANDS=1\nREPLIES=1\nPLUGIN_ERRORS=0\nSKIPPED_OLD=0\n",
            "COUNTERS=1\nCOMMANDS=-1\nREPLIES=1\nPLUGIN_ERRORS=0\nSKIPPED_OLD=0\nREFUSED=0\n",
            "COUNTERS=1\nCOMMANDS=1\nREPLIES=x\nPLUGIN_ERRORS=0\nSKIPPED_OLD=0\nREFUSED=0\n",
            "COUNTERS=1\nCOMMANDS=1\nREPLIES=1\nPLUGIN_ERRORS=0\nSKIPPED_OLD=0\nREFUSED=01\n",
    };
    struct ipc_counters c = {.commands = 7, .replies = 6, .plugin_errors = 1,
                             .skipped_old = 12, .refused = INT64_MAX};
    struct ipc_counters got = {0}, untouched = {.commands = 99};
    struct ipc_builder bld;
    struct ipc_message m;
    const char *data;
    size_t len;
    (void)state;

    ipc_builder_init(&bld);
    ipc_add_counters(&bld, 1700000000, &c);
    assert_int_equal(ipc_builder_result(&bld, &data, &len), 0);
    assert_int_equal(ipc_parse(data, len, &m), 0);
    assert_int_equal(m.n_fields, 6);
    assert_int_equal(ipc_kind(&m), IPC_KIND_COUNTERS);
    assert_string_equal(ipc_get(&m, IPC_COUNTERS), "1700000000");
    assert_int_equal(ipc_get_counters(&m, &got), 0);
    assert_memory_equal(&got, &c, sizeof(c));
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        got = untouched;
        parse_ok(bad[i], &m);
        assert_int_equal(ipc_get_counters(&m, &got), -EBADMSG);
        assert_memory_equal(&got, &untouched, sizeof(got));
    }
}

static void test_escape_roundtrip(void **state)
{
    static const char *const values[] = {
            "",
            "plain",
            "\\",
            "\\n is not a newline",
            "two\nlines\r\n",
            "C:\\path\\n\\\\",
            "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
            "\xef\xbb\xbf BOM and U+2028 \xe2\x80\xa8 ok",
    };
    (void)state;

    for (size_t i = 0; i < ELEMENTSOF(values); i++) {
        _cleanup_free_ char *esc = NULL, *back = NULL;
        struct ipc_builder b;
        struct ipc_message m;
        const char *data;
        size_t len;

        assert_int_equal(ipc_escape(values[i], &esc), 0);
        assert_null(strchr(esc, '\n'));
        assert_null(strchr(esc, '\r'));
        assert_int_equal(ipc_unescape(esc, &back), 0);
        assert_string_equal(back, values[i]);

        /* The builder writes exactly the escaped form. */
        ipc_builder_init(&b);
        ipc_add(&b, "V", values[i]);
        assert_int_equal(ipc_builder_result(&b, &data, &len), 0);
        assert_int_equal(len, strlen(esc) + 3);
        assert_memory_equal(data + 2, esc, strlen(esc));
        assert_int_equal(ipc_parse(data, len, &m), 0);
        assert_string_equal(ipc_get(&m, "V"), values[i]);
    }
}

static void test_escape_refuses(void **state)
{
    char *out = (char *)"untouched";
    (void)state;

    assert_int_equal(ipc_escape("bad \xff byte", &out), -EILSEQ);
    assert_int_equal(ipc_unescape("a\\tb", &out), -EBADMSG);
    assert_int_equal(ipc_unescape("end\\", &out), -EBADMSG);
    assert_int_equal(ipc_unescape("raw\nnewline", &out), -EBADMSG);
    assert_int_equal(ipc_unescape("raw\rCR", &out), -EBADMSG);
    assert_int_equal(ipc_unescape("\xc3", &out), -EBADMSG);
    assert_string_equal(out, "untouched");
}

static void test_builder_sticky_errors(void **state)
{
    struct ipc_builder b;
    char value[IPC_MAX_DATAGRAM];
    const char *data = NULL;
    (void)state;

    ipc_builder_init(&b);
    assert_int_equal(ipc_builder_result(&b, &data, NULL), -EINVAL); /* empty */

    ipc_builder_init(&b);
    ipc_add(&b, "lower", "x");
    ipc_add(&b, "GOOD", "x");
    assert_int_equal(ipc_builder_result(&b, &data, NULL), -EINVAL);
    assert_int_equal(ipc_send(-1, &b), -EINVAL); /* the error, before any syscall */

    ipc_builder_init(&b);
    ipc_add(&b, "A", "1");
    ipc_add(&b, "AB", "2");
    ipc_add(&b, "A", "3"); /* duplicate, though "AB" shares its prefix */
    assert_int_equal(b.error, -EINVAL);

    ipc_builder_init(&b);
    ipc_add(&b, "", "x");
    assert_int_equal(b.error, -EINVAL);

    ipc_builder_init(&b);
    ipc_add(&b, "A", NULL);
    assert_int_equal(b.error, -EINVAL);

    ipc_builder_init(&b);
    ipc_add(&b, "A", "\xc3\x28");
    ipc_add(&b, "B", "fine");
    assert_int_equal(b.error, -EILSEQ);
    assert_int_equal(b.n_fields, 0);

    ipc_builder_init(&b);
    for (int i = 0; i <= IPC_MAX_FIELDS; i++)
        ipc_add(&b, (char[]){'K', (char)('A' + i), 0}, "v");
    assert_int_equal(b.error, -E2BIG);

    /* Exactly full is fine; one byte more is -E2BIG, and what was built stays intact. */
    ipc_builder_init(&b);
    memset(value, 'x', IPC_MAX_DATAGRAM - 3);
    value[IPC_MAX_DATAGRAM - 3] = '\0';
    ipc_add(&b, "A", value);
    assert_int_equal(b.error, 0);
    assert_int_equal(b.len, IPC_MAX_DATAGRAM);
    ipc_builder_init(&b);
    value[IPC_MAX_DATAGRAM - 4] = '\\'; /* escapes to two bytes: one too many */
    ipc_add(&b, "A", value);
    assert_int_equal(b.error, -E2BIG);
    assert_int_equal(b.len, 0);
}

static void test_add_head_tail(void **state)
{
    /* "é" is 2 bytes, "😀" 4, "\n" escapes to 2. */
    static const char s[] = "ab\xc3\xa9\n\xf0\x9f\x98\x80z";
    struct ipc_builder b;
    struct ipc_message m;
    const char *data;
    size_t len;
    (void)state;

    ipc_builder_init(&b);
    ipc_add_head(&b, "HC", s, 3);   /* "ab" + half of é: cut to "ab" */
    ipc_add_head(&b, "HD", s, 4);   /* "abé" */
    ipc_add_head(&b, "HE", s, 5);   /* "\n" would need 2 more */
    ipc_add_head(&b, "HF", s, 6);   /* "abé\n" */
    ipc_add_head(&b, "HX", s, 100); /* all of it */
    ipc_add_tail(&b, "TA", s, 1);   /* "z" */
    ipc_add_tail(&b, "TD", s, 4);   /* "😀" needs 4 + "z": only "z" */
    ipc_add_tail(&b, "TE", s, 5);   /* "😀z" */
    ipc_add_tail(&b, "TF", s, 6);   /* the "\n" needs 2: still "😀z" */
    ipc_add_tail(&b, "TG", s, 7);   /* "\n😀z" */
    ipc_add_tail(&b, "TZ", s, 0);   /* empty */
    assert_int_equal(ipc_builder_result(&b, &data, &len), 0);
    assert_int_equal(ipc_parse(data, len, &m), 0);
    assert_string_equal(ipc_get(&m, "HC"), "ab");
    assert_string_equal(ipc_get(&m, "HD"), "ab\xc3\xa9");
    assert_string_equal(ipc_get(&m, "HE"), "ab\xc3\xa9");
    assert_string_equal(ipc_get(&m, "HF"), "ab\xc3\xa9\n");
    assert_string_equal(ipc_get(&m, "HX"), s);
    assert_string_equal(ipc_get(&m, "TA"), "z");
    assert_string_equal(ipc_get(&m, "TD"), "z");
    assert_string_equal(ipc_get(&m, "TE"), "\xf0\x9f\x98\x80z");
    assert_string_equal(ipc_get(&m, "TF"), "\xf0\x9f\x98\x80z");
    assert_string_equal(ipc_get(&m, "TG"), "\n\xf0\x9f\x98\x80z");
    assert_string_equal(ipc_get(&m, "TZ"), "");

    ipc_builder_init(&b);
    ipc_add_tail(&b, "T", "\xff", 10);
    assert_int_equal(b.error, -EILSEQ);
}

/* The vocabulary's bounds are consistent: a LOG datagram with every field at its bound, of
 * the worst escaping, fits. */
static void test_log_at_bounds_fits(void **state)
{
    static char text[4 * IPC_MAX_DATAGRAM];
    struct ipc_builder b;
    struct ipc_message m;
    (void)state;

    memset(text, '\\', sizeof text - 1);
    ipc_builder_init(&b);
    ipc_add(&b, IPC_LOG, "CRITICAL");
    ipc_add_head(&b, IPC_TEXT, text, IPC_TEXT_MAX);
    ipc_add_head(&b, IPC_ROOM_ID, text, IPC_ID_MAX);
    ipc_add_head(&b, IPC_EVENT_ID, text, IPC_ID_MAX);
    ipc_add_head(&b, IPC_ERROR_TYPE, text, IPC_ERROR_TYPE_MAX);
    ipc_add_tail(&b, IPC_TRACE, text, IPC_TRACE_MAX);
    assert_int_equal(b.error, 0);
    assert_true(b.len <= IPC_MAX_DATAGRAM);
    assert_int_equal(ipc_parse(b.buf, b.len, &m), 0);
    assert_int_equal(strlen(ipc_get(&m, IPC_TRACE)), IPC_TRACE_MAX / 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip_socketpair),
            cmocka_unit_test(test_peer_closed),
            cmocka_unit_test(test_full_socket_eagain),
            cmocka_unit_test(test_oversized_datagram),
            cmocka_unit_test(test_parse_accepts),
            cmocka_unit_test(test_parse_refuses),
            cmocka_unit_test(test_get_int64),
            cmocka_unit_test(test_kind),
            cmocka_unit_test(test_counters),
            cmocka_unit_test(test_escape_roundtrip),
            cmocka_unit_test(test_escape_refuses),
            cmocka_unit_test(test_builder_sticky_errors),
            cmocka_unit_test(test_add_head_tail),
            cmocka_unit_test(test_log_at_bounds_fits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
