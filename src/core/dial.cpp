// Outbound connections: parse, resolve off the loop (names only), connect to each address
// in turn within one deadline, then open the connection as an accepted one is opened —
// or report the failure to `dial_failed`. Exactly one of the two for every dial begun.
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/loop.hpp"
#include "core/resolver.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
int64_t deadline_after(int64_t now, int64_t timeout_ns) {
    if (timeout_ns == 0)
        timeout_ns = EVIO_DIAL_TIMEOUT_DEFAULT_NS;
    return timeout_ns > INT64_MAX - now ? INT64_MAX : now + timeout_ns;
}
} // namespace

int Loop::dial(const ListenSpec &spec, void *ctx, int64_t timeout_ns) {
    if (server_.stopping() || draining_ || server_.draining())
        return fail(EVIO_ENOTCONN, "evio_dial: the server is stopping");
    auto owned = std::make_unique<Dial>();
    Dial *d = owned.get();
    d->id = next_dial_id_++;
    d->spec = spec;
    d->ctx = ctx;
    d->io.tag = d;
    dials_.emplace(d->id, std::move(owned));
    try { // out of memory below: nothing begun (a queued name's late answer finds no dial)
        if (spec.host.empty())
            d->to_try.push_back({spec.addr, spec.addr_len});
        else
            resolve_async({spec, mailbox_, d->id});
        const int64_t due = deadline_after(now_ns(), timeout_ns);
        if (due != INT64_MAX)
            d->timer = timers_.add(due, Timer::Kind::Connect, nullptr, nullptr, d);
    } catch (...) {
        forget_dial(d);
        throw;
    }
    load_.fetch_add(1, std::memory_order_relaxed); // counted as a connection from now on
    if (!spec.host.empty())
        return 0; // connects when the resolver answers
    // A numeric address connects now; the result always comes as a completion, so nothing
    // calls back inside evio_dial(). A socket that cannot even be made is refused here.
    if (int rc = start_connect(d, d->to_try[d->next++]); rc != 0) {
        forget_dial(d);
        load_.fetch_sub(1, std::memory_order_relaxed);
        return fail(rc, spec.original + ": cannot open a socket to dial");
    }
    return 0;
}

/// Opens a socket and starts connecting it to `a`: 0, or an EVIO_E… code (no socket left).
int Loop::start_connect(Dial *d, const SockAddr &a) {
    const bool datagram = d->spec.transport == Transport::Udp;
    int fd = os::open_socket(a.addr.ss_family, datagram ? SOCK_DGRAM : SOCK_STREAM);
    if (fd < 0)
        return from_errno(-fd);
    d->io.fd = fd;
    d->io.role = Role::Stream;
    int rc = engine_->open(d->io);
    if (rc == 0)
        rc = engine_->connect(d->io, reinterpret_cast<const sockaddr *>(&a.addr), a.len);
    if (rc != 0)
        close_dial_socket(d);
    return rc; // 0: the result comes as a Connect completion
}

/// Tries the addresses left in turn; fails the dial when none is left.
void Loop::connect_next(Dial *d) {
    while (d->next < d->to_try.size()) {
        int rc = start_connect(d, d->to_try[d->next++]);
        if (rc == 0)
            return;
        d->last_err = rc;
    }
    end_dial(d, d->last_err != 0 ? d->last_err : EVIO_EADDRNOTAVAIL);
}

void Loop::close_dial_socket(Dial *d) {
    if (d->io.fd < 0)
        return;
    engine_->cancel(d->io);
    os::close(d->io.fd);
    d->io = IoHandle{};
    d->io.tag = d;
}

void Loop::on_connect(Dial *d, int result) {
    if (result != 0) {
        close_dial_socket(d);
        d->last_err = result;
        connect_next(d);
        return;
    }
    // Connected: the socket leaves the dial for a connection of its own.
    const SockAddr &peer = d->to_try[d->next - 1];
    Handoff h{};
    h.fd = d->io.fd;
    h.addr_index = -1;
    h.transport = d->spec.transport == Transport::Udp ? Transport::UdpConnected : d->spec.transport;
    std::memcpy(&h.remote, &peer.addr, peer.len);
    h.remote_len = peer.len;
    void *ctx = d->ctx;
    engine_->cancel(d->io); // rule 6: the readiness engines leave nothing in flight
    d->io.fd = -1;
    forget_dial(d);
    if (h.transport == Transport::Tcp)
        os::set_nodelay(h.fd, true);
    if (int rc = open_conn(h, ctx))   // load_ was counted when the dial began
        report_dial_failure(ctx, rc); // connected, but no connection could be made of it
}

/// A dial's host name was resolved (or not) on a resolver thread.
void Loop::on_resolved(const Work &w) {
    auto it = dials_.find(w.dial_id);
    if (it == dials_.end())
        return; // it timed out meanwhile
    Dial *d = it->second.get();
    const char *bytes = taken_.bytes.data() + w.offset;
    if (w.status != 0) {
        fail(w.status, std::string(bytes, w.len)); // evio_last_error() in dial_failed
        end_dial(d, w.status);
        return;
    }
    const size_t n = w.len / sizeof(SockAddr);
    d->to_try.resize(n);
    std::memcpy(d->to_try.data(), bytes, n * sizeof(SockAddr)); // the arena is not aligned
    connect_next(d);
}

void Loop::dial_timed_out(Dial *d) {
    d->timer = 0;
    fail(EVIO_ETIMEDOUT, d->spec.original + ": connect timed out");
    end_dial(d, EVIO_ETIMEDOUT);
}

/// Removes a dial from the loop (its socket, if any, already taken or closed).
void Loop::forget_dial(Dial *d) {
    clear_timer(d->timer);
    close_dial_socket(d);
    dials_.erase(d->id); // frees d
}

/// The dial failed: `dial_failed` is told, once.
void Loop::end_dial(Dial *d, int err) {
    void *ctx = d->ctx;
    forget_dial(d);
    load_.fetch_sub(1, std::memory_order_relaxed);
    report_dial_failure(ctx, err);
}

/// The server stops: every dial not finished fails with EVIO_ECANCELED.
void Loop::end_all_dials() {
    while (!dials_.empty())
        end_dial(dials_.begin()->second.get(), EVIO_ECANCELED);
}

/// A dial asked from another thread (evio_server_dial()), run on this loop now.
void Loop::run_posted_dial(const Work &w) {
    ListenSpec spec;
    std::string text(taken_.bytes.data() + w.offset, w.len);
    int rc = parse_address(text, spec, Purpose::Dial); // checked by the caller already
    if (rc == 0) {
        try {
            rc = dial(spec, w.arg, w.timeout_ns);
        } catch (...) {
            rc = EVIO_ENOMEM;
        }
    }
    if (rc == EVIO_ENOTCONN)
        rc = EVIO_ECANCELED; // the server began to stop after the call
    if (rc != 0)             // begun in the caller's view: it must end in dial_failed
        report_dial_failure(w.arg, rc);
}

/// Tells `dial_failed` (once per dial: every caller ends the dial's life).
void Loop::report_dial_failure(void *ctx, int err) {
    if (callbacks_.dial_failed &&
        checked_action(callbacks_.dial_failed(ctx, err, callbacks_.udata)) == EVIO_SHUTDOWN)
        server_.shutdown();
    flush_dirty(); // what it wrote to (or closed on) other connections
}

} // namespace evio
