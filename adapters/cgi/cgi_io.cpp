#include "cgi/cgi_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/cgi_head.hpp"

namespace postern::cgi {

namespace {
constexpr std::size_t kCoalesce = 64 * 1024;
}

std::size_t FdBody::read(char* buffer, std::size_t size) {
    if (eof_ || size == 0 || (left_ && *left_ == 0))
        return 0;
    const std::size_t want =
        left_ ? static_cast<std::size_t>(std::min<std::uint64_t>(size, *left_)) : size;
    for (;;) {
        const ssize_t n = ::read(fd_, buffer, want);
        if (n > 0) {
            if (left_)
                *left_ -= static_cast<std::uint64_t>(n);
            return static_cast<std::size_t>(n);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            eof_ = true;
            if (left_ && *left_ > 0)
                throw RequestError(400, "the CGI host closed standard input with " +
                                            std::to_string(*left_) +
                                            " bytes of the request body still to come");
            return 0;
        }
        throw RequestError(400, std::string("reading the request body from standard input "
                                            "failed: ") +
                                    std::strerror(errno));
    }
}

bool FdSink::write_out() {
    std::size_t at = 0;
    while (at < out_.size()) {
        const ssize_t n = ::write(fd_, out_.data() + at, out_.size() - at);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            gone_ = true;
            out_.clear();
            return false;
        }
        at += static_cast<std::size_t>(n);
    }
    out_.clear();
    return true;
}

bool FdSink::send_head(const ResponseHead& head) {
    if (gone_ || aborted_)
        return false;
    no_body_ = head.head_only || head_request_ || !status_has_body(head.status);
    out_ = cgi_head(head);
    return true;
}

bool FdSink::send_body(std::string_view data) {
    if (gone_ || aborted_)
        return false;
    if (no_body_ || data.empty())
        return true;
    out_ += data;
    return out_.size() < kCoalesce || write_out();
}

bool FdSink::flush() {
    if (gone_ || aborted_)
        return false;
    return out_.empty() || write_out();
}

bool FdSink::finish() {
    return flush();
}

void FdSink::abort() {
    aborted_ = true;
    out_.clear();
}

}  // namespace postern::cgi
