/*
 * The redis example's protocol parser (examples/redis_proto.c), driven directly.
 *
 * - A RESP command of 100k arguments fed one byte at a time parses correctly, and the
 *   parser looks at no more than 4 bytes per input byte (its `scanned` counter): the work
 *   is linear, not quadratic, however the command is split.
 * - A pipelined stream of mixed RESP and inline commands (quotes, escapes, empty lines,
 *   binary arguments) parses to the commands it was made of, in one piece and split at
 *   random points (seed printed as TS_SEED=...).
 * - A command longer than max_command_bytes is refused ("command too large"): as soon as a
 *   bulk length says so, or once that many bytes came; one of exactly the bound passes.
 * - "*1048576\r\n" alone allocates no argument slots; they grow as arguments arrive, and
 *   a huge command's slots are let go once it has been handed over.
 * - The protocol errors the server already reported are still reported, and a failed
 *   parser stays failed.
 */
#include "ts.h"

#include "redis_proto.h"

/* ---- a driver: what redis-server's `data` does, with a plain buffer ---------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *d, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}

static void bytes_printf(bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bytes_printf(bytes *b, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(k > 0 && (size_t)k < sizeof tmp);
    bytes_add(b, tmp, (size_t)k);
}

/* One command as text, so lists of commands compare with memcmp: "argc\n" then
 * "len\n<bytes>\n" per argument. */
static void describe(bytes *out, size_t argc, const unsigned char *const *args,
                     const size_t *lens) {
    bytes_printf(out, "%zu\n", argc);
    for (size_t i = 0; i < argc; i++) {
        bytes_printf(out, "%zu\n", lens[i]);
        bytes_add(out, args[i], lens[i]);
        bytes_add(out, "\n", 1);
    }
}

typedef struct {
    redis_parser p;
    bytes pending; /* fed, not yet consumed: what the server's input stream keeps */
    bytes got;     /* the commands parsed, described */
    size_t commands;
    int result;    /* REDIS_ERROR once failed */
} driver;

static void driver_init(driver *d, size_t max_command_bytes) {
    memset(d, 0, sizeof *d);
    redis_parser_init(&d->p, max_command_bytes);
}

static void driver_free(driver *d) {
    redis_parser_free(&d->p);
    free(d->pending.p);
    free(d->got.p);
}

static void record(driver *d, const redis_command *c) {
    bytes_printf(&d->got, "%zu\n", c->argc);
    for (size_t i = 0; i < c->argc; i++) {
        bytes_printf(&d->got, "%zu\n", c->argv[i].len);
        bytes_add(&d->got, c->base + c->argv[i].off, c->argv[i].len);
        bytes_add(&d->got, "\n", 1);
    }
    d->commands++;
}

/* Adds `n` bytes and parses every whole command; returns the last redis_parse() result. */
static int feed(driver *d, const void *in, size_t n) {
    bytes_add(&d->pending, in, n);
    const unsigned char *buf = (const unsigned char *)d->pending.p;
    size_t pos = 0;
    redis_command cmd;
    int r;
    while ((r = redis_parse(&d->p, buf + pos, d->pending.len - pos, &cmd)) == REDIS_COMMAND) {
        record(d, &cmd);
        pos += cmd.len;
    }
    if (pos > 0) { /* keep the tail, moved to the front as evio_input_stream_end() does */
        memmove(d->pending.p, d->pending.p + pos, d->pending.len - pos);
        d->pending.len -= pos;
    }
    d->result = r;
    return r;
}

static int feed_str(driver *d, const char *s) { return feed(d, s, strlen(s)); }

/* Parses `text` alone and expects REDIS_ERROR with `why` (after "Protocol error: "). */
static void expect_error(const char *text, size_t len, const char *why) {
    driver d;
    driver_init(&d, 0);
    assert_int_equal(feed(&d, text, len), REDIS_ERROR);
    assert_string_equal(d.p.err, why);
    /* A failed parser stays failed. */
    assert_int_equal(feed_str(&d, "PING\r\n"), REDIS_ERROR);
    driver_free(&d);
}

/* ---- linear work ------------------------------------------------------------------------- */

#define MANY_ARGS 100000

