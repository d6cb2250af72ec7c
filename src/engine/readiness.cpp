// The readiness adaptor (readiness.hpp): opening sockets, interest, submitting sends and
// connects, cancelling, and the wait; readiness_events.cpp turns the batch into completions.
#include "engine/readiness.hpp"

#include <cassert>
#include <cerrno>

#include <evio.h>

#include "core/error.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {

constexpr int kMaxEvents = 256;
constexpr size_t kReadBufferSize = 64 * 1024;

} // namespace

ReadinessEngine::ReadinessEngine(std::unique_ptr<Poller> poller)
    : poller_(std::move(poller)), events_(kMaxEvents), readbuf_(kReadBufferSize) {}

int ReadinessEngine::open(IoHandle &h) {
    h.interest = 0;
    h.registered = false; // the poller hears of it with its first interest: one call
    h.receiving = h.connecting = h.send_blocked = false;
    h.send_iov = nullptr;
    h.ready_batch = 0;
    return 0;
}

int ReadinessEngine::update_interest(IoHandle &h) {
    const uint32_t want = (h.receiving ? uint32_t{kReadable} : 0u) |
                          (h.send_blocked || h.connecting ? uint32_t{kWritable} : 0u);
    if (want == h.interest && (h.registered || want == 0))
        return 0;
    int rc = h.registered ? poller_->modify(h.fd, want, &h) : poller_->add(h.fd, want, &h);
    if (rc != 0)
        return rc;
    h.registered = true;
    h.interest = want;
    return 0;
}

void ReadinessEngine::update_later(IoHandle &h) {
    // Dropping write interest at once would cost an epoll_ctl when the loop submits the
    // rest of its output right after the completion; do it before the next wait instead.
    if (h.interest & kWritable)
        stale_interest_.push_back(&h);
}

int ReadinessEngine::recv_start(IoHandle &h) {
    h.receiving = true;
    return update_interest(h);
}

int ReadinessEngine::recv_stop(IoHandle &h) {
    h.receiving = false;
    return update_interest(h);
}

void ReadinessEngine::queue(IoHandle &h, Op op, int result) {
    Completion c;
    c.tag = h.tag;
    c.op = op;
    c.result = result;
    queued_.push_back({&h, c});
}

ssize_t ReadinessEngine::send(IoHandle &h, const iovec *iov, int iovcnt) {
    assert(h.send_iov == nullptr && "one send in flight per socket");
    ssize_t n = os::send_vector(h.fd, iov, iovcnt);
    if (!would_block(n)) { // finished at once: its result is returned, no completion
        if (h.send_blocked) {
            h.send_blocked = false;
            update_later(h);
        }
        return n > 0 ? n : n == 0 ? EVIO_EIO : code_of(n);
    }
    h.send_iov = iov;
    h.send_iovcnt = iovcnt;
    h.send_blocked = true;
    if (int rc = update_interest(h)) {
        h.send_iov = nullptr;
        h.send_blocked = false;
        return rc; // cannot wait for room: the send failed
    }
    return 0;
}

ssize_t ReadinessEngine::send_now(IoHandle &h, const void *buf, size_t len) {
    assert(h.send_iov == nullptr);
    ssize_t n = os::send(h.fd, buf, len);
    return would_block(n) ? 0 : n;
}

ssize_t ReadinessEngine::send_to(IoHandle &h, const iovec *iov, int iovcnt, const sockaddr *to,
                                 socklen_t to_len) {
    return os::send_to(h.fd, iov, iovcnt, to, to_len);
}

int ReadinessEngine::connect(IoHandle &h, const sockaddr *addr, socklen_t len) {
    int rc = os::connect(h.fd, addr, len);
    if (rc == -EINPROGRESS) {
        h.connecting = true;
        if (int e = update_interest(h)) {
            h.connecting = false;
            queue(h, Op::Connect, e);
        }
        return 0;
    }
    queue(h, Op::Connect, rc == 0 ? 0 : code_of(rc));
    return 0;
}

int ReadinessEngine::cancel(IoHandle &h) {
    if (h.registered) {
        [[maybe_unused]] int rc = poller_->remove(h.fd);
        assert((rc == 0 || failed_) && "a watched fd cannot be removed: closed behind our back?");
    }
    if (h.ready_batch == batch_ && h.ready_slot > 0 &&
        static_cast<int>(h.ready_slot) - 1 >= cursor_)
        events_[h.ready_slot - 1].events = 0; // its event is skipped (poller rule 2)
    for (size_t i = queued_head_; i < queued_.size(); i++)
        if (queued_[i].h == &h)
            queued_[i].h = nullptr;
    for (IoHandle *&p : stale_interest_)
        if (p == &h)
            p = nullptr;
    h.registered = h.receiving = h.connecting = h.send_blocked = false;
    h.interest = 0;
    h.send_iov = nullptr;
    return 0; // nothing is ever in flight outside next()
}

int ReadinessEngine::wait(int timeout_ms) {
    for (IoHandle *h : stale_interest_)
        if (h && !h->send_blocked && !h->connecting && update_interest(*h) != 0)
            queue(*h, Op::Recv, EVIO_EIO); // cannot be watched as it should: closed
    stale_interest_.clear();
    batch_++;
    cursor_ = phase_ = repeats_ = 0;
    nevents_ = 0;
    if (queued_head_ < queued_.size()) {
        timeout_ms = 0; // completions are waiting already
    } else {
        queued_.clear(); // all handed out (next() does not clear: it is on every event's path)
        queued_head_ = 0;
    }
    int n = poller_->wait(events_.data(), static_cast<int>(events_.size()), timeout_ms);
    if (n < 0) {
        failed_ = true; // the loop stops; what it cancels then may fail too
        return fail_errno(n, std::string("waiting for events (") + poller_->name() + ")");
    }
    nevents_ = n;
    for (int i = 0; i < n; i++) {
        if (auto *h = static_cast<IoHandle *>(events_[i].tag)) {
            h->ready_batch = batch_;
            h->ready_slot = static_cast<uint32_t>(i) + 1;
        }
    }
    return 0;
}

} // namespace evio
