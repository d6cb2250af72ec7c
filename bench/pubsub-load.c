/*
 * pubsub-load — a pub/sub fan-out load client for Redis-protocol servers (one thread, epoll).
 *
 *   pubsub-load HOST:PORT [-s SUBSCRIBERS] [-d SECONDS | -n MESSAGES] [--size BYTES]
 *               [--window W] [--channel NAME] [--idle SECONDS] [--linger SECONDS]
 *
 * SUBSCRIBERS connections (default 100) SUBSCRIBE to one channel; once every one has its
 * confirmation, one more connection PUBLISHes messages of BYTES bytes (default 64) to it,
 * pipelined, for SECONDS (default 5) or MESSAGES messages, with at most W (default 256)
 * messages on the way: published, and not yet received by every subscriber. The publisher
 * counts the `:<n>` replies (n should be SUBSCRIBERS); every subscriber checks every
 * `message` push it gets: the channel, the number at the start of the payload (0, 1, 2, …
 * in order) and the filler bytes after it (a function of that number). When the time is up
 * it stops publishing and waits (up to 5 s) for what is still on the way.
 *
 * --idle S:   once all are subscribed, print "idle subscribers=N" and wait S seconds before
 *             publishing (time to attach a profiler after the set-up).
 * --linger S: after the result line, keep the connections open S seconds.
 *
 * Prints one line of key=value pairs:
 *   result subscribers=.. secs=.. published=.. delivered=.. delivered_per_s=..
 *          published_per_s=.. lost=.. out_of_order=.. mismatched=.. errors=.. bad_replies=..
 * secs runs from the first publish to the last delivery; delivered counts the messages
 * received over all subscribers; lost = published x subscribers - delivered; bad_replies
 * counts replies whose count is not SUBSCRIBERS. Exit status 0 only if lost, out_of_order,
 * mismatched and errors are all 0.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEQ_DIGITS 16 /* the payload starts with its number, zero-padded */
#define DRAIN_SECS 5.0

typedef struct {
    int fd;
    unsigned char *in; /* received, not yet parsed */
    size_t have, cap;
    uint64_t next; /* the number of the next message it must receive */
    int subscribed;
    int dead;
} peer;

static peer *subs, pub;
static int nsubs = 100;
static size_t msg_size = 64;
static const char *channel = "bench";
static unsigned char *alphabet; /* "abc…zabc…", msg_size + 26 long: the filler */
static uint64_t out_of_order, mismatched, errors, bad_replies, replies, delivered;
static int ep;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---- connections --------------------------------------------------------------------------- */

static int dial(const char *hostport) {
    char host[256];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return -1;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0), one = 1;
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct linger lg = {1, 0}; /* close with a reset: no TIME_WAIT pile-up over runs */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    return fd;
}

static int open_peer(peer *p, const char *hostport, uint32_t tag) {
    p->fd = dial(hostport);
    if (p->fd < 0)
        return -1;
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    p->cap = 4 * msg_size + 65536;
    p->in = malloc(p->cap);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};
    if (!p->in || epoll_ctl(ep, EPOLL_CTL_ADD, p->fd, &ev) != 0)
        return -1;
    return 0;
}

