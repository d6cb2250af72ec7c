#include "core/server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "core/error.hpp"

namespace evio {

int64_t now_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {

/// The size of the first published evio_events (every field up to `tick`).
constexpr size_t kEventsV1Size = offsetof(evio_events, tick) + sizeof(evio_events::tick);

/// The stored bits of a C enum field, read without loading it as the enum type.
template <class E> int enum_value(const E &field) {
    static_assert(sizeof(E) == sizeof(int));
    int v;
    std::memcpy(&v, &field, sizeof v);
    return v;
}

/// Closes an fd on scope exit unless released.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0)
            ::close(fd);
    }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

int resolve_loops(int n) {
    if (n == -1) {
        unsigned hc = std::thread::hardware_concurrency();
        return hc == 0 ? 1 : hc > EVIO_MAX_LOOPS ? EVIO_MAX_LOOPS : static_cast<int>(hc);
    }
    return n <= 1 ? 1 : n;
}

/// Whether a server is accepting on the unix socket at `path`: a connect attempt is
/// refused on a stale file (nobody listens) and succeeds, or finds a full backlog, on a
/// live one. Returns 1 live, 0 stale, or a negative EVIO_E… code.
int unix_path_is_live(const std::string &path) {
    sockaddr_un un{};
    if (path.size() >= sizeof un.sun_path)
        return EVIO_ENAMETOOLONG;
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    FdGuard probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (probe.fd < 0)
        return from_errno(errno);
    if (::connect(probe.fd, reinterpret_cast<const sockaddr *>(&un), sizeof un) == 0)
        return 1;
    switch (errno) {
    case EAGAIN:      // a listener whose backlog is full is still a listener
    case EINPROGRESS: // (not for unix sockets on Linux, but harmless)
        return 1;
    case ECONNREFUSED: // a socket file nobody listens on: left by a server that died
        return 0;
    default:
        return from_errno(errno);
    }
}

/// Removes a stale unix socket file; refuses to remove anything else, and refuses a
/// socket another server is listening on (EVIO_EADDRINUSE).
int clear_unix_path(const ListenSpec &spec) {
    struct stat st;
    if (lstat(spec.path.c_str(), &st) != 0)
        return errno == ENOENT ? 0 : fail_errno(from_errno(errno), spec.original);
    if (!S_ISSOCK(st.st_mode))
        return fail(EVIO_EADDRINUSE,
                    spec.original + ": " + spec.path + " exists and is not a socket");
    int live = unix_path_is_live(spec.path);
    if (live == 1)
        return fail(EVIO_EADDRINUSE,
                    spec.original + ": a server is already listening on " + spec.path);
    if (live < 0)
        return fail_errno(live, spec.original + ": checking whether " + spec.path + " is in use");
    if (unlink(spec.path.c_str()) != 0)
        return fail_errno(from_errno(errno), spec.original + ": removing stale socket");
    return 0;
}

/// Removes the socket file of a listener at shutdown, but only if it is still the file
/// this server bound: another server may have replaced it since.
void remove_own_unix_path(const Listener &l) {
    struct stat st;
    if (l.unix_path.empty() || lstat(l.unix_path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    if (st.st_dev == l.unix_dev && st.st_ino == l.unix_ino)
        unlink(l.unix_path.c_str());
}

} // namespace

Server::~Server() {
    close_listeners();
}

int Server::load_events(const evio_events *events) {
    if (events == nullptr)
        return fail(EVIO_EINVAL, "events is NULL");
    if (events->size < kEventsV1Size)
        return fail(EVIO_EINVAL,
                    "events->size is " + std::to_string(events->size) +
                        ", expected sizeof(evio_events) = " + std::to_string(sizeof(evio_events)) +
                        " (initialise it with EVIO_EVENTS_INIT)");
    if (events->size > sizeof(evio_events)) {
        // Built against a newer header: fields we do not know must be unused (zero).
        const auto *extra = reinterpret_cast<const unsigned char *>(events) + sizeof(evio_events);
        for (size_t i = 0; i < events->size - sizeof(evio_events); i++)
            if (extra[i] != 0)
                return fail(EVIO_ENOTSUP,
                            "events uses fields this version of libevio does not know (built "
                            "against a newer evio.h)");
    }
    std::memset(&events_, 0, sizeof events_);
    std::memcpy(&events_, events, std::min(events->size, sizeof(evio_events)));
    events_.size = sizeof(evio_events);
    if (events_.num_loops < -1 || events_.num_loops > EVIO_MAX_LOOPS)
        return fail(EVIO_EINVAL, "num_loops is " + std::to_string(events_.num_loops) +
                                     " (want -1 for one per CPU, or 0 to " +
                                     std::to_string(EVIO_MAX_LOOPS) + ")");
    // A C caller can store any int in an enum field: check the raw value before the core
    // ever reads the field as its enum type (an out-of-range enum load is undefined).
    const int lb = enum_value(events_.load_balance);
    if (lb != EVIO_LB_RANDOM && lb != EVIO_LB_ROUND_ROBIN && lb != EVIO_LB_LEAST_CONNECTIONS)
        return fail(EVIO_EINVAL, "unknown load_balance value " + std::to_string(lb));
    const int engine = enum_value(events_.engine);
    if (engine != EVIO_ENGINE_DEFAULT && engine != EVIO_ENGINE_NATIVE && engine != EVIO_ENGINE_STD)
        return fail(EVIO_EINVAL, "unknown engine value " + std::to_string(engine));
    return 0;
}

int Server::choose_engine(const std::vector<ListenSpec> &specs, bool &use_std) const {
    const ListenSpec *net = nullptr;
    for (const ListenSpec &s : specs)
        if (s.std_engine && net == nullptr)
            net = &s;
    switch (events_.engine) {
    case EVIO_ENGINE_DEFAULT:
        break;
    case EVIO_ENGINE_NATIVE:
        if (net)
            return fail(EVIO_EINVAL, net->original + ": a -net address needs the std engine, but "
                                                     "events.engine is EVIO_ENGINE_NATIVE");
        use_std = false;
        return 0;
    case EVIO_ENGINE_STD:
        use_std = true;
        return 0;
    default:
        break;
    }
    if (net) { // as in evio: one -net address puts the whole server on the std engine
        use_std = true;
        return 0;
    }
    const char *env = std::getenv("EVIO_ENGINE");
    std::string_view e = env ? env : "";
    if (e.empty() || e == "native" || e == "epoll")
        use_std = false;
    else if (e == "std" || e == "libuv")
        use_std = true;
    else
        return fail(EVIO_EINVAL, "EVIO_ENGINE=" + std::string(e) + ": want native or std");
    return 0;
}

int Server::bind_one(const ListenSpec &spec, int index) {
    const int type = spec.transport == Transport::Udp ? SOCK_DGRAM : SOCK_STREAM;
    int family = spec.addr.ss_family;
    sockaddr_storage addr = spec.addr;
    socklen_t addr_len = spec.addr_len;
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && spec.dual_stack && errno == EAFNOSUPPORT) {
        // No IPv6 on this machine: "tcp://:port" falls back to IPv4 only.
        in_port_t port = reinterpret_cast<const sockaddr_in6 *>(&spec.addr)->sin6_port;
        std::memset(&addr, 0, sizeof addr);
        auto *sin = reinterpret_cast<sockaddr_in *>(&addr);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = port;
        addr_len = sizeof(sockaddr_in);
        family = AF_INET;
        fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return fail_errno(from_errno(errno), spec.original + ": socket");
    FdGuard guard{fd};
    int one = 1, zero = 0;
    if (spec.transport == Transport::Unix) {
        if (int rc = clear_unix_path(spec))
            return rc;
    } else {
        if (spec.transport == Transport::Tcp)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, spec.dual_stack ? &zero : &one, sizeof one);
    }
    if (spec.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return fail_errno(from_errno(errno), spec.original + ": SO_REUSEPORT");
    if (::bind(fd, reinterpret_cast<const sockaddr *>(&addr), addr_len) != 0)
        return fail_errno(from_errno(errno), spec.original);
    if (type == SOCK_STREAM && ::listen(fd, SOMAXCONN) != 0)
        return fail_errno(from_errno(errno), spec.original + ": listen");

    Bound b{};
    b.len = sizeof b.addr;
    if (getsockname(fd, reinterpret_cast<sockaddr *>(&b.addr), &b.len) != 0) {
        b.addr = addr;
        b.len = addr_len;
    }
    if (spec.transport == Transport::Unix) { // report the path we were given
        b.addr = spec.addr;
        b.len = spec.addr_len;
    }
    b.scheme = spec.scheme + (spec.std_engine ? "-net" : "");
    bound_.push_back(b);
    if (spec.transport == Transport::Udp) {
        auto u = std::make_unique<UdpSocket>();
        u->fd = guard.release();
        u->index = index;
        u->spec = spec;
        u->bound = b.addr;
        u->bound_len = b.len;
        u->conn.local.set(reinterpret_cast<const sockaddr *>(&b.addr), b.len);
        udps_.push_back(std::move(u));
    } else {
        auto l = std::make_unique<Listener>();
        if (spec.transport == Transport::Unix) {
            // Remember where the file is even if the process changes directory later.
            l->unix_path = spec.path;
            char cwd[4096];
            if (spec.path.front() != '/' && getcwd(cwd, sizeof cwd) != nullptr)
                l->unix_path = std::string(cwd) + "/" + spec.path;
            struct stat st;
            if (lstat(l->unix_path.c_str(), &st) == 0) { // the file bind() just made
                l->unix_dev = st.st_dev;
                l->unix_ino = st.st_ino;
            } else {
                l->unix_path.clear(); // not ours to remove later
            }
        }
        l->fd = guard.release();
        l->index = index;
        l->spec = spec;
        l->bound = b.addr;
        l->bound_len = b.len;
        listeners_.push_back(std::move(l));
    }
    return 0;
}

int Server::bind_all(const std::vector<ListenSpec> &specs) {
    for (size_t i = 0; i < specs.size(); i++)
        if (int rc = bind_one(specs[i], static_cast<int>(i)))
            return rc;
    return 0;
}

void Server::close_listeners() noexcept {
    for (auto &l : listeners_) {
        if (l->fd >= 0)
            ::close(l->fd);
        l->fd = -1;
        remove_own_unix_path(*l);
    }
    listeners_.clear();
    for (auto &u : udps_) {
        if (u->fd >= 0)
            ::close(u->fd);
        u->fd = -1;
    }
    udps_.clear();
}

void Server::shutdown() noexcept {
    if (stopping_.exchange(true, std::memory_order_acq_rel))
        return;
    for (auto &l : loops_)
        l->mailbox().signal();
}

Loop &Server::pick_loop() {
    const size_t n = loops_.size();
    if (n == 1)
        return *loops_[0];
    switch (events_.load_balance) {
    case EVIO_LB_ROUND_ROBIN:
        return *loops_[rr_next_++ % n];
    case EVIO_LB_LEAST_CONNECTIONS: {
        size_t best = 0;
        int least = INT_MAX;
        for (size_t i = 0; i < n; i++) {
            int load = loops_[i]->load().load(std::memory_order_relaxed);
            if (load < least) {
                least = load;
                best = i;
            }
        }
        return *loops_[best];
    }
    default: {
        // xorshift64*: cheap, good enough to spread connections.
        uint64_t x = rand_state_;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        rand_state_ = x;
        return *loops_[(x * 0x2545F4914F6CDD1DULL >> 33) % n];
    }
    }
}

const sockaddr *Server::addr(int i, socklen_t *len) const {
    if (i < 0 || i >= num_addrs())
        return nullptr;
    if (len)
        *len = bound_[i].len;
    return reinterpret_cast<const sockaddr *>(&bound_[i].addr);
}

int Server::addr_string(int i, char *buf, size_t buflen) const {
    if (i < 0 || i >= num_addrs() || (buf == nullptr && buflen > 0))
        return fail(EVIO_EINVAL, "address index " + std::to_string(i) + " out of range");
    const Bound &b = bound_[i];
    char text[256];
    int n = format_address(reinterpret_cast<const sockaddr *>(&b.addr), b.len, text, sizeof text);
    if (n < 0)
        return fail(n, "cannot format address");
    int total = std::snprintf(buf, buflen, "%s://%s", b.scheme.c_str(), text);
    return total < 0 ? EVIO_EINVAL : total;
}

int Server::serve(const evio_events *events, const char *const *addrs, size_t naddrs) {
    if (int rc = load_events(events))
        return rc;
    if (addrs == nullptr || naddrs == 0)
        return fail(EVIO_EINVAL, "no address given");
    if (naddrs > INT_MAX)
        return fail(EVIO_EINVAL, "too many addresses");
    std::vector<ListenSpec> specs(naddrs);
    for (size_t i = 0; i < naddrs; i++) {
        if (addrs[i] == nullptr)
            return fail(EVIO_EINVAL, "address " + std::to_string(i) + " is NULL");
        if (int rc = parse_address(addrs[i], specs[i]))
            return rc;
    }
    bool use_std = false;
    if (int rc = choose_engine(specs, use_std))
        return rc;
    rand_state_ = static_cast<uint64_t>(now_ns()) | 1;
    if (int rc = bind_all(specs))
        return rc;

    const int nloops = resolve_loops(events_.num_loops);
    for (int i = 0; i < nloops; i++) {
        int err = 0;
        auto poller = use_std ? make_std_poller(err) : make_native_poller(err);
        if (!poller)
            return err;
        engine_name_ = poller->name();
        loops_.push_back(std::make_unique<Loop>(*this, i, std::move(poller)));
    }
    for (auto &l : listeners_)
        if (int rc = loops_[0]->watch_listener(l.get()))
            return fail_errno(rc, l->spec.original + ": watching listener");
    for (size_t i = 0; i < udps_.size(); i++)
        if (int rc = loops_[i % loops_.size()]->watch_udp(udps_[i].get()))
            return fail_errno(rc, udps_[i]->spec.original + ": watching socket");

    // Start the other loops' threads now, so nothing can fail after `serving`; they wait
    // at the gate until `serving` has returned.
    std::mutex gate_mu;
    std::condition_variable gate_cv;
    bool gate_open = false;
    std::vector<std::thread> threads;
    auto open_gate = [&] {
        {
            std::lock_guard lock(gate_mu);
            gate_open = true;
        }
        gate_cv.notify_all();
    };
    try {
        for (int i = 1; i < nloops; i++) {
            threads.emplace_back([&, i] {
                {
                    std::unique_lock lock(gate_mu);
                    gate_cv.wait(lock, [&] { return gate_open; });
                }
                loops_[i]->run();
            });
        }
    } catch (...) {
        stopping_.store(true);
        open_gate();
        for (auto &t : threads)
            t.join();
        return fail(EVIO_ENOMEM, "cannot start loop threads");
    }

    if (events_.serving &&
        events_.serving(reinterpret_cast<evio_server *>(this), events_.udata) == EVIO_SHUTDOWN)
        stopping_.store(true);
    open_gate();
    if (!stopping())
        loops_[0]->run();
    shutdown();
    for (auto &t : threads)
        t.join();
    loops_.clear();
    close_listeners();
    return 0;
}

} // namespace evio
