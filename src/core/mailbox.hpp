// The cross-thread entry of a loop: work other threads post (wakes of connections,
// accepted sockets handed over) and the interrupt that makes the loop look. Shared with
// every connection, so a late evio_conn_wake() after the loop is gone finds the mailbox
// closed instead of freed memory.
#pragma once

#include <sys/socket.h>

#include <mutex>
#include <vector>

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

/// What a loop takes out of its mailbox in one go.
struct MailboxItems {
    std::vector<Conn *> user_wakes; ///< each holds a reference
    std::vector<Handoff> handoffs;
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
    /// Makes the loop look at the server's state (shutdown). Any thread; no-op once closed.
    void interrupt();

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
