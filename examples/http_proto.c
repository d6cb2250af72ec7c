/*
 * http_proto.c — the incremental HTTP/1.x request parser (see http_proto.h).
 *
 * The head is taken one line at a time. A line's end ('\n') is searched for only in bytes
 * not searched before (`scan`), and each complete line is checked once, when it is
 * complete: a byte of the head is searched once and checked once (`scanned` counts both;
 * the unit test holds it to 3 times the input length), and the body is skipped, never
 * looked at. A bare CR is refused by the checks themselves: no line part allows it.
 *
 * SPDX-License-Identifier: MIT
 */
#include "http_proto.h"

#include <string.h>

enum { STATE_START, STATE_HEADERS, STATE_BODY, STATE_FAILED };

void http_parser_init(http_parser *p) {
    memset(p, 0, sizeof *p);
}

static int fail(http_parser *p, int result, const char *why) {
    p->err = why;
    p->error = result;
    p->state = STATE_FAILED;
    return result;
}

/* A request was returned: forget it (but not `scanned`, which counts for ever). */
static void next_request(http_parser *p) {
    size_t scanned = p->scanned;
    http_parser_init(p);
    p->scanned = scanned;
}

/* RFC 9110 tchar: the bytes of a token (a method, a header name), as a table. */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* A byte a header value may hold: HTAB, SP, VCHAR and obs-text; no other control byte. */
static int is_value_byte(unsigned char c) {
    return c == '\t' || (c >= ' ' && c != 0x7f);
}

static size_t token_len(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && tchar[(unsigned char)s[i]])
        i++;
    return i;
}

static int equals_nocase(const char *s, size_t n, const char *lit) {
    size_t k = strlen(lit);
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/* `METHOD SP TARGET SP HTTP/1.x`, at s[0, n) (the line without its CRLF), which begins
 * `at` bytes into the request. */
static int request_line(http_parser *p, const char *s, size_t n, size_t at) {
    size_t m = token_len(s, n);
    if (m == 0 || m >= n || s[m] != ' ')
        return fail(p, HTTP_BAD, "bad request line");
    size_t t = m + 1, tend = t;
    while (tend < n && (unsigned char)s[tend] > ' ' && (unsigned char)s[tend] < 0x7f)
        tend++;
    if (tend == t || tend >= n || s[tend] != ' ')
        return fail(p, HTTP_BAD, "bad request line");
    const char *v = s + tend + 1;
    if (n - tend - 1 != 8 || memcmp(v, "HTTP/1.", 7) != 0 || (v[7] != '0' && v[7] != '1'))
        return fail(p, HTTP_BAD, "bad HTTP version");
    p->req.method.off = at;
    p->req.method.len = m;
    p->req.target.off = at + t;
    p->req.target.len = tend - t;
    p->req.minor_version = v[7] - '0';
    p->req.head_only = m == 4 && memcmp(s, "HEAD", 4) == 0;
    p->state = STATE_HEADERS;
    return HTTP_INCOMPLETE;
}

static int content_length(http_parser *p, const char *v, size_t n) {
    size_t len = 0;
    if (n == 0)
        return fail(p, HTTP_BAD, "bad Content-Length");
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(p, HTTP_BAD, "bad Content-Length");
        len = len * 10 + (size_t)(v[i] - '0');
        if (len > HTTP_MAX_BODY)
            return fail(p, HTTP_BODY_TOO_LARGE, "body too large");
    }
    if (p->have_length && len != p->req.body_len)
        return fail(p, HTTP_BAD, "two different Content-Length headers");
    p->have_length = 1;
    p->req.body_len = len;
    return HTTP_INCOMPLETE;
}

/* The comma-separated options of a Connection header. */
static void connection_options(http_parser *p, const char *v, size_t n) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t k = token_len(v + i, n - i);
        if (equals_nocase(v + i, k, "close"))
            p->conn_close = 1;
        else if (equals_nocase(v + i, k, "keep-alive"))
            p->conn_keep = 1;
        i += k;
        while (i < n && v[i] != ',')
            i++; /* whatever follows the token, up to the next one */
    }
}

