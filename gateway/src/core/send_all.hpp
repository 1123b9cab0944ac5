// Postern core: the connection engine's blocking send, for every adapter.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "core/peer.hpp"

namespace postern {

/// Sends all of `data` on the (blocking) socket `fd`, retrying after
/// signals; a send that blocks longer than the socket's SO_SNDTIMEO (the
/// reactor sets it to Limits::write_timeout) fails. Returns false when the
/// peer went away or the write timed out; errno says which (EAGAIN: the
/// timeout).
bool send_all(int fd, std::string_view data) noexcept;

/// send_all() of a response's bytes, which are then cleared. On failure,
/// logs why, naming the front end: it did not read the response for
/// `write_timeout` (a warning), or it went away (debug); returns false.
bool send_response(int fd, std::string& out, const Peer& peer,
                   std::chrono::milliseconds write_timeout);

}  // namespace postern
