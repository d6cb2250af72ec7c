/*
 * Fuzz target: the redis example's protocol parser (examples/redis_proto.c).
 *
 * The input is a byte stream sent by a client (RESP arrays, inline commands, garbage),
 * and from its last bytes: the command bound (max_command_bytes, default or 1..4096) and
 * the seed of the split points. The stream is parsed twice — in one piece, and fed in
 * random pieces as a server receives it (the unparsed bytes kept in a buffer that is
 * reallocated to exactly its size on every read, so ASAN sees any read past them and the
 * parser sees its buffer move). Checked:
 *  - both give the same commands, argument for argument, and the same outcome (a protocol
 *    error or not); every argument lies inside the bytes of its command;
 *  - the parser's work is linear: it looks at no more than 4 bytes per byte fed, however
 *    the stream is split (its `scanned` counter, as tests/test_redis_proto.c holds it);
 *  - a failed parser stays failed, with a message in `err`.
 *
 * SPDX-License-Identifier: MIT
 */
#include "redis_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_check.h"

/* A parser and what it produced: each command described as "argc\n" + "len\n<bytes>\n"
 * per argument, so two runs compare with memcmp. */
typedef struct {
    redis_parser p;
    unsigned char *pending; /* fed, not yet consumed; always exactly `npending` bytes */
    size_t npending;
    bytes got;
    size_t fed;
    int result;
} driver;

static void describe(bytes *out, const redis_command *c) {
    char num[32];
    int k = snprintf(num, sizeof num, "%zu\n", c->argc);
    bytes_add(out, num, (size_t)k);
    for (size_t i = 0; i < c->argc; i++) {
        const redis_arg *a = &c->argv[i];
        CHECK(a->off <= c->len && a->len <= c->len - a->off); /* inside its command */
        k = snprintf(num, sizeof num, "%zu\n", a->len);
        bytes_add(out, num, (size_t)k);
        bytes_add(out, c->base + a->off, a->len);
        bytes_add(out, "\n", 1);
    }
}

/* What redis-server's `data` does: add the new bytes, parse every whole command, keep
 * the tail. */
static void feed(driver *d, const uint8_t *in, size_t n) {
    unsigned char *buf = malloc(d->npending + n ? d->npending + n : 1);
    CHECK(buf != NULL);
    if (d->npending)
        memcpy(buf, d->pending, d->npending);
    memcpy(buf + d->npending, in, n);
    free(d->pending);
    size_t len = d->npending + n, pos = 0;
    d->fed += n;
    redis_command cmd;
    int r;
    while ((r = redis_parse(&d->p, buf + pos, len - pos, &cmd)) == REDIS_COMMAND) {
        CHECK(cmd.len > 0 && cmd.len <= len - pos);
        describe(&d->got, &cmd);
        pos += cmd.len;
    }
    d->result = r;
    d->npending = len - pos;
    d->pending = malloc(d->npending ? d->npending : 1);
    CHECK(d->pending != NULL);
    memcpy(d->pending, buf + pos, d->npending);
    free(buf);
    CHECK(d->p.scanned <= 4 * d->fed + 16); /* linear, however it is split */
}

static void driver_init(driver *d, size_t max_command_bytes) {
    memset(d, 0, sizeof *d);
    redis_parser_init(&d->p, max_command_bytes);
}

static void driver_free(driver *d) {
    if (d->result == REDIS_ERROR) { /* a failed parser stays failed */
        CHECK(d->p.err[0] != '\0');
        redis_command cmd;
        CHECK(redis_parse(&d->p, (const unsigned char *)"PING\r\n", 6, &cmd) == REDIS_ERROR);
    }
    redis_parser_free(&d->p);
    free(d->pending);
    free(d->got.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_bytes fb = {data, size};
    size_t max_command = fuzz_u8(&fb) % 2 ? 0 : 1 + fuzz_below(&fb, 4096);
    uint64_t seed = fuzz_below(&fb, 1u << 16);
    size_t most = (size_t)1 << (fuzz_u8(&fb) % 12); /* pieces of 1..1, .., 1..2048 bytes */
    const uint8_t *text;
    size_t n = fuzz_take(&fb, fb.n, &text);

    driver once, split;
    driver_init(&once, max_command);
    driver_init(&split, max_command);
    feed(&once, text, n);
    for (size_t at = 0; at < n && split.result != REDIS_ERROR;) {
        size_t k = 1 + fuzz_mix(&seed) % most;
        if (k > n - at)
            k = n - at;
        feed(&split, text + at, k);
        at += k;
    }
    CHECK(once.got.len == split.got.len);
    CHECK(once.got.len == 0 || memcmp(once.got.p, split.got.p, once.got.len) == 0);
    /* An inline line longer than REDIS_MAX_INLINE is refused only when its bytes come in
     * pieces (as Redis does); below that, the outcome does not depend on the pieces. */
    if (n <= REDIS_MAX_INLINE)
        CHECK((once.result == REDIS_ERROR) == (split.result == REDIS_ERROR));
    driver_free(&once);
    driver_free(&split);
    return 0;
}
