/*
 * The http example's request parser (examples/http_proto.c), driven directly.
 *
 * - A complete request gives its method, target, version, keep-alive, HEAD and lengths;
 *   empty lines before a request line are skipped.
 * - A pipelined stream of requests (GET, HEAD, POST with bodies, HTTP/1.0 and 1.1,
 *   Connection options) parses to the same requests in one piece, split at every byte into
 *   two pieces, and fed one byte at a time; then the parser looks at no more than 3 bytes
 *   per input byte (its `scanned` counter): the work is linear however it is split.
 * - The head is bounded: one of exactly HTTP_MAX_HEAD bytes passes, one more byte is
 *   HTTP_HEAD_TOO_LARGE, and a head that never ends is refused once HTTP_MAX_HEAD bytes
 *   came, so the caller never keeps more. A Content-Length past HTTP_MAX_BODY is refused
 *   on the header alone.
 * - Garbage: each malformed request is refused with its reason; random bytes and random
 *   mutations of good requests (seed printed as TS_SEED=...) never make it read outside
 *   the buffer (ASAN builds check that) or return a request that does not fit the input.
 */
#include "ts.h"

#include "http_proto.h"

/* ---- a driver: what http-server's `data` does, with a plain buffer ----------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void bytes_str(bytes *b, const char *s) {
    bytes_add(b, s, strlen(s));
}

typedef struct {
    http_parser p;
    bytes pending; /* fed, not yet consumed: what the server's input stream keeps */
    bytes got;     /* the requests parsed, described */
    size_t requests;
    size_t most_pending; /* the most bytes it ever had to keep */
    int result;          /* the last http_parse() result */
} driver;

static void driver_init(driver *d) {
    memset(d, 0, sizeof *d);
    http_parser_init(&d->p);
}

static void driver_free(driver *d) {
    free(d->pending.p);
    free(d->got.p);
}

/* "METHOD TARGET 1.x keep|close [head] head_len+body_len\n" */
static void describe(bytes *out, const char *base, const http_request *r) {
    char tmp[128];
    bytes_add(out, base + r->method.off, r->method.len);
    bytes_str(out, " ");
    bytes_add(out, base + r->target.off, r->target.len);
    snprintf(tmp, sizeof tmp, " 1.%d %s%s %zu+%zu\n", r->minor_version,
             r->keep_alive ? "keep" : "close", r->head_only ? " head" : "", r->head_len,
             r->body_len);
    bytes_str(out, tmp);
}

/* Adds `n` bytes and parses every whole request; returns the last http_parse() result. */
static int feed(driver *d, const void *in, size_t n) {
    bytes_add(&d->pending, in, n);
    if (d->pending.len > d->most_pending)
        d->most_pending = d->pending.len;
    size_t pos = 0;
    http_request req;
    int r;
    while ((r = http_parse(&d->p, d->pending.p + pos, d->pending.len - pos, &req)) ==
           HTTP_REQUEST) {
        assert_true(req.len == req.head_len + req.body_len);
        assert_true(req.len <= d->pending.len - pos);
        describe(&d->got, d->pending.p + pos, &req);
        d->requests++;
        pos += req.len;
    }
    if (pos > 0) { /* keep the tail, moved to the front as evio_input_stream_end() does */
        memmove(d->pending.p, d->pending.p + pos, d->pending.len - pos);
        d->pending.len -= pos;
    }
    d->result = r;
    return r;
}

static int feed_str(driver *d, const char *s) {
    return feed(d, s, strlen(s));
}

/* Parses `text` alone (from a buffer of exactly its size) and expects `result` and `why`. */
static void expect_error(const char *text, int result, const char *why) {
    size_t n = strlen(text);
    char *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, text, n);
    http_parser p;
    http_parser_init(&p);
    http_request req;
    int r = http_parse(&p, exact, n, &req);
    if (r != result)
        fail_msg("%s: got %d, want %d (%s)", text, r, result, why);
    assert_string_equal(p.err, why);
    /* A failed parser stays failed, with the same result. */
    assert_int_equal(http_parse(&p, "GET / HTTP/1.1\r\n\r\n", 18, &req), result);
    free(exact);
}

