#include "core/error.hpp"

#include <cerrno>

#include <evio.h>

namespace evio {

// The codes are ABI: each is the Linux errno of its name, negated. Checked here for every
// row, where the system's errno values are the Linux ones.
#if defined(__linux__)
#define XX(name, value, text)                                                                      \
    static_assert(EVIO_##name == -name,                                                            \
                  "EVIO_" #name " must be -" #name " (the Linux errno, negated)");
EVIO_ERRNO_MAP(XX)
#undef XX
#endif

namespace {
thread_local std::string t_last_error;
}

int from_errno(int err) noexcept {
    switch (err) {
#define XX(name, value, text)                                                                      \
    case name:                                                                                     \
        return EVIO_##name;
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
#define XX(name, value, text)                                                                      \
    case EVIO_##name:                                                                              \
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

int fail(int code, const char *msg) noexcept {
    try {
        t_last_error = msg;
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
