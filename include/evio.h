/*
 * evio — an event-loop networking library with a stable C API.
 *
 * This is the only public header. It is C99-clean and can be included from C++.
 * Everything behind it (the C++ core and the engines) is private.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef EVIO_H
#define EVIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @file evio.h
 * @brief The public C API of evio.
 *
 * A server calls evio_serve() with a table of event callbacks (::evio_events) and one or
 * more addresses. evio_serve() binds every address, calls `serving`, then runs one or more
 * event loops (one thread each) that call the other callbacks until a callback returns
 * ::EVIO_SHUTDOWN. Then it closes every connection (calling `closed` for each), joins its
 * threads and returns.
 *
 * @par Threads
 * Each connection belongs to exactly one loop, and all callbacks for it run on that loop's
 * thread, one at a time. Functions marked "loop thread only" may be called only from a
 * callback running on the loop that owns the connection; they return ::EVIO_EPERM when
 * called from any other thread. evio_conn_wake(), evio_conn_ref() and evio_conn_unref()
 * may be called from any thread.
 *
 * @par Errors
 * Functions that can fail return 0 (or a non-negative count) on success and a negative
 * `EVIO_E…` code on failure. evio_strerror() turns a code into a short text, and
 * evio_last_error() returns a message that names what was wrong with the last failed call
 * made on the calling thread (for example `"tcp://:99999: port 99999 out of range"`).
 * No function throws, aborts or crashes on bad input.
 */

/** @name Version
 *  The version of the header you compiled against. evio_version() gives the version of the
 *  library you run against.
 *  @{ */
#define EVIO_VERSION_MAJOR 1 /**< Major version: changes only with an ABI break. */
#define EVIO_VERSION_MINOR 2 /**< Minor version: additions. */
#define EVIO_VERSION_PATCH 0 /**< Patch version: fixes. */
/** The version as one number: major * 10000 + minor * 100 + patch. */
#define EVIO_VERSION (EVIO_VERSION_MAJOR * 10000 + EVIO_VERSION_MINOR * 100 + EVIO_VERSION_PATCH)
/** @} */

/** Symbol visibility of the public functions. */
#if defined(_WIN32)
#define EVIO_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define EVIO_EXPORT __attribute__((visibility("default")))
#else
#define EVIO_EXPORT
#endif

/**
 * @brief The error list: one row `XX(NAME, value, "text")` per code.
 *
 * It is the only list. It makes the ::evio_error enum (`EVIO_` `NAME` = `value`) and the
 * texts evio_strerror() returns, and the tests of the C library and of the Rust and Go
 * bindings read it, so none of them can miss a code. Each `value` is the Linux errno of
 * the same `NAME`, negated, on every platform. Rows may be added; a row is never removed,
 * and a value never changes and is never reused (they are ABI).
 *
 * Programs may use it too, as libuv's `UV_ERRNO_MAP` is used, for example to list every
 * code with its name:
 * @code
 * #define SHOW(name, value, text) printf("EVIO_%s = %d: %s\n", #name, value, text);
 * EVIO_ERRNO_MAP(SHOW)
 * @endcode
 * @since 1.0
 */
#define EVIO_ERRNO_MAP(XX)                                                                 \
    XX(EPERM, -1, "operation not permitted on this thread")                                \
    XX(ENOENT, -2, "no such file or host")                                                 \
    XX(EIO, -5, "input/output error")                                                      \
    XX(EBADF, -9, "bad file descriptor")                                                   \
    XX(ENOMEM, -12, "out of memory")                                                       \
    XX(EACCES, -13, "permission denied")                                                   \
    XX(EBUSY, -16, "resource busy")                                                        \
    XX(EINVAL, -22, "invalid argument")                                                    \
    XX(ENFILE, -23, "too many open files in the system")                                   \
    XX(EMFILE, -24, "too many open files")                                                 \
    XX(EPIPE, -32, "broken pipe")                                                          \
    XX(ENAMETOOLONG, -36, "name too long")                                                 \
    XX(ENOSYS, -38, "function not implemented")                                            \
    XX(ENOTSUP, -95, "operation not supported")                                            \
    XX(EAFNOSUPPORT, -97, "address family not supported")                                  \
    XX(EADDRINUSE, -98, "address already in use")                                          \
    XX(EADDRNOTAVAIL, -99, "address not available")                                        \
    XX(ENETUNREACH, -101, "network is unreachable")                                        \
    XX(ECONNABORTED, -103, "connection aborted")                                           \
    XX(ECONNRESET, -104, "connection reset by peer")                                       \
    XX(ENOBUFS, -105, "no buffer space (output limit reached)")                            \
    XX(ENOTCONN, -107, "connection is closed")                                             \
    XX(ETIMEDOUT, -110, "timed out")                                                       \
    XX(ECONNREFUSED, -111, "connection refused")                                           \
    XX(EHOSTUNREACH, -113, "host is unreachable")                                          \
    XX(ECANCELED, -125, "operation canceled (the server stopped first)")

/* One enumerator per row. Doxygen keeps the comment, so each code is documented by its
 * text (docs/Doxyfile.in leaves this helper itself out of the reference). */
#define EVIO_ERRNO_ENUM_(name, value, text) , EVIO_##name = value /**< text */

/**
 * @brief Error codes. Every failure is reported as one of these negative numbers.
 *
 * Made from ::EVIO_ERRNO_MAP; each code's text (what evio_strerror() returns) is its
 * description. In evio's own words, some codes mean:
 * - ::EVIO_EPERM: a "loop thread only" function was called from another thread.
 * - ::EVIO_EINVAL: a bad address, a NULL pointer, an out-of-range setting, …
 * - ::EVIO_EMFILE: too many open files in this process (::EVIO_ENFILE: in the system).
 * - ::EVIO_ENAMETOOLONG: a name (such as a unix socket path) is too long.
 * - ::EVIO_ENOSYS: the function is not implemented on this platform.
 * - ::EVIO_ENOTSUP: not supported by this engine, socket type, ….
 * - ::EVIO_ENOTCONN: the connection is closed (or was detached).
 * - ::EVIO_EPIPE: broken pipe: the peer is gone.
 *
 * Codes added after 1.0: ::EVIO_ENOBUFS (1.1), ::EVIO_ECANCELED (1.2).
 * @since 1.0
 */
typedef enum evio_error {
    EVIO_OK = 0 /**< Success. */
    EVIO_ERRNO_MAP(EVIO_ERRNO_ENUM_)
} evio_error;

