#include "core/input_wait.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

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

Available read_available(int fd, std::string& in, std::size_t max, int& error) {
    const std::size_t had = in.size();
    in.resize(had + max);
    for (;;) {
        const ssize_t n = ::recv(fd, in.data() + had, max, MSG_DONTWAIT);
        if (n > 0) {
            in.resize(had + static_cast<std::size_t>(n));
            return Available::some;
        }
        if (n < 0 && errno == EINTR)
            continue;
        in.resize(had);
        if (n == 0)
            return Available::eof;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return Available::nothing;
        error = errno;
        return Available::failed;
    }
}

}  // namespace postern
