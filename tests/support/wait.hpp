// Test support: waiting on a condition with a deadline, never a bare sleep.
#pragma once

#include <chrono>
#include <thread>

namespace postern::test {

/// Checks `condition` until it holds or `timeout` has passed, every `every`
/// in between; returns whether it held. The check runs at least once, and
/// once more at the deadline.
template <class Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(every);
    }
}

}  // namespace postern::test
