#include "core/send_all.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstddef>

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

}  // namespace postern
