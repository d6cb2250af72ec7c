// The cross-thread entry of a loop: work other threads post (wakes of connections,
// accepted sockets handed over) and the interrupt that makes the loop look. Shared with
// every connection, so a late evio_conn_wake() after the loop is gone finds the mailbox
// closed instead of freed memory.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include <evio.h>

#include "core/address.hpp"

namespace evio {

class Engine;
struct Conn;

/// An accepted socket handed from the accepting loop to the loop that will own it.
struct Handoff {
    int fd;
    int addr_index;
    Transport transport;
    sockaddr_storage remote;
    socklen_t remote_len;
};

/// A posted function, bytes sent to a connection from another thread, a dial asked from
/// another thread, or a dial's resolved host name; done in order.
struct Work {
    enum class Kind : uint8_t { Send, ConnFn, LoopFn, Dial, Resolved } kind;
    Conn *conn;         ///< Send, ConnFn: holds a reference
    size_t offset, len; ///< in MailboxItems::bytes: Send's bytes, Dial's address text,
                        ///< Resolved's addresses (SockAddr array) or failure message
    evio_conn_fn conn_fn;
    evio_loop_fn loop_fn;
    void *arg;              ///< ConnFn, LoopFn: the user's argument; Dial: its ctx
    int64_t timeout_ns = 0; ///< Dial
    uint64_t dial_id = 0;   ///< Resolved: which of the loop's dials
    int status = 0;         ///< Resolved: 0, or the EVIO_E… code of the failure
};

/// What a loop takes out of its mailbox in one go.
struct MailboxItems {
    std::vector<Conn *> user_wakes; ///< each holds a reference
    std::vector<Handoff> handoffs;
    std::vector<Work> work;  ///< in the order it was posted
    std::vector<char> bytes; ///< the bytes of every Send in `work`
    bool empty() const { return user_wakes.empty() && handoffs.empty() && work.empty(); }
};

class Mailbox {
  public:
    explicit Mailbox(Engine *engine) : engine_(engine) {}

    /// Queues a `data` call with no input for `c` (which holds a reference for it).
    /// Any thread. False if the loop is gone.
    bool post_user_wake(Conn *c);
    /// Queues an accepted socket. Any thread. False if the loop is gone (the caller
    /// closes the fd).
    bool post_handoff(const Handoff &h);
    /// Queues bytes for `c` (which holds a reference for it). Any thread.
    bool post_send(Conn *c, const void *buf, size_t len);
    /// Queues `w` with `len` bytes of its own (w.offset and w.len are set here). Any thread.
    bool post_work_with_bytes(Work w, const void *buf, size_t len);
    /// Queues a function (its Work holds the connection's reference, if any). Any thread.
    bool post_work(const Work &w);

    /// Loop thread: swaps everything posted so far into `into` (which must be empty).
    void take(MailboxItems &into);
    /// Loop thread, when it stops: refuses every later post, then takes what is left.
    void close(MailboxItems &into);

  private:
    template <class Push> bool post(Push &&push);

    std::mutex mu_;
    bool closed_ = false;      ///< the loop stopped: refuse new posts
    Engine *engine_ = nullptr; ///< valid while !closed_ (guarded by mu_)
    MailboxItems items_;
};

} // namespace evio
