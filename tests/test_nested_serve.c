/*
 * evio_serve() called inside a callback of another server (supported: the calling loop is
 * blocked while the inner server runs).
 *
 * - When the inner server returns, the outer loop works as before: evio_conn_write on its
 *   connection succeeds (not EVIO_EPERM) and the client receives the reply; later input
 *   on the same connection is still answered.
 * - The inner server really ran (its first loop on the outer loop's thread, stopped by its
 *   own `tick`): its `serving` saw its own loop count.
 */
#include "ts.h"

typedef struct nest_state {
    atomic_int inner_serving;
    atomic_int inner_ret;
    atomic_int write_ret;
    atomic_int inner_ticks;
} nest_state;

static evio_action inner_serving(evio_server *srv, void *u) {
    nest_state *st = u;
    atomic_fetch_add(&st->inner_serving, 1);
    TS_CHECK(evio_server_num_loops(srv) == 2);
    return EVIO_NONE;
}

/* The inner server's first loop really runs on the outer loop's thread, then stops. */
static evio_action inner_tick(int64_t *delay_ns, void *u) {
    nest_state *st = u;
    (void)delay_ns;
    atomic_fetch_add(&st->inner_ticks, 1);
    return EVIO_SHUTDOWN;
}

static evio_action outer_data(evio_conn *c, const void *in, size_t len, void *u) {
    nest_state *st = TS_USER(u);
    if (len > 0 && ((const char *)in)[0] == 'n') {
        evio_events ev = EVIO_EVENTS_INIT;
        ev.udata = st;
        ev.num_loops = 2;
        ev.serving = inner_serving;
        ev.tick = inner_tick;
        const char *addrs[] = {"tcp://127.0.0.1:0"};
        atomic_store(&st->inner_ret, evio_serve(&ev, addrs, 1));
        atomic_store(&st->write_ret, evio_conn_write(c, "after-inner\n", 12));
        return EVIO_NONE;
    }
    TS_CHECK(evio_conn_write(c, in, len) == 0); /* echo */
    return EVIO_NONE;
}

static void test_outer_loop_works_after_inner(void **s) {
    (void)s;
    ts_reset_failures();
    nest_state st;
    memset(&st, 0, sizeof st);
    atomic_store(&st.write_ret, 1);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.data = outer_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, &st, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(fd >= 0);
    char buf[16] = {0};
    int got_reply = 0, got_echo = 0;
    if (fd >= 0) {
        TS_CHECK(ts_write_all(fd, "n", 1) == 0);
        got_reply = ts_read_full(fd, buf, 12) == 0 && memcmp(buf, "after-inner\n", 12) == 0;
        TS_CHECK(ts_write_all(fd, "echo", 4) == 0);
        got_echo = ts_read_full(fd, buf, 4) == 0 && memcmp(buf, "echo", 4) == 0;
        close(fd);
    }
    assert_int_equal(ts_server_stop(&srv), 0);
    assert_int_equal(atomic_load(&st.inner_serving), 1);
    assert_int_equal(atomic_load(&st.inner_ticks), 1);
    assert_int_equal(atomic_load(&st.inner_ret), 0);
    if (atomic_load(&st.write_ret) != 0)
        fail_msg("evio_conn_write after the inner server returned: %d (%s)",
                 atomic_load(&st.write_ret), evio_strerror(atomic_load(&st.write_ret)));
    assert_true(got_reply);
    assert_true(got_echo);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_outer_loop_works_after_inner),
};

TS_MAIN(tests)
