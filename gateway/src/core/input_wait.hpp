// Postern core: the connection engine's rule for a request that arrives
// slowly, for every protocol. Until a request's head — and a small body
// with a known length — is whole, the connection waits in the reactor, not
// in a worker thread: serve() takes what the socket has without blocking
// (InputBuffer::read_available), and when that is not yet enough returns
// Next::keep with the wait deadline from here. Past the deadline the reactor shuts the
// reading side (Connection::set_wait_deadline), serve() runs once more,
// sees the end of file with expired() true, and refuses the request in its
// protocol's words (408, or a logged close where the protocol has no
// answer).
//
// The deadline: --read-timeout from the request's first byte, plus one
// second per --min-body-rate bytes of body received (Apache mod_reqtimeout's
// body MinRate), so a front end that trickles holds nothing but a
// descriptor, and is refused within read timeout plus what the rate allows.
//
// Threading: one per connection, used by the thread serving it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace postern {

/// A body of up to this many bytes with a known end is read in the reactor
/// before the request is dispatched, as nginx reads a body before it passes
/// the request upstream: a front end that trickles it holds no thread.
inline constexpr std::uint64_t kMaxCollectedBody = 64 * 1024;

class InputWait {
  public:
    using Clock = std::chrono::steady_clock;

    InputWait(std::chrono::milliseconds read_timeout, std::uint64_t min_body_rate) noexcept
        : read_timeout_(read_timeout), min_body_rate_(min_body_rate) {}

    /// The first byte of a request arrived (now): the clock starts. Later
    /// calls do nothing until reset().
    void start(Clock::time_point now = Clock::now()) noexcept {
        if (!since_)
            since_ = now;
    }
    bool started() const noexcept { return since_.has_value(); }
    /// `n` bytes of the body were received while collecting it.
    void body_received(std::uint64_t n) noexcept { body_bytes_ += n; }
    /// When the head (and a collected body) must be whole: the request's
    /// first byte plus the read timeout, plus the body's allowance.
    Clock::time_point deadline() const noexcept;
    bool expired(Clock::time_point now = Clock::now()) const noexcept {
        return since_ && now >= deadline();
    }
    /// How long the request has been arriving, for log lines.
    std::chrono::milliseconds waited(Clock::time_point now = Clock::now()) const noexcept;
    /// The request is whole (or gone): the next one starts its own clock.
    void reset() noexcept {
        since_.reset();
        body_bytes_ = 0;
    }

  private:
    std::chrono::milliseconds read_timeout_;
    std::uint64_t min_body_rate_;
    std::optional<Clock::time_point> since_;
    std::uint64_t body_bytes_ = 0;
};

/// The body rule for a body the worker reads itself (past what was collected
/// in the reactor), mod_reqtimeout's body=T,MinRate=R as the HTTP adapter
/// applies it: at most read_timeout of waiting for any one piece, and
/// read_timeout plus one second per min_body_rate bytes received for the
/// whole body, counting only the time spent waiting for the front end (not
/// the callback's own). So a trickling front end holds a worker for at most
/// about read_timeout plus the body's size over the rate.
class BodyRate {
  public:
    BodyRate(std::chrono::milliseconds read_timeout, std::uint64_t min_body_rate) noexcept
        : read_timeout_(read_timeout), min_body_rate_(min_body_rate) {}

    enum class Wait {
        ready,     ///< the socket is readable
        silent,    ///< no byte for read_timeout
        too_slow,  ///< the body fell below min_body_rate
        failed,    ///< poll(2) failed: `error`
    };
    /// Waits until `fd` is readable, as long as the rule allows.
    Wait wait_readable(int fd, int& error);
    /// `n` body bytes were received.
    void received(std::uint64_t n) noexcept { received_ += n; }
    std::uint64_t bytes() const noexcept { return received_; }

  private:
    std::chrono::milliseconds read_timeout_;
    std::uint64_t min_body_rate_;
    std::uint64_t received_ = 0;
    std::chrono::steady_clock::duration waited_{};
};

/// What InputBuffer::read_available() (core/input_buffer.hpp) found.
enum class Available {
    some,     ///< bytes were appended
    nothing,  ///< none there now (EAGAIN): wait in the reactor
    eof,      ///< the peer closed (or the reactor shut the reading side)
    failed,   ///< recv(2) failed: `error`
};

}  // namespace postern
