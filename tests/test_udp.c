/*
 * UDP: one `data` per datagram, the output of one `data` call goes back to the sender as
 * one datagram. udp4 and udp6 (udp6 only when the machine has an IPv6 loopback).
 *
 * - Datagrams of 1 B .. 65507 B come back whole (written in two evio_conn_write calls).
 * - `data` ran exactly once per datagram; `opened`/`closed` never run for UDP.
 * - The sender's address (evio_conn_remote_addr) is the client's; the local address is
 *   the server's; evio_conn_addr_index is right.
 * - A `data` call that writes nothing sends nothing.
 * - evio_conn_wake() and evio_conn_set_keepalive() on a UDP sender are EVIO_ENOTSUP;
 *   evio_conn_ref()/unref() on it do nothing harmful.
 * - Two clients interleaved each get their own answers.
 */
#include "ts.h"

#include <netinet/in.h>

#define MAXDGRAM 65507

typedef struct ustate {
    atomic_int data_calls;
    atomic_int opened_closed;
    atomic_int bad_sender;
    atomic_int last_len;
} ustate;

static evio_action u_opened(evio_conn *c, void *u) {
    (void)c;
    ustate *st = TS_USER(u);
    atomic_fetch_add(&st->opened_closed, 1);
    return EVIO_NONE;
}

static evio_action u_closed(evio_conn *c, int e, void *u) {
    (void)c;
    (void)e;
    ustate *st = TS_USER(u);
    atomic_fetch_add(&st->opened_closed, 1);
    return EVIO_NONE;
}

static evio_action u_data(evio_conn *c, const void *in, size_t len, void *u) {
    ts_server *s = u;
    ustate *st = TS_USER(u);
    atomic_fetch_add(&st->data_calls, 1);
    atomic_store(&st->last_len, (int)len);
    TS_CHECKF(in != NULL && len > 0, "UDP data without a datagram (in %p, len %zu)", in, len);
    if (!in || !len)
        return EVIO_NONE;
    int idx = evio_conn_addr_index(c);
    TS_CHECKF(idx >= 0 && idx < s->num_addrs, "addr_index %d", idx);
    const struct sockaddr *la = evio_conn_local_addr(c, NULL);
    const struct sockaddr *ra = evio_conn_remote_addr(c, NULL);
    TS_CHECK(la != NULL && ra != NULL);
    if (la && ra && idx >= 0 && idx < s->num_addrs) {
        const struct sockaddr *bound = (const struct sockaddr *)&s->addr[idx];
        if (la->sa_family != bound->sa_family || ra->sa_family != bound->sa_family ||
            ts_sa_port(la) != ts_sa_port(bound))
            atomic_fetch_add(&st->bad_sender, 1);
    }
    int w = evio_conn_wake(c);
    TS_CHECKF(w == EVIO_ENOTSUP, "evio_conn_wake on a UDP sender: %d, want EVIO_ENOTSUP", w);
    int ka = evio_conn_set_keepalive(c, 10);
    TS_CHECKF(ka == EVIO_ENOTSUP, "keepalive on a UDP sender: %d, want EVIO_ENOTSUP", ka);
    evio_conn_ref(c); /* does nothing for a UDP sender (no leak, no crash) */
    evio_conn_unref(c);

    const unsigned char *p = in;
    if (p[0] == 'S') /* silent: no answer */
        return EVIO_NONE;
    if (p[0] == 'E') { /* plain echo, in two writes */
        size_t half = len / 2;
        TS_CHECK(evio_conn_write(c, p, half) == 0);
        TS_CHECK(evio_conn_write(c, p + half, len - half) == 0);
        return EVIO_NONE;
    }
    TS_CHECKF(p[0] == 'D' && len >= 4, "unexpected datagram");
    if (p[0] != 'D' || len < 4)
        return EVIO_NONE;
    /* 'D': the same size back, its first 3 bytes replaced by [addr index][sender port],
     * in three writes. */
    unsigned char hdr[3];
    hdr[0] = (unsigned char)idx;
    int port = ra ? ts_sa_port(ra) : 0;
    hdr[1] = (unsigned char)(port >> 8);
    hdr[2] = (unsigned char)port;
    TS_CHECK(evio_conn_write(c, hdr, sizeof hdr) == 0);
    size_t half = 3 + (len - 3) / 2;
    TS_CHECK(evio_conn_write(c, p + 3, half - 3) == 0);
    TS_CHECK(evio_conn_write(c, p + half, len - half) == 0);
    return EVIO_NONE;
}

