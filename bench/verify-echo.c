/*
 * verify-echo — a byte-verifying echo load client (one thread, epoll).
 *
 *   verify-echo HOST:PORT [-c CONNS] [-d SECONDS] [--size N | --min A --max B]
 *               [--idle SECONDS] [--seed S] [--max-connecting K]
 *
 * Opens CONNS connections (at most K connecting at a time), then each connection sends a
 * message of a random size in [A, B] with random contents, waits until every byte of it
 * came back, checks each byte, and sends the next: ping-pong, for SECONDS. Then it stops
 * sending and waits (up to 5 s) for what is still on the way. Bytes are generated from a
 * per-connection seed and their position in the stream, so nothing is stored to verify
 * them.
 *
 * --idle S: once all connections are open and each did one 16-byte round trip, print
 *           "idle conns=N" and stay idle S seconds (to measure the server's memory, or to
 *           attach a profiler after the connections are set up), then run the load.
 * --linger S: after printing the result, keep the connections open S seconds before
 *           closing them (so that a profiler stopped on the result line does not count
 *           the teardown).
 *
 * Prints one line of key=value pairs:
 *   result conns=.. secs=.. msgs=.. msgs_per_s=.. bytes=.. mib_per_s=.. msgs_all=.. lost=..
 *          mismatched=.. errors=.. connect_secs=..
 * msgs counts round trips completed within SECONDS; bytes the bytes echoed within SECONDS
 * (one direction); msgs_all also counts those completed while draining. lost = bytes sent but never echoed. Exit status 0 only if lost,
 * mismatched and errors are all 0. Connections are closed with a reset (SO_LINGER 0) so
 * that repeated runs do not pile up TIME_WAIT sockets on loopback.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_CONNECTING, ST_OPEN, ST_DEAD };

typedef struct {
    int fd;
    int state;
    int out_armed; /* EPOLLOUT registered */
    uint64_t seed, rng;
    uint64_t sent, recvd, msg_end; /* positions in the connection's byte stream */
} conn;

static conn *cs;
static long nconns;
static int ep;
static uint64_t mismatched, errors;
static unsigned char buf[1 << 16];

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t mix(uint64_t seed, uint64_t word) {
    uint64_t x = seed ^ (word * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return x;
}

/* Bytes [pos, pos+n) of the stream of `seed` (the same function as echo-client's). */
static void fill(uint64_t seed, uint64_t pos, unsigned char *p, size_t n) {
    while (n > 0) {
        uint64_t w = mix(seed, pos >> 3);
        unsigned off = (unsigned)(pos & 7);
        for (; off < 8 && n > 0; off++, n--, pos++) *p++ = (unsigned char)(w >> (off * 8));
    }
}

static uint64_t count_mismatches(uint64_t seed, uint64_t pos, const unsigned char *p, size_t n) {
    unsigned char exp[4096];
    uint64_t bad = 0;
    while (n > 0) {
        size_t k = n < sizeof exp ? n : sizeof exp;
        fill(seed, pos, exp, k);
        if (memcmp(exp, p, k) != 0)
            for (size_t i = 0; i < k; i++) bad += exp[i] != p[i];
        p += k;
        pos += k;
        n -= k;
    }
    return bad;
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void set_out(conn *c, int on) {
    if (c->out_armed == on) return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u64 = (uint64_t)(c - cs)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->out_armed = on;
}

static void kill_conn(conn *c, const char *why) {
    if (c->state == ST_DEAD) return;
    static int reported;
    if (reported++ < 5) fprintf(stderr, "verify-echo: connection %ld: %s\n", (long)(c - cs), why);
    errors++;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = ST_DEAD;
}

/* Write what is pending of the current message; arm EPOLLOUT on a short write. */
static void pump_out(conn *c) {
    while (c->sent < c->msg_end) {
        size_t n = c->msg_end - c->sent;
        if (n > sizeof buf) n = sizeof buf;
        fill(c->seed, c->sent, buf, n);
        ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            kill_conn(c, strerror(errno));
            return;
        }
        c->sent += (uint64_t)w;
        if ((size_t)w < n) break;
    }
    set_out(c, c->sent < c->msg_end);
}

static void start_message(conn *c, size_t min, size_t max) {
    size_t size = min + (max > min ? rng_next(&c->rng) % (max - min + 1) : 0);
    c->msg_end += size;
    pump_out(c);
}

/* Read what is there; returns 1 when the current message is complete. */
static int pump_in(conn *c) {
    ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0) {
        kill_conn(c, "closed by the server");
        return 0;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) kill_conn(c, strerror(errno));
        return 0;
    }
    if (c->recvd + (uint64_t)r > c->sent) {
        kill_conn(c, "received more bytes than were sent");
        return 0;
    }
    mismatched += count_mismatches(c->seed, c->recvd, buf, (size_t)r);
    c->recvd += (uint64_t)r;
    return c->recvd == c->msg_end;
}