static int send_all(int fd, const void *buf, size_t len) { /* a small command, at set-up */
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- RESP: just what a subscriber and a publisher receive ---------------------------------- */

typedef struct {
    int n;                     /* elements of the array (or 1 for a bare integer) */
    char type[3];              /* '$' bulk or ':' integer, per element */
    const unsigned char *s[3]; /* bulk contents */
    size_t len[3];
    long long num[3];
} frame;

/* A "\r\n"-terminated line at p: its length (without "\r\n"), or -1 if incomplete. */
static long line_len(const unsigned char *p, size_t avail) {
    const unsigned char *nl = memchr(p, '\n', avail);
    if (!nl || nl == p || nl[-1] != '\r')
        return nl ? -2 : -1;
    return (long)(nl - p) - 1;
}

/* One element at p (`$` bulk or `:` integer) into f->…[i]; bytes used, 0 incomplete, -1 bad. */
static long parse_element(const unsigned char *p, size_t avail, frame *f, int i) {
    long l = line_len(p, avail);
    if (l < -1 || (l >= 0 && l < 2))
        return -1;
    if (l < 0)
        return 0;
    long long v = strtoll((const char *)p + 1, NULL, 10);
    f->type[i] = (char)p[0];
    if (p[0] == ':') {
        f->num[i] = v;
        return l + 2;
    }
    if (p[0] != '$' || v < 0)
        return -1;
    size_t need = (size_t)l + 2 + (size_t)v + 2;
    if (avail < need)
        return 0;
    f->s[i] = p + l + 2;
    f->len[i] = (size_t)v;
    return (long)need;
}

/* One frame at p: an array of up to 3 elements, or a bare integer. Bytes used, 0, or -1. */
static long parse_frame(const unsigned char *p, size_t avail, frame *f) {
    if (avail == 0)
        return 0;
    if (p[0] == ':') {
        f->n = 1;
        return parse_element(p, avail, f, 0);
    }
    long l = line_len(p, avail);
    if (l == -1)
        return 0;
    if (p[0] != '*' || l < 2)
        return -1;
    f->n = atoi((const char *)p + 1);
    if (f->n < 1 || f->n > 3)
        return -1;
    size_t off = (size_t)l + 2;
    for (int i = 0; i < f->n; i++) {
        long k = parse_element(p + off, avail - off, f, i);
        if (k <= 0)
            return k;
        off += (size_t)k;
    }
    return (long)off;
}

static int bulk_is(const frame *f, int i, const char *s) {
    return f->type[i] == '$' && f->len[i] == strlen(s) && !memcmp(f->s[i], s, f->len[i]);
}

/* ---- what the subscribers and the publisher get --------------------------------------------- */

static void make_payload(unsigned char *out, uint64_t seq) {
    char digits[SEQ_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*llu", SEQ_DIGITS, (unsigned long long)seq);
    memcpy(out, digits, SEQ_DIGITS);
    memcpy(out + SEQ_DIGITS, alphabet + seq % 26, msg_size - SEQ_DIGITS);
}

static void check_message(peer *p, const frame *f) {
    delivered++;
    if (f->type[2] != '$' || f->len[2] != msg_size || !bulk_is(f, 1, channel)) {
        mismatched++;
        return;
    }
    char digits[SEQ_DIGITS + 1];
    memcpy(digits, f->s[2], SEQ_DIGITS);
    digits[SEQ_DIGITS] = 0;
    uint64_t seq = strtoull(digits, NULL, 10);
    if (seq != p->next)
        out_of_order++;
    p->next = seq + 1;
    if (memcmp(f->s[2] + SEQ_DIGITS, alphabet + seq % 26, msg_size - SEQ_DIGITS) != 0)
        mismatched++;
}

static void on_sub_frame(peer *p, const frame *f) {
    if (f->n == 3 && bulk_is(f, 0, "message"))
        check_message(p, f);
    else if (f->n == 3 && bulk_is(f, 0, "subscribe"))
        p->subscribed = 1;
    else
        errors++;
}

static void on_pub_frame(const frame *f) {
    replies++;
    if (f->n != 1 || f->type[0] != ':') {
        errors++;
        return;
    }
    if (f->num[0] != nsubs)
        bad_replies++;
}

/* Reads what a peer has and handles every complete frame in it. */
static void read_peer(peer *p, int is_pub) {
    ssize_t n = recv(p->fd, p->in + p->have, p->cap - p->have, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        fprintf(stderr, "pubsub-load: %s: %s\n", is_pub ? "publisher" : "subscriber",
                n ? strerror(errno) : "closed by the server");
        errors++;
        p->dead = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
        return;
    }
    p->have += (size_t)n;
    size_t off = 0;
    frame f;
    long k;
    while ((k = parse_frame(p->in + off, p->have - off, &f)) > 0) {
        if (is_pub)
            on_pub_frame(&f);
        else
            on_sub_frame(p, &f);
        off += (size_t)k;
    }
    if (k < 0) {
        fprintf(stderr, "pubsub-load: protocol error from the server\n");
        errors++;
        off = p->have; /* skip it: the run is failed anyway */
    }
    memmove(p->in, p->in + off, p->have - off);
    p->have -= off;
}

/* ---- the publisher's pipeline ---------------------------------------------------------------- */

static unsigned char *out; /* PUBLISH commands not yet written */
static size_t out_len, out_off, out_cap, cmd_size;
static int out_armed; /* EPOLLOUT registered for the publisher */
static uint64_t published;

static void append_publish(void) {
    int h = snprintf((char *)out + out_len, out_cap - out_len,
                     "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(channel), channel,
                     msg_size);
    make_payload(out + out_len + h, published++);
    memcpy(out + out_len + h + msg_size, "\r\n", 2);
    out_len += (size_t)h + msg_size + 2;
}

static void flush_publisher(void) {
    while (out_off < out_len) {
        ssize_t n = send(pub.fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            errors++;
            pub.dead = 1;
            return;
        }
        out_off += (size_t)n;
    }
    memmove(out, out + out_off, out_len - out_off);
    out_len -= out_off;
    out_off = 0;
    if (out_armed != (out_len > 0)) {
        out_armed = out_len > 0;
        struct epoll_event ev = {.events = EPOLLIN | (out_armed ? EPOLLOUT : 0), .data.u32 = 0};
        epoll_ctl(ep, EPOLL_CTL_MOD, pub.fd, &ev);
    }
}

static uint64_t min_received(void) {
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < nsubs; i++)
        if (!subs[i].dead && subs[i].next < m)
            m = subs[i].next;
    return m == UINT64_MAX ? published : m;
}

/* Publishes while fewer than `window` messages are on the way (and `limit` not reached). */
static void publish_more(uint64_t window, uint64_t limit) {
    uint64_t floor = min_received();
    size_t room_msgs = (out_cap - out_len) / cmd_size;
    int added = 0;
    while (published - floor < window && published < limit && room_msgs-- > 0) {
        append_publish();
        added = 1;
    }
    if (added || out_len)
        flush_publisher();
}

/* ---- the run --------------------------------------------------------------------------------- */

static void poll_once(int timeout_ms) {
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint32_t tag = evs[i].data.u32;
        if (tag == 0) {
            if (evs[i].events & EPOLLOUT)
                flush_publisher();
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                read_peer(&pub, 1);
        } else {
            read_peer(&subs[tag - 1], 0);
        }
    }
}

