// Postern core: the connection engine's blocking send, for every adapter.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
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

/// sendmsg(2) on a blocking socket, telling the reactor before it waits
/// (core/blocking.hpp): while may_hand_off(), the first try does not wait
/// (MSG_DONTWAIT); when the socket is full (EAGAIN) and still has no room
/// after kHandOffAfterMs, about_to_block() lets a thread that stands by
/// wait for requests meanwhile. Then, and for the request's later sends,
/// the send waits as the socket does (SO_SNDTIMEO). Returns what sendmsg
/// returns, errno included; `flags` are added to every try.
ssize_t send_waiting(int fd, const msghdr& msg, int flags) noexcept;

/// send_all() of a response's bytes, which are then cleared. On failure,
/// logs why, naming the front end: it did not read the response for
/// `write_timeout` (a warning), or it went away (debug); returns false.
bool send_response(int fd, std::string& out, const Peer& peer,
                   std::chrono::milliseconds write_timeout);

/// What send_file_all() did.
enum class SendFile {
    sent,         ///< every byte went out
    failed,       ///< the peer went away or the write timed out (errno: EAGAIN)
    unsupported,  ///< sendfile(2) refused these descriptors before any byte
                  ///< went out (EINVAL, ENOSYS): send the bytes another way
};

/// Sends `count` bytes of the regular file `file` from `offset` on the
/// socket `fd` with sendfile(2), the kernel copying from the page cache:
/// retries after signals and short counts. A blocking socket waits at most
/// its SO_SNDTIMEO per stall, as send_all() does; on a non-blocking one
/// each stall is waited out with poll(POLLOUT) for at most `write_timeout`.
/// Throws std::system_error when the file cannot be read (EIO) and
/// std::runtime_error when it ends before `count` bytes (it shrank while
/// being sent): bytes already sent cannot be taken back, so the caller's
/// response must be cut off. On a blocking socket whose wait may call a
/// thread in (may_hand_off(), core/blocking.hpp), the first call sends what
/// fits at once with the socket made non-blocking, and a full socket calls
/// a thread in as send_waiting() does. Each byte sent is counted in
/// sendfile_bytes(). sendfile(2) takes no MSG_NOSIGNAL: a peer gone raises
/// SIGPIPE, which the gateway ignores (Server's constructor).
SendFile send_file_all(int fd, int file, std::uint64_t offset, std::uint64_t count,
                       std::chrono::milliseconds write_timeout);

/// Bytes this process has sent with sendfile(2) (send_file_all), for the
/// tests that check the adapters use it.
std::uint64_t sendfile_bytes() noexcept;

/// Logs why a send to the front end failed, as send_response() does: `who`
/// ("client 127.0.0.1:4242", "front end ...") did not read the response for
/// `write_timeout` (errno `error` is EAGAIN: a warning) or went away (debug).
void log_send_failure(int error, const std::string& who, std::chrono::milliseconds write_timeout);

}  // namespace postern