#undef EVIO_ERRNO_ENUM_

/**
 * @brief What the server should do after an event callback returns.
 * @since 1.0
 */
typedef enum evio_action {
    EVIO_NONE = 0,     /**< Carry on. */
    EVIO_DETACH = 1,   /**< Flush the output, then hand the socket to the `detached` callback. */
    EVIO_CLOSE = 2,    /**< Flush the output, then close the connection (input that was
                            not read yet is discarded, so the close is orderly, not a
                            reset that could lose the end of the output). */
    EVIO_SHUTDOWN = 3  /**< Close every connection and make evio_serve() return 0. */
} evio_action;

/**
 * @brief How new connections are spread over the loops when there are several.
 * @since 1.0 (::EVIO_LB_SOURCE_HASH since 1.1)
 */
typedef enum evio_load_balance {
    EVIO_LB_RANDOM = 0,           /**< A random loop for each connection (the default). */
    EVIO_LB_ROUND_ROBIN = 1,      /**< Loops in turn. */
    EVIO_LB_LEAST_CONNECTIONS = 2, /**< The loop with the fewest open connections. */
    EVIO_LB_SOURCE_HASH = 3        /**< A hash of the client's IP address (not its port): one
                                        client address always lands on the same loop, as
                                        long as the number of loops stays (since 1.1). */
} evio_load_balance;

/**
 * @brief Which engine runs a server.
 *
 * - The native engine is epoll on Linux (kqueue on BSD/macOS is planned). It is the default.
 * - The std engine runs on libuv, the portable event library; it is what evio's `-net`
 *   address suffix (`tcp-net://…`) selects, and what builds without a native engine use
 *   for every server. Both engines give the same events and semantics.
 *
 * The choice, in order: an address with the `-net` suffix selects std for the whole
 * server; else ::evio_events.engine if not ::EVIO_ENGINE_DEFAULT; else the environment
 * variable `EVIO_ENGINE` (`native` or `std`) if set; else native.
 * @since 1.0
 */
typedef enum evio_engine {
    EVIO_ENGINE_DEFAULT = 0, /**< Decided by the addresses and `EVIO_ENGINE` (see above). */
    EVIO_ENGINE_NATIVE = 1,  /**< epoll (or the std engine where there is no native one). */
    EVIO_ENGINE_STD = 2      /**< libuv. */
} evio_engine;

/**
 * @brief A connection (or, for UDP, the sender of one datagram). Opaque.
 *
 * Owned by the library. A pointer received in a callback stays valid until `closed` or
 * `detached` returns for it, unless you hold a reference (evio_conn_ref()), in which case
 * the memory stays valid until your last evio_conn_unref(); a closed connection then only
 * answers ::EVIO_ENOTCONN. For UDP the pointer is valid only during the `data` call.
 * @since 1.0
 */
typedef struct evio_conn evio_conn;

/**
 * @brief The running server, as seen from the `serving` callback. Opaque.
 *
 * Owned by the library; valid only during the `serving` callback.
 * @since 1.0
 */
typedef struct evio_server evio_server;

/** The most event loops one server runs (::evio_events.num_loops). Each loop is a thread
 *  with its own poller and a 64 KiB read buffer. @since 1.0 */
#define EVIO_MAX_LOOPS 1024

/**
 * @brief The event callbacks and settings of a server (evio's `Events`).
 *
 * Initialise it with ::EVIO_EVENTS_INIT (or zero it and set `size` to
 * `sizeof(evio_events)`), then set the fields you need; every callback is optional.
 * The `size` field lets later versions append fields without breaking programs built
 * against this one.
 *
 * Every callback receives the `udata` pointer given here. The table is copied by
 * evio_serve(); it need not outlive the call.
 * @since 1.0
 */