/* ---- one request ---------------------------------------------------------------------------- */

static void test_complete_request(void **s) {
    (void)s;
    const char text[] = "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"
                        "User-Agent: t\r\nAccept: */*\r\n\r\n";
    http_parser p;
    http_parser_init(&p);
    http_request req;
    assert_int_equal(http_parse(&p, text, sizeof text - 1, &req), HTTP_REQUEST);
    assert_int_equal(req.method.off, 0);
    assert_int_equal(req.method.len, 3);
    assert_memory_equal(text + req.target.off, "/index.html?x=1", req.target.len);
    assert_int_equal(req.target.len, 15);
    assert_int_equal(req.minor_version, 1);
    assert_int_equal(req.keep_alive, 1);
    assert_int_equal(req.head_only, 0);
    assert_int_equal(req.head_len, sizeof text - 1);
    assert_int_equal(req.body_len, 0);
    assert_int_equal(req.len, sizeof text - 1);
    /* The parser is ready for the next request: an empty rest is incomplete. */
    assert_int_equal(http_parse(&p, text + req.len, 0, &req), HTTP_INCOMPLETE);
}

static void test_keep_alive_rules(void **s) {
    (void)s;
    struct {
        const char *text, *want;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", "GET / 1.1 keep 18+0\n"},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "GET / 1.1 close 37+0\n"},
        {"GET / HTTP/1.1\r\nconnection: Keep-Alive, CLOSE\r\n\r\n", "GET / 1.1 close 49+0\n"},
        {"GET / HTTP/1.0\r\n\r\n", "GET / 1.0 close 18+0\n"},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET / 1.0 keep 42+0\n"},
        {"GET / HTTP/1.0\r\nConnection:  upgrade ,keep-alive \r\n\r\n", "GET / 1.0 keep 53+0\n"},
        {"GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n", "GET / 1.1 keep 39+0\n"},
        {"HEAD /h HTTP/1.1\r\n\r\n", "HEAD /h 1.1 keep head 20+0\n"},
        {"\r\n\r\nGET / HTTP/1.1\r\n\r\n", "GET / 1.1 keep 22+0\n"}, /* empty lines first */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        driver d;
        driver_init(&d);
        assert_int_equal(feed_str(&d, cases[i].text), HTTP_INCOMPLETE);
        assert_int_equal(d.requests, 1);
        bytes_add(&d.got, "", 1);
        assert_string_equal(d.got.p, cases[i].want);
        driver_free(&d);
    }
}

static void test_body(void **s) {
    (void)s;
    driver d;
    driver_init(&d);
    assert_int_equal(feed_str(&d, "POST /f HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234"),
                     HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 0);
    assert_int_equal(feed_str(&d, "5678"), HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 0);
    assert_int_equal(feed_str(&d, "9GET"), HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 1);
    assert_int_equal(d.pending.len, 3); /* "GET", the next request's start */
    bytes_add(&d.got, "", 1);
    assert_string_equal(d.got.p, "POST /f 1.1 keep 40+10\n");
    driver_free(&d);

    /* The same Content-Length twice is one; the bound passes, one more is too large. */
    driver_init(&d);
    assert_int_equal(feed_str(&d, "PUT / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2"
                                  "\r\n\r\nokGET / HTTP/1.1\r\nContent-Length: 16777216\r\n\r\n"),
                     HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 1);
    driver_free(&d);
    expect_error("POST / HTTP/1.1\r\nContent-Length: 16777217\r\n", HTTP_BODY_TOO_LARGE,
                 "body too large");
    expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n",
                 HTTP_BODY_TOO_LARGE, "body too large");
}

/* ---- pipelined, and split anywhere ---------------------------------------------------------- */

