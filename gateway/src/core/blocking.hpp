#pragma once
// A worker thread about to wait on its peer (a response write that found
// the socket full): the reactor lets a thread that stands by wait for
// requests in its place at once, instead of at the monitor's next looks
// (up to 32 ms after a calm spell; see reactor.hpp). Nothing outside a
// reactor's worker thread, or with every thread waiting for requests
// already (Options::pollers).
#include <cstdint>

namespace postern {

/// Called before a system call that will wait for the peer; cheap after
/// the first call in the same request.
void about_to_block() noexcept;

/// How many times about_to_block() called a thread in, in this process.
std::uint64_t blocking_handoffs() noexcept;

}  // namespace postern
