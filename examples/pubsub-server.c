/*
 * pubsub-server — Redis's publish/subscribe on evio, over several loops (evio's pub/sub
 * example, in C): SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PING, QUIT and RESET, answered byte for
 * byte as Redis 7 answers them in RESP2 (redis-cli, client libraries); the protocol parser
 * is the redis example's (redis_proto.c).
 *
 *   pubsub-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *                 [--output-limit BYTES]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:6381).
 * Try it:  pubsub-server --loops 2 &   redis-cli -p 6381 subscribe news   (and, elsewhere)
 *          redis-cli -p 6381 publish news hello
 *
 * The channel table, and how a message crosses loops:
 *  - One table, shared by every loop, under one mutex (`ps.mu`): the channels by name, each
 *    with the list of its subscriptions; each client keeps the list of its own (for
 *    UNSUBSCRIBE with no channel, RESET and `closed`); and a hash on (channel, client) finds
 *    one subscription, so that subscribing again is O(1). A client's subscriptions are added
 *    and removed only on its own loop (by its commands, and by its `closed`).
 *  - PUBLISH takes the mutex, copies the channel's subscribers (the connection, and whether
 *    it lives on this loop) into a per-thread array and takes a reference on each
 *    (evio_conn_ref); releases the mutex; then writes the message to each and drops the
 *    reference: evio_conn_write() for a subscriber on the publisher's own loop,
 *    evio_conn_send() (for any thread; it copies the bytes and the subscriber's loop
 *    appends them) for one on another loop. The mutex is held for the copy only, not for
 *    the sends.
 *  - Why every pointer is valid: a connection's memory lives at least until its `closed`
 *    returns, and `closed` removes the client's subscriptions under the mutex; so under the
 *    mutex the table holds no freed connection, and the reference taken there keeps the
 *    memory after the mutex is released, however the subscriber's close races with the
 *    send (which then answers EVIO_ENOTCONN: that subscriber is not counted).
 *  - Why not one table per loop, with posts between loops: PUBLISH answers the number of
 *    receivers at once, in order with the publisher's other replies; per-loop tables would
 *    need a round trip through every loop before that answer.
 *  - Order: the messages of one publisher reach every subscriber in the order published.
 *    Unlike Redis (one thread, one order for all), messages of publishers on different
 *    loops may reach subscribers on different loops in different orders, and a message
 *    published while a subscriber on another loop unsubscribes may arrive just after its
 *    unsubscribe confirmation.
 *
 * Bounded memory: a subscribed client gets the output limit --output-limit (default 32 MiB,
 * the hard limit of Redis's `client-output-buffer-limit pubsub`; 0: none): a subscriber
 * that does not read is closed once that much output is pending for it (`closed` with
 * EVIO_ENOBUFS; PUBLISH does not count it), instead of growing the server without end.
 * Other clients have no limit: their replies are small, and a client that does not read
 * them stops being read (the library's watermarks). One command is at most
 * REDIS_MAX_COMMAND_BYTES (64 MiB).
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include "example.h"     /* main(): the command line, Ctrl-C, the "serving on" line */
#include "redis_proto.h" /* the protocol parser */

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t output_limit = (size_t)32 << 20; /* --output-limit */

/* ---- a small intrusive hash table: chains of nodes that start with an hnode ------------- */

typedef struct hnode {
    struct hnode *next;
    uint64_t hash;
} hnode;

typedef struct {
    hnode **b;
    size_t n; /* buckets: a power of two, or 0 */
    size_t count;
} htable;

static hnode *table_chain(const htable *t, uint64_t h) {
    return t->n ? t->b[h & (t->n - 1)] : NULL;
}

