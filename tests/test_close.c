/*
 * EVIO_CLOSE and how connections end.
 *
 * - `data` writes output and returns EVIO_CLOSE: the client receives all of it (100 KiB,
 *   and 4 MiB which needs many writes) and then EOF (not a reset); `closed` once, err 0.
 * - `opened` writes a greeting and returns EVIO_CLOSE: greeting, then EOF; `data` never.
 * - The client closes: `closed` once, err 0.
 * - A client that half-closes (shutdown(SHUT_WR)) after sending 1 MiB still receives the
 *   whole echo, then EOF.
 * - The client resets an idle connection (SO_LINGER 0): `closed` once, err 0 or
 *   EVIO_ECONNRESET (printed).
 * - The client resets while the server still has output pending for it: `closed` once,
 *   with a negative error (the connection failed; output was lost).
 * - Input the server never read (the client sent more after the request that made the
 *   server return EVIO_CLOSE) does not turn the close into a reset: the client still gets
 *   all 32 MiB of output, then EOF.
 * - Input and a reset that arrive together while the loop is busy: `data` gets the input,
 *   then `closed` runs (on libuv, whose poll handle stops itself on POLLERR, too).
 * - `data` writes a reply and returns EVIO_SHUTDOWN, but the peer has reset so the write
 *   fails and the connection closes: the server still shuts down.
 */
#include "ts.h"

#define MAGIC 0x434c4f53u
#define KEY 0xc105eULL

typedef struct cctx {
    unsigned magic;
    int closed;
} cctx;

typedef struct cstate {
    int close_in_opened;
    ts_counter closed;
    atomic_int last_err;
    atomic_int data_calls;
    atomic_int data_after_close;
    atomic_int closed_twice;
    ts_counter blocked; /* "block": the loop thread is held in `data`... */
    ts_counter release; /* ...until the test adds 1 here */
} cstate;