static void test_many_args_byte_by_byte_is_linear(void **s) {
    (void)s;
    bytes text = {0}, want = {0};
    bytes_printf(&text, "*%d\r\n", MANY_ARGS);
    bytes_printf(&want, "%d\n", MANY_ARGS);
    for (int i = 0; i < MANY_ARGS; i++) {
        char arg[16];
        int k = snprintf(arg, sizeof arg, "a%d", i);
        bytes_printf(&text, "$%d\r\n%s\r\n", k, arg);
        bytes_printf(&want, "%d\n%s\n", k, arg);
    }

    driver d;
    driver_init(&d, 0);
    for (size_t i = 0; i < text.len; i++)
        assert_int_equal(feed(&d, text.p + i, 1), REDIS_INCOMPLETE);
    assert_int_equal(d.commands, 1);
    assert_int_equal(d.pending.len, 0);
    assert_int_equal(d.got.len, want.len);
    assert_memory_equal(d.got.p, want.p, want.len);

    /* The proof of linearity: bytes looked at, not time. Rescanning the pending command on
     * every call would look at ~len^2/2 bytes here (~10^12). */
    printf("  %zu bytes fed one at a time; the parser looked at %zu\n", text.len, d.p.scanned);
    assert_true(d.p.scanned <= 4 * text.len);
    driver_free(&d);
    free(text.p);
    free(want.p);
}

static void test_inline_byte_by_byte_is_linear(void **s) {
    (void)s;
    bytes text = {0};
    bytes_add(&text, "SET k ", 6);
    for (int i = 0; i < 60000; i++) bytes_add(&text, "v", 1);
    bytes_add(&text, "\r\n", 2);
    driver d;
    driver_init(&d, 0);
    for (size_t i = 0; i < text.len; i++) feed(&d, text.p + i, 1);
    assert_int_equal(d.result, REDIS_INCOMPLETE);
    assert_int_equal(d.commands, 1);
    assert_true(d.p.scanned <= 4 * text.len);
    driver_free(&d);
    free(text.p);
}

/* ---- random splits of a pipelined stream --------------------------------------------------- */

/* Appends one random command to `text`, and what it should parse to to `want`. */
static void random_resp(ts_rng *r, bytes *text, bytes *want) {
    size_t argc = 1 + ts_rng_below(r, 6);
    unsigned char buf[6][300];
    const unsigned char *args[6];
    size_t lens[6];
    bytes_printf(text, "*%zu\r\n", argc);
    for (size_t i = 0; i < argc; i++) {
        lens[i] = ts_rng_below(r, 4) == 0 ? ts_rng_below(r, 300) : ts_rng_below(r, 12);
        ts_rng_fill(r, buf[i], lens[i]); /* binary, with \r \n * $ " inside now and then */
        args[i] = buf[i];
        bytes_printf(text, "$%zu\r\n", lens[i]);
        bytes_add(text, buf[i], lens[i]);
        bytes_add(text, "\r\n", 2);
    }
    describe(want, argc, args, lens);
}

static void random_inline(ts_rng *r, bytes *text, bytes *want) {
    size_t argc = ts_rng_below(r, 5); /* 0: an empty line */
    unsigned char buf[5][40];
    const unsigned char *args[5];
    size_t lens[5];
    for (size_t i = 0; i < argc; i++) {
        const char *blank = ts_rng_below(r, 3) ? " " : " \t ";
        bytes_add(text, blank, strlen(blank));
        size_t n = 1 + ts_rng_below(r, 8);
        args[i] = buf[i];
        lens[i] = 0;
        if (ts_rng_below(r, 3) == 0) { /* "a\x41\n\"b" unescapes to a, A, newline, ", b */
            bytes_add(text, "\"", 1);
            for (size_t k = 0; k < n; k++) {
                switch (ts_rng_below(r, 4)) {
                case 0: bytes_add(text, "\\x41", 4); buf[i][lens[i]++] = 'A'; break;
                case 1: bytes_add(text, "\\n", 2); buf[i][lens[i]++] = '\n'; break;
                case 2: bytes_add(text, "\\\"", 2); buf[i][lens[i]++] = '"'; break;
                default: bytes_add(text, "q", 1); buf[i][lens[i]++] = 'q'; break;
                }
            }
            bytes_add(text, "\"", 1);
        } else {
            for (size_t k = 0; k < n; k++) {
                unsigned char c = (unsigned char)('a' + ts_rng_below(r, 26));
                bytes_add(text, &c, 1);
                buf[i][lens[i]++] = c;
            }
        }
    }
    const char *end = ts_rng_below(r, 2) ? "\r\n" : "\n";
    bytes_add(text, end, strlen(end));
    describe(want, argc, args, lens);
}

static void random_stream(ts_rng *r, size_t commands, bytes *text, bytes *want) {
    for (size_t i = 0; i < commands; i++) {
        uint64_t kind = ts_rng_below(r, 10);
        if (kind < 6) {
            random_resp(r, text, want);
        } else if (kind < 9) {
            random_inline(r, text, want);
        } else {
            bytes_add(text, "*0\r\n", 4); /* an empty array: a command of no arguments */
            describe(want, 0, NULL, NULL);
        }
    }
}

