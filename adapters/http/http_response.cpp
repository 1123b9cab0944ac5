// HttpConnection as a ResponseSink: the status line and header block
// (RFC 9112 §4, §6), the body as sent (Content-Length, chunked, or up to the
// close) and the send loop with the write timeout. Reading the request is
// in http_connection.cpp.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "core/detached.hpp"
#include "core/http_head.hpp"
#include "core/log.hpp"
#include "core/send_all.hpp"
#include "http/http_connection.hpp"

namespace postern::http {

namespace {

void append_number(std::string& out, std::uint64_t n, int base = 10) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), n, base);
    out.append(buf, r.ptr);
}

/// A detached HTTP response (core/detached.hpp): the framing chosen as
/// send_head chooses it, without keep-alive (the connection closes at the
/// end), or the one the head already sent chose.
class HttpDetachedFraming final : public DetachedFraming {
  public:
    enum class Body { length, chunked, close_delimited, none };

    HttpDetachedFraming(int fd, int minor, bool head_request, std::optional<Body> sent,
                        InputBuffer& in)
        : fd_(fd), minor_(minor), head_request_(head_request), in_(&in) {
        if (sent)
            body_ = *sent;
    }

    int fd() const noexcept override { return fd_; }

    void head(const ResponseHead& head, std::string& out) override {
        HttpFraming framing;
        framing.date = true;
        if (head.status == 101) {
            // RFC 9110 §15.2.2, RFC 6455 §4.2.2: the head as given, then the
            // connection carries the new protocol.
            body_ = Body::close_delimited;
            append_http_head(out, head.status, head.headers, framing);
            return;
        }
        framing.connection = HttpFraming::Connection::close;
        if (head.head_only || head_request_ || !status_has_body(head.status)) {
            body_ = Body::none;
            if (head.content_length && status_has_body(head.status))
                framing.content_length = head.content_length;
        } else if (head.content_length) {
            body_ = Body::length;
            framing.content_length = head.content_length;
        } else if (minor_ >= 1) {
            body_ = Body::chunked;
            framing.chunked = true;
        } else {
            body_ = Body::close_delimited;
        }
        append_http_head(out, head.status, head.headers, framing);
    }

    void body(std::string_view data, std::string& out) override {
        switch (body_) {
            case Body::none:
                return;
            case Body::chunked:
                append_number(out, data.size(), 16);
                out += "\r\n";
                out += data;
                out += "\r\n";
                return;
            case Body::length:
            case Body::close_delimited:
                out += data;
                return;
        }
    }

    void end(std::string& out) override {
        if (body_ == Body::chunked)
            out += "0\r\n\r\n";  // RFC 9112 §7.1: last-chunk
    }

    /// Called once, when the channel is attached: after the core read the
    /// request body, before the connection can go away. What the client
    /// sent past the request is the new protocol's (a WebSocket's first
    /// frames); the connection carries no other request.
    std::string take_input() override {
        std::string input(in_->data());
        in_->release();  // an idle stream holds no buffer
        return input;
    }

  private:
    int fd_;
    int minor_;
    bool head_request_;
    Body body_ = Body::none;
    InputBuffer* in_;
};

}  // namespace

std::unique_ptr<DetachedFraming> HttpConnection::detach_framing() {
    std::optional<HttpDetachedFraming::Body> sent;
    if (head_sent_) {
        if (no_body_)
            sent = HttpDetachedFraming::Body::none;
        else if (body_out_ == BodyOut::chunked)
            sent = HttpDetachedFraming::Body::chunked;
        else if (body_out_ == BodyOut::length)
            sent = HttpDetachedFraming::Body::length;
        else
            sent = HttpDetachedFraming::Body::close_delimited;
    }
    finished_ = true;
    force_close_ = true;
    std::string().swap(out_);  // flushed before the detach; the channel has its own
    return std::make_unique<HttpDetachedFraming>(fd(), minor_, head_request_, sent, in_);
}

bool HttpConnection::send_head(const ResponseHead& head) {
    if (head_sent_)
        return !gone_;
    head_sent_ = true;
    // RFC 9110 §9.3.2, §15.3.5, §15.4.5, RFC 9112 §6.3 rule 1: no body.
    no_body_ = head.head_only || head_request_ || !status_has_body(head.status);
    keep_alive_ = client_keep_alive_ && !force_close_;
    // RFC 9110 §10.1.1: a final response before the body the client was
    // told to wait for: whether that body will come is unknown, so this
    // response ends the connection.
    if (continue_pending_)
        keep_alive_ = false;
    // The body failed, or the core refuses it (413) or gave up waiting for
    // it (408) before it was read: the core will not read the rest, so the
    // connection ends, and the response says so (RFC 9112 §9.6).
    if (body_failed_ || (!body_done_ && (head.status == 413 || head.status == 408)))
        keep_alive_ = false;

    // RFC 9110 §6.6.1: an origin server with a clock sends Date.
    HttpFraming framing;
    framing.date = true;
    if (no_body_) {
        // HEAD: the length a GET would have had (RFC 9110 §9.3.2).
        if (head.content_length && status_has_body(head.status))
            framing.content_length = head.content_length;
    } else if (head.content_length) {
        body_out_ = BodyOut::length;
        out_left_ = *head.content_length;
        framing.content_length = head.content_length;
    } else if (minor_ >= 1) {
        body_out_ = BodyOut::chunked;  // RFC 9112 §7.1
        framing.chunked = true;
    } else {
        // RFC 9112 §6.3 rule 8: for an HTTP/1.0 client, closing the
        // connection is the only way to end a body of unknown length.
        body_out_ = BodyOut::close_delimited;
        keep_alive_ = false;
    }
    // RFC 9112 §9.6 and §C.2.2 (HTTP/1.0 keep-alive).
    if (!keep_alive_)
        framing.connection = HttpFraming::Connection::close;
    else if (minor_ == 0)
        framing.connection = HttpFraming::Connection::keep_alive;
    out_.clear();
    append_http_head(out_, head.status, head.headers, framing);
    return true;  // goes out with the first body bytes, or at flush/finish
}

