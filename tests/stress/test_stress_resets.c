/*
 * Stress: a storm of resets and half-closes.
 *
 * An echo server with 4 loops; 8 client threads make 5,000 connections each (40,000 in all,
 * up to 8 at a time, from 127.0.0.20-27 so that those left in TIME_WAIT do not use up the
 * ports of one address), each ending in one of six ways, chosen at random (TS_SEED):
 *   RESET_NOW      connect, then reset (SO_LINGER 0) at once;
 *   SEND_RESET     send 1 B..64 KiB, reset without reading;
 *   READ_RESET     send, read part of the echo, reset;
 *   FLOOD_RESET    send 256 KiB without reading (the server's output backs up), reset;
 *   HALF_CLOSE     send, shut down our sending side, read the whole echo and then EOF —
 *                  checked byte for byte: the server answers everything it got, then closes;
 *   HALF_CLOSE_NOW shut down our sending side at once: EOF, nothing else.
 * Then: every connection was `opened` once and `closed` once, with 0 or a reset/broken
 * pipe error only; the server's descriptors are as many as before the storm (counted with
 * one echoed probe connection per loop, round robin: stress_settled_fd_count); it still
 * echoes a new client; and it shuts down cleanly.
 * Bounded: TIME_BOUND_S for the storm, TS_IO_TIMEOUT_MS on each socket.
 */
#include "stress.h"

#define THREADS 8
#define PER_THREAD 5000
#define LOOPS 4
#define TIME_BOUND_S 60

enum { RESET_NOW, SEND_RESET, READ_RESET, FLOOD_RESET, HALF_CLOSE, HALF_CLOSE_NOW, KINDS };
static const char *const kind_name[KINDS] = {"reset-now",   "send-reset", "read-reset",
                                             "flood-reset", "half-close", "half-close-now"};

typedef struct counts {
    ts_counter opened, closed;
    atomic_long clean, resets, other_errors;
    atomic_int other_error; /* the last unexpected code */
} counts;

static evio_action on_opened(evio_conn *c, void *u) {
    (void)c;
    ts_counter_add(&((counts *)TS_USER(u))->opened, 1);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)c;
    counts *k = TS_USER(u);
    if (err == 0)
        atomic_fetch_add(&k->clean, 1);
    else if (err == EVIO_ECONNRESET || err == EVIO_EPIPE)
        atomic_fetch_add(&k->resets, 1);
    else {
        atomic_fetch_add(&k->other_errors, 1);
        atomic_store(&k->other_error, err);
    }
    ts_counter_add(&k->closed, 1);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

typedef struct worker {
    struct sockaddr_in to;
    int source; /* clients connect from 127.0.0.<source> .. <source + 7> */
    uint64_t seed;
    int done[KINDS];
    int failures;
    char err[160];
} worker;

static int fail_with(worker *w, int kind, const char *what) {
    snprintf(w->err, sizeof w->err, "%s: %s (%s)", kind_name[kind], what, strerror(errno));
    return -1;
}

/* Send everything, shut down our side, and check the echo and the EOF that follow. */
static int half_close(worker *w, int fd, const unsigned char *out, size_t n) {
    if (ts_write_all(fd, out, n) != 0 || shutdown(fd, SHUT_WR) != 0)
        return fail_with(w, HALF_CLOSE, "send");
    unsigned char *in = malloc(n + 1);
    long got = in ? stress_read_to_end(fd, (char *)in, n + 1) : -1;
    int ok = got == (long)n && memcmp(in, out, n) == 0;
    free(in);
    return ok ? 0 : fail_with(w, HALF_CLOSE, "echo then EOF expected");
}

