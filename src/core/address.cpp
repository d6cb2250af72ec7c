// evio's address syntax ([scheme://]host:port[?options], unix paths) parsed into a
// ListenSpec, for listening (resolved now) and for dialing (names left to the resolver).
#include "core/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>

#include <evio.h>

#include "core/error.hpp"

namespace evio {

namespace {

int bad(std::string_view text, const std::string &why, int code = EVIO_EINVAL) {
    return fail(code, std::string(text) + ": " + why);
}

// Parses "true/false/1/0/yes/no" (evio accepts a leading t/y/digit).
bool parse_bool(std::string_view v, bool &out) {
    if (v == "true" || v == "1" || v == "yes" || v == "on" || v == "t" || v == "y") {
        out = true;
        return true;
    }
    if (v == "false" || v == "0" || v == "no" || v == "off" || v == "f" || v == "n") {
        out = false;
        return true;
    }
    return false;
}

int parse_query(std::string_view text, std::string_view query, ListenSpec &out, Purpose purpose) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty())
            continue;
        size_t eq = part.find('=');
        std::string_view key = part.substr(0, eq);
        std::string_view val = eq == std::string_view::npos ? "" : part.substr(eq + 1);
        if (key == "reuseport" && purpose == Purpose::Dial) {
            return bad(text, "reuseport is for listening, not for dialing");
        } else if (key == "reuseport") {
            if (!parse_bool(val, out.reuseport))
                return bad(text, "reuseport wants true or false, not \"" + std::string(val) + "\"");
        } else {
            return bad(text, "unknown option \"" + std::string(key) + "\"");
        }
    }
    return 0;
}

int parse_unix(std::string_view text, std::string_view rest, ListenSpec &out) {
    if (rest.empty())
        return bad(text, "empty unix socket path");
    sockaddr_un un{};
    if (rest.size() >= sizeof(un.sun_path))
        return bad(text,
                   "unix socket path is " + std::to_string(rest.size()) + " bytes, the limit is " +
                       std::to_string(sizeof(un.sun_path) - 1),
                   EVIO_ENAMETOOLONG);
    if (rest.find('\0') != std::string_view::npos)
        return bad(text, "unix socket path contains a NUL byte");
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, rest.data(), rest.size());
    out.path = std::string(rest);
    std::memcpy(&out.addr, &un, sizeof un);
    out.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + rest.size() + 1);
    return 0;
}

/// Splits "host:port" or "[v6host]:port".
int split_host_port(std::string_view text, std::string_view rest, int family,
                    std::string_view &host, std::string_view &port) {
    if (!rest.empty() && rest.front() == '[') {
        size_t close = rest.find(']');
        if (close == std::string_view::npos)
            return bad(text, "missing ']' in address");
        host = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (after.empty() || after.front() != ':')
            return bad(text, "missing port in address");
        port = after.substr(1);
        if (family == AF_INET)
            return bad(text, "an IPv6 address on an IPv4-only network", EVIO_EAFNOSUPPORT);
    } else {
        size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos)
            return bad(text, "missing port in address");
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return bad(text, "too many colons in address (wrap IPv6 hosts in [])");
    }
    if (port.empty())
        return bad(text, "missing port in address");
    return 0;
}

/// The port in network byte order.
int parse_port(std::string_view text, std::string_view port, in_port_t &out) {
    unsigned long pnum = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), pnum);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc() && pnum > 65535 && end == port.data() + port.size()))
        return bad(text, "port " + std::string(port) + " out of range (0-65535)");
    if (ec != std::errc() || end != port.data() + port.size())
        return bad(text, "invalid port \"" + std::string(port) + "\"");
    out = htons(static_cast<uint16_t>(pnum));
    return 0;
}

/// Every interface: 0.0.0.0, or [::] (also taking IPv4 when no family was asked).
void any_address(ListenSpec &out, int family, in_port_t nport) {
    if (family == AF_INET) {
        auto *sin = reinterpret_cast<sockaddr_in *>(&out.addr);
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = nport;
        out.addr_len = sizeof(sockaddr_in);
        return;
    }
    auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&out.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_any;
    sin6->sin6_port = nport;
    out.addr_len = sizeof(sockaddr_in6);
    out.dual_stack = family == AF_UNSPEC;
}

int resolve_host(std::string_view text, const std::string &host, ListenSpec &out, int family,
                 in_port_t nport) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = out.transport == Transport::Udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo *res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        if (res)
            freeaddrinfo(res);
        if (rc == EAI_FAMILY || rc == EAI_ADDRFAMILY)
            return bad(text, "host \"" + host + "\" has no address of this network's family",
                       EVIO_EAFNOSUPPORT);
        return bad(text, "unknown host \"" + host + "\" (" + gai_strerror(rc) + ")", EVIO_ENOENT);
    }
    std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
    out.addr_len = static_cast<socklen_t>(res->ai_addrlen);
    freeaddrinfo(res);
    set_port(out.addr, nport);
    return 0;
}