typedef struct evio_events {
    /** Must be `sizeof(evio_events)` as compiled by the caller (set by ::EVIO_EVENTS_INIT).
     *  @since 1.0 */
    size_t size;
    /** Passed unchanged to every callback. @since 1.0 */
    void *udata;
    /**
     * Number of event loops (threads): 0 or 1 = one, N = N (at most ::EVIO_MAX_LOOPS;
     * more is ::EVIO_EINVAL), -1 = one per CPU (capped at ::EVIO_MAX_LOOPS). @since 1.0
     */
    int num_loops;
    /** How connections are spread over the loops when `num_loops` > 1. @since 1.0 */
    evio_load_balance load_balance;

    /**
     * Called once, on the thread that called evio_serve(), after every address is bound
     * and before any connection is accepted. Return ::EVIO_SHUTDOWN to stop at once.
     * @since 1.0
     */
    evio_action (*serving)(evio_server *server, void *udata);

    /**
     * Called on the connection's loop when a connection is accepted. Output written here
     * with evio_conn_write() is sent before any input is read (a greeting). Options
     * (evio_conn_set_keepalive(), evio_conn_set_reuse_input()) are usually set here.
     * @since 1.0
     */
    evio_action (*opened)(evio_conn *conn, void *udata);

    /**
     * Called when a connection closes, before its socket is closed. `err` is 0 for an
     * orderly close (by either side, or at shutdown) and a negative `EVIO_E…` code when
     * the connection failed (for example ::EVIO_ECONNRESET). Not called after a detach.
     * Only ::EVIO_SHUTDOWN is meaningful as the return value. @since 1.0
     */
    evio_action (*closed)(evio_conn *conn, int err, void *udata);

    /**
     * Called after the ::EVIO_DETACH action, once all pending output is flushed. `fd` is
     * now yours: it is in blocking mode, evio no longer watches it, and you must close
     * it. Only ::EVIO_SHUTDOWN is meaningful as the return value. @since 1.0
     */
    evio_action (*detached)(evio_conn *conn, int fd, void *udata);

    /**
     * Called on a loop just before output is handed to a socket of that loop: once per
     * flush of the connection's pending output (not again when a send that found the
     * socket full goes on once it has room). @since 1.0
     */
    void (*prewrite)(evio_conn *conn, void *udata);

    /**
     * Called when bytes arrive (`in`, `len` > 0), or after evio_conn_wake() (`in` is
     * NULL and `len` is 0). For UDP, called once per datagram. See
     * evio_conn_set_reuse_input() for how long `in` stays valid. @since 1.0
     */
    evio_action (*data)(evio_conn *conn, const void *in, size_t len, void *udata);

    /**
     * Called on the first loop right after `serving`, then again after the delay it
     * stores in `*delay_ns` (nanoseconds; `*delay_ns` is 1 second on entry, and a value
     * of 0 or less fires again on the next loop turn, after the loop has polled its
     * connections; `INT64_MAX` means never again). Output a tick writes with
     * evio_conn_write() is sent when it returns. @since 1.0
     */
    evio_action (*tick)(int64_t *delay_ns, void *udata);

    /**
     * The engine for the whole server (see ::evio_engine). Asking for
     * ::EVIO_ENGINE_NATIVE together with a `-net` address is an error (::EVIO_EINVAL).
     * @since 1.0
     */
    evio_engine engine;

    /* ---- since 1.1: flow control and half-close ---------------------------------------- */

    /**
     * Called when a connection's pending output (evio_conn_pending()) falls to its low
     * watermark or under it, after it had passed the high watermark: the moment a
     * producer that paused (because evio_conn_pending() was high) may go on. Its output
     * and action apply as for `data`. @since 1.1
     */
    evio_action (*drained)(evio_conn *conn, void *udata);

    /**
     * When set, the peer's end of input (it shut down its sending side) calls this instead
     * of closing the connection: the connection stays open for output, so a proxy can
     * forward the end of input (evio_conn_shutdown_write()) and a server can still answer.
     * Return ::EVIO_CLOSE to close once the output has left. When the connection has also
     * shut down its own sending side, it closes (`closed` with 0) once its output has left.
     * Unset: the end of input closes the connection once the output owed has left, as in
     * 1.0. @since 1.1
     */
    evio_action (*input_closed)(evio_conn *conn, void *udata);

    /**
     * Default watermarks of every connection (evio_conn_set_watermarks()): with more
     * than `high_watermark` bytes of pending output a connection stops being read, and is
     * read again once at most `low_watermark` are pending. 0 means the default: 256 KiB
     * and 1 MiB (so a low watermark of 0 is set per connection, with
     * evio_conn_set_watermarks()). A low above the high one is ::EVIO_EINVAL. @since 1.1
     */
    size_t low_watermark;
    size_t high_watermark; /**< See `low_watermark`. @since 1.1 */

    /**
     * Default hard limit on a connection's pending output (evio_conn_set_output_limit()):
     * a write (or a send from another thread, when the loop appends it) that would take it
     * past the limit closes the connection with ::EVIO_ENOBUFS instead of growing without
     * end (Redis's client-output-buffer-limit); evio_conn_send() itself refuses with
     * ::EVIO_ENOBUFS while the bytes it has queued would pass the limit. 0: no limit.
     * @since 1.1
     */
    size_t output_limit;

    /**
     * Default idle timeout of every connection, in nanoseconds
     * (evio_conn_set_idle_timeout()); 0: none. @since 1.1
     */
    int64_t idle_timeout_ns;

    /* ---- since 1.2: outbound connections ----------------------------------------------- */

    /**
     * Called on the dialing loop when a dial (evio_dial(), evio_server_dial()) fails:
     * `ctx` is the pointer given to the dial and `err` says why (::EVIO_ECONNREFUSED,
     * ::EVIO_ETIMEDOUT for the connect timeout, ::EVIO_ENOENT for an unknown host,
     * ::EVIO_ECANCELED when the server stopped first, …). A dial that succeeds calls
     * `opened` instead, so each accepted dial ends in exactly one of the two. Loop-thread
     * functions work here (dial again, close the connection that waited for this one).
     * Only ::EVIO_SHUTDOWN is meaningful as the return value. @since 1.2
     */
    evio_action (*dial_failed)(void *ctx, int err, void *udata);
} evio_events;

/** Initialiser for ::evio_events: sets `size`, zeroes everything else. @since 1.0 */
#define EVIO_EVENTS_INIT                                                                   \
    {sizeof(evio_events), NULL, 0, EVIO_LB_RANDOM, NULL, NULL, NULL, NULL,                  \
     NULL, NULL, NULL, EVIO_ENGINE_DEFAULT, NULL, NULL, 0, 0, 0, 0, NULL}

/**
 * @brief Run a server on one or more addresses until a callback returns ::EVIO_SHUTDOWN.
 *
 * Addresses follow evio's syntax: `[scheme://]host:port[?reuseport=true]`, where scheme
 * is `tcp` (the default), `tcp4`, `tcp6`, `udp`, `udp4`, `udp6` or `unix` (then the rest
 * is a file path: `unix:///tmp/s.sock` or `unix://rel.sock`). An empty host listens on
 * every interface; port 0 asks the kernel for a free port (see evio_server_addr()); an
 * empty `host:port` (`tcp://`) means both, as in Go's evio.
 *
 * Unix socket files: a stale one (a socket file nobody listens on, left by a server that
 * died) is removed before binding; one that a running server listens on is
 * ::EVIO_EADDRINUSE, with a message naming the path; a path that exists and is not a
 * socket is an error too. At shutdown the file is removed only if it is still the file
 * this server bound (same device and inode), never one another server has bound since.
 *
 * @param events the callbacks and settings; copied.
 * @param addrs  `naddrs` NUL-terminated address strings; read during the call only.
 * @param naddrs number of addresses (at least 1).
 * @return 0 after an orderly shutdown, or a negative `EVIO_E…` code if the server could
 *         not start (evio_last_error() then says which address and why). If it fails,
 *         no callback has been called.
 * @par Thread-safety
 * Any thread; blocks it. Several servers may run at once in one process. It may also be
 * called inside a callback of another server: that server's loop (on this thread) is
 * blocked until the inner server returns, and then works as before.
 * @since 1.0
 */
EVIO_EXPORT int evio_serve(const evio_events *events, const char *const *addrs, size_t naddrs);

/** @name Server information
 *  In the `serving` callback; and on a handle from evio_server_start(), from any thread
 *  until evio_server_free() (nothing in it changes while the server runs).
 *  @{ */

/**
 * @brief Number of addresses the server listens on (the `naddrs` given to evio_serve()).
 * @par Thread-safety
 * During `serving`, on its thread; on a started handle, any thread until evio_server_free().
 * @since 1.0
 */
EVIO_EXPORT int evio_server_num_addrs(const evio_server *server);

/**
 * @brief Number of event loops the server runs.
 * @par Thread-safety
 * During `serving`, on its thread; on a started handle, any thread until evio_server_free().
 * @since 1.0
 */
EVIO_EXPORT int evio_server_num_loops(const evio_server *server);

