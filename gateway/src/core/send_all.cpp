#include "core/send_all.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "core/blocking.hpp"
#include "core/log.hpp"

namespace postern {

namespace {

/// The socket was full: a front end that reads at once (nginx, which
/// buffers) makes room within kHandOffAfterMs; otherwise another thread
/// takes the requests while this one waits as the socket does
/// (SO_SNDTIMEO). Either way the request's later sends are plain blocking
/// ones.
void decide_on_full_socket(int fd) noexcept {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kHandOffAfterMs) == 0)
        about_to_block();
    else
        wait_was_short();
}

}  // namespace

ssize_t send_waiting(int fd, const msghdr& msg, int flags) noexcept {
    if (!may_hand_off())
        return ::sendmsg(fd, &msg, flags);
    const ssize_t n = ::sendmsg(fd, &msg, flags | MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        return n;
    decide_on_full_socket(fd);
    return ::sendmsg(fd, &msg, flags);
}

bool send_all(int fd, std::string_view data) noexcept {
    std::size_t sent = 0;
    while (sent < data.size()) {
        iovec iov{const_cast<char*>(data.data() + sent), data.size() - sent};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        const ssize_t n = send_waiting(fd, msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

void log_send_failure(int error, const std::string& who, std::chrono::milliseconds write_timeout) {
    if (error == EAGAIN || error == EWOULDBLOCK)
        log::warn(who + " did not read the response for " + std::to_string(write_timeout.count()) +
                  " ms; closing the connection");
    else
        log::debug(who + " went away: " + std::strerror(error));
}

bool send_response(int fd, std::string& out, const Peer& peer,
                   std::chrono::milliseconds write_timeout) {
    const bool sent = send_all(fd, out);
    const int error = errno;
    out.clear();
    if (sent)
        return true;
    log_send_failure(error, "front end " + peer.describe(), write_timeout);
    return false;
}

namespace {

std::atomic<std::uint64_t> sendfile_total{0};

}  // namespace

std::uint64_t sendfile_bytes() noexcept {
    return sendfile_total.load(std::memory_order_relaxed);
}

SendFile send_file_all(int fd, int file, std::uint64_t offset, std::uint64_t count,
                       std::chrono::milliseconds write_timeout) {
    // sendfile(2) moves at most 0x7ffff000 bytes a call.
    constexpr std::uint64_t kMaxChunk = 0x7ffff000;
    bool any = false;
    int nonblocking = -1;  // looked up at the first stall
    // sendfile(2) takes no MSG_DONTWAIT: while a full socket may still call
    // a thread in (send_waiting()), the first call goes out with the socket
    // made non-blocking, for what fits at once; the flags are its own again
    // before anything else happens.
    int try_flags = may_hand_off() ? ::fcntl(fd, F_GETFL) : -1;
    if (try_flags >= 0 &&
        ((try_flags & O_NONBLOCK) != 0 || ::fcntl(fd, F_SETFL, try_flags | O_NONBLOCK) != 0))
        try_flags = -1;
    while (count > 0) {
        auto off = static_cast<off_t>(offset);
        const ssize_t n =
            ::sendfile(fd, file, &off, static_cast<std::size_t>(std::min(count, kMaxChunk)));
        if (try_flags >= 0) {
            const int error = errno;
            ::fcntl(fd, F_SETFL, try_flags);
            try_flags = -1;
            const bool full = n > 0 ? static_cast<std::uint64_t>(n) < count
                                    : n < 0 && (error == EAGAIN || error == EWOULDBLOCK);
            if (full) {
                decide_on_full_socket(fd);
                if (n < 0)
                    continue;
            }
            errno = error;
        }
        if (n > 0) {
            any = true;
            offset += static_cast<std::uint64_t>(n);
            count -= static_cast<std::uint64_t>(n);
            sendfile_total.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
            continue;
        }
        if (n == 0)
            throw std::runtime_error("the file to send ended " + std::to_string(count) +
                                     " bytes early (truncated while being sent)");
        const int error = errno;
        if (error == EINTR)
            continue;
        if ((error == EINVAL || error == ENOSYS) && !any)
            return SendFile::unsupported;
        if (error == EIO || error == EOVERFLOW || error == ENOMEM)
            throw std::system_error(error, std::generic_category(), "reading the file to send");
        if (error == EAGAIN || error == EWOULDBLOCK) {
            if (nonblocking < 0)
                nonblocking = (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0 ? 1 : 0;
            if (nonblocking == 1) {
                // A non-blocking socket: wait for room, up to the timeout.
                pollfd p{fd, POLLOUT, 0};
                int r;
                do
                    r = ::poll(&p, 1, static_cast<int>(write_timeout.count()));
                while (r < 0 && errno == EINTR);
                if (r > 0)
                    continue;
                errno = r == 0 ? EAGAIN : errno;
                return SendFile::failed;
            }
            // A blocking socket gives EAGAIN once SO_SNDTIMEO passed.
        }
        errno = error;
        return SendFile::failed;
    }
    return SendFile::sent;
}

}  // namespace postern
