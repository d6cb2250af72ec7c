#include "os/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include <cerrno>
#include <cstring>

namespace evio::os {

namespace {

#if defined(MSG_NOSIGNAL)
constexpr int kNoSignal = MSG_NOSIGNAL;
#else
constexpr int kNoSignal = 0; // SO_NOSIGPIPE is set on every socket instead (BSD, macOS)
#endif

int neg_errno() noexcept {
    return -errno;
}

// The calls a loop makes for every request go to the kernel without glibc's wrappers:
// those make read/send/sendmsg cancellation points, which in a process with threads costs
// about 60 instructions a call (switching asynchronous cancellation on and off). A loop
// thread is never cancelled: evio has no cleanup that could run, the loop must return.
// Sanitizer builds keep the wrappers, which the sanitizers watch.
#if defined(__linux__) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
constexpr bool kDirectSyscalls = true;
#else
constexpr bool kDirectSyscalls = false;
#endif

ssize_t read_fd(int fd, void *buf, size_t len) noexcept {
#if defined(__linux__)
    if constexpr (kDirectSyscalls)
        return ::syscall(SYS_read, fd, buf, len);
#endif
    return ::read(fd, buf, len);
}

ssize_t send_msg(int fd, const msghdr *msg, int flags) noexcept {
#if defined(__linux__)
    if constexpr (kDirectSyscalls)
        return ::syscall(SYS_sendmsg, fd, msg, flags);
#endif
    return ::sendmsg(fd, msg, flags);
}

ssize_t send_bytes(int fd, const void *buf, size_t len, int flags) noexcept {
#if defined(__linux__)
    if constexpr (kDirectSyscalls)
        return ::syscall(SYS_sendto, fd, buf, len, flags, nullptr, 0);
#endif
    return ::send(fd, buf, len, flags);
}

/// O_NONBLOCK, FD_CLOEXEC (and SO_NOSIGPIPE where MSG_NOSIGNAL is missing) by hand, for
/// kernels without SOCK_NONBLOCK/SOCK_CLOEXEC or accept4.
[[maybe_unused]] int make_nonblocking_cloexec(int fd) noexcept {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return neg_errno();
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return 0;
}

/// An fd from a call that could not make it non-blocking and close-on-exec itself: does it
/// now, or closes it. Returns the fd or -errno.
[[maybe_unused]] int finish_fd(int fd) noexcept {
    if (fd < 0)
        return neg_errno();
    if (int rc = make_nonblocking_cloexec(fd)) {
        ::close(fd);
        return rc;
    }
    return fd;
}

int set_int_option(int fd, int level, int name, int value) noexcept {
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : neg_errno();
}

} // namespace

int open_socket(int family, int type) noexcept {
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
    int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? neg_errno() : fd;
#else
    return finish_fd(::socket(family, type, 0));
#endif
}

int accept(int listen_fd, sockaddr_storage *peer, socklen_t *peer_len) noexcept {
    *peer_len = sizeof *peer;
    auto *sa = reinterpret_cast<sockaddr *>(peer);
#if defined(__linux__)
    int fd = ::accept4(listen_fd, sa, peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd < 0 ? neg_errno() : fd;
#else
    return finish_fd(::accept(listen_fd, sa, peer_len));
#endif
}

bool accept_error_is_transient(int neg_errno) noexcept {
    switch (-neg_errno) {
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
#if defined(ENONET)
    case ENONET:
#endif
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return true;
    default:
        return false;
    }
}

int connect(int fd, const sockaddr *addr, socklen_t len) noexcept {
    return ::connect(fd, addr, len) == 0 ? 0 : neg_errno();
}

int pending_error(int fd) noexcept {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return neg_errno();
    return -err;
}

ssize_t recv(int fd, void *buf, size_t len) noexcept {
    ssize_t n = read_fd(fd, buf, len);
    return n < 0 ? neg_errno() : n;
}

ssize_t send(int fd, const void *buf, size_t len) noexcept {
    ssize_t n = send_bytes(fd, buf, len, kNoSignal);
    return n < 0 ? neg_errno() : n;
}

ssize_t send_vector(int fd, const iovec *iov, int iovcnt) noexcept {
    if (iovcnt == 1)
        return send(fd, iov[0].iov_base, iov[0].iov_len);
    msghdr msg{};
    msg.msg_iov = const_cast<iovec *>(iov);
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(iovcnt);
    ssize_t n = send_msg(fd, &msg, kNoSignal);
    return n < 0 ? neg_errno() : n;
}

ssize_t recv_from(int fd, void *buf, size_t len, sockaddr_storage *from,
                  socklen_t *from_len) noexcept {
    *from_len = sizeof *from;
    ssize_t n = ::recvfrom(fd, buf, len, 0, reinterpret_cast<sockaddr *>(from), from_len);
    return n < 0 ? neg_errno() : n;
}

ssize_t send_to(int fd, const iovec *iov, int iovcnt, const sockaddr *to,
                socklen_t to_len) noexcept {
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr *>(to);
    msg.msg_namelen = to_len;
    msg.msg_iov = const_cast<iovec *>(iov);
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(iovcnt);
    ssize_t n = send_msg(fd, &msg, kNoSignal);
    return n < 0 ? neg_errno() : n;
}

void discard_input(int fd, size_t max_bytes) noexcept {
    char buf[16 * 1024];
    for (size_t total = 0; total < max_bytes;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        total += static_cast<size_t>(n);
        if (static_cast<size_t>(n) < sizeof buf)
            return; // drained (what arrives later gets the reset it asked for)
    }
}

void close(int fd) noexcept {
    if (fd >= 0)
        ::close(fd);
}

int shutdown_write(int fd) noexcept {
    return ::shutdown(fd, SHUT_WR) == 0 ? 0 : neg_errno();
}

int set_nodelay(int fd, bool on) noexcept {
    return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}

int set_keepalive(int fd, int seconds) noexcept {
    if (int rc = set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, seconds > 0 ? 1 : 0))
        return rc;
    if (seconds == 0)
        return 0;
#if defined(TCP_KEEPIDLE)
    if (int rc = set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, seconds))
        return rc;
#elif defined(TCP_KEEPALIVE) // macOS names the idle time so
    if (int rc = set_int_option(fd, IPPROTO_TCP, TCP_KEEPALIVE, seconds))
        return rc;
#endif
#if defined(TCP_KEEPINTVL)
    if (int rc = set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, seconds))
        return rc;
