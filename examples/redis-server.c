/*
 * redis-server — a small in-memory Redis clone on evio (evio's redis example, in C).
 *
 *   redis-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *                [--max-command-bytes N]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:6380); several may be given, e.g.
 * tcp://127.0.0.1:6380 unix:///tmp/redis.sock.
 *
 * Commands: PING [msg], ECHO msg, SET key value, GET key, DEL key [key ...],
 * KEYS pattern (glob: * ? [abc] [^a] [a-z] \x), FLUSHDB, DBSIZE, QUIT, SHUTDOWN.
 * Both protocols are understood: RESP arrays (what redis-cli and client libraries send)
 * and inline commands (`PING\r\n`, what telnet and redis-benchmark's *_INLINE tests send).
 * Pipelined commands are answered in order with one write per `data` call; a command split
 * over several reads is kept in an evio_input_stream until the rest arrives, and parsed
 * incrementally (redis_proto.c): each read costs what it brings, not what came before.
 *
 * Limits (a protocol error is answered "-ERR Protocol error: ..." and the connection closed):
 *   inline command line     64 KiB (REDIS_MAX_INLINE)
 *   arguments per command   1M (REDIS_MAX_MULTIBULK), allocated as they arrive
 *   one argument            512 MiB (REDIS_MAX_BULK), but no more than the next limit
 *   one command             64 MiB (REDIS_MAX_COMMAND_BYTES), or --max-command-bytes N:
 *                           past it the reply is "-ERR Protocol error: command too large"
 *
 * Try it:  redis-server tcp://127.0.0.1:6380 &   redis-cli -p 6380 set hello world
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

static size_t max_command_bytes = REDIS_MAX_COMMAND_BYTES; /* --max-command-bytes */

/* ---- the keyspace: one hash table shared by every loop, under a mutex ------------------ */

typedef struct entry {
    struct entry *next;
    uint64_t hash;
    unsigned char *val;
    size_t vlen;
    size_t klen;
    unsigned char key[]; /* klen bytes */
} entry;

static struct {
    entry **buckets;
    size_t nbuckets; /* a power of two, or 0 */
    size_t count;
    pthread_mutex_t mu;
} db = {NULL, 0, 0, PTHREAD_MUTEX_INITIALIZER};