static const char *const pipeline[] = {
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "HEAD /status HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n",
    "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\na=1&b=2",
    "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "PUT /up HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
    "\r\nOPTIONS * HTTP/1.1\r\n\r\n",
    "POST /crlf HTTP/1.1\r\nContent-Length: 4\r\n\r\n\r\n\r\n",
    "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n",
};
#define PIPELINED (sizeof pipeline / sizeof pipeline[0])

static void pipeline_text(bytes *text) {
    for (size_t i = 0; i < PIPELINED; i++)
        bytes_str(text, pipeline[i]);
}

static void test_pipelined(void **s) {
    (void)s;
    bytes text = {0};
    pipeline_text(&text);
    driver d;
    driver_init(&d);
    assert_int_equal(feed(&d, text.p, text.len), HTTP_INCOMPLETE);
    assert_int_equal(d.requests, PIPELINED);
    assert_int_equal(d.pending.len, 0);
    bytes_add(&d.got, "", 1);
    assert_string_equal(d.got.p, "GET / 1.1 keep 27+0\n"
                                 "HEAD /status 1.1 keep head 54+0\n"
                                 "POST /form 1.1 keep 51+7\n"
                                 "GET /old 1.0 keep 45+0\n"
                                 "PUT /up 1.1 keep 39+0\n"
                                 "OPTIONS * 1.1 keep 24+0\n"
                                 "POST /crlf 1.1 keep 42+4\n"
                                 "GET /last 1.1 close 41+0\n");
    driver_free(&d);
    free(text.p);
}

static void test_split_at_every_byte(void **s) {
    (void)s;
    bytes text = {0};
    pipeline_text(&text);
    driver once;
    driver_init(&once);
    feed(&once, text.p, text.len);
    assert_int_equal(once.requests, PIPELINED);

    for (size_t k = 0; k <= text.len; k++) { /* two pieces: [0, k) and [k, len) */
        driver d;
        driver_init(&d);
        assert_true(feed(&d, text.p, k) >= 0);
        assert_int_equal(feed(&d, text.p + k, text.len - k), HTTP_INCOMPLETE);
        assert_int_equal(d.requests, PIPELINED);
        assert_int_equal(d.got.len, once.got.len);
        assert_memory_equal(d.got.p, once.got.p, once.got.len);
        driver_free(&d);
    }

    driver d; /* one byte at a time */
    driver_init(&d);
    for (size_t i = 0; i < text.len; i++)
        assert_int_equal(feed(&d, text.p + i, 1), HTTP_INCOMPLETE);
    assert_int_equal(d.requests, PIPELINED);
    assert_memory_equal(d.got.p, once.got.p, once.got.len);
    assert_true(d.p.scanned <= 3 * text.len);
    driver_free(&d);
    driver_free(&once);
    free(text.p);
}

static void test_large_head_byte_by_byte_is_linear(void **s) {
    (void)s;
    bytes text = {0};
    bytes_str(&text, "GET / HTTP/1.1\r\n");
    while (text.len < HTTP_MAX_HEAD - 200)
        bytes_str(&text, "X-Filler: 0123456789abcdef\r\n");
    bytes_str(&text, "\r\n");
    driver d;
    driver_init(&d);
    for (size_t i = 0; i < text.len; i++)
        feed(&d, text.p + i, 1);
    assert_int_equal(d.result, HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 1);
    /* Rescanning the pending head on every call would look at ~len^2/2 bytes (~2 * 10^9). */
    printf("  %zu bytes fed one at a time; the parser looked at %zu\n", text.len, d.p.scanned);
    assert_true(d.p.scanned <= 3 * text.len);
    driver_free(&d);
    free(text.p);
}

/* ---- the bound on the head ------------------------------------------------------------------ */

