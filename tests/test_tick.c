/*
 * `tick`: evio's TestTick, made strict.
 *
 * - 25 ticks of 10 ms, then EVIO_SHUTDOWN: evio_serve() returns 0 after 250 ms - 1 s
 *   (CLOCK_MONOTONIC), on tcp and on unix.
 * - The first tick comes right after `serving` (not after the 1 s default delay), on
 *   entry `*delay_ns` is 1 s every time, and ticks run on one thread.
 * - A delay of 0 or less fires again on the next loop turn (many ticks, quickly).
 * - Ticks keep their period while connections are being served on the same loop.
 * - A tick that always asks for delay 0 does not starve the loop's I/O (echo still works).
 * - Output a tick writes to a connection is sent when the tick returns, not when the loop
 *   next wakes up (the tick asks for a 60 s delay after writing).
 * - A delay of INT64_MAX means no further tick (and does not overflow into "now").
 */
#include "ts.h"

#define NTICKS 25
#define TICK_NS (10 * 1000 * 1000)

typedef struct tick_state {
    int count;
    int64_t delay;
    int64_t serving_at;
    int64_t first_tick_at;
    int serving_calls;
    int tick_before_serving;
    int bad_entry_delay;
    int thread_changed;
    pthread_t tick_thread;
    int limit;
} tick_state;

static evio_action on_serving(evio_server *srv, void *udata) {
    (void)srv;
    tick_state *st = udata;
    st->serving_calls++;
    st->serving_at = ts_now_ns();
    return EVIO_NONE;
}

static evio_action on_tick(int64_t *delay_ns, void *udata) {
    tick_state *st = udata;
    if (st->serving_calls == 0)
        st->tick_before_serving = 1;
    if (*delay_ns != 1000000000LL)
        st->bad_entry_delay++;
    if (st->count == 0 && st->first_tick_at == 0) {
        st->first_tick_at = ts_now_ns();
        st->tick_thread = pthread_self();
    } else if (!pthread_equal(st->tick_thread, pthread_self())) {
        st->thread_changed = 1;
    }
    if (st->count == st->limit)
        return EVIO_SHUTDOWN;
    st->count++;
    *delay_ns = st->delay;
    return EVIO_NONE;
}

static void run_ticks(const char *addr, int64_t delay, int limit, int64_t *elapsed,
                      tick_state *st) {
    memset(st, 0, sizeof *st);
    st->delay = delay;
    st->limit = limit;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = st;
    ev.serving = on_serving;
    ev.tick = on_tick;
    const char *addrs[] = {addr};
    int64_t t0 = ts_now_ns();
    int r = evio_serve(&ev, addrs, 1);
    *elapsed = ts_now_ns() - t0;
    if (r != 0)
        fail_msg("evio_serve(%s): %d %s / %s", addr, r, evio_strerror(r), evio_last_error());
    assert_int_equal(st->serving_calls, 1);
    assert_int_equal(st->tick_before_serving, 0);
    assert_int_equal(st->bad_entry_delay, 0);
    assert_int_equal(st->thread_changed, 0);
    assert_int_equal(st->count, limit);
}

static void check_25_ticks(const char *addr) {
    tick_state st;
    int64_t el;
    run_ticks(addr, TICK_NS, NTICKS, &el, &st);
    if (el < 250 * 1000000LL || el > 1000 * 1000000LL)
        fail_msg("%d ticks of 10 ms took %.1f ms (want 250-1000)", NTICKS, el / 1e6);
    /* The first tick follows `serving` at once, not after the default 1 s. */
    int64_t gap = st.first_tick_at - st.serving_at;
    if (gap < 0 || gap > 200 * 1000000LL)
        fail_msg("first tick %.1f ms after serving (want right after)", gap / 1e6);
}

static void test_tick_tcp(void **state) {
    (void)state;
    check_25_ticks("tcp://127.0.0.1:0");
}

