// Parsing of evio's address syntax: [scheme://]host:port[?reuseport=true].
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace evio {

enum class Transport { Tcp, Udp, Unix };

/// One parsed listen address. `addr` is resolved and ready for bind().
struct ListenSpec {
    std::string original; ///< the text the user gave, for messages
    std::string scheme;   ///< "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "unix"
    Transport transport = Transport::Tcp;
    bool std_engine = false; ///< the "-net" suffix was given
    bool reuseport = false;
    bool v6only = false;     ///< tcp6/udp6: refuse IPv4-mapped peers
    bool dual_stack = false; ///< "tcp"/"udp" with an empty host: [::] accepting IPv4 too
    std::string path;        ///< unix socket path
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
};

/// Parses and resolves `text`. Returns 0, or a negative EVIO_E… code after recording a
/// message that names the address and the problem.
int parse_address(std::string_view text, ListenSpec &out);

/// Formats an IPv4/IPv6/unix socket address ("1.2.3.4:5", "[::1]:5", "/path").
/// Returns the full length (as snprintf) or EVIO_EINVAL.
int format_address(const sockaddr *sa, socklen_t len, char *buf, size_t buflen) noexcept;

} // namespace evio
