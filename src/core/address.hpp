// Parsing of evio's address syntax: [scheme://]host:port[?reuseport=true].
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

#include <string>
#include <string_view>
#include <vector>

namespace evio {

/// What a socket carries. UdpConnected is a dialed UDP socket: connected to one peer and
/// owned by a connection as a stream socket is (one datagram per read and per flush).
enum class Transport : uint8_t { Tcp, Udp, Unix, UdpConnected };

/// What an address is parsed for: listening (an empty host is every interface, names are
/// resolved at once) or dialing (an empty host is this machine, names are left for the
/// resolver thread, port 0 is refused).
enum class Purpose { Listen, Dial };

/// One parsed address. `addr` is resolved and ready for bind() or connect(), except for a
/// dial to a host name: then `host` names it and `addr_len` is 0.
struct ListenSpec {
    std::string original; ///< the text the user gave, for messages
    std::string scheme;   ///< "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"
    Transport transport = Transport::Tcp;
    bool std_engine = false; ///< the "-net" suffix was given
    bool reuseport = false;
    bool v6only = false;     ///< tcp6/udp6: refuse IPv4-mapped peers
    bool dual_stack = false; ///< "tcp"/"udp" with an empty host: [::] accepting IPv4 too
    std::string path;        ///< unix socket path
    std::string host;        ///< a dial's host name, still to resolve (else empty)
    int family = 0;          ///< AF_INET/AF_INET6 for tcp4/tcp6…, else AF_UNSPEC
    uint16_t port = 0;       ///< in network byte order (tcp, udp)
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
};

/// Parses and resolves `text`. Returns 0, or a negative EVIO_E… code after recording a
/// message that names the address and the problem.
int parse_address(std::string_view text, ListenSpec &out, Purpose purpose = Purpose::Listen);

/// A socket address of any family.
struct SockAddr {
    sockaddr_storage addr;
    socklen_t len;
};

/// Sets the port (network byte order) of a resolved IPv4 or IPv6 address.
inline void set_port(sockaddr_storage &addr, in_port_t nport) {
    if (addr.ss_family == AF_INET)
        reinterpret_cast<sockaddr_in *>(&addr)->sin_port = nport;
    else
        reinterpret_cast<sockaddr_in6 *>(&addr)->sin6_port = nport;
}

/// Formats an IPv4/IPv6/unix socket address ("1.2.3.4:5", "[::1]:5", "/path").
/// Returns the full length (as snprintf) or EVIO_EINVAL. (address_text.cpp)
int format_address(const sockaddr *sa, socklen_t len, char *buf, size_t buflen) noexcept;

} // namespace evio
