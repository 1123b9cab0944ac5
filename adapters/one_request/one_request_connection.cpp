#include "one_request/one_request_connection.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "core/detached.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/send_all.hpp"
#include "core/status.hpp"
#include "core/text.hpp"

namespace postern {

namespace {

using Clock = std::chrono::steady_clock;

// The header is read in pieces of this size; the body goes straight into
// the callback's buffer once the bytes that came with the header are used.
constexpr std::size_t kReadSize = 16 * 1024;
// Response bytes are gathered up to this size before a write.
constexpr std::size_t kCoalesce = 64 * 1024;

}  // namespace

OneRequestSettings one_request_settings(App& app, const Options& options) {
    OneRequestSettings s;
    s.app = &app;
    s.max_header_bytes = options.limits.max_params_bytes;
    s.max_params = options.limits.max_params;
    s.read_timeout = options.limits.read_timeout;
    s.min_body_rate = options.limits.min_body_rate;
    s.write_timeout = options.limits.write_timeout;
    return s;
}

OneRequestConnection::OneRequestConnection(int fd, Peer peer, const OneRequestSettings& settings)
    : Connection(fd, std::move(peer)),
      settings_(settings),
      wait_(settings.read_timeout, settings.min_body_rate),
      body_rate_(settings.read_timeout, settings.min_body_rate),
      in_(kReadSize) {}

Connection::Next OneRequestConnection::serve_one() {
    return serve_request();
}

Connection::Next OneRequestConnection::serve_request() {
    const std::string who = "front end " + peer().describe();
    // The request arrives in the reactor (input_wait.hpp): decode what is
    // there; take more while the socket has it; wait without a thread when
    // it has none.
    Head head;
    for (;;) {
        head = decode_head(in_.data());
        const bool head_done = head.status == Head::Status::done;
        if (head.status == Head::Status::error ||
            (head_done &&
             (head.body > kMaxCollectedBody || in_.size() - head.consumed >= head.body)))
            break;
        int error = 0;
        const std::size_t had = in_.size();
        const Available got = in_.read_available(fd(), error);
        if (got == Available::some) {
            wait_.start();
            if (head_done)
                wait_.body_received(in_.size() - had);
            continue;
        }
        if (got == Available::nothing) {
            // Nothing of a request yet (a spurious wake-up), or the rest is
            // on its way: wait in the reactor.
            if (wait_.started())
                set_wait_deadline(wait_.deadline());
            return Next::keep;
        }
        clear_wait_deadline();
        const bool expired = wait_.expired();
        const std::string what = head_done ? " request header and body" : " request header";
        if (got == Available::eof && expired) {
            status::count_malformed(peer().listener, status::Malformed::timeout);
            return refuse(
                408,
                "the whole " + std::string(wire_name()) + what + " did not arrive within " +
                    millis(wait_.waited()) + " (--read-timeout " + millis(settings_.read_timeout) +
                    ", --min-body-rate " + std::to_string(settings_.min_body_rate) + " B/s)",
                false);
        } else if (got == Available::eof && head_done) {
            // The front end half-closed with the body short: it may still
            // read the answer, as when the callback finds the body cut.
            return refuse(400,
                          "front end closed the connection with " +
                              std::to_string(head.body - (in_.size() - head.consumed)) +
                              " bytes of the " + std::string(wire_name()) +
                              " request body still to come",
                          false);
        }
        if (got == Available::failed) {
            log::warn("reading a " + std::string(wire_name()) + what + " from " + who +
                      " failed: " + std::strerror(error));
        } else if (wait_.started()) {
            log::info(who + " closed the connection in the middle of a " +
                      std::string(wire_name()) + what);
        }
        return Next::close;
    }
    clear_wait_deadline();
    wait_.reset();
    if (head.status == Head::Status::error) {
        // App::refuse logs it, naming the front end.
        return refuse(head.refuse_status,
                      "bad " + std::string(wire_name()) + " request: " + head.reason, false);
    }
    in_.consume(head.consumed);
    body_left_ = head.body;
    const std::string* method = find_var(head.env, "REQUEST_METHOD");
    head_request_ = method != nullptr && *method == "HEAD";

    const std::size_t buffered = in_.size();
    if (buffered > body_left_) {
        // One request per connection: whatever follows the body is not a
        // next request, and a front end that sends it is out of step.
        return refuse(400,
                      std::to_string(buffered - body_left_) + " bytes after the " +
                          std::string(wire_name()) + " request body (one request per connection)",
                      head_request_);
    }

    Outcome outcome = settings_.app->handle(protocol(), std::move(head.env), *this, *this, peer());
    if (outcome.channel) {
        // Detached: the channel sends the rest and closes the connection
        // (one request per connection, as always). A response already cut
        // (the front end gone, abort()) ends at once.
        if (aborted_ || gone_)
            outcome.channel->cut();
        return detached(std::move(outcome.channel));
    }
    if (aborted_)
        return Next::close;  // ~Connection closes the descriptor: a reset (abort())
    if (gone_) {
        // The response was cut (the front end went away, or stopped reading
        // for --write-timeout): no lingering for a front end that does not
        // read, and a reset rather than a clean end, which would make a cut
        // body of unknown length look whole.
        abort();
        return Next::close;
    }
    // The whole request was read and nothing followed it: close at once.
    // Lingering (in the reactor) is for bytes still on their way, which a
    // close would answer with a reset that can destroy the response before
    // it is read.
    int pending = 0;
    if (!body_failed_ && body_left_ == 0 && in_.empty() && ::ioctl(fd(), FIONREAD, &pending) == 0 &&
        pending == 0)
        return Next::close;
    return start_linger();
}

Connection::Next OneRequestConnection::refuse(int status, const std::string& reason,
                                              bool head_only) {
    body_failed_ = true;  // the body is never read
    settings_.app->refuse(*this, status, reason, peer(), protocol(), head_only);
    return start_linger();
}

// ---------------------------------------------------------------------------
// BodySource

void OneRequestConnection::body_failed(int status, const std::string& why) {
    body_failed_ = true;
    throw RequestError(status, why);
}

std::size_t OneRequestConnection::read(char* buffer, std::size_t size) {
    if (body_failed_)
        throw RequestError(400, "request body already failed");
    if (body_left_ == 0) {
        if (!trailing_checked_) {
            // The end of the body: nothing may follow it.
            trailing_checked_ = true;
            char probe;
            const bool more = !in_.empty() || ::recv(fd(), &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
            if (more) {
                log::warn("front end " + peer().describe() + " sent bytes after the " +
                          std::string(wire_name()) + " request body (one request per connection)");
                body_failed(400, "bytes after the " + std::string(wire_name()) + " request body");
            }
        }
        return 0;
    }
    if (size == 0)
        return 0;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, body_left_));
    if (!in_.empty()) {
        const std::size_t n = in_.take(buffer, want);
        body_left_ -= n;
        return n;
    }
    for (;;) {
        wait_for_body();
        const ssize_t n = ::recv(fd(), buffer, want, MSG_DONTWAIT);
        if (n > 0) {
            body_left_ -= static_cast<std::size_t>(n);
            body_rate_.received(static_cast<std::size_t>(n));
            return static_cast<std::size_t>(n);
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n == 0)
            body_failed(400, "front end " + peer().describe() + " closed the connection with " +
                                 std::to_string(body_left_) +
                                 " bytes of the request body still to come");
        body_failed(400, "reading the request body from " + peer().describe() +
                             " failed: " + std::strerror(errno));
    }
}

