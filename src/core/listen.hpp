// Binding the addresses given to evio_serve(): one socket per address, and the unix
// socket files (a stale one replaced, a live one refused, only our own removed).
#pragma once

#include <memory>

#include "core/address.hpp"
#include "core/bound_socket.hpp"

namespace evio {

/// Binds (and for a stream, listens on) `spec`, address number `index`. 0 or a negative
/// EVIO_E… code with a message naming the address.
int bind_address(const ListenSpec &spec, int index, std::unique_ptr<BoundSocket> &out);

/// Closes the socket; a unix listener also removes its socket file if it is still the
/// file this server bound.
void close_bound(BoundSocket &b) noexcept;

} // namespace evio