static evio_action on_opened(evio_conn *c, void *u) {
    cstate *st = TS_USER(u);
    cctx *x = calloc(1, sizeof *x);
    TS_CHECK(x != NULL);
    if (!x)
        return EVIO_CLOSE;
    x->magic = MAGIC;
    evio_conn_set_context(c, x);
    if (st->close_in_opened) {
        TS_CHECK(evio_conn_write(c, "bye\n", 4) == 0);
        return EVIO_CLOSE;
    }
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    cstate *st = TS_USER(u);
    cctx *x = evio_conn_context(c);
    atomic_fetch_add(&st->data_calls, 1);
    if (!x || x->magic != MAGIC || x->closed) {
        atomic_fetch_add(&st->data_after_close, 1);
        return EVIO_NONE;
    }
    unsigned long n;
    char req[64];
    size_t k = len < sizeof req - 1 ? len : sizeof req - 1;
    memcpy(req, in, k);
    req[k] = '\0';
    if (!strcmp(req, "block\n")) { /* hold the loop so that events pile up behind it */
        ts_counter_add(&st->blocked, 1);
        TS_CHECK(ts_counter_wait_ge(&st->release, 1, TS_WAIT_TIMEOUT_MS) == 0);
        return EVIO_NONE;
    }
    if (!strcmp(req, "mute\n"))
        return EVIO_NONE;
    if (!strcmp(req, "quit\n")) {
        TS_CHECK(evio_conn_write(c, "bye\n", 4) == 0);
        return EVIO_SHUTDOWN;
    }
    if (sscanf(req, "close:%lu\n", &n) == 1 || sscanf(req, "send:%lu\n", &n) == 1) {
        /* Write n bytes in 64 KiB pieces. */
        unsigned char *buf = malloc(65536);
        for (unsigned long off = 0; buf && off < n; off += 65536) {
            size_t piece = n - off < 65536 ? n - off : 65536;
            ts_stream_fill(KEY, off, buf, piece);
            TS_CHECK(evio_conn_write(c, buf, piece) == 0);
        }
        free(buf);
        return req[0] == 'c' ? EVIO_CLOSE : EVIO_NONE;
    }
    TS_CHECK(evio_conn_write(c, in, len) == 0); /* echo */
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    cstate *st = TS_USER(u);
    cctx *x = evio_conn_context(c);
    TS_CHECK(x && x->magic == MAGIC);
    if (x && x->closed++)
        atomic_fetch_add(&st->closed_twice, 1);
    atomic_store(&st->last_err, err);
    if (x) {
        x->magic = 0;
        free(x);
    }
    evio_conn_set_context(c, NULL); /* a second `closed` or a late `data` sees NULL */
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

typedef struct fixture {
    cstate st;
    ts_server s;
} fixture;

static int start(fixture *f, int close_in_opened) {
    ts_reset_failures();
    memset(&f->st, 0, sizeof f->st);
    f->st.close_in_opened = close_in_opened;
    ts_counter_init(&f->st.closed);
    ts_counter_init(&f->st.blocked);
    ts_counter_init(&f->st.release);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(&f->s, &ev, &f->st, addrs, 1);
}

static void finish(fixture *f, long want_closed) {
    int r = ts_server_stop(&f->s);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(ts_counter_get(&f->st.closed), want_closed);
    assert_int_equal(atomic_load(&f->st.closed_twice), 0);
    assert_int_equal(atomic_load(&f->st.data_after_close), 0);
    ts_counter_destroy(&f->st.closed);
    ts_counter_destroy(&f->st.blocked);
    ts_counter_destroy(&f->st.release);
}

static void wait_closed(fixture *f, long n) {
    TS_CHECKF(ts_counter_wait_ge(&f->st.closed, n, TS_WAIT_TIMEOUT_MS) == 0,
              "closed not called (%ld of %ld)", ts_counter_get(&f->st.closed), n);
}

/* Ask for n bytes then EVIO_CLOSE; with `more_input`, once the first 4 KiB arrived (the
 * server is closing and no longer reads) send more input, which nobody will read. */
static void close_after_output(size_t n, int more_input) {
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int fd = ts_connect_server(&f.s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        char req[64];
        int k = snprintf(req, sizeof req, "close:%zu\n", n);
        TS_CHECK(ts_write_all(fd, req, (size_t)k) == 0);
        unsigned char *got = malloc(n), *want = malloc(n);
        ts_stream_fill(KEY, 0, want, n);
        size_t first = more_input ? 4096 : 0;
        TS_CHECK(ts_read_full(fd, got, first) == 0);
        if (more_input)
            TS_CHECK(ts_write_all(fd, "more input nobody reads\n", 24) == 0);
        int r = ts_read_full(fd, got + first, n - first);
        TS_CHECKF(r == 0, "output before close: read %d (%s)%s", r, strerror(errno),
                  more_input ? " (unread input made the close a reset?)" : "");
        TS_CHECKF(r != 0 || !memcmp(got, want, n), "output before close corrupted");
        int e = ts_read_eof(fd);
        TS_CHECKF(e == 0, "after the output: want EOF, got %s",
                  e > 0 ? "more data" : strerror(errno));
        free(got);
        free(want);
        close(fd);
    }
    wait_closed(&f, 1);
    TS_CHECKF(atomic_load(&f.st.last_err) == 0, "closed err %d after EVIO_CLOSE",
              atomic_load(&f.st.last_err));
    finish(&f, 1);
}

static void test_close_after_100k(void **s) {
    (void)s;
    close_after_output(100 * 1024, 0);
}

static void test_close_after_4m(void **s) {
    (void)s;
    close_after_output(4u << 20, 0);
}

static void test_close_in_opened(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 1), 0);
    int fd = ts_connect_server(&f.s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        char g[4];
        TS_CHECK(ts_read_full(fd, g, 4) == 0 && !memcmp(g, "bye\n", 4));
        TS_CHECK(ts_read_eof(fd) == 0);
        close(fd);
    }
    wait_closed(&f, 1);
    TS_CHECK(atomic_load(&f.st.last_err) == 0);
    TS_CHECK(atomic_load(&f.st.data_calls) == 0);
    finish(&f, 1);
}

