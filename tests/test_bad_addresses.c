/*
 * Bad input to evio_serve(): evio's TestBadAddresses, made strict.
 *
 * For each bad address or argument, evio_serve() returns the documented negative code,
 * no callback is called, and evio_last_error() (on the calling thread) names the
 * offending part. Addresses bound before a later one failed are released (a unix socket
 * file is removed). A path that exists and is not a socket is left alone.
 * evio_strerror() describes every code, and unknown ones.
 */
#include "ts.h"

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/stat.h>

static atomic_int callbacks;

static evio_action cb_serving(evio_server *s, void *u) {
    (void)s;
    (void)u;
    atomic_fetch_add(&callbacks, 1);
    return EVIO_SHUTDOWN;
}
static evio_action cb_opened(evio_conn *c, void *u) {
    (void)c;
    (void)u;
    atomic_fetch_add(&callbacks, 1);
    return EVIO_NONE;
}
static evio_action cb_closed(evio_conn *c, int e, void *u) {
    (void)c;
    (void)e;
    (void)u;
    atomic_fetch_add(&callbacks, 1);
    return EVIO_NONE;
}
static evio_action cb_data(evio_conn *c, const void *in, size_t n, void *u) {
    (void)c;
    (void)in;
    (void)n;
    (void)u;
    atomic_fetch_add(&callbacks, 1);
    return EVIO_NONE;
}
static evio_action cb_tick(int64_t *d, void *u) {
    (void)d;
    (void)u;
    atomic_fetch_add(&callbacks, 1);
    return EVIO_SHUTDOWN;
}

static evio_events counting_events(void) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.serving = cb_serving;
    ev.opened = cb_opened;
    ev.closed = cb_closed;
    ev.data = cb_data;
    ev.tick = cb_tick;
    return ev;
}

/* evio_serve(addrs) must fail with one of the codes in `want` (0-terminated), call no
 * callback, and leave a message containing `part` (if not NULL). */
static void expect_fail_codes(const char *const *addrs, size_t n, const int *want,
                              const char *part) {
    evio_events ev = counting_events();
    atomic_store(&callbacks, 0);
    int r = evio_serve(&ev, addrs, n);
    const char *msg = evio_last_error();
    char shown[600];
    snprintf(shown, sizeof shown, "%s%s", n > 0 && addrs && addrs[n - 1] ? addrs[n - 1] : "(none)",
             n > 1 ? " (last of several)" : "");
    int ok = 0;
    for (const int *w = want; *w; w++)
        ok |= r == *w;
    if (!ok)
        fail_msg("evio_serve(\"%s\") returned %d (%s), want %d (%s); message: '%s'", shown, r,
                 evio_strerror(r), want[0], evio_strerror(want[0]), msg ? msg : "(null)");
    if (atomic_load(&callbacks) != 0)
        fail_msg("evio_serve(\"%s\") failed but called %d callback(s)", shown,
                 atomic_load(&callbacks));
    if (!msg || !*msg)
        fail_msg("evio_serve(\"%s\") failed with an empty evio_last_error()", shown);
    if (part && !strstr(msg, part))
        fail_msg("evio_last_error() '%s' does not name '%s'", msg, part);
}

static void expect_fail(const char *addr, int want, const char *part) {
    const char *addrs[] = {addr};
    int codes[] = {want, 0};
    expect_fail_codes(addrs, 1, codes, part);
}

static void test_bad_scheme(void **s) {
    (void)s;
    expect_fail("tulip://howdy", EVIO_EINVAL, "tulip");
    expect_fail("tulip://127.0.0.1:0", EVIO_EINVAL, "tulip");
}

static void test_no_port(void **s) {
    (void)s;
    expect_fail("howdy", EVIO_EINVAL, "howdy");
    expect_fail("tcp://127.0.0.1", EVIO_EINVAL, "127.0.0.1");
}