static int table_resize(htable *t, size_t n) {
    hnode **b = calloc(n, sizeof *b);
    if (!b)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        for (hnode *e = t->b[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(t->b);
    t->b = b;
    t->n = n;
    return 0;
}

static int table_add(htable *t, hnode *e) {
    if (t->count >= t->n && table_resize(t, t->n ? t->n * 2 : 16) < 0)
        return -1;
    hnode **head = &t->b[e->hash & (t->n - 1)];
    e->next = *head;
    *head = e;
    t->count++;
    return 0;
}

static void table_remove(htable *t, hnode *e) {
    hnode **pp = &t->b[e->hash & (t->n - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    t->count--;
    if (t->count == 0) { /* nothing left: let the buckets go */
        free(t->b);
        t->b = NULL;
        t->n = 0;
    } else if (t->n > 16 && t->count < t->n / 8) {
        table_resize(t, t->n / 2); /* on failure it stays as large as it was */
    }
}

/* ---- channels, clients, subscriptions: the shared table, under ps.mu ------------------ */

typedef struct subscription subscription;

typedef struct channel {
    hnode h;             /* in ps.channels, by name */
    subscription *first; /* its subscriptions */
    size_t count;
    size_t len;
    unsigned char name[]; /* len bytes */
} channel;

/* One connection. The loop it belongs to is the only one that changes its fields; `subs`
 * and `nsubs` change under ps.mu. */
typedef struct client {
    evio_input_stream in;
    redis_parser parser;
    evio_conn *conn;
    pthread_t loop;     /* the loop's thread */
    subscription *subs; /* its subscriptions */
    size_t nsubs;
} client;

struct subscription {
    hnode h; /* in ps.pairs, by (channel, client) */
    channel *ch;
    client *cl;
    subscription *ch_prev, *ch_next; /* the channel's list */
    subscription *cl_prev, *cl_next; /* the client's list */
};

static struct {
    pthread_mutex_t mu;
    htable channels; /* channel, by name */
    htable pairs;    /* subscription, by (channel, client) */
} ps = {PTHREAD_MUTEX_INITIALIZER, {NULL, 0, 0}, {NULL, 0, 0}};

static uint64_t hash_bytes(const unsigned char *p, size_t n) { /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(const channel *ch, const client *cl) {
    uint64_t h = (uint64_t)(uintptr_t)ch * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)cl;
    return (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9ULL;
}

static channel *channel_find(const unsigned char *name, size_t len, uint64_t h) {
    for (hnode *e = table_chain(&ps.channels, h); e; e = e->next) {
        channel *ch = (channel *)e;
        if (e->hash == h && ch->len == len && memcmp(ch->name, name, len) == 0)
            return ch;
    }
    return NULL;
}

static subscription *subscription_find(const channel *ch, const client *cl) {
    uint64_t h = hash_pair(ch, cl);
    for (hnode *e = table_chain(&ps.pairs, h); e; e = e->next) {
        subscription *s = (subscription *)e;
        if (s->ch == ch && s->cl == cl)
            return s;
    }
    return NULL;
}

static channel *channel_add(const unsigned char *name, size_t len, uint64_t h) {
    channel *ch = malloc(sizeof *ch + len);
    if (!ch)
        return NULL;
    ch->h.hash = h;
    ch->first = NULL;
    ch->count = 0;
    ch->len = len;
    memcpy(ch->name, name, len);
    if (table_add(&ps.channels, &ch->h) < 0) {
        free(ch);
        return NULL;
    }
    return ch;
}

static void channel_drop_if_empty(channel *ch) {
    if (ch->count > 0)
        return;
    table_remove(&ps.channels, &ch->h);
    free(ch);
}

/* Subscribes `cl` to a channel. Returns 0 (also when it was subscribed already) or -1
 * (out of memory). Under ps.mu, on the client's loop. */
static int subscribe(client *cl, const unsigned char *name, size_t len) {
    uint64_t h = hash_bytes(name, len);
    channel *ch = channel_find(name, len, h);
    if (ch && subscription_find(ch, cl))
        return 0;
    if (!ch && !(ch = channel_add(name, len, h)))
        return -1;
    subscription *s = malloc(sizeof *s);
    if (!s) {
        channel_drop_if_empty(ch);
        return -1;
    }
    s->h.hash = hash_pair(ch, cl);
    s->ch = ch;
    s->cl = cl;
    if (table_add(&ps.pairs, &s->h) < 0) {
        free(s);
        channel_drop_if_empty(ch);
        return -1;
    }
    s->ch_prev = NULL;
    s->ch_next = ch->first;
    if (ch->first)
        ch->first->ch_prev = s;
    ch->first = s;
    ch->count++;
    s->cl_prev = NULL;
    s->cl_next = cl->subs;
    if (cl->subs)
        cl->subs->cl_prev = s;
    cl->subs = s;
    cl->nsubs++;
    return 0;
}

/* Removes one subscription (and its channel, if it was the last). Under ps.mu, on the
 * client's loop. */
static void unsubscribe(subscription *s) {
    channel *ch = s->ch;
    client *cl = s->cl;
    if (s->ch_prev)
        s->ch_prev->ch_next = s->ch_next;
    else
        ch->first = s->ch_next;
    if (s->ch_next)
        s->ch_next->ch_prev = s->ch_prev;
    if (s->cl_prev)
        s->cl_prev->cl_next = s->cl_next;
    else
        cl->subs = s->cl_next;
    if (s->cl_next)
        s->cl_next->cl_prev = s->cl_prev;
    ch->count--;
    cl->nsubs--;
    table_remove(&ps.pairs, &s->h);
    free(s);
    channel_drop_if_empty(ch);
}

/* ---- per-thread scratch: the replies, the message, the receivers, the arguments -------- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} outbuf;

typedef struct {
    const unsigned char *p;
    size_t len;
} arg;

typedef struct {
    evio_conn *conn;
    int local; /* on the publisher's loop */
} receiver;

typedef struct {
    outbuf out; /* the replies of one data call, written once */
    outbuf msg; /* the message PUBLISH sends */
    receiver *to;
    size_t to_cap;
    arg *argv;
    size_t argv_cap;
    int registered;
} scratch;

static __thread scratch S;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch *s = p;
    free(s->out.p);
    free(s->msg.p);
    free(s->to);
    free(s->argv);
    memset(s, 0, sizeof *s);
}

static void scratch_key_create(void) {
    pthread_key_create(&scratch_key, scratch_free);
}

static void scratch_register(void) {
    pthread_once(&scratch_once, scratch_key_create);
    pthread_setspecific(scratch_key, &S);
    S.registered = 1;
}

/* Does not keep huge buffers after the command that needed them. */
static void scratch_trim(void) {
    outbuf *bufs[] = {&S.out, &S.msg};
    for (size_t i = 0; i < 2; i++) {
        if (bufs[i]->cap > ((size_t)1 << 20)) {
            free(bufs[i]->p);
            memset(bufs[i], 0, sizeof *bufs[i]);
        }
    }
    if (S.to_cap > 4096) {
        free(S.to);
        S.to = NULL;
        S.to_cap = 0;
    }
    if (S.argv_cap > 4096) {
        free(S.argv);
        S.argv = NULL;
        S.argv_cap = 0;
    }
}

static void buf_add(outbuf *o, const void *b, size_t n) {
    if (o->oom)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, b, n);
    o->len += n;
}

#define BUF_LIT(o, s) buf_add(o, s, sizeof(s) - 1)

static void buf_header(outbuf *o, char type, long long n) {
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%c%lld\r\n", type, n);
    buf_add(o, tmp, (size_t)k);
}

static void buf_bulk(outbuf *o, const void *b, size_t n) {
    buf_header(o, '$', (long long)n);
    buf_add(o, b, n);
    BUF_LIT(o, "\r\n");
}

/* An error reply; like Redis, CR and LF inside become spaces. */
static void out_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_error(const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    if ((size_t)k >= sizeof tmp)
        k = sizeof tmp - 1;
    for (int i = 0; i < k; i++)
        if (tmp[i] == '\r' || tmp[i] == '\n')
            tmp[i] = ' ';
    BUF_LIT(&S.out, "-");
    buf_add(&S.out, tmp, (size_t)k);
    BUF_LIT(&S.out, "\r\n");
}

/* ---- commands --------------------------------------------------------------------------- */

/* `*3 $9 subscribe $<n> <channel> :<count>`, or unsubscribe; a NULL channel is `$-1`. */
static void out_confirm(const char *kind, const unsigned char *name, size_t len, size_t count) {
    BUF_LIT(&S.out, "*3\r\n");
    buf_bulk(&S.out, kind, strlen(kind));
    if (name)
        buf_bulk(&S.out, name, len);
    else
        BUF_LIT(&S.out, "$-1\r\n");
    buf_header(&S.out, ':', (long long)count);
}

/* A subscribed client is in Redis's pubsub output-limit class; others in the normal one. */
static void set_class(client *cl, size_t before) {
    if (before == 0 && cl->nsubs > 0)
        evio_conn_set_output_limit(cl->conn, output_limit);
    else if (before > 0 && cl->nsubs == 0)
        evio_conn_set_output_limit(cl->conn, 0);
}

static void cmd_subscribe(client *cl, const arg *av, size_t ac) {
    size_t before = cl->nsubs;
    for (size_t i = 1; i < ac; i++) {
        pthread_mutex_lock(&ps.mu);
        int rc = subscribe(cl, av[i].p, av[i].len);
        pthread_mutex_unlock(&ps.mu);
        if (rc < 0) {
            out_error("ERR out of memory");
            break;
        }
        out_confirm("subscribe", av[i].p, av[i].len, cl->nsubs);
    }
    set_class(cl, before);
}

/* Unsubscribes from every channel, with a confirmation for each if `confirm`. */
static void unsubscribe_all(client *cl, int confirm) {
    size_t before = cl->nsubs;
    if (confirm && cl->nsubs == 0)
        out_confirm("unsubscribe", NULL, 0, 0);
    while (cl->subs) {
        subscription *s = cl->subs;
        if (confirm) { /* the name goes out before the channel may be freed */
            BUF_LIT(&S.out, "*3\r\n");
            BUF_LIT(&S.out, "$11\r\nunsubscribe\r\n");
            buf_bulk(&S.out, s->ch->name, s->ch->len);
        }
        pthread_mutex_lock(&ps.mu);
        unsubscribe(s);
        pthread_mutex_unlock(&ps.mu);
        if (confirm)
            buf_header(&S.out, ':', (long long)cl->nsubs);
    }
    set_class(cl, before);
}

static void cmd_unsubscribe(client *cl, const arg *av, size_t ac) {
    if (ac == 1) {
        unsubscribe_all(cl, 1);
        return;
    }
    size_t before = cl->nsubs;
    for (size_t i = 1; i < ac; i++) {
        pthread_mutex_lock(&ps.mu);
        channel *ch = channel_find(av[i].p, av[i].len, hash_bytes(av[i].p, av[i].len));
        subscription *s = ch ? subscription_find(ch, cl) : NULL;
        if (s)
            unsubscribe(s);
        pthread_mutex_unlock(&ps.mu);
        out_confirm("unsubscribe", av[i].p, av[i].len, cl->nsubs);
    }
    set_class(cl, before);
}

/* Copies the channel's subscribers into S.to, each with a reference. Under ps.mu. */
static size_t collect_receivers(const unsigned char *name, size_t len) {
    channel *ch = channel_find(name, len, hash_bytes(name, len));
    if (!ch)
        return 0;
    if (ch->count > S.to_cap) {
        size_t cap = S.to_cap ? S.to_cap : 16;
        while (cap < ch->count)
            cap *= 2;
        receiver *to = realloc(S.to, cap * sizeof *to);
        if (!to)
            return (size_t)-1;
        S.to = to;
        S.to_cap = cap;
    }
    pthread_t self = pthread_self();
    size_t n = 0;
    for (subscription *s = ch->first; s; s = s->ch_next) {
        evio_conn_ref(s->cl->conn); /* valid: its `closed` has not removed it yet */
        S.to[n].conn = s->cl->conn;
        S.to[n].local = pthread_equal(s->cl->loop, self);
        n++;
    }
    return n;
}

/* Runs on a slow subscriber's own loop: it missed a message, so it must not stay open
 * (it would see a gap); closed as Redis closes a client past its output limit. */
static void close_slow_subscriber(evio_conn *conn, int status, void *arg) {
    (void)arg;
    if (status == 0) evio_conn_close(conn);
}

static void cmd_publish(const arg *av) {
    outbuf *m = &S.msg;
    m->len = 0;
    m->oom = 0;
    BUF_LIT(m, "*3\r\n$7\r\nmessage\r\n");
    buf_bulk(m, av[1].p, av[1].len);
    buf_bulk(m, av[2].p, av[2].len);
    if (m->oom) {
        out_error("ERR out of memory");
        return;
    }
    pthread_mutex_lock(&ps.mu);
    size_t n = collect_receivers(av[1].p, av[1].len);
    pthread_mutex_unlock(&ps.mu);
    if (n == (size_t)-1) {
        out_error("ERR out of memory");
        return;
    }
    long long received = 0;
    for (size_t i = 0; i < n; i++) {
        evio_conn *to = S.to[i].conn;
        int rc =
            S.to[i].local ? evio_conn_write(to, m->p, m->len) : evio_conn_send(to, m->p, m->len);
        if (rc == EVIO_ENOBUFS && !S.to[i].local) /* (a local write past it closes it) */
            evio_conn_post(to, close_slow_subscriber, NULL);
        received += rc == 0; /* ENOBUFS: a slow subscriber, closed for it */
        evio_conn_unref(to);
    }
    buf_header(&S.out, ':', received);
}

static void cmd_ping(client *cl, const arg *av, size_t ac) {
    if (cl->nsubs == 0) {
        if (ac == 1)
            BUF_LIT(&S.out, "+PONG\r\n");
        else
            buf_bulk(&S.out, av[1].p, av[1].len);
        return;
    }
    BUF_LIT(&S.out, "*2\r\n$4\r\npong\r\n"); /* in subscribed mode, as Redis answers */
    buf_bulk(&S.out, ac == 2 ? av[1].p : (const unsigned char *)"", ac == 2 ? av[1].len : 0);
}

/* The commands, with Redis's arity: n > 0 exactly n arguments (the name included), n < 0
 * at least -n; `in_pubsub`: allowed in subscribed mode. */
typedef struct {
    const char *name;
    int arity;
    int in_pubsub;
} command;

static const command commands[] = {
    {"subscribe", -2, 1}, {"unsubscribe", -1, 1}, {"publish", 3, 0},
    {"ping", -1, 1},      {"quit", -1, 1},        {"reset", 1, 1},
};

static const command *find_command(const arg *a) {
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        size_t n = strlen(commands[i].name);
        if (a->len == n && strncasecmp((const char *)a->p, commands[i].name, n) == 0)
            return &commands[i];
    }
    return NULL;
}

/* Redis's "unknown command 'x', with args beginning with: 'a' 'b' " (128 bytes of each). */
static void unknown_command(const arg *av, size_t ac) {
    char args[160] = "";
    size_t used = 0;
    for (size_t i = 1; i < ac && used < 128; i++) {
        int room = 128 - (int)used, k = av[i].len < (size_t)room ? (int)av[i].len : room;
        used +=
            (size_t)snprintf(args + used, sizeof args - used, "'%.*s' ", k, (const char *)av[i].p);
    }
    out_error("ERR unknown command '%.*s', with args beginning with: %s",
              (int)(av[0].len > 128 ? 128 : av[0].len), (const char *)av[0].p, args);
}

static evio_action execute(client *cl, const arg *av, size_t ac) {
    const command *c = find_command(&av[0]);
    if (!c) {
        unknown_command(av, ac);
        return EVIO_NONE;
    }
    if ((c->arity > 0 && ac != (size_t)c->arity) || (c->arity < 0 && ac < (size_t)-c->arity)) {
        out_error("ERR wrong number of arguments for '%s' command", c->name);
        return EVIO_NONE;
    }
    if (cl->nsubs > 0 && !c->in_pubsub) {
        out_error("ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                  "QUIT / RESET are allowed in this context",
                  c->name);
        return EVIO_NONE;
    }
    if (c == &commands[0])
        cmd_subscribe(cl, av, ac);
    else if (c == &commands[1])
        cmd_unsubscribe(cl, av, ac);
    else if (c == &commands[2])
        cmd_publish(av);
    else if (c == &commands[3] && ac > 2)
        out_error("ERR wrong number of arguments for 'ping' command");
    else if (c == &commands[3])
        cmd_ping(cl, av, ac);
    else if (c == &commands[4]) {
        BUF_LIT(&S.out, "+OK\r\n");
        return EVIO_CLOSE;
    } else {
        unsubscribe_all(cl, 0);
        BUF_LIT(&S.out, "+RESET\r\n");
    }
    return EVIO_NONE;
}

/* Points the per-thread argument vector at a parsed command's arguments. */
static const arg *command_args(const redis_command *c) {
    if (c->argc > S.argv_cap) {
        size_t cap = S.argv_cap ? S.argv_cap : 16;
        while (cap < c->argc)
            cap *= 2;
        arg *a = realloc(S.argv, cap * sizeof *a);
        if (!a)
            return NULL;
        S.argv = a;
        S.argv_cap = cap;
    }
    for (size_t i = 0; i < c->argc; i++) {
        S.argv[i].p = c->base + c->argv[i].off;
        S.argv[i].len = c->argv[i].len;
    }
    return S.argv;
}

/* ---- evio callbacks --------------------------------------------------------------------- */

static evio_action opened(evio_conn *conn, void *udata) {
    (void)udata;
    client *c = calloc(1, sizeof *c);
    if (!c)
        return EVIO_CLOSE;
    c->in = (evio_input_stream)EVIO_INPUT_STREAM_INIT;
    redis_parser_init(&c->parser, 0);
    c->conn = conn;
    c->loop = pthread_self();
    evio_conn_set_context(conn, c);
    evio_conn_set_reuse_input(conn, 1); /* leftovers are copied by the input stream */
    return EVIO_NONE;
}

static evio_action closed(evio_conn *conn, int err, void *udata) {
    (void)err;
    (void)udata;
    client *c = evio_conn_context(conn);
    if (!c)
        return EVIO_NONE;
    pthread_mutex_lock(&ps.mu); /* after this, no publisher can find the connection */
    while (c->subs)
        unsubscribe(c->subs);
    pthread_mutex_unlock(&ps.mu);
    evio_input_stream_free(&c->in);
    redis_parser_free(&c->parser);
    free(c);
    evio_conn_set_context(conn, NULL);
    return EVIO_NONE;
}

/* Runs the whole commands in d[0, n); returns how many bytes they took. */
static size_t run_commands(client *c, const unsigned char *d, size_t n, evio_action *action) {
    size_t pos = 0;
    redis_command cmd;
    *action = EVIO_NONE;
    while (*action == EVIO_NONE) {
        int r = redis_parse(&c->parser, d + pos, n - pos, &cmd);
        if (r == REDIS_INCOMPLETE)
            break;
        if (r == REDIS_ERROR) {
            out_error("ERR %s", c->parser.err);
            *action = EVIO_CLOSE;
            break;
        }
        pos += cmd.len;
        if (cmd.argc == 0)
            continue; /* an empty line */
        const arg *av = command_args(&cmd);
        if (!av) {
            out_error("ERR out of memory");
            *action = EVIO_CLOSE;
            break;
        }
        *action = execute(c, av, cmd.argc);
    }
    return pos;
}

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (len == 0 || !c)
        return EVIO_NONE; /* a wake: nothing to do */
    if (!S.registered)
        scratch_register();
    const void *dv;
    size_t n;
    if (evio_input_stream_begin(&c->in, in, len, &dv, &n) < 0)
        return EVIO_CLOSE;
    S.out.len = 0;
    S.out.oom = 0;
    evio_action action;
    size_t pos = run_commands(c, dv, n, &action);
    if (action != EVIO_NONE)
        pos = n; /* after QUIT or an error the rest is not read */
    if (evio_input_stream_end(&c->in, (const unsigned char *)dv + pos, n - pos) < 0)
        return EVIO_CLOSE;
    if (S.out.oom)
        return EVIO_CLOSE;
    if (S.out.len > 0 && evio_conn_write(conn, S.out.p, S.out.len) < 0)
        return EVIO_CLOSE;
    S.out.len = 0;
    scratch_trim();
    return action;
}

/* Takes --output-limit N out of argv (example_main() knows the other options). Returns
 * the new argc, or -1 for a bad N. */
static int take_output_limit(int argc, char **argv) {
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--output-limit") != 0) {
            argv[kept++] = argv[i];
            continue;
        }
        const char *s = i + 1 < argc ? argv[++i] : "";
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || v != (size_t)v)
            return -1;
        output_limit = (size_t)v;
    }
    argv[kept] = NULL;
    return kept;
}

int main(int argc, char **argv) {
    argc = take_output_limit(argc, argv);
    if (argc < 0) {
        fprintf(stderr, "pubsub-server: --output-limit wants a number of bytes (0: none)\n");
        return 2;
    }
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = opened;
    ev.closed = closed;
    ev.data = data;
    int rc = example_main("pubsub-server", "tcp://127.0.0.1:6381", &ev, argc, argv);
    scratch_free(&S); /* in case a loop ran on this thread */
    return rc;
}
