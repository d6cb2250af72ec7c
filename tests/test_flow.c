/*
 * Flow control and half-close (since 1.1).
 *
 * - pause/resume: a paused connection gets no `data` with input (its input waits); wakes
 *   still come; once resumed every byte arrives.
 * - pending + watermarks + `drained`: a writer that stops when evio_conn_pending() passes
 *   its high watermark and goes on in `drained` sends a large stream to a slow reader:
 *   every byte arrives, and the server's RSS stays bounded (the wake-driven writer of the
 *   issue: woken from another thread, 64 KiB per wake, peer not reading at first).
 * - the output limit: a writer that ignores pending is closed with EVIO_ENOBUFS.
 * - shutdown_write: the client reads the reply and the end of the stream, then can still
 *   send, and the server still reads. input_closed: the client's end of input does not
 *   close the connection; the reply written then arrives whole.
 * - evio_conn_fd and evio_conn_set_nodelay; EVIO_LB_SOURCE_HASH puts every connection
 *   from one client address on one loop.
 */
#include "ts.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

typedef struct fstate {
    _Atomic(evio_conn *) conn;
    ts_counter opened, closed, data_bytes, wakes, drained;
    atomic_int closed_err;
    atomic_int pause_in_opened;
    atomic_int paused_data; /* data with input while paused */
    atomic_int paused;
    long chunks_to_write, written; /* writer: chunks of 64 KiB */
    int respect_pending;
    atomic_int input_closed_calls;
    atomic_int fd_type, nodelay_off_ok;
    pthread_t loop_thread[64];
    evio_conn *all[64]; /* every connection opened, referenced */
    atomic_int nthreads;
} fstate;

#define CHUNK (64 * 1024)
#define HIGH_WM (256 * 1024)
#define LOW_WM (64 * 1024)
static unsigned char chunk_bytes[CHUNK];

static void f_init(fstate *st) {
    memset(st, 0, sizeof *st);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->closed);
    ts_counter_init(&st->data_bytes);
    ts_counter_init(&st->wakes);
    ts_counter_init(&st->drained);
    atomic_store(&st->closed_err, 1);
    for (int i = 0; i < CHUNK; i++)
        chunk_bytes[i] = (unsigned char)(i * 7);
}

static void f_destroy(fstate *st) {
    for (int i = 0; i < atomic_load(&st->nthreads) && i < 64; i++)
        evio_conn_unref(st->all[i]);
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->closed);
    ts_counter_destroy(&st->data_bytes);
    ts_counter_destroy(&st->wakes);
    ts_counter_destroy(&st->drained);
}

/* Writes 64 KiB chunks until done, or (respecting pending) until past the watermark. */
static void write_some(fstate *st, evio_conn *c) {
    while (st->written < st->chunks_to_write) {
        size_t pending = 0;
        TS_CHECK(evio_conn_pending(c, &pending) == 0);
        if (st->respect_pending && pending > HIGH_WM)
            return; /* `drained` will call again */
        int r = evio_conn_write(c, chunk_bytes, CHUNK);
        if (r == EVIO_ENOBUFS)
            return;
        TS_CHECK(r == 0);
        st->written++;
        if (!st->respect_pending)
            return; /* the blind writer: one chunk per wake */
    }
}

