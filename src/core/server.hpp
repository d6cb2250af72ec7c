// The server: binds the addresses, owns the loops and their threads, stops them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <evio.h>

#include "core/balancer.hpp"
#include "core/bound_socket.hpp"
#include "core/loop.hpp"

namespace evio {

class Server {
  public:
    Server() = default;
    ~Server();
    Server(const Server &) = delete;
    Server &operator=(const Server &) = delete;

    /// evio_serve(): validates, binds, runs, cleans up. Returns 0 or an EVIO_E… code.
    int serve(const evio_events *events, const char *const *addrs, size_t naddrs);

    /// The user's callback table (the server's own copy).
    const evio_events &callbacks() const { return callbacks_; }
    bool stopping() const { return stopping_.load(std::memory_order_acquire); }
    /// Stops every loop. Any thread; idempotent.
    void shutdown() noexcept;
    /// Chooses the loop for a new connection (accepting thread only).
    Loop &pick_loop() { return balancer_.pick(loops_); }

    // evio_server accessors (during `serving`).
    int num_addrs() const { return static_cast<int>(bound_.size()); }
    int num_loops() const { return static_cast<int>(loops_.size()); }
    const char *engine_name() const;
    const sockaddr *addr(int i, socklen_t *len) const;
    int addr_string(int i, char *buf, size_t buflen) const;

  private:
    int parse_all(const char *const *addrs, size_t naddrs, std::vector<ListenSpec> &specs);
    int bind_all(const std::vector<ListenSpec> &specs);
    int make_loops(EngineKind kind);
    int watch_all();
    int run_loops();
    void run_loop(Loop &loop);
    void close_bound_sockets() noexcept;

    evio_events callbacks_{};
    std::atomic<bool> stopping_{false};
    std::vector<std::unique_ptr<Loop>> loops_;
    std::vector<std::unique_ptr<BoundSocket>> bound_; ///< in the order of the addresses
    Balancer balancer_;
    std::mutex error_mu_;
    int loop_error_ = 0; ///< the first engine failure of any loop (under error_mu_)
    std::string loop_error_msg_;
};

} // namespace evio