static void test_tick_unix(void **state) {
    (void)state;
    char dir[256], addr[512];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(addr, sizeof addr, "unix://%s/tick.sock", dir);
    check_25_ticks(addr);
    ts_rmtree(dir);
}

/* Delay 0 (and negative) means "next loop turn": 2000 ticks take far less than 2000 ms. */
static void test_tick_zero_delay(void **state) {
    (void)state;
    tick_state st;
    int64_t el;
    run_ticks("tcp://127.0.0.1:0", 0, 2000, &el, &st);
    if (el > 2000 * 1000000LL)
        fail_msg("2000 ticks with delay 0 took %.1f ms", el / 1e6);
    run_ticks("tcp://127.0.0.1:0", -5, 2000, &el, &st);
    if (el > 2000 * 1000000LL)
        fail_msg("2000 ticks with a negative delay took %.1f ms", el / 1e6);
}

/* Ticks keep running while the loop serves a connection (one loop, busy with echo). */
typedef struct busy_state {
    tick_state t;
    atomic_int ticks_during;
    atomic_int in_traffic;
} busy_state;

static evio_action busy_tick(int64_t *delay_ns, void *udata) {
    busy_state *b = TS_USER(udata);
    if (atomic_load(&b->in_traffic))
        atomic_fetch_add(&b->ticks_during, 1);
    *delay_ns = TICK_NS;
    return EVIO_NONE;
}

static evio_action busy_data(evio_conn *c, const void *in, size_t len, void *udata) {
    (void)udata;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void test_tick_while_serving(void **state) {
    (void)state;
    ts_reset_failures();
    busy_state b;
    memset(&b, 0, sizeof b);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.tick = busy_tick;
    ev.data = busy_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    int r = ts_server_start(&s, &ev, &b, addrs, 1);
    assert_int_equal(r, 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    if (fd >= 0) {
        /* Echo small messages for at least 300 ms: ticks of 10 ms must keep coming. */
        atomic_store(&b.in_traffic, 1);
        int64_t t0 = ts_now_ns();
        unsigned char msg[512], back[512];
        ts_rng rng;
        ts_rng_seed(&rng, ts_seed());
        /* Slow runs (valgrind, sanitizers: TS_TIMER_SLACK_MS) get a longer window for the
         * same demand of 10 ticks. */
        const char *slack_env = getenv("TS_TIMER_SLACK_MS");
        const long long window_ms = 300 + (slack_env ? atoll(slack_env) : 0);
        while (ts_now_ns() - t0 < window_ms * 1000000LL && ts_failures() == 0) {
            ts_rng_fill(&rng, msg, sizeof msg);
            TS_CHECK(ts_write_all(fd, msg, sizeof msg) == 0);
            TS_CHECK(ts_read_full(fd, back, sizeof back) == 0);
            TS_CHECK(memcmp(msg, back, sizeof msg) == 0);
        }
        atomic_store(&b.in_traffic, 0);
        close(fd);
    }
    r = ts_server_stop(&s);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    /* 300 ms at 10 ms per tick is 30; demand a third of that. */
    if (atomic_load(&b.ticks_during) < 10)
        fail_msg("only %d ticks during 300 ms (+ TS_TIMER_SLACK_MS) of traffic",
                 atomic_load(&b.ticks_during));
}

/* A tick of delay 0, every turn, while a client echoes: the I/O goes on. */
static evio_action greedy_tick(int64_t *delay_ns, void *udata) {
    busy_state *b = TS_USER(udata);
    atomic_fetch_add(&b->ticks_during, 1);
    *delay_ns = 0;
    return EVIO_NONE;
}

static void test_zero_delay_tick_does_not_starve_io(void **state) {
    (void)state;
    ts_reset_failures();
    busy_state b;
    memset(&b, 0, sizeof b);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.tick = greedy_tick;
    ev.data = busy_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &b, addrs, 1), 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    for (int i = 0; fd >= 0 && i < 100 && ts_failures() == 0; i++) {
        char back[8];
        TS_CHECK(ts_write_all(fd, "ping-pong", 8) == 0);
        TS_CHECKF(ts_read_full(fd, back, 8) == 0, "echo %d: no answer while ticking", i);
    }
    if (fd >= 0)
        close(fd);
    assert_int_equal(ts_server_stop(&s), 0);
    TS_ASSERT_NO_FAILURES();
    assert_true(atomic_load(&b.ticks_during) > 0);
}

typedef struct writer_state {
    evio_conn *conn; /* loop thread only (opened and tick run there: one loop) */
    int wrote;
} writer_state;

static evio_action writer_opened(evio_conn *c, void *udata) {
    writer_state *w = TS_USER(udata);
    w->conn = c;
    return EVIO_NONE;
}

static evio_action writer_data(evio_conn *c, const void *in, size_t len, void *udata) {
    (void)c, (void)in, (void)len, (void)udata;
    return EVIO_SHUTDOWN; /* any input ends the test */
}

static evio_action writer_tick(int64_t *delay_ns, void *udata) {
    writer_state *w = TS_USER(udata);
    *delay_ns = 1000000; /* 1 ms until the connection is there */
    if (w->conn && !w->wrote) {
        TS_CHECK(evio_conn_write(w->conn, "tick\n", 5) == 0);
        w->wrote = 1;
        *delay_ns = 60LL * 1000000000; /* nothing else will wake the loop for a minute */
    }
    return EVIO_NONE;
}

static void test_tick_output_sent_at_once(void **state) {
    (void)state;
    ts_reset_failures();
    writer_state w = {0};
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = writer_opened;
    ev.data = writer_data;
    ev.tick = writer_tick;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, &w, addrs, 1), 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    int r = EVIO_ETIMEDOUT;
    if (fd >= 0) {
        char got[5];
        TS_CHECKF(ts_read_full(fd, got, 5) == 0 && !memcmp(got, "tick\n", 5),
                  "output written in tick did not arrive");
        TS_CHECK(ts_write_all(fd, "x", 1) == 0);
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        close(fd);
    }
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(r, 0);
}