/* A request whose head is exactly `head_len` bytes (a filler header makes up the rest). */
static void head_of(bytes *text, size_t head_len) {
    text->len = 0;
    bytes_str(text, "GET / HTTP/1.1\r\nX-Filler: ");
    size_t fill = head_len - text->len - 4;
    for (size_t i = 0; i < fill; i++)
        bytes_add(text, "f", 1);
    bytes_str(text, "\r\n\r\n");
    assert_int_equal(text->len, head_len);
}

static void test_oversize_head(void **s) {
    (void)s;
    bytes text = {0};
    head_of(&text, HTTP_MAX_HEAD);
    driver d;
    driver_init(&d);
    assert_int_equal(feed(&d, text.p, text.len), HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 1);
    driver_free(&d);

    head_of(&text, HTTP_MAX_HEAD + 1);
    driver_init(&d);
    assert_int_equal(feed(&d, text.p, text.len), HTTP_HEAD_TOO_LARGE);
    assert_string_equal(d.p.err, "request head too large");
    assert_string_equal(http_error_status(d.result), "431 Request Header Fields Too Large");
    driver_free(&d);

    /* A head that never ends, in 1000-byte pieces: refused once HTTP_MAX_HEAD bytes came,
     * so the caller never keeps more than that (plus the last piece). */
    char piece[1000];
    memset(piece, 'h', sizeof piece);
    driver_init(&d);
    feed_str(&d, "GET / HTTP/1.1\r\nX-Endless: ");
    size_t fed = 0;
    while (d.result == HTTP_INCOMPLETE && fed < 10 * HTTP_MAX_HEAD) {
        feed(&d, piece, sizeof piece);
        fed += sizeof piece;
    }
    assert_int_equal(d.result, HTTP_HEAD_TOO_LARGE);
    assert_true(d.most_pending >= HTTP_MAX_HEAD && d.most_pending < HTTP_MAX_HEAD + sizeof piece);
    driver_free(&d);

    /* Only the head counts: a 64 KiB body after a small head is fine. */
    driver_init(&d);
    feed_str(&d, "POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n");
    for (int i = 0; i < 70; i++)
        feed(&d, piece, sizeof piece);
    assert_int_equal(d.result, HTTP_INCOMPLETE);
    assert_int_equal(d.requests, 1);
    driver_free(&d);
    free(text.p);
}

/* ---- garbage ----------------------------------------------------------------------------------
 */

static void test_malformed(void **s) {
    (void)s;
    const char *line = "bad request line", *ver = "bad HTTP version";
    const char *hdr = "bad header line", *val = "bad header value";
    expect_error("NONSENSE\r\n", HTTP_BAD, line);
    expect_error(" GET / HTTP/1.1\r\n", HTTP_BAD, line);
    expect_error("GET  / HTTP/1.1\r\n", HTTP_BAD, line);
    expect_error("GET / x HTTP/1.1\r\n", HTTP_BAD, ver);
    expect_error("G(T / HTTP/1.1\r\n", HTTP_BAD, line);
    expect_error("GET /\x01 HTTP/1.1\r\n", HTTP_BAD, line);
    expect_error("GET / HTTP/2.0\r\n", HTTP_BAD, ver);
    expect_error("GET / HTTP/1.10\r\n", HTTP_BAD, ver);
    expect_error("GET / http/1.1\r\n", HTTP_BAD, ver);
    expect_error("GET / HTTP/1.1\n", HTTP_BAD, "a line not ended by CRLF");
    expect_error("GET / HTTP/1.1\r\nHost: x\n", HTTP_BAD, "a line not ended by CRLF");
    expect_error("GET / HTTP/1.1\r\n\n", HTTP_BAD, "a line not ended by CRLF");
    expect_error("GET / HTTP/1.1\r\nHo\rst: x\r\n", HTTP_BAD, hdr); /* a bare CR */
    expect_error("GET / HTTP/1.1\r\nA: b\rc\r\n", HTTP_BAD, val);
    expect_error("GET /\r HTTP/1.1\r\n", HTTP_BAD, line);
    expect_error("GET / HTTP/1.1\r\nHost x\r\n", HTTP_BAD, hdr);
    expect_error("GET / HTTP/1.1\r\nHost : x\r\n", HTTP_BAD, hdr);
    expect_error("GET / HTTP/1.1\r\n: x\r\n", HTTP_BAD, hdr);
    expect_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n", HTTP_BAD, hdr);
    expect_error("GET / HTTP/1.1\r\nA: b\x7f\r\n", HTTP_BAD, val);
    expect_error("GET / HTTP/1.1\r\nContent-Length: -1\r\n", HTTP_BAD, "bad Content-Length");
    expect_error("GET / HTTP/1.1\r\nContent-Length: 1 2\r\n", HTTP_BAD, "bad Content-Length");
    expect_error("GET / HTTP/1.1\r\nContent-Length:\r\n", HTTP_BAD, "bad Content-Length");
    expect_error("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n", HTTP_BAD,
                 "two different Content-Length headers");
    expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n", HTTP_UNSUPPORTED,
                 "Transfer-Encoding is not supported");
    assert_string_equal(http_error_status(HTTP_BAD), "400 Bad Request");
    assert_string_equal(http_error_status(HTTP_BODY_TOO_LARGE), "413 Content Too Large");
    assert_string_equal(http_error_status(HTTP_UNSUPPORTED), "501 Not Implemented");
    assert_null(http_error_status(HTTP_REQUEST));
    assert_null(http_error_status(HTTP_INCOMPLETE));
}

