/*
 * The InputStream helper (evio's TestInputStream, made strict), alone and in a server.
 *
 * - begin() with nothing kept returns `in` itself; with something kept, kept + new.
 * - end() keeps the unconsumed tail (which may point into the stream's own buffer);
 *   end() with 0 keeps nothing.
 * - A line protocol fed byte by byte, in random splits and all at once parses to the
 *   same lines; large amounts are kept correctly.
 * - free() releases and resets; it is safe on an empty stream and twice.
 * - Bad arguments give EVIO_EINVAL.
 * - In a server: a line-echo `data` callback with one stream per connection answers
 *   every line exactly once although the client's writes split lines anywhere.
 */
#include "ts.h"

static void test_go_sequence(void **s) {
    (void)s;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data = NULL;
    size_t n = 0;
    const char *in = "HELLO";
    assert_int_equal(evio_input_stream_begin(&is, in, 5, &data, &n), 0);
    assert_ptr_equal(data, in); /* nothing kept: `in` itself */
    assert_int_equal(n, 5);
    assert_int_equal(evio_input_stream_end(&is, (const char *)data + 3, 2), 0);

    assert_int_equal(evio_input_stream_begin(&is, "WLY", 3, &data, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(data, "LOWLY", 5);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);

    const char *player = "PLAYER";
    assert_int_equal(evio_input_stream_begin(&is, player, 6, &data, &n), 0);
    assert_int_equal(n, 6);
    assert_ptr_equal(data, player);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);
    evio_input_stream_free(&is);
}