static int udp_client(int family) {
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    ts_set_timeouts(fd, TS_IO_TIMEOUT_MS);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    struct sockaddr_storage a;
    memset(&a, 0, sizeof a);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a4;
    } else {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        len = sizeof *a6;
    }
    if (bind(fd, (struct sockaddr *)&a, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int local_port(int fd) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    return ts_sa_port((struct sockaddr *)&a);
}

/* Send one datagram of n bytes to address idx and check the answer. */
static void exchange(ts_server *s, int fd, int idx, size_t n, ts_rng *r, unsigned char *out,
                     unsigned char *in) {
    ts_rng_fill(r, out, n);
    out[0] = n >= 4 ? 'D' : 'E';
    ssize_t w = sendto(fd, out, n, 0, (struct sockaddr *)&s->addr[idx], s->addrlen[idx]);
    TS_CHECKF(w == (ssize_t)n, "sendto %zu bytes: %zd (%s)", n, w, strerror(errno));
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t k = recvfrom(fd, in, MAXDGRAM + 64, 0, (struct sockaddr *)&from, &fl);
    TS_CHECKF(k == (ssize_t)n, "answer to a %zu-byte datagram: %zd bytes (%s)", n, k,
              k < 0 ? strerror(errno) : "want one datagram of the same size");
    if (k != (ssize_t)n)
        return;
    TS_CHECKF(from.ss_family == s->addr[idx].ss_family &&
                  ts_sa_port((struct sockaddr *)&from) ==
                      ts_sa_port((struct sockaddr *)&s->addr[idx]),
              "answer came from another address");
    if (n < 4) {
        TS_CHECKF(memcmp(in, out, n) == 0, "datagram of %zu bytes came back altered", n);
        return;
    }
    TS_CHECKF(in[0] == idx, "addr_index %d, want %d", in[0], idx);
    TS_CHECKF(((in[1] << 8) | in[2]) == local_port(fd), "server saw sender port %d, ours is %d",
              (in[1] << 8) | in[2], local_port(fd));
    TS_CHECKF(memcmp(in + 3, out + 3, n - 3) == 0, "datagram of %zu bytes came back altered", n);
}

static void run_udp(const char *const *addrs, size_t naddrs, const int *families) {
    ts_reset_failures();
    ustate st;
    memset(&st, 0, sizeof st);
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 2;
    ev.opened = u_opened;
    ev.closed = u_closed;
    ev.data = u_data;
    ts_server s;
    int r = ts_server_start(&s, &ev, &st, addrs, naddrs);
    if (r != 0)
        fail_msg("evio_serve: %d / %s", r, s.last_error);
    unsigned char *out = malloc(MAXDGRAM + 64), *in = malloc(MAXDGRAM + 64);
    ts_rng rng;
    ts_rng_seed(&rng, ts_seed());
    static const size_t sizes[] = {1, 2, 3, 4, 100, 1400, 1500, 8192, 9000, 32768, 65000, MAXDGRAM};
    size_t nsizes = sizeof sizes / sizeof sizes[0];
    int expected_calls = 0;

    for (size_t a = 0; a < naddrs && ts_failures() == 0; a++) {
        int c1 = udp_client(families[a]), c2 = udp_client(families[a]);
        TS_CHECK(c1 >= 0 && c2 >= 0);
        if (c1 < 0 || c2 < 0) {
            if (c1 >= 0)
                close(c1);
            if (c2 >= 0)
                close(c2);
            break;
        }
        for (size_t i = 0; i < nsizes && ts_failures() == 0; i++) {
            exchange(&s, c1, (int)a, sizes[i], &rng, out, in);
            expected_calls++;
            TS_CHECKF(atomic_load(&st.last_len) == (int)sizes[i],
                      "data saw %d bytes for a %zu-byte datagram", atomic_load(&st.last_len),
                      sizes[i]);
        }
        /* A silent datagram gets no answer: the next answer is for the next datagram. */
        out[0] = 'S';
        TS_CHECK(sendto(c1, out, 10, 0, (struct sockaddr *)&s.addr[a], s.addrlen[a]) == 10);
        expected_calls++;
        exchange(&s, c1, (int)a, 77, &rng, out, in);
        expected_calls++;
        /* Two clients interleaved. */
        for (int i = 0; i < 20 && ts_failures() == 0; i++) {
            exchange(&s, (i & 1) ? c2 : c1, (int)a, 1 + ts_rng_below(&rng, 3000), &rng, out, in);
            expected_calls++;
        }
        close(c1);
        close(c2);
    }
    r = ts_server_stop(&s);
    free(out);
    free(in);
    assert_int_equal(r, 0);
    TS_ASSERT_NO_FAILURES();
    assert_int_equal(atomic_load(&st.data_calls), expected_calls);
    assert_int_equal(atomic_load(&st.opened_closed), 0);
    assert_int_equal(atomic_load(&st.bad_sender), 0);
}

static void test_udp4(void **s) {
    (void)s;
    const char *a[] = {"udp4://127.0.0.1:0"};
    int f[] = {AF_INET};
    run_udp(a, 1, f);
}

static void test_udp_default_scheme(void **s) {
    (void)s;
    const char *a[] = {"udp://127.0.0.1:0"};
    int f[] = {AF_INET};
    run_udp(a, 1, f);
}

static void test_udp6(void **s) {
    (void)s;
    if (!ts_have_ipv6()) {
        /* Not a skip of the feature: the machine cannot have an IPv6 socket at all. */
        fprintf(stderr, "[udp] no IPv6 loopback on this machine (bind to ::1 failed): "
                        "udp6 not run\n");
        return;
    }
    const char *a[] = {"udp6://[::1]:0"};
    int f[] = {AF_INET6};
    run_udp(a, 1, f);
}

static void test_udp_two_addresses(void **s) {
    (void)s;
    const char *a[] = {"udp4://127.0.0.1:0", "udp://127.0.0.1:0"};
    int f[] = {AF_INET, AF_INET};
    run_udp(a, 2, f);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_udp4),
    cmocka_unit_test(test_udp_default_scheme),
    cmocka_unit_test(test_udp6),
    cmocka_unit_test(test_udp_two_addresses),
};

TS_MAIN(tests)
