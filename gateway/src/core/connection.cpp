#include "core/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace postern {

Connection::~Connection() {
    if (int fd = fd_.load(); fd >= 0)
        ::close(fd);
}

void Protocol::refuse_overloaded(int fd) noexcept {
    ::close(fd);
}

void answer_and_close(int fd, std::string_view answer) noexcept {
    char scratch[16384];
    for (int i = 0; i < 4; ++i)
        if (::recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
            break;
    (void)::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
}

}  // namespace postern