static void test_bad_port(void **s) {
    (void)s;
    expect_fail("tcp://:99999", EVIO_EINVAL, "99999");
    expect_fail("tcp://127.0.0.1:65536", EVIO_EINVAL, "65536");
    expect_fail("tcp://127.0.0.1:-1", EVIO_EINVAL, "-1");
    expect_fail("tcp://127.0.0.1:12ab", EVIO_EINVAL, "12ab");
    expect_fail("udp://127.0.0.1:99999", EVIO_EINVAL, "99999");
    expect_fail("tcp://127.0.0.1:999999999999999999999", EVIO_EINVAL, "999999999999999999999");
}

static void test_bad_host(void **s) {
    (void)s;
    expect_fail("tcp6://[::1", EVIO_EINVAL, "[::1");
    /* An address of another family than the scheme asks for. */
    const char *a[] = {"tcp4://[::1]:0"};
    int codes[] = {EVIO_EINVAL, EVIO_EAFNOSUPPORT, EVIO_EADDRNOTAVAIL, 0};
    expect_fail_codes(a, 1, codes, "::1");
    /* A documentation address (TEST-NET-1) is not on this machine. */
    expect_fail("tcp://192.0.2.1:0", EVIO_EADDRNOTAVAIL, "192.0.2.1");
}

static void test_bad_query(void **s) {
    (void)s;
    expect_fail("tcp://127.0.0.1:0?foo=bar", EVIO_EINVAL, "foo");
    expect_fail("tcp://127.0.0.1:0?reuseport=maybe", EVIO_EINVAL, "maybe");
}

static void test_empty(void **s) {
    (void)s;
    expect_fail("", EVIO_EINVAL, NULL);
    expect_fail("unix://", EVIO_EINVAL, "unix://");
}

