// Every socket system call evio makes, in one place (Redis keeps its own in anet.c). The
// Linux-only calls (accept4, SOCK_NONBLOCK/SOCK_CLOEXEC, MSG_NOSIGNAL, TCP_KEEPIDLE) are
// fenced here behind portable fallbacks, so a port to another kernel touches this file.
//
// Every function returns a count or 0 on success and a negative errno on failure (the
// io_uring convention, which the engines share); callers turn it into an EVIO_E… code
// with from_errno(-rc) when they report it.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <string>

namespace evio::os {

/// A new non-blocking, close-on-exec socket.
int open_socket(int family, int type) noexcept;
/// Accepts one connection as a non-blocking, close-on-exec socket; fills `peer`.
int accept(int listen_fd, sockaddr_storage *peer, socklen_t *peer_len) noexcept;
/// Whether an accept error concerns only the new connection (accept(2): "treat them like
/// EAGAIN by retrying"), not the listener.
bool accept_error_is_transient(int neg_errno) noexcept;
/// Starts a non-blocking connect: 0 (connected), -EINPROGRESS, or another -errno.
int connect(int fd, const sockaddr *addr, socklen_t len) noexcept;
/// The pending error of a socket (SO_ERROR), as -errno; 0 when none.
int pending_error(int fd) noexcept;

/// One read. `n` > 0 bytes, 0 at end of stream, or -errno (-EAGAIN: nothing now).
ssize_t recv(int fd, void *buf, size_t len) noexcept;
/// One write that never raises SIGPIPE.
ssize_t send(int fd, const void *buf, size_t len) noexcept;
/// One gathering write (sendmsg) that never raises SIGPIPE.
ssize_t send_vector(int fd, const iovec *iov, int iovcnt) noexcept;
/// One datagram read; fills the sender's address.
ssize_t recv_from(int fd, void *buf, size_t len, sockaddr_storage *from,
                  socklen_t *from_len) noexcept;
/// One datagram, gathered from `iov`, to `to`.
ssize_t send_to(int fd, const iovec *iov, int iovcnt, const sockaddr *to,
                socklen_t to_len) noexcept;

/// Reads and drops what the peer sent and nobody will read, at most `max_bytes`, so an
/// orderly close is not turned into a reset (see Loop::close_conn).
void discard_input(int fd, size_t max_bytes) noexcept;
void close(int fd) noexcept;
/// Shuts down the sending side (the peer reads the end of the stream).
int shutdown_write(int fd) noexcept;

int set_nodelay(int fd, bool on) noexcept;
/// Keepalive probes after `seconds` idle, also the interval between them; 0 turns it off.
int set_keepalive(int fd, int seconds) noexcept;
int set_blocking(int fd) noexcept;
int local_address(int fd, sockaddr_storage *addr, socklen_t *len) noexcept;

/// What a listening socket needs before bind(): address reuse, the v6-only switch.
struct ListenOptions {
    bool reuse_addr = false;
    bool reuse_port = false;
    int v6only = -1; ///< -1: leave as it is; 0/1: set IPV6_V6ONLY
};
/// Sets the options, binds, and (for a stream socket) listens. 0 or -errno; `step` names
/// the call that failed ("SO_REUSEPORT", "bind", "listen").
int bind_listen(int fd, const sockaddr *addr, socklen_t len, bool stream, const ListenOptions &opts,
                const char **step) noexcept;

/// Whether a server is accepting on the unix socket file `path`: 1 live, 0 stale (the
/// connect is refused: nobody listens), or -errno.
int unix_path_is_live(const std::string &path) noexcept;

} // namespace evio::os
