#include "http/http_connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/blocking.hpp"
#include "core/input_wait.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "http/http_environ.hpp"

namespace postern::http {

namespace {

using Clock = std::chrono::steady_clock;

// Most request heads are a few hundred bytes; the buffer grows for longer
// ones (up to max_header_bytes) and shrinks back once the connection is idle,
// so thousands of idle connections cost little memory.
constexpr std::size_t kInitialBuffer = 4 * 1024;
// A body with a Content-Length up to kMaxCollectedBody (core/input_wait.hpp)
// is read before the request is dispatched, while the connection waits in
// the reactor between reads, so a slow one costs no worker thread; the
// memory it costs is of the order of a request head's.

}  // namespace

HttpConnection::HttpConnection(int fd, Peer peer, const HttpSettings& settings)
    : Connection(fd, std::move(peer)), settings_(settings), in_(kInitialBuffer) {}

// ---------------------------------------------------------------------------
// Input buffer

HttpConnection::Io HttpConnection::fill() {
    // Never waits: a worker does not sit on a socket (see wait_for_body).
    // Only a head grows the buffer (a collected body reserves its room
    // first), and the codec refuses one longer than max_header_bytes.
    switch (in_.read_available(fd(), last_errno_)) {
        case Available::some:
            return Io::ok;
        case Available::nothing:
            return Io::again;
        case Available::eof:
            return Io::eof;
        case Available::failed:
            break;
    }
    return Io::failed;
}

// ---------------------------------------------------------------------------
// Waiting for a body

void HttpConnection::start_body_clock(std::uint64_t received) noexcept {
    body_waited_ = body_idle_ = Clock::duration::zero();
    body_received_ = received;
}

Clock::duration HttpConnection::body_wait_left() const noexcept {
    // mod_reqtimeout's body=T,MinRate=R: T for the first bytes, one more
    // second for every R bytes received; and, as Apache's Timeout, never T
    // without a byte.
    const Clock::duration timeout = settings_.read_timeout;
    Clock::duration left = timeout - body_idle_;
    if (settings_.min_body_rate > 0) {
        // In double, and capped at a year: a 4 GiB body at 1 byte/s would
        // overflow the clock's nanoseconds.
        const double credit = std::min(
            static_cast<double>(body_received_) / static_cast<double>(settings_.min_body_rate),
            365.0 * 24 * 3600);
        left = std::min(left, timeout +
                                  std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(credit)) -
                                  body_waited_);
    }
    return left;
}

HttpConnection::Io HttpConnection::wait_for_body() {
    const Clock::duration left = body_wait_left();
    if (left <= Clock::duration::zero())
        return body_idle_ >= settings_.read_timeout ? Io::timeout : Io::too_slow;
    // poll, not SO_RCVTIMEO: the wait ends at the rule's deadline, which is
    // often sooner than read_timeout; rounded up so that a wait that ends
    // empty has used its whole allowance.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd(), POLLIN, 0};
    const auto before = Clock::now();
    const int r = poll_waiting(p, static_cast<int>(std::min<std::int64_t>(ms, INT32_MAX)));
    const Clock::duration waited = Clock::now() - before;
    body_waited_ += waited;
    body_idle_ += waited;
    if (r < 0 && errno != EINTR) {
        last_errno_ = errno;
        return Io::failed;
    }
    return Io::ok;  // readable, or the time is up: the next read tells
}

HttpConnection::Io HttpConnection::receive_body(char* buffer, std::size_t size, std::size_t& got) {
    got = 0;
    for (;;) {
        ssize_t n = ::recv(fd(), buffer, size, MSG_DONTWAIT);
        if (n > 0) {
            got = static_cast<std::size_t>(n);
            body_received_ += got;
            body_idle_ = Clock::duration::zero();
            return Io::ok;
        }
        if (n == 0)
            return Io::eof;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            last_errno_ = errno;
            return Io::failed;
        }
        if (Io io = wait_for_body(); io != Io::ok)
            return io;
    }
}