static void test_kept_only(void **s) {
    (void)s;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data;
    size_t n;
    assert_int_equal(evio_input_stream_begin(&is, "abcdef", 6, &data, &n), 0);
    assert_int_equal(evio_input_stream_end(&is, (const char *)data + 2, 4), 0);
    /* Begin with no new input: the kept bytes. */
    assert_int_equal(evio_input_stream_begin(&is, NULL, 0, &data, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(data, "cdef", 4);
    /* Keep a tail that points into the stream's own buffer (overlapping move). */
    assert_int_equal(evio_input_stream_end(&is, (const char *)data + 1, 3), 0);
    assert_int_equal(evio_input_stream_begin(&is, "gh", 2, &data, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(data, "defgh", 5);
    /* Keep everything (rest == data). */
    assert_int_equal(evio_input_stream_end(&is, data, n), 0);
    assert_int_equal(evio_input_stream_begin(&is, "i", 1, &data, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(data, "defghi", 6);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);
    /* Nothing kept any more: `in` itself again. */
    const char *x = "xyz";
    assert_int_equal(evio_input_stream_begin(&is, x, 3, &data, &n), 0);
    assert_ptr_equal(data, x);
    assert_int_equal(n, 3);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);
    evio_input_stream_free(&is);
    evio_input_stream_free(&is); /* twice is fine */
    evio_input_stream empty = EVIO_INPUT_STREAM_INIT;
    evio_input_stream_free(&empty);
}

static void test_free_resets(void **s) {
    (void)s;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data;
    size_t n;
    assert_int_equal(evio_input_stream_begin(&is, "partial", 7, &data, &n), 0);
    assert_int_equal(evio_input_stream_end(&is, data, n), 0);
    evio_input_stream_free(&is);
    const char *in = "new";
    assert_int_equal(evio_input_stream_begin(&is, in, 3, &data, &n), 0);
    assert_ptr_equal(data, in); /* the kept bytes are gone */
    assert_int_equal(n, 3);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);
    evio_input_stream_free(&is);
}

static void test_bad_args(void **s) {
    (void)s;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data;
    size_t n;
    assert_int_equal(evio_input_stream_begin(NULL, "a", 1, &data, &n), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_begin(&is, "a", 1, NULL, &n), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_begin(&is, "a", 1, &data, NULL), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_begin(&is, NULL, 5, &data, &n), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_end(NULL, "a", 1), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_end(&is, NULL, 5), EVIO_EINVAL);
    evio_input_stream_free(NULL); /* no crash */
    evio_input_stream_free(&is);
}

/* evio_input_stream_end's precondition: `rest` lies inside the data begin() returned.
 * Broken where the library can see it (a tail in the stream's own buffer running past that
 * data, a range overlapping the buffer from before it, a length that wraps), it is
 * EVIO_EINVAL and the stream keeps what it had; the usual tails are still accepted. */
static void test_end_outside_data(void **s) {
    (void)s;
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data;
    size_t n;
    assert_int_equal(evio_input_stream_begin(&is, "abcdef", 6, &data, &n), 0);
    assert_int_equal(evio_input_stream_end(&is, (const char *)data + 4, 2), 0); /* keep "ef" */
    assert_int_equal(evio_input_stream_begin(&is, "gh", 2, &data, &n), 0);
    assert_int_equal(n, 4); /* "efgh", now in the stream's own buffer */
    const char *d = data;
    assert_int_equal(evio_input_stream_end(&is, d + 1, 4), EVIO_EINVAL); /* 1 byte too many */
    assert_non_null(strstr(evio_last_error(), "evio_input_stream_end"));
    assert_int_equal(evio_input_stream_end(&is, d + 3, SIZE_MAX), EVIO_EINVAL);
    assert_int_equal(evio_input_stream_end(&is, d - 1, 2), EVIO_EINVAL); /* starts before it */
    /* The stream is unchanged: the same four bytes come back, and a valid tail is kept. */
    assert_int_equal(evio_input_stream_begin(&is, NULL, 0, &data, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(data, "efgh", 4);
    assert_int_equal(evio_input_stream_end(&is, (const char *)data + 1, 3), 0);
    assert_int_equal(evio_input_stream_begin(&is, "i", 1, &data, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(data, "fghi", 4);
    evio_input_stream_free(&is);
}

/* ---- a line protocol -------------------------------------------------------------------- */

typedef struct lines {
    char **v;
    size_t n, cap;
} lines;

static void lines_add(lines *l, const char *p, size_t n) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = malloc(n + 1);
    memcpy(l->v[l->n], p, n);
    l->v[l->n][n] = '\0';
    l->n++;
}

static void lines_free(lines *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Feed `in` to the stream, consume every whole line. */
static int feed(evio_input_stream *is, const char *in, size_t len, lines *out) {
    const void *data;
    size_t n;
    if (evio_input_stream_begin(is, in, len, &data, &n) != 0)
        return -1;
    const char *p = data, *end = p + n;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        lines_add(out, p, (size_t)(nl - p));
        p = nl + 1;
    }
    return evio_input_stream_end(is, p, (size_t)(end - p));
}

static char *make_text(ts_rng *r, size_t nlines, size_t *len, lines *want) {
    size_t cap = nlines * 300 + 1, n = 0;
    char *t = malloc(cap);
    for (size_t i = 0; i < nlines; i++) {
        /* Some long lines (up to ~4 KiB) among short ones, and some empty ones. */
        size_t k = ts_rng_below(r, 10) == 0 ? ts_rng_below(r, 4096) : ts_rng_below(r, 80);
        if (n + k + 1 > cap) {
            cap = 2 * (n + k + 1);
            t = realloc(t, cap);
        }
        for (size_t j = 0; j < k; j++)
            t[n + j] = (char)('a' + ts_rng_below(r, 26));
        lines_add(want, t + n, k);
        n += k;
        t[n++] = '\n';
    }
    *len = n;
    return t;
}

static void check_lines(const lines *got, const lines *want, const char *how) {
    if (got->n != want->n)
        fail_msg("%s: %zu lines parsed, want %zu", how, got->n, want->n);
    for (size_t i = 0; i < want->n; i++)
        if (strcmp(got->v[i], want->v[i]) != 0)
            fail_msg("%s: line %zu differs", how, i);
}

static void test_line_protocol(void **s) {
    (void)s;
    ts_rng r;
    ts_rng_seed(&r, ts_seed());
    lines want = {0};
    size_t len;
    char *text = make_text(&r, 500, &len, &want);

    /* Byte by byte. */
    {
        evio_input_stream is = EVIO_INPUT_STREAM_INIT;
        lines got = {0};
        for (size_t i = 0; i < len; i++)
            assert_int_equal(feed(&is, text + i, 1, &got), 0);
        check_lines(&got, &want, "byte by byte");
        lines_free(&got);
        evio_input_stream_free(&is);
    }
    /* Random splits, several rounds. */
    for (int round = 0; round < 20; round++) {
        evio_input_stream is = EVIO_INPUT_STREAM_INIT;
        lines got = {0};
        size_t off = 0;
        while (off < len) {
            size_t k = 1 + ts_rng_below(&r, round < 10 ? 64 : 9000);
            if (k > len - off)
                k = len - off;
            /* The input buffer is a fresh copy that is destroyed after the call, as a
             * shared read buffer would be: the stream must have copied what it kept. */
            char *chunk = malloc(k);
            memcpy(chunk, text + off, k);
            assert_int_equal(feed(&is, chunk, k, &got), 0);
            memset(chunk, '#', k);
            free(chunk);
            off += k;
        }
        check_lines(&got, &want, "random splits");
        lines_free(&got);
        evio_input_stream_free(&is);
    }
    /* All at once. */
    {
        evio_input_stream is = EVIO_INPUT_STREAM_INIT;
        lines got = {0};
        assert_int_equal(feed(&is, text, len, &got), 0);
        check_lines(&got, &want, "all at once");
        lines_free(&got);
        evio_input_stream_free(&is);
    }
    free(text);
    lines_free(&want);
}

/* A large partial message accumulates across many calls. */
static void test_large_accumulation(void **s) {
    (void)s;
    size_t total = 8u << 20;
    unsigned char *src = malloc(total);
    ts_stream_fill(42, 0, src, total);
    evio_input_stream is = EVIO_INPUT_STREAM_INIT;
    const void *data;
    size_t n = 0;
    for (size_t off = 0; off < total; off += 65536) {
        assert_int_equal(evio_input_stream_begin(&is, src + off, 65536, &data, &n), 0);
        assert_int_equal(n, off + 65536);
        if (off + 65536 < total)
            assert_int_equal(evio_input_stream_end(&is, data, n), 0);
    }
    assert_int_equal(n, total);
    assert_memory_equal(data, src, total);
    assert_int_equal(evio_input_stream_end(&is, NULL, 0), 0);
    evio_input_stream_free(&is);
    free(src);
}

/* ---- in a server ------------------------------------------------------------------------ */

static evio_action ls_opened(evio_conn *c, void *u) {
    (void)u;
    evio_input_stream *is = calloc(1, sizeof *is);
    TS_CHECK(is != NULL);
    evio_conn_set_context(c, is);
    return EVIO_NONE;
}

static evio_action ls_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    evio_input_stream *is = evio_conn_context(c);
    const void *data;
    size_t n;
    TS_CHECK(evio_input_stream_begin(is, in, len, &data, &n) == 0);
    const char *p = data, *end = p + n;
    const char *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        /* Answer each line with its length and the line itself. */
        char hdr[32];
        int k = snprintf(hdr, sizeof hdr, "%zu:", (size_t)(nl - p));
        TS_CHECK(evio_conn_write(c, hdr, (size_t)k) == 0);
        TS_CHECK(evio_conn_write(c, p, (size_t)(nl - p + 1)) == 0);
        p = nl + 1;
    }
    TS_CHECK(evio_input_stream_end(is, p, (size_t)(end - p)) == 0);
    return EVIO_NONE;
}

static evio_action ls_closed(evio_conn *c, int err, void *u) {
    (void)err;
    (void)u;
    evio_input_stream *is = evio_conn_context(c);
    evio_input_stream_free(is);
    free(is);
    return EVIO_NONE;
}

static void test_in_server(void **s) {
    (void)s;
    ts_reset_failures();
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = ls_opened;
    ev.data = ls_data;
    ev.closed = ls_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, NULL, addrs, 1), 0);

    ts_rng r;
    ts_rng_seed(&r, ts_seed() ^ 0x5a5a);
    lines want = {0};
    size_t len;
    char *text = make_text(&r, 300, &len, &want);
    /* The expected answer. */
    size_t alen = 0;
    char *answer = malloc(len + want.n * 24);
    for (size_t i = 0; i < want.n; i++)
        alen += (size_t)sprintf(answer + alen, "%zu:%s\n", strlen(want.v[i]), want.v[i]);

    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        /* Send in random splits (each its own write, TCP_NODELAY), reading concurrently. */
        ts_set_nonblock(fd, 1);
        size_t sent = 0, got = 0;
        char buf[65536];
        while (got < alen && ts_failures() == 0) {
            struct pollfd p = {fd, (short)(POLLIN | (sent < len ? POLLOUT : 0)), 0};
            if (poll(&p, 1, TS_IO_TIMEOUT_MS) <= 0) {
                ts_fail_at(__FILE__, __LINE__, "stuck: sent %zu/%zu, got %zu/%zu", sent, len, got,
                           alen);
                break;
            }
            if (p.revents & POLLIN) {
                ssize_t k = read(fd, buf, sizeof buf);
                if (k <= 0 && !(k < 0 && errno == EAGAIN)) {
                    ts_fail_at(__FILE__, __LINE__, "read: %zd", k);
                    break;
                }
                if (k > 0) {
                    TS_CHECKF(got + (size_t)k <= alen && !memcmp(buf, answer + got, (size_t)k),
                              "answer differs after byte %zu", got);
                    got += (size_t)k;
                }
            }
            if (sent < len && (p.revents & POLLOUT)) {
                size_t k = 1 + ts_rng_below(&r, 700);
                if (k > len - sent)
                    k = len - sent;
                ssize_t w = send(fd, text + sent, k, MSG_NOSIGNAL);
                if (w > 0)
                    sent += (size_t)w;
            }
        }
        close(fd);
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    free(answer);
    free(text);
    lines_free(&want);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_go_sequence),   cmocka_unit_test(test_kept_only),
    cmocka_unit_test(test_free_resets),   cmocka_unit_test(test_bad_args),
    cmocka_unit_test(test_end_outside_data),
    cmocka_unit_test(test_line_protocol), cmocka_unit_test(test_large_accumulation),
    cmocka_unit_test(test_in_server),
};

TS_MAIN(tests)
