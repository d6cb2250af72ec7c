/*
 * Timers and timeouts (since 1.1).
 *
 * - A connection timer fires once, on the connection's loop, no earlier than asked and
 *   within 10 % + 20 ms of it; its output is sent; a cancelled one never fires.
 * - A connection's timers end with it: after `closed`, each gets one EVIO_ENOTCONN call.
 * - A loop timer (NULL conn) started from a posted function fires; at shutdown, one not
 *   yet due gets its EVIO_ENOTCONN call.
 * - 100k timers armed and cancelled on one loop; ids are unique; a cancelled or unknown
 *   id is EVIO_ENOENT; off a loop thread EVIO_EPERM.
 * - Idle timeout (server default), read timeout and write timeout close the connection
 *   with EVIO_ETIMEDOUT within 10 % + 20 ms; activity keeps an idle connection open.
 */
#include "ts.h"

#define MS 1000000LL

typedef struct tstate {
    ts_counter opened, closed, fired, ended;
    atomic_long fired_at_ns, started_at_ns;
    atomic_int closed_err;
    atomic_int wrong_thread;
    int64_t delay_ns;
    int mode;
    _Atomic(evio_conn *) conn;
    pthread_t loop_thread;
} tstate;

enum { M_TIMER, M_CANCEL, M_ENDS, M_READ, M_WRITE, M_IDLE };

static void t_init(tstate *st, int mode) {
    memset(st, 0, sizeof *st);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->closed);
    ts_counter_init(&st->fired);
    ts_counter_init(&st->ended);
    atomic_store(&st->closed_err, 1);
    st->mode = mode;
}

static void t_destroy(tstate *st) {
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->closed);
    ts_counter_destroy(&st->fired);
    ts_counter_destroy(&st->ended);
}

static evio_action on_timer(evio_conn *c, int status, void *arg) {
    tstate *st = arg;
    if (status == EVIO_ENOTCONN) {
        ts_counter_add(&st->ended, 1);
        return EVIO_NONE;
    }
    atomic_store(&st->fired_at_ns, ts_now_ns());
    if (!pthread_equal(pthread_self(), st->loop_thread))
        atomic_store(&st->wrong_thread, 1);
    if (c)
        TS_CHECK(evio_conn_write(c, "T", 1) == 0);
    ts_counter_add(&st->fired, 1);
    return EVIO_NONE;
}

static evio_action t_opened(evio_conn *c, void *u) {
    tstate *st = TS_USER(u);
    st->loop_thread = pthread_self();
    atomic_store(&st->started_at_ns, ts_now_ns());
    int64_t id;
    switch (st->mode) {
    case M_TIMER:
        TS_CHECK(evio_timer_start(c, st->delay_ns, on_timer, st) > 0);
        break;
    case M_CANCEL:
        id = evio_timer_start(c, 30 * MS, on_timer, st);
        TS_CHECK(id > 0 && evio_timer_cancel(id) == 0);
        TS_CHECK(evio_timer_cancel(id) == EVIO_ENOENT);
        TS_CHECK(evio_timer_start(c, 40 * MS, on_timer, st) > 0); /* the one that fires */
        break;
    case M_ENDS:
        for (int i = 0; i < 3; i++)
            TS_CHECK(evio_timer_start(c, 3600LL * 1000 * MS, on_timer, st) > 0);
        break;
    case M_READ:
        TS_CHECK(evio_conn_set_read_timeout(c, st->delay_ns) == 0);
        break;
    case M_WRITE: {
        static char big[16 << 20];
        TS_CHECK(evio_conn_write(c, big, sizeof big) == 0); /* the client never reads */
        atomic_store(&st->started_at_ns, ts_now_ns());
        TS_CHECK(evio_conn_set_write_timeout(c, st->delay_ns) == 0);
        break;
    }
    default:
        break;
    }
    atomic_store(&st->conn, c);
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action t_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)c;
    (void)in;
    (void)len;
    (void)u;
    return EVIO_NONE;
}

static evio_action t_closed(evio_conn *c, int err, void *u) {
    (void)c;
    tstate *st = TS_USER(u);
    atomic_store(&st->fired_at_ns, ts_now_ns());
    atomic_store(&st->closed_err, err);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static int t_start(ts_server *srv, tstate *st, int64_t idle_ns) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = t_opened;
    ev.data = t_data;
    ev.closed = t_closed;
    ev.idle_timeout_ns = idle_ns;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    return ts_server_start(srv, &ev, st, addrs, 1);
}

