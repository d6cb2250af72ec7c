#include "core/server.hpp"

#include <climits>
#include <condition_variable>
#include <cstdio>
#include <thread>

#include "core/error.hpp"
#include "core/listen.hpp"
#include "core/settings.hpp"

namespace evio {

namespace {

/// Threads wait here until `serving` has returned.
class Gate {
  public:
    void wait() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return open_; });
    }
    void open() {
        {
            std::lock_guard lock(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

} // namespace

Server::~Server() {
    close_bound_sockets();
}

int Server::serve(const evio_events *events, const char *const *addrs, size_t naddrs) {
    if (int rc = load_callbacks(events, callbacks_))
        return rc;
    std::vector<ListenSpec> specs;
    if (int rc = parse_all(addrs, naddrs, specs))
        return rc;
    EngineKind kind = EngineKind::Native;
    if (int rc = choose_engine(callbacks_, specs, kind))
        return rc;
    balancer_.init(callbacks_.load_balance, static_cast<uint64_t>(now_ns()));
    if (int rc = bind_all(specs))
        return rc;
    if (int rc = make_loops(kind))
        return rc;
    if (int rc = watch_all())
        return rc;
    return run_loops();
}

int Server::parse_all(const char *const *addrs, size_t naddrs, std::vector<ListenSpec> &specs) {
    if (addrs == nullptr || naddrs == 0)
        return fail(EVIO_EINVAL, "no address given");
    if (naddrs > INT_MAX)
        return fail(EVIO_EINVAL, "too many addresses");
    specs.resize(naddrs);
    for (size_t i = 0; i < naddrs; i++) {
        if (addrs[i] == nullptr)
            return fail(EVIO_EINVAL, "address " + std::to_string(i) + " is NULL");
        if (int rc = parse_address(addrs[i], specs[i]))
            return rc;
    }
    return 0;
}

int Server::bind_all(const std::vector<ListenSpec> &specs) {
    for (size_t i = 0; i < specs.size(); i++) {
        std::unique_ptr<BoundSocket> b;
        if (int rc = bind_address(specs[i], static_cast<int>(i), b))
            return rc; // the ones bound so far are closed by the destructor
        bound_.push_back(std::move(b));
    }
    return 0;
}

int Server::make_loops(EngineKind kind) {
    const int nloops = resolve_loops(callbacks_.num_loops);
    for (int i = 0; i < nloops; i++) {
        int err = 0;
        auto engine = make_engine(kind, err);
        if (!engine)
            return err;
        loops_.push_back(std::make_unique<Loop>(*this, i, std::move(engine)));
    }
    return 0;
}

int Server::watch_all() {
    size_t next_udp = 0;
    for (auto &b : bound_) {
        int rc;
        if (auto *l = dynamic_cast<Listener *>(b.get()))
            rc = loops_[0]->watch(*l); // loop 0 accepts for every loop
        else
            rc = loops_[next_udp++ % loops_.size()]->watch(static_cast<UdpSocket &>(*b));
        if (rc != 0)
            return fail_errno(rc, b->spec.original + ": watching the socket");
    }
    return 0;
}

void Server::run_loop(Loop &loop) {
    if (int rc = loop.run()) {
        std::lock_guard lock(error_mu_);
        if (loop_error_ == 0) {
            loop_error_ = rc;
            loop_error_msg_ = last_error();
        }
    }
    shutdown(); // one loop failing stops them all
}

int Server::run_loops() {
    // Start the other loops' threads now, so nothing can fail after `serving`; they wait
    // at the gate until `serving` has returned.
    Gate gate;
    std::vector<std::thread> threads;
    try {
        for (size_t i = 1; i < loops_.size(); i++)
            threads.emplace_back([this, &gate, i] {
                gate.wait();
                run_loop(*loops_[i]);
            });
    } catch (...) {
        stopping_.store(true);
        gate.open();
        for (auto &t : threads)
            t.join();
        return fail(EVIO_ENOMEM, "cannot start loop threads");
    }
    if (callbacks_.serving &&
        checked_action(callbacks_.serving(reinterpret_cast<evio_server *>(this),
                                          callbacks_.udata)) == EVIO_SHUTDOWN)
        stopping_.store(true);
    gate.open();
    if (!stopping())
        run_loop(*loops_[0]);
    shutdown();
    for (auto &t : threads)
        t.join();
    loops_.clear();
    close_bound_sockets();
    if (loop_error_ != 0)
        return fail(loop_error_, loop_error_msg_);
    return 0;
}

void Server::close_bound_sockets() noexcept {
    for (auto &b : bound_)
        close_bound(*b);
    bound_.clear();
}

void Server::shutdown() noexcept {
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    for (auto &l : loops_)
        l->mailbox().interrupt();
}

const char *Server::engine_name() const {
    return loops_.empty() ? "" : loops_[0]->engine_name();
}

const sockaddr *Server::addr(int i, socklen_t *len) const {
    if (i < 0 || i >= num_addrs())
        return nullptr;
    if (len)
        *len = bound_[i]->addr_len;
    return reinterpret_cast<const sockaddr *>(&bound_[i]->addr);
}

int Server::addr_string(int i, char *buf, size_t buflen) const {
    if (i < 0 || i >= num_addrs() || (buf == nullptr && buflen > 0))
        return fail(EVIO_EINVAL, "address index " + std::to_string(i) + " out of range");
    const BoundSocket &b = *bound_[i];
    char text[256];
    int n =
        format_address(reinterpret_cast<const sockaddr *>(&b.addr), b.addr_len, text, sizeof text);
    if (n < 0)
        return fail(n, "cannot format address");
    int total = std::snprintf(buf, buflen, "%s://%s", b.scheme.c_str(), text);
    return total < 0 ? EVIO_EINVAL : total;
}

} // namespace evio
