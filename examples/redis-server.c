/*
 * redis-server — a small in-memory Redis clone on evio (evio's redis example, in C).
 *
 *   redis-server [ADDRESS...] [--loops N] [--balance random|round-robin|least-connections]
 *
 * ADDRESS uses evio's syntax (default tcp://127.0.0.1:6380); several may be given, e.g.
 * tcp://127.0.0.1:6380 unix:///tmp/redis.sock.
 *
 * Commands: PING [msg], ECHO msg, SET key value, GET key, DEL key [key ...],
 * KEYS pattern (glob: * ? [abc] [^a] [a-z] \x), FLUSHDB, DBSIZE, QUIT, SHUTDOWN.
 * Both protocols are understood: RESP arrays (what redis-cli and client libraries send)
 * and inline commands (`PING\r\n`, what telnet and redis-benchmark's *_INLINE tests send).
 * Pipelined commands are answered in order with one write per `data` call; a command split
 * over several reads is kept in an evio_input_stream until the rest arrives.
 *
 * Try it:  redis-server tcp://127.0.0.1:6380 &   redis-cli -p 6380 set hello world
 *
 * SPDX-License-Identifier: MIT
 */
#include <evio.h>

#include "example.h" /* main(): the command line, Ctrl-C, the "serving on" line */

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INLINE 65536                      /* longest inline command line */
#define MAX_MULTIBULK (1024 * 1024)           /* most arguments in one command */
#define MAX_BULK ((long long)512 * 1024 * 1024) /* longest argument */

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

/* Per-thread scratch space (the reply, the argument vector, unescaped inline arguments),
 * reused from call to call; freed when the loop thread ends (a pthread key destructor). */
typedef struct arg arg;
typedef struct {
    outbuf out;
    arg *argv;
    size_t argv_cap;
    unsigned char *inl;
    size_t inl_cap;
    int registered;
} scratch;

static __thread scratch S;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    scratch *s = p;
    free(s->out.p);
    free(s->argv);
    free(s->inl);
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

/* ---- parsing: RESP arrays and inline commands ------------------------------------------ */

struct arg {
    const unsigned char *p;
    size_t len;
};

static int argv_reserve(size_t n) {
    if (n <= S.argv_cap) return 0;
    size_t cap = S.argv_cap ? S.argv_cap : 16;
    while (cap < n) cap *= 2;
    arg *a = realloc(S.argv, cap * sizeof *a);
    if (!a) return -1;
    S.argv = a;
    S.argv_cap = cap;
    return 0;
}

enum { PARSE_INCOMPLETE = 0, PARSE_OK = 1, PARSE_ERROR = -1 };

/* Reads a "<digits>\r\n" number starting at p; returns bytes used, 0 if incomplete, -1 bad. */
static long parse_number(const unsigned char *p, size_t n, long long *v) {
    const unsigned char *nl = memchr(p, '\r', n);
    if (!nl) return n > 32 ? -1 : 0;
    if ((size_t)(nl - p) + 1 >= n) return 0; /* need the '\n' too */
    if (nl[1] != '\n') return -1;
    long long x = 0;
    int neg = 0;
    const unsigned char *q = p;
    if (q < nl && *q == '-') {
        neg = 1;
        q++;
    }
    if (q == nl || nl - q > 18) return -1;
    for (; q < nl; q++) {
        if (*q < '0' || *q > '9') return -1;
        x = x * 10 + (*q - '0');
    }
    *v = neg ? -x : x;
    return (long)(nl - p) + 2;
}

