// What evio_serve() was asked for: the callback table checked and copied (it is
// size-versioned), and the engine chosen.
#pragma once

#include <vector>

#include <evio.h>

#include "core/address.hpp"
#include "engine/engine.hpp"

namespace evio {

/// Checks the caller's table and copies it into `out` (fields it does not have are
/// zero). 0 or a negative EVIO_E… code with the message recorded.
int load_callbacks(const evio_events *events, evio_events &out);

/// The engine for the whole server: a -net address, else `events.engine`, else
/// $EVIO_ENGINE, else native. 0 or EVIO_EINVAL with the message recorded.
int choose_engine(const evio_events &events, const std::vector<ListenSpec> &specs,
                  EngineKind &kind);

/// The number of loops `num_loops` asks for (already checked by load_callbacks).
int resolve_loops(int num_loops);

} // namespace evio
