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
    if (!waited_ && !threads_.empty()) { // evio_server_free() of a server nobody waited for
        stop(0);
        wait();
    }
    close_bound_sockets();
}

int Server::prepare(const evio_events *events, const char *const *addrs, size_t naddrs,
                    bool allow_none) {
    if (int rc = load_callbacks(events, callbacks_))
        return rc;
    std::vector<ListenSpec> specs;
    if (!(allow_none && naddrs == 0))
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
    return watch_all();
}

int Server::serve(const evio_events *events, const char *const *addrs, size_t naddrs) {
    if (int rc = prepare(events, addrs, naddrs, false))
        return rc;
    if (int rc = launch(1))
        return rc;
    if (!stopping())
        run_loop(*loops_[0]); // the first loop on the caller's thread, as evio does
    return wait();
}

int Server::start(const evio_events *events, const char *const *addrs, size_t naddrs) {
    if (int rc = prepare(events, addrs, naddrs, true))
        return rc;
    return launch(0);
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
    num_loops_ = nloops;
    for (int i = 0; i < nloops; i++) {
        int err = 0;
        auto engine = make_engine(kind, err);
        if (!engine)
            return err;
        engine_name_ = engine->name();
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
    const int rc = loop.run();
    if (rc == 0)
        return; // stopped, or drained (a drained loop ends on its own)
    {
        std::lock_guard lock(error_mu_);
        if (loop_error_ == 0) {
            loop_error_ = rc;
            loop_error_msg_ = last_error();
        }
    }
    shutdown(); // one loop failing stops them all
}

/// Starts the threads of loops `first_thread`… (they wait at a gate), calls `serving`,
/// opens the gate. Nothing can fail after `serving` was called.
int Server::launch(size_t first_thread) {
    auto gate = std::make_shared<Gate>();
    try {
        for (size_t i = first_thread; i < loops_.size(); i++)
            threads_.emplace_back([this, gate, i] {
                gate->wait();
                run_loop(*loops_[i]);
            });
    } catch (...) {
        stopping_.store(true);
        gate->open();
        for (auto &t : threads_)
            t.join();
        threads_.clear();
        return fail(EVIO_ENOMEM, "cannot start loop threads");
    }
    if (callbacks_.serving &&
        checked_action(callbacks_.serving(reinterpret_cast<evio_server *>(this),
                                          callbacks_.udata)) == EVIO_SHUTDOWN)
        stopping_.store(true);
    gate->open();
    return 0;
}

int Server::wait() {
    if (waited_)
        return result_;
    for (auto &t : threads_)
        t.join();
    threads_.clear();
    // The loops stay (stopped, their mailboxes closed) until the handle is freed, so a late
    // evio_server_post() or evio_server_stop() from another thread finds them.
    close_bound_sockets();
    waited_ = true;
    result_ = loop_error_ != 0 ? fail(loop_error_, loop_error_msg_) : 0;
    return result_;
}

Loop *Server::dial_loop(int i) noexcept {
    if (i != -1)
        return loop(i);
    if (num_loops_ == 0)
        return nullptr;
    Loop *here = Loop::on_this_thread();
    if (here != nullptr && on_own_loop())
        return here;
    unsigned n = next_dial_loop_.fetch_add(1, std::memory_order_relaxed);
    return loops_[n % static_cast<unsigned>(num_loops_)].get();
}

bool Server::on_own_loop() const noexcept {
    Loop *here = Loop::on_this_thread();
    for (const auto &l : loops_)
        if (l.get() == here)
            return true;
    return false;
}

void Server::stop(int64_t drain_ns) noexcept {
    if (drain_ns <= 0) {
        shutdown();
        return;
    }
    const int64_t now = now_ns();
    const int64_t deadline = drain_ns >= kNever - now ? kNever - 1 : now + drain_ns;
    // Only an earlier deadline replaces the one in force (a second Ctrl-C may hurry it).
    int64_t cur = drain_deadline_ns_.load(std::memory_order_acquire);
    while (deadline < cur &&
           !drain_deadline_ns_.compare_exchange_weak(cur, deadline, std::memory_order_acq_rel))
        ;
    interrupt_loops();
}

void Server::shutdown() noexcept {
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    interrupt_loops();
}

void Server::interrupt_loops() noexcept {
    for (auto &l : loops_)
        l->interrupt();
}

/// Closes the sockets (and removes our unix socket files); the records stay, so the
/// address accessors answer until the handle is freed.
void Server::close_bound_sockets() noexcept {
    for (auto &b : bound_)
        close_bound(*b);
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
