#include "core/resolver.hpp"

#include <netdb.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <evio.h>

#include "core/mailbox.hpp"

namespace evio {

int resolve_dial_host(const ListenSpec &spec, std::vector<SockAddr> &out, std::string &why) {
    addrinfo hints{};
    hints.ai_family = spec.family;
    hints.ai_socktype = spec.transport == Transport::Udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo *res = nullptr;
    int rc = getaddrinfo(spec.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
        if (res)
            freeaddrinfo(res);
        why = spec.original + ": unknown host \"" + spec.host + "\" (" + gai_strerror(rc) + ")";
        return rc == EAI_MEMORY ? EVIO_ENOMEM : EVIO_ENOENT;
    }
    for (const addrinfo *ai = res; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(sockaddr_storage))
            continue;
        SockAddr a{};
        std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
        a.len = static_cast<socklen_t>(ai->ai_addrlen);
        set_port(a.addr, spec.port);
        out.push_back(a);
    }
    freeaddrinfo(res);
    if (out.empty()) {
        why = spec.original + ": host \"" + spec.host + "\" has no IPv4 or IPv6 address";
        return EVIO_ENOENT;
    }
    return 0;
}

namespace {

/// The queue the resolver threads share. Never destroyed: a thread still inside
/// getaddrinfo() when the process exits must not find it freed.
struct ResolverQueue {
    std::mutex mu;
    std::deque<ResolveJob> jobs;
    int threads = 0; ///< running now
};

ResolverQueue &queue() {
    static ResolverQueue *q = new ResolverQueue;
    return *q;
}

void answer(const ResolveJob &job) {
    std::vector<SockAddr> addrs;
    std::string why;
    Work w{Work::Kind::Resolved, nullptr, 0, 0, nullptr, nullptr, nullptr};
    w.dial_id = job.dial_id;
    w.status = resolve_dial_host(job.spec, addrs, why);
    // A loop that stopped meanwhile has failed the dial already: the answer is dropped.
    if (w.status == 0)
        job.reply_to->post_work_with_bytes(w, addrs.data(), addrs.size() * sizeof(SockAddr));
    else
        job.reply_to->post_work_with_bytes(w, why.data(), why.size());
}

void work() {
    ResolverQueue &q = queue();
    for (;;) {
        ResolveJob job;
        {
            std::lock_guard lock(q.mu);
            if (q.jobs.empty()) {
                q.threads--;
                return;
            }
            job = std::move(q.jobs.front());
            q.jobs.pop_front();
        }
        try {
            answer(job);
        } catch (...) {
            // Out of memory for the answer: the dial's timeout reports it.
        }
    }
}

} // namespace

void resolve_async(ResolveJob job) {
    ResolverQueue &q = queue();
    std::lock_guard lock(q.mu);
    q.jobs.push_back(std::move(job));
    if (q.threads >= kResolverThreads)
        return;
    try {
        std::thread(work).detach();
    } catch (...) {
        q.jobs.pop_back();
        throw;
    }
    q.threads++;
}

} // namespace evio
