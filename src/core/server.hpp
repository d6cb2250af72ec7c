// The server: binds the addresses, owns the loops and their threads, stops them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <evio.h>

#include "core/balancer.hpp"
#include "core/bound_socket.hpp"
#include "core/loop.hpp"

namespace evio {

class Server {
  public:
    static constexpr uint32_t kMagic = 0x65767376; // "evsv"

    Server() = default;
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    /// evio_serve(): start, run the first loop on this thread, wait. 0 or an EVIO_E… code.
    int serve(const evio_events *events, const char *const *addrs, size_t naddrs);
    /// evio_server_start(): every loop on a thread of its own. 0 or an EVIO_E… code.
    int start(const evio_events *events, const char *const *addrs, size_t naddrs);
    /// evio_server_stop(). Any thread; async-signal-safe (atomics and interrupts only).
    void stop(int64_t drain_ns) noexcept;
    /// evio_server_wait(): joins the threads (once), returns the loops' result.
    int wait();
    /// Whether the calling thread is one of this server's loops.
    bool on_own_loop() const noexcept;

    /// The user's callback table (the server's own copy).
    const evio_events &callbacks() const { return callbacks_; }
    /// Stop now: every loop closes its connections and ends.
    bool stopping() const { return stopping_.load(std::memory_order_acquire); }
    /// Stop after draining: no new input; each connection closes once its output left.
    bool draining() const { return drain_deadline_ns_.load(std::memory_order_acquire) != kNever; }
    int64_t drain_deadline_ns() const { return drain_deadline_ns_.load(std::memory_order_acquire); }
    /// EVIO_SHUTDOWN from a callback: stops every loop now. Any thread; idempotent.
    void shutdown() noexcept;
    /// Chooses the loop for a new connection (accepting thread only).
    Loop &pick_loop(const sockaddr *peer, socklen_t peer_len) {
        return balancer_.pick(loops_, peer, peer_len);
    }

    // evio_server accessors (during `serving`, or on a started handle).
    int num_addrs() const { return static_cast<int>(bound_.size()); }
    int num_loops() const { return num_loops_; }
    const char *engine_name() const { return engine_name_; }
    const sockaddr *addr(int i, socklen_t *len) const;
    int addr_string(int i, char *buf, size_t buflen) const;
    Loop *loop(int i) const { return i >= 0 && i < num_loops_ ? loops_[i].get() : nullptr; }
    /// The loop a dial asked with `i` runs on: loop i; for -1 the calling loop when it is
    /// one of this server's, else the loops in turn. Null for a bad index. Any thread.
    Loop *dial_loop(int i) noexcept;

  private:
    static constexpr int64_t kNever = INT64_MAX;

    int prepare(const evio_events *events, const char *const *addrs, size_t naddrs,
                bool allow_none);
    int parse_all(const char *const *addrs, size_t naddrs, std::vector<ListenSpec> &specs);
    int bind_all(const std::vector<ListenSpec> &specs);
    int make_loops(EngineKind kind);
    int watch_all();
    int launch(size_t first_thread);
    void run_loop(Loop &loop);
    void interrupt_loops() noexcept;
    void close_bound_sockets() noexcept;

  public:
    uint32_t magic = kMagic; ///< checked by the C API; cleared when freed

  private:
    evio_events callbacks_{};
    std::atomic<bool> stopping_{false};
    std::atomic<int64_t> drain_deadline_ns_{kNever};
    std::vector<std::unique_ptr<Loop>> loops_;
    std::vector<std::unique_ptr<BoundSocket>> bound_; ///< in the order of the addresses
    std::vector<std::thread> threads_;
    Balancer balancer_;
    const char *engine_name_ = "";
    int num_loops_ = 0;
    std::atomic<unsigned> next_dial_loop_{0};
    bool waited_ = false;
    int result_ = 0;
    std::mutex error_mu_;
    int loop_error_ = 0; ///< the first engine failure of any loop (under error_mu_)
    std::string loop_error_msg_;
};

} // namespace evio
