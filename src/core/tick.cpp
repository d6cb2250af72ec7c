// The tick callback: right after `serving` on the first loop, then after each delay it asks.
#include <climits>

#include "core/loop.hpp"
#include "core/server.hpp"

namespace evio {

void Loop::start_ticking() {
    if (index_ == 0 && callbacks_.tick) {
        ticking_ = true;
        next_tick_ns_ = now_ns();
    }
}

void Loop::run_tick(int64_t now) {
    int64_t delay = 1'000'000'000;
    evio_action action = checked_action(callbacks_.tick(&delay, callbacks_.udata));
    if (delay < 0)
        delay = 0;
    // A huge delay means "not for a long while": saturate instead of overflowing.
    next_tick_ns_ = delay > INT64_MAX - now ? INT64_MAX : now + delay;
    if (action == EVIO_SHUTDOWN)
        server_.shutdown();
}

} // namespace evio