/// This machine, as a dial's empty host means (Go's net.Dial does the same).
void loopback_address(ListenSpec &out, int family, in_port_t nport) {
    if (family == AF_INET6) {
        auto *sin6 = reinterpret_cast<sockaddr_in6 *>(&out.addr);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        sin6->sin6_port = nport;
        out.addr_len = sizeof(sockaddr_in6);
        return;
    }
    auto *sin = reinterpret_cast<sockaddr_in *>(&out.addr);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = nport;
    out.addr_len = sizeof(sockaddr_in);
}

/// A numeric host as it is (true), or false when it is a name to resolve.
bool numeric_address(const std::string &host, ListenSpec &out, int family, in_port_t nport) {
    sockaddr_in sin{};
    sockaddr_in6 sin6{};
    if (family != AF_INET6 && inet_pton(AF_INET, host.c_str(), &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = nport;
        std::memcpy(&out.addr, &sin, sizeof sin);
        out.addr_len = sizeof sin;
        return true;
    }
    if (family != AF_INET && inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = nport;
        std::memcpy(&out.addr, &sin6, sizeof sin6);
        out.addr_len = sizeof sin6;
        return true;
    }
    return false;
}

/// A dial's host and port: numeric now, a name for the resolver thread.
int parse_dial_inet(std::string_view text, std::string_view rest, ListenSpec &out, int family) {
    std::string_view host, port;
    in_port_t nport = 0;
    if (rest.empty())
        return bad(text, "missing host:port to dial");
    if (int rc = split_host_port(text, rest, family, host, port))
        return rc;
    if (int rc = parse_port(text, port, nport))
        return rc;
    if (nport == 0)
        return bad(text, "port 0 cannot be dialed");
    out.family = family;
    out.port = nport;
    if (host.empty()) {
        loopback_address(out, family, nport);
        return 0;
    }
    out.host = std::string(host);
    if (numeric_address(out.host, out, family, nport)) {
        out.host.clear();
        return 0;
    }
    if (host.find('%') != std::string_view::npos || host.find('\0') != std::string_view::npos)
        return bad(text, "invalid host \"" + out.host + "\"");
    if (family == AF_INET && host.find(':') != std::string_view::npos)
        return bad(text, "an IPv6 address on an IPv4-only network", EVIO_EAFNOSUPPORT);
    return 0; // a name: resolved later, off the loop
}

int parse_inet(std::string_view text, std::string_view rest, ListenSpec &out, int family) {
    if (rest.empty())
        rest = ":0"; // "tcp://": every interface, a free port (as Go's net.Listen takes "")
    std::string_view host, port;
    in_port_t nport = 0;
    if (int rc = split_host_port(text, rest, family, host, port))
        return rc;
    if (int rc = parse_port(text, port, nport))
        return rc;
    if (host.empty()) {
        any_address(out, family, nport);
        return 0;
    }
    return resolve_host(text, std::string(host), out, family, nport);
}

} // namespace

int parse_address(std::string_view text, ListenSpec &out, Purpose purpose) {
    out = ListenSpec{};
    out.original = std::string(text);
    if (text.empty())
        return fail(EVIO_EINVAL, "empty address");
    std::string_view scheme = "tcp";
    std::string_view rest = text;
    if (size_t sep = text.find("://"); sep != std::string_view::npos) {
        scheme = text.substr(0, sep);
        rest = text.substr(sep + 3);
    }
    if (scheme.size() > 4 && scheme.substr(scheme.size() - 4) == "-net") {
        out.std_engine = true;
        scheme.remove_suffix(4);
    }
    if (size_t q = rest.find('?'); q != std::string_view::npos) {
        if (int rc = parse_query(text, rest.substr(q + 1), out, purpose))
            return rc;
        rest = rest.substr(0, q);
    }
    out.scheme = std::string(scheme);
    int family = AF_UNSPEC;
    if (scheme == "tcp" || scheme == "tcp4" || scheme == "tcp6")
        out.transport = Transport::Tcp;
    else if (scheme == "udp" || scheme == "udp4" || scheme == "udp6")
        out.transport = Transport::Udp;
    else if (scheme == "unix")
        out.transport = Transport::Unix;
    else
        return bad(text, "unknown network \"" + std::string(scheme) +
                             "\" (want tcp, tcp4, tcp6, udp, udp4, udp6 or unix)");
    if (scheme.back() == '4')
        family = AF_INET;
    else if (scheme.back() == '6') {
        family = AF_INET6;
        out.v6only = true;
    }
    if (out.transport == Transport::Unix)
        return parse_unix(text, rest, out);
    if (purpose == Purpose::Dial)
        return parse_dial_inet(text, rest, out, family);
    return parse_inet(text, rest, out, family);
}
} // namespace evio
