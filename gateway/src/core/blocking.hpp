#pragma once
// A worker thread about to wait on its peer (a response write that found
// the socket full for longer than kHandOffAfterMs, a request body that is
// late): the reactor lets a thread that stands by wait for requests in its
// place at once, instead of at the monitor's next looks (up to 32 ms after
// a calm spell; see reactor.hpp). Nothing outside a reactor's worker
// thread, or with every thread waiting for requests already
// (Options::pollers).
#include <poll.h>

#include <cstdint>

namespace postern {

/// Called before a system call that will wait for the peer; cheap after
/// the first call in the same request.
void about_to_block() noexcept;

/// Whether a wait of this thread may still call a thread in: a reactor
/// thread, with threads standing by, whose request has neither called one
/// in nor found its front end quick to read (wait_was_short) yet.
/// Otherwise waits are plain system calls, with nothing tried first.
bool may_hand_off() noexcept;

/// The request's first response write that found the socket full found
/// room within kHandOffAfterMs: the front end keeps up (nginx reading a
/// response it buffers), and the request's later writes block at once,
/// with no MSG_DONTWAIT try and poll(2) first (the monitor still calls a
/// thread in, should one wait long).
void wait_was_short() noexcept;

/// A wait shorter than this calls no thread in: a front end that reads a
/// full socket or sends the next piece of a body within it (nginx, which
/// buffers) costs no wake-up.
constexpr int kHandOffAfterMs = 1;

/// poll(2) on one descriptor for up to `timeout_ms` (negative: no limit),
/// calling about_to_block() once it has waited kHandOffAfterMs (a request
/// body that is late). Returns what poll returns, errno included.
int poll_waiting(pollfd& p, int timeout_ms) noexcept;

/// How many times about_to_block() called a thread in, in this process.
std::uint64_t blocking_handoffs() noexcept;

}  // namespace postern
