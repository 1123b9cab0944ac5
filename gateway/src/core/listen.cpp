#include "core/listen.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace postern {

namespace {

[[noreturn]] void fail(const std::string& address, const std::string& why) {
    throw std::runtime_error("cannot listen on " + address + ": " + why);
}

void make_nonblocking(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/// Whether a server listens on the unix socket at `sa`: nullptr when nobody
/// does (the file is stale), otherwise the detail for the refusal. The probe
/// never blocks: a live server whose backlog is full would hold a blocking
/// connect() (and start-up, and SIGTERM) for seconds. Linux answers a
/// non-blocking connect to a unix socket at once: 0 when accepted into the
/// backlog, EAGAIN when the backlog is full (busy, but alive), ECONNREFUSED
/// when no one listens. EINPROGRESS, which Linux does not give for unix
/// sockets, is waited on for kProbeTimeoutMs at most and taken as alive.
const char* unix_socket_in_use(const sockaddr_un& sa) {
    constexpr int kProbeTimeoutMs = 200;
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0)
        return " (cannot probe it: no descriptor)";
    const char* in_use = nullptr;
    if (::connect(probe, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) == 0) {
        in_use = "";
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        in_use = " (a server listens there, its backlog full)";
    } else if (errno == EINPROGRESS || errno == EALREADY) {
        pollfd p{probe, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof(err);
        if (::poll(&p, 1, kProbeTimeoutMs) <= 0)
            in_use = " (a server listens there, too busy to answer)";
        else if (::getsockopt(probe, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            in_use = "";
    }
    ::close(probe);
    return in_use;
}

BoundSocket bind_unix(const std::string& path, unsigned mode) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof(sa.sun_path))
        fail(path,
             "unix socket path longer than " + std::to_string(sizeof(sa.sun_path) - 1) + " bytes");
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail(path, std::strerror(errno));
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            ::close(fd);
            fail(path, "exists and is not a socket");
        }
        // A socket file left by a process that is gone can be replaced; one
        // that still accepts connections belongs to a running server.
        if (const char* busy = unix_socket_in_use(sa)) {
            ::close(fd);
            fail(path, std::string(std::strerror(EADDRINUSE)) + busy);
        }
        ::unlink(path.c_str());
    }
    // Create the socket file with the wanted mode from the start, so there
    // is no moment where it is more open than asked.
    mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    int err = errno;
    ::umask(old);
    if (rc != 0) {
        ::close(fd);
        fail(path, std::strerror(err));
    }
    ::chmod(path.c_str(), static_cast<mode_t>(mode));
    if (::listen(fd, SOMAXCONN) != 0) {
        err = errno;
        ::close(fd);
        fail(path, std::strerror(err));
    }
    make_nonblocking(fd);
    return BoundSocket{fd, path, true, path, true};
}

BoundSocket adopt_fd(const std::string& address) {
    std::string n = address.substr(3);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos)
        fail(address, "not a descriptor number");
    int fd = std::stoi(n);
    int accepting = 0;
    socklen_t len = sizeof(accepting);
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting)
        fail(address, "descriptor is not a listening socket");
    sockaddr_storage ss{};
    socklen_t slen = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &slen);
    make_nonblocking(fd);
    // Named as it is bound, so that log lines read the same as for a socket
    // bound here; the file (if any) stays where its owner put it.
    const bool unix_socket = ss.ss_family == AF_UNIX;
    std::string bound = local_address(fd);
    std::string path = unix_socket ? bound : std::string();
    return BoundSocket{fd, bound.empty() ? address : bound, unix_socket, path, false};
}

std::string inet_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET6) {
        const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(s6->sin6_port));
    }
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(s4->sin_port));
}

}  // namespace

BoundSocket bind_listener(const std::string& address, unsigned socket_mode) {
    if (address.rfind("fd:", 0) == 0)
        return adopt_fd(address);
    if (!address.empty() && address[0] == '/')
        return bind_unix(address, socket_mode);

    auto colon = address.rfind(':');
    if (colon == std::string::npos || colon + 1 == address.size())
        fail(address, "expected HOST:PORT, an absolute unix-socket path, or fd:N");
    std::string host = address.substr(0, colon);
    std::string port = address.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5 ||
        std::stoi(port) > 65535)
        fail(address, "invalid port \"" + port + "\"");
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    if (host.empty())
        fail(address, "no host (use 127.0.0.1 for loopback, 0.0.0.0 for every interface)");

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* res = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
        fail(address, gai_strerror(rc));
    int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        ::freeaddrinfo(res);
        fail(address, std::strerror(err));
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (res->ai_family == AF_INET6)
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
        int err = errno;
        ::freeaddrinfo(res);
        ::close(fd);
        fail(address, std::strerror(err));
    }
    ::freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    make_nonblocking(fd);
    return BoundSocket{fd, inet_text(ss), false, "", false};
}

std::string local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return {};
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
        return inet_text(ss);
    if (ss.ss_family != AF_UNIX)
        return {};
    const auto* su = reinterpret_cast<const sockaddr_un*>(&ss);
    const std::size_t path_len =
        len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    // Unnamed, or abstract (a leading NUL): no file, nothing --listen names.
    if (path_len == 0 || su->sun_path[0] == '\0')
        return {};
    return std::string(su->sun_path, ::strnlen(su->sun_path, path_len));
}

void raise_descriptor_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace postern
