// One event loop: one thread, one poller, the connections it owns.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/conn.hpp"
#include "engine/poller.hpp"

namespace evio {

class Server;

/// An accepted socket handed from the accepting loop to the loop that will own it.
struct Handoff {
    int fd;
    int addr_index;
    Transport transport;
    sockaddr_storage remote;
    socklen_t remote_len;
};

/// The cross-thread entry of a loop: work posted by other threads plus the wake-up.
/// Shared with connections so a late evio_conn_wake() after the loop is gone finds `dead`
/// instead of freed memory.
struct Mailbox {
    std::mutex mu;
    bool dead = false;         ///< loop stopped: refuse new posts
    Poller *poller = nullptr;  ///< valid while !dead (guarded by mu)
    std::vector<Conn *> wakes; ///< each holds a reference
    std::vector<Handoff> handoffs;

    /// Queues a wake for `c`. Returns false if the loop is gone.
    bool post_wake(Conn *c);
    /// Queues an accepted fd. Returns false if the loop is gone (caller closes the fd).
    bool post_handoff(const Handoff &h);
    /// Wakes the loop (e.g. for shutdown). No-op once dead.
    void signal();
};

class Loop {
  public:
    Loop(Server &server, int index, std::unique_ptr<Poller> poller);
    ~Loop();

    /// Runs until the server stops; then closes every connection it owns.
    void run();

    int index() const { return index_; }
    Mailbox &mailbox() { return *mailbox_; }
    /// Open connections, including those handed over but not yet opened (for balancing).
    std::atomic<int> &load() { return load_; }

    /// Watches a listener (accepting loop only) or a UDP socket. Before run().
    int watch_listener(Listener *l);
    int watch_udp(UdpSocket *u);

    /// The loop running on the calling thread, or null.
    static Loop *current() noexcept;

    // Called through the C API, on this loop's thread.
    int write(Conn *c, const void *buf, size_t len);

  private:
    void dispatch(const PollEvent &ev);
    void on_accept(Listener *l);
    void on_udp(UdpSocket *u);
    void on_conn(Conn *c, uint32_t events);
    void on_mailbox();
    void open_conn(const Handoff &h);
    void after_callback(Conn *c, int action);
    bool flush(Conn *c);
    void flush_dirty();
    void set_interest(Conn *c);
    void close_conn(Conn *c, int err);
    void detach_conn(Conn *c);
    void discard_input(int fd);
    void unlink(Conn *c);
    void run_tick(int64_t now);
    int next_timeout(int64_t now) const;
    void shutdown_all();

    Server &server_;
    int index_;
    std::unique_ptr<Poller> poller_;
    std::shared_ptr<Mailbox> mailbox_;
    std::atomic<int> load_{0};
    std::vector<char> readbuf_;
    std::vector<PollEvent> events_;
    Conn *current_ = nullptr;       ///< the connection whose callback is running
    std::vector<Conn *> dirty_;     ///< other connections with output to flush (each holds a ref)
    std::vector<Conn *> graveyard_; ///< closed in this turn; released after the turn
    std::vector<Conn *> wakes_;     ///< swapped with the mailbox's
    std::vector<Handoff> handoffs_;
    std::vector<Listener *> listeners_;
    Conn *head_ = nullptr;
    bool ticking_ = false;
    int64_t next_tick_ns_ = 0;
};

} // namespace evio
