#include "core/mailbox.hpp"

#include "engine/engine.hpp"

namespace evio {

template <class Push> bool Mailbox::post(Push &&push) {
    std::lock_guard lock(mu_);
    if (closed_)
        return false;
    // Interrupt only when the mailbox was empty: the loop takes everything at once.
    bool was_empty = items_.empty();
    push();
    if (was_empty)
        engine_->interrupt();
    return true;
}

bool Mailbox::post_user_wake(Conn *c) {
    return post([&] { items_.user_wakes.push_back(c); });
}

bool Mailbox::post_handoff(const Handoff &h) {
    return post([&] { items_.handoffs.push_back(h); });
}

bool Mailbox::post_send(Conn *c, const void *buf, size_t len) {
    return post_work_with_bytes({Work::Kind::Send, c, 0, 0, nullptr, nullptr, nullptr}, buf, len);
}

bool Mailbox::post_work_with_bytes(Work w, const void *buf, size_t len) {
    return post([&] {
        const size_t at = items_.bytes.size();
        const char *p = static_cast<const char *>(buf);
        items_.bytes.insert(items_.bytes.end(), p, p + len);
        w.offset = at;
        w.len = len;
        try {
            items_.work.push_back(w);
        } catch (...) {
            items_.bytes.resize(at);
            throw;
        }
    });
}

bool Mailbox::post_work(const Work &w) {
    return post([&] { items_.work.push_back(w); });
}

void Mailbox::take(MailboxItems &into) {
    std::lock_guard lock(mu_);
    std::swap(into, items_);
}

void Mailbox::close(MailboxItems &into) {
    std::lock_guard lock(mu_);
    closed_ = true;
    engine_ = nullptr;
    std::swap(into, items_);
}

} // namespace evio
