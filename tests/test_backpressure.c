/*
 * Large output and backpressure.
 *
 * - One `data` call writes 64 MiB (in 64 KiB pieces) to a client that does not read yet:
 *   the loop is not blocked (another client on the same loop gets an echo meanwhile);
 *   then the client reads slowly (tiny reads), then fully: every byte arrives, in order.
 *   `prewrite` ran on the loop thread before output was written, and never inside the
 *   `data` call that wrote (not re-entrant, even for large writes).
 * - A client that sends without reading: the server stops reading once its unsent output
 *   is large (the client's sends stall well before 256 MiB), and once the client reads,
 *   every byte it sent comes back in order.
 */
#include "ts.h"

#define BIG (64u << 20)
#define KEY 0xb16b16ULL

typedef struct bstate {
    atomic_int prewrites;
    atomic_int prewrite_wrong_thread;
    atomic_int prewrite_inside_data;
    int in_data; /* loop thread only */
    pthread_t loop_thread;
    atomic_int have_loop_thread;
} bstate;

static evio_action on_opened(evio_conn *c, void *u) {
    (void)c;
    bstate *st = TS_USER(u);
    if (!atomic_load(&st->have_loop_thread)) {
        st->loop_thread = pthread_self();
        atomic_store(&st->have_loop_thread, 1);
    }
    return EVIO_NONE;
}

static void on_prewrite(evio_conn *c, void *u) {
    (void)c;
    bstate *st = TS_USER(u);
    atomic_fetch_add(&st->prewrites, 1);
    if (atomic_load(&st->have_loop_thread) && !pthread_equal(st->loop_thread, pthread_self()))
        atomic_fetch_add(&st->prewrite_wrong_thread, 1);
    if (st->in_data)
        atomic_fetch_add(&st->prewrite_inside_data, 1);
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    bstate *st = TS_USER(u);
    if (len == 4 && !memcmp(in, "GET\n", 4)) {
        st->in_data = 1;
        unsigned char *buf = malloc(65536);
        TS_CHECK(buf != NULL);
        for (size_t off = 0; buf && off < BIG; off += 65536) {
            ts_stream_fill(KEY, off, buf, 65536);
            int r = evio_conn_write(c, buf, 65536);
            if (r != 0) {
                ts_fail_at(__FILE__, __LINE__, "evio_conn_write at %zu: %d", off, r);
                break;
            }
        }
        free(buf);
        st->in_data = 0;
        return EVIO_NONE;
    }
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static int start(ts_server *s, bstate *st) {
    ts_reset_failures();
    memset(st, 0, sizeof *st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 1;
    ev.opened = on_opened;
    ev.prewrite = on_prewrite;
    ev.data = on_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(s, &ev, st, addrs, 1);
}

/* Read n bytes of the KEY stream from offset `off`, in reads of at most `piece`. */
static int read_verify(int fd, size_t off, size_t n, size_t piece) {
    unsigned char *got = malloc(piece), *want = malloc(piece);
    int rc = 0;
    while (n) {
        size_t k = n < piece ? n : piece;
        ssize_t r = read(fd, got, k);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            ts_fail_at(__FILE__, __LINE__, "read at offset %zu: %s", off,
                       r == 0 ? "EOF" : strerror(errno));
            rc = -1;
            break;
        }
        ts_stream_fill(KEY, off, want, (size_t)r);
        if (memcmp(got, want, (size_t)r) != 0) {
            size_t i = 0;
            while (got[i] == want[i])
                i++;
            ts_fail_at(__FILE__, __LINE__, "byte %zu of the output is wrong (lost or reordered)",
                       off + i);
            rc = -1;
            break;
        }
        off += (size_t)r;
        n -= (size_t)r;
    }
    free(got);
    free(want);
    return rc;
}

static void test_large_output(void **unused) {
    (void)unused;
    bstate st;
    ts_server s;
    assert_int_equal(start(&s, &st), 0);
    int big = ts_connect_server(&s, 0);
    int other = ts_connect_server(&s, 0);
    TS_CHECK(big >= 0 && other >= 0);
    if (big >= 0 && other >= 0) {
        TS_CHECK(ts_write_all(big, "GET\n", 4) == 0);
        /* The first bytes prove the callback ran and the output started. */
        if (read_verify(big, 0, 1, 1) == 0) {
            /* The loop is not stuck writing 64 MiB: another client is served now. */
            unsigned char msg[65536];
            ts_rng r;
            ts_rng_seed(&r, ts_seed());
            ts_rng_fill(&r, msg, sizeof msg);
            char err[256];
            if (ts_echo_verify(other, msg, sizeof msg, err, sizeof err) != 0)
                ts_fail_at(__FILE__, __LINE__,
                           "another client on the loop not served during a large write: %s", err);
            /* Slow reads at first, then fast. */
            if (read_verify(big, 1, 256 * 1024 - 1, 97) == 0)
                read_verify(big, 256 * 1024, BIG - 256 * 1024, 256 * 1024);
            /* Nothing more than the 64 MiB. */
            TS_CHECKF(ts_wait_readable(big, 0) == 0, "more than %u bytes arrived", BIG);
        }
    }
    if (big >= 0)
        close(big);
    if (other >= 0)
        close(other);
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    assert_true(atomic_load(&st.prewrites) > 0);
    assert_int_equal(atomic_load(&st.prewrite_wrong_thread), 0);
    assert_int_equal(atomic_load(&st.prewrite_inside_data), 0);
}

static void test_input_backpressure(void **unused) {
    (void)unused;
    bstate st;
    ts_server s;
    assert_int_equal(start(&s, &st), 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    const size_t cap = 256u << 20;
    size_t sent = 0;
    int stalled = 0;
    if (fd >= 0) {
        /* Send without reading until the sends stall. */
        ts_set_nonblock(fd, 1);
        unsigned char *buf = malloc(65536);
        while (sent < cap) {
            ts_stream_fill(KEY, sent, buf, 65536);
            buf[0] = (sent == 0) ? 'x' : buf[0]; /* never "GET\n" */
            ssize_t w = send(fd, buf, 65536, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN) {
                ts_fail_at(__FILE__, __LINE__, "send: %s", strerror(errno));
                break;
            }
            struct pollfd p = {fd, POLLOUT, 0};
            if (poll(&p, 1, 300) == 0) {
                stalled = 1;
                break;
            }
        }
        free(buf);
        ts_set_nonblock(fd, 0);
        fprintf(stderr, "[backpressure] client could send %.1f MiB before stalling\n",
                sent / 1048576.0);
        TS_CHECKF(stalled, "sent %zu MiB without the server ever pushing back", sent >> 20);
        /* Now read everything back (the first byte was replaced by 'x'). */
        if (ts_failures() == 0) {
            unsigned char first;
            TS_CHECK(ts_read_full(fd, &first, 1) == 0 && first == 'x');
            read_verify(fd, 1, sent - 1, 256 * 1024);
        }
        close(fd);
    }
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_large_output),
    cmocka_unit_test(test_input_backpressure),
};

TS_MAIN(tests)
