/*
 * ?reuseport=true: evio's TestReuseport, made strict.
 *
 * Five servers (five evio_serve() calls on five threads) share one port: the first binds
 * port 0 with reuseport, the other four the port it got. Many connections are all served
 * (each gets its server's greeting), and the kernel spreads them over more than one
 * server. Without reuseport, a second bind of the port fails with EVIO_EADDRINUSE.
 */
#include "ts.h"

#define NSERVERS 5
#define NCONNS 200

typedef struct rp {
    int id;
    atomic_int opened;
} rp;

static evio_action on_opened(evio_conn *c, void *u) {
    rp *me = TS_USER(u);
    atomic_fetch_add(&me->opened, 1);
    char g = (char)('0' + me->id);
    TS_CHECK(evio_conn_write(c, &g, 1) == 0);
    return EVIO_CLOSE; /* greeting, then close: flushed first */
}

static void test_five_servers(void **s) {
    (void)s;
    ts_reset_failures();
    rp st[NSERVERS];
    ts_server srv[NSERVERS];
    int started = 0;
    memset(st, 0, sizeof st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = on_opened;

    const char *first[] = {"tcp://127.0.0.1:0?reuseport=true"};
    st[0].id = 0;
    int r = ts_server_start(&srv[0], &ev, &st[0], first, 1);
    if (r != 0)
        fail_msg("first reuseport server: %d / %s", r, srv[0].last_error);
    started = 1;
    int port = ts_sa_port((struct sockaddr *)&srv[0].addr[0]);
    TS_CHECK(port > 0);
    char addr[128];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d?reuseport=true", port);
    const char *others[] = {addr};
    for (int i = 1; i < NSERVERS && ts_failures() == 0; i++) {
        st[i].id = i;
        r = ts_server_start(&srv[i], &ev, &st[i], others, 1);
        TS_CHECKF(r == 0, "server %d on %s: %d (%s) / %s", i, addr, r, evio_strerror(r),
                  srv[i].last_error);
        if (r != 0)
            break;
        started++;
        TS_CHECK(ts_sa_port((struct sockaddr *)&srv[i].addr[0]) == port);
    }

    int per_server[NSERVERS] = {0};
    for (int i = 0; i < NCONNS && ts_failures() == 0; i++) {
        int fd = ts_connect_server(&srv[0], 0);
        if (fd < 0) {
            ts_fail_at(__FILE__, __LINE__, "connect %d: %s", i, strerror(errno));
            break;
        }
        char g;
        int rr = ts_read_full(fd, &g, 1);
        TS_CHECKF(rr == 0 && g >= '0' && g < '0' + NSERVERS, "connection %d not served", i);
        if (rr == 0 && g >= '0' && g < '0' + NSERVERS)
            per_server[g - '0']++;
        TS_CHECK(ts_read_eof(fd) == 0);
        close(fd);
    }
    for (int i = 0; i < started; i++) {
        int rr = ts_server_stop(&srv[i]);
        TS_CHECKF(rr == 0, "server %d returned %d", i, rr);
    }
    TS_ASSERT_NO_FAILURES();
    int total = 0, used = 0;
    for (int i = 0; i < NSERVERS; i++) {
        total += per_server[i];
        used += per_server[i] > 0;
        assert_int_equal(atomic_load(&st[i].opened), per_server[i]);
    }
    fprintf(stderr, "[reuseport] per server: %d %d %d %d %d\n", per_server[0], per_server[1],
            per_server[2], per_server[3], per_server[4]);
    assert_int_equal(total, NCONNS);
    if (used < 2)
        fail_msg("all %d connections went to one server: reuseport is not in effect", NCONNS);
}

static void test_without_reuseport_in_use(void **s) {
    (void)s;
    evio_events ev = EVIO_EVENTS_INIT;
    const char *first[] = {"tcp://127.0.0.1:0"};
    ts_server a;
    assert_int_equal(ts_server_start(&a, &ev, NULL, first, 1), 0);
    char addr[128];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", ts_sa_port((struct sockaddr *)&a.addr[0]));
    const char *second[] = {addr};
    ts_server b;
    int r = ts_server_start(&b, &ev, NULL, second, 1);
    if (r == 0)
        ts_server_stop(&b);
    assert_int_equal(ts_server_stop(&a), 0);
    assert_int_equal(r, EVIO_EADDRINUSE);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_five_servers),
    cmocka_unit_test(test_without_reuseport_in_use),
};

TS_MAIN(tests)
