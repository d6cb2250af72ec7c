/*
 * Load balancing over several loops (each loop is one thread; a connection's loop is
 * identified by the thread its `opened` runs on).
 *
 * - Round robin: sequential connections visit the loops in a fixed cyclic order.
 * - Least connections: 8 connections on 4 loops give 2 each; after the two connections
 *   of one loop close, the next two connections both go to that loop; the next four
 *   one to each loop.
 * - Random: 200 connections over 4 loops use every loop, none gets more than half.
 */
#include "ts.h"

#define MAXC 2048

typedef struct lb_state {
    pthread_mutex_t mu;
    pthread_t threads[16];
    int nthreads;
    int loop_of[MAXC]; /* by connection order */
    int nconns;
    ts_counter opened;
    ts_counter closed;
} lb_state;

static evio_action on_opened(evio_conn *c, void *u) {
    lb_state *st = TS_USER(u);
    pthread_mutex_lock(&st->mu);
    int i;
    for (i = 0; i < st->nthreads; i++)
        if (pthread_equal(st->threads[i], pthread_self()))
            break;
    if (i == st->nthreads && i < 16)
        st->threads[st->nthreads++] = pthread_self();
    if (st->nconns < MAXC)
        st->loop_of[st->nconns++] = i;
    pthread_mutex_unlock(&st->mu);
    ts_counter_add(&st->opened, 1);
    TS_CHECK(evio_conn_write(c, "g", 1) == 0);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)c;
    (void)err;
    lb_state *st = TS_USER(u);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)c;
    (void)u;
    if (len == 1 && ((const char *)in)[0] == 'x')
        return EVIO_CLOSE; /* the server closes */
    return EVIO_NONE;
}

static int start(ts_server *s, lb_state *st, int loops, evio_load_balance lb) {
    ts_reset_failures();
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->closed);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = loops;
    ev.load_balance = lb;
    ev.opened = on_opened;
    ev.closed = on_closed;
    ev.data = on_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(s, &ev, st, addrs, 1);
}

static void stop(ts_server *s, lb_state *st) {
    assert_int_equal(ts_server_stop(s), 0);
    TS_ASSERT_NO_FAILURES();
    pthread_mutex_destroy(&st->mu);
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->closed);
}

/* Connect and wait for the greeting (so `opened` ran); returns the fd or -1. */
static int connect_greeted(ts_server *s) {
    int fd = ts_connect_server(s, 0);
    if (fd < 0) {
        ts_fail_at(__FILE__, __LINE__, "connect: %s", strerror(errno));
        return -1;
    }
    char g;
    if (ts_read_full(fd, &g, 1) != 0 || g != 'g') {
        ts_fail_at(__FILE__, __LINE__, "no greeting");
        close(fd);
        return -1;
    }
    return fd;
}

static int loop_of(lb_state *st, int conn) {
    pthread_mutex_lock(&st->mu);
    int l = st->loop_of[conn];
    pthread_mutex_unlock(&st->mu);
    return l;
}

static void test_round_robin(void **unused) {
    (void)unused;
    lb_state st;
    ts_server s;
    assert_int_equal(start(&s, &st, 4, EVIO_LB_ROUND_ROBIN), 0);
    int fds[12];
    int n = 0;
    for (; n < 12; n++)
        if ((fds[n] = connect_greeted(&s)) < 0)
            break;
    if (n == 12) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < i; j++)
                TS_CHECKF(loop_of(&st, i) != loop_of(&st, j),
                          "round robin: connections %d and %d on one loop", i, j);
        for (int i = 4; i < 12; i++)
            TS_CHECKF(loop_of(&st, i) == loop_of(&st, i % 4),
                      "round robin: connection %d on loop %d, want %d (the cycle)", i,
                      loop_of(&st, i), loop_of(&st, i % 4));
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    stop(&s, &st);
}

