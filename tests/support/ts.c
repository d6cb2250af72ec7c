/*
 * Test support for the evio C test suite (see ts.h).
 *
 * SPDX-License-Identifier: MIT
 */
#include "ts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- failures ------------------------------------------------------------------------- */

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static int fail_count;
static char fail_first[1024];

void ts_fail_at(const char *file, int line, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&fail_mu);
    if (fail_count++ == 0)
        snprintf(fail_first, sizeof fail_first, "%s:%d: %s", file, line, msg);
    pthread_mutex_unlock(&fail_mu);
    fprintf(stderr, "FAILURE %s:%d: %s\n", file, line, msg);
}

int ts_failures(void) {
    pthread_mutex_lock(&fail_mu);
    int n = fail_count;
    pthread_mutex_unlock(&fail_mu);
    return n;
}

const char *ts_first_failure(void) {
    /* Read on the test thread after every other thread is joined or quiet. */
    return fail_first;
}

void ts_reset_failures(void) {
    pthread_mutex_lock(&fail_mu);
    fail_count = 0;
    fail_first[0] = '\0';
    pthread_mutex_unlock(&fail_mu);
}

/* ---- time ----------------------------------------------------------------------------- */

int64_t ts_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void deadline_in(struct timespec *ts, int timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void cond_init_monotonic(pthread_cond_t *cv) {
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- counter -------------------------------------------------------------------------- */

void ts_counter_init(ts_counter *c) {
    pthread_mutex_init(&c->mu, NULL);
    cond_init_monotonic(&c->cv);
    c->v = 0;
}

void ts_counter_destroy(ts_counter *c) {
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
}

long ts_counter_add(ts_counter *c, long d) {
    pthread_mutex_lock(&c->mu);
    long v = (c->v += d);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return v;
}

long ts_counter_get(ts_counter *c) {
    pthread_mutex_lock(&c->mu);
    long v = c->v;
    pthread_mutex_unlock(&c->mu);
    return v;
}

int ts_counter_wait_ge(ts_counter *c, long target, int timeout_ms) {
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    while (c->v < target) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &dl) == ETIMEDOUT) {
            rc = c->v >= target ? 0 : -1;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* ---- randomness ----------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static pthread_once_t seed_once = PTHREAD_ONCE_INIT;
static uint64_t seed_value;

static void seed_init(void) {
    const char *e = getenv("TS_SEED");
    if (e && *e)
        seed_value = strtoull(e, NULL, 0);
    else
        seed_value = splitmix64((uint64_t)ts_now_ns() ^ ((uint64_t)getpid() << 32));
    fprintf(stderr, "[ts] TS_SEED=%" PRIu64 " (set TS_SEED to reproduce)\n", seed_value);
}

uint64_t ts_seed(void) {
    pthread_once(&seed_once, seed_init);
    return seed_value;
}

void ts_rng_seed(ts_rng *r, uint64_t seed) {
    r->s = splitmix64(seed);
}

uint64_t ts_rng_next(ts_rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t x = r->s;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t ts_rng_below(ts_rng *r, uint64_t n) {
    return n ? ts_rng_next(r) % n : 0;
}

void ts_rng_fill(ts_rng *r, void *buf, size_t n) {
    unsigned char *p = buf;
    while (n >= 8) {
        uint64_t v = ts_rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = ts_rng_next(r);
        memcpy(p, &v, n);
    }
}

void ts_stream_fill(uint64_t key, uint64_t offset, void *buf, size_t n) {
    unsigned char *p = buf;
    uint64_t k = splitmix64(key);
    while (n) {
        uint64_t word = offset / 8;
        unsigned skip = (unsigned)(offset % 8);
        uint64_t v = splitmix64(k ^ (word * 0xd6e8feb86659fd93ULL));
        unsigned char b[8];
        memcpy(b, &v, 8);
        size_t take = 8 - skip;
        if (take > n)
            take = n;
        memcpy(p, b + skip, take);
        p += take;
        n -= take;
        offset += take;
    }
}

/* ---- files ---------------------------------------------------------------------------- */

int ts_tmpdir(char *out, size_t outlen) {
    if (snprintf(out, outlen, "/tmp/evio-test-XXXXXX") >= (int)outlen)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

void ts_rmtree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

int ts_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- sockets -------------------------------------------------------------------------- */

int ts_set_timeouts(int fd, int ms) {
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        return -1;
    return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

int ts_set_nonblock(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl);
}

int ts_connect(const struct sockaddr *sa, socklen_t len) {
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (ts_set_timeouts(fd, TS_IO_TIMEOUT_MS) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    while (connect(fd, sa, len) != 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int ts_connect_server(const ts_server *s, int index) {
    if (index < 0 || index >= s->num_addrs) {
        errno = EINVAL;
        return -1;
    }
    return ts_connect((const struct sockaddr *)&s->addr[index], s->addrlen[index]);
}

int ts_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ts_read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            return 1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int ts_read_eof(int fd) {
    char c;
    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r == 0)
            return 0;
        if (r > 0)
            return 1;
        if (errno != EINTR)
            return -1;
    }
}

int ts_wait_readable(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : (r > 0 ? 1 : 0);
    }
}

void ts_close_reset(int fd) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

socklen_t ts_unix_addr(struct sockaddr_un *un, const char *path) {
    size_t n = strlen(path);
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    if (n >= sizeof un->sun_path)
        return 0;
    memcpy(un->sun_path, path, n + 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

int ts_sa_port(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return -1;
}

int ts_have_ipv6(void) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int ts_echo_verify(int fd, const unsigned char *out, size_t n, char *err, size_t errlen) {
    unsigned char *buf = malloc(65536);
    size_t sent = 0, got = 0;
    int rc = 0;
    if (!buf || ts_set_nonblock(fd, 1) != 0) {
        snprintf(err, errlen, "setup failed: %s", strerror(errno));
        free(buf);
        return -1;
    }
    while (got < n) {
        struct pollfd p = {fd, (short)(POLLIN | (sent < n ? POLLOUT : 0)), 0};
        int r = poll(&p, 1, TS_IO_TIMEOUT_MS);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "poll: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (r == 0) {
            snprintf(err, errlen, "no progress for %d ms: sent %zu, received %zu of %zu",
                     TS_IO_TIMEOUT_MS, sent, got, n);
            rc = -1;
            break;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t want = n - got < 65536 ? n - got : 65536;
            ssize_t k = read(fd, buf, want);
            if (k == 0) {
                snprintf(err, errlen, "EOF after %zu of %zu echoed bytes", got, n);
                rc = -1;
                break;
            }
            if (k < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(err, errlen, "read after %zu of %zu bytes: %s", got, n, strerror(errno));
                rc = -1;
                break;
            }
            if (k > 0) {
                if (memcmp(buf, out + got, (size_t)k) != 0) {
                    size_t i = 0;
                    while (buf[i] == out[got + i])
                        i++;
                    snprintf(err, errlen,
                             "mismatch at byte %zu of %zu: got 0x%02x, expected 0x%02x", got + i, n,
                             buf[i], out[got + i]);
                    rc = -1;
                    break;
                }
                got += (size_t)k;
            }
        }
        if (sent < n && (p.revents & POLLOUT)) {
            ssize_t w = send(fd, out + sent, n - sent, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                snprintf(err, errlen, "send after %zu of %zu bytes: %s", sent, n, strerror(errno));
                rc = -1;
                break;
            }
            if (w > 0)
                sent += (size_t)w;
        }
    }
    ts_set_nonblock(fd, 0);
    free(buf);
    return rc;
}

/* ---- server runner -------------------------------------------------------------------- */

static evio_action wrap_serving(evio_server *srv, void *udata) {
    ts_server *s = udata;
    TS_CHECKF(pthread_equal(pthread_self(), s->serve_thread),
              "serving must run on the thread that called evio_serve()");
    s->num_addrs = evio_server_num_addrs(srv);
    s->num_loops = evio_server_num_loops(srv);
    for (int i = 0; i < s->num_addrs && i < TS_MAX_ADDRS; i++) {
        socklen_t len = 0;
        const struct sockaddr *sa = evio_server_addr(srv, i, &len);
        TS_CHECKF(sa != NULL, "evio_server_addr(%d) returned NULL", i);
        if (sa) {
            TS_CHECKF(len > 0 && len <= sizeof(struct sockaddr_storage),
                      "evio_server_addr(%d): bad length %u", i, (unsigned)len);
            if (len > sizeof(struct sockaddr_storage))
                len = sizeof(struct sockaddr_storage);
            memcpy(&s->addr[i], sa, len);
            s->addrlen[i] = len;
        }
        int n = evio_server_addr_string(srv, i, s->addrstr[i], sizeof s->addrstr[i]);
        TS_CHECKF(n > 0 && n < TS_ADDR_LEN, "evio_server_addr_string(%d) returned %d", i, n);
    }
    evio_action a = EVIO_NONE;
    if (s->ev.serving)
        a = s->ev.serving(srv, udata);
    pthread_mutex_lock(&s->mu);
    s->serving_called = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return a;
}

static evio_action wrap_tick(int64_t *delay_ns, void *udata) {
    ts_server *s = udata;
    atomic_fetch_add(&s->ticks, 1);
    if (atomic_load(&s->stop))
        return EVIO_SHUTDOWN;
    if (s->ev.tick)
        return s->ev.tick(delay_ns, udata);
    *delay_ns = 5 * 1000 * 1000;
    return EVIO_NONE;
}

static void *serve_thread(void *arg) {
    ts_server *s = arg;
    s->serve_thread = pthread_self();
    int r = evio_serve(&s->run_ev, s->addrs, s->naddrs);
    const char *le = evio_last_error();
    pthread_mutex_lock(&s->mu);
    s->ret = r;
    snprintf(s->last_error, sizeof s->last_error, "%s", le ? le : "(null)");
    s->returned = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int ts_server_start(ts_server *s, const evio_events *ev, void *user, const char *const *addrs,
                    size_t n) {
    memset(s, 0, sizeof *s);
    if (n > TS_MAX_ADDRS)
        return EVIO_EINVAL;
    s->user = user;
    s->ev = *ev;
    s->run_ev = *ev;
    s->run_ev.udata = s;
    s->run_ev.serving = wrap_serving;
    s->run_ev.tick = wrap_tick;
    for (size_t i = 0; i < n; i++) {
        snprintf(s->addrbuf[i], TS_ADDR_LEN, "%s", addrs[i]);
        s->addrs[i] = s->addrbuf[i];
    }
    s->naddrs = n;
    pthread_mutex_init(&s->mu, NULL);
    cond_init_monotonic(&s->cv);
    atomic_init(&s->stop, 0);
    atomic_init(&s->ticks, 0);
    if (pthread_create(&s->thread, NULL, serve_thread, s) != 0)
        return EVIO_ENOMEM;
    s->thread_started = 1;

    struct timespec dl;
    deadline_in(&dl, TS_WAIT_TIMEOUT_MS);
    pthread_mutex_lock(&s->mu);
    while (!s->serving_called && !s->returned) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    int serving = s->serving_called, returned = s->returned;
    pthread_mutex_unlock(&s->mu);
    if (serving)
        return 0;
    if (returned) {
        pthread_join(s->thread, NULL);
        s->thread_started = 0;
        return s->ret < 0 ? s->ret : EVIO_EIO; /* returned 0 without serving: wrong */
    }
    return EVIO_ETIMEDOUT;
}

int ts_server_wait(ts_server *s, int timeout_ms) {
    if (!s->thread_started)
        return s->ret;
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->returned) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    int returned = s->returned;
    pthread_mutex_unlock(&s->mu);
    if (!returned)
        return EVIO_ETIMEDOUT;
    pthread_join(s->thread, NULL);
    s->thread_started = 0;
    return s->ret;
}

int ts_server_stop(ts_server *s) {
    atomic_store(&s->stop, 1);
    return ts_server_wait(s, TS_WAIT_TIMEOUT_MS);
}

/* ---- CPUs ----------------------------------------------------------------------------- */

int ts_ncpu_online(void) {
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

int ts_ncpu_affinity(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return ts_ncpu_online();
    return CPU_COUNT(&set);
}