static evio_action f_opened(evio_conn *c, void *u) {
    fstate *st = TS_USER(u);
    evio_conn_ref(c);
    atomic_store(&st->conn, c);
    if (atomic_load(&st->pause_in_opened)) {
        TS_CHECK(evio_conn_pause_read(c) == 0);
        atomic_store(&st->paused, 1);
    }
    int fd = evio_conn_fd(c);
    int type = 0;
    socklen_t len = sizeof type;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)
        atomic_store(&st->fd_type, type);
    int one = -1;
    len = sizeof one;
    if (evio_conn_set_nodelay(c, 0) == 0 &&
        getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &len) == 0)
        atomic_store(&st->nodelay_off_ok, one == 0);
    evio_conn_set_nodelay(c, 1);
    int n = atomic_fetch_add(&st->nthreads, 1);
    if (n < 64) {
        st->loop_thread[n] = pthread_self();
        st->all[n] = c;
    } else {
        evio_conn_unref(c);
    }
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action f_data(evio_conn *c, const void *in, size_t len, void *u) {
    fstate *st = TS_USER(u);
    if (len == 0) { /* a wake */
        if (atomic_load(&st->paused) == 2) {
            TS_CHECK(evio_conn_resume_read(c) == 0);
            atomic_store(&st->paused, 0);
        }
        write_some(st, c);
        ts_counter_add(&st->wakes, 1);
        return EVIO_NONE;
    }
    if (atomic_load(&st->paused))
        atomic_fetch_add(&st->paused_data, 1);
    if (len >= 4 && memcmp(in, "half", 4) == 0) {
        TS_CHECK(evio_conn_write(c, "bye", 3) == 0);
        TS_CHECK(evio_conn_shutdown_write(c) == 0);
        TS_CHECK(evio_conn_write(c, "x", 1) == EVIO_EPIPE);
    }
    ts_counter_add(&st->data_bytes, (long)len);
    return EVIO_NONE;
}

static evio_action f_drained(evio_conn *c, void *u) {
    fstate *st = TS_USER(u);
    size_t pending = 0;
    TS_CHECK(evio_conn_pending(c, &pending) == 0 && pending <= LOW_WM); /* at the low mark */
    ts_counter_add(&st->drained, 1);
    write_some(st, c);
    return EVIO_NONE;
}

static evio_action f_input_closed(evio_conn *c, void *u) {
    fstate *st = TS_USER(u);
    atomic_fetch_add(&st->input_closed_calls, 1);
    static unsigned char reply[300000];
    memset(reply, 'r', sizeof reply);
    TS_CHECK(evio_conn_write(c, reply, sizeof reply) == 0);
    return EVIO_CLOSE;
}

static evio_action f_closed(evio_conn *c, int err, void *u) {
    (void)c;
    fstate *st = TS_USER(u);
    atomic_store(&st->closed_err, err);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static int f_start(ts_server *srv, fstate *st, evio_events ev) {
    ev.opened = f_opened;
    ev.data = f_data;
    ev.closed = f_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(srv, &ev, st, addrs, 1);
}

static evio_conn *wait_conn(fstate *st, long n) {
    if (ts_counter_wait_ge(&st->opened, n, TS_WAIT_TIMEOUT_MS) != 0)
        return NULL;
    return atomic_load(&st->conn);
}

static void test_pause_resume(void **s) {
    (void)s;
    ts_reset_failures();
    fstate st;
    f_init(&st);
    atomic_store(&st.pause_in_opened, 1);
    ts_server srv;
    evio_events ev = EVIO_EVENTS_INIT;
    assert_int_equal(f_start(&srv, &st, ev), 0);
    int fd = ts_connect_server(&srv, 0);
    evio_conn *c = wait_conn(&st, 1);
    assert_non_null(c);
    char buf[1000];
    memset(buf, 'i', sizeof buf);
    TS_CHECK(ts_write_all(fd, buf, sizeof buf) == 0);
    /* A wake still comes while paused; it resumes reading. */
    atomic_store(&st.paused, 2);
    assert_int_equal(evio_conn_wake(c), 0);
    assert_int_equal(ts_counter_wait_ge(&st.data_bytes, 1000, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_counter_get(&st.data_bytes), 1000);
    assert_int_equal(atomic_load(&st.paused_data), 0);
    assert_int_equal(atomic_load(&st.fd_type), SOCK_STREAM);
    assert_int_equal(atomic_load(&st.nodelay_off_ok), 1);
    close(fd);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(evio_conn_pause_read(c), EVIO_ENOTCONN);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    f_destroy(&st);
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* The wake-driven writer: another thread wakes the connection again and again,
 * each wake may write 64 KiB, and the peer does not read until the end. */
static void run_writer(int respect_pending, size_t limit, long *rss_growth, int *err,
                       size_t *received) {
    fstate st;
    f_init(&st);
    st.respect_pending = respect_pending;
    st.chunks_to_write = 1024; /* 64 MiB in all */
    ts_server srv;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.drained = f_drained;
    ev.output_limit = limit;
    ev.high_watermark = HIGH_WM;
    ev.low_watermark = LOW_WM;
    assert_int_equal(f_start(&srv, &st, ev), 0);
    int fd = ts_connect_server(&srv, 0);
    evio_conn *c = wait_conn(&st, 1);
    assert_non_null(c);
    long before = rss_kib();
    for (int i = 0; i < 2000 && ts_counter_get(&st.closed) == 0; i++) {
        long w = ts_counter_get(&st.wakes);
        if (evio_conn_wake(c) != 0)
            break;
        ts_counter_wait_ge(&st.wakes, w + 1, TS_WAIT_TIMEOUT_MS);
    }
    long peak = rss_kib();
    /* Now read everything there is. */
    size_t got = 0;
    unsigned char *buf = malloc(CHUNK);
    /* (the client socket has the suite's 20 s timeout: a stalled writer fails, never hangs) */
    while (got < (size_t)st.chunks_to_write * CHUNK) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != chunk_bytes[(got + (size_t)i) % CHUNK]) {
                fail_msg("byte %zu differs", got + (size_t)i);
            }
        got += (size_t)n;
    }
    free(buf);
    close(fd);
    ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS);
    *err = atomic_load(&st.closed_err);
    assert_int_equal(ts_server_stop(&srv), 0);
    *rss_growth = peak - before;
    *received = got;
    f_destroy(&st);
}

