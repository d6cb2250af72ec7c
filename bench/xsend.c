/*
 * xsend — cross-thread send throughput: messages per second that producer threads push into
 * one evio loop with evio_conn_send() ("work from any thread", issue #12).
 *
 *   xsend serve ADDRESS [--producers P]     (ADDRESS e.g. tcp://127.0.0.1:0, tcp-net://...)
 *   xsend load HOST:PORT [-n K] [--producers P]
 *
 * serve: an evio server with one loop. P producer threads (default 2) are created at start,
 * before any load, so a profiler attached to the process counts them, and wait. A client
 * that connects and sends K (8 bytes, host order) makes each producer send K messages of
 * 64 bytes to that connection with evio_conn_send(), from its own thread; the loop writes
 * them to the socket. Flow control keeps the memory bounded whatever the rates: the client
 * sends back how many messages it has received (8 bytes, every ACK_EVERY messages), and the
 * producers wait while more than WINDOW messages are on the way. One job at a time.
 *
 * load: plain POSIX, blocking. Connects, sends K, reads P*K messages and checks every one:
 * its producer, its number (in order per producer) and its 48 filler bytes. Prints
 *   result msgs=.. secs=.. msgs_per_s=.. out_of_order=.. mismatched=.. errors=..
 * and exits 0 only if every message came, in order and unchanged.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <evio.h>

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 64
#define MAX_PRODUCERS 16
#define WINDOW 16384   /* messages sent and not yet acknowledged, at most (1 MiB) */
#define ACK_EVERY 1024 /* the client acknowledges this often */

typedef struct {
    uint32_t producer;
    uint32_t zero;
    uint64_t seq;
    unsigned char filler[MSG_SIZE - 16];
} message;

static void make_message(message *m, uint32_t producer, uint64_t seq) {
    m->producer = producer;
    m->zero = 0;
    m->seq = seq;
    for (size_t i = 0; i < sizeof m->filler; i++)
        m->filler[i] = (unsigned char)(seq * 7 + producer * 13 + i);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- serve ------------------------------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t job_cv; /* a new job */
    pthread_cond_t ack_cv; /* acked moved, or the job's connection closed */
    int producers;
    uint64_t job; /* generation: a producer runs each one once */
    uint64_t k;
    evio_conn *conn; /* the job's connection (each producer holds a reference) */
    int running;     /* producers still sending */
    int conn_closed; /* the job's connection closed: stop */
    _Atomic uint64_t sent, acked;
} job = {.mu = PTHREAD_MUTEX_INITIALIZER,
         .job_cv = PTHREAD_COND_INITIALIZER,
         .ack_cv = PTHREAD_COND_INITIALIZER,
         .producers = 2};

typedef struct {
    unsigned char word[8]; /* a partial 8-byte word */
    size_t have;
    uint64_t words; /* complete words received: the first is K, the rest acks */
} client_state;

/* Waits while the window is full; 0, or -1 once the job's connection is gone. */
static int wait_window(void) {
    if (atomic_load(&job.sent) - atomic_load(&job.acked) < WINDOW)
        return 0;
    pthread_mutex_lock(&job.mu);
    while (!job.conn_closed && atomic_load(&job.sent) - atomic_load(&job.acked) >= WINDOW)
        pthread_cond_wait(&job.ack_cv, &job.mu);
    int gone = job.conn_closed;
    pthread_mutex_unlock(&job.mu);
    return gone ? -1 : 0;
}

static void *producer_main(void *arg) {
    const uint32_t id = (uint32_t)(uintptr_t)arg;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&job.mu);
        while (job.job == seen)
            pthread_cond_wait(&job.job_cv, &job.mu);
        seen = job.job;
        evio_conn *c = job.conn;
        const uint64_t k = job.k;
        pthread_mutex_unlock(&job.mu);
        message m;
        for (uint64_t seq = 0; seq < k; seq++) {
            if (wait_window() != 0)
                break;
            make_message(&m, id, seq);
            if (evio_conn_send(c, &m, sizeof m) != 0)
                break;
            atomic_fetch_add(&job.sent, 1);
        }
        evio_conn_unref(c);
        pthread_mutex_lock(&job.mu);
        job.running--;
        pthread_mutex_unlock(&job.mu);
    }
    return NULL;
}

/* The first word of a connection: start a job (unless one runs). 0, or -1 to close. */
static int start_job(evio_conn *c, uint64_t k) {
    pthread_mutex_lock(&job.mu);
    int busy = job.running > 0;
    if (!busy) {
        for (int i = 0; i < job.producers; i++)
            evio_conn_ref(c);
        job.conn = c;
        job.k = k;
        job.running = job.producers;
        job.conn_closed = 0;
        atomic_store(&job.sent, 0);
        atomic_store(&job.acked, 0);
        job.job++;
        pthread_cond_broadcast(&job.job_cv);
    }
    pthread_mutex_unlock(&job.mu);
    return busy ? -1 : 0;
}

static void take_ack(uint64_t acked) {
    pthread_mutex_lock(&job.mu);
    atomic_store(&job.acked, acked);
    pthread_cond_broadcast(&job.ack_cv);
    pthread_mutex_unlock(&job.mu);
}