static atomic_int once_ticks;

static evio_action once_tick(int64_t *delay_ns, void *udata) {
    (void)udata;
    atomic_fetch_add(&once_ticks, 1);
    *delay_ns = INT64_MAX;
    return EVIO_NONE;
}

static evio_action echo_or_stop(evio_conn *c, const void *in, size_t len, void *udata) {
    (void)udata;
    if (len == 1 && *(const char *)in == 'q')
        return EVIO_SHUTDOWN;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static void test_tick_never_again(void **state) {
    (void)state;
    ts_reset_failures();
    atomic_store(&once_ticks, 0);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.tick = once_tick;
    ev.data = echo_or_stop;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, NULL, addrs, 1), 0);
    int fd = ts_connect_server(&s, 0);
    TS_CHECK(fd >= 0);
    int r = EVIO_ETIMEDOUT;
    if (fd >= 0) {
        for (int i = 0; i < 50; i++) { /* many loop turns */
            char back[4];
            TS_CHECK(ts_write_all(fd, "echo", 4) == 0 && ts_read_full(fd, back, 4) == 0);
        }
        TS_CHECK(ts_write_all(fd, "q", 1) == 0);
        r = ts_server_wait(&s, TS_WAIT_TIMEOUT_MS);
        close(fd);
    }
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(r, 0);
    assert_int_equal(atomic_load(&once_ticks), 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_tick_tcp),
    cmocka_unit_test(test_tick_unix),
    cmocka_unit_test(test_tick_zero_delay),
    cmocka_unit_test(test_tick_while_serving),
    cmocka_unit_test(test_zero_delay_tick_does_not_starve_io),
    cmocka_unit_test(test_tick_output_sent_at_once),
    cmocka_unit_test(test_tick_never_again),
};

TS_MAIN(tests)