/* Fired no earlier than asked, and within 10 % + 20 ms of it. Sanitizer builds run several
 * times slower: scripts/test gives them more slack with TS_TIMER_SLACK_MS. */
static void check_on_time(tstate *st, int64_t delay, const char *what) {
    const char *env = getenv("TS_TIMER_SLACK_MS");
    const int64_t slack = (env ? atoll(env) : 20) * MS;
    int64_t took = atomic_load(&st->fired_at_ns) - atomic_load(&st->started_at_ns);
    fprintf(stderr, "[timers] %s: asked %lld ms, took %.1f ms\n", what, (long long)(delay / MS),
            (double)took / MS);
    if (took < delay)
        fail_msg("%s fired early: %lld ns < %lld ns", what, (long long)took, (long long)delay);
    if (took > delay + delay / 10 + slack)
        fail_msg("%s fired late: %lld ms for %lld ms", what, (long long)(took / MS),
                 (long long)(delay / MS));
}

static void test_conn_timer(void **s) {
    (void)s;
    ts_reset_failures();
    tstate st;
    t_init(&st, M_TIMER);
    st.delay_ns = 50 * MS;
    ts_server srv;
    assert_int_equal(t_start(&srv, &st, 0), 0);
    int fd = ts_connect_server(&srv, 0);
    char t;
    TS_CHECK(ts_read_full(fd, &t, 1) == 0 && t == 'T');
    assert_int_equal(ts_counter_get(&st.fired), 1);
    check_on_time(&st, st.delay_ns, "connection timer");
    close(fd);
    assert_int_equal(ts_server_stop(&srv), 0);
    assert_int_equal(atomic_load(&st.wrong_thread), 0);
    TS_ASSERT_NO_FAILURES();
    t_destroy(&st);
}

static void test_cancel(void **s) {
    (void)s;
    ts_reset_failures();
    tstate st;
    t_init(&st, M_CANCEL);
    ts_server srv;
    assert_int_equal(t_start(&srv, &st, 0), 0);
    int fd = ts_connect_server(&srv, 0);
    char t;
    TS_CHECK(ts_read_full(fd, &t, 1) == 0 && t == 'T');
    TS_CHECK(ts_wait_readable(fd, 100) == 0); /* the cancelled one never wrote */
    assert_int_equal(ts_counter_get(&st.fired), 1);
    close(fd);
    assert_int_equal(ts_server_stop(&srv), 0);
    assert_int_equal(evio_timer_cancel(1), EVIO_EPERM); /* not a loop thread */
    TS_ASSERT_NO_FAILURES();
    t_destroy(&st);
}

