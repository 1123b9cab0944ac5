// Postern core: how soon the supervisor replaces a worker process that died.
#pragma once

#include <chrono>

namespace postern {

/// The delay before a dead worker's replacement starts, for the deaths that
/// are not a request's doing: a worker that could not start (a module whose
/// init crashes, a bad deploy) or that died young while idle. (A worker that
/// dies while serving a request is replaced at once, whatever the streak:
/// see supervisor.hpp.) The first death is replaced at once; each further
/// death of a worker that did not live for `stable` doubles the delay, from
/// `base` up to `cap`, so a module that crashes on start-up costs a bounded
/// number of forks, not a spinning supervisor. A worker that served for
/// `stable` or longer before it died ends the streak: that was a crash, not
/// a crash loop. Pure; one per supervisor, not thread-safe.
class Backoff {
  public:
    using Duration = std::chrono::milliseconds;

    explicit Backoff(Duration base = Duration(100), Duration cap = Duration(10'000),
                     Duration stable = Duration(10'000))
        : base_(base), cap_(cap), stable_(stable) {}

    /// A worker died after serving for `lived` (zero if it never became
    /// ready). Returns how long to wait before starting its replacement.
    Duration failure(std::chrono::steady_clock::duration lived);

    /// Deaths in the current streak.
    unsigned streak() const noexcept { return streak_; }

  private:
    Duration base_;
    Duration cap_;
    Duration stable_;
    unsigned streak_ = 0;
};

}  // namespace postern
