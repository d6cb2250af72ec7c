/*
 * The server handle (since 1.1): evio_server_start / stop / wait / free.
 *
 * - start returns after `serving` ran on the calling thread; the loops run on their own
 *   threads; the accessors answer from the test thread; an echo works; stop(0) + wait
 *   return 0, and wait again returns the same at once.
 * - A server with no address starts, runs functions posted to its loops, and stops.
 * - stop with a drain deadline, from another thread, with output still pending: the client
 *   receives every byte, then the end of the stream; `closed` gets 0.
 * - A drain whose deadline passes (a client that never reads): `closed` gets
 *   EVIO_ETIMEDOUT and wait returns.
 * - stop from a signal handler (it is async-signal-safe) ends the server.
 * - wait on one of the server's own loops is EVIO_EPERM; free without wait stops it and
 *   closes its connections; stop inside `serving` stops the server before it serves.
 */
#include "ts.h"

#include <signal.h>

#define BIG (8u << 20)

typedef struct hstate {
    pthread_t serving_thread;
    atomic_int serving_calls;
    ts_counter opened, closed, posted;
    atomic_int closed_err;
    atomic_int post_status;
    atomic_int wait_in_loop;
    size_t greet; /* bytes written in opened */
    unsigned char *payload;
} hstate;

static void hs_init(hstate *st) {
    memset(st, 0, sizeof *st);
    ts_counter_init(&st->opened);
    ts_counter_init(&st->closed);
    ts_counter_init(&st->posted);
    atomic_store(&st->closed_err, 1);
    atomic_store(&st->post_status, 1);
}

static void hs_destroy(hstate *st) {
    ts_counter_destroy(&st->opened);
    ts_counter_destroy(&st->closed);
    ts_counter_destroy(&st->posted);
    free(st->payload);
}

static evio_action h_serving(evio_server *srv, void *u) {
    (void)srv;
    hstate *st = u;
    st->serving_thread = pthread_self();
    atomic_fetch_add(&st->serving_calls, 1);
    return EVIO_NONE;
}

static evio_action h_opened(evio_conn *c, void *u) {
    hstate *st = u;
    if (st->greet)
        TS_CHECK(evio_conn_write(c, st->payload, st->greet) == 0);
    ts_counter_add(&st->opened, 1);
    return EVIO_NONE;
}

static evio_action h_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

static evio_action h_closed(evio_conn *c, int err, void *u) {
    (void)c;
    hstate *st = u;
    atomic_store(&st->closed_err, err);
    ts_counter_add(&st->closed, 1);
    return EVIO_NONE;
}

static evio_events h_events(hstate *st, int loops) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.udata = st;
    ev.num_loops = loops;
    ev.serving = h_serving;
    ev.opened = h_opened;
    ev.data = h_data;
    ev.closed = h_closed;
    return ev;
}

static int connect_to(evio_server *srv) {
    socklen_t len = 0;
    const struct sockaddr *sa = evio_server_addr(srv, 0, &len);
    return sa ? ts_connect(sa, len) : -1;
}