/* Connect a client and make sure its connection is open on the server (an echo). */
static int connect_open(fixture *f) {
    int fd = ts_connect_server(&f->s, 0);
    TS_CHECK(fd >= 0);
    char b[3];
    if (fd >= 0 && (ts_write_all(fd, "hi\n", 3) != 0 || ts_read_full(fd, b, 3) != 0)) {
        TS_CHECKF(0, "echo on a new connection failed");
        close(fd);
        return -1;
    }
    return fd;
}

static void test_client_closes(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    for (int i = 0; i < 20; i++) {
        int fd = connect_open(&f);
        if (fd < 0)
            break;
        close(fd);
        wait_closed(&f, i + 1);
        TS_CHECKF(atomic_load(&f.st.last_err) == 0, "orderly client close: err %d",
                  atomic_load(&f.st.last_err));
    }
    finish(&f, 20);
}

static void test_half_close(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int fd = ts_connect_server(&f.s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        size_t n = 1u << 20;
        unsigned char *buf = malloc(n), *back = malloc(n);
        ts_stream_fill(7, 0, buf, n);
        buf[0] = 'x'; /* not a request */
        /* Send everything while reading, then half-close and read the rest. */
        ts_set_nonblock(fd, 1);
        size_t sent = 0, got = 0;
        int shut = 0;
        while (got < n) {
            struct pollfd p = {fd, (short)(POLLIN | (sent < n ? POLLOUT : 0)), 0};
            if (poll(&p, 1, TS_IO_TIMEOUT_MS) <= 0) {
                ts_fail_at(__FILE__, __LINE__, "stuck: sent %zu, got %zu of %zu", sent, got, n);
                break;
            }
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t k = read(fd, back + got, n - got);
                if (k == 0 || (k < 0 && errno != EAGAIN)) {
                    ts_fail_at(__FILE__, __LINE__,
                               "half-closed client lost its echo: %zu of %zu bytes, then %s", got,
                               n, k == 0 ? "EOF" : strerror(errno));
                    break;
                }
                if (k > 0)
                    got += (size_t)k;
            }
            if (sent < n && (p.revents & POLLOUT)) {
                ssize_t w = send(fd, buf + sent, n - sent, MSG_NOSIGNAL);
                if (w > 0)
                    sent += (size_t)w;
            }
            if (sent == n && !shut) {
                TS_CHECK(shutdown(fd, SHUT_WR) == 0);
                shut = 1;
            }
        }
        ts_set_nonblock(fd, 0);
        TS_CHECKF(got < n || !memcmp(buf, back, n), "echo corrupted");
        if (got == n)
            TS_CHECKF(ts_read_eof(fd) == 0, "no EOF after the echo of a half-closed client");
        free(buf);
        free(back);
        close(fd);
    }
    wait_closed(&f, 1);
    TS_CHECK(atomic_load(&f.st.last_err) == 0);
    finish(&f, 1);
}

static void test_client_reset_idle(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int seen_zero = 0, seen_reset = 0;
    for (int i = 0; i < 10; i++) {
        int fd = connect_open(&f);
        if (fd < 0)
            break;
        ts_close_reset(fd);
        wait_closed(&f, i + 1);
        int err = atomic_load(&f.st.last_err);
        TS_CHECKF(err == 0 || err == EVIO_ECONNRESET,
                  "closed after a client reset: err %d (%s), want 0 or EVIO_ECONNRESET", err,
                  evio_strerror(err));
        seen_zero += err == 0;
        seen_reset += err == EVIO_ECONNRESET;
    }
    fprintf(stderr, "[close] idle client reset: closed err 0 x%d, EVIO_ECONNRESET x%d\n", seen_zero,
            seen_reset);
    finish(&f, 10);
}

