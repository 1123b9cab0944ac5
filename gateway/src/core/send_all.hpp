// Postern core: the connection engine's blocking send, for every adapter.
#pragma once

#include <string_view>

namespace postern {

/// Sends all of `data` on the (blocking) socket `fd`, retrying after
/// signals; a send that blocks longer than the socket's SO_SNDTIMEO (the
/// reactor sets it to Limits::write_timeout) fails. Returns false when the
/// peer went away or the write timed out; errno says which (EAGAIN: the
/// timeout).
bool send_all(int fd, std::string_view data) noexcept;

}  // namespace postern
