#include "fastcgi/read_guard.hpp"

#include <fcgiapp.h>
#include <fcgios.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/blocking.hpp"
#include "core/send_all.hpp"

namespace postern::fastcgi {

namespace {

// Where the guards are found: the calling thread's own first (the worker
// serving the request reads its body itself, nearly always), then by
// descriptor, so that a callback reading its body on another thread is
// guarded too.
thread_local ReadGuard* t_guard = nullptr;
constexpr int kSlots = 65536;
std::atomic<ReadGuard*> g_slots[kSlots];
std::mutex g_overflow_mutex;
std::unordered_map<int, ReadGuard*>& overflow() {
    static std::unordered_map<int, ReadGuard*> map;
    return map;
}

void register_guard(int fd, ReadGuard* guard) noexcept {
    if (fd >= 0 && fd < kSlots) {
        g_slots[fd].store(guard, std::memory_order_release);
        return;
    }
    try {
        std::lock_guard lock(g_overflow_mutex);
        overflow()[fd] = guard;
    } catch (...) {
        // Out of memory: the descriptor is then guarded on its own thread only.
    }
}

/// Only if it is still `guard`'s: libfcgi may have closed the descriptor,
/// and another connection taken its number and installed its own guard.
void unregister_guard(int fd, ReadGuard* guard) noexcept {
    if (fd >= 0 && fd < kSlots) {
        ReadGuard* expected = guard;
        g_slots[fd].compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel);
        return;
    }
    std::lock_guard lock(g_overflow_mutex);
    const auto it = overflow().find(fd);
    if (it != overflow().end() && it->second == guard)
        overflow().erase(it);
}

ReadGuard* find_guard(int fd) noexcept {
    if (fd >= 0 && fd < kSlots)
        return g_slots[fd].load(std::memory_order_acquire);
    std::lock_guard lock(g_overflow_mutex);
    const auto it = overflow().find(fd);
    return it == overflow().end() ? nullptr : it->second;
}

}  // namespace

ReadGuard::ReadGuard(int fd, RecordValidator& validator, Clock::time_point deadline,
                     int* libfcgi_fd, std::string prefiltered, BodyRate* body_rate) noexcept
    : fd_(fd),
      validator_(validator),
      deadline_(deadline),
      libfcgi_fd_(libfcgi_fd),
      body_rate_(body_rate),
      pending_(std::move(prefiltered)) {
    t_guard = this;
    register_guard(fd, this);
}

ReadGuard::~ReadGuard() {
    if (t_guard == this)
        t_guard = nullptr;
    unregister_guard(fd_, this);
}

ReadGuard* ReadGuard::current(int fd) noexcept {
    ReadGuard* g = t_guard;
    if (g != nullptr && g->fd_ == fd)
        return g;
    return find_guard(fd);
}

int ReadGuard::fail(Failure failure, int error) noexcept {
    failure_ = failure;
    errno_ = error;
    errno = error;
    return -1;
}

bool ReadGuard::send_answers() noexcept {
    if (!send_all(fd_, validator_.answers()))
        return false;
    validator_.answers().clear();
    return true;
}

int ReadGuard::take_pending(char* buffer, std::size_t size) noexcept {
    const std::size_t n = std::min(size, pending_.size() - pending_at_);
    std::memcpy(buffer, pending_.data() + pending_at_, n);
    pending_at_ += n;
    return static_cast<int>(n);
}