static void test_unix_paths(void **s) {
    (void)s;
    char dir[256];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);

    /* Longer than sun_path. */
    char addr[600], path[512];
    int n = snprintf(path, sizeof path, "%s/", dir);
    memset(path + n, 'a', 200);
    path[n + 200] = '\0';
    snprintf(addr, sizeof addr, "unix://%s", path);
    char part[40];
    snprintf(part, sizeof part, "%.30s", path);
    expect_fail(addr, EVIO_ENAMETOOLONG, part);
    assert_false(ts_exists(path));

    /* A directory that does not exist. */
    snprintf(path, sizeof path, "%s/no/such/dir/s.sock", dir);
    snprintf(addr, sizeof addr, "unix://%s", path);
    expect_fail(addr, EVIO_ENOENT, path);

    /* An existing path that is not a socket: an error, and the file is left alone. */
    snprintf(path, sizeof path, "%s/regular", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep me", 7), 7);
    close(fd);
    snprintf(addr, sizeof addr, "unix://%s", path);
    evio_events ev = counting_events();
    atomic_store(&callbacks, 0);
    const char *addrs[] = {addr};
    int r = evio_serve(&ev, addrs, 1);
    if (r >= 0)
        fail_msg("serving on the regular file %s returned %d", path, r);
    assert_int_equal(atomic_load(&callbacks), 0);
    if (!strstr(evio_last_error(), path))
        fail_msg("evio_last_error() '%s' does not name %s", evio_last_error(), path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal((int)st.st_size, 7);

    ts_rmtree(dir);
}

static void test_bad_arguments(void **s) {
    (void)s;
    evio_events ev = counting_events();
    const char *good[] = {"tcp://127.0.0.1:0"};
    atomic_store(&callbacks, 0);

    assert_int_equal(evio_serve(NULL, good, 1), EVIO_EINVAL);
    assert_true(evio_last_error()[0] != '\0');
    assert_int_equal(evio_serve(&ev, NULL, 1), EVIO_EINVAL);
    assert_true(evio_last_error()[0] != '\0');
    assert_int_equal(evio_serve(&ev, good, 0), EVIO_EINVAL);
    assert_true(evio_last_error()[0] != '\0');
    const char *with_null[] = {"tcp://127.0.0.1:0", NULL};
    assert_int_equal(evio_serve(&ev, with_null, 2), EVIO_EINVAL);
    assert_true(evio_last_error()[0] != '\0');

    evio_events bad = ev;
    bad.size = 0;
    assert_int_equal(evio_serve(&bad, good, 1), EVIO_EINVAL);
    assert_true(strstr(evio_last_error(), "size") != NULL);
    bad.size = 1;
    assert_int_equal(evio_serve(&bad, good, 1), EVIO_EINVAL);
    bad.size = offsetof(evio_events, tick); /* a table missing a field */
    assert_int_equal(evio_serve(&bad, good, 1), EVIO_EINVAL);

    evio_events lb = ev;
    lb.load_balance = (evio_load_balance)42;
    assert_int_equal(evio_serve(&lb, good, 1), EVIO_EINVAL);
    evio_events loops = ev;
    loops.num_loops = -2;
    assert_int_equal(evio_serve(&loops, good, 1), EVIO_EINVAL);

    assert_int_equal(atomic_load(&callbacks), 0);
}

/* num_loops has a documented maximum: past it evio_serve() fails at once with EVIO_EINVAL
 * and a message, instead of creating pollers (each with its buffer) until EMFILE. */
static void test_too_many_loops(void **s) {
    (void)s;
    const char *good[] = {"tcp://127.0.0.1:0"};
    const int bad[] = {INT_MAX, EVIO_MAX_LOOPS + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evio_events ev = counting_events();
        ev.num_loops = bad[i];
        atomic_store(&callbacks, 0);
        int r = evio_serve(&ev, good, 1);
        if (r != EVIO_EINVAL)
            fail_msg("num_loops %d: got %d (%s), want EVIO_EINVAL", bad[i], r, evio_last_error());
        assert_non_null(strstr(evio_last_error(), "num_loops"));
        assert_int_equal(atomic_load(&callbacks), 0);
    }
}

/* The `size` field: a table from an older caller (ending at `tick`, the first published
 * layout) is accepted; a newer caller's larger table is accepted when the fields this
 * library does not know are zero, and refused otherwise. */
static void test_events_size_compat(void **s) {
    (void)s;
    const char *good[] = {"tcp://127.0.0.1:0"};
    struct {
        evio_events ev;
        unsigned char extra[32];
    } big;
    memset(&big, 0, sizeof big);
    big.ev = counting_events();

    big.ev.size = offsetof(evio_events, tick) + sizeof big.ev.tick;
    atomic_store(&callbacks, 0);
    int r = evio_serve(&big.ev, good, 1);
    if (r != 0)
        fail_msg("a table sized up to `tick` (the 1.0 layout) was refused: %d / %s", r,
                 evio_last_error());
    assert_true(atomic_load(&callbacks) >= 1); /* serving ran */

    big.ev.size = sizeof big;
    r = evio_serve(&big.ev, good, 1);
    if (r != 0)
        fail_msg("a larger table with zero extra fields was refused: %d / %s", r,
                 evio_last_error());

    big.extra[5] = 1;
    atomic_store(&callbacks, 0);
    r = evio_serve(&big.ev, good, 1);
    if (r != EVIO_ENOTSUP && r != EVIO_EINVAL) /* a feature this library does not have */
        fail_msg("a larger table with a non-zero unknown field: %d, want EVIO_ENOTSUP or "
                 "EVIO_EINVAL",
                 r);
    assert_int_equal(atomic_load(&callbacks), 0);
    assert_true(evio_last_error()[0] != '\0');
}

/* When a later address fails, earlier ones are released again. */
static void test_partial_failure(void **s) {
    (void)s;
    char dir[256], path[512], uaddr[600];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/first.sock", dir);
    snprintf(uaddr, sizeof uaddr, "unix://%s", path);
    const char *a1[] = {uaddr, "tcp://127.0.0.1:0", "tulip://x"};
    int c1[] = {EVIO_EINVAL, 0};
    expect_fail_codes(a1, 3, c1, "tulip");
    if (ts_exists(path))
        fail_msg("socket file %s left behind after a failed evio_serve", path);

    /* The first of several fails. */
    const char *a2[] = {"tcp://:99999", uaddr};
    expect_fail_codes(a2, 2, c1, "99999");
    assert_false(ts_exists(path));
    ts_rmtree(dir);
}

/* Binding a port someone else listens on. */
static void test_address_in_use(void **s) {
    (void)s;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char addr[64], port[16];
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%s", port);
    expect_fail(addr, EVIO_EADDRINUSE, port);
    close(fd);
}

/* evio_last_error() is per thread. */
static void *other_thread(void *p) {
    const char **out = p;
    *out = strdup(evio_last_error());
    return NULL;
}

static void test_last_error_thread_local(void **s) {
    (void)s;
    pthread_t t;
    char *other = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &other), 0);
    pthread_join(t, NULL);
    assert_non_null(other);
    assert_string_equal(other, ""); /* a fresh thread: nothing failed */
    free(other);

    expect_fail("tulip://x", EVIO_EINVAL, "tulip");
    other = NULL;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &other), 0);
    pthread_join(t, NULL);
    assert_non_null(other);
    assert_string_equal(other, ""); /* our failure is not visible there */
    free(other);
    assert_non_null(strstr(evio_last_error(), "tulip")); /* and still here */
}