static uint64_t hash_bytes(const unsigned char *p, size_t n) { /* FNV-1a */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static entry **db_slot(const unsigned char *key, size_t klen, uint64_t h) {
    if (db.nbuckets == 0) return NULL;
    entry **pp = &db.buckets[h & (db.nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return pp; /* the empty link where the key would go */
}

static entry *db_get(const unsigned char *key, size_t klen) {
    entry **pp = db_slot(key, klen, hash_bytes(key, klen));
    return pp ? *pp : NULL;
}

static int db_grow(void) {
    size_t n = db.nbuckets ? db.nbuckets * 2 : 64;
    entry **nb = calloc(n, sizeof *nb);
    if (!nb) return -1;
    for (size_t i = 0; i < db.nbuckets; i++) {
        for (entry *e = db.buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(db.buckets);
    db.buckets = nb;
    db.nbuckets = n;
    return 0;
}

static int db_set(const unsigned char *key, size_t klen, const unsigned char *val, size_t vlen) {
    unsigned char *v = malloc(vlen ? vlen : 1);
    if (!v) return -1;
    if (vlen) memcpy(v, val, vlen);
    uint64_t h = hash_bytes(key, klen);
    if (db.count >= db.nbuckets && db_grow() < 0) {
        free(v);
        return -1;
    }
    entry **pp = db_slot(key, klen, h);
    if (*pp) { /* replace the value */
        free((*pp)->val);
        (*pp)->val = v;
        (*pp)->vlen = vlen;
        return 0;
    }
    entry *e = malloc(sizeof *e + klen);
    if (!e) {
        free(v);
        return -1;
    }
    e->next = NULL;
    e->hash = h;
    e->val = v;
    e->vlen = vlen;
    e->klen = klen;
    memcpy(e->key, key, klen);
    *pp = e;
    db.count++;
    return 0;
}

static int db_del(const unsigned char *key, size_t klen) {
    entry **pp = db_slot(key, klen, hash_bytes(key, klen));
    if (!pp || !*pp) return 0;
    entry *e = *pp;
    *pp = e->next;
    free(e->val);
    free(e);
    db.count--;
    return 1;
}

static void db_flush(void) {
    for (size_t i = 0; i < db.nbuckets; i++) {
        for (entry *e = db.buckets[i], *next; e; e = next) {
            next = e->next;
            free(e->val);
            free(e);
        }
    }
    free(db.buckets);
    db.buckets = NULL;
    db.nbuckets = 0;
    db.count = 0;
}

/* Glob matching as Redis does it: * ? [abc] [^abc] [a-z] and \ to escape. Iterative, with
 * backtracking to the last '*' only, so no pattern can make it take exponential time. */
static int class_match(const unsigned char **pp, const unsigned char *pe, unsigned char c) {
    const unsigned char *p = *pp + 1; /* after '[' */
    int neg = 0, hit = 0;
    if (p < pe && *p == '^') {
        neg = 1;
        p++;
    }
    for (; p < pe && *p != ']'; p++) {
        if (*p == '\\' && p + 1 < pe) {
            p++;
            if (*p == c) hit = 1;
        } else if (p + 2 < pe && p[1] == '-' && p[2] != ']') {
            unsigned char lo = p[0], hi = p[2];
            if (lo > hi) {
                unsigned char t = lo;
                lo = hi;
                hi = t;
            }
            if (c >= lo && c <= hi) hit = 1;
            p += 2;
        } else if (*p == c) {
            hit = 1;
        }
    }
    *pp = p < pe ? p + 1 : p; /* after ']' (an unclosed class runs to the end) */
    return neg ? !hit : hit;
}

static int glob_match(const unsigned char *pat, size_t plen, const unsigned char *s, size_t slen) {
    const unsigned char *p = pat, *pe = pat + plen, *se = s + slen;
    const unsigned char *star_p = NULL, *star_s = NULL;
    while (s < se) {
        if (p < pe && *p == '*') {
            while (p < pe && *p == '*') p++;
            if (p == pe) return 1;
            star_p = p;
            star_s = s;
            continue;
        }
        if (p < pe) {
            const unsigned char *np = p;
            int ok;
            if (*p == '?') {
                ok = 1;
                np = p + 1;
            } else if (*p == '[') {
                ok = class_match(&np, pe, *s);
            } else if (*p == '\\' && p + 1 < pe) {
                ok = p[1] == *s;
                np = p + 2;
            } else {
                ok = *p == *s;
                np = p + 1;
            }
            if (ok) {
                p = np;
                s++;
                continue;
            }
        }
        if (!star_p) return 0;
        p = star_p; /* let the last '*' swallow one more byte */
        s = ++star_s;
    }
    while (p < pe && *p == '*') p++;
    return p == pe;
}

/* ---- replies: built in one per-thread buffer, written once per data call --------------- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} outbuf;

/* An argument of the command being run. */
typedef struct {
    const unsigned char *p;
    size_t len;
} arg;

/* Per-thread scratch space (the reply, the argument vector), reused from call to call;
 * freed when the loop thread ends (a pthread key destructor). */
typedef struct {
    outbuf out;
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
    free(s->argv);
    memset(s, 0, sizeof *s);
}

static void scratch_key_create(void) { pthread_key_create(&scratch_key, scratch_free); }

static void scratch_register(void) {
    pthread_once(&scratch_once, scratch_key_create);
    pthread_setspecific(scratch_key, &S);
    S.registered = 1;
}

static void out_add(const void *b, size_t n) {
    if (S.out.oom) return;
    if (S.out.len + n > S.out.cap) {
        size_t cap = S.out.cap ? S.out.cap : 4096;
        while (cap < S.out.len + n) cap *= 2;
        char *p = realloc(S.out.p, cap);
        if (!p) {
            S.out.oom = 1;
            return;
        }
        S.out.p = p;
        S.out.cap = cap;
    }
    memcpy(S.out.p + S.out.len, b, n);
    S.out.len += n;
}

/* Does not keep a huge reply or argument vector around after the command that needed it. */
static void scratch_trim(void) {
    if (S.out.cap > (1u << 20)) {
        free(S.out.p);
        S.out.p = NULL;
        S.out.cap = 0;
    }
    if (S.argv_cap > 4096) {
        free(S.argv);
        S.argv = NULL;
        S.argv_cap = 0;
    }
}

#define OUT_LIT(s) out_add(s, sizeof(s) - 1)

static void out_header(char type, long long n) {
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%c%lld\r\n", type, n);
    out_add(tmp, (size_t)k);
}

static void out_bulk(const void *b, size_t n) {
    out_header('$', (long long)n);
    out_add(b, n);
    OUT_LIT("\r\n");
}

static void out_error(const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    if ((size_t)k >= sizeof tmp) k = sizeof tmp - 1;
    for (int i = 0; i < k; i++) /* an error line must not break the framing */
        if (tmp[i] == '\r' || tmp[i] == '\n') tmp[i] = ' ';
    OUT_LIT("-");
    out_add(tmp, (size_t)k);
    OUT_LIT("\r\n");
}

/* ---- commands --------------------------------------------------------------------------- */

static int is_cmd(const arg *a, const char *name) {
    size_t n = strlen(name);
    return a->len == n && strncasecmp((const char *)a->p, name, n) == 0;
}

static void wrong_args(const arg *a) {
    out_error("ERR wrong number of arguments for '%.*s' command", (int)(a->len > 64 ? 64 : a->len),
              (const char *)a->p);
}

static evio_action execute(const arg *av, size_t ac) {
    const arg *cmd = &av[0];
    if (is_cmd(cmd, "PING")) {
        if (ac == 1) OUT_LIT("+PONG\r\n");
        else if (ac == 2) out_bulk(av[1].p, av[1].len);
        else wrong_args(cmd);
    } else if (is_cmd(cmd, "ECHO")) {
        if (ac == 2) out_bulk(av[1].p, av[1].len);
        else wrong_args(cmd);
    } else if (is_cmd(cmd, "GET")) {
        if (ac != 2) {
            wrong_args(cmd);
        } else {
            entry *e = db_get(av[1].p, av[1].len);
            if (e) out_bulk(e->val, e->vlen);
            else OUT_LIT("$-1\r\n");
        }
    } else if (is_cmd(cmd, "SET")) {
        if (ac < 3) wrong_args(cmd);
        else if (ac > 3) out_error("ERR syntax error");
        else if (db_set(av[1].p, av[1].len, av[2].p, av[2].len) < 0) out_error("ERR out of memory");
        else OUT_LIT("+OK\r\n");
    } else if (is_cmd(cmd, "DEL")) {
        if (ac < 2) {
            wrong_args(cmd);
        } else {
            long long n = 0;
            for (size_t i = 1; i < ac; i++) n += db_del(av[i].p, av[i].len);
            out_header(':', n);
        }
    } else if (is_cmd(cmd, "KEYS")) {
        if (ac != 2) {
            wrong_args(cmd);
        } else {
            size_t at = S.out.len; /* the count is known at the end: reserve room for it */
            out_add("*000000000000000000000\r\n", 24);
            long long n = 0;
            for (size_t i = 0; i < db.nbuckets; i++) {
                for (entry *e = db.buckets[i]; e; e = e->next) {
                    if (glob_match(av[1].p, av[1].len, e->key, e->klen)) {
                        out_bulk(e->key, e->klen);
                        n++;
                    }
                }
            }
            if (!S.out.oom) { /* rewrite the header in place, then close the gap */
                char hdr[32];
                int k = snprintf(hdr, sizeof hdr, "*%lld\r\n", n);
                memmove(S.out.p + at + k, S.out.p + at + 24, S.out.len - at - 24);
                memcpy(S.out.p + at, hdr, (size_t)k);
                S.out.len -= 24 - (size_t)k;
            }
        }
    } else if (is_cmd(cmd, "FLUSHDB") || is_cmd(cmd, "FLUSHALL")) {
        db_flush();
        OUT_LIT("+OK\r\n");
    } else if (is_cmd(cmd, "DBSIZE")) {
        out_header(':', (long long)db.count);
    } else if (is_cmd(cmd, "QUIT")) {
        OUT_LIT("+OK\r\n");
        return EVIO_CLOSE;
    } else if (is_cmd(cmd, "SHUTDOWN")) {
        OUT_LIT("+OK\r\n");
        return EVIO_SHUTDOWN;
    } else {
        out_error("ERR unknown command '%.*s'", (int)(cmd->len > 64 ? 64 : cmd->len),
                  (const char *)cmd->p);
    }
    return EVIO_NONE;
}

/* Points the per-thread argument vector at a parsed command's arguments. */
static const arg *command_args(const redis_command *c) {
    if (c->argc > S.argv_cap) {
        size_t cap = S.argv_cap ? S.argv_cap : 16;
        while (cap < c->argc) cap *= 2;
        arg *a = realloc(S.argv, cap * sizeof *a);
        if (!a) return NULL;
        S.argv = a;
        S.argv_cap = cap;
    }
    for (size_t i = 0; i < c->argc; i++) {
        S.argv[i].p = c->base + c->argv[i].off;
        S.argv[i].len = c->argv[i].len;
    }
    return S.argv;
}

static evio_action run_command(const redis_command *c) {
    if (c->argc == 0) return EVIO_NONE; /* an empty line */
    const arg *av = command_args(c);
    if (!av) {
        out_error("ERR out of memory");
        return EVIO_CLOSE;
    }
    return execute(av, c->argc);
}

/* ---- evio callbacks --------------------------------------------------------------------- */

/* Each connection keeps its unparsed bytes and how far the parser got into them. */
typedef struct {
    evio_input_stream in;
    redis_parser parser;
    int stalled; /* parsing stopped for its output to drain (see process()) */
} client;

/* A client that pipelines commands without reading the replies must not make the server
 * buffer them without end: parsing stops once this much output is pending (the library's
 * default high watermark), the unparsed rest is kept, reading pauses, and `drained`
 * goes on when the output is back at the low watermark. */
#define OUTPUT_HIGH ((size_t)1 << 20)

static evio_action opened(evio_conn *conn, void *udata) {
    (void)udata;
    client *c = malloc(sizeof *c);
    if (!c) return EVIO_CLOSE;
    c->in = (evio_input_stream)EVIO_INPUT_STREAM_INIT;
    c->stalled = 0;
    redis_parser_init(&c->parser, max_command_bytes);
    evio_conn_set_context(conn, c);
    evio_conn_set_reuse_input(conn, 1); /* leftovers are copied by the input stream */
    return EVIO_NONE;
}

static evio_action closed(evio_conn *conn, int err, void *udata) {
    (void)err;
    (void)udata;
    client *c = evio_conn_context(conn);
    if (c) {
        evio_input_stream_free(&c->in);
        redis_parser_free(&c->parser);
        free(c);
        evio_conn_set_context(conn, NULL);
    }
    return EVIO_NONE;
}

/* Runs the whole commands in d[0, n) until their replies pass `budget` bytes; returns how
 * many bytes they took and sets *action (EVIO_CLOSE after a protocol error or QUIT,
 * EVIO_SHUTDOWN after SHUTDOWN). */
static size_t run_commands(redis_parser *parser, const unsigned char *d, size_t n,
                           size_t budget, evio_action *action) {
    size_t pos = 0;
    redis_command cmd;
    *action = EVIO_NONE;
    pthread_mutex_lock(&db.mu);
    while (*action == EVIO_NONE && S.out.len < budget) {
        int r = redis_parse(parser, d + pos, n - pos, &cmd);
        if (r == REDIS_INCOMPLETE) break;
        if (r == REDIS_ERROR) {
            out_error("ERR %s", parser->err);
            *action = EVIO_CLOSE;
            break;
        }
        pos += cmd.len;
        *action = run_command(&cmd);
    }
    pthread_mutex_unlock(&db.mu);
    return pos;
}

/* Parses and answers what `in` adds to the kept bytes, while the output pending stays
 * under OUTPUT_HIGH; past it, stops with the rest kept and reading paused. */
static evio_action process(evio_conn *conn, client *c, const void *in, size_t len) {
    if (!S.registered) scratch_register();
    for (;;) {
        const void *dv;
        size_t n, pending = 0;
        if (evio_input_stream_begin(&c->in, in, len, &dv, &n) < 0) return EVIO_CLOSE;
        in = NULL, len = 0; /* from now on: only what is kept */
        const unsigned char *d = dv;
        evio_conn_pending(conn, &pending);
        /* Replies up to just past OUTPUT_HIGH: past the high watermark, `drained` comes. */
        const size_t budget = pending <= OUTPUT_HIGH ? OUTPUT_HIGH - pending + 1 : 0;
        S.out.len = 0;
        S.out.oom = 0;
        evio_action action;
        size_t pos = run_commands(&c->parser, d, n, budget, &action);
        /* Stopped by the budget with bytes left: maybe more whole commands. */
        int more = action == EVIO_NONE && pos < n && S.out.len >= budget;
        /* The unparsed tail is kept; the parser remembers how far into it it got. After
         * QUIT/SHUTDOWN or an error the rest is not read. */
        if (action != EVIO_NONE) pos = n;
        if (evio_input_stream_end(&c->in, d + pos, n - pos) < 0) return EVIO_CLOSE;
        if (S.out.oom) return EVIO_CLOSE;
        if (S.out.len > 0 && evio_conn_write(conn, S.out.p, S.out.len) < 0) return EVIO_CLOSE;
        S.out.len = 0;
        scratch_trim();
        if (action != EVIO_NONE || !more) return action;
        evio_conn_pending(conn, &pending);
        if (pending > OUTPUT_HIGH) { /* wait for `drained` */
            c->stalled = 1;
            evio_conn_pause_read(conn);
            return EVIO_NONE;
        }
    }
}

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (len == 0 || !c) return EVIO_NONE; /* a wake: nothing to do */
    return process(conn, c, in, len);
}

static evio_action drained(evio_conn *conn, void *udata) {
    (void)udata;
    client *c = evio_conn_context(conn);
    if (!c || !c->stalled) return EVIO_NONE;
    c->stalled = 0;
    evio_conn_resume_read(conn);
    return process(conn, c, NULL, 0); /* the commands kept while the output drained */
}

/* Takes --max-command-bytes N out of argv (example_main() knows the other options).
 * Returns the new argc, or -1 for a bad N. */
static int take_max_command_bytes(int argc, char **argv) {
    int out = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--max-command-bytes") != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char *s = i + 1 < argc ? argv[++i] : "";
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || v == 0 || v != (size_t)v) return -1;
        max_command_bytes = (size_t)v;
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv) {
    argc = take_max_command_bytes(argc, argv);
    if (argc < 0) {
        fprintf(stderr, "redis-server: --max-command-bytes wants a number of bytes > 0\n");
        return 2;
    }
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = opened;
    ev.closed = closed;
    ev.data = data;
    ev.drained = drained;
    int rc = example_main("redis-server", "tcp://127.0.0.1:6380", &ev, argc, argv);
    db_flush();
    scratch_free(&S); /* in case a loop ran on this thread */
    return rc;
}
