/*
 * Fuzz target: the InputStream helper (evio_input_stream_begin/end/free).
 *
 * The input is a byte stream (from the front) and the choices that drive it (from the
 * end, see fuzz_bytes.h): where the stream is split into `data` calls, how much of each
 * call's bytes the "protocol" consumes, and which bad `rest` ranges are tried before the
 * real evio_input_stream_end(). Checked on every call:
 *  - begin() gives the kept bytes followed by the new ones (`in` itself when nothing is
 *    kept), and end() keeps exactly the tail it is given, from the data or from other
 *    memory of the caller's;
 *  - a `rest` the library can see is wrong (NULL with a length, inside the stream's buffer
 *    but running past the data, overlapping the buffer without starting in it, a length
 *    running past the end of memory) is refused with EVIO_EINVAL and never read;
 *  - at the end, the bytes consumed, in order, are exactly the bytes that went in.
 * Each chunk of input lives in a buffer of exactly its size, so ASAN sees any over-read.
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_check.h"

#define MAX_STEPS 256
#define MAX_CHUNK 2048

static void expect_einval(int rc) {
    CHECK(rc == EVIO_EINVAL);
    CHECK(evio_last_error()[0] != '\0');
}

/*
 * One end() call the library must refuse, chosen by the input. `d`/`dn` is what begin()
 * returned. The stream's buffer and capacity are read from the (private) fields only to
 * aim the bad pointers at it; the addresses are computed as integers, never dereferenced.
 */
static void bad_end(fuzz_bytes *fb, evio_input_stream *is, const unsigned char *d, size_t dn) {
    uintptr_t base = (uintptr_t)is->buf;
    size_t k = 1 + fuzz_below(fb, 1024);
    switch (fuzz_u8(fb) % 4) {
    case 0: /* NULL with a length */
        expect_einval(evio_input_stream_end(is, NULL, k));
        break;
    case 1: /* inside the buffer, running past the bytes begin() gave */
        if (is->buf != NULL) {
            size_t kept = (const unsigned char *)d == is->buf ? dn : 0;
            size_t off = fuzz_below(fb, is->cap);
            size_t len = off < kept ? kept - off + k : k;
            expect_einval(evio_input_stream_end(is, (const void *)(base + off), len));
        }
        break;
    case 2: /* starting before the buffer and running into it */
        if (is->buf != NULL && base > k)
            expect_einval(evio_input_stream_end(is, (const void *)(base - k),
                                                k + 1 + fuzz_below(fb, is->cap)));
        break;
    default: /* a length running past the end of memory */
        if (is->buf != NULL && (const unsigned char *)d == is->buf)
            expect_einval(evio_input_stream_end(is, d, SIZE_MAX - fuzz_below(fb, 4096)));
        break;
    }
}

/* begin() with arguments it must refuse. */
static void bad_begin(fuzz_bytes *fb, evio_input_stream *is) {
    const void *d = NULL;
    size_t dn = 0;
    switch (fuzz_u8(fb) % 3) {
    case 0:
        expect_einval(evio_input_stream_begin(is, NULL, 1 + fuzz_below(fb, 64), &d, &dn));
        break;
    case 1:
        expect_einval(evio_input_stream_begin(NULL, "x", 1, &d, &dn));
        break;
    default:
        expect_einval(evio_input_stream_begin(is, "x", 1, NULL, &dn));
        break;
    }
}

/* One `data` call: feed a chunk, check what begin() gives, consume some, keep the rest. */
static void step(fuzz_bytes *fb, evio_input_stream *is, bytes *kept, bytes *consumed, bytes *fed) {
    const uint8_t *src;
    size_t len = fuzz_take(fb, fuzz_below(fb, MAX_CHUNK + 1), &src);
    unsigned char *in = len ? malloc(len) : NULL; /* exactly its size: over-reads show */
    CHECK(len == 0 || in != NULL);
    if (len)
        memcpy(in, src, len);
    bytes_add(fed, in, len);

    if (fuzz_u8(fb) % 8 == 0)
        bad_begin(fb, is);
    const void *dv = NULL;
    size_t dn = 0;
    CHECK(evio_input_stream_begin(is, in, len, &dv, &dn) == 0);
    const unsigned char *d = dv;
    CHECK(dn == kept->len + len);
    if (kept->len == 0)
        CHECK(d == in); /* nothing kept: `in` itself */
    CHECK(kept->len == 0 || memcmp(d, kept->p, kept->len) == 0);
    CHECK(len == 0 || memcmp(d + kept->len, in, len) == 0);

    size_t used = fuzz_below(fb, dn + 1);
    bytes_add(consumed, d, used);
    for (int tries = fuzz_u8(fb) % 4; tries > 0; tries--)
        bad_end(fb, is, d, dn);

    const unsigned char *tail = dn ? d + used : NULL; /* d is NULL when there is nothing */
    kept->len = 0;
    bytes_add(kept, tail, dn - used);
    if (fuzz_u8(fb) % 4 == 0 && dn > used) { /* the tail from memory of the caller's own */
        unsigned char *copy = malloc(dn - used);
        CHECK(copy != NULL);
        memcpy(copy, tail, dn - used);
        CHECK(evio_input_stream_end(is, copy, dn - used) == 0);
        free(copy);
    } else {
        CHECK(evio_input_stream_end(is, tail, dn - used) == 0);
    }
    free(in);
}

/* Consume whatever is kept (begin with no input), then free the stream. */
static void drain_and_free(evio_input_stream *is, bytes *kept, bytes *consumed) {
    const void *dv = NULL;
    size_t dn = 0;
    CHECK(evio_input_stream_begin(is, NULL, 0, &dv, &dn) == 0);
    CHECK(dn == kept->len);
    CHECK(dn == 0 || memcmp(dv, kept->p, dn) == 0);
    bytes_add(consumed, dv, dn);
    kept->len = 0;
    evio_input_stream_free(is);
    CHECK(is->buf == NULL && is->len == 0 && is->cap == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes fb = {data, size};
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    bytes kept = {0}, consumed = {0}, fed = {0};
    for (int i = 0; i < MAX_STEPS && fb.n > 0; i++) {
        if (fuzz_u8(&fb) % 16 == 0)
            drain_and_free(&is, &kept, &consumed);
        else
            step(&fb, &is, &kept, &consumed, &fed);
    }
    drain_and_free(&is, &kept, &consumed);
    CHECK(consumed.len == fed.len);
    CHECK(fed.len == 0 || memcmp(consumed.p, fed.p, fed.len) == 0);
    free(kept.p);
    free(consumed.p);
    free(fed.p);
    return 0;
}