bool HttpConnection::send_pending(std::string_view data, bool chunk_end) {
    static constexpr char kCrlf[] = "\r\n";
    iovec iov[3];
    int count = 0;
    if (!out_.empty())
        iov[count++] = {out_.data(), out_.size()};
    if (!data.empty())
        iov[count++] = {const_cast<char*>(data.data()), data.size()};
    if (chunk_end)
        iov[count++] = {const_cast<char*>(kCrlf), 2};
    int first = 0;
    while (first < count) {
        msghdr msg{};
        msg.msg_iov = iov + first;
        msg.msg_iovlen = static_cast<std::size_t>(count - first);
        ssize_t n = send_waiting(fd(), msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            gone_ = true;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                log::warn("client " + peer().describe() + " did not read the response for " +
                          std::to_string(settings_.write_timeout.count()) +
                          " ms; closing the connection");
            else
                log::debug("client " + peer().describe() + " went away: " + std::strerror(errno));
            out_.clear();
            return false;
        }
        auto sent = static_cast<std::size_t>(n);
        while (first < count && sent >= iov[first].iov_len)
            sent -= iov[first++].iov_len;
        if (first < count) {
            iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + sent;
            iov[first].iov_len -= sent;
        }
    }
    out_.clear();
    return true;
}

bool HttpConnection::send_body(std::string_view data) {
    if (gone_)
        return false;
    if (no_body_ || data.empty() || finished_)
        return true;
    switch (body_out_) {
        case BodyOut::length:
            if (data.size() > out_left_) {
                // Past the Content-Length it would be read as the next
                // response; the core prevents it, this keeps the wire sane.
                log::error("application response to " + peer().describe() +
                           " is longer than its Content-Length; cutting it off");
                data = data.substr(0, static_cast<std::size_t>(out_left_));
                broken_ = true;
            }
            out_left_ -= data.size();
            break;
        case BodyOut::chunked:
            append_number(out_, data.size(), 16);  // RFC 9112 §7.1: chunk-size CRLF data CRLF
            out_ += "\r\n";
            if (out_.size() + data.size() + 2 <= kCoalesce) {
                out_ += data;
                out_ += "\r\n";
                return true;
            }
            return send_pending(data, true);
        case BodyOut::close_delimited:
            break;
    }
    if (out_.size() + data.size() <= kCoalesce) {
        out_ += data;
        return true;
    }
    return send_pending(data);
}

bool HttpConnection::send_file(int file, std::uint64_t offset, std::uint64_t count) {
    if (gone_)
        return false;
    if (no_body_ || count == 0 || finished_)
        return true;
    if (body_out_ == BodyOut::chunked || count < kCoalesce)
        return ResponseSink::send_file(file, offset, count);
    if (body_out_ == BodyOut::length) {
        if (count > out_left_) {
            // As in send_body: the core prevents it, this keeps the wire sane.
            log::error("application response to " + peer().describe() +
                       " is longer than its Content-Length; cutting it off");
            count = out_left_;
            broken_ = true;
        }
    }
    // The head and what was gathered go first; the file follows unframed.
    if (!out_.empty() && !send_pending())
        return false;
    switch (send_file_all(fd(), file, offset, count, settings_.write_timeout)) {
        case SendFile::sent:
            break;
        case SendFile::unsupported:
            return ResponseSink::send_file(file, offset, count);
        case SendFile::failed:
            gone_ = true;
            log_send_failure(errno, "client " + peer().describe(), settings_.write_timeout);
            return false;
    }
    if (body_out_ == BodyOut::length)
        out_left_ -= count;
    return true;
}

bool HttpConnection::flush() {
    if (gone_)
        return false;
    return out_.empty() || send_pending();
}

bool HttpConnection::finish() {
    if (gone_)
        return false;
    if (finished_)
        return true;
    finished_ = true;
    if (!no_body_ && body_out_ == BodyOut::chunked)
        out_ += "0\r\n\r\n";  // RFC 9112 §7.1: last-chunk
    if (!no_body_ && body_out_ == BodyOut::length && out_left_ > 0)
        broken_ = true;
    return out_.empty() || send_pending();
}

void HttpConnection::abort() {
    // The response must look cut off: what is not sent is dropped and the
    // connection closes before the last chunk or the Content-Length is
    // reached (RFC 9112 §8). A close-delimited body has no such mark, so
    // the connection is reset instead of closed.
    finished_ = true;
    broken_ = true;
    out_.clear();
    if (!gone_ && head_sent_ && body_out_ == BodyOut::close_delimited && !no_body_) {
        linger l{1, 0};
        ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
}

}  // namespace postern::http
