#include "notify_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace postern::test {

NotifySocket::NotifySocket(const std::string& path, bool abstract)
    : path_(path), abstract_(abstract) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    const std::size_t skip = abstract ? 1 : 0;  // the abstract namespace's leading NUL
    if (path.size() + skip >= sizeof(sa.sun_path))
        throw std::runtime_error("notify socket path too long: " + path);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    std::memcpy(sa.sun_path + skip, path.data(), path.size());
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + skip + path.size() +
                                            (abstract ? 0 : 1));
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        const int e = errno;
        if (fd_ >= 0)
            ::close(fd_);
        throw std::runtime_error("bind " + path + ": " + std::strerror(e));
    }
}

NotifySocket::~NotifySocket() {
    ::close(fd_);
    if (!abstract_)
        ::unlink(path_.c_str());
}

std::string NotifySocket::receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
        return {};
    char buf[512];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace postern::test