int ReadGuard::read(char* buffer, std::size_t size) noexcept {
    ++reads_;
    if (failure_ != Failure::none)
        return fail(failure_, failure_ == Failure::read_error ? errno_ : EPROTO);
    if (size == 0)
        return 0;
    if (pending_at_ < pending_.size())
        return take_pending(buffer, size);
    if (validator_.ended())
        return 0;  // never: libfcgi reads no further than FCGI_STDIN's end
    // Read behind 8 bytes of head room and filter in place: the header
    // bytes the validator held back from the last read come out first.
    char scratch[64];
    const bool in_place = size > kHeaderLength;
    char* const into = in_place ? buffer + kHeaderLength : scratch;
    const std::size_t room = in_place ? size - kHeaderLength : sizeof(scratch);
    for (;;) {
        // While the head is incomplete, every wait is bounded by the
        // deadline; the body's reads block under SO_RCVTIMEO, as libfcgi's.
        const bool head = validator_.status() == RecordValidator::Status::need_more;
        if (!head && body_rate_ != nullptr) {
            int error = 0;
            switch (body_rate_->wait_readable(fd_, error)) {
                case BodyRate::Wait::ready:
                    break;
                case BodyRate::Wait::silent:
                case BodyRate::Wait::too_slow:
                    return fail(Failure::body_timeout, ETIMEDOUT);
                case BodyRate::Wait::failed:
                    errno = error;
                    return -1;
            }
        }
        const ssize_t n = head || body_rate_ != nullptr ? ::recv(fd_, into, room, MSG_DONTWAIT)
                                                        : ::read(fd_, into, room);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (!head && body_rate_ != nullptr && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;  // readable, then nothing: wait again under the rule
            if (!head)
                return -1;  // errno as read(2) left it; the body reports it
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return fail(Failure::read_error, errno);
            if (validator_.request_bytes() == 0 && validator_.held_back() == 0 &&
                libfcgi_fd_ != nullptr) {
                // Nothing of a request: give the connection back to the
                // reactor, and keep libfcgi from closing it.
                *libfcgi_fd_ = -1;
                return fail(Failure::idle, EAGAIN);
            }
            const auto left =
                std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
            if (left <= 0)
                return fail(Failure::timeout, ETIMEDOUT);
            pollfd p{fd_, POLLIN, 0};
            if (poll_waiting(p, static_cast<int>(std::min<long long>(left, 1'000'000'000))) < 0 &&
                errno != EINTR)
                return fail(Failure::read_error, errno);
            continue;
        }
        if (n == 0) {
            if (head)
                failure_ = Failure::closed;
            return 0;
        }
        bytes_ += static_cast<std::size_t>(n);
        if (!head && body_rate_ != nullptr)
            body_rate_->received(static_cast<std::size_t>(n));
        std::size_t kept;
        if (in_place) {
            kept = validator_.filter(into, static_cast<std::size_t>(n), buffer);
        } else {
            pending_.resize(validator_.held_back() + static_cast<std::size_t>(n));
            kept = validator_.filter(into, static_cast<std::size_t>(n), pending_.data());
            pending_.resize(kept);
            pending_at_ = 0;
        }
        if (validator_.status() == RecordValidator::Status::error)
            return fail(Failure::malformed, EPROTO);
        if (validator_.ended() && validator_.taken() < static_cast<std::size_t>(n))
            carry_.assign(into + validator_.taken(),
                          static_cast<std::size_t>(n) - validator_.taken());
        if (!validator_.answers().empty() && !send_answers())
            return fail(Failure::write_error, errno != 0 ? errno : EPIPE);
        if (kept == 0 && !validator_.ended())
            continue;  // only management records, or a header still incomplete
        return in_place ? static_cast<int>(kept) : take_pending(buffer, size);
    }
}

namespace {

bool probe_interposition() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return false;
    // FCGI_BEGIN_REQUEST (responder), an empty FCGI_PARAMS: a complete head.
    std::string head;
    const char begin[8] = {0, static_cast<char>(kResponder), 0, 0, 0, 0, 0, 0};
    append_record(head, kBeginRequest, 1, std::string_view(begin, sizeof(begin)));
    append_record(head, kParams, 1, {});
    bool ok =
        ::send(sv[1], head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size());
    FCGX_Request req;
    FCGX_InitRequest(&req, -1, 0);
    req.ipcFd = sv[0];
    req.keepConnection = 1;
    req.detached = 1;
    RecordValidator validator(1024);
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
    return rc == 0 && reads > 0 && validator.status() == RecordValidator::Status::done;
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