static void test_start_stop_wait(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    evio_events ev = h_events(&st, 2);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, &srv), 0);
    assert_non_null(srv);
    assert_int_equal(atomic_load(&st.serving_calls), 1);
    assert_true(pthread_equal(st.serving_thread, pthread_self()));
    assert_int_equal(evio_server_num_addrs(srv), 1);
    assert_int_equal(evio_server_num_loops(srv), 2);
    char text[128];
    assert_true(evio_server_addr_string(srv, 0, text, sizeof text) > 0);
    assert_non_null(strstr(text, "tcp://127.0.0.1:"));
    int fd = connect_to(srv);
    assert_true(fd >= 0);
    char buf[5];
    TS_CHECK(ts_write_all(fd, "hello", 5) == 0);
    TS_CHECK(ts_read_full(fd, buf, 5) == 0 && memcmp(buf, "hello", 5) == 0);
    assert_int_equal(evio_server_stop(srv, 0), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    assert_int_equal(evio_server_wait(srv), 0); /* again: the same, at once */
    assert_int_equal(evio_server_num_addrs(srv), 1); /* the accessors answer until free */
    assert_non_null(evio_server_addr(srv, 0, NULL));
    TS_CHECK(ts_read_eof(fd) == 0);
    close(fd);
    assert_int_equal(ts_counter_get(&st.closed), 1);
    assert_int_equal(atomic_load(&st.closed_err), 0);
    evio_server_free(srv);
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

static void on_loop_fn(evio_server *srv, int loop, int status, void *arg) {
    hstate *st = arg;
    TS_CHECK(srv != NULL && loop >= 0 && loop < 3);
    atomic_store(&st->post_status, status);
    if (status == 0)
        atomic_store(&st->wait_in_loop, evio_server_wait(srv));
    ts_counter_add(&st->posted, 1);
}

static void test_no_address_and_posts(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    evio_events ev = h_events(&st, 3);
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, NULL, 0, &srv), 0);
    assert_int_equal(evio_server_num_addrs(srv), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(evio_server_post(srv, i, on_loop_fn, &st), 0);
    assert_int_equal(evio_server_post(srv, 3, on_loop_fn, &st), EVIO_EINVAL);
    assert_int_equal(ts_counter_wait_ge(&st.posted, 3, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(atomic_load(&st.post_status), 0);
    assert_int_equal(atomic_load(&st.wait_in_loop), EVIO_EPERM); /* it would wait for itself */
    assert_int_equal(evio_server_stop(srv, 0), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    assert_int_equal(evio_server_post(srv, 0, on_loop_fn, &st), EVIO_ENOTCONN);
    evio_server_free(srv);
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

/* The client reads everything only after the stop was asked: the server must keep the
 * connection until its output has left, then close it orderly. */
static void test_drain_delivers_pending_output(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    st.greet = BIG;
    st.payload = malloc(BIG);
    ts_rng r;
    ts_rng_seed(&r, ts_seed());
    ts_rng_fill(&r, st.payload, BIG);
    evio_events ev = h_events(&st, 2);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, &srv), 0);
    int fd = connect_to(srv);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(evio_server_stop(srv, 20LL * 1000000000), 0);
    unsigned char *got = malloc(BIG);
    int rr = ts_read_full(fd, got, BIG);
    int eof = ts_read_eof(fd);
    assert_int_equal(evio_server_wait(srv), 0);
    evio_server_free(srv);
    close(fd);
    assert_int_equal(rr, 0);
    assert_memory_equal(got, st.payload, BIG);
    assert_int_equal(eof, 0);
    assert_int_equal(ts_counter_get(&st.closed), 1);
    assert_int_equal(atomic_load(&st.closed_err), 0);
    free(got);
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

static void test_drain_deadline(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    st.greet = 4 * BIG; /* far more than the socket buffers: it cannot all leave */
    st.payload = calloc(1, st.greet);
    evio_events ev = h_events(&st, 1);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, &srv), 0);
    int fd = connect_to(srv);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    assert_int_equal(evio_server_stop(srv, 200 * 1000000LL), 0);
    assert_int_equal(evio_server_wait(srv), 0); /* the client never reads */
    evio_server_free(srv);
    close(fd);
    assert_int_equal(ts_counter_get(&st.closed), 1);
    assert_int_equal(atomic_load(&st.closed_err), EVIO_ETIMEDOUT);
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

static evio_server *signal_server;
static void on_sigusr1(int sig) {
    (void)sig;
    evio_server_stop(signal_server, 0);
}

static void test_stop_from_signal_handler(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    evio_events ev = h_events(&st, 2);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    assert_int_equal(evio_server_start(&ev, addrs, 1, &signal_server), 0);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigusr1;
    sigaction(SIGUSR1, &sa, &old);
    raise(SIGUSR1);
    int r = evio_server_wait(signal_server);
    sigaction(SIGUSR1, &old, NULL);
    evio_server_free(signal_server);
    assert_int_equal(r, 0);
    hs_destroy(&st);
}

static void test_free_without_wait(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    evio_events ev = h_events(&st, 2);
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, &srv), 0);
    int fd = connect_to(srv);
    assert_true(fd >= 0);
    assert_int_equal(ts_counter_wait_ge(&st.opened, 1, TS_WAIT_TIMEOUT_MS), 0);
    evio_server_free(srv);
    assert_int_equal(ts_counter_get(&st.closed), 1);
    TS_CHECK(ts_read_eof(fd) == 0);
    close(fd);
    evio_server_free(NULL); /* nothing */
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

static evio_action stop_in_serving(evio_server *srv, void *u) {
    atomic_fetch_add(&((hstate *)u)->serving_calls, 1);
    TS_CHECK(evio_server_stop(srv, 0) == 0);
    return EVIO_NONE;
}

static void test_stop_in_serving_and_bad_args(void **s) {
    (void)s;
    ts_reset_failures();
    hstate st;
    hs_init(&st);
    evio_events ev = h_events(&st, 2);
    ev.serving = stop_in_serving;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    evio_server *srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, &srv), 0);
    assert_int_equal(evio_server_wait(srv), 0);
    evio_server_free(srv);
    assert_int_equal(atomic_load(&st.serving_calls), 1);
    assert_int_equal(ts_counter_get(&st.opened), 0);
    /* Bad arguments: no server, no callback. */
    srv = NULL;
    assert_int_equal(evio_server_start(&ev, addrs, 1, NULL), EVIO_EINVAL);
    const char *bad[] = {"tcp://127.0.0.1:99999"};
    assert_int_equal(evio_server_start(&ev, bad, 1, &srv), EVIO_EINVAL);
    assert_null(srv);
    assert_int_equal(evio_server_stop(NULL, 0), EVIO_EINVAL);
    assert_int_equal(evio_server_wait(NULL), EVIO_EINVAL);
    assert_int_equal(atomic_load(&st.serving_calls), 1);
    TS_ASSERT_NO_FAILURES();
    hs_destroy(&st);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_start_stop_wait),
    cmocka_unit_test(test_no_address_and_posts),
    cmocka_unit_test(test_drain_delivers_pending_output),
    cmocka_unit_test(test_drain_deadline),
    cmocka_unit_test(test_stop_from_signal_handler),
    cmocka_unit_test(test_free_without_wait),
    cmocka_unit_test(test_stop_in_serving_and_bad_args),
};

TS_MAIN(tests)