/**
 * @brief The name of the engine running the server: `"epoll"` or `"libuv"`.
 * @return a static string, or NULL for a NULL server.
 * @par Thread-safety
 * During `serving`, on its thread; on a started handle, any thread until evio_server_free().
 * @since 1.0
 */
EVIO_EXPORT const char *evio_server_engine(const evio_server *server);

/**
 * @brief The bound address `index` (the real port when port 0 was asked).
 * @param server the server passed to `serving`.
 * @param index 0 … evio_server_num_addrs() - 1, in the order given to evio_serve().
 * @param len receives the length of the address; may be NULL.
 * @return a pointer owned by the server, valid during the `serving` callback, or NULL if
 *         `index` is out of range.
 * @par Thread-safety
 * During `serving`, on its thread; on a started handle, any thread until evio_server_free().
 * @since 1.0
 */
EVIO_EXPORT const struct sockaddr *evio_server_addr(const evio_server *server, int index,
                                                    socklen_t *len);

/**
 * @brief The bound address `index` as text, in the form accepted by evio_serve()
 *        (`tcp://127.0.0.1:40123`, `tcp6://[::1]:40123`, `udp://…`, `unix:///tmp/s`).
 * @param server the server passed to `serving`.
 * @param index 0 … evio_server_num_addrs() - 1.
 * @param buf receives the NUL-terminated text, truncated to `buflen` bytes.
 * @param buflen size of `buf` in bytes (0 with a NULL `buf` just measures).
 * @return the length of the full text (as snprintf), or a negative `EVIO_E…` code.
 * @par Thread-safety
 * During `serving`, on its thread; on a started handle, any thread until evio_server_free().
 * @since 1.0
 */
EVIO_EXPORT int evio_server_addr_string(const evio_server *server, int index, char *buf,
                                        size_t buflen);
/** @} */

/** @name Server handle
 *  Start a server without giving up the calling thread, and stop it from any thread
 *  (since 1.1). evio_serve() is evio_server_start() + evio_server_wait() +
 *  evio_server_free(), except that it runs the first loop on the calling thread.
 *  @{ */

/**
 * @brief Bind, call `serving` (on the calling thread), then run every loop on a thread of
 *        its own, and return.
 *
 * Everything evio_serve() says of `events` and `addrs` holds, except that `naddrs` may be 0
 * (`addrs` may then be NULL): a server that listens on nothing, for a program that only
 * posts work to its loops (and, later, dials out). If `serving` returns ::EVIO_SHUTDOWN
 * (or calls evio_server_stop()) the server stops at once; the handle is still returned.
 *
 * @param events the callbacks and settings; copied.
 * @param addrs  `naddrs` address strings (see evio_serve()); read during the call only.
 * @param naddrs number of addresses; 0 is allowed.
 * @param server receives the handle, valid until evio_server_free().
 * @return 0, or a negative `EVIO_E…` code: then nothing was started, no callback was
 *         called and `*server` is left as it was.
 * @par Thread-safety
 * Any thread. Callbacks run on the server's loop threads (`serving` on the caller's).
 * @since 1.1
 */
EVIO_EXPORT int evio_server_start(const evio_events *events, const char *const *addrs,
                                  size_t naddrs, evio_server **server);

/**
 * @brief Ask a server to stop, letting its connections finish sending.
 *
 * At once it stops accepting, and every connection stops receiving (its `data` is no
 * longer called with input; wakes, sends and posted functions still run). A connection is
 * closed (`closed` with err 0) as soon as its pending output has left; those still open
 * `drain_ns` nanoseconds after the call are closed with ::EVIO_ETIMEDOUT. Then the loops
 * end. A `drain_ns` of 0 closes every connection at once, as ::EVIO_SHUTDOWN does. Returns
 * at once; evio_server_wait() waits for the end. A later call may only hurry the stop: an
 * earlier deadline replaces the one in force, and 0 closes at once (a second Ctrl-C).
 *
 * @return 0, or ::EVIO_EINVAL (NULL server, negative `drain_ns`).
 * @par Thread-safety
 * Any thread, including the server's own loops, and **async-signal-safe** (it only stores
 * atomics and writes to each loop's wake-up descriptor), so a SIGINT handler may call it.
 * Not after evio_server_free().
 * @since 1.1
 */
EVIO_EXPORT int evio_server_stop(evio_server *server, int64_t drain_ns);

/**
 * @brief Wait until a started server has stopped (evio_server_stop(), or a callback's
 *        ::EVIO_SHUTDOWN): every loop has ended, `closed` ran for every connection, the
 *        threads are joined and the unix socket files removed.
 * @return 0, or the negative code of an engine that failed (evio_last_error() says how);
 *         again the same value when called again. ::EVIO_EPERM on one of the server's own
 *         loop threads (it would wait for itself), ::EVIO_EINVAL for NULL.
 * @par Thread-safety
 * Any thread but the server's loops; one caller at a time.
 * @since 1.1
 */
EVIO_EXPORT int evio_server_wait(evio_server *server);

/**
 * @brief Free a handle from evio_server_start(). A server not yet waited for is stopped
 *        (as evio_server_stop() with 0) and waited for first. NULL does nothing.
 * @par Thread-safety
 * Not on the server's own loop threads (then it does nothing but leak); no other call on
 * the handle may run at the same time or come after it.
 * @since 1.1
 */
EVIO_EXPORT void evio_server_free(evio_server *server);
/** @} */

/** @name Connections
 *  @{ */

/**
 * @brief Send output on the connection. Small writes are queued and go to the socket as
 *        soon as the current callback returns, gathered into one write with the other
 *        output of that callback; a large write (32 KiB or more) with nothing queued
 *        before it is sent at once. Either way the bytes leave in the order written.
 *
 * The bytes are copied; `buf` may be reused at once. For UDP the output of one `data`
 * call is sent back to the sender as one datagram. Output is never dropped while the
 * connection is open; a connection whose unsent output grows large stops being read until
 * it drains (backpressure).
 * @return 0, or ::EVIO_ENOTCONN (closed), ::EVIO_EPERM (wrong thread), ::EVIO_EINVAL,
 *         ::EVIO_EPIPE (after evio_conn_shutdown_write()), ::EVIO_ENOBUFS (past the output
 *         limit: the bytes are dropped and the connection closes after the callback).
 * @par Thread-safety
 * Loop thread only.
 * @since 1.0
 */
EVIO_EXPORT int evio_conn_write(evio_conn *conn, const void *buf, size_t len);

