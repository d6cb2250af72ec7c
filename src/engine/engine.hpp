// The engine contract: the loop submits operations on sockets and receives completions.
//
// It is completion-shaped so that an engine in which the kernel does the I/O (io_uring)
// and the readiness engines (epoll, libuv) give the loop the same events, and evio's
// semantics (backpressure, close after flush, detach, wake, UDP replies) are written once,
// in src/core/. The readiness engines sit behind one adaptor (readiness.hpp) that makes
// the system calls when the poller says a socket is ready and turns each result into a
// completion — the shape of monoio's legacy driver.
//
// Rules (every engine keeps them; the loop relies on them):
//  1. Threads. An engine belongs to one loop thread. Every function is called on that
//     thread, except interrupt(), which any thread may call at any time.
//  2. Completions. wait() blocks until there is at least one completion or the timeout
//     passes; next() then hands them out one at a time, and returns false when this
//     batch is done. A completion's `tag` is the IoHandle::tag of its socket.
//  3. Receiving is armed, not submitted per read: between recv_start() and recv_stop()
//     the engine delivers a Recv (stream), RecvFrom (datagram) or Accept (listener)
//     completion whenever there is something, one read or accept each. A Recv with
//     result 0 is the end of the peer's stream; a negative result is an EVIO_E… code
//     (also when the engine could not watch the socket: the loop closes it). Accept
//     errors that concern only the new connection (accept(2) says to retry them) are
//     retried by the engine; a datagram socket's errors (stray ICMP) are dropped.
//  4. Received bytes live in the engine's buffer: `data` stays valid and unchanged until
//     the next call to next() or wait(). The loop copies what it must keep.
//  5. At most one send in flight per socket. send() takes an iovec array; the array and the
//     bytes it points at must stay valid and unchanged until that send's result (the
//     loop's output buffer is a list of chunks that never moves bytes, so appending while
//     a send is in flight is fine). The result is the number of bytes the socket took
//     (perhaps fewer than offered) or an EVIO_E… code: returned by send() when the send
//     finished at once, else delivered as a Send completion.
//  6. Closing is in two phases. cancel() stops everything on the socket: no completion
//     for it is delivered after cancel() returns, except for operations still in flight
//     in the kernel, whose number cancel() returns (each still completes, with a result
//     of its own or -ECANCELED). The loop frees the socket's owner only when that count is
//     zero. The readiness adaptor always returns 0: its operations run in next().
//  7. The file descriptor stays the loop's: an engine never closes it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace evio {

/// What an operation or its completion is.
enum class Op : uint8_t {
    Interrupt, ///< interrupt() was called (no socket; `tag` is null)
    Accept,    ///< a listener accepted: `result` is the new fd, `addr` the peer
    Recv,      ///< stream bytes in `data`/`len`; `result` = len, 0 at end of stream
    RecvFrom,  ///< one datagram in `data`/`len`, its sender in `addr`
    Send,      ///< the socket took `result` bytes of the send in flight
    Connect,   ///< a connect() finished: `result` 0 or -errno
};

/// What a socket is, which decides what "something to receive" means for it.
enum class Role : uint8_t { Stream, Listener, Datagram };

/// One finished operation. A negative `result` is an EVIO_E… code.
struct Completion {
    void *tag = nullptr;
    Op op = Op::Interrupt;
    int result = 0;
    const char *data = nullptr;
    size_t len = 0;
    const sockaddr *addr = nullptr;
    socklen_t addr_len = 0;
};

/// A socket as an engine sees it. The loop owns it (inside a connection, listener or UDP
/// socket) and keeps it at one address while it is open with the engine; the engine's
/// bookkeeping lives in it, so submitting an operation allocates nothing.
struct IoHandle {
    // fd, tag and role are the loop's; the rest is the engine's own state, which the loop
    // never reads or writes (the order packs it into 48 bytes).
    int fd = -1;
    uint32_t interest = 0;           ///< what the poller watches now
    void *tag = nullptr;             ///< handed back in every completion for this socket
    const iovec *send_iov = nullptr; ///< the send in flight, if any (rule 5)
    uint64_t ready_batch = 0;        ///< which batch ready_slot refers to
    int send_iovcnt = 0;
    uint32_t ready_slot = 0; ///< 1 + index of its event in the engine's batch
    Role role = Role::Stream;
    bool registered = false;   ///< known to the poller (added on first interest)
    bool receiving = false;    ///< between recv_start() and recv_stop()
    bool connecting = false;   ///< a connect() waits for writability
    bool send_blocked = false; ///< the socket was full: waiting for writability
};

class Engine {
  public:
    virtual ~Engine() = default;
    Engine() = default;
    Engine(const Engine &) = delete;
    Engine &operator=(const Engine &) = delete;

    /// Starts managing a socket (nothing armed yet). 0 or a negative EVIO_E… code.
    virtual int open(IoHandle &h) = 0;
    /// Arms or disarms receiving (rule 3). 0 or a negative EVIO_E… code.
    virtual int recv_start(IoHandle &h) = 0;
    virtual int recv_stop(IoHandle &h) = 0;
    /// Submits a send of `iovcnt` buffers (rule 5). When it finished at once (the
    /// readiness adaptor tries the socket first), returns its result — the bytes taken
    /// (> 0) or a negative EVIO_E… code — and no completion follows; 0 means it is in
    /// flight and a Send completion will come.
    virtual ssize_t send(IoHandle &h, const iovec *iov, int iovcnt) = 0;
    /// Writes what the socket takes at once, without blocking and without a completion,
    /// if this engine can (no send may be in flight). Returns the bytes taken, 0 when it
    /// cannot or the socket is full, or -errno. The bytes need not outlive the call.
    virtual ssize_t send_now(IoHandle &h, const void *buf, size_t len) = 0;
    /// Sends one datagram to `to` before it returns (a UDP reply); no completion. Returns
    /// the bytes sent or -errno; the bytes need not outlive the call.
    virtual ssize_t send_to(IoHandle &h, const iovec *iov, int iovcnt, const sockaddr *to,
                            socklen_t to_len) = 0;
    /// Starts a non-blocking connect; its result comes as a Connect completion.
    virtual int connect(IoHandle &h, const sockaddr *addr, socklen_t len) = 0;
    /// Stops everything on the socket (rule 6); returns the operations still in flight.
    virtual int cancel(IoHandle &h) = 0;

    /// Waits up to `timeout_ms` (-1: no limit) for completions (rule 2). 0 or a negative
    /// EVIO_E… code when the engine itself failed (the message is recorded).
    virtual int wait(int timeout_ms) = 0;
    /// The next completion of the batch, or false when there is none left.
    virtual bool next(Completion &out) = 0;
    /// Makes a wait() in progress, or the next one, deliver an Interrupt completion.
    /// Any thread; calls may be coalesced into one completion.
    virtual void interrupt() noexcept = 0;
    /// The engine's name: "epoll", "libuv".
    virtual const char *name() const noexcept = 0;
};

/// Which engine runs a server.
enum class EngineKind : uint8_t {
    Native, ///< epoll on Linux; where there is none, the same as Std
    Std,    ///< libuv
};

/// Creates an engine. Returns null and sets `err` (a negative EVIO_E… code, with the
/// message recorded) on failure.
std::unique_ptr<Engine> make_engine(EngineKind kind, int &err);

} // namespace evio
