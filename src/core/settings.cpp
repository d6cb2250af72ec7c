#include "core/settings.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "core/error.hpp"

namespace evio {

namespace {

/// The size of the first published evio_events (every field up to `tick`).
constexpr size_t kEventsV1Size = offsetof(evio_events, tick) + sizeof(evio_events::tick);

/// The stored bits of a C enum field, read without loading it as the enum type (a C
/// caller can store any int there, and an out-of-range enum load is undefined).
template <class E> int enum_value(const E &field) {
    static_assert(sizeof(E) == sizeof(int));
    int v;
    std::memcpy(&v, &field, sizeof v);
    return v;
}

int check_size(const evio_events *events) {
    if (events->size < kEventsV1Size)
        return fail(EVIO_EINVAL,
                    "events->size is " + std::to_string(events->size) +
                        ", expected sizeof(evio_events) = " + std::to_string(sizeof(evio_events)) +
                        " (initialise it with EVIO_EVENTS_INIT)");
    if (events->size > sizeof(evio_events)) {
        // Built against a newer header: fields we do not know must be unused (zero).
        const auto *extra = reinterpret_cast<const unsigned char *>(events) + sizeof(evio_events);
        for (size_t i = 0; i < events->size - sizeof(evio_events); i++)
            if (extra[i] != 0)
                return fail(EVIO_ENOTSUP,
                            "events uses fields this version of libevio does not know (built "
                            "against a newer evio.h)");
    }
    return 0;
}

int check_values(const evio_events &ev) {
    if (ev.num_loops < -1 || ev.num_loops > EVIO_MAX_LOOPS)
        return fail(EVIO_EINVAL, "num_loops is " + std::to_string(ev.num_loops) +
                                     " (want -1 for one per CPU, or 0 to " +
                                     std::to_string(EVIO_MAX_LOOPS) + ")");
    if (ev.low_watermark != 0 && ev.high_watermark != 0 && ev.low_watermark > ev.high_watermark)
        return fail(EVIO_EINVAL, "low_watermark is above high_watermark");
    if (ev.idle_timeout_ns < 0)
        return fail(EVIO_EINVAL, "idle_timeout_ns is negative");
    const int lb = enum_value(ev.load_balance);
    if (lb != EVIO_LB_RANDOM && lb != EVIO_LB_ROUND_ROBIN && lb != EVIO_LB_LEAST_CONNECTIONS &&
        lb != EVIO_LB_SOURCE_HASH)
        return fail(EVIO_EINVAL, "unknown load_balance value " + std::to_string(lb));
    const int engine = enum_value(ev.engine);
    if (engine != EVIO_ENGINE_DEFAULT && engine != EVIO_ENGINE_NATIVE && engine != EVIO_ENGINE_STD)
        return fail(EVIO_EINVAL, "unknown engine value " + std::to_string(engine));
    return 0;
}

int engine_from_environment(EngineKind &kind) {
    const char *env = std::getenv("EVIO_ENGINE");
    std::string_view e = env ? env : "";
    if (e.empty() || e == "native" || e == "epoll")
        kind = EngineKind::Native;
    else if (e == "std" || e == "libuv")
        kind = EngineKind::Std;
    else
        return fail(EVIO_EINVAL, "EVIO_ENGINE=" + std::string(e) + ": want native or std");
    return 0;
}

} // namespace

int load_callbacks(const evio_events *events, evio_events &out) {
    if (events == nullptr)
        return fail(EVIO_EINVAL, "events is NULL");
    if (int rc = check_size(events))
        return rc;
    std::memset(&out, 0, sizeof out);
    std::memcpy(&out, events, std::min(events->size, sizeof(evio_events)));
    out.size = sizeof(evio_events);
    return check_values(out);
}

int choose_engine(const evio_events &events, const std::vector<ListenSpec> &specs,
                  EngineKind &kind) {
    const ListenSpec *net = nullptr;
    for (const ListenSpec &s : specs)
        if (s.std_engine && net == nullptr)
            net = &s;
    switch (events.engine) {
    case EVIO_ENGINE_NATIVE:
        if (net)
            return fail(EVIO_EINVAL, net->original + ": a -net address needs the std engine, but "
                                                     "events.engine is EVIO_ENGINE_NATIVE");
        kind = EngineKind::Native;
        return 0;
    case EVIO_ENGINE_STD:
        kind = EngineKind::Std;
        return 0;
    default:
        break;
    }
    if (net) { // as in evio: one -net address puts the whole server on the std engine
        kind = EngineKind::Std;
        return 0;
    }
    return engine_from_environment(kind);
}

int resolve_loops(int n) {
    if (n == -1) {
        unsigned hc = std::thread::hardware_concurrency();
        return hc == 0 ? 1 : hc > EVIO_MAX_LOOPS ? EVIO_MAX_LOOPS : static_cast<int>(hc);
    }
    return n <= 1 ? 1 : n;
}

} // namespace evio
