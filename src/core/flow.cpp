// Flow control and half-close, as the user asks for them through the C API.
#include "core/error.hpp"
#include "core/loop.hpp"

namespace evio {

int Loop::set_read_paused(Conn *c, bool paused) {
    c->user_paused = paused;
    update_reading(c);
    return 0;
}

int Loop::set_read_backpressure(Conn *c, bool on) {
    c->output_stops_read = on;
    if (!on)
        c->read_paused = false;
    update_reading(c);
    return 0;
}

int Loop::set_watermarks(Conn *c, size_t low, size_t high) {
    if (high == 0 || low > high)
        return fail(EVIO_EINVAL, "evio_conn_set_watermarks: want 0 < high and low <= high");
    c->low_watermark = low;
    c->high_watermark = high;
    update_reading(c);
    return 0;
}

int Loop::shutdown_write(Conn *c) {
    if (c->shut_write)
        return 0;
    c->shut_write = true;
    mark_dirty(c); // done by the flush after the callback, once the output has left: never
    return 0;      // inside this call (which could then run `closed` under the caller)
}

int Loop::close_when_flushed(Conn *c) {
    c->close_asked = true;
    mark_dirty(c); // applied after the callback, as its EVIO_CLOSE would be
    return 0;
}

} // namespace evio