HttpConnection::Io HttpConnection::fill_body() {
    for (;;) {
        const std::size_t before = in_.size();
        const Io io = fill();
        if (io == Io::ok) {
            // fill() may have moved the bytes, never dropped any.
            body_received_ += in_.size() - before;
            body_idle_ = Clock::duration::zero();
            return Io::ok;
        }
        if (io != Io::again)
            return io;
        if (Io waited = wait_for_body(); waited != Io::ok)
            return waited;
    }
}

// ---------------------------------------------------------------------------
// One request

void HttpConnection::begin_exchange(const RequestHead* head) {
    minor_ = head ? head->minor : 1;
    client_keep_alive_ = head ? head->keep_alive : false;
    head_request_ = head && head->method == "HEAD";
    framing_ = head ? head->framing : Framing::none;
    body_left_ = head ? head->content_length : 0;
    chunks_.reset();
    body_done_ = framing_ == Framing::none;
    body_failed_ = false;
    continue_pending_ = head && head->expect_continue;

    out_.clear();
    head_sent_ = finished_ = gone_ = broken_ = force_close_ = false;
    keep_alive_ = no_body_ = false;
    body_out_ = BodyOut::length;
    out_left_ = 0;
}

Connection::Next HttpConnection::head_timed_out() {
    head_deadline_.reset();
    clear_wait_deadline();
    // RFC 9110 §15.5.9: 408, and the connection is closed.
    return refuse(408, "client did not send a complete request head within " +
                           millis(settings_.read_timeout));
}

Connection::Next HttpConnection::refuse(int status, const std::string& reason) {
    begin_exchange(nullptr);
    force_close_ = true;
    settings_.app->refuse(*this, status, reason, peer(), "http");
    return Next::close;
}

Connection::Next HttpConnection::serve_request() {
    // RFC 9112 §9.3: a connection carries requests one after the other; the
    // head of one must arrive whole within read_timeout of its first byte.
    // A worker never waits for the rest of a head: while it is incomplete,
    // the connection waits in the reactor (Next::keep), which ends it at the
    // deadline. So slow clients (slowloris) hold no worker thread.
    RequestHead& head = head_;
    HeadResult parsed;
    need_input_ = false;
    if (collecting_) {
        if (auto wait = collect_body())
            return *wait;
    }
    for (;;) {
        parsed = parse_request_head(in_.data(), settings_.head_limits, head);
        if (parsed.status != Status::need_more)
            break;
        in_.consume(parsed.consumed);  // empty lines before a request
        const bool started = !in_.empty();
        if (started && !head_deadline_) {
            head_deadline_ = Clock::now() + settings_.read_timeout;
            set_wait_deadline(*head_deadline_);
        }
        if (head_deadline_ && Clock::now() >= *head_deadline_)
            return head_timed_out();
        const Io io = fill();
        if (io == Io::ok)
            continue;
        if (io == Io::again) {
            need_input_ = true;
            return Next::keep;  // nothing more yet: wait in the reactor
        }
        if (head_deadline_ && Clock::now() >= *head_deadline_)
            return head_timed_out();  // the reactor shut the reading side down
        if (started)
            log::info("client " + peer().describe() +
                      " closed the connection in the middle of a request head");
        return Next::close;  // end of file between requests: the client is done
    }
    head_deadline_.reset();
    clear_wait_deadline();
    if (parsed.status == Status::error) {
        refuse(parsed.code, "client sent a bad request head: " + parsed.reason + " (at byte " +
                                std::to_string(parsed.offset) + ")");
        return gone_ ? Next::close : drop_and_linger();
    }
    // A small body that is not all here yet is read now, waiting in the
    // reactor between reads as for the head, so a slow one (slow POST)
    // holds no worker either. The head stays in the buffer meanwhile, and
    // is parsed again once the body is whole: the bytes may have moved.
    if (!collecting_ && should_collect(head, parsed.consumed)) {
        if (!begin_collecting(head, parsed.consumed))
            return Next::close;
        if (auto wait = collect_body())
            return *wait;
        parsed = parse_request_head(in_.data(), settings_.head_limits, head);
    }
    collecting_ = false;

    Environ env = request_environ(head, peer(), settings_.trusted_proxies);
    begin_exchange(&head);
    in_.consume(parsed.consumed);  // the views in `head` are not used from here on
    if (framing_ == Framing::length && in_.size() >= body_left_) {
        // The body is here (collected, or sent with the head): no 100
        // Continue is due for it (RFC 9110 §10.1.1), and none was sent
        // unless collecting asked for it.
        continue_pending_ = false;
    } else if (!body_done_) {
        start_body_clock(in_.size());
    }

    Outcome outcome = settings_.app->handle("http", std::move(env), *this, *this, peer());
    if (outcome.channel)
        return detached(std::move(outcome.channel));

    const bool keep = outcome.reusable && finished_ && keep_alive_ && !broken_ && !gone_ &&
                      body_done_ && !body_failed_;
    if (!keep) {
        if (!gone_ && (!body_done_ || body_failed_))
            return drop_and_linger();
        return Next::close;
    }
    // Do not let one large head or response hold memory while idle.
    in_.shrink(4 * kInitialBuffer);
    if (out_.capacity() > 2 * kCoalesce)
        std::string().swap(out_);
    return Next::keep;
}