void OneRequestConnection::wait_for_body() {
    int error = 0;
    switch (body_rate_.wait_readable(fd(), error)) {
        case BodyRate::Wait::ready:
            return;
        case BodyRate::Wait::silent:
            body_failed(408, "front end " + peer().describe() + " sent no request body for " +
                                 millis(settings_.read_timeout));
        case BodyRate::Wait::too_slow:
            body_failed(408, "front end " + peer().describe() +
                                 " sent its request body slower than " +
                                 std::to_string(settings_.min_body_rate) +
                                 " bytes a second (--min-body-rate) after " +
                                 std::to_string(body_rate_.bytes()) + " bytes");
        case BodyRate::Wait::failed:
            break;
    }
    body_failed(400, "waiting for the request body from " + peer().describe() +
                         " failed: " + std::strerror(error));
}

// ---------------------------------------------------------------------------
// ResponseSink

bool OneRequestConnection::send_out() {
    if (send_response(fd(), out_, peer(), settings_.write_timeout))
        return true;
    gone_ = true;
    return false;
}

bool OneRequestConnection::send_head(const ResponseHead& head) {
    if (head_sent_)
        return !gone_;
    head_sent_ = true;
    no_body_ = head.head_only || head_request_ || !status_has_body(head.status);
    out_ = encode_head(head);
    return true;  // goes out with the first body bytes, or at flush/finish
}