/**
 * @brief Make the loop call `data` for this connection with no input (`in` NULL, `len` 0).
 *
 * Wakes coalesce: several calls before the loop gets to them may give one `data` call,
 * but every call is followed by at least one. A wake on a connection that is closed, or
 * closes before the loop gets to it, does nothing.
 * @return 0, or ::EVIO_ENOTCONN if the connection is already closed (or the server has
 *         stopped), ::EVIO_ENOTSUP for a UDP sender, ::EVIO_EINVAL for NULL.
 * @par Thread-safety
 * Any thread. From outside a callback, hold a reference (evio_conn_ref()) so the pointer
 * stays valid however the connection's close races with your call.
 * @since 1.0
 */
EVIO_EXPORT int evio_conn_wake(evio_conn *conn);

/**
 * @brief Take a reference: the connection's memory stays valid until the matching
 *        evio_conn_unref(), even after it is closed.
 * @par Thread-safety
 * Any thread, but the first reference must be taken while the pointer is known valid
 * (inside one of its callbacks). Not for UDP senders (does nothing).
 * @since 1.0
 */
EVIO_EXPORT void evio_conn_ref(evio_conn *conn);

/**
 * @brief Drop a reference taken with evio_conn_ref(). The last one frees the memory.
 * @par Thread-safety
 * Any thread.
 * @since 1.0
 */
EVIO_EXPORT void evio_conn_unref(evio_conn *conn);

/**
 * @brief The user context stored with evio_conn_set_context(), or NULL.
 * @par Thread-safety
 * The connection's loop thread; once the connection has closed, any thread that holds a
 * reference (nothing changes it then). Called from another thread while the connection
 * is open, it returns NULL and evio_last_error() says why (::EVIO_EPERM).
 * @since 1.0
 */
EVIO_EXPORT void *evio_conn_context(const evio_conn *conn);

/**
 * @brief Store a user pointer with the connection. evio never dereferences or frees it;
 *        it is still there in `closed` and `detached`.
 * @par Thread-safety
 * The connection's loop thread; once the connection has closed, any thread that holds a
 * reference (nothing changes it then). Called from another thread while the connection
 * is open, it does nothing and evio_last_error() says why (::EVIO_EPERM).
 * @since 1.0
 */
EVIO_EXPORT void evio_conn_set_context(evio_conn *conn, void *ctx);

/**
 * @brief Index, in the `addrs` given to evio_serve(), of the address this connection
 *        came in on; negative `EVIO_E…` code for NULL.
 * @par Thread-safety
 * Any thread while the pointer is valid (immutable).
 * @since 1.0
 */
EVIO_EXPORT int evio_conn_addr_index(const evio_conn *conn);

/**
 * @brief The local address of the connection.
 * @param conn the connection.
 * @param len receives the address length; may be NULL.
 * @return a pointer owned by the connection, valid as long as the connection pointer, or
 *         NULL on error.
 * @par Thread-safety
 * The connection's loop thread; once the connection has closed, any thread that holds a
 * reference (nothing changes it then). Called from another thread while the connection
 * is open, it returns NULL and evio_last_error() says why (::EVIO_EPERM).
 * @since 1.0
 */
EVIO_EXPORT const struct sockaddr *evio_conn_local_addr(evio_conn *conn, socklen_t *len);

/**
 * @brief The remote address of the connection (the sender, for UDP). For unix sockets
 *        the peer is usually unnamed (family AF_UNIX, empty path).
 * @param conn the connection (or UDP sender).
 * @param len receives the address length; may be NULL.
 * @return a pointer owned by the connection, valid as long as the connection pointer, or
 *         NULL on error.
 * @par Thread-safety
 * The connection's loop thread; once the connection has closed, any thread that holds a
 * reference (nothing changes it then). Called from another thread while the connection
 * is open, it returns NULL and evio_last_error() says why (::EVIO_EPERM).
 * @since 1.0
 */
EVIO_EXPORT const struct sockaddr *evio_conn_remote_addr(evio_conn *conn, socklen_t *len);

/**
 * @brief Format an address as text: `127.0.0.1:5000`, `[::1]:5000`, or a unix path
 *        (empty for an unnamed unix peer).
 * @return the length of the full text (as snprintf; `buf` is always NUL-terminated when
 *         `buflen` > 0), or ::EVIO_EINVAL (NULL or unknown family).
 * @par Thread-safety
 * Any thread (pure function).
 * @since 1.0
 */
EVIO_EXPORT int evio_addr_string(const struct sockaddr *addr, socklen_t len, char *buf,
                                 size_t buflen);

/**
 * @brief Enable TCP keepalive probes after `seconds` of idleness (also the interval
 *        between probes); 0 turns keepalive off.
 * @return 0, or ::EVIO_ENOTSUP (not TCP), ::EVIO_EINVAL, ::EVIO_EPERM, ::EVIO_ENOTCONN.
 * @par Thread-safety
 * Loop thread only; usually called in `opened`.
 * @since 1.0
 */
EVIO_EXPORT int evio_conn_set_keepalive(evio_conn *conn, int seconds);

/**
 * @brief Choose how the `in` buffer of `data` is provided (evio's `ReuseInputBuffer`).
 *
 * - Off (the default): `in` is the connection's own copy of the bytes. It stays valid and
 *   unchanged until the next `data` call with input for this connection, or until
 *   `closed`/`detached` returns.
 * - On: `in` points into the loop's shared read buffer, which the next read on this loop
 *   (for any connection) overwrites; it is valid only during the `data` call. This saves
 *   a copy.
 *
 * For UDP, `in` is always the shared buffer, valid only during the call.
 * @return 0, or ::EVIO_EPERM, ::EVIO_ENOTCONN, ::EVIO_EINVAL.
 * @par Thread-safety
 * Loop thread only; usually called in `opened`.
 * @since 1.0
 */
EVIO_EXPORT int evio_conn_set_reuse_input(evio_conn *conn, int on);
/** @} */

/** @name Work from any thread
 *  Send to a connection, and run functions on a loop, from any thread (since 1.1). Every
 *  posted function runs exactly once, also when its connection closed first (it is told
 *  so, and can free its argument); if posting fails, it never runs.
 *  @{ */

