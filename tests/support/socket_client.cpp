#include "socket_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace postern::test {

namespace {

int connect_to(const std::string& address, const std::string& source) {
    if (!address.empty() && address[0] == '/') {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        if (address.size() >= sizeof(sa.sun_path)) {
            ::close(fd);
            throw std::runtime_error("unix socket path too long: " + address);
        }
        std::memcpy(sa.sun_path, address.c_str(), address.size() + 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
            int e = errno;
            ::close(fd);
            throw std::runtime_error("connect " + address + ": " + std::strerror(e));
        }
        return fd;
    }
    auto colon = address.rfind(':');
    if (colon == std::string::npos)
        throw std::runtime_error("bad address " + address);
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[')
        host = host.substr(1, host.size() - 2);
    int port = std::stoi(address.substr(colon + 1));
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (host.find(':') != std::string::npos) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(static_cast<uint16_t>(port));
        if (::inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) != 1)
            throw std::runtime_error("bad host " + host);
        family = AF_INET6;
        len = sizeof(sockaddr_in6);
    } else {
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(static_cast<uint16_t>(port));
        if (host == "localhost")
            host = "127.0.0.1";
        if (::inet_pton(AF_INET, host.c_str(), &s4->sin_addr) != 1)
            throw std::runtime_error("bad host " + host);
        len = sizeof(sockaddr_in);
    }
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (!source.empty()) {
        // The client's own address, as a client on another host would have
        // (127.0.0.2 is loopback, but not 127.0.0.1).
        sockaddr_storage from{};
        std::memcpy(&from, &ss, len);
        bool parsed = false;
        if (family == AF_INET6) {
            auto* f6 = reinterpret_cast<sockaddr_in6*>(&from);
            f6->sin6_port = 0;
            parsed = ::inet_pton(AF_INET6, source.c_str(), &f6->sin6_addr) == 1;
        } else {
            auto* f4 = reinterpret_cast<sockaddr_in*>(&from);
            f4->sin_port = 0;
            parsed = ::inet_pton(AF_INET, source.c_str(), &f4->sin_addr) == 1;
        }
        if (!parsed || ::bind(fd, reinterpret_cast<sockaddr*>(&from), len) != 0) {
            ::close(fd);
            throw std::runtime_error("cannot bind to " + source + " to connect to " + address);
        }
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        int e = errno;
        ::close(fd);
        throw std::runtime_error("connect " + address + ": " + std::strerror(e));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

}  // namespace

SocketClient::SocketClient(const std::string& address, const std::string& source)
    : fd_(connect_to(address, source)) {}

SocketClient::~SocketClient() {
    if (fd_ >= 0)
        ::close(fd_);
}

SocketClient::SocketClient(SocketClient&& other) noexcept : fd_(other.fd_), closed_(other.closed_) {
    other.fd_ = -1;
}

bool SocketClient::send(std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            closed_ = true;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string SocketClient::recv_some(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0)
        return {};
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
        closed_ = true;
        return {};
    }
    return std::string(buf, static_cast<std::size_t>(n));
}

std::string SocketClient::recv_until_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    while (!closed_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        out += recv_some(left);
    }
    return out;
}

std::string SocketClient::recv_until(std::string_view marker, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    while (!closed_ && out.find(marker) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        out += recv_some(left);
    }
    return out;
}

std::string SocketClient::recv_exact(std::size_t n, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string out;
    while (!closed_ && out.size() < n) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            break;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            break;
        std::string buf(n - out.size(), '\0');
        ssize_t got = ::recv(fd_, buf.data(), buf.size(), 0);
        if (got <= 0) {
            closed_ = true;
            break;
        }
        out.append(buf.data(), static_cast<std::size_t>(got));
    }
    return out;
}

bool SocketClient::wait_closed(std::chrono::milliseconds timeout) {
    recv_until_close(timeout);
    return closed_;
}

void SocketClient::shutdown_write() {
    ::shutdown(fd_, SHUT_WR);
}

bool wait_for_listener(const std::string& address, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        try {
            SocketClient c(address);
            return true;
        } catch (const std::exception&) {
            // Not listening yet: poll again shortly (bounded by the deadline).
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    return false;
}

int free_port() {
    // Never the same port twice in one test process: two picks made before
    // either process binds (two Apache sites of one configuration) could
    // otherwise get the same port back from the kernel.
    static std::mutex mutex;
    static std::set<int> given;
    std::lock_guard lock(mutex);
    for (int attempt = 0; attempt < 64; ++attempt) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = 0;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
            ::close(fd);
            throw std::runtime_error("cannot bind a free port");
        }
        socklen_t len = sizeof(sa);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
        ::close(fd);
        const int port = ntohs(sa.sin_port);
        if (given.insert(port).second)
            return port;
    }
    throw std::runtime_error("no free port that was not given out before");
}

}  // namespace postern::test
