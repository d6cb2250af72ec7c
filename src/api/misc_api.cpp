// The C boundary of what needs no handle: the InputStream helper, errors, versions.
#include <memory>

#include <evio.h>

#include "api/checks.hpp"
#include "core/address.hpp"
#include "core/input_stream.hpp"

using evio::Conn;
using evio::fail;
using namespace evio::api;

extern "C" {

EVIO_EXPORT int evio_input_stream_begin(evio_input_stream *is, const void *in, size_t len,
                                        const void **data, size_t *data_len) {
    return evio::input_stream_begin(is, in, len, data, data_len);
}

EVIO_EXPORT int evio_input_stream_end(evio_input_stream *is, const void *rest, size_t rest_len) {
    return evio::input_stream_end(is, rest, rest_len);
}

EVIO_EXPORT void evio_input_stream_free(evio_input_stream *is) {
    evio::input_stream_free(is);
}

EVIO_EXPORT const char *evio_strerror(int code) {
    return evio::strerror_text(code);
}

EVIO_EXPORT const char *evio_last_error(void) {
    return evio::last_error();
}

EVIO_EXPORT int evio_version(void) {
    return EVIO_VERSION;
}

EVIO_EXPORT const char *evio_version_string(void) {
#define EVIO_STR2(x) #x
#define EVIO_STR(x) EVIO_STR2(x)
    return EVIO_STR(EVIO_VERSION_MAJOR) "." EVIO_STR(EVIO_VERSION_MINOR) "." EVIO_STR(
        EVIO_VERSION_PATCH);
}

} // extern "C"
