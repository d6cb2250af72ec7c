// evio's InputStream: keep the unconsumed tail of the input for the next `data` call.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <evio.h>

#include "core/error.hpp"
#include "core/input_stream.hpp"

namespace evio {

namespace {

int reserve(evio_input_stream *is, size_t need) {
    if (need <= is->cap)
        return 0;
    size_t cap = is->cap ? is->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return fail(EVIO_ENOMEM, "input stream too large");
        cap *= 2;
    }
    auto *p = static_cast<unsigned char *>(std::realloc(is->buf, cap));
    if (p == nullptr)
        return fail(EVIO_ENOMEM, "input stream: out of memory");
    is->buf = p;
    is->cap = cap;
    return 0;
}

} // namespace

int input_stream_begin(evio_input_stream *is, const void *in, size_t len, const void **data,
                       size_t *data_len) {
    if (is == nullptr || data == nullptr || data_len == nullptr || (in == nullptr && len > 0))
        return fail(EVIO_EINVAL, "evio_input_stream_begin: NULL argument");
    if (is->len == 0) {
        *data = in;
        *data_len = len;
        return 0;
    }
    if (len > SIZE_MAX - is->len)
        return fail(EVIO_ENOMEM, "input stream too large");
    if (int rc = reserve(is, is->len + len))
        return rc;
    if (len > 0)
        std::memcpy(is->buf + is->len, in, len);
    is->len += len;
    *data = is->buf;
    *data_len = is->len;
    return 0;
}

int input_stream_end(evio_input_stream *is, const void *rest, size_t rest_len) {
    if (is == nullptr || (rest == nullptr && rest_len > 0))
        return fail(EVIO_EINVAL, "evio_input_stream_end: NULL argument");
    if (rest_len == 0) {
        is->len = 0;
        return 0;
    }
    const auto *r = static_cast<const unsigned char *>(rest);
    const auto at = reinterpret_cast<uintptr_t>(r), base = reinterpret_cast<uintptr_t>(is->buf);
    if (rest_len > UINTPTR_MAX - at)
        return fail(EVIO_EINVAL, "evio_input_stream_end: rest_len runs past the end of memory");
    const uintptr_t end = at + rest_len;
    if (is->buf != nullptr && at >= base && at < base + is->cap) {
        // The tail lies in our own buffer, so it must lie inside the bytes begin() gave.
        if (end > base + is->len)
            return fail(EVIO_EINVAL, "evio_input_stream_end: rest runs past the end of the data "
                                     "from evio_input_stream_begin");
        std::memmove(is->buf, r, rest_len); // slide it to the front
        is->len = rest_len;
        return 0;
    }
    if (is->buf != nullptr && at < base && end > base)
        return fail(EVIO_EINVAL, "evio_input_stream_end: rest overlaps the stream's own buffer "
                                 "without starting in it");
    if (int rc = reserve(is, rest_len))
        return rc;
    std::memcpy(is->buf, r, rest_len);
    is->len = rest_len;
    return 0;
}

void input_stream_free(evio_input_stream *is) {
    if (is == nullptr)
        return;
    std::free(is->buf);
    is->buf = nullptr;
    is->len = 0;
    is->cap = 0;
}

} // namespace evio