/**
 * @brief Send bytes to a connection from any thread.
 *
 * The bytes are copied at once; the connection's loop appends them to its output in the
 * order the calls were made: calls ordered by happens-before (one thread's, or a
 * goroutine's moving between threads) keep their order; concurrent ones interleave whole,
 * never inside one another. Bytes still queued when the connection closes are dropped.
 * @return 0 (queued), or ::EVIO_ENOTCONN (the connection is closed, or the server has
 *         stopped), ::EVIO_ENOBUFS (the bytes queued from other threads would pass the
 *         connection's output limit: see evio_conn_set_output_limit(); a check that
 *         concurrent senders may pass together — the loop's own check, when it appends
 *         them, is exact and closes the connection), ::EVIO_ENOTSUP (a UDP sender), ::EVIO_EINVAL,
 *         ::EVIO_ENOMEM.
 * @par Thread-safety
 * Any thread, the connection's own loop too. From outside its callbacks, hold a reference
 * (evio_conn_ref()) so the pointer stays valid however its close races with the call.
 * @since 1.1
 */
EVIO_EXPORT int evio_conn_send(evio_conn *conn, const void *buf, size_t len);

/**
 * @brief A function run on a connection's loop (evio_conn_post()).
 * @param conn the connection.
 * @param status 0: the connection is open, and the loop-thread-only functions work on it
 *        here (output written is sent when the function returns). ::EVIO_ENOTCONN: it
 *        closed (or the server stopped) before the function could run; do not use it
 *        except to read its context or drop a reference.
 * @param arg the pointer given to evio_conn_post().
 * @since 1.1
 */
typedef void (*evio_conn_fn)(evio_conn *conn, int status, void *arg);

/**
 * @brief Run `fn(conn, status, arg)` on the connection's loop thread, exactly once.
 * @return 0, or ::EVIO_ENOTCONN (the connection has closed already, or the server has
 *         stopped: `fn` will not run),
 *         ::EVIO_ENOTSUP (a UDP sender), ::EVIO_EINVAL, ::EVIO_ENOMEM (`fn` will not run).
 * @par Thread-safety
 * Any thread; see evio_conn_send() about references. Functions posted by one thread run in
 * the order posted, and in order with that thread's evio_conn_send() calls.
 * @since 1.1
 */
EVIO_EXPORT int evio_conn_post(evio_conn *conn, evio_conn_fn fn, void *arg);

/**
 * @brief A function run on a loop of a server (evio_server_post()).
 * @param server the server; @param loop the loop's index;
 * @param status 0, or ::EVIO_ENOTCONN when the server stopped before it could run.
 * @param arg the pointer given to evio_server_post().
 * @since 1.1
 */
typedef void (*evio_loop_fn)(evio_server *server, int loop, int status, void *arg);

/**
 * @brief Run `fn(server, loop, status, arg)` on loop `loop` (0 … evio_server_num_loops()
 *        - 1) of a server, exactly once. Inside it the loop-thread-only functions work on
 *        that loop's connections.
 * @return 0, or ::EVIO_ENOTCONN (the server has stopped: `fn` will not run), ::EVIO_EINVAL
 *         (NULL, a loop out of range), ::EVIO_ENOMEM.
 * @par Thread-safety
 * Any thread, on a handle from evio_server_start() until evio_server_free(), or on the
 * server given to `serving` during that call (the function then runs once the loop starts).
 * If the loop never ran (the server stopped in `serving`), it runs with ::EVIO_ENOTCONN on
 * the thread that ends the server.
 * @since 1.1
 */
EVIO_EXPORT int evio_server_post(evio_server *server, int loop, evio_loop_fn fn, void *arg);
/** @} */

/** @name Timers and timeouts
 *  On a loop thread (since 1.1): from a callback, or a function posted to the loop
 *  (evio_conn_post(), evio_server_post()). A loop keeps its timers in a binary heap:
 *  starting or cancelling one is O(log n). A timer fires on its loop at or after its due
 *  time (the loop looks at its clock once per turn).
 *  @{ */

/**
 * @brief What a timer calls (evio_timer_start()).
 * @param conn the connection the timer belongs to, or NULL for a loop timer.
 * @param status 0 when it fired. ::EVIO_ENOTCONN when it ends without firing because its
 *        connection closed (called after `closed`/`detached`) or the server stopped — its
 *        last call, to free `arg`; the return value is ignored then.
 * @param arg the pointer given to evio_timer_start().
 * @return an action for `conn` (as from `data`; for a loop timer only ::EVIO_SHUTDOWN
 *         means something).
 * @since 1.1
 */
typedef evio_action (*evio_timer_fn)(evio_conn *conn, int status, void *arg);

/**
 * @brief Call `fn(conn, 0, arg)` once, `delay_ns` nanoseconds from now, on the calling
 *        loop. With a connection, the timer belongs to it (it never fires after the
 *        connection closed: it gets its ::EVIO_ENOTCONN call instead); with NULL it is a
 *        timer of the calling loop. Output written in `fn` is sent when it returns.
 * @return the timer's id (> 0, never reused), or a negative code: ::EVIO_EPERM (not on the
 *         connection's loop, or not on a loop thread for NULL), ::EVIO_ENOTCONN,
 *         ::EVIO_EINVAL (NULL `fn`, negative delay), ::EVIO_ENOMEM.
 * @par Thread-safety
 * Loop thread only (the connection's loop, or any loop for NULL).
 * @since 1.1
 */
EVIO_EXPORT int64_t evio_timer_start(evio_conn *conn, int64_t delay_ns, evio_timer_fn fn,
                                     void *arg);

/**
 * @brief Cancel a timer of the calling loop that has not fired: `fn` is never called for
 *        it (free its argument yourself).
 * @return 0, or ::EVIO_ENOENT (it fired, was cancelled, ended with its connection, or is
 *         another loop's), ::EVIO_EPERM (not on a loop thread).
 * @par Thread-safety
 * Loop thread only: the loop that started the timer.
 * @since 1.1
 */
EVIO_EXPORT int evio_timer_cancel(int64_t timer);

/**
 * @brief Close the connection with ::EVIO_ETIMEDOUT after `ns` nanoseconds in which no
 *        input arrived and no output left; 0 turns it off. The default comes from
 *        ::evio_events.idle_timeout_ns (a slowloris defence). Loop thread only. @since 1.1
 */
EVIO_EXPORT int evio_conn_set_idle_timeout(evio_conn *conn, int64_t ns);

/**
 * @brief Close the connection with ::EVIO_ETIMEDOUT unless input arrives within `ns`
 *        nanoseconds from now; the next input clears it (set it again for the next
 *        request, as Go code sets a read deadline per read); 0 clears it. Loop thread only.
 *        @since 1.1
 */
EVIO_EXPORT int evio_conn_set_read_timeout(evio_conn *conn, int64_t ns);