static void test_random_splits_match_one_shot(void **s) {
    (void)s;
    ts_rng r;
    ts_rng_seed(&r, ts_seed());
    bytes text = {0}, want = {0};
    random_stream(&r, 2000, &text, &want);

    driver once;
    driver_init(&once, 0);
    assert_int_equal(feed(&once, text.p, text.len), REDIS_INCOMPLETE);
    assert_int_equal(once.commands, 2000);
    assert_int_equal(once.got.len, want.len);
    assert_memory_equal(once.got.p, want.p, want.len);

    for (int round = 0; round < 20; round++) {
        size_t most = (size_t)1 << ts_rng_below(&r, 12); /* pieces of 1..1, .., 1..2048 */
        driver d;
        driver_init(&d, 0);
        for (size_t at = 0; at < text.len;) {
            size_t k = 1 + ts_rng_below(&r, most);
            if (k > text.len - at) k = text.len - at;
            assert_int_not_equal(feed(&d, text.p + at, k), REDIS_ERROR);
            at += k;
        }
        assert_int_equal(d.commands, 2000);
        assert_int_equal(d.pending.len, 0);
        assert_int_equal(d.got.len, want.len);
        assert_memory_equal(d.got.p, want.p, want.len);
        assert_true(d.p.scanned <= 4 * text.len);
        driver_free(&d);
    }
    driver_free(&once);
    free(text.p);
    free(want.p);
}

/* ---- the bound on one command ------------------------------------------------------------- */

static void test_too_large_by_bulk_length(void **s) {
    (void)s;
    driver d;
    driver_init(&d, 1000);
    /* Refused on the length alone, before any of the 2000 bytes. */
    assert_int_equal(feed_str(&d, "*2\r\n$3\r\nSET\r\n$2000\r\n"), REDIS_ERROR);
    assert_string_equal(d.p.err, "Protocol error: command too large");
    driver_free(&d);
}

static void test_too_large_by_bytes(void **s) {
    (void)s;
    /* Many small arguments, one byte at a time: refused once 1000 bytes came. */
    driver d;
    driver_init(&d, 1000);
    assert_int_equal(feed_str(&d, "*500\r\n"), REDIS_INCOMPLETE);
    size_t fed = 6;
    while (d.result != REDIS_ERROR && fed < 2000) {
        fed += 7;
        feed_str(&d, "$1\r\nx\r\n");
    }
    assert_int_equal(d.result, REDIS_ERROR);
    assert_string_equal(d.p.err, "Protocol error: command too large");
    assert_true(fed <= 1000 + 7);
    driver_free(&d);

    /* An inline line, too. */
    driver_init(&d, 100);
    char line[200];
    memset(line, 'x', sizeof line);
    assert_int_equal(feed(&d, line, 100), REDIS_INCOMPLETE);
    assert_int_equal(feed(&d, line, 1), REDIS_ERROR);
    assert_string_equal(d.p.err, "Protocol error: command too large");
    driver_free(&d);
}

static void test_command_of_exactly_the_bound_passes(void **s) {
    (void)s;
    /* "*1\r\n$86\r\n", 86 bytes and "\r\n": 4 + 5 + 86 + 2 = 97 bytes. */
    bytes text = {0};
    bytes_add(&text, "*1\r\n$86\r\n", 9);
    for (int i = 0; i < 86; i++) bytes_add(&text, "y", 1);
    bytes_add(&text, "\r\n", 2);
    assert_int_equal(text.len, 97);
    driver d;
    driver_init(&d, 97);
    assert_int_equal(feed(&d, text.p, text.len), REDIS_INCOMPLETE);
    assert_int_equal(d.commands, 1);
    driver_free(&d);
    driver_init(&d, 96);
    assert_int_equal(feed(&d, text.p, text.len), REDIS_ERROR);
    assert_string_equal(d.p.err, "Protocol error: command too large");
    driver_free(&d);
    free(text.p);
}

static void test_default_bound(void **s) {
    (void)s;
    redis_parser p;
    redis_parser_init(&p, 0);
    assert_int_equal(p.max_command_bytes, REDIS_MAX_COMMAND_BYTES);
    assert_int_equal(REDIS_MAX_COMMAND_BYTES, 64 * 1024 * 1024);
    redis_parser_free(&p);
    /* Within REDIS_MAX_BULK but past the command bound: too large, not a bad length. */
    expect_error("*1\r\n$67108864\r\n", 15, "Protocol error: command too large");
}

/* ---- argument slots grow with the arguments, not with the declared count ------------------ */