static evio_action opened(evio_conn *c, void *udata) {
    (void)udata;
    client_state *s = calloc(1, sizeof *s);
    if (!s)
        return EVIO_CLOSE;
    evio_conn_set_context(c, s);
    return EVIO_NONE;
}

static evio_action data(evio_conn *c, const void *in, size_t len, void *udata) {
    (void)udata;
    client_state *s = evio_conn_context(c);
    const unsigned char *p = in;
    for (size_t i = 0; i < len; i++) {
        s->word[s->have++] = p[i];
        if (s->have < sizeof s->word)
            continue;
        uint64_t w;
        memcpy(&w, s->word, sizeof w);
        s->have = 0;
        if (s->words++ == 0) {
            if (start_job(c, w) != 0)
                return EVIO_CLOSE;
        } else {
            take_ack(w);
        }
    }
    return EVIO_NONE;
}

static evio_action closed(evio_conn *c, int err, void *udata) {
    (void)err;
    (void)udata;
    free(evio_conn_context(c));
    pthread_mutex_lock(&job.mu);
    if (job.conn == c) {
        job.conn_closed = 1;
        pthread_cond_broadcast(&job.ack_cv);
    }
    pthread_mutex_unlock(&job.mu);
    return EVIO_NONE;
}

static evio_action serving(evio_server *server, void *udata) {
    (void)udata;
    char addr[256];
    evio_server_addr_string(server, 0, addr, sizeof addr);
    printf("xsend: serving on %s with %d producer threads\n", addr, job.producers);
    fflush(stdout);
    return EVIO_NONE;
}

static int serve(const char *addr) {
    for (int i = 0; i < job.producers; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, producer_main, (void *)(uintptr_t)i) != 0)
            return 1;
        pthread_detach(t);
    }
    evio_events ev = EVIO_EVENTS_INIT;
    ev.num_loops = 1;
    ev.serving = serving;
    ev.opened = opened;
    ev.data = data;
    ev.closed = closed;
    if (evio_serve(&ev, &addr, 1) != 0) {
        fprintf(stderr, "xsend: %s\n", evio_last_error());
        return 1;
    }
    return 0;
}

/* ---- load ------------------------------------------------------------------------------- */

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
    struct timeval tv = {10, 0}; /* no message for 10 s: the run failed */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

typedef struct {
    uint64_t next[MAX_PRODUCERS]; /* the number each producer's next message must have */
    uint64_t got, out_of_order, mismatched;
} tally;

static void check_message(tally *t, const unsigned char *p, int producers) {
    message m, want;
    memcpy(&m, p, sizeof m);
    t->got++;
    if (m.producer >= (uint32_t)producers) {
        t->mismatched++;
        return;
    }
    if (m.seq != t->next[m.producer])
        t->out_of_order++;
    t->next[m.producer] = m.seq + 1;
    make_message(&want, m.producer, m.seq);
    if (memcmp(&m, &want, sizeof m) != 0)
        t->mismatched++;
}

static int send_word(int fd, uint64_t w) {
    return send(fd, &w, sizeof w, MSG_NOSIGNAL) == (ssize_t)sizeof w ? 0 : -1;
}

static int load(const char *hostport, uint64_t k, int producers) {
    int fd = dial(hostport);
    if (fd < 0) {
        fprintf(stderr, "xsend: cannot connect to %s\n", hostport);
        return 1;
    }
    static unsigned char buf[1 << 18];
    size_t have = 0;
    tally t = {0};
    const uint64_t all = k * (uint64_t)producers;
    int errors = 0;
    const double t0 = now_s();
    if (send_word(fd, k) != 0)
        errors++;
    while (!errors && t.got < all) {
        ssize_t n = recv(fd, buf + have, sizeof buf - have, 0);
        if (n <= 0) {
            fprintf(stderr, "xsend: recv: %s after %llu messages\n", n ? strerror(errno) : "EOF",
                    (unsigned long long)t.got);
            errors++;
            break;
        }
        have += (size_t)n;
        size_t off = 0;
        for (; have - off >= MSG_SIZE; off += MSG_SIZE) {
            check_message(&t, buf + off, producers);
            if (t.got % ACK_EVERY == 0 && send_word(fd, t.got) != 0)
                errors++;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    const double secs = now_s() - t0;
    close(fd);
    printf("result msgs=%llu secs=%.3f msgs_per_s=%.1f out_of_order=%llu mismatched=%llu "
           "errors=%d\n",
           (unsigned long long)t.got, secs, (double)t.got / secs,
           (unsigned long long)t.out_of_order, (unsigned long long)t.mismatched, errors);
    return errors || t.out_of_order || t.mismatched || t.got != all;
}

static int usage(void) {
    fprintf(stderr, "usage: xsend serve ADDRESS [--producers P]\n"
                    "       xsend load HOST:PORT [-n K] [--producers P]\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 3)
        return usage();
    uint64_t k = 100000;
    int producers = 2;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            k = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--producers") && i + 1 < argc)
            producers = atoi(argv[++i]);
        else
            return usage();
    }
    if (producers < 1 || producers > MAX_PRODUCERS || k == 0)
        return usage();
    job.producers = producers;
    if (!strcmp(argv[1], "serve"))
        return serve(argv[2]);
    if (!strcmp(argv[1], "load"))
        return load(argv[2], k, producers);
    return usage();
}
