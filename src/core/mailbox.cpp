#include "core/mailbox.hpp"

#include "engine/engine.hpp"

namespace evio {

template <class Push> bool Mailbox::post(Push &&push) {
    std::lock_guard lock(mu_);
    if (closed_)
        return false;
    // Interrupt only when the mailbox was empty: the loop takes everything at once.
    bool was_empty = items_.user_wakes.empty() && items_.handoffs.empty();
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

void Mailbox::interrupt() {
    std::lock_guard lock(mu_);
    if (!closed_)
        engine_->interrupt();
}

void Mailbox::take(MailboxItems &into) {
    std::lock_guard lock(mu_);
    into.user_wakes.swap(items_.user_wakes);
    into.handoffs.swap(items_.handoffs);
}

void Mailbox::close(MailboxItems &into) {
    std::lock_guard lock(mu_);
    closed_ = true;
    engine_ = nullptr;
    into.user_wakes.swap(items_.user_wakes);
    into.handoffs.swap(items_.handoffs);
}

} // namespace evio
