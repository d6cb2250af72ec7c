/*
 * Stress: an EMFILE storm. The server runs out of descriptors again and again, lives,
 * does not spin, and serves again once descriptors are free.
 *
 * A child process (so its lowered limit touches nobody else) runs an echo server with 2
 * loops (round robin) and lowers RLIMIT_NOFILE so that exactly FREE more descriptors can
 * be opened. Then, ROUNDS times:
 *  - FREE clients connect and are echoed: the server has no descriptor left;
 *  - a storm: BACKLOG more clients connect and send a byte (the kernel queues them; accept
 *    fails with EMFILE), and STORM more connect and reset at once while the CPU time of the
 *    child is measured over WINDOW_MS (from /proc/<pid>/stat): it must stay under
 *    MAX_CPU_PERCENT of the wall time, although its listener is readable all along;
 *  - an accepted client is still echoed (the loops run);
 *  - the FREE clients close, and each waiting client in turn is echoed (then closes), or
 *    is closed by the server — none hangs;
 *  - the child's descriptors are back to what they were before the round (counted with one
 *    echoed probe per loop: stress_settled_fd_count).
 * At the end the child's evio_serve() returns 0. Bounded: TIME_BOUND_S, TS_IO_TIMEOUT_MS.
 */
#include "stress.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define FREE 32
#define BACKLOG 200
#define STORM 1000
#define ROUNDS 3
#define LOOPS 2
#define WINDOW_MS 1000
#define MAX_CPU_PERCENT 20
#define TIME_BOUND_S 90

static evio_action on_data(evio_conn *c, const void *in, size_t len, void *u) {
    (void)u;
    TS_CHECK(evio_conn_write(c, in, len) == 0);
    return EVIO_NONE;
}

/* The child: serve, allow FREE more descriptors, report the port, wait for 'S' on ctl. */
static void child(int ctl, int rep) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = LOOPS;
    ev.load_balance = EVIO_LB_ROUND_ROBIN;
    ev.data = on_data;
    const char *addrs[] = {"tcp4://127.0.0.1:0"};
    ts_server s;
    if (ts_server_start(&s, &ev, NULL, addrs, 1) != 0)
        _exit(10);
    int free_seen = 0, fd = 0;
    for (; free_seen < FREE; fd++) /* the limit goes just above the FREE-th unused number */
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
            free_seen++;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = (rlim_t)fd;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(11);
    int port = ts_sa_port((struct sockaddr *)&s.addr[0]);
    if (write(rep, &port, sizeof port) != sizeof port)
        _exit(12);
    char cmd = 0;
    while (read(ctl, &cmd, 1) < 0 && errno == EINTR)
        ;
    int ret = ts_server_stop(&s);
    _exit(ret != 0 ? 13 : ts_failures() ? 14 : 0);
}

static int echo_byte(int fd, char b) {
    char e = 0;
    return ts_write_all(fd, &b, 1) == 0 && ts_read_full(fd, &e, 1) == 0 && e == b ? 0 : -1;
}

typedef struct storm {
    struct sockaddr_in to;
    int done, failed;
} storm;

/* Clients that connect and reset at once, while the server cannot accept. */
static void *storm_main(void *arg) {
    storm *st = arg;
    for (int i = 0; i < STORM; i++) {
        int fd = stress_connect_from(&st->to, 40 + i % 8);
        if (fd < 0) {
            st->failed++;
            continue;
        }
        ts_close_reset(fd);
        st->done++;
    }
    return NULL;
}

/* One round; returns 0 or fails the test. */
static void round_of(int r, pid_t pid, const struct sockaddr_in *to) {
    const struct sockaddr *sa = (const struct sockaddr *)to;
    int fds_before = stress_settled_fd_count(pid, sa, sizeof *to, LOOPS);
    int held[FREE], waiting[BACKLOG];
    for (int i = 0; i < FREE; i++) {
        held[i] = ts_connect(sa, sizeof *to);
        assert_true(held[i] >= 0);
        assert_int_equal(echo_byte(held[i], 'h'), 0);
    }
    for (int i = 0; i < BACKLOG; i++) {
        waiting[i] = stress_connect_from(to, 30 + i % 8);
        assert_true(waiting[i] >= 0);
        assert_int_equal(ts_write_all(waiting[i], "w", 1), 0); /* echoed once accepted */
    }

    storm st = {*to, 0, 0};
    pthread_t th;
    int64_t cpu0 = stress_cpu_ns(pid), wall0 = ts_now_ns();
    assert_int_equal(pthread_create(&th, NULL, storm_main, &st), 0);
    struct timespec win = {WINDOW_MS / 1000, (WINDOW_MS % 1000) * 1000000L}; /* a window */
    nanosleep(&win, NULL);
    pthread_join(th, NULL);
    int64_t cpu = stress_cpu_ns(pid) - cpu0, wall = ts_now_ns() - wall0;
    assert_int_equal(echo_byte(held[0], 'a'), 0); /* the loops still run */

    for (int i = 0; i < FREE; i++)
        close(held[i]);
    int served = 0, shed = 0;
    for (int i = 0; i < BACKLOG; i++) {
        char e = 0;
        int k = ts_read_full(waiting[i], &e, 1);
        if (k == 0 && e == 'w')
            served++;
        else if (k == 1 || (k < 0 && errno == ECONNRESET))
            shed++;
        else
            fail_msg("round %d: waiting client %d neither served nor closed (%s)", r, i,
                     strerror(errno));
        close(waiting[i]);
    }
    int fds_after = stress_settled_fd_count(pid, sa, sizeof *to, LOOPS);
    printf("[stress_emfile] round %d: child CPU %.1f ms over %.0f ms (%.1f%%) while out of "
           "descriptors, %d storm clients; then %d waiting clients served, %d shed; child fds "
           "%d -> %d\n",
           r, (double)cpu / 1e6, (double)wall / 1e6, 100.0 * (double)cpu / (double)wall, st.done,
           served, shed, fds_before, fds_after);
    assert_true(st.done > 0);
    assert_true(cpu * 100 < wall * MAX_CPU_PERCENT);
    assert_true(served > 0);
    assert_true(fds_before > 0);
    assert_int_equal(fds_after, fds_before);
}

static void test_emfile_storm(void **unused) {
    (void)unused;
    int ctl[2], rep[2];
    assert_int_equal(pipe(ctl), 0);
    assert_int_equal(pipe(rep), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ctl[1]);
        close(rep[0]);
        child(ctl[0], rep[1]);
    }
    close(ctl[0]);
    close(rep[1]);
    int port = 0;
    assert_int_equal(ts_wait_readable(rep[0], TS_WAIT_TIMEOUT_MS), 1);
    assert_int_equal(ts_read_full(rep[0], &port, sizeof port), 0);
    struct sockaddr_in to = stress_loopback(port);
    int64_t deadline = ts_now_ns() + (int64_t)TIME_BOUND_S * 1000000000;
    for (int r = 1; r <= ROUNDS; r++)
        round_of(r, pid, &to);
    assert_int_equal(write(ctl[1], "S", 1), 1);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* evio_serve returned 0 */
    assert_true(ts_now_ns() < deadline);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_emfile_storm)};
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