static int one_connection(worker *w, ts_rng *r, unsigned char *buf, size_t cap) {
    int kind = (int)ts_rng_below(r, KINDS);
    int fd = stress_connect_from(&w->to, w->source + (int)ts_rng_below(r, 8));
    if (fd < 0)
        return fail_with(w, kind, "connect");
    size_t n = 1 + (size_t)ts_rng_below(r, 64 << 10);
    ts_rng_fill(r, buf, n);
    int rc = 0;
    switch (kind) {
    case RESET_NOW:
        break;
    case SEND_RESET:
        rc = ts_write_all(fd, buf, n) == 0 ? 0 : fail_with(w, kind, "send");
        break;
    case READ_RESET: {
        size_t part = 1 + (size_t)ts_rng_below(r, n);
        unsigned char *in = malloc(part);
        if (!in || ts_write_all(fd, buf, n) != 0 || ts_read_full(fd, in, part) != 0 ||
            memcmp(in, buf, part) != 0)
            rc = fail_with(w, kind, "partial echo");
        free(in);
        break;
    }
    case FLOOD_RESET:
        ts_set_nonblock(fd, 1);
        for (size_t sent = 0; sent < cap;) { /* as much as the socket takes, without reading */
            ssize_t k = send(fd, buf, cap - sent < n ? cap - sent : n, MSG_NOSIGNAL);
            if (k <= 0)
                break;
            sent += (size_t)k;
        }
        break;
    case HALF_CLOSE:
        rc = half_close(w, fd, buf, n);
        break;
    default: /* HALF_CLOSE_NOW */
        if (shutdown(fd, SHUT_WR) != 0 || stress_read_to_end(fd, (char *)buf, 1) != 0)
            rc = fail_with(w, kind, "EOF expected");
        break;
    }
    if (kind == HALF_CLOSE || kind == HALF_CLOSE_NOW)
        close(fd);
    else
        ts_close_reset(fd);
    w->done[kind]++;
    return rc;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ts_rng r;
    ts_rng_seed(&r, w->seed);
    size_t cap = 256 << 10;
    unsigned char *buf = malloc(cap);
    for (int i = 0; buf && i < PER_THREAD; i++)
        if (one_connection(w, &r, buf, cap) != 0 && ++w->failures > 5)
            break;
    free(buf);
    return NULL;
}

static int echo_works(const ts_server *s) {
    int fd = ts_connect_server(s, 0);
    char in[5] = {0};
    int ok = fd >= 0 && ts_write_all(fd, "alive", 5) == 0 && ts_read_full(fd, in, 5) == 0 &&
             memcmp(in, "alive", 5) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void test_reset_and_half_close_storm(void **unused) {
    (void)unused;
    ts_reset_failures();
    static counts k; /* static, like s: loop threads may still run if an assert fails */
    memset(&k, 0, sizeof k);
    ts_counter_init(&k.opened);
    ts_counter_init(&k.closed);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = LOOPS;
    ev.load_balance = EVIO_LB_ROUND_ROBIN; /* the probes: one per loop */
    ev.opened = on_opened;
    ev.closed = on_closed;
    ev.data = on_data;
    const char *addrs[] = {"tcp4://127.0.0.1:0"};
    static ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &k, addrs, 1), 0);
    const struct sockaddr *to = (const struct sockaddr *)&s.addr[0];
    int fds0 = stress_settled_fd_count(0, to, s.addrlen[0], LOOPS);
    assert_int_equal(ts_counter_wait_ge(&k.closed, LOOPS, TS_WAIT_TIMEOUT_MS), 0);

    int64_t t0 = ts_now_ns();
    uint64_t seed = ts_seed();
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){
            .to = stress_loopback(ts_sa_port(to)), .source = 20, .seed = seed + (uint64_t)t};
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    const long total = LOOPS + THREADS * PER_THREAD;
    int waited = ts_counter_wait_ge(&k.closed, total, TS_WAIT_TIMEOUT_MS);
    double secs = (double)(ts_now_ns() - t0) / 1e9;

    int per_kind[KINDS] = {0};
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < KINDS; i++)
            per_kind[i] += w[t].done[i];
    printf("[stress_resets] %d connections in %.2f s:", THREADS * PER_THREAD, secs);
    for (int i = 0; i < KINDS; i++)
        printf(" %s %d", kind_name[i], per_kind[i]);
    printf("; closed: %ld clean, %ld reset, %ld other\n", atomic_load(&k.clean),
           atomic_load(&k.resets), atomic_load(&k.other_errors));
    for (int t = 0; t < THREADS; t++)
        if (w[t].failures)
            fail_msg("thread %d: %d failures; last: %s", t, w[t].failures, w[t].err);
    assert_int_equal(waited, 0);
    assert_int_equal(ts_counter_get(&k.opened), total);
    assert_int_equal(ts_counter_get(&k.closed), total);
    if (atomic_load(&k.other_errors))
        fail_msg("closed with %s", evio_strerror(atomic_load(&k.other_error)));
    assert_true(secs < TIME_BOUND_S);

    /* The server lives and has let go of every socket. */
    int fds1 = stress_settled_fd_count(0, to, s.addrlen[0], LOOPS);
    printf("[stress_resets] descriptors: %d before, %d after\n", fds0, fds1);
    assert_true(fds0 > 0);
    assert_int_equal(fds1, fds0);
    assert_true(echo_works(&s));
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    ts_counter_destroy(&k.opened);
    ts_counter_destroy(&k.closed);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reset_and_half_close_storm)};
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
