// An outbound connection before it is one: the address to reach (resolved or not), the
// addresses left to try, the socket connecting now, the deadline. A loop owns its dials;
// a dial that connects becomes an ordinary connection (Conn), one that fails is reported
// to `dial_failed` — exactly once either way.
#pragma once

#include <cstdint>
#include <vector>

#include "core/address.hpp"
#include "engine/engine.hpp"

namespace evio {

struct Dial {
    uint64_t id = 0; ///< unique on its loop (the resolver's answer names it)
    ListenSpec spec; ///< what was asked
    void *ctx = nullptr;
    int64_t timer = 0;            ///< the connect timeout in the loop's heap; 0: none
    std::vector<SockAddr> to_try; ///< the addresses, in order
    size_t next = 0;              ///< the next of them to try
    int last_err = 0;             ///< why the previous address failed
    IoHandle io;                  ///< the socket connecting now (fd -1: none)
};

} // namespace evio
