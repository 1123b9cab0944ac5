#include "core/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/decimal.hpp"

namespace postern::systemd {

int passed_socket_count(const char* listen_pid, const char* listen_fds, pid_t self) {
    // Digits only, as systemd writes them (decimal.hpp).
    const auto pid = parse_length(listen_pid != nullptr ? listen_pid : "");
    if (!pid || *pid != static_cast<std::uint64_t>(self))
        return 0;
    // Beyond a few thousand descriptors this is not systemd talking.
    constexpr std::uint64_t kMax = 4096;
    const auto n = parse_length(listen_fds != nullptr ? listen_fds : "");
    if (!n || *n > kMax)
        throw std::runtime_error(std::string("systemd socket activation: LISTEN_FDS=\"") +
                                 (listen_fds ? listen_fds : "") +
                                 "\" is not a number of sockets (0 to " + std::to_string(kMax) +
                                 ")");
    return static_cast<int>(*n);
}

int take_passed_sockets() {
    const int n =
        passed_socket_count(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"), ::getpid());
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return n;
}

std::vector<int> assign_passed_sockets(std::vector<ListenSpec>& specs,
                                       const std::vector<std::string>& passed) {
    const int count = static_cast<int>(passed.size());
    if (specs.empty()) {
        for (int i = 0; i < count; ++i)
            specs.push_back(ListenSpec{"fastcgi", "fd:" + std::to_string(kFirstPassedFd + i)});
    }
    std::vector<int> out(specs.size(), -1);
    std::vector<bool> taken(passed.size(), false);
    auto take = [&](std::size_t spec, int index) {
        out[spec] = kFirstPassedFd + index;
        taken[static_cast<std::size_t>(index)] = true;
    };
    // 1. fd:N naming a passed socket.
    for (std::size_t s = 0; s < specs.size(); ++s) {
        const std::string& a = specs[s].address;
        if (a.rfind("fd:", 0) != 0)
            continue;
        const auto n = parse_length(std::string_view(a).substr(3));
        if (n && *n >= static_cast<std::uint64_t>(kFirstPassedFd) &&
            *n < static_cast<std::uint64_t>(kFirstPassedFd + count)) {
            const int index = static_cast<int>(*n) - kFirstPassedFd;
            if (taken[static_cast<std::size_t>(index)])
                throw std::runtime_error("systemd socket activation: two --listen name " + a);
            take(s, index);
        }
    }
    // 2. The passed socket bound to exactly the address --listen gives.
    for (std::size_t s = 0; s < specs.size(); ++s) {
        if (out[s] >= 0 || specs[s].address.rfind("fd:", 0) == 0)
            continue;
        for (int i = 0; i < count; ++i) {
            if (!taken[static_cast<std::size_t>(i)] &&
                passed[static_cast<std::size_t>(i)] == specs[s].address) {
                take(s, i);
                break;
            }
        }
    }
    // 3. The others in order.
    int next = 0;
    for (std::size_t s = 0; s < specs.size(); ++s) {
        if (out[s] >= 0 || specs[s].address.rfind("fd:", 0) == 0)
            continue;
        while (next < count && taken[static_cast<std::size_t>(next)])
            ++next;
        if (next == count)
            break;
        take(s, next);
    }
    for (int i = 0; i < count; ++i) {
        if (!taken[static_cast<std::size_t>(i)]) {
            const std::string& a = passed[static_cast<std::size_t>(i)];
            throw std::runtime_error(
                "systemd socket activation: passed socket fd:" +
                std::to_string(kFirstPassedFd + i) + (a.empty() ? "" : " (" + a + ")") +
                " has no --listen; add --listen PROTO=fd:" + std::to_string(kFirstPassedFd + i) +
                " (or PROTO=" + (a.empty() ? "ADDRESS" : a) + ")");
        }
    }
    return out;
}

Notifier Notifier::from_environment() {
    const char* s = std::getenv("NOTIFY_SOCKET");
    Notifier n(s != nullptr ? std::string(s) : std::string());
    ::unsetenv("NOTIFY_SOCKET");
    return n;
}

bool Notifier::notify(std::string_view state) const {
    if (socket_.empty())
        return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    // "@name" is an abstract socket: a leading NUL, the length says where it
    // ends (unix(7)).
    if (socket_.size() >= sizeof(sa.sun_path) || (socket_[0] != '/' && socket_[0] != '@'))
        return false;
    std::memcpy(sa.sun_path, socket_.data(), socket_.size());
    if (socket_[0] == '@')
        sa.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return false;
    const ssize_t n = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                               reinterpret_cast<const sockaddr*>(&sa), len);
    ::close(fd);
    return n == static_cast<ssize_t>(state.size());
}

}  // namespace postern::systemd