#endif
    return 0;
}

int set_blocking(int fd) noexcept {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return neg_errno();
    return 0;
}

int local_address(int fd, sockaddr_storage *addr, socklen_t *len) noexcept {
    *len = sizeof *addr;
    return getsockname(fd, reinterpret_cast<sockaddr *>(addr), len) == 0 ? 0 : neg_errno();
}

int bind_listen(int fd, const sockaddr *addr, socklen_t len, bool stream, const ListenOptions &opts,
                const char **step) noexcept {
    if (opts.reuse_addr)
        set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1); // best effort, as every server does
    if (opts.v6only >= 0)
        set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, opts.v6only);
    *step = "SO_REUSEPORT";
    if (opts.reuse_port)
        if (int rc = set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, 1))
            return rc;
    *step = "bind";
    if (::bind(fd, addr, len) != 0)
        return neg_errno();
    *step = "listen";
    if (stream && ::listen(fd, SOMAXCONN) != 0)
        return neg_errno();
    return 0;
}

int unix_path_is_live(const std::string &path) noexcept {
    sockaddr_un un{};
    if (path.size() >= sizeof un.sun_path)
        return -ENAMETOOLONG;
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, path.data(), path.size());
    int fd = open_socket(AF_UNIX, SOCK_STREAM);
    if (fd < 0)
        return fd;
    int rc = os::connect(fd, reinterpret_cast<const sockaddr *>(&un), sizeof un);
    ::close(fd);
    switch (rc) {
    case 0:
    case -EAGAIN:      // a listener whose backlog is full is still a listener
    case -EINPROGRESS: // (not for unix sockets on Linux, but harmless)
        return 1;
    case -ECONNREFUSED: // a socket file nobody listens on: left by a server that died
        return 0;
    default:
        return rc;
    }
}

} // namespace evio::os
