#include "core/backoff.hpp"

#include <algorithm>

namespace postern {

Backoff::Duration Backoff::failure(std::chrono::steady_clock::duration lived) {
    if (lived >= stable_)
        streak_ = 0;
    ++streak_;
    if (streak_ == 1)
        return Duration(0);
    // base * 2^(streak-2), saturating at the cap without overflowing.
    Duration d = base_;
    for (unsigned i = 2; i < streak_ && d < cap_; ++i)
        d *= 2;
    return std::min(d, cap_);
}

}  // namespace postern