bool OneRequestConnection::send_body(std::string_view data) {
    if (gone_)
        return false;
    if (no_body_ || finished_ || data.empty())
        return true;
    if (out_.size() + data.size() <= kCoalesce) {
        out_ += data;
        return true;
    }
    if (!out_.empty() && !send_out())
        return false;
    out_.assign(data);
    return send_out();
}

bool OneRequestConnection::send_file(int file, std::uint64_t offset, std::uint64_t count) {
    if (gone_)
        return false;
    if (no_body_ || finished_ || count == 0)
        return true;
    if (count < kCoalesce)
        return ResponseSink::send_file(file, offset, count);
    if (!out_.empty() && !send_out())
        return false;
    switch (send_file_all(fd(), file, offset, count, settings_.write_timeout)) {
        case SendFile::sent:
            return true;
        case SendFile::unsupported:
            return ResponseSink::send_file(file, offset, count);
        case SendFile::failed:
            break;
    }
    gone_ = true;
    log_send_failure(errno, "front end " + peer().describe(), settings_.write_timeout);
    return false;
}

bool OneRequestConnection::flush() {
    if (gone_)
        return false;
    return out_.empty() || send_out();
}

bool OneRequestConnection::finish() {
    if (gone_)
        return false;
    if (finished_)
        return true;
    finished_ = true;
    return out_.empty() || send_out();
}

// ---------------------------------------------------------------------------
// A detached response

namespace {

/// The framing of a detached SCGI or uwsgi response (core/detached.hpp):
/// the protocol's head, then raw body bytes; the close ends the body. The
/// descriptor resets on close (SO_LINGER 0, set by detach_framing) until
/// end() is framed: a stream cut short must not look complete.
class OneRequestDetachedFraming final : public DetachedFraming {
  public:
    using EncodeHead = std::function<std::string(const ResponseHead&)>;

    OneRequestDetachedFraming(int fd, bool head_request, bool no_body, EncodeHead encode) noexcept
        : fd_(fd), head_request_(head_request), no_body_(no_body), encode_(std::move(encode)) {}

    int fd() const noexcept override { return fd_; }

    void head(const ResponseHead& head, std::string& out) override {
        no_body_ = head.head_only || head_request_ || !status_has_body(head.status);
        out += encode_(head);
    }

    void body(std::string_view data, std::string& out) override {
        if (!no_body_)
            out += data;
    }

    void end(std::string&) override {
        // The whole response is queued: a plain close after it (what is
        // queued is sent before the channel lets the connection close).
        linger off{0, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
    }

  private:
    int fd_;
    bool head_request_;
    bool no_body_;
    EncodeHead encode_;
};

}  // namespace

std::unique_ptr<DetachedFraming> OneRequestConnection::detach_framing() {
    // Response::detach flushed what the sink held; be safe with out_ anyway.
    if (!out_.empty() && !gone_)
        send_out();
    out_.clear();
    finished_ = true;
    linger reset{1, 0};
    ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    // The connection outlives its channel (the reactor destroys it only
    // once the channel has ended), so the head's encoder may call back.
    return std::make_unique<OneRequestDetachedFraming>(
        fd(), head_request_, head_sent_ && no_body_,
        [this](const ResponseHead& head) { return encode_head(head); });
}

void OneRequestConnection::abort() {
    if (aborted_)
        return;
    aborted_ = true;
    finished_ = true;
    out_.clear();
    // A body of unknown length ends at the close, so a plain close would
    // read as a complete response: close with a reset instead (SO_LINGER 0),
    // which nginx and Apache report as an upstream error.
    linger lin{1, 0};
    ::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
}

}  // namespace postern