static int parse_resp(const unsigned char *d, size_t n, size_t *used, size_t *argc, char *err,
                      size_t errlen) {
    long long count;
    long k = parse_number(d + 1, n - 1, &count);
    if (k == 0) return PARSE_INCOMPLETE;
    if (k < 0 || count > MAX_MULTIBULK) {
        snprintf(err, errlen, "Protocol error: invalid multibulk length");
        return PARSE_ERROR;
    }
    size_t pos = 1 + (size_t)k;
    *argc = 0;
    if (count <= 0) {
        *used = pos;
        return PARSE_OK;
    }
    if (argv_reserve((size_t)count) < 0) {
        snprintf(err, errlen, "out of memory");
        return PARSE_ERROR;
    }
    for (long long i = 0; i < count; i++) {
        if (pos >= n) return PARSE_INCOMPLETE;
        if (d[pos] != '$') {
            snprintf(err, errlen, "Protocol error: expected '$', got '%c'", d[pos]);
            return PARSE_ERROR;
        }
        long long blen;
        k = parse_number(d + pos + 1, n - pos - 1, &blen);
        if (k == 0) return PARSE_INCOMPLETE;
        if (k < 0 || blen < 0 || blen > MAX_BULK) {
            snprintf(err, errlen, "Protocol error: invalid bulk length");
            return PARSE_ERROR;
        }
        pos += 1 + (size_t)k;
        if (n - pos < (size_t)blen + 2) return PARSE_INCOMPLETE;
        if (d[pos + blen] != '\r' || d[pos + blen + 1] != '\n') {
            snprintf(err, errlen, "Protocol error: bulk string not followed by CRLF");
            return PARSE_ERROR;
        }
        S.argv[i].p = d + pos;
        S.argv[i].len = (size_t)blen;
        pos += (size_t)blen + 2;
    }
    *argc = (size_t)count;
    *used = pos;
    return PARSE_OK;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An inline command: words split on blanks; "double quotes" (with \n \r \t \" \\ \xHH
 * escapes) and 'single quotes' (with \') group words, as redis-cli/telnet users expect. */
static int parse_inline(const unsigned char *d, size_t n, size_t *used, size_t *argc, char *err,
                        size_t errlen) {
    const unsigned char *nl = memchr(d, '\n', n);
    if (!nl) {
        if (n > MAX_INLINE) {
            snprintf(err, errlen, "Protocol error: too big inline request");
            return PARSE_ERROR;
        }
        return PARSE_INCOMPLETE;
    }
    size_t linelen = (size_t)(nl - d);
    *used = linelen + 1;
    if (linelen > 0 && d[linelen - 1] == '\r') linelen--;
    if (S.inl_cap < linelen + 1) {
        unsigned char *b = realloc(S.inl, linelen + 1);
        if (!b) {
            snprintf(err, errlen, "out of memory");
            return PARSE_ERROR;
        }
        S.inl = b;
        S.inl_cap = linelen + 1;
    }
    /* Arguments are unescaped into S.inl; pointers are fixed up at the end. */
    size_t nargs = 0, w = 0, i = 0;
    while (i < linelen) {
        while (i < linelen && (d[i] == ' ' || d[i] == '\t')) i++;
        if (i >= linelen) break;
        size_t start = w;
        unsigned char q = d[i];
        if (q == '"' || q == '\'') {
            int closed = 0;
            for (i++; i < linelen; i++) {
                unsigned char c = d[i];
                if (c == q) {
                    closed = 1;
                    i++;
                    break;
                }
                if (c == '\\' && i + 1 < linelen) {
                    unsigned char e = d[++i];
                    if (q == '\'') {
                        c = e == '\'' ? e : c;
                        if (e != '\'') i--; /* only \' is an escape in single quotes */
                    } else if (e == 'x' && i + 2 < linelen && hexval(d[i + 1]) >= 0 &&
                               hexval(d[i + 2]) >= 0) {
                        c = (unsigned char)(hexval(d[i + 1]) * 16 + hexval(d[i + 2]));
                        i += 2;
                    } else {
                        c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
                    }
                }
                S.inl[w++] = c;
            }
            /* a closing quote must end the argument */
            if (!closed || (i < linelen && d[i] != ' ' && d[i] != '\t')) goto unbalanced;
        } else {
            while (i < linelen && d[i] != ' ' && d[i] != '\t') S.inl[w++] = d[i++];
        }
        if (argv_reserve(nargs + 1) < 0) {
            snprintf(err, errlen, "out of memory");
            return PARSE_ERROR;
        }
        S.argv[nargs].p = (const unsigned char *)(uintptr_t)start; /* an offset for now */
        S.argv[nargs].len = w - start;
        nargs++;
    }
    for (size_t a = 0; a < nargs; a++) S.argv[a].p = S.inl + (uintptr_t)S.argv[a].p;
    *argc = nargs;
    return PARSE_OK;
unbalanced:
    snprintf(err, errlen, "Protocol error: unbalanced quotes in request");
    return PARSE_ERROR;
}

static int parse_command(const unsigned char *d, size_t n, size_t *used, size_t *argc, char *err,
                         size_t errlen) {
    if (d[0] == '*') return parse_resp(d, n, used, argc, err, errlen);
    return parse_inline(d, n, used, argc, err, errlen);
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

/* ---- evio callbacks --------------------------------------------------------------------- */

static evio_action data(evio_conn *conn, const void *in, size_t len, void *udata) {
    (void)udata;
    evio_input_stream *is = evio_conn_context(conn);
    if (len == 0 || !is) return EVIO_NONE; /* a wake: nothing to do */

    if (!S.registered) scratch_register();
    const void *dv;
    size_t n;
    if (evio_input_stream_begin(is, in, len, &dv, &n) < 0) return EVIO_CLOSE;
    const unsigned char *d = dv;
    size_t pos = 0;
    evio_action action = EVIO_NONE;
    char err[256];

    S.out.len = 0;
    S.out.oom = 0;
    pthread_mutex_lock(&db.mu);
    while (pos < n && action == EVIO_NONE) {
        size_t used = 0, argc = 0;
        int r = parse_command(d + pos, n - pos, &used, &argc, err, sizeof err);
        if (r == PARSE_INCOMPLETE) break;
        if (r == PARSE_ERROR) {
            out_error("ERR %s", err);
            action = EVIO_CLOSE;
            pos = n;
            break;
        }
        pos += used;
        if (argc > 0) action = execute(S.argv, argc);
    }
    pthread_mutex_unlock(&db.mu);

    if (action != EVIO_NONE) pos = n; /* after QUIT/SHUTDOWN the rest is not read */
    if (evio_input_stream_end(is, d + pos, n - pos) < 0) return EVIO_CLOSE;
    if (S.out.oom) return EVIO_CLOSE;
    if (S.out.len > 0 && evio_conn_write(conn, S.out.p, S.out.len) < 0) return EVIO_CLOSE;
    if (S.out.cap > (1u << 20)) { /* do not keep a huge reply buffer around */
        free(S.out.p);
        S.out.p = NULL;
        S.out.cap = 0;
    }
    S.out.len = 0;
    return action;
}

int main(int argc, char **argv) {
    evio_events ev = EVIO_EVENTS_INIT;
    ev.opened = example_stream_opened;
    ev.closed = example_stream_closed;
    ev.data = data;
    int rc = example_main("redis-server", "tcp://127.0.0.1:6380", &ev, argc, argv);
    db_flush();
    scratch_free(&S); /* in case a loop ran on this thread */
    return rc;
}
