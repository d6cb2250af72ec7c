/*
 * http-server — answers every HTTP/1.x request with "Hello, World!" (evio's http example,
 * in C): keep-alive, pipelining (the requests of one read are answered with one write),
 * requests split over several reads (kept in an evio_input_stream), request bodies with
 * Content-Length, and `Connection: close`. The parser is a file of its own (http_proto.c).
 *
 *   http-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *               [--body-size N]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:8080). `--body-size N` answers N
 * bytes ("xxx...", at most 16 MiB) instead of "Hello, World!": large answers, for the
 * backpressure test and for benchmarks.
 *
 * Limits (past them the answer is an error status with `Connection: close`, then close):
 *   request head     64 KiB (HTTP_MAX_HEAD): 431 Request Header Fields Too Large
 *   request body     16 MiB (HTTP_MAX_BODY): 413 Content Too Large
 *   a bad request    400 Bad Request; Transfer-Encoding (chunked bodies): 501
 *   pending output   a client that pipelines requests without reading the answers does not
 *                    make the server buffer them without end: see OUTPUT_HIGH below.
 *
 * Try it:  http-server tcp://127.0.0.1:8080 &   curl -i http://127.0.0.1:8080/
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include "example.h"    /* main(): the command line, Ctrl-C, the "serving on" line */
#include "http_proto.h" /* the request parser */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HELLO "Hello, World!"
#define MAX_BODY_SIZE ((size_t)16 * 1024 * 1024) /* --body-size at most */

/* The body of every 200 answer: set by main() before the server starts, then only read. */
static const char *body = HELLO;
static size_t body_len = sizeof HELLO - 1;

/* ---- the answer ------------------------------------------------------------------------ */

/* The Date header changes once a second; each loop thread keeps its own copy. */
static __thread time_t date_when = -1;
static __thread char date_text[64];

static const char *http_date(void) {
    time_t now = time(NULL);
    if (now != date_when) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date_text, sizeof date_text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_when = now;
    }
    return date_text;
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} outbuf;

/* Each loop thread reuses one answer buffer; a pthread key destructor frees it when the
 * thread ends. One larger than OUT_KEEP is freed after the call that needed it. */
#define OUT_KEEP ((size_t)2 << 20)
static __thread outbuf out;
static __thread int out_registered;
static pthread_key_t out_key;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static void out_free(void *p) {
    outbuf *o = p;
    free(o->p);
    memset(o, 0, sizeof *o);
}

static void out_key_create(void) {
    pthread_key_create(&out_key, out_free);
}

static void out_register(void) {
    pthread_once(&out_once, out_key_create);
    pthread_setspecific(out_key, &out);
    out_registered = 1;
}

static void out_add(const char *b, size_t n) {
    if (out.oom)
        return;
    if (out.len + n > out.cap) {
        size_t cap = out.cap ? out.cap : 4096;
        while (cap < out.len + n)
            cap *= 2;
        char *p = realloc(out.p, cap);
        if (!p) {
            out.oom = 1;
            return;
        }
        out.p = p;
        out.cap = cap;
    }
    memcpy(out.p + out.len, b, n);
    out.len += n;
}

static void respond(const char *status, const char *text, size_t len, int head_only, int keep_alive,
                    int http10) {
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %s\r\nServer: evio\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     status, http_date(), len,
                     !keep_alive ? "Connection: close\r\n"
                     : http10    ? "Connection: keep-alive\r\n"
                                 : "");
    out_add(hdr, (size_t)k);
    if (!head_only)
        out_add(text, len);
}

/* The answer to a request the parser refused; the connection closes after it. */
static void respond_error(int result) {
    char text[64];
    int k = snprintf(text, sizeof text, "%s\n", http_error_status(result));
    respond(http_error_status(result), text, (size_t)k, 0, 0, 0);
}

/* ---- evio callbacks --------------------------------------------------------------------- */

/* Each connection keeps its unparsed bytes and how far the parser got into them. */
typedef struct {
    evio_input_stream in;
    http_parser parser;
    int stalled; /* parsing stopped for the output to drain (see process()) */
} client;

/* A client that pipelines requests without reading the answers must not make the server
 * buffer them without end: answering stops once this much output is pending (the
 * library's default high watermark), the unparsed rest is kept, reading pauses, and
 * `drained` goes on when the output is back at the low watermark. */
#define OUTPUT_HIGH ((size_t)1 << 20)

static evio_action opened(evio_conn *conn, void *udata) {
    (void)udata;
    client *c = malloc(sizeof *c);
    if (!c)
        return EVIO_CLOSE;
    c->in = (evio_input_stream)EVIO_INPUT_STREAM_INIT;
    c->stalled = 0;
    http_parser_init(&c->parser);
    evio_conn_set_context(conn, c);
    evio_conn_set_reuse_input(conn, 1); /* leftovers are copied by the input stream */
    return EVIO_NONE;
}

