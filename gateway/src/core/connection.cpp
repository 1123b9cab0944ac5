#include "core/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/cgi_head.hpp"
#include "core/http_head.hpp"
#include "core/log.hpp"

namespace postern {

Connection::Next Connection::serve() noexcept {
    try {
        try {
            return serve_one();
        } catch (const std::exception& e) {
            log::error(std::string(wire_name()) + " connection from front end " + peer_.describe() +
                       " ended by an internal error: " + e.what());
        } catch (...) {
            log::error(std::string(wire_name()) + " connection from front end " + peer_.describe() +
                       " ended by a non-standard exception");
        }
    } catch (...) {
        // Logging itself failed (out of memory): the connection still ends.
    }
    return Next::close;
}

Connection::~Connection() {
    if (int fd = fd_.load(); fd >= 0)
        ::close(fd);
}

void Protocol::refuse_overloaded(int fd) noexcept {
    ::close(fd);
}

void linger_close(int fd, std::chrono::milliseconds read_timeout) noexcept {
    if (fd < 0)
        return;
    ::shutdown(fd, SHUT_WR);
    using Clock = std::chrono::steady_clock;
    const auto deadline =
        Clock::now() + std::min<std::chrono::milliseconds>(read_timeout, std::chrono::seconds(2));
    char sink[4096];
    for (;;) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            return;
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            return;
        const ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
    }
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

const HeaderList& overloaded_headers() {
    static const HeaderList headers = {{"Content-Type", "text/plain; charset=utf-8"},
                                       {"Content-Length", std::to_string(kOverloadedBody.size())},
                                       {"Retry-After", "1"}};
    return headers;
}

std::string overloaded_cgi_response() {
    ResponseHead head;
    head.status = kOverloadedStatus;
    head.headers = &overloaded_headers();
    return cgi_head(head) + std::string(kOverloadedBody);
}

std::string overloaded_http_response(bool connection_close) {
    HttpFraming framing;
    framing.content_length = kOverloadedBody.size();
    if (connection_close)
        framing.connection = HttpFraming::Connection::close;
    std::string out;
    append_http_head(out, kOverloadedStatus, &overloaded_headers(), framing);
    out += kOverloadedBody;
    return out;
}

}  // namespace postern