bool HttpConnection::should_collect(const RequestHead& head,
                                    std::size_t head_bytes) const noexcept {
    // Over max_body_bytes the core refuses the request (413) without its
    // body: nothing to wait for.
    return head.framing == Framing::length && head.content_length <= kMaxCollectedBody &&
           head.content_length <= settings_.max_body_bytes &&
           in_.data().size() - head_bytes < head.content_length;
}

bool HttpConnection::begin_collecting(const RequestHead& head, std::size_t head_bytes) {
    const bool expect_continue = head.expect_continue;
    collecting_ = true;
    collect_bytes_ = head_bytes + static_cast<std::size_t>(head.content_length);
    start_body_clock(in_.data().size() - head_bytes);
    waiting_since_.reset();
    in_.reserve(collect_bytes_);  // the views in `head` may be stale from here on
    // RFC 9110 §10.1.1: the body is wanted, so 100 now; a client that waits
    // for it would otherwise send nothing until its own timeout. (nginx
    // does the same when it reads a body for its upstream.)
    if (expect_continue && !send_continue()) {
        log::debug("client " + peer().describe() +
                   " went away before 100 Continue: " + std::strerror(last_errno_));
        collecting_ = false;
        return false;
    }
    return true;
}

std::optional<Connection::Next> HttpConnection::collect_body() {
    if (waiting_since_) {
        // The time in the reactor was spent waiting for this client.
        const Clock::duration waited = Clock::now() - *waiting_since_;
        body_waited_ += waited;
        body_idle_ += waited;
        waiting_since_.reset();
    }
    for (;;) {
        if (in_.data().size() >= collect_bytes_) {
            clear_wait_deadline();
            return std::nullopt;
        }
        const std::size_t before = in_.data().size();
        const Io io = fill();
        if (io == Io::ok) {
            body_received_ += in_.data().size() - before;
            body_idle_ = Clock::duration::zero();
            continue;
        }
        // The body rule of read(), with the reactor's wait deadline for poll.
        const Clock::duration left = body_wait_left();
        if (io == Io::again && left > Clock::duration::zero()) {
            const auto now = Clock::now();
            waiting_since_ = now;
            set_wait_deadline(now + left);
            need_input_ = true;
            return Next::keep;
        }
        // Out of time, or the end of file the reactor makes at the deadline.
        if (io == Io::again || (io == Io::eof && left <= Clock::duration::zero()))
            return body_timed_out();
        collecting_ = false;
        clear_wait_deadline();
        if (io == Io::eof)
            log::info("client " + peer().describe() +
                      " closed the connection in the middle of a request body");
        else
            log::debug("reading a request body from " + peer().describe() +
                       " failed: " + std::strerror(last_errno_));
        return Next::close;
    }
}

