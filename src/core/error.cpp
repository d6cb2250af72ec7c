#include "core/error.hpp"

#include <cerrno>

#include <evio.h>

namespace evio {

namespace {
thread_local std::string t_last_error;
}

int from_errno(int err) noexcept {
    switch (err) {
#define XX(sys, code, text)                                                                        \
    case sys:                                                                                      \
        return code;
        EVIO_ERRNO_MAP(XX)
#undef XX
#if defined(EWOULDBLOCK) && EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EAGAIN:
        return EVIO_EBUSY;
    default:
        return EVIO_EIO;
    }
}

const char *strerror_text(int code) noexcept {
    switch (code) {
    case EVIO_OK:
        return "success";
#define XX(sys, c, text)                                                                           \
    case c:                                                                                        \
        return text;
        EVIO_ERRNO_MAP(XX)
#undef XX
    default:
        return "unknown error";
    }
}

int fail(int code, std::string msg) noexcept {
    try {
        t_last_error = std::move(msg);
    } catch (...) {
        // Out of memory while recording the message: keep the code, lose the text.
    }
    return code;
}

int fail_errno(int code, const std::string &what) noexcept {
    try {
        return fail(code, what + ": " + strerror_text(code));
    } catch (...) {
        return code;
    }
}

const char *last_error() noexcept {
    return t_last_error.c_str();
}

} // namespace evio
