// The event loop: readiness in, callbacks out. See docs/design.md for the hot path.
#include "core/loop.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "core/error.hpp"
#include "core/server.hpp"

namespace evio {

namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
constexpr int kMaxEvents = 256;
constexpr int kAcceptBatch = 64;                // accepts per readiness event
constexpr int kUdpBatch = 16;                   // datagrams per readiness event
constexpr size_t kHighWatermark = 1u << 20;     // stop reading above this much unsent output
constexpr size_t kLowWatermark = 256u << 10;    // resume below this
constexpr int64_t kAcceptPauseNs = 100'000'000; // after EMFILE & co
constexpr size_t kDirectWrite = 32u << 10;      // writes this large skip the output buffer
constexpr int kDiscardReads = 16;               // unread input discarded before a close

thread_local Loop *t_current = nullptr;

} // namespace

bool Mailbox::post_wake(Conn *c) {
    std::lock_guard lock(mu);
    if (dead)
        return false;
    bool idle = wakes.empty() && handoffs.empty();
    wakes.push_back(c);
    if (idle)
        poller->wake();
    return true;
}

bool Mailbox::post_handoff(const Handoff &h) {
    std::lock_guard lock(mu);
    if (dead)
        return false;
    bool idle = wakes.empty() && handoffs.empty();
    handoffs.push_back(h);
    if (idle)
        poller->wake();
    return true;
}

void Mailbox::signal() {
    std::lock_guard lock(mu);
    if (!dead)
        poller->wake();
}

Loop::Loop(Server &server, int index, std::unique_ptr<Poller> poller)
    : server_(server), index_(index), poller_(std::move(poller)),
      mailbox_(std::make_shared<Mailbox>()), readbuf_(kReadBufferSize), events_(kMaxEvents) {
    mailbox_->poller = poller_.get();
}

Loop::~Loop() {
    // run() normally did this; a loop that never ran (start-up failure) does it here.
    std::lock_guard lock(mailbox_->mu);
    mailbox_->dead = true;
    mailbox_->poller = nullptr;
    for (Conn *c : mailbox_->wakes)
        c->unref();
    mailbox_->wakes.clear();
    for (const Handoff &h : mailbox_->handoffs)
        ::close(h.fd);
    mailbox_->handoffs.clear();
}

Loop *Loop::current() noexcept {
    return t_current;
}

int Loop::watch_listener(Listener *l) {
    listeners_.push_back(l);
    return poller_->add(l->fd, kReadable, l);
}

int Loop::watch_udp(UdpSocket *u) {
    u->conn.loop = this;
    u->conn.fd = u->fd;
    u->conn.addr_index = u->index;
    u->conn.reuse_input = true;
    return poller_->add(u->fd, kReadable, u);
}

void Loop::run() {
    // evio_serve() may be called inside a callback of another server: that loop is
    // blocked meanwhile, and is this thread's loop again once this one returns.
    Loop *const outer = t_current;
    t_current = this;
    const evio_events &ev = server_.events();
    if (index_ == 0 && ev.tick) {
        ticking_ = true;
        next_tick_ns_ = now_ns();
    }
    while (!server_.stopping()) {
        int64_t now = now_ns();
        if (ticking_ && now >= next_tick_ns_) {
            // At most one tick per turn, and never instead of polling: a tick that asks
            // for no delay (or takes longer than its delay) must not starve the I/O.
            run_tick(now);
            flush_dirty(); // output written in tick goes out now, not after the next wait
            if (server_.stopping())
                break;
            now = now_ns();
        }
        for (Listener *l : listeners_) {
            if (l->paused && now >= l->resume_at_ns && poller_->add(l->fd, kReadable, l) == 0)
                l->paused = false;
        }
        int n = poller_->wait(events_.data(), static_cast<int>(events_.size()), next_timeout(now));
        if (n < 0) {
            // The poller itself failed (it should not): stop the server rather than spin.
            server_.shutdown();
            break;
        }
        for (int i = 0; i < n; i++)
            dispatch(events_[i]);
        flush_dirty();
        for (Conn *c : graveyard_)
            c->unref();
        graveyard_.clear();
    }
    shutdown_all();
    t_current = outer;
}

void Loop::run_tick(int64_t now) {
    int64_t delay = 1'000'000'000;
    const evio_events &ev = server_.events();
    evio_action a = ev.tick(&delay, ev.udata);
    if (delay < 0)
        delay = 0;
    // A huge delay means "not for a long while": saturate instead of overflowing.
    next_tick_ns_ = delay > INT64_MAX - now ? INT64_MAX : now + delay;
    if (a == EVIO_SHUTDOWN)
        server_.shutdown();
}

