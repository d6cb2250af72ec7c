/*
 * http_proto.h — the HTTP/1.x request parser of the http-server example. Plain C99, no
 * evio, no allocation: a test or a fuzzer can call it on any bytes.
 *
 * It is incremental, line by line. A request that arrives in pieces is parsed as far as
 * its complete lines go, and the parser remembers where it stopped, so the next call looks
 * only at the new bytes: a request of n bytes costs O(n) however it is split. The parser
 * does not keep the bytes; the caller does (the http-server example keeps them in an
 * evio_input_stream):
 *
 *     http_parser p;
 *     http_parser_init(&p);
 *     ... on each read, with `buf` holding the unparsed bytes, oldest first:
 *     size_t pos = 0;
 *     http_request req;
 *     int r;
 *     while ((r = http_parse(&p, buf + pos, len - pos, &req)) == HTTP_REQUEST) {
 *         answer(&req);       // req's spans are offsets from buf + pos
 *         pos += req.len;
 *     }
 *     if (r < 0) answer http_error_status(r), "Connection: close", and close;
 *     keep buf[pos..len) for the next read (HTTP_INCOMPLETE)
 *
 * What it accepts (RFC 9112, strictly, except that empty lines before a request line are
 * skipped, as the RFC recommends): a request line `METHOD SP TARGET SP HTTP/1.0|1.1`,
 * header lines `name: value` (name a token, no space before the colon; no obs-fold), every
 * line ended by CRLF (a bare LF or CR is refused), then an empty line, then a body of
 * Content-Length bytes. It reads three headers: Content-Length (digits only; two that
 * differ are refused), Connection (`close`, `keep-alive`) and Transfer-Encoding (refused:
 * chunked bodies are not in this example).
 *
 * Limits, so a peer cannot make a connection hold more than this:
 *   HTTP_MAX_HEAD   the request line, the headers and the empty line: 64 KiB. Past it
 *                   HTTP_HEAD_TOO_LARGE, as soon as that many bytes came without the end.
 *   HTTP_MAX_BODY   Content-Length: 16 MiB. Past it HTTP_BODY_TOO_LARGE, on the header
 *                   alone (before any of the body).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef HTTP_PROTO_H
#define HTTP_PROTO_H

#include <stddef.h>

#define HTTP_MAX_HEAD 65536                      /* longest request head */
#define HTTP_MAX_BODY ((size_t)16 * 1024 * 1024) /* longest request body */

/* What http_parse() returns; the errors say which answer the peer gets (http_error_status). */
enum {
    HTTP_INCOMPLETE = 0,      /* the request needs more bytes */
    HTTP_REQUEST = 1,         /* a whole request (head and body) */
    HTTP_BAD = -1,            /* 400 Bad Request */
    HTTP_HEAD_TOO_LARGE = -2, /* 431 Request Header Fields Too Large */
    HTTP_BODY_TOO_LARGE = -3, /* 413 Content Too Large */
    HTTP_UNSUPPORTED = -4     /* 501 Not Implemented (Transfer-Encoding) */
};

/* `len` bytes at `off` from the request's first byte. An offset, not a pointer, because
 * the caller's buffer may move while the request is still incomplete. */
typedef struct http_span {
    size_t off;
    size_t len;
} http_span;

/* A whole request. */
typedef struct http_request {
    http_span method;  /* e.g. GET */
    http_span target;  /* e.g. /index.html?x=1 */
    int minor_version; /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    int keep_alive;    /* the connection stays open after the answer: HTTP/1.1 unless
                          `Connection: close`, HTTP/1.0 only with `Connection: keep-alive` */
    int head_only;     /* the method is HEAD: the answer has no body */
    size_t head_len;   /* request line, headers and the empty line */
    size_t body_len;   /* Content-Length (0 without one) */
    size_t len;        /* head_len + body_len: the next request starts here */
} http_request;

/* The state of one connection's parser. Read `err` after an error and `scanned` if you
 * like; the rest is private. */
typedef struct http_parser {
    int state;        /* before the request line, in the headers, in the body, failed */
    size_t line;      /* where the next line to parse starts */
    size_t scan;      /* how far the search for that line's end got */
    int have_length;  /* a Content-Length header was seen */
    int conn_close;   /* `Connection: close` was seen */
    int conn_keep;    /* `Connection: keep-alive` was seen */
    http_request req; /* the fields parsed so far */
    int error;        /* after an error: the result it returned */
    size_t scanned;   /* every byte the parser looked at, ever: proof that it is linear */
    const char *err;  /* after an error: why, e.g. "bad header line" (a static string) */
} http_parser;

/* Makes `p` ready to parse. There is nothing to free. */
void http_parser_init(http_parser *p);

/*
 * Parses the request at the start of `d` (`n` bytes, any bytes at all). `d` must begin
 * where the pending request begins and hold at least the bytes of the previous call (it
 * may have moved): that is how the caller's buffer looks if it keeps what was not consumed.
 *
 *   HTTP_REQUEST     *req is the request; the next one starts at d + req->len.
 *   HTTP_INCOMPLETE  the request needs more bytes: call again with them added.
 *   < 0              an error: p->err says why; answer http_error_status() and close (a
 *                    parser that failed returns the same error until http_parser_init()).
 */
int http_parse(http_parser *p, const char *d, size_t n, http_request *req);

/* The status line text for an error result ("400 Bad Request", ...); for others, NULL. */
const char *http_error_status(int result);

#endif
