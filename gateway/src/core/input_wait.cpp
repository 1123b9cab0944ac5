#include "core/input_wait.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "core/blocking.hpp"

namespace postern {

InputWait::Clock::time_point InputWait::deadline() const noexcept {
    if (!since_)
        return Clock::time_point::max();
    auto d = *since_ + read_timeout_;
    if (min_body_rate_ > 0 && body_bytes_ > 0) {
        // One second per min_body_rate bytes, in microseconds so that small
        // counts still count; at most ~11 days, well inside the clock's range.
        constexpr std::uint64_t kMaxUs = 1'000'000'000'000;
        const std::uint64_t us = body_bytes_ > kMaxUs / 1'000'000
                                     ? kMaxUs
                                     : std::min(kMaxUs, body_bytes_ * 1'000'000 / min_body_rate_);
        d += std::chrono::microseconds(us);
    }
    return d;
}

std::chrono::milliseconds InputWait::waited(Clock::time_point now) const noexcept {
    if (!since_)
        return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(now - *since_);
}

BodyRate::Wait BodyRate::wait_readable(int fd, int& error) {
    using Clock = std::chrono::steady_clock;
    for (;;) {
        Clock::duration left = read_timeout_;
        bool rate_bound = false;
        if (min_body_rate_ > 0) {
            const std::uint64_t us = std::min<std::uint64_t>(received_, std::uint64_t{1} << 40) *
                                     1'000'000 / min_body_rate_;
            const Clock::duration rate_left =
                read_timeout_ + std::chrono::microseconds(us) - waited_;
            if (rate_left <= left) {
                left = rate_left;
                rate_bound = true;
            }
        }
        const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
        if (ms <= 0)
            return Wait::too_slow;
        pollfd p{fd, POLLIN, 0};
        const auto start = Clock::now();
        const int ready = poll_waiting(p, static_cast<int>(std::min<long long>(ms, 1 << 30)));
        waited_ += Clock::now() - start;
        if (ready > 0)
            return Wait::ready;
        if (ready < 0 && errno != EINTR) {
            error = errno;
            return Wait::failed;
        }
        if (ready == 0 && !rate_bound)
            return Wait::silent;
    }
}

}  // namespace postern
