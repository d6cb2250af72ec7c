// Host names of dials, resolved off the loops. getaddrinfo() blocks (for as long as the
// DNS servers take), so it runs on resolver threads and each answer is posted back to the
// dialing loop's mailbox; a loop thread never waits for a name.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/address.hpp"

namespace evio {

class Mailbox;

/// One name to resolve, and where its answer goes: a Work::Kind::Resolved item for the
/// loop's dial `dial_id` (the addresses, or the failure with its message).
struct ResolveJob {
    ListenSpec spec;
    std::shared_ptr<Mailbox> reply_to;
    uint64_t dial_id = 0;
};

/// Queues a job for the resolver threads (at most kResolverThreads run at once; they start
/// when there is work and end when there is none). Any thread. Throws std::bad_alloc or
/// std::system_error when it cannot queue or start a thread.
void resolve_async(ResolveJob job);

inline constexpr int kResolverThreads = 4;

/// Resolves the host name of a dial (`spec.host`, `spec.port`) into its addresses, in
/// the resolver's order. Blocks (getaddrinfo): the resolver threads only. 0 or a negative
/// EVIO_E… code (ENOENT: unknown host), with `why` set to a message.
int resolve_dial_host(const ListenSpec &spec, std::vector<SockAddr> &out, std::string &why);

} // namespace evio
