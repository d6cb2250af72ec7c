// The sockets a server binds, one per address given to evio_serve(): a listener (TCP or
// unix stream) or a UDP socket. One base holds what every kind has.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "core/address.hpp"
#include "core/conn.hpp"
#include "engine/engine.hpp"

namespace evio {

struct BoundSocket {
    virtual ~BoundSocket() = default;
    IoHandle io;             ///< the socket (io.fd) as the engine sees it
    int index = 0;           ///< position in evio_serve()'s addrs
    ListenSpec spec;         ///< what was asked
    sockaddr_storage addr{}; ///< what was bound (the real port when 0 was asked)
    socklen_t addr_len = 0;
    std::string scheme; ///< as given, with "-net" if given
};

/// A listening stream socket, watched by the accepting loop.
struct Listener : BoundSocket {
    std::string unix_path; ///< absolute path of a unix socket, removed at shutdown
    dev_t unix_dev = 0;    ///< identity of the file bind() made: only that one is removed
    ino_t unix_ino = 0;
    bool paused = false; ///< accepting stopped after EMFILE & co, until resume_at_ns
    int64_t resume_at_ns = 0;
};

/// A UDP socket, with the pseudo-connection handed to `data` for each datagram.
struct UdpSocket : BoundSocket {
    Conn conn{Transport::Udp}; ///< reused for every datagram; never reference counted
};

} // namespace evio
