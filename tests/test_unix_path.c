/*
 * Unix socket files are never taken from a server that is still using them.
 *
 * - A second server on the path of a running one fails with EVIO_EADDRINUSE and a message
 *   naming the path; the first keeps its file and stays reachable.
 * - At shutdown a server removes its socket file only if it is still the file it bound:
 *   one that another server has bound since (after the first one's file was removed by
 *   hand) is left alone and stays reachable.
 * (A stale file, left by a server that died, is replaced: test_api_misc.c.)
 */
#include "ts.h"

#include <sys/un.h>

static evio_action greet_opened(evio_conn *c, void *u) {
    const char *greeting = TS_USER(u);
    TS_CHECK(evio_conn_write(c, greeting, 1) == 0);
    return EVIO_CLOSE;
}

/* Connect to the unix socket at `path` and read the one-byte greeting (0 on failure). */
static char greeting_at(const char *path) {
    struct sockaddr_un un;
    socklen_t len = ts_unix_addr(&un, path);
    int fd = len ? ts_connect((struct sockaddr *)&un, len) : -1;
    char c = 0;
    if (fd >= 0) {
        if (ts_read_full(fd, &c, 1) != 0)
            c = 0;
        close(fd);
    }
    return c;
}

static int start_greeter(ts_server *srv, const char *addr, const char *greeting) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = greet_opened;
    const char *addrs[] = {addr};
    return ts_server_start(srv, &ev, (void *)greeting, addrs, 1);
}

/* Were the second server to start anyway, it stops at once rather than hang the test. */
static evio_action stop_serving(evio_server *srv, void *u) {
    (void)srv;
    (void)u;
    return EVIO_SHUTDOWN;
}

static void test_live_socket_refused(void **s) {
    (void)s;
    ts_reset_failures();
    char dir[256], path[300], addr[400];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/live.sock", dir);
    snprintf(addr, sizeof addr, "unix://%s", path);
    ts_server first;
    assert_int_equal(start_greeter(&first, addr, "A"), 0);

    evio_events ev = EVIO_EVENTS_INIT;
    ev.serving = stop_serving;
    const char *addrs[] = {addr};
    int r = evio_serve(&ev, addrs, 1);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", evio_last_error());

    char got = greeting_at(path); /* the first server is still the one answering */
    assert_int_equal(ts_server_stop(&first), 0);
    ts_rmtree(dir);
    if (r != EVIO_EADDRINUSE)
        fail_msg("a second server on a live unix socket: %d (%s), want EVIO_EADDRINUSE", r, msg);
    if (strstr(msg, path) == NULL)
        fail_msg("the message does not name the path: \"%s\"", msg);
    if (got != 'A')
        fail_msg("the first server is no longer reachable on its path (got %d)", got);
    TS_ASSERT_NO_FAILURES();
}

static void test_shutdown_keeps_foreign_file(void **s) {
    (void)s;
    ts_reset_failures();
    char dir[256], path[300], addr[400];
    assert_int_equal(ts_tmpdir(dir, sizeof dir), 0);
    snprintf(path, sizeof path, "%s/moved.sock", dir);
    snprintf(addr, sizeof addr, "unix://%s", path);
    ts_server first, second;
    assert_int_equal(start_greeter(&first, addr, "A"), 0);
    assert_int_equal(unlink(path), 0); /* the first server's file is gone… */
    assert_int_equal(start_greeter(&second, addr, "B"), 0); /* …and another one bound it */

    assert_int_equal(ts_server_stop(&first), 0);
    int left = ts_exists(path);
    char got = greeting_at(path);
    assert_int_equal(ts_server_stop(&second), 0);
    int removed_by_owner = !ts_exists(path);
    ts_rmtree(dir);
    if (!left)
        fail_msg("stopping the first server removed the second server's socket file");
    if (got != 'B')
        fail_msg("the second server is not reachable after the first stopped (got %d)", got);
    if (!removed_by_owner)
        fail_msg("the second server did not remove its own socket file at shutdown");
    TS_ASSERT_NO_FAILURES();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_live_socket_refused),
    cmocka_unit_test(test_shutdown_keeps_foreign_file),
};

TS_MAIN(tests)
