/*
 * Fuzz target: the http example's request parser (examples/http_proto.c).
 *
 * The input is a byte stream sent by a client (pipelined requests, bodies, garbage), and
 * from its last bytes the seed of the split points. The stream is parsed twice — in one
 * piece, and fed in random pieces as a server receives it (the unparsed bytes kept in a
 * buffer reallocated to exactly its size on every read, so ASAN sees any read past them
 * and the parser sees its buffer move). Checked:
 *  - both give the same requests, field for field, and the same result at the end (the
 *    same error, with the same message), however the stream is split;
 *  - every request is consistent with its bytes: the method is a token followed by a
 *    space, a space comes before the target, the head ends with CRLF CRLF, len is
 *    head_len + body_len, and head_only is set exactly for HEAD;
 *  - an error has a status line (http_error_status) and a message, and stays;
 *  - the parser's work is linear: it looks at no more than 2 bytes per byte fed (its
 *    `scanned` counter; the body is skipped).
 *
 * SPDX-License-Identifier: MIT
 */
#include "http_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_check.h"

typedef struct {
    http_parser p;
    char *pending; /* fed, not yet consumed; always exactly `npending` bytes */
    size_t npending;
    bytes got; /* the requests, described */
    size_t fed;
    int result;
} driver;

static void bytes_span(bytes *out, const char *d, http_span s) {
    char num[32];
    int k = snprintf(num, sizeof num, "%zu:", s.len);
    bytes_add(out, num, (size_t)k);
    bytes_add(out, d + s.off, s.len);
}

/* Checks a request against its bytes d[0, r->len) and describes it. */
static void record(bytes *out, const char *d, const http_request *r) {
    CHECK(r->len == r->head_len + r->body_len && r->body_len <= HTTP_MAX_BODY);
    CHECK(r->head_len >= 16 && r->head_len <= HTTP_MAX_HEAD); /* "A / HTTP/1.1" CRLF CRLF */
    CHECK(memcmp(d + r->head_len - 4, "\r\n\r\n", 4) == 0);
    CHECK(r->method.len > 0 && r->method.off + r->method.len < r->head_len);
    CHECK(d[r->method.off + r->method.len] == ' ');
    CHECK(r->target.len > 0 && r->target.off == r->method.off + r->method.len + 1);
    CHECK(r->target.off + r->target.len < r->head_len);
    CHECK(r->minor_version == 0 || r->minor_version == 1);
    CHECK(r->keep_alive == 0 || r->keep_alive == 1);
    int is_head = r->method.len == 4 && memcmp(d + r->method.off, "HEAD", 4) == 0;
    CHECK(r->head_only == is_head);
    char num[96];
    int k = snprintf(num, sizeof num, "%d %d %d %zu %zu ", r->minor_version, r->keep_alive,
                     r->head_only, r->head_len, r->body_len);
    bytes_add(out, num, (size_t)k);
    bytes_span(out, d, r->method);
    bytes_span(out, d, r->target);
    bytes_add(out, "\n", 1);
}

/* What http-server's `data` does: add the new bytes, parse every whole request, keep the
 * tail. */
static void feed(driver *d, const uint8_t *in, size_t n) {
    char *buf = malloc(d->npending + n ? d->npending + n : 1);
    CHECK(buf != NULL);
    if (d->npending)
        memcpy(buf, d->pending, d->npending);
    memcpy(buf + d->npending, in, n);
    free(d->pending);
    size_t len = d->npending + n, pos = 0;
    d->fed += n;
    http_request req;
    int r;
    while ((r = http_parse(&d->p, buf + pos, len - pos, &req)) == HTTP_REQUEST) {
        CHECK(req.len > 0 && req.len <= len - pos);
        record(&d->got, buf + pos, &req);
        pos += req.len;
    }
    d->result = r;
    if (r < 0) {
        CHECK(http_error_status(r) != NULL && d->p.err != NULL && d->p.err[0] != '\0');
        CHECK(http_parse(&d->p, buf + pos, len - pos, &req) == r); /* it stays failed */
    } else {
        CHECK(r == HTTP_INCOMPLETE && http_error_status(r) == NULL);
    }
    d->npending = len - pos;
    d->pending = malloc(d->npending ? d->npending : 1);
    CHECK(d->pending != NULL);
    memcpy(d->pending, buf + pos, d->npending);
    free(buf);
    CHECK(d->p.scanned <= 2 * d->fed); /* linear, however it is split */
}

static void driver_free(driver *d) {
    free(d->pending);
    free(d->got.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes fb = {data, size};
    uint64_t seed = fuzz_below(&fb, 1u << 16);
    size_t most = (size_t)1 << (fuzz_u8(&fb) % 12); /* pieces of 1..1, .., 1..2048 bytes */
    const uint8_t *text;
    size_t n = fuzz_take(&fb, fb.n, &text);

    driver once = {0}, split = {0};
    http_parser_init(&once.p);
    http_parser_init(&split.p);
    feed(&once, text, n);
    for (size_t at = 0; at < n && split.result >= 0;) {
        size_t k = 1 + fuzz_mix(&seed) % most;
        if (k > n - at)
            k = n - at;
        feed(&split, text + at, k);
        at += k;
    }
    CHECK(once.got.len == split.got.len);
    CHECK(once.got.len == 0 || memcmp(once.got.p, split.got.p, once.got.len) == 0);
    CHECK(once.result == split.result);
    CHECK(once.result >= 0 || once.p.err == split.p.err);
    driver_free(&once);
    driver_free(&split);
    return 0;
}