/**
 * @brief Close the connection with ::EVIO_ETIMEDOUT unless all of its pending output has
 *        left within `ns` nanoseconds from now; it clears when the output has left (with
 *        nothing pending it clears at once); 0 clears it. Loop thread only. @since 1.1
 */
EVIO_EXPORT int evio_conn_set_write_timeout(evio_conn *conn, int64_t ns);
/** @} */

/** @name Flow control and half-close
 *  Loop thread only (since 1.1): call them from a callback of the connection, or from a
 *  function posted to its loop. They return ::EVIO_EPERM elsewhere, ::EVIO_ENOTCONN on a
 *  closed connection, ::EVIO_ENOTSUP on a UDP sender, ::EVIO_EINVAL for NULL.
 *  @{ */

/**
 * @brief Stop calling `data` with input for this connection until evio_conn_resume_read().
 *        Input waits in the kernel (and the peer is slowed by TCP's own flow control).
 *        Wakes, sends and posted functions are still delivered. @since 1.1
 */
EVIO_EXPORT int evio_conn_pause_read(evio_conn *conn);

/** @brief Undo evio_conn_pause_read(). Reading also needs the output under the high
 *         watermark (backpressure). @since 1.1 */
EVIO_EXPORT int evio_conn_resume_read(evio_conn *conn);

/**
 * @brief How many bytes of output the socket has not taken yet (written with
 *        evio_conn_write() or taken from evio_conn_send()).
 * @param conn the connection.
 * @param bytes receives the count. @since 1.1
 */
EVIO_EXPORT int evio_conn_pending(evio_conn *conn, size_t *bytes);

/**
 * @brief Set the connection's watermarks (see ::evio_events.low_watermark): reading stops
 *        above `high` bytes pending and goes on at `low` or less; the `drained` event
 *        comes at `low`. ::EVIO_EINVAL unless 0 < `high` and `low` <= `high`. @since 1.1
 */
EVIO_EXPORT int evio_conn_set_watermarks(evio_conn *conn, size_t low, size_t high);

/**
 * @brief Choose whether the connection's own pending output above its high watermark
 *        stops reading it (on, the default: a client that does not read its answers is
 *        not read either). Off, the watermarks only arm the `drained` event: a proxy turns
 *        it off on both halves of a pair and pauses the *other* half itself
 *        (evio_conn_pause_read()), since pausing a half because of its own output can
 *        deadlock with an upstream that answers while it reads (an echo). Loop thread
 *        only; ::EVIO_ENOTSUP for UDP.
 * @param conn the connection.
 * @param on 0 turns it off, anything else on.
 * @since 1.2
 */
EVIO_EXPORT int evio_conn_set_read_backpressure(evio_conn *conn, int on);

/**
 * @brief Set the connection's hard output limit (see ::evio_events.output_limit); 0 means
 *        none. A write past it returns ::EVIO_ENOBUFS, drops those bytes and closes the
 *        connection (`closed` with ::EVIO_ENOBUFS) once the callback returns. @since 1.1
 */
EVIO_EXPORT int evio_conn_set_output_limit(evio_conn *conn, size_t limit);

/**
 * @brief Shut down the sending side (`SHUT_WR`) once the pending output has left, and
 *        keep reading: the peer sees the end of the stream. It happens after the current
 *        callback returns, never inside this call. Later writes return ::EVIO_EPIPE; bytes
 *        sent from other threads (evio_conn_send()) after it are dropped. See
 *        ::evio_events.input_closed for the other direction. @since 1.1
 */
EVIO_EXPORT int evio_conn_shutdown_write(evio_conn *conn);

/**
 * @brief Close the connection once its pending output has left, as a callback returning
 *        ::EVIO_CLOSE does — for code that is not the connection's own callback (a
 *        function posted to its loop, a timer, another connection's callback). It happens
 *        after the current callback returns, never inside this call. @since 1.1
 */
EVIO_EXPORT int evio_conn_close(evio_conn *conn);

/**
 * @brief The connection's socket, for `setsockopt`/`getsockopt` only. Never read, write,
 *        close or watch it: evio owns it. Negative `EVIO_E…` code on error. @since 1.1
 */
EVIO_EXPORT int evio_conn_fd(evio_conn *conn);

/** @brief Switch `TCP_NODELAY` (on by default for accepted TCP connections): 0 lets the
 *         kernel gather small writes (Nagle). ::EVIO_ENOTSUP if not TCP. @since 1.1 */
EVIO_EXPORT int evio_conn_set_nodelay(evio_conn *conn, int on);
/** @} */

/** @name Outbound connections (dial)
 *  Open a connection to another server from a loop. A dialed connection is a connection
 *  like an accepted one: `opened`, `data`, `closed`, every action, option, timer, timeout,
 *  flow-control and half-close call apply to it. It is told apart by
 *  evio_conn_addr_index(), which is -1 for it, and by its context (evio_conn_context()),
 *  which is the `ctx` given to the dial when `opened` is called. A dial that fails calls
 *  ::evio_events.dial_failed with that `ctx` instead. Either way exactly once, for every
 *  dial the call accepted (returned 0); a dial the call refused calls neither.
 *
 *  Addresses: the syntax of evio_serve() (`tcp`, `tcp4`, `tcp6`, `unix`, `udp`, `udp4`,
 *  `udp6`; the `-net` suffix is accepted and changes nothing: a dial runs on its loop's
 *  engine). The port must not be 0; an empty host is this machine (`127.0.0.1`, or `::1`
 *  for `tcp6`/`udp6`); `?reuseport` is refused. A numeric host is used as it is; a host
 *  name is resolved (getaddrinfo()) on a resolver thread, never on a loop, and its
 *  addresses are tried in the order the resolver gives (RFC 6724: usually IPv6 first)
 *  until one connects, within the one timeout. A `udp` dial makes a connected UDP
 *  socket: each `data` call is one datagram from that peer, and the output of one
 *  callback leaves as one datagram; ::EVIO_ECONNREFUSED in `closed` when the peer's port
 *  is closed (an ICMP error).
 *  @{ */

/**
 * @brief Options of a dial. Initialise with ::EVIO_DIAL_OPTIONS_INIT (or zero it and set
 *        `size`); later versions append fields. @since 1.2
 */
