#include "core/connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/cgi_head.hpp"
#include "core/http_head.hpp"
#include "core/log.hpp"

namespace postern {

Connection::Next Connection::serve() noexcept {
    try {
        try {
            return lingering_ ? continue_linger() : serve_one();
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

Connection::Next Connection::start_linger() {
    const int fd = this->fd();
    if (fd < 0)
        return Next::close;
    ::shutdown(fd, SHUT_WR);
    lingering_ = true;
    linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
    linger_bytes_ = 0;
    return continue_linger();
}

Connection::Next Connection::continue_linger() {
    char scratch[16384];
    while (linger_bytes_ < kLingerBytes && std::chrono::steady_clock::now() < linger_until_) {
        const ssize_t n = ::recv(fd(), scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n > 0) {
            linger_bytes_ += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            // The reactor's sweeper ends the wait at the deadline.
            set_wait_deadline(linger_until_);
            note_drained();
            return Next::keep;
        }
        break;  // end of file (the peer is done, or the sweeper shut it) or an error
    }
    clear_wait_deadline();
    return Next::close;
}

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