/* Parses `n` bytes (in a buffer of exactly that size, so ASAN sees any read past it) in
 * pieces of random sizes; every request returned must lie inside the input. */
static void parse_anything(ts_rng *r, const char *src, size_t n) {
    char *exact = malloc(n ? n : 1);
    assert_non_null(exact);
    memcpy(exact, src, n);
    http_parser p;
    http_parser_init(&p);
    size_t pos = 0, have = 0;
    while (have < n) {
        have += 1 + ts_rng_below(r, n - have);
        http_request req;
        int res;
        while ((res = http_parse(&p, exact + pos, have - pos, &req)) == HTTP_REQUEST) {
            assert_true(req.len > 0 && req.len <= have - pos);
            assert_true(req.method.off + req.method.len <= req.head_len);
            assert_true(req.target.off + req.target.len <= req.head_len);
            pos += req.len;
        }
        if (res < 0) {
            assert_non_null(p.err);
            assert_non_null(http_error_status(res));
            break;
        }
    }
    free(exact);
}

static void test_garbage(void **s) {
    (void)s;
    ts_rng r;
    ts_rng_seed(&r, ts_seed());
    char buf[600];
    for (int round = 0; round < 3000; round++) { /* random bytes, some with CRLFs in */
        size_t n = ts_rng_below(&r, sizeof buf);
        ts_rng_fill(&r, buf, n);
        if (round % 2)
            for (size_t i = 0; i + 1 < n; i += 1 + ts_rng_below(&r, 40))
                buf[i] = '\r', buf[i + 1] = '\n';
        parse_anything(&r, buf, n);
    }
    bytes text = {0};
    pipeline_text(&text);
    for (int round = 0; round < 3000; round++) { /* good requests with a few bytes changed */
        for (int k = 1 + (int)ts_rng_below(&r, 3); k > 0; k--)
            text.p[ts_rng_below(&r, text.len)] = (char)ts_rng_below(&r, 256);
        parse_anything(&r, text.p, text.len);
        text.len = 0;
        pipeline_text(&text);
    }
    free(text.p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_complete_request),
    cmocka_unit_test(test_keep_alive_rules),
    cmocka_unit_test(test_body),
    cmocka_unit_test(test_pipelined),
    cmocka_unit_test(test_split_at_every_byte),
    cmocka_unit_test(test_large_head_byte_by_byte_is_linear),
    cmocka_unit_test(test_oversize_head),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_garbage),
};

TS_MAIN(tests)