static int subscribe_all(const char *hostport) {
    char cmd[512];
    int len = snprintf(cmd, sizeof cmd, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", strlen(channel),
                       channel);
    for (int i = 0; i < nsubs; i++) {
        if (open_peer(&subs[i], hostport, (uint32_t)i + 1) != 0 ||
            send_all(subs[i].fd, cmd, (size_t)len) != 0) {
            fprintf(stderr, "pubsub-load: subscriber %d: cannot connect to %s\n", i, hostport);
            return -1;
        }
    }
    const double deadline = now_s() + 10;
    int done = 0;
    while (done < nsubs && now_s() < deadline && !errors) {
        poll_once(100);
        done = 0;
        for (int i = 0; i < nsubs; i++)
            done += subs[i].subscribed;
    }
    if (done < nsubs)
        fprintf(stderr, "pubsub-load: %d of %d subscribed\n", done, nsubs);
    return done == nsubs && !errors ? 0 : -1;
}

static int all_delivered(void) {
    return min_received() == published;
}

int main(int argc, char **argv) {
    double duration = 5, idle = -1, linger = 0;
    uint64_t window = 256, count = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto usage;
        if (!strcmp(a, "-s"))
            nsubs = atoi(v);
        else if (!strcmp(a, "-d"))
            duration = atof(v);
        else if (!strcmp(a, "-n"))
            count = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--size"))
            msg_size = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--window"))
            window = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--channel"))
            channel = v;
        else if (!strcmp(a, "--idle"))
            idle = atof(v);
        else if (!strcmp(a, "--linger"))
            linger = atof(v);
        else
            goto usage;
        i++;
    }
    if (argc < 2 || nsubs < 1 || msg_size < SEQ_DIGITS || window < 1 || strlen(channel) > 200)
        goto usage;

    alphabet = malloc(msg_size + 26);
    for (size_t i = 0; i < msg_size + 26; i++)
        alphabet[i] = (unsigned char)('a' + i % 26);
    cmd_size = 64 + strlen(channel) + msg_size;
    out_cap = cmd_size * 1024;
    out = malloc(out_cap);
    subs = calloc((size_t)nsubs, sizeof *subs);
    ep = epoll_create1(0);
    if (!alphabet || !out || !subs || ep < 0)
        return 1;

    if (subscribe_all(argv[1]) != 0 || open_peer(&pub, argv[1], 0) != 0) {
        fprintf(stderr, "pubsub-load: set-up failed\n");
        return 1;
    }
    if (idle >= 0) {
        printf("idle subscribers=%d\n", nsubs);
        fflush(stdout);
        sleep_s(idle);
    }
    const double t0 = now_s(), stop = t0 + duration;
    const uint64_t limit = count ? count : UINT64_MAX;
    while (!pub.dead && (count ? published < count : now_s() < stop)) {
        publish_more(window, limit);
        poll_once(10);
    }
    const double drain_end = now_s() + DRAIN_SECS;
    while ((!all_delivered() || replies < published) && !pub.dead && now_s() < drain_end) {
        if (out_len)
            flush_publisher();
        poll_once(10);
    }
    const double secs = now_s() - t0;
    const uint64_t lost = published * (uint64_t)nsubs - delivered;
    printf("result subscribers=%d secs=%.3f published=%llu delivered=%llu delivered_per_s=%.1f "
           "published_per_s=%.1f lost=%llu out_of_order=%llu mismatched=%llu errors=%llu "
           "bad_replies=%llu\n",
           nsubs, secs, (unsigned long long)published, (unsigned long long)delivered,
           (double)delivered / secs, (double)published / secs, (unsigned long long)lost,
           (unsigned long long)out_of_order, (unsigned long long)mismatched,
           (unsigned long long)errors, (unsigned long long)bad_replies);
    fflush(stdout);
    if (linger > 0)
        sleep_s(linger);
    return lost || out_of_order || mismatched || errors;
usage:
    fprintf(stderr, "usage: pubsub-load HOST:PORT [-s SUBSCRIBERS] [-d SECONDS | -n MESSAGES] "
                    "[--size BYTES] [--window W] [--channel NAME] [--idle S] [--linger S]\n");
    return 2;
}
