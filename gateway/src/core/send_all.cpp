#include "core/send_all.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "core/log.hpp"

namespace postern {

bool send_all(int fd, std::string_view data) noexcept {
    std::size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        sent += static_cast<std::size_t>(n);
    }
    return true;
}

bool send_response(int fd, std::string& out, const Peer& peer,
                   std::chrono::milliseconds write_timeout) {
    const bool sent = send_all(fd, out);
    const int error = errno;
    out.clear();
    if (sent)
        return true;
    if (error == EAGAIN || error == EWOULDBLOCK)
        log::warn("front end " + peer.describe() + " did not read the response for " +
                  std::to_string(write_timeout.count()) + " ms; closing the connection");
    else
        log::debug("front end " + peer.describe() + " went away: " + std::strerror(error));
    return false;
}

}  // namespace postern