/* `name: value` at s[0, n) (the line without its CRLF). */
static int header_line(http_parser *p, const char *s, size_t n) {
    size_t k = token_len(s, n);
    if (k == 0 || k >= n || s[k] != ':')
        return fail(p, HTTP_BAD, "bad header line");
    for (size_t i = k + 1; i < n; i++)
        if (!is_value_byte((unsigned char)s[i]))
            return fail(p, HTTP_BAD, "bad header value");
    const char *v = s + k + 1;
    size_t vlen = n - k - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (equals_nocase(s, k, "content-length"))
        return content_length(p, v, vlen);
    if (equals_nocase(s, k, "transfer-encoding"))
        return fail(p, HTTP_UNSUPPORTED, "Transfer-Encoding is not supported");
    if (equals_nocase(s, k, "connection"))
        connection_options(p, v, vlen);
    return HTTP_INCOMPLETE;
}

/* The empty line: the head is complete. */
static void end_of_head(http_parser *p, size_t head_len) {
    http_request *r = &p->req;
    r->head_len = head_len;
    r->len = head_len + r->body_len;
    r->keep_alive = r->minor_version == 1 ? !p->conn_close : p->conn_keep && !p->conn_close;
    p->state = STATE_BODY;
}

/* One complete line at d[p->line, lf] ('\n' at lf). */
static int head_line(http_parser *p, const char *d, size_t lf) {
    size_t start = p->line;
    p->line = p->scan = lf + 1;
    if (lf == start || d[lf - 1] != '\r')
        return fail(p, HTTP_BAD, "a line not ended by CRLF");
    const char *s = d + start;
    size_t n = lf - 1 - start; /* without the CRLF */
    p->scanned += n;
    if (p->state == STATE_START)
        return n == 0 ? HTTP_INCOMPLETE : request_line(p, s, n, start);
    if (n == 0) {
        end_of_head(p, lf + 1);
        return HTTP_INCOMPLETE;
    }
    return header_line(p, s, n);
}

/* Parses the complete lines of the head found in d[0, n). */
static int parse_head(http_parser *p, const char *d, size_t n) {
    size_t limit = n < HTTP_MAX_HEAD ? n : HTTP_MAX_HEAD;
    while (p->state != STATE_BODY) {
        const char *lf = p->scan < limit ? memchr(d + p->scan, '\n', limit - p->scan) : NULL;
        size_t upto = lf ? (size_t)(lf - d) + 1 : limit;
        if (upto > p->scan)
            p->scanned += upto - p->scan;
        if (!lf) {
            p->scan = limit;
            if (n >= HTTP_MAX_HEAD)
                return fail(p, HTTP_HEAD_TOO_LARGE, "request head too large");
            return HTTP_INCOMPLETE;
        }
        int r = head_line(p, d, (size_t)(lf - d));
        if (r < 0)
            return r;
    }
    return HTTP_INCOMPLETE;
}

int http_parse(http_parser *p, const char *d, size_t n, http_request *req) {
    if (p->state == STATE_FAILED)
        return p->error;
    if (p->state != STATE_BODY) {
        int r = parse_head(p, d, n);
        if (r < 0)
            return r;
        if (p->state != STATE_BODY)
            return HTTP_INCOMPLETE;
    }
    if (n < p->req.len)
        return HTTP_INCOMPLETE; /* the body is still coming */
    *req = p->req;
    next_request(p);
    return HTTP_REQUEST;
}

const char *http_error_status(int result) {
    switch (result) {
    case HTTP_BAD:
        return "400 Bad Request";
    case HTTP_HEAD_TOO_LARGE:
        return "431 Request Header Fields Too Large";
    case HTTP_BODY_TOO_LARGE:
        return "413 Content Too Large";
    case HTTP_UNSUPPORTED:
        return "501 Not Implemented";
    default:
        return NULL;
    }
}