static void test_least_connections(void **unused) {
    (void)unused;
    lb_state st;
    ts_server s;
    assert_int_equal(start(&s, &st, 4, EVIO_LB_LEAST_CONNECTIONS), 0);
    int fds[14];
    int n = 0, count[16] = {0};
    for (; n < 8; n++)
        if ((fds[n] = connect_greeted(&s)) < 0)
            break;
    if (n == 8) {
        for (int i = 0; i < 8; i++)
            count[loop_of(&st, i)]++;
        for (int l = 0; l < 4; l++)
            TS_CHECKF(count[l] == 2, "least connections: loop %d has %d of 8 connections", l,
                      count[l]);
        /* Close the two connections of the loop of connection 0. */
        int target = loop_of(&st, 0);
        for (int i = 0; i < 8; i++) {
            if (loop_of(&st, i) == target) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        TS_CHECK(ts_counter_wait_ge(&st.closed, 2, TS_WAIT_TIMEOUT_MS) == 0);
        for (; n < 10 && ts_failures() == 0; n++) {
            if ((fds[n] = connect_greeted(&s)) < 0)
                break;
            TS_CHECKF(loop_of(&st, n) == target,
                      "least connections: connection %d went to loop %d, but loop %d had "
                      "the fewest connections",
                      n, loop_of(&st, n), target);
        }
        /* All loops at 2 now: the next four go one to each loop. */
        int seen[16] = {0};
        for (; n < 14 && ts_failures() == 0; n++) {
            if ((fds[n] = connect_greeted(&s)) < 0)
                break;
            TS_CHECKF(!seen[loop_of(&st, n)]++,
                      "least connections: loop %d got two of the "
                      "next four connections",
                      loop_of(&st, n));
        }
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    stop(&s, &st);
}

static void test_random(void **unused) {
    (void)unused;
    lb_state st;
    ts_server s;
    assert_int_equal(start(&s, &st, 4, EVIO_LB_RANDOM), 0);
    int count[16] = {0};
    int n = 0;
    for (; n < 200 && ts_failures() == 0; n++) {
        int fd = connect_greeted(&s);
        if (fd < 0)
            break;
        close(fd);
        count[loop_of(&st, n)]++;
    }
    if (ts_failures() == 0) {
        fprintf(stderr, "[load_balance] random: %d %d %d %d\n", count[0], count[1], count[2],
                count[3]);
        for (int l = 0; l < 4; l++)
            TS_CHECKF(count[l] > 0 && count[l] <= 100, "random: loop %d got %d of 200 connections",
                      l, count[l]);
    }
    stop(&s, &st);
}

/* Many connections opened and closed concurrently (client close, client reset, server
 * close): afterwards the per-loop counts least-connections relies on are exact again. */
#define CHURN_THREADS 4
#define CHURN_EACH 200

typedef struct churn_arg {
    ts_server *s;
    int seed;
} churn_arg;

static void *churn_main(void *p) {
    churn_arg *a = p;
    for (int i = 0; i < CHURN_EACH && ts_failures() == 0; i++) {
        int fd = connect_greeted(a->s);
        if (fd < 0)
            break;
        switch ((i + a->seed) % 3) {
        case 0:
            close(fd);
            break;
        case 1:
            ts_close_reset(fd);
            break;
        default:
            TS_CHECK(ts_write_all(fd, "x", 1) == 0);
            TS_CHECKF(ts_read_eof(fd) == 0, "EVIO_CLOSE did not end the stream");
            close(fd);
            break;
        }
    }
    return NULL;
}

static void test_least_connections_after_churn(void **unused) {
    (void)unused;
    lb_state st;
    ts_server s;
    assert_int_equal(start(&s, &st, 4, EVIO_LB_LEAST_CONNECTIONS), 0);
    pthread_t th[CHURN_THREADS];
    churn_arg args[CHURN_THREADS];
    for (int i = 0; i < CHURN_THREADS; i++) {
        args[i].s = &s;
        args[i].seed = i;
        pthread_create(&th[i], NULL, churn_main, &args[i]);
    }
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_join(th[i], NULL);
    long total = ts_counter_get(&st.opened);
    TS_CHECKF(total == CHURN_THREADS * CHURN_EACH, "%ld of %d connections opened", total,
              CHURN_THREADS * CHURN_EACH);
    TS_CHECKF(ts_counter_wait_ge(&st.closed, total, TS_WAIT_TIMEOUT_MS) == 0,
              "%ld of %ld connections closed", ts_counter_get(&st.closed), total);
    if (ts_failures() == 0) {
        int fds[8], n = 0, count[16] = {0};
        for (; n < 8; n++)
            if ((fds[n] = connect_greeted(&s)) < 0)
                break;
        for (int i = 0; i < n; i++) {
            count[loop_of(&st, (int)total + i)]++;
            close(fds[i]);
        }
        for (int l = 0; l < 4 && n == 8; l++)
            TS_CHECKF(count[l] == 2,
                      "after churn, least connections put %d of 8 new connections on loop %d "
                      "(its connection count drifted)",
                      count[l], l);
    }
    stop(&s, &st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_least_connections_after_churn),
    cmocka_unit_test(test_round_robin),
    cmocka_unit_test(test_least_connections),
    cmocka_unit_test(test_random),
};

TS_MAIN(tests)