static void test_client_reset_with_pending_output(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int fd = ts_connect_server(&f.s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        /* 32 MiB cannot fit in the socket buffers: most of it is pending in evio. */
        TS_CHECK(ts_write_all(fd, "send:33554432\n", 14) == 0);
        unsigned char buf[4096];
        TS_CHECK(ts_read_full(fd, buf, sizeof buf) == 0);
        ts_close_reset(fd);
    }
    wait_closed(&f, 1);
    int err = atomic_load(&f.st.last_err);
    fprintf(stderr, "[close] reset with output pending: closed err %d (%s)\n", err,
            evio_strerror(err));
    TS_CHECKF(err < 0, "closed err %d: output was lost, the close cannot be orderly", err);
    finish(&f, 1);
}

/* 32 MiB is more than the socket buffers: the close has to wait for the client. */
static void test_close_with_unread_input(void **s) {
    (void)s;
    close_after_output(32u << 20, 1);
}

/* Hold the loop in a `data` call of a second connection (`gate`), send `msg` on `fd` and
 * reset it, then let the loop go: the loop sees the input and the reset together. */
static void send_and_reset_behind_busy_loop(fixture *f, int fd, int gate, const char *msg) {
    TS_CHECK(ts_write_all(gate, "block\n", 6) == 0);
    TS_CHECK(ts_counter_wait_ge(&f->st.blocked, 1, TS_WAIT_TIMEOUT_MS) == 0);
    TS_CHECK(ts_write_all(fd, msg, strlen(msg)) == 0);
    ts_close_reset(fd);
    ts_counter_add(&f->st.release, 1);
}

static void test_input_and_reset_together(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int fd = connect_open(&f), gate = connect_open(&f);
    if (fd >= 0 && gate >= 0) {
        int calls = atomic_load(&f.st.data_calls);
        send_and_reset_behind_busy_loop(&f, fd, gate, "mute\n");
        wait_closed(&f, 1); /* the reset connection; the gate is still open */
        TS_CHECKF(atomic_load(&f.st.data_calls) == calls + 2,
                  "data calls %d, want %d (the block, and the input before the reset)",
                  atomic_load(&f.st.data_calls), calls + 2);
    } else if (fd >= 0) {
        close(fd);
    }
    if (gate >= 0)
        close(gate);
    wait_closed(&f, 2);
    finish(&f, 2);
}

static void test_shutdown_when_reply_fails(void **s) {
    (void)s;
    fixture f;
    assert_int_equal(start(&f, 0), 0);
    int fd = connect_open(&f), gate = connect_open(&f);
    int r = EVIO_ETIMEDOUT;
    if (fd >= 0 && gate >= 0) {
        send_and_reset_behind_busy_loop(&f, fd, gate, "quit\n");
        r = ts_server_wait(&f.s, TS_WAIT_TIMEOUT_MS);
        TS_CHECKF(r == 0, "EVIO_SHUTDOWN from a data call whose reply failed: serve gave %d", r);
    } else if (fd >= 0) {
        close(fd);
    }
    if (gate >= 0)
        close(gate);
    if (r != 0)
        r = ts_server_stop(&f.s);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(r, 0);
    assert_int_equal(ts_counter_get(&f.st.closed), 2); /* shutdown closed the gate */
    ts_counter_destroy(&f.st.closed);
    ts_counter_destroy(&f.st.blocked);
    ts_counter_destroy(&f.st.release);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_close_after_100k),
    cmocka_unit_test(test_close_after_4m),
    cmocka_unit_test(test_close_in_opened),
    cmocka_unit_test(test_client_closes),
    cmocka_unit_test(test_half_close),
    cmocka_unit_test(test_client_reset_idle),
    cmocka_unit_test(test_client_reset_with_pending_output),
    cmocka_unit_test(test_close_with_unread_input),
    cmocka_unit_test(test_input_and_reset_together),
    cmocka_unit_test(test_shutdown_when_reply_fails),
};

TS_MAIN(tests)