static evio_action closed(evio_conn *conn, int err, void *udata) {
    (void)err;
    (void)udata;
    client *c = evio_conn_context(conn);
    if (c) {
        evio_input_stream_free(&c->in);
        free(c);
        evio_conn_set_context(conn, NULL);
    }
    return EVIO_NONE;
}

/* Answers the whole requests in d[0, n) until the answers pass `budget` bytes; returns how
 * many bytes they took and sets *action (EVIO_CLOSE after an error or a request that
 * does not keep the connection alive). */
static size_t answer_requests(http_parser *parser, const char *d, size_t n, size_t budget,
                              evio_action *action) {
    size_t pos = 0;
    *action = EVIO_NONE;
    while (*action == EVIO_NONE && out.len < budget) {
        http_request req;
        int r = http_parse(parser, d + pos, n - pos, &req);
        if (r == HTTP_INCOMPLETE)
            break;
        if (r < 0) {
            respond_error(r);
            *action = EVIO_CLOSE;
            break;
        }
        respond("200 OK", body, body_len, req.head_only, req.keep_alive, req.minor_version == 0);
        pos += req.len;
        if (!req.keep_alive)
            *action = EVIO_CLOSE;
    }
    return pos;
}

/* Parses and answers what `in` adds to the kept bytes, while the output pending stays
 * under OUTPUT_HIGH; past it, stops with the rest kept and reading paused. */
static evio_action process(evio_conn *conn, client *c, const void *in, size_t len) {
    if (!out_registered)
        out_register();
    for (;;) {
        const void *dv;
        size_t n, pending = 0;
        if (evio_input_stream_begin(&c->in, in, len, &dv, &n) < 0)
            return EVIO_CLOSE;
        in = NULL, len = 0; /* from now on: only what is kept */
        const char *d = dv;
        evio_conn_pending(conn, &pending);
        /* Answers up to just past OUTPUT_HIGH: past the high watermark, `drained` comes. */
        const size_t budget = pending <= OUTPUT_HIGH ? OUTPUT_HIGH - pending + 1 : 0;
        out.len = 0;
        out.oom = 0;
        evio_action action;
        size_t pos = answer_requests(&c->parser, d, n, budget, &action);
        /* Stopped by the budget with bytes left: maybe more whole requests. */
        int more = action == EVIO_NONE && pos < n && out.len >= budget;
        /* The unparsed tail is kept; the parser remembers how far into it it got. After
         * an error or a last request the rest is not read. */
        if (action != EVIO_NONE)
            pos = n;
        if (evio_input_stream_end(&c->in, d + pos, n - pos) < 0)
            return EVIO_CLOSE;
        if (out.oom)
            return EVIO_CLOSE;
        if (out.len > 0 && evio_conn_write(conn, out.p, out.len) < 0)
            return EVIO_CLOSE;
        out.len = 0;
        if (out.cap > OUT_KEEP)
            out_free(&out);
        if (action != EVIO_NONE || !more)
            return action;
        evio_conn_pending(conn, &pending);
        if (pending > OUTPUT_HIGH) { /* wait for `drained` */
            c->stalled = 1;
            evio_conn_pause_read(conn);
            return EVIO_NONE;
        }
    }
}

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (len == 0 || !c)
        return EVIO_NONE; /* a wake: nothing to do */
    return process(conn, c, in, len);
}

static evio_action drained(evio_conn *conn, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (!c || !c->stalled)
        return EVIO_NONE;
    c->stalled = 0;
    evio_conn_resume_read(conn);
    return process(conn, c, NULL, 0); /* the requests kept while the output drained */
}

/* Takes --body-size N out of argv (example_main() knows the other options) and makes the
 * body. Returns the new argc, or -1 for a bad N (or no memory for it). */
static int take_body_size(int argc, char **argv, char **made) {
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--body-size") != 0) {
            argv[kept++] = argv[i];
            continue;
        }
        const char *s = i + 1 < argc ? argv[++i] : "";
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || v > MAX_BODY_SIZE)
            return -1;
        free(*made);
        *made = malloc(v ? (size_t)v : 1);
        if (!*made)
            return -1;
        memset(*made, 'x', (size_t)v);
        body = *made;
        body_len = (size_t)v;
    }
    argv[kept] = NULL;
    return kept;
}

int main(int argc, char **argv) {
    char *made = NULL;
    argc = take_body_size(argc, argv, &made);
    if (argc < 0) {
        fprintf(stderr, "http-server: --body-size wants a number of bytes up to %zu\n",
                MAX_BODY_SIZE);
        free(made);
        return 2;
    }
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = opened;
    ev.closed = closed;
    ev.data = data;
    ev.drained = drained;
    int rc = example_main("http-server", "tcp://127.0.0.1:8080", &ev, argc, argv);
    out_free(&out); /* in case a loop ran on this thread */
    free(made);
    return rc;
}