static int parse_target(const char *a, struct sockaddr_storage *ss, socklen_t *sl) {
    const char *sep = strstr(a, "://");
    if (sep) a = sep + 3;
    char host[256];
    const char *port;
    if (a[0] == '[') {
        const char *rb = strchr(a, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - a - 1) >= sizeof host) return -1;
        memcpy(host, a + 1, (size_t)(rb - a - 1));
        host[rb - a - 1] = 0;
        port = rb + 2;
    } else {
        const char *colon = strrchr(a, ':');
        if (!colon || (size_t)(colon - a) >= sizeof host) return -1;
        memcpy(host, a, (size_t)(colon - a));
        host[colon - a] = 0;
        port = colon + 1;
    }
    if (!host[0]) strcpy(host, "127.0.0.1");
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int main(int argc, char **argv) {
    const char *target = NULL;
    double duration = 5, idle = -1, linger = 0;
    size_t min = 1, max = 65536;
    long max_connecting = 256;
    uint64_t seed = 0x5eed;
    nconns = 50;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-c") && v) nconns = atol(v), i++;
        else if (!strcmp(a, "-d") && v) duration = atof(v), i++;
        else if (!strcmp(a, "--size") && v) min = max = (size_t)atol(v), i++;
        else if (!strcmp(a, "--min") && v) min = (size_t)atol(v), i++;
        else if (!strcmp(a, "--max") && v) max = (size_t)atol(v), i++;
        else if (!strcmp(a, "--idle") && v) idle = atof(v), i++;
        else if (!strcmp(a, "--linger") && v) linger = atof(v), i++;
        else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 0), i++;
        else if (!strcmp(a, "--max-connecting") && v) max_connecting = atol(v), i++;
        else if (a[0] != '-' && !target) target = a;
        else {
            fprintf(stderr, "usage: verify-echo HOST:PORT [-c CONNS] [-d SECONDS] [--size N | "
                            "--min A --max B] [--idle SECONDS] [--linger SECONDS] [--seed S] "
                            "[--max-connecting K]\n");
            return 2;
        }
    }
    if (!target || nconns < 1 || min < 1 || max < min || max_connecting < 1) {
        fprintf(stderr, "verify-echo: bad arguments (try --help)\n");
        return 2;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_target(target, &ss, &sl) < 0) {
        fprintf(stderr, "verify-echo: bad address %s\n", target);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    cs = calloc((size_t)nconns, sizeof *cs);
    ep = epoll_create1(0);
    struct epoll_event *evs = calloc(1024, sizeof *evs);
    if (!cs || ep < 0 || !evs) return 1;
    uint64_t rng = seed | 1;

    /* ---- connect ---- */
    double t_conn = now_s();
    long next = 0, connecting = 0, open_n = 0;
    while (open_n + (long)errors < nconns) {
        while (next < nconns && connecting < max_connecting) {
            conn *c = &cs[next];
            c->seed = rng_next(&rng);
            c->rng = c->seed | 1;
            c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (c->fd < 0) {
                fprintf(stderr, "verify-echo: socket: %s (connection %ld)\n", strerror(errno), next);
                return 1;
            }
            int one = 1;
            struct linger lg = {1, 0};
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            if (connect(c->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
                fprintf(stderr, "verify-echo: connect: %s (connection %ld)\n", strerror(errno), next);
                return 1;
            }
            struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)next};
            epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
            c->state = ST_CONNECTING;
            c->out_armed = 1;
            connecting++;
            next++;
        }
        int n = epoll_wait(ep, evs, 1024, 1000);
        if (now_s() - t_conn > 60) {
            fprintf(stderr, "verify-echo: connecting took more than 60 s (%ld of %ld open)\n", open_n, nconns);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn *c = &cs[evs[i].data.u64];
            if (c->state != ST_CONNECTING) continue;
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
            connecting--;
            if (err) {
                kill_conn(c, strerror(err));
                continue;
            }
            c->state = ST_OPEN;
            set_out(c, 0);
            open_n++;
        }
    }
    double connect_secs = now_s() - t_conn;
    if (open_n == 0) {
        fprintf(stderr, "verify-echo: no connection could be opened\n");
        return 1;
    }

    /* ---- optional idle phase: one small round trip each, then nothing ---- */
    if (idle >= 0) {
        long pending = 0;
        for (long i = 0; i < nconns; i++)
            if (cs[i].state == ST_OPEN) start_message(&cs[i], 16, 16), pending++;
        double t = now_s();
        while (pending > 0 && now_s() - t < 30) {
            int n = epoll_wait(ep, evs, 1024, 1000);
            for (int i = 0; i < n; i++) {
                conn *c = &cs[evs[i].data.u64];
                if (c->state != ST_OPEN) continue;
                if (evs[i].events & EPOLLOUT) pump_out(c);
                if (c->state == ST_OPEN && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && pump_in(c)) pending--;
                if (c->state == ST_DEAD) pending--;
            }
        }
        printf("idle conns=%ld\n", open_n - (long)errors);
        fflush(stdout);
        struct timespec ts = {(time_t)idle, (long)((idle - (double)(time_t)idle) * 1e9)};
        nanosleep(&ts, NULL);
    }

    /* ---- load ---- */
    uint64_t msgs = 0, msgs_all = 0, bytes = 0;
    double t0 = now_s(), deadline = t0 + duration, t_end = deadline;
    int running = duration > 0;
    if (running)
        for (long i = 0; i < nconns; i++)
            if (cs[i].state == ST_OPEN) start_message(&cs[i], min, max);
    while (running) {
        int n = epoll_wait(ep, evs, 1024, 100);
        double now = now_s();
        if (now >= deadline) {
            running = 0;
            t_end = now;
        }
        for (int i = 0; i < n; i++) {
            conn *c = &cs[evs[i].data.u64];
            if (c->state != ST_OPEN) continue;
            if (evs[i].events & EPOLLOUT) pump_out(c);
            if (c->state != ST_OPEN || !(evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            uint64_t before = c->recvd;
            int done = pump_in(c);
            if (running) bytes += c->recvd - before;
            msgs_all += done;
            if (done && running) {
                msgs++;
                start_message(c, min, max);
            }
        }
    }
    /* ---- drain: wait for every byte still on the way ---- */
    double td = now_s();
    for (;;) {
        long outstanding = 0;
        for (long i = 0; i < nconns; i++)
            if (cs[i].state == ST_OPEN && cs[i].recvd < cs[i].msg_end) outstanding++;
        if (outstanding == 0 || now_s() - td > 5) break;
        int n = epoll_wait(ep, evs, 1024, 100);
        for (int i = 0; i < n; i++) {
            conn *c = &cs[evs[i].data.u64];
            if (c->state != ST_OPEN) continue;
            if (evs[i].events & EPOLLOUT) pump_out(c);
            if (c->state == ST_OPEN && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) msgs_all += pump_in(c);
        }
    }
    uint64_t lost = 0;
    for (long i = 0; i < nconns; i++)
        if (cs[i].state != ST_CONNECTING && cs[i].fd > 0)
            lost += cs[i].msg_end - cs[i].recvd; /* includes what could not even be sent */
    double secs = t_end - t0;
    printf("result conns=%ld secs=%.3f msgs=%llu msgs_per_s=%.1f bytes=%llu mib_per_s=%.2f msgs_all=%llu "
           "lost=%llu mismatched=%llu errors=%llu connect_secs=%.3f\n",
           open_n, secs, (unsigned long long)msgs, secs > 0 ? (double)msgs / secs : 0.0,
           (unsigned long long)bytes, secs > 0 ? (double)bytes / 1048576.0 / secs : 0.0,
           (unsigned long long)msgs_all, (unsigned long long)lost, (unsigned long long)mismatched,
           (unsigned long long)errors, connect_secs);
    fflush(stdout);
    if (linger > 0) {
        struct timespec ts = {(time_t)linger, (long)((linger - (double)(time_t)linger) * 1e9)};
        nanosleep(&ts, NULL);
    }
    for (long i = 0; i < nconns; i++)
        if (cs[i].state == ST_OPEN) close(cs[i].fd);
    return lost == 0 && mismatched == 0 && errors == 0 ? 0 : 1;
}
