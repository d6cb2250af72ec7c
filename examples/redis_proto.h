/*
 * redis_proto.h — the Redis protocol parser of the redis-server example: RESP arrays
 * (`*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n`, what redis-cli sends) and inline commands
 * (`PING\r\n`, what telnet sends). Plain C99, no evio: a test or a fuzzer can call it.
 *
 * It is incremental. A command that arrives in pieces is parsed as far as the bytes go,
 * and the parser remembers where it stopped (which argument, the bulk length it waits for,
 * where each argument starts), so the next call looks only at the new bytes: a command of
 * n bytes costs O(n) however it is split. The parser does not keep the bytes; the caller
 * does (the redis-server example keeps them in an evio_input_stream):
 *
 *     redis_parser p;
 *     redis_parser_init(&p, REDIS_MAX_COMMAND_BYTES);
 *     ... on each read, with `buf` holding the unparsed bytes, oldest first:
 *     size_t pos = 0;
 *     redis_command cmd;
 *     int r;
 *     while ((r = redis_parse(&p, buf + pos, len - pos, &cmd)) == REDIS_COMMAND) {
 *         run(&cmd);          // cmd.argc may be 0 (an empty line): nothing to run
 *         pos += cmd.len;
 *     }
 *     if (r == REDIS_ERROR) reply "-ERR <p.err>" and close;
 *     keep buf[pos..len) for the next read (REDIS_INCOMPLETE)
 *     ...
 *     redis_parser_free(&p);
 *
 * Limits (Redis's own, except the command bound, which Redis leaves at 1 GiB):
 *   REDIS_MAX_INLINE     an inline line without its '\n' may be 64 KiB
 *   REDIS_MAX_MULTIBULK  a RESP array may have 1M arguments; their slots are allocated as
 *                        they arrive, never for the declared count up front
 *   REDIS_MAX_BULK       one RESP argument may be 512 MiB (but see the next line)
 *   max_command_bytes    one whole command, given to redis_parser_init();
 *                        REDIS_MAX_COMMAND_BYTES (64 MiB) by default. A command is refused as
 *                        soon as it is known to be longer: when a bulk length says so, or
 *                        when that many bytes came without completing it.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef REDIS_PROTO_H
#define REDIS_PROTO_H

#include <stddef.h>

#define REDIS_MAX_INLINE 65536                         /* longest inline command line */
#define REDIS_MAX_MULTIBULK (1024 * 1024)              /* most arguments in one command */
#define REDIS_MAX_BULK ((long long)512 * 1024 * 1024)  /* longest argument */
#define REDIS_MAX_COMMAND_BYTES ((size_t)64 * 1024 * 1024) /* longest command, by default */

/* What redis_parse() returns. */
enum { REDIS_INCOMPLETE = 0, REDIS_COMMAND = 1, REDIS_ERROR = -1 };

/* One argument: `len` bytes at `off` from redis_command.base. An offset, not a pointer,
 * because the caller's buffer may move while the command is still incomplete. */
typedef struct redis_arg {
    size_t off;
    size_t len;
} redis_arg;

/* A whole command, valid until the next call on the parser. */
typedef struct redis_command {
    const unsigned char *base; /* the caller's bytes (RESP) or the parser's (inline) */
    const redis_arg *argv;
    size_t argc; /* 0 for an empty line or "*0\r\n": nothing to run */
    size_t len;  /* how many input bytes the command took */
} redis_command;

/* The state of one connection's parser. Read `err` after REDIS_ERROR and `scanned` if
 * you like; the rest is private. */
typedef struct redis_parser {
    size_t max_command_bytes;
    /* Where the pending command got to (offsets from its first byte). */
    int kind;             /* not started, RESP or inline */
    size_t pos;           /* the next unparsed byte */
    size_t scan;          /* how far the search for the current line's end got */
    long long args_left;  /* RESP arguments still to come; -1 before the "*N" line */
    long long bulk_len;   /* length of the argument at `pos`; -1 before its "$N" line */
    /* The arguments parsed so far. */
    redis_arg *argv;
    size_t argc, argv_cap;
    unsigned char *inl; /* an inline command's arguments, unescaped */
    size_t inl_cap;
    size_t scanned;     /* every byte the parser looked at, ever: proof that it is linear */
    char err[96];       /* after REDIS_ERROR: "Protocol error: ..." or "out of memory" */
} redis_parser;

/* Makes `p` ready to parse; `max_command_bytes` bounds one command (0: the default). */
void redis_parser_init(redis_parser *p, size_t max_command_bytes);

/* Frees what the parser allocated; init again to reuse it. */
void redis_parser_free(redis_parser *p);

/*
 * Parses the command at the start of `d` (`n` bytes). `d` must begin where the pending
 * command begins and hold at least the bytes of the previous call (it may have moved):
 * that is how the caller's buffer looks if it keeps what was not consumed.
 *
 *   REDIS_COMMAND     *cmd is the command; the next one starts at d + cmd->len.
 *   REDIS_INCOMPLETE  the command needs more bytes: call again with them added.
 *   REDIS_ERROR       p->err says why; the connection should be closed (a parser that
 *                     failed stays failed until redis_parser_free() and init).
 */
int redis_parse(redis_parser *p, const unsigned char *d, size_t n, redis_command *cmd);

#endif
