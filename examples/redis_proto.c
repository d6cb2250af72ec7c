/*
 * redis_proto.c — the incremental Redis protocol parser (see redis_proto.h).
 *
 * Every field of the state is an offset from the pending command's first byte, so a call
 * resumes where the last one stopped: a line's end is searched for only in bytes not
 * searched before, and a bulk argument's bytes are skipped, never looked at. `scanned`
 * counts what is looked at; the unit test holds it to a few times the input length.
 *
 * SPDX-License-Identifier: MIT
 */
#include "redis_proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_NONE, KIND_RESP, KIND_INLINE, KIND_FAILED };

/* A "*N" or "$N" line is the type byte, a sign and at most 18 digits, then CRLF. One with
 * no '\r' in this many bytes after the type byte is refused, so the search stops there. */
#define NUMBER_LINE_MAX 32

#define ARGV_KEEP 1024 /* argument slots kept between commands; more are freed */
#define INLINE_KEEP 4096

void redis_parser_init(redis_parser *p, size_t max_command_bytes) {
    memset(p, 0, sizeof *p);
    p->max_command_bytes = max_command_bytes ? max_command_bytes : REDIS_MAX_COMMAND_BYTES;
    p->args_left = -1;
    p->bulk_len = -1;
}

void redis_parser_free(redis_parser *p) {
    free(p->argv);
    free(p->inl);
    redis_parser_init(p, p->max_command_bytes);
}

static int fail(redis_parser *p, const char *why) {
    snprintf(p->err, sizeof p->err, "%s", why);
    p->kind = KIND_FAILED;
    return REDIS_ERROR;
}

/* Between commands: forget the last one, and any huge buffers it needed (an idle
 * connection should not hold on to the slots of a 1M-argument command). */
static void forget_command(redis_parser *p) {
    if (p->argv_cap > ARGV_KEEP) {
        free(p->argv);
        p->argv = NULL;
        p->argv_cap = 0;
    }
    if (p->inl_cap > INLINE_KEEP) {
        free(p->inl);
        p->inl = NULL;
        p->inl_cap = 0;
    }
    p->pos = p->scan = 0;
    p->args_left = p->bulk_len = -1;
    p->argc = 0;
}

