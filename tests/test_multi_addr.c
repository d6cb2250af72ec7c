/*
 * Many addresses in one evio_serve(): tcp4, tcp6 (when the machine has ::1), unix, udp4,
 * udp6. Every address is served (on 1 and on 3 loops); evio_conn_addr_index() identifies
 * the address of each connection and datagram; each bound address has the right family.
 */
#include "ts.h"

#include <netinet/in.h>

#define PER_ADDR 5

typedef struct mstate {
    atomic_int opened[8];
    atomic_int datagrams[8];
    atomic_int stream_data[8];
} mstate;

static evio_action on_opened(evio_conn *c, void *u) {
    mstate *st = TS_USER(u);
    int idx = evio_conn_addr_index(c);
    TS_CHECK(idx >= 0 && idx < 8);
    if (idx >= 0 && idx < 8)
        atomic_fetch_add(&st->opened[idx], 1);
    char g[32];
    int n = snprintf(g, sizeof g, "idx=%d\n", idx);
    TS_CHECK(evio_conn_write(c, g, (size_t)n) == 0);
    return EVIO_NONE;
}

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    ts_server *s = u;
    mstate *st = TS_USER(u);
    int idx = evio_conn_addr_index(c);
    TS_CHECK(idx >= 0 && idx < s->num_addrs);
    if (idx < 0 || idx >= 8)
        return EVIO_NONE;
    /* Datagrams start with 'U' (the family alone cannot tell udp from tcp). */
    if (len >= 1 && ((const char *)in)[0] == 'U')
        atomic_fetch_add(&st->datagrams[idx], 1);
    else
        atomic_fetch_add(&st->stream_data[idx], 1);
    char r[32];
    int n = snprintf(r, sizeof r, "got=%d", idx);
    TS_CHECK(evio_conn_write(c, r, (size_t)n) == 0);
    return EVIO_NONE;
}

static void run(int loops) {
    ts_reset_failures();
    int v6 = ts_have_ipv6();
    if (!v6)
        fprintf(stderr, "[multi_addr] no IPv6 loopback (cannot bind ::1): tcp6/udp6 not run\n");
    char dir[256], uaddr[512];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(uaddr, sizeof uaddr, "unix://%s/multi.sock", dir);
    const char *all[] = {"tcp4://127.0.0.1:0", uaddr, "udp://127.0.0.1:0", "tcp6://[::1]:0",
                         "udp6://[::1]:0"};
    const int is_udp[] = {0, 0, 1, 0, 1};
    const int family[] = {AF_INET, AF_UNIX, AF_INET, AF_INET6, AF_INET6};
    size_t n = v6 ? 5 : 3;

    mstate st;
    memset(&st, 0, sizeof st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = loops;
    ev.opened = on_opened;
    ev.data = on_data;
    ts_server s;
    int r = ts_server_start(&s, &ev, &st, all, n);
    if (r != 0)
        fail_msg("evio_serve: %d / %s", r, s.last_error);
    TS_CHECK(s.num_addrs == (int)n);
    for (size_t i = 0; i < n; i++)
        TS_CHECKF(s.addr[i].ss_family == family[i], "address %zu: family %d, want %d", i,
                  s.addr[i].ss_family, family[i]);

    for (size_t i = 0; i < n && ts_failures() == 0; i++) {
        char want[32];
        for (int k = 0; k < PER_ADDR && ts_failures() == 0; k++) {
            if (is_udp[i]) {
                int fd = socket(family[i], SOCK_DGRAM, 0);
                TS_CHECK(fd >= 0);
                if (fd < 0)
                    break;
                ts_set_timeouts(fd, TS_IO_TIMEOUT_MS);
                TS_CHECK(sendto(fd, "U!", 2, 0, (struct sockaddr *)&s.addr[i], s.addrlen[i]) == 2);
                char buf[64] = {0};
                ssize_t got = recv(fd, buf, sizeof buf - 1, 0);
                int m = snprintf(want, sizeof want, "got=%zu", i);
                TS_CHECKF(got == m && !memcmp(buf, want, (size_t)m), "udp %s: answer '%s'",
                          s.addrstr[i], buf);
                close(fd);
            } else {
                int fd = ts_connect_server(&s, (int)i);
                TS_CHECKF(fd >= 0, "connect %s: %s", s.addrstr[i], strerror(errno));
                if (fd < 0)
                    break;
                char buf[64] = {0};
                int m = snprintf(want, sizeof want, "idx=%zu\n", i);
                TS_CHECKF(ts_read_full(fd, buf, (size_t)m) == 0 && !memcmp(buf, want, (size_t)m),
                          "greeting on %s: '%s', want '%s'", s.addrstr[i], buf, want);
                TS_CHECK(ts_write_all(fd, "S", 1) == 0);
                m = snprintf(want, sizeof want, "got=%zu", i);
                memset(buf, 0, sizeof buf);
                TS_CHECKF(ts_read_full(fd, buf, (size_t)m) == 0 && !memcmp(buf, want, (size_t)m),
                          "answer on %s: '%s', want '%s'", s.addrstr[i], buf, want);
                close(fd);
            }
        }
    }
    r = ts_server_stop(&s);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    for (size_t i = 0; i < n; i++) {
        if (is_udp[i]) {
            assert_int_equal(atomic_load(&st.datagrams[i]), PER_ADDR);
            assert_int_equal(atomic_load(&st.opened[i]), 0);
        } else {
            assert_int_equal(atomic_load(&st.opened[i]), PER_ADDR);
            assert_int_equal(atomic_load(&st.stream_data[i]), PER_ADDR);
        }
    }
    ts_rmtree(dir);
}

static void test_one_loop(void **s) {
    (void)s;
    run(1);
}

static void test_three_loops(void **s) {
    (void)s;
    run(3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_one_loop),
    cmocka_unit_test(test_three_loops),
};

TS_MAIN(tests)
