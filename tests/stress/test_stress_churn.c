/*
 * Stress: 100k connections opened and closed, with no growth of descriptors or memory.
 *
 * An echo server with 2 loops (round robin); 4 client threads open 100,000 TCP connections in all,
 * one after another each, from 16 loopback source addresses (127.0.0.2-17, so the client ends left
 * in TIME_WAIT do not use up the ports of one address). Every 16th connection sends a byte and
 * waits for its echo first; the others connect and close at once. After a warm-up of 10,000 the
 * process's descriptors (/proc/self/fd) and resident memory (VmRSS) are read; once all 100,000 have
 * closed on the server side (`opened` == `closed`), the descriptors must be exactly as many as
 * after the warm-up, and the memory at most RSS_GROWTH_KIB more (a leak of 100 bytes per connection
 * would be 8.8 MiB). A connection's socket is closed just after its `closed` callback returns, so
 * the descriptors are counted while one probe connection per loop (round robin) is open and has
 * been echoed: each loop has then finished with every connection before it. Bounded: TIME_BOUND_S
 * for the whole test, TS_IO_TIMEOUT_MS on each socket.
 */
#include "stress.h"

#define TOTAL 100000
#define WARMUP 10000
#define THREADS 4
#define LOOPS 2
#define SOURCES 16
#define RSS_GROWTH_KIB 4096
#define TIME_BOUND_S 120

typedef struct counts {
    ts_counter opened, closed;
    atomic_long errors; /* closed with an error */
} counts;

static evio_action on_opened(evio_conn *c, void *u) {
    (void)c;
    ts_counter_add(&((counts *)TS_USER(u))->opened, 1);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)c;
    counts *k = TS_USER(u);
    if (err != 0)
        atomic_fetch_add(&k->errors, 1);
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
    int first, count; /* connection numbers first .. first + count - 1 */
    int failures;
    char err[128];
} worker;

static int one_connection(worker *w, int i) {
    int fd = stress_connect_from(&w->to, 2 + i % SOURCES);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "connect %d: %s", i, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (i % 16 == 0) {
        char b = (char)i, e = 0;
        if (ts_write_all(fd, &b, 1) != 0 || ts_read_full(fd, &e, 1) != 0 || e != b) {
            snprintf(w->err, sizeof w->err, "echo %d: %s", i, strerror(errno));
            rc = -1;
        }
    }
    close(fd);
    return rc;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    for (int i = w->first; i < w->first + w->count; i++)
        if (one_connection(w, i) != 0 && ++w->failures > 10)
            break;
    return NULL;
}

static int settled_fd_count(const struct sockaddr_in *to, const char *when) {
    int n = stress_settled_fd_count(0, (const struct sockaddr *)to, sizeof *to, LOOPS);
    char title[96];
    snprintf(title, sizeof title, "[stress_churn] descriptors %s", when);
    stress_fd_list(stdout, title);
    return n;
}

/* Open connections first .. first + n - 1 on THREADS threads. */
static void churn(const struct sockaddr_in *to, int first, int n) {
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        int from = first + n * t / THREADS, upto = first + n * (t + 1) / THREADS;
        w[t] = (worker){.to = *to, .first = from, .count = upto - from};
        assert_int_equal(pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        if (w[t].failures)
            fail_msg("thread %d: %d failed connections; %s", t, w[t].failures, w[t].err);
}

static void test_connect_close_churn(void **unused) {
    (void)unused;
    ts_reset_failures();
    static counts k; /* static, like s: loop threads may still run if an assert fails */
    ts_counter_init(&k.opened);
    ts_counter_init(&k.closed);
    atomic_init(&k.errors, 0);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = LOOPS;
    ev.load_balance = EVIO_LB_ROUND_ROBIN; /* the probes: one per loop */
    ev.opened = on_opened;
    ev.closed = on_closed;
    ev.data = on_data;
    const char *addrs[] = {"tcp4://127.0.0.1:0"};
    static ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &k, addrs, 1), 0);
    struct sockaddr_in to = stress_loopback(ts_sa_port((struct sockaddr *)&s.addr[0]));
    int64_t t0 = ts_now_ns(), deadline = t0 + (int64_t)TIME_BOUND_S * 1000000000;

    churn(&to, 0, WARMUP);
    assert_int_equal(ts_counter_wait_ge(&k.closed, WARMUP, TS_WAIT_TIMEOUT_MS), 0);
    int fds0 = settled_fd_count(&to, "after the warm-up");
    long rss0 = stress_rss_kib(0);

    churn(&to, WARMUP, TOTAL - WARMUP);
    assert_int_equal(ts_counter_wait_ge(&k.closed, TOTAL + LOOPS, TS_WAIT_TIMEOUT_MS), 0);
    double secs = (double)(ts_now_ns() - t0) / 1e9;
    int fds1 = settled_fd_count(&to, "at the end");
    long rss1 = stress_rss_kib(0);
    assert_int_equal(ts_counter_wait_ge(&k.closed, TOTAL + 2 * LOOPS, TS_WAIT_TIMEOUT_MS), 0);
    printf("[stress_churn] %d connections in %.1f s (%.0f/s); fds %d -> %d; VmRSS %ld -> %ld KiB"
           "; %ld closed with an error\n",
           TOTAL, secs, TOTAL / secs, fds0, fds1, rss0, rss1, atomic_load(&k.errors));
    assert_int_equal(ts_counter_get(&k.opened), TOTAL + 2 * LOOPS); /* with the probes */
    assert_int_equal(ts_counter_get(&k.closed), TOTAL + 2 * LOOPS);
    assert_true(fds0 > 0);
    assert_int_equal(fds1, fds0);
    assert_true(rss1 - rss0 <= RSS_GROWTH_KIB);
    assert_true(ts_now_ns() < deadline);

    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    ts_counter_destroy(&k.opened);
    ts_counter_destroy(&k.closed);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_connect_close_churn)};
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
