// Error codes, messages and the thread-local "last error" of the C API.
#pragma once

#include <string>

namespace evio {

// The errno values we report. One list generates evio_strerror() and the errno mapping,
// so a code can never be listed in one and missing from the other.
#define EVIO_ERRNO_MAP(XX)                                                                         \
    XX(EPERM, EVIO_EPERM, "operation not permitted on this thread")                                \
    XX(ENOENT, EVIO_ENOENT, "no such file or host")                                                \
    XX(EIO, EVIO_EIO, "input/output error")                                                        \
    XX(EBADF, EVIO_EBADF, "bad file descriptor")                                                   \
    XX(ENOMEM, EVIO_ENOMEM, "out of memory")                                                       \
    XX(EACCES, EVIO_EACCES, "permission denied")                                                   \
    XX(EBUSY, EVIO_EBUSY, "resource busy")                                                         \
    XX(EINVAL, EVIO_EINVAL, "invalid argument")                                                    \
    XX(ENFILE, EVIO_ENFILE, "too many open files in the system")                                   \
    XX(EMFILE, EVIO_EMFILE, "too many open files")                                                 \
    XX(EPIPE, EVIO_EPIPE, "broken pipe")                                                           \
    XX(ENAMETOOLONG, EVIO_ENAMETOOLONG, "name too long")                                           \
    XX(ENOSYS, EVIO_ENOSYS, "function not implemented")                                            \
    XX(ENOTSUP, EVIO_ENOTSUP, "operation not supported")                                           \
    XX(EAFNOSUPPORT, EVIO_EAFNOSUPPORT, "address family not supported")                            \
    XX(EADDRINUSE, EVIO_EADDRINUSE, "address already in use")                                      \
    XX(EADDRNOTAVAIL, EVIO_EADDRNOTAVAIL, "address not available")                                 \
    XX(ENETUNREACH, EVIO_ENETUNREACH, "network is unreachable")                                    \
    XX(ECONNABORTED, EVIO_ECONNABORTED, "connection aborted")                                      \
    XX(ECONNRESET, EVIO_ECONNRESET, "connection reset by peer")                                    \
    XX(ENOTCONN, EVIO_ENOTCONN, "connection is closed")                                            \
    XX(ETIMEDOUT, EVIO_ETIMEDOUT, "timed out")                                                     \
    XX(ECONNREFUSED, EVIO_ECONNREFUSED, "connection refused")                                      \
    XX(EHOSTUNREACH, EVIO_EHOSTUNREACH, "host is unreachable")

/// Maps a system errno value to an EVIO_E… code (negative).
int from_errno(int err) noexcept;

/// Short static text for a code.
const char *strerror_text(int code) noexcept;

/// Records `msg` as this thread's last error and returns `code` (for `return fail(…)`).
int fail(int code, std::string msg) noexcept;

/// Records a message made of `what` + ": " + the code's text.
int fail_errno(int code, const std::string &what) noexcept;

/// This thread's last error message.
const char *last_error() noexcept;

} // namespace evio