Connection::Next HttpConnection::body_timed_out() {
    collecting_ = false;
    waiting_since_.reset();
    clear_wait_deadline();
    // RFC 9110 §15.5.9: 408, and the connection is closed.
    refuse(408, late_body_reason(body_idle_ >= settings_.read_timeout));
    return gone_ ? Next::close : drop_and_linger();
}

std::string HttpConnection::late_body_reason(bool silent) const {
    if (silent)
        return "client " + peer().describe() + " sent no request body bytes for " +
               millis(settings_.read_timeout);
    return "client " + peer().describe() + " sent its request body slower than " +
           std::to_string(settings_.min_body_rate) + " bytes/s beyond the first " +
           millis(settings_.read_timeout) + " (" + std::to_string(body_received_) + " bytes in " +
           millis(std::chrono::duration_cast<std::chrono::milliseconds>(body_waited_)) +
           " of waiting)";
}

bool HttpConnection::send_continue() {
    static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
    ssize_t n;
    do
        n = ::send(fd(), k100.data(), k100.size(), MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(k100.size()))
        return true;
    // Short only when the write timeout expired part-way: the client does
    // not read what it is sent.
    last_errno_ = n < 0 ? errno : ETIMEDOUT;
    return false;
}

Connection::Next HttpConnection::drop_and_linger() {
    // Nothing read from here on is used.
    in_.release();
    std::string().swap(out_);
    need_input_ = true;
    return start_linger();
}

// ---------------------------------------------------------------------------
// BodySource

void HttpConnection::body_failed(Io io) {
    body_failed_ = true;
    switch (io) {
        case Io::timeout:
        case Io::too_slow:
            throw RequestError(408, late_body_reason(io == Io::timeout));
        case Io::eof:
            throw RequestError(400,
                               "client " + peer().describe() +
                                   " closed the connection before the end of the request body");
        default:
            throw RequestError(400, "reading the request body from " + peer().describe() +
                                        " failed: " + std::strerror(last_errno_));
    }
}

std::size_t HttpConnection::read(char* buffer, std::size_t size) {
    if (body_done_ || size == 0)
        return 0;
    if (body_failed_)
        throw RequestError(400, "request body already failed");
    if (continue_pending_) {
        if (finished_) {
            // The response went out without a 100 (the callback never read
            // the body), so the client may never send it: do not wait for
            // it. The response said "Connection: close" (send_head), so
            // the connection ends here and nothing is left out of step.
            return 0;
        }
        continue_pending_ = false;
        // RFC 9110 §10.1.1: send 100 only when the body is wanted, and
        // never after the final response has started.
        if (!head_sent_ && !send_continue())
            body_failed(Io::failed);
    }

    if (framing_ == Framing::length) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, body_left_));
        std::size_t got = 0;
        if (!in_.empty()) {
            got = in_.take(buffer, want);
        } else if (Io io = receive_body(buffer, want, got); io != Io::ok) {
            // Straight into the caller's buffer, and never past the body: a
            // pipelined request after it stays in the socket.
            body_failed(io);
        }
        body_left_ -= got;
        if (body_left_ == 0)
            body_done_ = true;
        return got;
    }

    // Framing::chunked (RFC 9112 §7.1).
    for (;;) {
        if (!in_.empty()) {
            ChunkedDecoder::Step step = chunks_.decode(in_.data(), buffer, size);
            in_.consume(step.consumed);
            if (step.status == Status::error) {
                body_failed_ = true;
                throw RequestError(step.code, "client " + peer().describe() +
                                                  " sent a malformed chunked body: " + step.reason +
                                                  " (at byte " + std::to_string(step.offset) + ")");
            }
            if (step.status == Status::done)
                body_done_ = true;
            if (step.produced > 0 || body_done_)
                return step.produced;
        }
        if (std::uint64_t left = chunks_.data_left(); left > 0) {
            std::size_t got = 0;
            std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size, left));
            if (Io io = receive_body(buffer, want, got); io != Io::ok)
                body_failed(io);
            chunks_.consume_data(got);
            return got;
        }
        if (Io io = fill_body(); io != Io::ok)
            body_failed(io);
    }
}

}  // namespace postern::http