int Loop::next_timeout(int64_t now) const {
    int64_t until = INT64_MAX;
    if (ticking_)
        until = next_tick_ns_;
    for (const Listener *l : listeners_)
        if (l->paused && l->resume_at_ns < until)
            until = l->resume_at_ns;
    if (until == INT64_MAX)
        return -1;
    if (until <= now)
        return 0;
    int64_t ms = (until - now + 999'999) / 1'000'000; // round up: never wake early
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

void Loop::dispatch(const PollEvent &ev) {
    if (ev.tag == nullptr) {
        on_mailbox();
        return;
    }
    auto *h = static_cast<IoHandle *>(ev.tag);
    switch (h->kind) {
    case IoHandle::Kind::Conn:
        on_conn(static_cast<Conn *>(h), ev.events);
        break;
    case IoHandle::Kind::Listener:
        on_accept(static_cast<Listener *>(h));
        break;
    case IoHandle::Kind::Udp:
        on_udp(static_cast<UdpSocket *>(h));
        break;
    }
}

void Loop::on_accept(Listener *l) {
    for (int i = 0; i < kAcceptBatch && !server_.stopping(); i++) {
        Handoff h{};
        h.remote_len = sizeof h.remote;
        h.fd = accept4(l->fd, reinterpret_cast<sockaddr *>(&h.remote), &h.remote_len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (h.fd < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return;
            // accept(2): the new connection's pending network errors are to be treated
            // like EAGAIN by retrying; they say nothing about the listener.
            if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == EPERM || e == ENETDOWN ||
                e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET || e == EHOSTUNREACH ||
                e == EOPNOTSUPP || e == ENETUNREACH)
                continue;
            // EMFILE, ENFILE, ENOBUFS, ENOMEM…: the backlog cannot drain now. Stop watching
            // the listener for a while instead of spinning on it; never end the loop.
            poller_->remove(l->fd);
            l->paused = true;
            l->resume_at_ns = now_ns() + kAcceptPauseNs;
            return;
        }
        h.addr_index = l->index;
        h.transport = l->spec.transport;
        if (h.transport == Transport::Tcp) {
            int one = 1;
            setsockopt(h.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        Loop &target = server_.pick_loop();
        target.load().fetch_add(1, std::memory_order_relaxed);
        if (&target == this) {
            open_conn(h);
        } else if (!target.mailbox().post_handoff(h)) {
            ::close(h.fd);
            target.load().fetch_sub(1, std::memory_order_relaxed);
        }
    }
}

void Loop::open_conn(const Handoff &h) {
    Conn *c;
    try {
        c = new Conn(h.transport);
    } catch (...) {
        ::close(h.fd);
        load_.fetch_sub(1, std::memory_order_relaxed);
        return;
    }
    c->fd = h.fd;
    c->addr_index = h.addr_index;
    c->remote.set(reinterpret_cast<const sockaddr *>(&h.remote), h.remote_len);
    c->loop = this;
    c->mailbox = mailbox_;
    c->interest = kReadable;
    if (poller_->add(c->fd, kReadable, c) != 0) {
        ::close(c->fd);
        load_.fetch_sub(1, std::memory_order_relaxed);
        c->unref();
        return;
    }
    c->next = head_;
    if (head_)
        head_->prev = c;
    head_ = c;
    const evio_events &ev = server_.events();
    if (ev.opened) {
        current_ = c;
        after_callback(c, ev.opened(c_handle(c), ev.udata));
    }
}

void Loop::on_conn(Conn *c, uint32_t events) {
    if (c->state == Conn::State::Closed)
        return;
    if ((events & (kWritable | kHangup)) && !c->out.empty() && !flush(c))
        return;
    if (!(events & (kReadable | kHangup)) || c->state != Conn::State::Open || c->read_paused)
        return;
    ssize_t n = ::read(c->fd, readbuf_.data(), readbuf_.size());
    if (n > 0) {
        const evio_events &ev = server_.events();
        if (!ev.data)
            return;
        const void *in = readbuf_.data();
        if (!c->reuse_input) {
            c->in_copy.assign(readbuf_.data(), readbuf_.data() + n);
            in = c->in_copy.data();
        } else if (c->in_copy.capacity() != 0) {
            std::vector<char>().swap(c->in_copy); // reuse_input was switched on
        }
        current_ = c;
        after_callback(c, ev.data(c_handle(c), in, static_cast<size_t>(n), ev.udata));
    } else if (n == 0) {
        // The peer finished sending. Deliver what we still owe, then close.
        if (c->out.empty()) {
            close_conn(c, 0);
        } else {
            c->state = Conn::State::Closing;
            set_interest(c);
        }
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        close_conn(c, from_errno(errno));
    }
}

void Loop::on_udp(UdpSocket *u) {
    const evio_events &ev = server_.events();
    Conn &c = u->conn;
    for (int i = 0; i < kUdpBatch; i++) {
        socklen_t from_len = sizeof u->from;
        ssize_t n = recvfrom(u->fd, readbuf_.data(), readbuf_.size(), 0,
                             reinterpret_cast<sockaddr *>(&u->from), &from_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; // EAGAIN, or a stray ICMP error: nothing to read now
        }
        c.remote.set(reinterpret_cast<const sockaddr *>(&u->from), from_len);
        evio_action a = EVIO_NONE;
        if (ev.data)
            a = ev.data(c_handle(&c), readbuf_.data(), static_cast<size_t>(n), ev.udata);
        if (!c.out.empty()) {
            if (ev.prewrite)
                ev.prewrite(c_handle(&c), ev.udata);
            sendto(u->fd, c.out.data(), c.out.size(), MSG_NOSIGNAL, c.remote.get(), c.remote.len());
            c.out.clear();
        }
        if (a == EVIO_SHUTDOWN) {
            server_.shutdown();
            return;
        }
    }
}

void Loop::on_mailbox() {
    {
        std::lock_guard lock(mailbox_->mu);
        wakes_.swap(mailbox_->wakes);
        handoffs_.swap(mailbox_->handoffs);
    }
    for (const Handoff &h : handoffs_) {
        if (server_.stopping()) {
            ::close(h.fd);
            load_.fetch_sub(1, std::memory_order_relaxed);
        } else {
            open_conn(h);
        }
    }
    handoffs_.clear();
    const evio_events &ev = server_.events();
    for (Conn *c : wakes_) {
        c->wake_pending.store(false, std::memory_order_release);
        if (c->state == Conn::State::Open && ev.data && !server_.stopping()) {
            current_ = c;
            after_callback(c, ev.data(c_handle(c), nullptr, 0, ev.udata));
        }
        c->unref();
    }
    wakes_.clear();
}

int Loop::write(Conn *c, const void *buf, size_t len) {
    if (len == 0)
        return 0;
    if (len >= kDirectWrite && c->out.empty() && c->transport != Transport::Udp &&
        !server_.events().prewrite) {
        // A large write with nothing queued before it: send it now rather than copy it.
        // Whatever the socket does not take is queued as usual; an error is left for the
        // flush after the callback to find and report (closing here would re-enter
        // user code). Not with a `prewrite` callback: it would have to run here, inside
        // the callback that is writing (re-entrant, and its own output would land in the
        // middle of this write).
        ssize_t n = ::send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0) {
            buf = static_cast<const char *>(buf) + n;
            len -= static_cast<size_t>(n);
        }
        if (len == 0)
            return 0;
    }
    c->out.append(buf, len);
    // The connection whose callback is running is flushed by after_callback(); any other
    // goes on the dirty list.
    if (c != current_ && c->transport != Transport::Udp && !c->dirty) {
        c->dirty = true;
        c->ref();
        dirty_.push_back(c);
    }
    return 0;
}

void Loop::after_callback(Conn *c, int action) {
    current_ = nullptr;
    if (action == EVIO_SHUTDOWN)
        server_.shutdown(); // even if the flush below finds the connection gone
    if (c->state != Conn::State::Closed && !c->out.empty())
        flush(c);
    flush_dirty();
    if (c->state == Conn::State::Closed)
        return;
    switch (action) {
    case EVIO_CLOSE:
    case EVIO_DETACH:
        if (c->state != Conn::State::Open)
            break;
        if (!c->out.empty()) {
            c->state = action == EVIO_CLOSE ? Conn::State::Closing : Conn::State::Detaching;
            set_interest(c);
        } else if (action == EVIO_CLOSE) {
            close_conn(c, 0);
        } else {
            detach_conn(c);
        }
        break;
    default:
        break;
    }
}

bool Loop::flush(Conn *c) {
    if (c->out.empty())
        return c->state == Conn::State::Open;
    const evio_events &ev = server_.events();
    if (ev.prewrite)
        ev.prewrite(c_handle(c), ev.udata);
    while (!c->out.empty()) {
        ssize_t n = ::send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c->out.consume(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        close_conn(c, n < 0 ? from_errno(errno) : EVIO_EIO);
        return false;
    }
    // Whoever wrote this output (the connection's own callback, or another connection's
    // or tick), a close or detach waiting for it completes as soon as it is out.
    if (c->out.empty() && c->state == Conn::State::Closing) {
        close_conn(c, 0);
        return false;
    }
    if (c->out.empty() && c->state == Conn::State::Detaching) {
        detach_conn(c);
        return false;
    }
    set_interest(c);
    return true;
}

void Loop::flush_dirty() {
    // flush() never adds to dirty_, but a prewrite callback may write: iterate by index.
    for (size_t i = 0; i < dirty_.size(); i++) {
        Conn *c = dirty_[i];
        c->dirty = false;
        if (c->state != Conn::State::Closed)
            flush(c);
    }
    for (Conn *c : dirty_)
        c->unref(); // never the last reference: the loop's or the graveyard's remains
    dirty_.clear();
}

void Loop::set_interest(Conn *c) {
    size_t pending = c->out.size();
    if (pending > kHighWatermark)
        c->read_paused = true; // backpressure: a slow reader stops being read
    else if (pending <= kLowWatermark)
        c->read_paused = false;
    uint32_t want = (c->state == Conn::State::Open && !c->read_paused ? uint32_t{kReadable} : 0u) |
                    (pending > 0 ? uint32_t{kWritable} : 0u);
    if (want != c->interest) {
        c->interest = want;
        poller_->modify(c->fd, want, c);
    }
}

void Loop::unlink(Conn *c) {
    if (c->prev)
        c->prev->next = c->next;
    else if (head_ == c)
        head_ = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    load_.fetch_sub(1, std::memory_order_relaxed);
}

void Loop::close_conn(Conn *c, int err) {
    if (c->state == Conn::State::Closed)
        return;
    c->state = Conn::State::Closed;
    poller_->remove(c->fd);
    c->closed.store(true, std::memory_order_release);
    unlink(c);
    const evio_events &ev = server_.events();
    if (ev.closed && ev.closed(c_handle(c), err, ev.udata) == EVIO_SHUTDOWN)
        server_.shutdown();
    if (err == 0)
        discard_input(c->fd);
    ::close(c->fd); // after `closed`: the number is not reused while user code sees it
    c->fd = -1;
    c->out.clear();
    graveyard_.push_back(c); // the loop's reference, dropped after this turn
}

// Input nobody will read makes close() reset the connection (TCP sends RST, a unix peer
// gets ECONNRESET), and a reset throws away output still in the kernel's send queue: the
// end of the last response. Read what is there (bounded: a peer that keeps sending gets
// its reset) so that an orderly close stays orderly.
void Loop::discard_input(int fd) {
    for (int i = 0; i < kDiscardReads; i++) {
        ssize_t n = ::read(fd, readbuf_.data(), readbuf_.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || static_cast<size_t>(n) < readbuf_.size())
            return;
    }
}

void Loop::detach_conn(Conn *c) {
    c->state = Conn::State::Closed;
    poller_->remove(c->fd);
    c->closed.store(true, std::memory_order_release);
    unlink(c);
    if (!c->local.known()) // evio_conn_local_addr() in `detached`, where fd is the user's
        c->local.load_local(c->fd);
    int fd = c->fd;
    c->fd = -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    const evio_events &ev = server_.events();
    if (ev.detached) {
        if (ev.detached(c_handle(c), fd, ev.udata) == EVIO_SHUTDOWN)
            server_.shutdown();
    } else {
        ::close(fd); // nobody to take it
    }
    graveyard_.push_back(c);
}

void Loop::shutdown_all() {
    {
        std::lock_guard lock(mailbox_->mu);
        mailbox_->dead = true;
        mailbox_->poller = nullptr;
        wakes_.swap(mailbox_->wakes);
        handoffs_.swap(mailbox_->handoffs);
    }
    for (const Handoff &h : handoffs_) {
        ::close(h.fd);
        load_.fetch_sub(1, std::memory_order_relaxed);
    }
    handoffs_.clear();
    for (Conn *c : wakes_) {
        c->wake_pending.store(false, std::memory_order_release);
        c->unref();
    }
    wakes_.clear();
    flush_dirty();
    while (head_) {
        Conn *c = head_;
        flush(c); // best effort: whatever the socket takes now
        close_conn(c, 0);
    }
    flush_dirty(); // a `closed` above may have written to a connection closed after it
    for (Conn *c : graveyard_)
        c->unref();
    graveyard_.clear();
}

} // namespace evio
