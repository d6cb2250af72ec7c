// The readiness adaptor's other half: the poller's batch of readiness events turned into
// completions, one next() at a time (the system call each armed or waiting operation
// needs is made here).
#include "engine/readiness.hpp"

#include "os/socket.hpp"

namespace evio {

namespace {

constexpr int kAcceptBatch = 64;   // accepts per readiness event
constexpr int kDatagramBatch = 16; // datagrams per readiness event

// With many busy sockets, each event's first touch of its socket's owner (the tag: for a
// connection, 192 bytes of hot fields in up to four cache lines, see conn.hpp) is a cache miss;
// fetching them a few events ahead overlaps those misses with the system calls of the events before
// (conns-1k: server CPU per message -1.3 %, bench/ab). Only a hint: a prefetch never faults,
// whatever the tag points to by then.
constexpr int kPrefetchAhead = 3;
constexpr int kPrefetchLines = 4;

void prefetch_owner(const void *tag) {
    if (tag == nullptr)
        return; // the poller's own wake-up
    const char *p = static_cast<const char *>(tag);
    for (int i = 0; i < kPrefetchLines; i++)
        __builtin_prefetch(p + 64 * i);
}

} // namespace

bool ReadinessEngine::next_queued(Completion &out) {
    while (queued_head_ < queued_.size()) {
        Queued &q = queued_[queued_head_++];
        if (q.h != nullptr) { // not cancelled since
            out = q.c;
            return true;
        }
    }
    queued_.clear();
    queued_head_ = 0;
    return false;
}

bool ReadinessEngine::next(Completion &out) {
    for (;;) {
        if (queued_head_ < queued_.size() && next_queued(out))
            return true;
        if (cursor_ >= nevents_)
            return false;
        if (phase_ == 0 && cursor_ + kPrefetchAhead < nevents_)
            prefetch_owner(events_[cursor_ + kPrefetchAhead].tag);
        if (from_event(events_[cursor_], out))
            return true;
    }
}

void ReadinessEngine::finish_event() {
    cursor_++;
    phase_ = repeats_ = 0;
}

bool ReadinessEngine::from_event(PollEvent &ev, Completion &out) {
    if (ev.events == 0) { // its socket was cancelled after the poller reported it
        finish_event();
        return false;
    }
    if (ev.tag == nullptr) {
        finish_event();
        out = Completion{};
        return true;
    }
    auto &h = *static_cast<IoHandle *>(ev.tag);
    switch (h.role) {
    case Role::Stream:
        return stream_event(h, ev.events, out);
    case Role::Listener:
        return listener_event(h, ev.events, out);
    case Role::Datagram:
        return datagram_event(h, ev.events, out);
    }
    finish_event();
    return false;
}

bool ReadinessEngine::try_send(IoHandle &h, Completion &out) {
    ssize_t n = os::send_vector(h.fd, h.send_iov, h.send_iovcnt);
    if (would_block(n))
        return false;
    h.send_iov = nullptr;
    h.send_blocked = false;
    update_later(h);
    out = Completion{};
    out.tag = h.tag;
    out.op = Op::Send;
    out.result = code_of(n);
    return true;
}

// Level-triggered, one event: first the write side (a connect that finished, or the send
// waiting for room), then one read. Either may end the socket; cancel() then marks the
// event, and the read side is skipped.
bool ReadinessEngine::stream_event(IoHandle &h, uint32_t ready, Completion &out) {
    if (phase_ == 0) {
        phase_ = 1;
        if ((ready & (kWritable | kHangup)) && h.connecting) {
            int err = os::pending_error(h.fd);
            h.connecting = false;
            update_later(h);
            out = Completion{};
            out.tag = h.tag;
            out.op = Op::Connect;
            out.result = err == 0 ? 0 : code_of(err);
            return true;
        }
        if ((ready & (kWritable | kHangup)) && h.send_blocked && try_send(h, out))
            return true;
    }
    finish_event();
    if (!(ready & (kReadable | kHangup)) || !h.receiving)
        return false;
    ssize_t n = os::recv(h.fd, readbuf_.data(), readbuf_.size());
    if (would_block(n))
        return false;
    out = Completion{};
    out.tag = h.tag;
    out.op = Op::Recv;
    out.result = code_of(n);
    if (n > 0) {
        out.data = readbuf_.data();
        out.len = static_cast<size_t>(n);
    }
    return true;
}

bool ReadinessEngine::listener_event(IoHandle &h, uint32_t ready, Completion &out) {
    while ((ready & (kReadable | kHangup)) && h.receiving && repeats_ < kAcceptBatch) {
        repeats_++;
        int fd = os::accept(h.fd, &peer_, &peer_len_);
        if (fd == -EAGAIN || fd == -EWOULDBLOCK)
            break;
        if (fd < 0 && os::accept_error_is_transient(fd))
            continue;
        out = Completion{};
        out.tag = h.tag;
        out.op = Op::Accept;
        out.result = code_of(fd);
        out.addr = reinterpret_cast<const sockaddr *>(&peer_);
        out.addr_len = fd >= 0 ? peer_len_ : 0;
        return true; // the event stays current: the next call accepts again
    }
    finish_event();
    return false;
}

bool ReadinessEngine::datagram_event(IoHandle &h, uint32_t ready, Completion &out) {
    while ((ready & (kReadable | kHangup)) && h.receiving && repeats_ < kDatagramBatch) {
        repeats_++;
        ssize_t n = os::recv_from(h.fd, readbuf_.data(), readbuf_.size(), &peer_, &peer_len_);
        if (n == -EINTR)
            continue;
        if (n < 0)
            break; // nothing now, or a stray ICMP error: nothing to read
        out = Completion{};
        out.tag = h.tag;
        out.op = Op::RecvFrom;
        out.result = static_cast<int>(n);
        out.data = readbuf_.data();
        out.len = static_cast<size_t>(n);
        out.addr = reinterpret_cast<const sockaddr *>(&peer_);
        out.addr_len = peer_len_;
        return true;
    }
    finish_event();
    return false;
}

} // namespace evio
