// Error codes, messages and the thread-local "last error" of the C API.
#pragma once

#include <string>

namespace evio {

// The codes, their errno and their texts come from one list, EVIO_ERRNO_MAP in <evio.h>
// (error.cpp makes from_errno() and strerror_text() from it).

/// Maps a system errno value to an EVIO_E… code (negative): the errno named by each row of
/// EVIO_ERRNO_MAP (EPERM…) to its code (EVIO_EPERM…), EAGAIN/EWOULDBLOCK to EVIO_EBUSY,
/// anything else to EVIO_EIO.
int from_errno(int err) noexcept;

/// Short static text for a code (the row's text in EVIO_ERRNO_MAP; "success" for 0).
const char *strerror_text(int code) noexcept;

/// Records `msg` as this thread's last error and returns `code` (for `return fail(…)`).
int fail(int code, std::string msg) noexcept;
/// The same for a literal: nothing can throw before the message is recorded.
int fail(int code, const char *msg) noexcept;

/// Records a message made of `what` + ": " + the code's text.
int fail_errno(int code, const std::string &what) noexcept;

/// This thread's last error message.
const char *last_error() noexcept;

} // namespace evio