static void test_timers_end_with_conn(void **s) {
    (void)s;
    ts_reset_failures();
    tstate st;
    t_init(&st, M_ENDS);
    ts_server srv;
    assert_int_equal(t_start(&srv, &st, 0), 0);
    int fd = ts_connect_server(&srv, 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    close(fd);
    assert_int_equal(ts_counter_wait_ge(&st.ended, 3, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(ts_counter_get(&st.fired), 0);
    assert_int_equal(ts_counter_get(&st.closed), 1);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    t_destroy(&st);
}

/* 100k timers on one loop, from a posted function; then a loop timer that fires, and one
 * that is still pending at shutdown. */
typedef struct many {
    tstate *st;
    int ok;
    int64_t first, last;
} many;

static void many_timers(evio_server *srv, int loop, int status, void *arg) {
    (void)srv;
    (void)loop;
    many *m = arg;
    m->st->loop_thread = pthread_self();
    if (status != 0)
        return;
    enum { N = 100000 };
    int64_t *ids = malloc(N * sizeof *ids);
    int ok = ids != NULL;
    for (int i = 0; ok && i < N; i++) {
        ids[i] = evio_timer_start(NULL, (int64_t)(i % 977 + 1) * 1000 * MS, on_timer, m->st);
        ok = ids[i] > 0 && (i == 0 || ids[i] != ids[i - 1]);
    }
    for (int i = 0; ok && i < N; i += 2)
        ok = evio_timer_cancel(ids[i]) == 0;
    for (int i = N - 1; ok && i > 0; i -= 2)
        ok = evio_timer_cancel(ids[i]) == 0;
    ok = ok && evio_timer_cancel(ids[0]) == EVIO_ENOENT && evio_timer_cancel(-5) == EVIO_ENOENT;
    free(ids);
    atomic_store(&m->st->started_at_ns, ts_now_ns());
    ok = ok && evio_timer_start(NULL, 30 * MS, on_timer, m->st) > 0;
    ok = ok && evio_timer_start(NULL, 3600LL * 1000 * MS, on_timer, m->st) > 0; /* ends */
    m->ok = ok;
    ts_counter_add(&m->st->opened, 1);
}

static void test_loop_timers(void **s) {
    (void)s;
    ts_reset_failures();
    tstate st;
    t_init(&st, M_TIMER);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, NULL, 0, &srv), 0);
    many m = {&st, 0, 0, 0};
    assert_int_equal(evio_server_post(srv, 1, many_timers, &m), 0);
    assert_int_equal(ts_counter_wait_ge(&st.fired, 1, TS_WAIT_TIMEOUT_MS), 0);
    check_on_time(&st, 30 * MS, "loop timer after 100k armed and cancelled");
    assert_int_equal(evio_server_stop(srv, 0), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    evio_server_free(srv);
    assert_true(m.ok);
    assert_int_equal(ts_counter_get(&st.fired), 1);
    assert_int_equal(ts_counter_get(&st.ended), 1); /* the pending one's last call */
    TS_ASSERT_NO_FAILURES();
    t_destroy(&st);
}

/* When `closed` does not come (seen once under valgrind on the std engine): says whether
 * the loop still runs (a post to the connection answers, with its pending output) or is
 * stuck, so the failure tells where to look. */
static atomic_long diag_pending;
static ts_counter diag_answered; /* static: a stuck loop may answer after we gave up */

static void diag_fn(evio_conn *c, int status, void *arg) {
    (void)arg;
    size_t n = 0;
    int r = status == 0 ? evio_conn_pending(c, &n) : status;
    atomic_store(&diag_pending, r == 0 ? (long)n : (long)r);
    ts_counter_add(&diag_answered, 1);
}

static void explain_no_close(tstate *st) {
    ts_counter_init(&diag_answered);
    evio_conn *c = atomic_load(&st->conn);
    int r = c ? evio_conn_post(c, diag_fn, NULL) : EVIO_ENOTCONN;
    if (r == 0 && ts_counter_wait_ge(&diag_answered, 1, 2000) == 0)
        fprintf(stderr, "[timers] no close: the loop runs; pending output %ld bytes\n",
                atomic_load(&diag_pending));
    else
        fprintf(stderr, "[timers] no close: the loop did not run a post in 2 s (post: %d)\n", r);
}

static void run_timeout(int mode, int64_t idle, int64_t delay, const char *what, int chatter) {
    ts_reset_failures();
    tstate st;
    t_init(&st, mode);
    st.delay_ns = delay;
    ts_server srv;
    assert_int_equal(t_start(&srv, &st, idle), 0);
    int fd = ts_connect_server(&srv, 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    /* Activity for a while: the idle timeout must not fire during it. */
    for (int i = 0; i < chatter; i++) {
        /* The idle time counts from the server's receipt of "x", which cannot come before
         * the write starts: stamped after it, a loop woken (and stamping) before the write
         * call returned fired "early" (99.92 ms of 100 under valgrind, 8 jobs on 2 CPUs). */
        atomic_store(&st.started_at_ns, ts_now_ns());
        TS_CHECK(ts_write_all(fd, "x", 1) == 0);
        ts_wait_readable(fd, 20); /* paces the chatter (nothing comes back) */
        TS_CHECK(ts_counter_get(&st.closed) == 0);
    }
    int waited = ts_counter_wait_ge(&st.closed, 1, TS_WAIT_TIMEOUT_MS);
    if (waited != 0)
        explain_no_close(&st);
    assert_int_equal(waited, 0);
    assert_int_equal(atomic_load(&st.closed_err), EVIO_ETIMEDOUT);
    check_on_time(&st, idle ? idle : delay, what);
    close(fd);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
    t_destroy(&st);
}

static void test_idle_timeout(void **s) {
    (void)s;
    run_timeout(M_IDLE, 100 * MS, 0, "idle timeout", 8); /* 8 × 20 ms of chatter first */
}

static void test_read_timeout(void **s) {
    (void)s;
    run_timeout(M_READ, 0, 80 * MS, "read timeout", 0);
}

static void test_write_timeout(void **s) {
    (void)s;
    run_timeout(M_WRITE, 0, 80 * MS, "write timeout", 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_conn_timer),           cmocka_unit_test(test_cancel),
    cmocka_unit_test(test_timers_end_with_conn), cmocka_unit_test(test_loop_timers),
    cmocka_unit_test(test_idle_timeout),         cmocka_unit_test(test_read_timeout),
    cmocka_unit_test(test_write_timeout),
};

TS_MAIN(tests)
