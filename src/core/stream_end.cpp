// How a stream connection ends on its loop: closed (after `closed`, the fd is closed) or
// detached (the fd is handed to `detached`). Both first retire it from the engine.
#include <cassert>

#include "core/loop.hpp"
#include "core/server.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {
constexpr size_t kDiscardBytes = 1u << 20; // unread input discarded before a close
} // namespace

/// What closing and detaching share: the engine lets go, the loop forgets it.
void Loop::retire(Conn *c) {
    assert(c->state != Conn::State::Closed);
    c->state = Conn::State::Closed;
    c->sending = c->reading = false;
    [[maybe_unused]] int in_flight = engine_->cancel(c->io);
    assert(in_flight == 0 && "no engine leaves operations in flight yet (engine rule 6)");
    c->closed.store(true, std::memory_order_release);
    unlink(c);
    closed_turn_.push_back(c); // the loop's reference, dropped after this turn
}

void Loop::close_conn(Conn *c, int err) {
    if (c->state == Conn::State::Closed)
        return;
    retire(c);
    if (callbacks_.closed &&
        checked_action(callbacks_.closed(c_handle(c), err, callbacks_.udata)) == EVIO_SHUTDOWN)
        server_.shutdown();
    // Input nobody will read makes close() reset the connection, and a reset throws away
    // output still in the kernel's send queue: the end of the last response. Read what is
    // there (bounded: a peer that keeps sending gets its reset) so an orderly close stays
    // orderly.
    if (err == 0)
        os::discard_input(c->io.fd, kDiscardBytes);
    os::close(c->io.fd); // after `closed`: the number is not reused while user code sees it
    c->io.fd = -1;
    c->out.reset();
    end_timers(c);
}

void Loop::detach_conn(Conn *c) {
    c->load_local_addr(); // evio_conn_local_addr() in `detached`, where fd is the user's;
                          // before retire(): then other threads may read it
    retire(c);
    const int fd = c->io.fd;
    c->io.fd = -1;
    os::set_blocking(fd);
    if (!callbacks_.detached)
        os::close(fd); // nobody to take it
    else if (checked_action(callbacks_.detached(c_handle(c), fd, callbacks_.udata)) ==
             EVIO_SHUTDOWN)
        server_.shutdown();
    end_timers(c);
}

} // namespace evio