static void test_declared_count_allocates_nothing(void **s) {
    (void)s;
    driver d;
    driver_init(&d, 0);
    assert_int_equal(feed_str(&d, "*1048576\r\n"), REDIS_INCOMPLETE);
    assert_true(d.p.argv_cap <= 16);
    for (int i = 0; i < 1000; i++) assert_int_equal(feed_str(&d, "$1\r\nx\r\n"), REDIS_INCOMPLETE);
    assert_true(d.p.argv_cap >= 1000 && d.p.argv_cap <= 2048);
    assert_int_equal(d.commands, 0);
    driver_free(&d);

    expect_error("*1048577\r\n", 10, "Protocol error: invalid multibulk length");
}

static void test_huge_command_buffers_are_not_kept(void **s) {
    (void)s;
    driver d;
    driver_init(&d, 0);
    feed_str(&d, "*5000\r\n");
    for (int i = 0; i < 5000; i++) feed_str(&d, "$1\r\nx\r\n");
    /* The call after the command (the driver makes it, with no bytes left) lets the big
     * slots go; small ones are kept for the next command. */
    assert_int_equal(d.commands, 1);
    assert_int_equal(d.p.argv_cap, 0);
    feed_str(&d, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    assert_int_equal(d.commands, 2);
    assert_int_equal(d.p.argv_cap, 16);
    driver_free(&d);
}

/* ---- the protocol errors ------------------------------------------------------------------ */

static void test_protocol_errors(void **s) {
    (void)s;
    const char *bad_count = "Protocol error: invalid multibulk length";
    const char *bad_len = "Protocol error: invalid bulk length";
    expect_error("*abc\r\n", 6, bad_count);
    expect_error("*3\rx", 4, bad_count);
    expect_error("*111111111111111111111111111111111111111", 40, bad_count); /* no \r in 32 */
    expect_error("*1\r\n$x\r\n", 8, bad_len);
    expect_error("*1\r\n$-5\r\n", 9, bad_len);
    expect_error("*1\r\n$600000000\r\n", 16, bad_len); /* past REDIS_MAX_BULK */
    expect_error("*1\r\n$3\r\nabcXY", 13, "Protocol error: bulk string not followed by CRLF");
    expect_error("*1\r\n:3\r\n", 8, "Protocol error: expected '$', got ':'");
    expect_error("SET \"abc\r\n", 10, "Protocol error: unbalanced quotes in request");
    expect_error("SET \"a\"b\r\n", 10, "Protocol error: unbalanced quotes in request");

    /* An inline line with no end past REDIS_MAX_INLINE. */
    size_t n = REDIS_MAX_INLINE + 1;
    char *line = malloc(n);
    assert_non_null(line);
    memset(line, 'x', n);
    expect_error(line, n, "Protocol error: too big inline request");
    free(line);
}

static void test_edge_commands(void **s) {
    (void)s;
    driver d;
    driver_init(&d, 0);
    /* "*-1" and "*0" are commands of no arguments; an empty line too. */
    assert_int_equal(feed_str(&d, "*-1\r\n*0\r\n\r\n\n"), REDIS_INCOMPLETE);
    assert_int_equal(d.commands, 4);
    assert_int_equal(d.got.len, 8);
    assert_memory_equal(d.got.p, "0\n0\n0\n0\n", 8);
    driver_free(&d);

    /* Single quotes: only \' is an escape; \x41 in double quotes is 'A'. */
    driver_init(&d, 0);
    assert_int_equal(feed_str(&d, "ECHO 'a\\'b\\n' \"\\x41\\t\"\r\n"), REDIS_INCOMPLETE);
    const char want[] = "3\n4\nECHO\n5\na'b\\n\n2\nA\t\n";
    assert_int_equal(d.got.len, sizeof want - 1);
    assert_memory_equal(d.got.p, want, sizeof want - 1);
    driver_free(&d);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_many_args_byte_by_byte_is_linear),
    cmocka_unit_test(test_inline_byte_by_byte_is_linear),
    cmocka_unit_test(test_random_splits_match_one_shot),
    cmocka_unit_test(test_too_large_by_bulk_length),
    cmocka_unit_test(test_too_large_by_bytes),
    cmocka_unit_test(test_command_of_exactly_the_bound_passes),
    cmocka_unit_test(test_default_bound),
    cmocka_unit_test(test_declared_count_allocates_nothing),
    cmocka_unit_test(test_huge_command_buffers_are_not_kept),
    cmocka_unit_test(test_protocol_errors),
    cmocka_unit_test(test_edge_commands),
};

TS_MAIN(tests)