/* Appends an argument, growing the slots as arguments arrive (doubling: O(1) each). */
static int push_arg(redis_parser *p, size_t off, size_t len) {
    if (p->argc == p->argv_cap) {
        size_t cap = p->argv_cap ? p->argv_cap * 2 : 16;
        redis_arg *a = realloc(p->argv, cap * sizeof *a);
        if (!a) return fail(p, "out of memory");
        p->argv = a;
        p->argv_cap = cap;
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
    return 0;
}

/* Looks for byte `c` in d[p->scan, limit), where the last search stopped. Returns 1 and
 * leaves p->scan on it when found; else 0, with p->scan at `limit`. */
static int find_byte(redis_parser *p, const unsigned char *d, size_t limit, unsigned char c) {
    if (p->scan >= limit) return 0;
    const unsigned char *hit = memchr(d + p->scan, c, limit - p->scan);
    size_t upto = hit ? (size_t)(hit - d) : limit;
    p->scanned += upto - p->scan + (hit != NULL);
    p->scan = upto;
    return hit != NULL;
}

/* Reads the "*N\r\n" or "$N\r\n" line at p->pos into *v and moves p->pos past it.
 * Returns REDIS_COMMAND (here: done), REDIS_INCOMPLETE, or REDIS_ERROR without a
 * message (the caller knows which length was bad). */
static int read_number(redis_parser *p, const unsigned char *d, size_t n, long long *v) {
    size_t digits = p->pos + 1; /* after the type byte */
    if (p->scan < digits) p->scan = digits;
    size_t limit = digits + NUMBER_LINE_MAX < n ? digits + NUMBER_LINE_MAX + 1 : n;
    if (!find_byte(p, d, limit, '\r'))
        return n - digits > NUMBER_LINE_MAX ? REDIS_ERROR : REDIS_INCOMPLETE;
    size_t cr = p->scan;
    if (cr + 1 >= n) return REDIS_INCOMPLETE; /* the '\n' is still to come */
    p->scanned += 1 + (cr - digits);
    if (d[cr + 1] != '\n') return REDIS_ERROR;

    const unsigned char *q = d + digits, *end = d + cr;
    int neg = q < end && *q == '-';
    q += neg;
    if (q == end || end - q > 18) return REDIS_ERROR;
    long long x = 0;
    for (; q < end; q++) {
        if (*q < '0' || *q > '9') return REDIS_ERROR;
        x = x * 10 + (*q - '0');
    }
    *v = neg ? -x : x;
    p->pos = p->scan = cr + 2;
    return REDIS_COMMAND;
}

/* The "*N\r\n" line that opens a RESP array. */
static int resp_header(redis_parser *p, const unsigned char *d, size_t n) {
    long long count;
    int r = read_number(p, d, n, &count);
    if (r == REDIS_INCOMPLETE) return r;
    if (r == REDIS_ERROR || count > REDIS_MAX_MULTIBULK)
        return fail(p, "Protocol error: invalid multibulk length");
    p->args_left = count > 0 ? count : 0; /* "*0" and "*-1": an empty command */
    return REDIS_COMMAND;
}

/* The "$N\r\n" line before a bulk argument. */
static int bulk_header(redis_parser *p, const unsigned char *d, size_t n) {
    if (p->pos >= n) return REDIS_INCOMPLETE;
    p->scanned++;
    if (d[p->pos] != '$') {
        char why[64];
        snprintf(why, sizeof why, "Protocol error: expected '$', got '%c'", d[p->pos]);
        return fail(p, why);
    }
    long long len;
    int r = read_number(p, d, n, &len);
    if (r == REDIS_INCOMPLETE) return r;
    if (r == REDIS_ERROR || len < 0 || len > REDIS_MAX_BULK)
        return fail(p, "Protocol error: invalid bulk length");
    size_t max = p->max_command_bytes; /* refused before the argument's bytes come */
    if (p->pos > max || (size_t)len + 2 > max - p->pos)
        return fail(p, "Protocol error: command too large");
    p->bulk_len = len;
    return REDIS_COMMAND;
}

/* A RESP array, resumed at whichever part it stopped in. */
static int parse_resp(redis_parser *p, const unsigned char *d, size_t n) {
    int r;
    if (p->args_left < 0 && (r = resp_header(p, d, n)) != REDIS_COMMAND) return r;
    while (p->args_left > 0) {
        if (p->bulk_len < 0 && (r = bulk_header(p, d, n)) != REDIS_COMMAND) return r;
        size_t len = (size_t)p->bulk_len;
        if (n - p->pos < len + 2) return REDIS_INCOMPLETE;
        p->scanned += 2; /* the CRLF; the argument itself is not looked at */
        if (d[p->pos + len] != '\r' || d[p->pos + len + 1] != '\n')
            return fail(p, "Protocol error: bulk string not followed by CRLF");
        if (push_arg(p, p->pos, len) < 0) return REDIS_ERROR;
        p->pos += len + 2;
        p->bulk_len = -1;
        p->args_left--;
    }
    return REDIS_COMMAND;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One "quoted" or 'quoted' word starting at s[*i] (the quote), unescaped into `out`;
 * returns its length, or -1 for unbalanced quotes. In double quotes \n \r \t \" \\ \xHH
 * are escapes; in single quotes only \'. The closing quote must end the word. */
static long unquote(const unsigned char *s, size_t len, size_t *i, unsigned char *out) {
    unsigned char q = s[*i];
    size_t k = *i + 1, w = 0;
    for (; k < len && s[k] != q; k++) {
        unsigned char c = s[k];
        if (c == '\\' && k + 1 < len) {
            unsigned char e = s[k + 1];
            if (q == '\'') {
                if (e == '\'') c = s[++k];
            } else if (e == 'x' && k + 3 < len && hexval(s[k + 2]) >= 0 && hexval(s[k + 3]) >= 0) {
                c = (unsigned char)(hexval(s[k + 2]) * 16 + hexval(s[k + 3]));
                k += 3;
            } else {
                c = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
                k++;
            }
        }
        out[w++] = c;
    }
    if (k >= len) return -1; /* no closing quote */
    k++;
    if (k < len && s[k] != ' ' && s[k] != '\t') return -1;
    *i = k;
    return (long)w;
}

/* Splits an inline line into words on blanks, unescaped into p->inl (which has room for
 * the whole line: unescaping only shrinks). */
static int split_inline(redis_parser *p, const unsigned char *s, size_t len) {
    size_t i = 0, w = 0;
    p->scanned += len;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= len) break;
        size_t start = w;
        if (s[i] == '"' || s[i] == '\'') {
            long k = unquote(s, len, &i, p->inl + w);
            if (k < 0) return fail(p, "Protocol error: unbalanced quotes in request");
            w += (size_t)k;
        } else {
            while (i < len && s[i] != ' ' && s[i] != '\t') p->inl[w++] = s[i++];
        }
        if (push_arg(p, start, w - start) < 0) return REDIS_ERROR;
    }
    return REDIS_COMMAND;
}

/* An inline command: one line, ended by "\n" or "\r\n". */
static int parse_inline(redis_parser *p, const unsigned char *d, size_t n) {
    if (!find_byte(p, d, n, '\n')) {
        if (n > REDIS_MAX_INLINE) return fail(p, "Protocol error: too big inline request");
        return REDIS_INCOMPLETE;
    }
    size_t len = p->scan;
    p->pos = len + 1;
    if (len > 0 && d[len - 1] == '\r') len--;
    if (p->inl_cap < len + 1) {
        unsigned char *b = realloc(p->inl, len + 1);
        if (!b) return fail(p, "out of memory");
        p->inl = b;
        p->inl_cap = len + 1;
    }
    return split_inline(p, d, len);
}

int redis_parse(redis_parser *p, const unsigned char *d, size_t n, redis_command *cmd) {
    if (p->kind == KIND_FAILED) return REDIS_ERROR;
    if (p->kind == KIND_NONE) forget_command(p);
    if (n == 0) return REDIS_INCOMPLETE;
    if (p->kind == KIND_NONE) p->kind = d[0] == '*' ? KIND_RESP : KIND_INLINE;

    int r = p->kind == KIND_RESP ? parse_resp(p, d, n) : parse_inline(p, d, n);
    size_t size = r == REDIS_COMMAND ? p->pos : n; /* this command's bytes, so far */
    if (r != REDIS_ERROR && size > p->max_command_bytes)
        return fail(p, "Protocol error: command too large");
    if (r != REDIS_COMMAND) return r;

    cmd->base = p->kind == KIND_RESP ? d : p->inl;
    cmd->argv = p->argv;
    cmd->argc = p->argc;
    cmd->len = p->pos;
    p->kind = KIND_NONE; /* the next call starts the next command */
    return REDIS_COMMAND;
}