typedef struct evio_dial_options {
    /** Must be `sizeof(evio_dial_options)` as compiled by the caller. @since 1.2 */
    size_t size;
    /** How long resolving and connecting may take, in nanoseconds; past it the dial fails
     *  with ::EVIO_ETIMEDOUT. 0: the default, ::EVIO_DIAL_TIMEOUT_DEFAULT_NS;
     *  `INT64_MAX`: no limit but the kernel's. Negative is ::EVIO_EINVAL. @since 1.2 */
    int64_t timeout_ns;
} evio_dial_options;

/** Initialiser for ::evio_dial_options: the default timeout. @since 1.2 */
#define EVIO_DIAL_OPTIONS_INIT {sizeof(evio_dial_options), 0}

/** The connect timeout when none is given: 30 seconds. @since 1.2 */
#define EVIO_DIAL_TIMEOUT_DEFAULT_NS ((int64_t)30 * 1000 * 1000 * 1000)

/**
 * @brief Dial `addr` from the calling loop: the new connection lives on this loop (with
 *        the connection whose callback is running, so the two need no locking).
 * @param addr the address (see the section above); copied.
 * @param options NULL for the defaults.
 * @param ctx handed back: as the connection's context in `opened`, or to `dial_failed`.
 * @return 0 when the dial is under way (then exactly one of `opened` and `dial_failed`
 *         follows, never inside this call); ::EVIO_EINVAL for a bad address or options,
 *         ::EVIO_EPERM off a loop thread, ::EVIO_ENOTCONN when the server is stopping.
 * @par Thread-safety
 * Loop thread only (in any callback, posted function or timer of the server).
 * @since 1.2
 */
EVIO_EXPORT int evio_dial(const char *addr, const evio_dial_options *options, void *ctx);

/**
 * @brief Dial `addr` on loop `loop` of a server, from any thread.
 * @param server a handle from evio_server_start(), or the `serving` callback's server.
 * @param loop 0 … evio_server_num_loops() - 1, or -1: the calling loop when called on one
 *        of the server's loops, else the loops in turn.
 * @param addr, options, ctx as for evio_dial().
 * @return 0 when the dial is under way (exactly one of `opened` and `dial_failed` follows,
 *         on that loop); ::EVIO_EINVAL for a bad server, loop, address or options,
 *         ::EVIO_ENOTCONN when the server has stopped or is stopping.
 * @par Thread-safety
 * Any thread, while the handle is valid (until evio_server_free()).
 * @since 1.2
 */
EVIO_EXPORT int evio_server_dial(evio_server *server, int loop, const char *addr,
                                 const evio_dial_options *options, void *ctx);
/** @} */

/** @name InputStream
 *  A helper for protocols whose messages can span several `data` calls (evio's
 *  `InputStream`): call evio_input_stream_begin() with the new input, consume as many
 *  whole messages as the returned bytes hold, then call evio_input_stream_end() with what
 *  is left, which is kept for the next call.
 *  @{ */

/**
 * @brief Buffered leftover input. Zero it (::EVIO_INPUT_STREAM_INIT) before first use,
 *        release with evio_input_stream_free(). Treat the fields as private.
 * @since 1.0
 */
typedef struct evio_input_stream {
    unsigned char *buf; /**< Kept bytes (owned; private). */
    size_t len;         /**< Number of kept bytes (private). */
    size_t cap;         /**< Capacity of `buf` (private). */
} evio_input_stream;

/** Initialiser for an empty ::evio_input_stream. @since 1.0 */
#define EVIO_INPUT_STREAM_INIT {NULL, 0, 0}

/**
 * @brief Join kept bytes with new input.
 * @param is the stream.
 * @param in, len the new input (may be NULL/0).
 * @param data receives a pointer to all bytes to parse: `in` itself when nothing was
 *        kept, else the stream's buffer (valid until the next call on the stream).
 * @param data_len receives their number.
 * @return 0, or ::EVIO_ENOMEM / ::EVIO_EINVAL.
 * @par Thread-safety
 * Not synchronised: one stream, one thread at a time. The stream owns its buffer.
 * @since 1.0
 */
EVIO_EXPORT int evio_input_stream_begin(evio_input_stream *is, const void *in, size_t len,
                                        const void **data, size_t *data_len);

/**
 * @brief Keep the unconsumed tail `rest` (`rest_len` bytes) for the next call;
 *        `rest_len` 0 keeps nothing.
 *
 * Precondition: `rest` … `rest + rest_len` lies inside the data returned by the last
 * evio_input_stream_begin() (its usual use: a pointer into that data, up to its end), or
 * inside other memory of yours that does not overlap the stream's buffer. Where the
 * library can see the precondition broken — `rest` inside the stream's buffer with
 * `rest_len` running past the data begin() returned, or a range overlapping the buffer
 * without starting in it — it returns ::EVIO_EINVAL and keeps the stream unchanged. It
 * cannot check a range inside `in` when begin() returned `in` itself.
 * @return 0, or ::EVIO_ENOMEM / ::EVIO_EINVAL.
 * @par Thread-safety
 * Not synchronised: one stream, one thread at a time.
 * @since 1.0
 */
EVIO_EXPORT int evio_input_stream_end(evio_input_stream *is, const void *rest, size_t rest_len);

/**
 * @brief Free the stream's buffer and reset it to empty. Safe on an empty stream.
 * @par Thread-safety
 * Not synchronised: one stream, one thread at a time.
 * @since 1.0
 */
EVIO_EXPORT void evio_input_stream_free(evio_input_stream *is);
/** @} */

/** @name Errors and version
 *  @{ */

/**
 * @brief A short static description of an `EVIO_E…` code (or of any negative errno).
 * @return a static string; never NULL.
 * @par Thread-safety
 * Any thread.
 * @since 1.0
 */
EVIO_EXPORT const char *evio_strerror(int code);

/**
 * @brief A message naming what was wrong with the last failed evio call on this thread,
 *        for example `"tcp://:99999: port 99999 out of range"`; "" if none failed.
 * @return a thread-local string, valid until the next evio call on this thread.
 * @par Thread-safety
 * Any thread (each thread has its own).
 * @since 1.0
 */
EVIO_EXPORT const char *evio_last_error(void);

/**
 * @brief The library's version, as ::EVIO_VERSION computes it.
 * @par Thread-safety
 * Any thread.
 * @since 1.0
 */
EVIO_EXPORT int evio_version(void);

/**
 * @brief The library's version as text, e.g. `"1.0.0"`.
 * @return a static string.
 * @par Thread-safety
 * Any thread.
 * @since 1.0
 */
EVIO_EXPORT const char *evio_version_string(void);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* EVIO_H */
