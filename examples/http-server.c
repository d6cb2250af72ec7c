/*
 * http-server — answers every HTTP/1.x request with "Hello, World!" (evio's http example,
 * in C): keep-alive, pipelining (all requests of one read are answered with one write),
 * requests split over several reads (kept in an evio_input_stream), request bodies with
 * Content-Length, and `Connection: close`.
 *
 *   http-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:8080).
 * Try it:  http-server tcp://127.0.0.1:8080 &   curl -i http://127.0.0.1:8080/
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* memmem */
#include <evio.h>

#include "example.h" /* main(): the command line, Ctrl-C, the "serving on" line */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BODY "Hello, World!"
#define MAX_HEAD 65536              /* longest request head (request line + headers) */
#define MAX_BODY (16 * 1024 * 1024) /* longest request body we wait for */

/* ---- the response --------------------------------------------------------------------- */

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

/* Each loop thread reuses one reply buffer; a pthread key destructor frees it when the
 * thread ends. */
static __thread outbuf out;
static __thread int out_registered;
static pthread_key_t out_key;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static void out_free(void *p) {
    outbuf *o = p;
    free(o->p);
    memset(o, 0, sizeof *o);
}

static void out_key_create(void) { pthread_key_create(&out_key, out_free); }

static void out_register(void) {
    pthread_once(&out_once, out_key_create);
    pthread_setspecific(out_key, &out);
    out_registered = 1;
}

static void out_add(const char *b, size_t n) {
    if (out.oom) return;
    if (out.len + n > out.cap) {
        size_t cap = out.cap ? out.cap : 4096;
        while (cap < out.len + n) cap *= 2;
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

static void respond(const char *status, const char *body, int head_only, int keep_alive,
                    int http10) {
    char hdr[512];
    size_t blen = strlen(body);
    int k = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 %s\r\nServer: evio\r\nDate: %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     status, http_date(), blen,
                     !keep_alive ? "Connection: close\r\n"
                                 : http10 ? "Connection: keep-alive\r\n" : "");
    out_add(hdr, (size_t)k);
    if (!head_only) out_add(body, blen);
}

/* ---- the request parser ----------------------------------------------------------------- */

enum { REQ_INCOMPLETE = 0, REQ_OK = 1, REQ_BAD = -1, REQ_TOO_BIG = -2, REQ_UNSUPPORTED = -3 };

typedef struct {
    int head_only;  /* HEAD: no body in the answer */
    int keep_alive; /* the connection stays open after the answer */
    int http10;
} request;

static int token_eq(const char *p, size_t n, const char *lit) {
    return n == strlen(lit) && strncasecmp(p, lit, n) == 0;
}

/* Does a comma-separated header value contain `word` (case-insensitive)? */
static int has_word(const char *v, size_t n, const char *word) {
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= n; i++) {
        if ((i == 0 || v[i - 1] == ',' || v[i - 1] == ' ') && strncasecmp(v + i, word, wl) == 0 &&
            (i + wl == n || v[i + wl] == ',' || v[i + wl] == ' '))
            return 1;
    }
    return 0;
}

/* Parses one request at d[0..n); on REQ_OK, *used is its length (head and body). */
static int parse_request(const char *d, size_t n, size_t *used, request *req) {
    const char *end = memmem(d, n, "\r\n\r\n", 4);
    if (!end) return n > MAX_HEAD ? REQ_TOO_BIG : REQ_INCOMPLETE;
    size_t headlen = (size_t)(end - d) + 4;
    if (headlen > MAX_HEAD) return REQ_TOO_BIG;

    /* request line: METHOD SP TARGET SP HTTP/1.x */
    const char *le = memchr(d, '\r', headlen);
    const char *sp1 = memchr(d, ' ', (size_t)(le - d));
    if (!sp1 || sp1 == d) return REQ_BAD;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
    if (!sp2 || sp2 == sp1 + 1) return REQ_BAD;
    size_t plen = (size_t)(le - sp2 - 1);
    if (plen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return REQ_BAD;
    req->http10 = sp2[8] == '0';
    req->keep_alive = !req->http10;
    req->head_only = token_eq(d, (size_t)(sp1 - d), "HEAD");

    /* headers */
    long long clen = 0;
    const char *p = le + 2;
    while (p < end + 2) {
        const char *e = memchr(p, '\r', (size_t)(end + 2 - p));
        if (!e || e[1] != '\n') return REQ_BAD;
        const char *colon = memchr(p, ':', (size_t)(e - p));
        if (!colon || colon == p) return REQ_BAD;
        const char *v = colon + 1;
        while (v < e && (*v == ' ' || *v == '\t')) v++;
        size_t vlen = (size_t)(e - v);
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
        size_t nlen = (size_t)(colon - p);
        if (token_eq(p, nlen, "Content-Length")) {
            if (vlen == 0 || vlen > 12) return REQ_BAD;
            clen = 0;
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9') return REQ_BAD;
                clen = clen * 10 + (v[i] - '0');
            }
        } else if (token_eq(p, nlen, "Transfer-Encoding")) {
            return REQ_UNSUPPORTED; /* chunked request bodies: not in this example */
        } else if (token_eq(p, nlen, "Connection")) {
            if (has_word(v, vlen, "close")) req->keep_alive = 0;
            else if (has_word(v, vlen, "keep-alive")) req->keep_alive = 1;
        }
        p = e + 2;
    }
    if (clen > MAX_BODY) return REQ_TOO_BIG;
    if (n - headlen < (size_t)clen) return REQ_INCOMPLETE;
    *used = headlen + (size_t)clen;
    return REQ_OK;
}

/* ---- evio callbacks --------------------------------------------------------------------- */

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    evio_input_stream *is = evio_conn_context(conn);
    if (len == 0 || !is) return EVIO_NONE;

    if (!out_registered) out_register();
    const void *dv;
    size_t n;
    if (evio_input_stream_begin(is, in, len, &dv, &n) < 0) return EVIO_CLOSE;
    const char *d = dv;
    size_t pos = 0;
    evio_action action = EVIO_NONE;

    out.len = 0;
    out.oom = 0;
    while (pos < n && action == EVIO_NONE) {
        size_t used = 0;
        request req;
        int r = parse_request(d + pos, n - pos, &used, &req);
        if (r == REQ_INCOMPLETE) break;
        if (r == REQ_OK) {
            respond("200 OK", BODY, req.head_only, req.keep_alive, req.http10);
            pos += used;
            if (!req.keep_alive) action = EVIO_CLOSE;
        } else {
            if (r == REQ_TOO_BIG) respond("413 Payload Too Large", "too large\n", 0, 0, 0);
            else if (r == REQ_UNSUPPORTED) respond("501 Not Implemented", "not implemented\n", 0, 0, 0);
            else respond("400 Bad Request", "bad request\n", 0, 0, 0);
            action = EVIO_CLOSE;
        }
    }
    if (action != EVIO_NONE) pos = n;
    if (evio_input_stream_end(is, d + pos, n - pos) < 0) return EVIO_CLOSE;
    if (out.oom) return EVIO_CLOSE;
    if (out.len > 0 && evio_conn_write(conn, out.p, out.len) < 0) return EVIO_CLOSE;
    if (out.cap > (1u << 20)) {
        free(out.p);
        out.p = NULL;
        out.cap = 0;
    }
    out.len = 0;
    return action;
}

int main(int argc, char **argv) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = example_stream_opened;
    ev.closed = example_stream_closed;
    ev.data = data;
    int rc = example_main("http-server", "tcp://127.0.0.1:8080", &ev, argc, argv);
    out_free(&out); /* in case a loop ran on this thread */
    return rc;
}
