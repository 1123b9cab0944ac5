#include "fastcgi/read_guard.hpp"

#include <fcgiapp.h>
#include <fcgios.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace postern::fastcgi {

namespace {

thread_local ReadGuard* t_guard = nullptr;

}  // namespace

ReadGuard::ReadGuard(int fd, HeadValidator& validator, Clock::time_point deadline) noexcept
    : fd_(fd), validator_(validator), deadline_(deadline) {
    t_guard = this;
}

ReadGuard::~ReadGuard() {
    t_guard = nullptr;
}

ReadGuard* ReadGuard::current(int fd) noexcept {
    ReadGuard* g = t_guard;
    return (g != nullptr && g->fd_ == fd) ? g : nullptr;
}

int ReadGuard::read(char* buffer, std::size_t size) noexcept {
    ++reads_;
    if (failure_ != Failure::none) {
        // libfcgi stops reading after the first failure; be safe if not.
        errno = failure_ == Failure::read_error ? errno_ : EPROTO;
        return -1;
    }
    // The head is complete: what follows is the body, libfcgi's business.
    const bool checking = validator_.status() == HeadValidator::Status::need_more;
    ssize_t n;
    for (;;) {
        // Data is usually there already (the reactor saw the socket
        // readable): try first, wait only when there is none.
        n = checking ? ::recv(fd_, buffer, size, MSG_DONTWAIT) : ::read(fd_, buffer, size);
        if (n >= 0)
            break;
        if (errno == EINTR)
            continue;
        if (!checking || (errno != EAGAIN && errno != EWOULDBLOCK))
            break;
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
        if (left <= 0) {
            failure_ = Failure::timeout;
            errno = ETIMEDOUT;
            return -1;
        }
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1'000'000'000))) < 0 &&
            errno != EINTR) {
            failure_ = Failure::read_error;
            errno_ = errno;
            return -1;
        }
    }
    if (n == 0) {
        if (checking)
            failure_ = Failure::closed;
        return 0;
    }
    if (n < 0) {
        if (checking) {
            failure_ = Failure::read_error;
            errno_ = errno;
        }
        return -1;
    }
    bytes_ += static_cast<std::size_t>(n);
    if (checking && validator_.feed(std::string_view(buffer, static_cast<std::size_t>(n))) ==
                        HeadValidator::Status::error) {
        failure_ = Failure::malformed;
        errno = EPROTO;
        return -1;
    }
    return static_cast<int>(n);
}

namespace {

bool probe_interposition() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    // FCGI_BEGIN_REQUEST (responder), an empty FCGI_PARAMS: a complete head.
    static const unsigned char head[] = {1, kBeginRequest, 0, 1, 0, 8, 0, 0,
                                         0, kResponder,    0, 0, 0, 0, 0, 0,
                                         1, kParams,       0, 1, 0, 0, 0, 0};
    bool ok = ::send(sv[1], head, sizeof(head), MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(head));
    FCGX_Request req;
    FCGX_InitRequest(&req, -1, 0);
    req.ipcFd = sv[0];
    req.keepConnection = 1;
    req.detached = 1;
    HeadValidator validator(1024);
    std::size_t reads = 0;
    int rc = -1;
    if (ok) {
        ReadGuard guard(sv[0], validator, ReadGuard::Clock::now() + std::chrono::seconds(2));
        rc = FCGX_Accept_r(&req);
        reads = guard.reads();
    }
    if (rc == 0) {
        FCGX_Free(&req, 1);  // closes sv[0]: plain close(2), as detached is set
    } else if (!ok) {
        ::close(sv[0]);
    }  // else libfcgi closed sv[0] itself
    ::close(sv[1]);
    return rc == 0 && reads > 0 && validator.status() == HeadValidator::Status::done;
}

}  // namespace

bool interposed() {
    static const bool result = probe_interposition();
    return result;
}

}  // namespace postern::fastcgi

// libfcgi's read primitive (fcgios.h), interposed: see read_guard.hpp. The
// same as libfcgi's own (a plain read(2)) unless a guard is installed.
extern "C" __attribute__((visibility("default"))) int OS_Read(int fd, char* buf, size_t len) {
    if (postern::fastcgi::ReadGuard* guard = postern::fastcgi::ReadGuard::current(fd))
        return guard->read(buf, len);
    return static_cast<int>(::read(fd, buf, len));
}
