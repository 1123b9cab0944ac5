#include "postern/response.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "core/cgi_head.hpp"
#include "core/decimal.hpp"
#include "core/text.hpp"

namespace postern {

std::string_view reason_phrase(int status) noexcept {
    // RFC 9110 §15 (plus 429/431 from RFC 6585).
    switch (status) {
        case 100:
            return "Continue";
        case 101:
            return "Switching Protocols";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 202:
            return "Accepted";
        case 203:
            return "Non-Authoritative Information";
        case 204:
            return "No Content";
        case 205:
            return "Reset Content";
        case 206:
            return "Partial Content";
        case 300:
            return "Multiple Choices";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 303:
            return "See Other";
        case 304:
            return "Not Modified";
        case 307:
            return "Temporary Redirect";
        case 308:
            return "Permanent Redirect";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 406:
            return "Not Acceptable";
        case 407:
            return "Proxy Authentication Required";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 410:
            return "Gone";
        case 411:
            return "Length Required";
        case 412:
            return "Precondition Failed";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 416:
            return "Range Not Satisfiable";
        case 417:
            return "Expectation Failed";
        case 421:
            return "Misdirected Request";
        case 422:
            return "Unprocessable Content";
        case 426:
            return "Upgrade Required";
        case 428:
            return "Precondition Required";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

bool status_has_body(int status) noexcept {
    return status >= 200 && status != 204 && status != 304;
}

bool valid_header_name(std::string_view name) noexcept {
    // RFC 9110 §5.6.2: token = 1*tchar.
    if (name.empty())
        return false;
    for (unsigned char c : name)
        if (!is_tchar(c))
            return false;
    return true;
}

bool valid_header_value(std::string_view value) noexcept {
    for (char c : value)
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    return true;
}

std::string cgi_head(const ResponseHead& head) {
    std::string out;
    out.reserve(128);
    out += "Status: ";
    out += std::to_string(head.status);
    out += ' ';
    out += reason_phrase(head.status);
    out += "\r\n";
    if (head.headers != nullptr) {
        for (const auto& [k, v] : *head.headers) {
            out += k;
            out += ": ";
            out += v;
            out += "\r\n";
        }
    }
    if (head.content_length) {
        out += "Content-Length: ";
        out += std::to_string(*head.content_length);
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

namespace {

// Hop-by-hop and framing headers belong to the gateway (RFC 9110 §7.6.1,
// RFC 9112 §6): a callback setting them could desynchronise the front end.
bool managed_header(std::string_view name) noexcept {
    for (std::string_view m : {"Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade",
                               "Proxy-Connection", "TE", "Trailer", "Status"})
        if (iequals(name, m))
            return true;
    return false;
}

/// A header the callback may set now: a valid name and value, not one the
/// gateway manages, and the head not sent yet (`committed`).
void check_header(std::string_view name, std::string_view value, bool committed) {
    if (!valid_header_name(name))
        throw std::invalid_argument("invalid response header name \"" + std::string(name) + "\"");
    if (!valid_header_value(value))
        throw std::invalid_argument("response header " + std::string(name) +
                                    " has a value with CR, LF or NUL");
    if (managed_header(name))
        throw std::invalid_argument("response header " + std::string(name) +
                                    " is managed by the gateway");
    if (committed)
        throw std::logic_error("response header " + std::string(name) +
                               " set after the head was sent");
}

}  // namespace

Response::Response(ResponseSink& sink, bool head_only, std::size_t buffer_limit)
    : sink_(sink), head_only_(head_only), buffer_limit_(buffer_limit) {}

void Response::status(int code) {
    if (code < 100 || code > 999)
        throw std::invalid_argument("invalid response status " + std::to_string(code));
    // RFC 9110 §15.2: a 1xx is an interim response, never the final one. Sent
    // as the status of the response, an HTTP client takes it as interim and
    // waits on for a final status that never comes; the gateway sends the
    // only interim response it knows (100 Continue) itself.
    if (code < 200)
        throw std::invalid_argument("response status " + std::to_string(code) +
                                    " is interim (1xx), not a final status");
    if (committed_)
        throw std::logic_error("response status set after the head was sent");
    status_ = code;
}

void Response::gateway_header(std::string_view name, std::string_view value) {
    if (!valid_header_name(name) || !valid_header_value(value))
        throw std::invalid_argument("invalid response header " + std::string(name));
    if (committed_)
        throw std::logic_error("response header " + std::string(name) +
                               " set after the head was sent");
    headers_.emplace_back(std::string(name), std::string(value));
}

void Response::header(std::string_view name, std::string_view value) {
    check_header(name, value, committed_);
    if (iequals(name, "Content-Length")) {
        set_header(name, value);
        return;
    }
    headers_.emplace_back(std::string(name), std::string(value));
}

void Response::set_header(std::string_view name, std::string_view value) {
    check_header(name, value, committed_);
    if (iequals(name, "Content-Length")) {
        // The core owns Content-Length; a declared one is used when the body
        // streams (see commit()).
        declared_length_ = parse_length(value);
        if (!declared_length_)
            throw std::invalid_argument("invalid Content-Length \"" + std::string(value) + "\"");
        return;
    }
    std::erase_if(headers_, [&](const auto& h) { return iequals(h.first, name); });
    headers_.emplace_back(std::string(name), std::string(value));
}

std::optional<std::string_view> Response::get_header(std::string_view name) const {
    for (const auto& [k, v] : headers_)
        if (iequals(k, name))
            return std::string_view(v);
    return std::nullopt;
}

bool Response::commit(std::optional<std::uint64_t> length) {
    committed_ = true;
    ResponseHead head;
    head.status = status_;
    head.headers = &headers_;
    head.content_length = length;
    head.head_only = head_only_;
    // RFC 9110 §8.6: no Content-Length on 1xx/204/304.
    if (!status_has_body(status_))
        head.content_length.reset();
    if (!sink_.send_head(head))
        gone_ = true;
    return !gone_;
}

bool Response::send_buffer() {
    if (buffer_.empty() || head_only_) {
        buffer_.clear();
        return !gone_;
    }
    if (declared_length_ && sent_ + buffer_.size() > *declared_length_) {
        // More than the declared Content-Length: the front end would read
        // the excess as the next response. Cut the response off instead.
        throw std::logic_error("callback wrote more than its Content-Length of " +
                               std::to_string(*declared_length_) + " bytes");
    }
    sent_ += buffer_.size();
    if (!sink_.send_body(buffer_))
        gone_ = true;
    buffer_.clear();
    return !gone_;
}

bool Response::write(std::string_view data) {
    if (gone_)
        return false;
    if (finished_)
        throw std::logic_error("write after the response finished");
    if (head_only_ && committed_)
        return true;
    if (buffer_.size() + data.size() > buffer_limit_ && !committed_) {
        // Too much to hold: start streaming (with the declared length, if any).
        if (!commit(declared_length_))
            return false;
    }
    if (committed_ && data.size() >= buffer_limit_) {
        if (!send_buffer())
            return false;
        if (head_only_)
            return true;
        if (declared_length_ && sent_ + data.size() > *declared_length_)
            throw std::logic_error("callback wrote more than its Content-Length of " +
                                   std::to_string(*declared_length_) + " bytes");
        sent_ += data.size();
        if (!sink_.send_body(data))
            gone_ = true;
        return !gone_;
    }
    buffer_.append(data);
    if (committed_ && buffer_.size() >= buffer_limit_)
        return send_buffer();
    return true;
}

bool Response::flush() {
    if (gone_)
        return false;
    if (!committed_ && !commit(declared_length_))
        return false;
    return send_buffer_then(&ResponseSink::flush);
}

bool Response::send_buffer_then(bool (ResponseSink::*step)()) {
    if (!send_buffer())
        return false;
    if (!(sink_.*step)())
        gone_ = true;
    return !gone_;
}

bool Response::finish() {
    if (finished_)
        return !gone_;
    if (!committed_ && declared_length_ && !head_only_ && status_has_body(status_) &&
        buffer_.size() != *declared_length_) {
        // Never send a length other than the one declared, nor a body that
        // does not match it: the callback's error (a 500, nothing sent).
        throw std::logic_error("callback declared a Content-Length of " +
                               std::to_string(*declared_length_) + " bytes and wrote " +
                               std::to_string(buffer_.size()));
    }
    finished_ = true;
    if (gone_)
        return false;
    if (!committed_) {
        // The whole body is here: send it with its length (RFC 9112 §6.3);
        // HEAD sends the length the callback declared, if it did.
        const std::uint64_t length =
            head_only_ && declared_length_ ? *declared_length_ : buffer_.size();
        if (!commit(length))
            return false;
    } else if (declared_length_ && sent_ + buffer_.size() != *declared_length_ && !head_only_) {
        if (sent_ + buffer_.size() < *declared_length_) {
            // Fewer bytes than declared: the front end must see it cut off.
            send_buffer();
            abort();
            return false;
        }
    }
    return send_buffer_then(&ResponseSink::finish);
}

bool Response::write_file(int fd, std::uint64_t offset, std::uint64_t count) {
    if (gone_)
        return false;
    if (finished_)
        throw std::logic_error("write after the response finished");
    if (!committed_ && !commit(declared_length_))
        return false;
    if (!send_buffer())
        return false;
    if (head_only_ || count == 0)
        return true;
    if (declared_length_ && sent_ + count > *declared_length_)
        throw std::logic_error("callback wrote more than its Content-Length of " +
                               std::to_string(*declared_length_) + " bytes");
    sent_ += count;
    if (!sink_.send_file(fd, offset, count))
        gone_ = true;
    return !gone_;
}

bool ResponseSink::send_file(int fd, std::uint64_t offset, std::uint64_t count) {
    // Not zeroed: pread fills what is sent.
    const auto size = static_cast<std::size_t>(std::min<std::uint64_t>(count, 64 * 1024));
    const auto buf = std::make_unique_for_overwrite<char[]>(size);
    while (count > 0) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(count, size));
        const ssize_t n = ::pread(fd, buf.get(), want, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw std::system_error(errno, std::generic_category(), "reading the file to send");
        if (n == 0)
            throw std::runtime_error("the file to send ended " + std::to_string(count) +
                                     " bytes early (truncated while being sent)");
        if (!send_body(std::string_view(buf.get(), static_cast<std::size_t>(n))))
            return false;
        offset += static_cast<std::uint64_t>(n);
        count -= static_cast<std::uint64_t>(n);
    }
    return true;
}

void Response::abort() {
    finished_ = true;
    sink_.abort();
    gone_ = true;
}

void Response::reset() {
    if (committed_)
        throw std::logic_error("response reset after the head was sent");
    status_ = 200;
    headers_.clear();
    buffer_.clear();
    declared_length_.reset();
}

}  // namespace postern
