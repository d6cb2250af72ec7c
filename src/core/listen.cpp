#include "core/listen.hpp"

#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "os/socket.hpp"

namespace evio {

namespace {

/// Closes an fd on scope exit unless released.
struct FdGuard {
    int fd;
    ~FdGuard() { os::close(fd); }
    int release() {
        int f = fd;
        fd = -1;
        return f;
    }
};

/// Removes a stale unix socket file; refuses to remove anything else, and refuses a
/// socket another server is listening on (EVIO_EADDRINUSE).
int clear_unix_path(const ListenSpec &spec) {
    struct stat st;
    if (lstat(spec.path.c_str(), &st) != 0)
        return errno == ENOENT ? 0 : fail_errno(from_errno(errno), spec.original);
    if (!S_ISSOCK(st.st_mode))
        return fail(EVIO_EADDRINUSE,
                    spec.original + ": " + spec.path + " exists and is not a socket");
    int live = os::unix_path_is_live(spec.path);
    if (live == 1)
        return fail(EVIO_EADDRINUSE,
                    spec.original + ": a server is already listening on " + spec.path);
    if (live < 0)
        return fail_errno(from_errno(-live),
                          spec.original + ": checking whether " + spec.path + " is in use");
    if (unlink(spec.path.c_str()) != 0)
        return fail_errno(from_errno(errno), spec.original + ": removing stale socket");
    return 0;
}

/// Remembers where a unix listener's file is (even if the process changes directory
/// later) and which file it is, so that only this one is removed at shutdown.
void remember_unix_file(Listener &l) {
    l.unix_path = l.spec.path;
    char cwd[4096];
    if (l.spec.path.front() != '/' && getcwd(cwd, sizeof cwd) != nullptr)
        l.unix_path = std::string(cwd) + "/" + l.spec.path;
    struct stat st;
    if (lstat(l.unix_path.c_str(), &st) == 0) { // the file bind() just made
        l.unix_dev = st.st_dev;
        l.unix_ino = st.st_ino;
    } else {
        l.unix_path.clear(); // not ours to remove later
    }
}

/// "tcp://:port" on a machine without IPv6: IPv4 only.
void ipv4_fallback(const ListenSpec &spec, sockaddr_storage &addr, socklen_t &len) {
    in_port_t port = reinterpret_cast<const sockaddr_in6 *>(&spec.addr)->sin6_port;
    std::memset(&addr, 0, sizeof addr);
    auto *sin = reinterpret_cast<sockaddr_in *>(&addr);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    sin->sin_port = port;
    len = sizeof(sockaddr_in);
}

int open_bound(const ListenSpec &spec, int type, sockaddr_storage &addr, socklen_t &len) {
    addr = spec.addr;
    len = spec.addr_len;
    int fd = os::open_socket(addr.ss_family, type);
    if (fd == -EAFNOSUPPORT && spec.dual_stack) {
        ipv4_fallback(spec, addr, len);
        fd = os::open_socket(AF_INET, type);
    }
    if (fd < 0)
        return fail_errno(from_errno(-fd), spec.original + ": socket");
    return fd;
}

std::unique_ptr<BoundSocket> make_bound(const ListenSpec &spec) {
    if (spec.transport == Transport::Udp)
        return std::make_unique<UdpSocket>();
    return std::make_unique<Listener>();
}

/// What the server reports as the bound address: for a unix socket the path as given,
/// else the kernel's (with the real port when 0 was asked).
void record_address(BoundSocket &b, int fd, const sockaddr_storage &addr, socklen_t len) {
    if (b.spec.transport == Transport::Unix) {
        b.addr = b.spec.addr;
        b.addr_len = b.spec.addr_len;
    } else if (os::local_address(fd, &b.addr, &b.addr_len) != 0) {
        b.addr = addr;
        b.addr_len = len;
    }
    if (auto *u = dynamic_cast<UdpSocket *>(&b)) {
        u->conn.local = std::make_unique<CompactAddr>();
        u->conn.local->set(reinterpret_cast<const sockaddr *>(&b.addr), b.addr_len);
    }
}

} // namespace

int bind_address(const ListenSpec &spec, int index, std::unique_ptr<BoundSocket> &out) {
    const bool stream = spec.transport != Transport::Udp;
    sockaddr_storage addr;
    socklen_t len;
    int fd = open_bound(spec, stream ? SOCK_STREAM : SOCK_DGRAM, addr, len);
    if (fd < 0)
        return fd;
    FdGuard guard{fd};
    os::ListenOptions opts;
    opts.reuse_port = spec.reuseport;
    if (spec.transport == Transport::Unix) {
        if (int rc = clear_unix_path(spec))
            return rc;
    } else {
        opts.reuse_addr = spec.transport == Transport::Tcp;
        if (addr.ss_family == AF_INET6)
            opts.v6only = spec.dual_stack ? 0 : 1;
    }
    const char *step = "";
    if (int rc = os::bind_listen(fd, reinterpret_cast<const sockaddr *>(&addr), len, stream, opts,
                                 &step)) {
        std::string what = spec.original; // a failed bind is the address's own fault
        if (std::strcmp(step, "bind") != 0)
            what += std::string(": ") + step;
        return fail_errno(from_errno(-rc), what);
    }
    auto b = make_bound(spec);
    b->index = index;
    b->spec = spec;
    b->scheme = spec.scheme + (spec.std_engine ? "-net" : "");
    record_address(*b, fd, addr, len);
    if (spec.transport == Transport::Unix)
        remember_unix_file(static_cast<Listener &>(*b));
    b->io.fd = guard.release();
    out = std::move(b);
    return 0;
}

void close_bound(BoundSocket &b) noexcept {
    os::close(b.io.fd);
    b.io.fd = -1;
    auto *l = dynamic_cast<Listener *>(&b);
    struct stat st;
    if (l == nullptr || l->unix_path.empty() || lstat(l->unix_path.c_str(), &st) != 0 ||
        !S_ISSOCK(st.st_mode))
        return;
    if (st.st_dev == l->unix_dev && st.st_ino == l->unix_ino)
        unlink(l->unix_path.c_str());
    l->unix_path.clear(); // once: a later file may get the same inode number
}

} // namespace evio