static void test_strerror(void **s) {
    (void)s;
    static const int codes[] = {
        EVIO_EPERM,         EVIO_ENOENT,      EVIO_EIO,          EVIO_EBADF,
        EVIO_ENOMEM,        EVIO_EACCES,      EVIO_EBUSY,        EVIO_EINVAL,
        EVIO_ENFILE,        EVIO_EMFILE,      EVIO_EPIPE,        EVIO_ENAMETOOLONG,
        EVIO_ENOSYS,        EVIO_ENOTSUP,     EVIO_EAFNOSUPPORT, EVIO_EADDRINUSE,
        EVIO_EADDRNOTAVAIL, EVIO_ENETUNREACH, EVIO_ECONNABORTED, EVIO_ECONNRESET,
        EVIO_ENOTCONN,      EVIO_ETIMEDOUT,   EVIO_ECONNREFUSED, EVIO_EHOSTUNREACH};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *m = evio_strerror(codes[i]);
        if (!m || !*m)
            fail_msg("evio_strerror(%d) is empty", codes[i]);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(m, evio_strerror(codes[j])))
                fail_msg("evio_strerror(%d) and (%d) are both '%s'", codes[i], codes[j], m);
    }
    const char *ok = evio_strerror(EVIO_OK);
    assert_non_null(ok);
    assert_true(*ok);
    static const int odd[] = {-9999, 9999, 1, INT_MIN, INT_MAX, -4095, -4096, -200, -11};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        const char *m = evio_strerror(odd[i]);
        if (!m || !*m)
            fail_msg("evio_strerror(%d) is empty", odd[i]);
    }
    /* The values are Linux errno values, negated. */
    assert_int_equal(EVIO_EINVAL, -EINVAL);
    assert_int_equal(EVIO_EADDRINUSE, -EADDRINUSE);
    assert_int_equal(EVIO_ENOTCONN, -ENOTCONN);
    assert_int_equal(EVIO_EMFILE, -EMFILE);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_bad_scheme),         cmocka_unit_test(test_no_port),
    cmocka_unit_test(test_bad_port),           cmocka_unit_test(test_bad_host),
    cmocka_unit_test(test_bad_query),          cmocka_unit_test(test_empty),
    cmocka_unit_test(test_unix_paths),         cmocka_unit_test(test_bad_arguments),
    cmocka_unit_test(test_events_size_compat), cmocka_unit_test(test_partial_failure),
    cmocka_unit_test(test_address_in_use),     cmocka_unit_test(test_last_error_thread_local),
    cmocka_unit_test(test_strerror),           cmocka_unit_test(test_too_many_loops),
};

TS_MAIN(tests)
