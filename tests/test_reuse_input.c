/*
 * How long `in` stays valid (evio_conn_set_reuse_input(), evio's ReuseInputBuffer).
 *
 * Two connections A and B on one loop; A sends, then B sends.
 * - Default: A's `in` is A's own copy: while B's `data` runs, A's last `in` still holds
 *   A's bytes, and it is still intact when A's `closed` runs.
 * - Reuse on (set in `opened`, returns 0): `in` is the loop's shared buffer: B's `in`
 *   and A's next `in` have the address A's first `in` had. The bytes are still right.
 * - Switching reuse on inside `data` leaves that call's `in` valid until it returns (the
 *   connection's own copy is released later): the echo of 100 messages is exact (and
 *   ASAN would report a use after free).
 */
#include "ts.h"

#define ALEN 1000
#define BLEN 700

typedef struct cctx {
    int id; /* 0 = A, 1 = B */
    const unsigned char *last_in;
    size_t last_len;
    unsigned char copy[4096];
    int ndata;
} cctx;

typedef struct rstate {
    int reuse;
    cctx *conns[2];
    int nconns;
    const unsigned char *a_first_in;
    /* results, written on the loop thread, read after the server stopped */
    int b_saw_a_intact;
    int b_same_address;
    int a2_same_address;
    int a_intact_in_closed;
    int closed_a;
} rstate;

static evio_action on_opened(evio_conn *c, void *u) {
    rstate *st = TS_USER(u);
    cctx *x = calloc(1, sizeof *x);
    TS_CHECK(x != NULL && st->nconns < 2);
    if (!x || st->nconns >= 2) {
        free(x);
        return EVIO_CLOSE;
    }
    x->id = st->nconns;
    st->conns[st->nconns++] = x;
    evio_conn_set_context(c, x);
    if (st->reuse) {
        int r = evio_conn_set_reuse_input(c, 1);
        TS_CHECKF(r == 0, "evio_conn_set_reuse_input(1): %d", r);
    } else {
        int r = evio_conn_set_reuse_input(c, 0); /* explicit off is the default */
        TS_CHECKF(r == 0, "evio_conn_set_reuse_input(0): %d", r);
    }
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    rstate *st = TS_USER(u);
    cctx *x = evio_conn_context(c);
    const unsigned char *p = in;
    TS_CHECK(in != NULL && len > 0 && len <= sizeof x->copy);
    if (!in || len == 0 || len > sizeof x->copy)
        return EVIO_CLOSE;
    /* Each message is one byte value repeated: 'A' / 'a' from A, 'B' from B. */
    for (size_t i = 1; i < len; i++)
        TS_CHECK(p[i] == p[0]);
    cctx *a = st->conns[0];
    if (x->id == 1) {
        /* B's data, after A's first message. */
        st->b_saw_a_intact = a->last_in && memcmp(a->last_in, a->copy, a->last_len) == 0;
        st->b_same_address = p == st->a_first_in;
    } else if (x->ndata == 0) {
        st->a_first_in = p;
    } else {
        st->a2_same_address = p == st->a_first_in;
    }
    x->ndata++;
    x->last_in = p;
    x->last_len = len;
    memcpy(x->copy, p, len);
    TS_CHECK(evio_conn_write(c, "ok\n", 3) == 0);
    return EVIO_NONE;
}

static evio_action on_closed(evio_conn *c, int err, void *u) {
    (void)err;
    rstate *st = TS_USER(u);
    cctx *x = evio_conn_context(c);
    if (x && x->id == 0) {
        st->closed_a = 1;
        st->a_intact_in_closed = x->last_in && memcmp(x->last_in, x->copy, x->last_len) == 0;
    }
    return EVIO_NONE;
}

static void send_expect_ok(int fd, int byte, size_t n) {
    unsigned char buf[4096];
    memset(buf, byte, n);
    TS_CHECK(ts_write_all(fd, buf, n) == 0);
    char ok[3];
    int r = ts_read_full(fd, ok, 3);
    TS_CHECKF(r == 0 && !memcmp(ok, "ok\n", 3), "no reply to a %zu-byte message", n);
}

static void run(int reuse, rstate *st) {
    ts_reset_failures();
    memset(st, 0, sizeof *st);
    st->reuse = reuse;
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 1;
    ev.opened = on_opened;
    ev.data = on_data;
    ev.closed = on_closed;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server s;
    assert_int_equal(ts_server_start(&s, &ev, st, addrs, 1), 0);
    int a = ts_connect_server(&s, 0);
    TS_CHECK(a >= 0);
    if (a >= 0) {
        send_expect_ok(a, 'A', ALEN); /* A's data: ok proves it ran */
        int b = ts_connect_server(&s, 0);
        TS_CHECK(b >= 0);
        if (b >= 0) {
            send_expect_ok(b, 'B', BLEN);
            send_expect_ok(a, 'a', 300);
            close(b);
        }
        close(a);
    }
    /* Stop after both closed ran: the stop makes `closed` run for what is still open. */
    assert_int_equal(ts_server_stop(&s), 0);
    for (int i = 0; i < st->nconns; i++)
        free(st->conns[i]);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(st->nconns, 2);
    assert_int_equal(st->conns[0] ? 1 : 0, 1);
    assert_int_equal(st->closed_a, 1);
}

static void test_default_own_copy(void **s) {
    (void)s;
    rstate st;
    run(0, &st);
    if (!st.b_saw_a_intact)
        fail_msg("default mode: A's `in` was overwritten by B's input on the same loop");
    if (!st.a_intact_in_closed)
        fail_msg("default mode: A's last `in` is not intact when `closed` runs");
}

static void test_reuse_shared_buffer(void **s) {
    (void)s;
    rstate st;
    run(1, &st);
    if (!st.b_same_address)
        fail_msg("reuse mode: B's `in` is not the loop's shared buffer A's `in` pointed to");
    if (!st.a2_same_address)
        fail_msg("reuse mode: A's second `in` is not at the shared buffer's address");
}

static evio_action switch_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_set_reuse_input(c, 1) == 0); /* e.g. after a protocol handshake */
    TS_CHECK(evio_conn_write(c, in, len) == 0);     /* `in` is still this call's input */
    TS_CHECK(evio_conn_set_reuse_input(c, 0) == 0); /* and back, for the next message */
    return EVIO_NONE;
}

static void test_switch_inside_data(void **s) {
    (void)s;
    ts_reset_failures();
    evio_events ev = EVIO_EVENTS_INIT;
    ev.data = switch_data;
    const char *addrs[] = {"tcp://127.0.0.1:0"};
    ts_server srv;
    assert_int_equal(ts_server_start(&srv, &ev, NULL, addrs, 1), 0);
    int fd = ts_connect_server(&srv, 0);
    TS_CHECK(fd >= 0);
    ts_rng rng;
    ts_rng_seed(&rng, ts_seed());
    for (int i = 0; fd >= 0 && i < 100 && ts_failures() == 0; i++) {
        unsigned char msg[1024], back[1024];
        ts_rng_fill(&rng, msg, sizeof msg);
        TS_CHECK(ts_write_all(fd, msg, sizeof msg) == 0);
        TS_CHECK(ts_read_full(fd, back, sizeof back) == 0);
        TS_CHECKF(!memcmp(msg, back, sizeof msg), "echo %d corrupted", i);
    }
    if (fd >= 0)
        close(fd);
    assert_int_equal(ts_server_stop(&srv), 0);
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_default_own_copy),
    cmocka_unit_test(test_reuse_shared_buffer),
    cmocka_unit_test(test_switch_inside_data),
};

TS_MAIN(tests)