static void test_pending_and_drained_bound_memory(void **s) {
    (void)s;
    ts_reset_failures();
    long growth;
    int err;
    size_t got;
    run_writer(1, 0, &growth, &err, &got);
    fprintf(stderr, "[flow] writer with pending+drained: RSS +%ld KiB, %zu bytes received\n",
            growth, got);
    assert_int_equal(got, (size_t)1024 * CHUNK); /* every byte, in order */
    assert_true(growth < 16 * 1024);             /* bounded: not the 64 MiB written */
    assert_int_equal(err, 0);
    TS_ASSERT_NO_FAILURES();
}

static void test_output_limit_closes(void **s) {
    (void)s;
    ts_reset_failures();
    long growth;
    int err;
    size_t got;
    run_writer(0, 4u << 20, &growth, &err, &got); /* blind writer, 4 MiB limit */
    fprintf(stderr, "[flow] blind writer, 4 MiB limit: RSS +%ld KiB, closed with %d\n", growth,
            err);
    assert_int_equal(err, EVIO_ENOBUFS);
    assert_true(growth < 32 * 1024);
    assert_true(got < (size_t)1024 * CHUNK);
    TS_ASSERT_NO_FAILURES();
}

static void test_shutdown_write(void **s) {
    (void)s;
    ts_reset_failures();
    fstate st;
    f_init(&st);
    ts_server srv;
    evio_events ev = EVIO_EVENTS_INIT;
    assert_int_equal(f_start(&srv, &st, ev), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(ts_write_all(fd, "half", 4) == 0);
    char bye[3];
    TS_CHECK(ts_read_full(fd, bye, 3) == 0 && memcmp(bye, "bye", 3) == 0);
    TS_CHECK(ts_read_eof(fd) == 0); /* the server's end of stream */
    TS_CHECK(ts_write_all(fd, "still", 5) == 0);
    assert_int_equal(ts_counter_wait_ge(&st.data_bytes, 9, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_counter_get(&st.closed), 0); /* open for input */
    close(fd);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    f_destroy(&st);
}

static void test_input_closed(void **s) {
    (void)s;
    ts_reset_failures();
    fstate st;
    f_init(&st);
    ts_server srv;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.input_closed = f_input_closed;
    assert_int_equal(f_start(&srv, &st, ev), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(ts_write_all(fd, "request", 7) == 0);
    shutdown(fd, SHUT_WR);
    static char reply[300000];
    TS_CHECK(ts_read_full(fd, reply, sizeof reply) == 0);
    for (size_t i = 0; i < sizeof reply; i++)
        if (reply[i] != 'r')
            fail_msg("reply byte %zu", i);
    TS_CHECK(ts_read_eof(fd) == 0);
    close(fd);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(atomic_load(&st.input_closed_calls), 1);
    assert_int_equal(atomic_load(&st.closed_err), 0);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    f_destroy(&st);
}

static void test_source_hash(void **s) {
    (void)s;
    ts_reset_failures();
    fstate st;
    f_init(&st);
    ts_server srv;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 4;
    ev.load_balance = EVIO_LB_SOURCE_HASH;
    assert_int_equal(f_start(&srv, &st, ev), 0);
    int fds[16];
    for (int i = 0; i < 16; i++)
        fds[i] = ts_connect_server(&srv, 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 16, TS_WAIT_TIMEOUT_MS), 0);
    for (int i = 1; i < 16; i++)
        TS_CHECKF(pthread_equal(st.loop_thread[i], st.loop_thread[0]),
                  "connection %d from 127.0.0.1 landed on another loop", i);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
    assert_int_equal(ts_counter_wait_ge(&st.closed, 16, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    f_destroy(&st);
}

/* ---- evio_conn_set_read_backpressure(conn, 0): own output no longer stops reading ------ */

static atomic_long rb_in;  /* input bytes the server saw */
static atomic_int rb_mode; /* what `opened` passes to evio_conn_set_read_backpressure */

static evio_action rb_opened(evio_conn *c, void *u) {
    (void)u;
    TS_CHECK(evio_conn_set_read_backpressure(c, atomic_load(&rb_mode)) == 0);
    return EVIO_NONE;
}

static evio_action rb_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    (void)in;
    static char big[1 << 16];
    /* Every 64 KiB of input asks for 1 MiB of output, which the client never reads. */
    long before = atomic_fetch_add(&rb_in, (long)len);
    for (long k = before / 65536; k < (before + (long)len) / 65536; k++)
        for (int i = 0; i < 16; i++)
            TS_CHECK(evio_conn_write(c, big, sizeof big) == 0);
    return EVIO_NONE;
}

/* Sends `n` bytes without reading; returns how many the server had seen after 2 s of no
 * progress (bounded: 30 s in all). */
static long rb_run(int mode, long n) {
    atomic_store(&rb_in, 0);
    atomic_store(&rb_mode, mode);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = rb_opened;
    ev.data = rb_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, NULL, addrs, 1), 0);
    int fd = ts_connect_server(&s, 0);
    assert_true(fd >= 0);
    int small = 64 << 10;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small); /* we never read */
    ts_set_nonblock(fd, 1);
    static char chunk[1 << 16];
    long sent = 0, last = -1;
    int64_t quiet_since = ts_now_ns(), start = quiet_since;
    while (atomic_load(&rb_in) < n && ts_now_ns() - quiet_since < 2000000000LL &&
           ts_now_ns() - start < 30000000000LL) {
        if (sent < n) {
            ssize_t w = send(
                fd, chunk, (size_t)(n - sent < (long)sizeof chunk ? n - sent : (long)sizeof chunk),
                MSG_NOSIGNAL);
            if (w > 0)
                sent += w;
        }
        long now = atomic_load(&rb_in);
        if (now != last) {
            last = now;
            quiet_since = ts_now_ns();
        }
        ts_wait_readable(-1, 1); /* 1 ms pause between polls of the counter */
    }
    long seen = atomic_load(&rb_in);
    close(fd);
    assert_int_equal(ts_server_stop(&s), 0);
    return seen;
}

static void test_read_backpressure_off(void **state) {
    (void)state;
    const long n = 8l << 20; /* asks for 128 MiB of output that nobody reads */
    long off = rb_run(0, n);
    long on = rb_run(1, n);
    /* Off: every byte is read although the output is far above the high watermark.
     * On (the default): reading stops once the output passed it. */
    assert_int_equal(off, n);
    assert_true(on < n / 2);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_read_backpressure_off),
    cmocka_unit_test(test_pause_resume),
    cmocka_unit_test(test_pending_and_drained_bound_memory),
    cmocka_unit_test(test_output_limit_closes),
    cmocka_unit_test(test_shutdown_write),
    cmocka_unit_test(test_input_closed),
    cmocka_unit_test(test_source_hash),
};

TS_MAIN(tests)
