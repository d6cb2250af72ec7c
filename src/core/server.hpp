// The server: binds the listeners, owns the loops and their threads, stops them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <evio.h>

#include "core/conn.hpp"
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

    const evio_events &events() const { return events_; }
    bool stopping() const { return stopping_.load(std::memory_order_acquire); }
    /// Stops every loop. Any thread; idempotent.
    void shutdown() noexcept;
    /// Chooses the loop for a new connection (accepting thread only).
    Loop &pick_loop();

    // evio_server accessors (during `serving`).
    int num_addrs() const { return static_cast<int>(bound_.size()); }
    int num_loops() const { return static_cast<int>(loops_.size()); }
    const char *engine_name() const { return engine_name_; }
    const sockaddr *addr(int i, socklen_t *len) const;
    int addr_string(int i, char *buf, size_t buflen) const;

  private:
    struct Bound {
        sockaddr_storage addr;
        socklen_t len;
        std::string scheme; // as given, with "-net" if given
    };
    int load_events(const evio_events *events);
    int choose_engine(const std::vector<ListenSpec> &specs, bool &use_std) const;
    int bind_all(const std::vector<ListenSpec> &specs);
    int bind_one(const ListenSpec &spec, int index);
    void close_listeners() noexcept;

    evio_events events_{};
    std::atomic<bool> stopping_{false};
    std::vector<std::unique_ptr<Loop>> loops_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<UdpSocket>> udps_;
    std::vector<Bound> bound_;
    const char *engine_name_ = "";
    uint64_t rr_next_ = 0;
    uint64_t rand_state_ = 0;
};

/// Monotonic clock in nanoseconds.
int64_t now_ns() noexcept;

} // namespace evio
