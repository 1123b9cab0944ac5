#include "fastcgi/fastcgi_connection.hpp"

#include <fcgiapp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "core/decimal.hpp"
#include "core/decode.hpp"
#include "core/detached.hpp"
#include "core/environ.hpp"
#include "core/log.hpp"
#include "core/log_escape.hpp"
#include "core/send_all.hpp"
#include "core/status.hpp"
#include "fastcgi/fcgx_body.hpp"
#include "fastcgi/fcgx_sink.hpp"
#include "fastcgi/record.hpp"

namespace postern::fastcgi {

namespace {

using Clock = std::chrono::steady_clock;

// The read and params buffers a kept connection holds on to between
// requests, at most (a request head through nginx's stock params is about
// 1 KiB); a larger one is freed, as the HTTP adapter frees its own.
constexpr std::size_t kKeptBuffer = 4 * 1024;

void keep_small(std::string& buffer) noexcept {
    buffer.clear();
    if (buffer.capacity() > kKeptBuffer)
        std::string().swap(buffer);
}

/// A libfcgi request that is always freed: FCGX_Free(request, 0) releases
/// the streams and params without writing a byte or closing the
/// descriptor, and does nothing once FCGX_Finish_r or a failed
/// FCGX_Accept_r freed them.
struct LibfcgiRequest {
    FCGX_Request r;
    LibfcgiRequest() noexcept { FCGX_InitRequest(&r, -1, 0); }
    ~LibfcgiRequest() { FCGX_Free(&r, 0); }
    LibfcgiRequest(const LibfcgiRequest&) = delete;
    LibfcgiRequest& operator=(const LibfcgiRequest&) = delete;
};

std::optional<std::uint64_t> content_length_of(const Environ& env) {
    // A malformed one is refused with 400 by the core.
    const std::string* cl = find_var(env, "CONTENT_LENGTH");
    return cl == nullptr ? std::nullopt : parse_length(*cl);
}

std::string role_name(int role) {
    switch (role) {
        case 1:
            return "FCGI_RESPONDER";
        case 2:
            return "FCGI_AUTHORIZER";
        case 3:
            return "FCGI_FILTER";
        default:
            return "unknown role " + std::to_string(role);
    }
}

}  // namespace

bool FastCgiConnection::send_answers() {
    if (!send_all(fd(), validator_->answers()))
        return false;
    validator_->answers().clear();
    return true;
}

std::optional<Connection::Next> FastCgiConnection::collect() {
    // Bytes are read into the thread's scratch buffer, then filtered onto
    // the end of pre_: only what arrived is copied, and an idle connection
    // holds no read buffer larger than kKeptBuffer.
    constexpr std::size_t kRead = 16 * 1024;
    thread_local char scratch[kRead];
    if (!validator_)
        validator_.emplace(max_params_bytes_, values_);
    RecordValidator& v = *validator_;
    const auto nothing_yet = [&] { return v.request_bytes() == 0 && v.held_back() == 0; };
    for (;;) {
        if (v.status() == RecordValidator::Status::done) {
            // Bytes carried over are taken whatever the body's size: libfcgi
            // reads the rest from the socket, after them.
            if (v.body_complete() ||
                (carry_.empty() && pre_.size() - head_bytes_ >= kMaxCollectedBody))
                return std::nullopt;
        }
        const std::size_t had = pre_.size();
        ssize_t n;
        if (!carry_.empty()) {
            // Bytes read with the last request, sent before it was answered.
            n = static_cast<ssize_t>(std::min(carry_.size(), kRead));
            std::memcpy(scratch, carry_.data(), static_cast<std::size_t>(n));
            carry_.erase(0, static_cast<std::size_t>(n));
        } else {
            do
                n = ::recv(fd(), scratch, kRead, MSG_DONTWAIT);
            while (n < 0 && errno == EINTR);
            // Less than asked for: the socket was read dry (a stream
            // socket's recv takes all it has, up to the size).
            if (n > 0)
                read_dry_ = static_cast<std::size_t>(n) < kRead;
        }
        if (n > 0) {
            const bool head_done = v.status() == RecordValidator::Status::done;
            // The header bytes held back from the last read come out first.
            pre_.resize(had + v.held_back() + static_cast<std::size_t>(n));
            const std::size_t kept =
                v.filter(scratch, static_cast<std::size_t>(n), pre_.data() + had);
            pre_.resize(had + kept);
            if (v.ended() && v.taken() < static_cast<std::size_t>(n)) {
                // The next request began in the same read: it waits, ahead
                // of whatever was carried over after it, for its own
                // validator (pending() has the reactor serve it at once).
                carry_.insert(0, scratch + v.taken(), static_cast<std::size_t>(n) - v.taken());
            }
            if (!head_done && v.status() == RecordValidator::Status::done)
                head_bytes_ = had;  // at most: the head ended in this read
            if (v.status() == RecordValidator::Status::error) {
                clear_wait_deadline();
                log_bad_head(v, ReadGuard::Failure::malformed, 0, Clock::now());
                return Next::close;
            }
            if (!v.answers().empty() && !send_answers()) {
                clear_wait_deadline();
                log_bad_head(v, ReadGuard::Failure::write_error, errno, Clock::now());
                return Next::close;
            }
            if (!nothing_yet()) {
                wait_.start();
                if (head_done)
                    wait_.body_received(kept);
            }
            continue;
        }
        const int error = errno;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
            // Nothing of a request (only management records, answered, or
            // a spurious wake-up), or the rest is on its way: wait in the
            // reactor.
            if (wait_.started())
                set_wait_deadline(wait_.deadline());
            else
                validator_.reset();  // idle: the next request counts afresh
            note_drained();
            return Next::keep;
        }
        clear_wait_deadline();
        if (nothing_yet() && (n == 0 || error == ECONNRESET)) {
            // A front end closes idle kept connections whenever it likes
            // (nginx's keepalive_timeout, a full pool): not an error. It
            // resets one when it closes with bytes of the last response
            // still unread, as nginx does when its client went away
            // mid-response; as the HTTP adapter does for a client, that is
            // not logged above debug either.
            log::debug("front end " + peer().describe() + (n == 0 ? " closed" : " reset") +
                       " its idle FastCGI connection");
        } else if (n == 0 && wait_.expired()) {
            status::count_malformed(peer().listener, status::Malformed::timeout);
            log::warn("front end " + peer().describe() +
                      " stalled in the middle of a FastCGI request " +
                      (v.status() == RecordValidator::Status::done ? "body" : "head") + " for " +
                      std::to_string(wait_.waited().count()) + " ms (read timeout " +
                      std::to_string(read_timeout_.count()) + " ms, --min-body-rate " +
                      std::to_string(min_body_rate_) + " B/s) after " + std::to_string(v.offset()) +
                      " bytes; closed the connection");
        } else {
            log_bad_head(v, n == 0 ? ReadGuard::Failure::closed : ReadGuard::Failure::read_error,
                         error, Clock::now());
        }
        return Next::close;
    }
}

Connection::Next FastCgiConnection::serve_request() {
    const int fd = this->fd();
    if (std::optional<Next> wait = collect())
        return *wait;
    clear_wait_deadline();
    wait_.reset();
    // The request is here (its body too, up to kMaxCollectedBody): hand it
    // to libfcgi. Whatever happens next, the next request starts afresh.
    std::string prefiltered = std::move(pre_);
    pre_.clear();
    head_bytes_ = 0;
    struct Reset {
        std::optional<RecordValidator>& v;
        ~Reset() { v.reset(); }
    } reset{validator_};
    RecordValidator& validator = *validator_;

    // The params are decoded here, from the bytes the validator passed
    // (every pair whole, within the limits), and libfcgi gets the request
    // without them: FCGI_BEGIN_REQUEST, the empty FCGI_PARAMS that ends the
    // params, then the body. Its own decoding (an allocation per pair, a
    // "NAME=value" string the adapter split again) was a third of the
    // adapter's work on a small request; it still reads the role, the
    // flags and the body, and writes the response's records.
    params_.clear();  // its capacity is kept from request to request
    if (!take_params(prefiltered, params_)) {
        // Never: the validator said the head is complete.
        log::error("front end " + peer().describe() +
                   ": a FastCGI request head the validator passed is not whole; closed the "
                   "connection");
        return Next::close;
    }
    const std::string_view pairs = params_;

    // FCGX_InitRequest zeroes the request. No listening socket (-1): when a
    // head fails, libfcgi closes the connection and tries to accept another
    // one itself; accept(-1) fails at once and FCGX_Accept_r returns.
    // keepConnection stops it from closing the descriptor on entry
    // ("finish the previous request"); detached makes its close a plain
    // close(2), not its lingering close that waits up to 2 s per read.
    LibfcgiRequest req;
    req.r.ipcFd = fd;
    req.r.keepConnection = 1;
    req.r.detached = 1;

    // The guard stays for the whole request: libfcgi reads the bytes read
    // in the reactor first, then the rest of the body from the socket,
    // checked as the head was, under the body rule; management records
    // never reach libfcgi.
    const auto start = Clock::now();
    BodyRate body_rate(read_timeout_, min_body_rate_);
    ReadGuard guard(fd, validator, start + read_timeout_, &req.r.ipcFd, std::move(prefiltered),
                    &body_rate);
    // The buffer goes back to pre_ when the request ends, emptied, its
    // capacity kept: the next request is read into it without allocating.
    struct GiveBack {
        ReadGuard& guard;
        std::string& to;
        std::string& params;
        ~GiveBack() {
            to = guard.take_buffer();
            keep_small(to);
            keep_small(params);
        }
    } give_back{guard, pre_, params_};
    const int accepted = FCGX_Accept_r(&req.r);
    if (accepted != 0) {
        // The head was whole and valid, so libfcgi refused on its own
        // (e.g. a role it does not know), or the guard failed a read; it
        // closed the descriptor (FCGX_Free(request, 1) in its retry loop),
        // which may already be another connection's number.
        release_fd();
        log_bad_head(validator, guard.failure(), guard.read_errno(), start);
        return Next::close;
    }
    if (FCGX_GetError(req.r.in) != 0) {
        // FCGX_Accept_r can succeed with its input stream in error (a read
        // failed while it took the empty FCGI_PARAMS record).
        log_bad_head(validator, guard.failure(), guard.read_errno(), start);
        return Next::close;
    }

    const bool keep_conn = req.r.keepConnection != 0;  // FCGI_KEEP_CONN, §5.1
    req.r.keepConnection = 1;                          // FCGX_Finish_r never closes; we decide
    if (req.r.role != kResponder)
        return refuse_role(req.r.requestId, req.r.role);

    // The params, as the front end sent them (libfcgi's own FCGI_ROLE is
    // not among them). The limit counts the pairs the validator saw.
    const std::uint64_t params_count = validator.params_count();
    Environ env;
    // One allocation for the table: growing it would move every string
    // already in it, several times per request. +4 for the variables the
    // core adds (GATEWAY_INTERFACE, SCRIPT_NAME, PATH_INFO, ...).
    if (params_count <= max_params_)
        env.reserve(params_count + 4);
    std::uint64_t params_bytes = 0;
    ParamBuilder params(env);
    std::string repeated;  // the first variable sent twice
    std::string_view method;
    std::string_view rest = pairs;
    std::string_view name;
    std::string_view value;
    while (take_name_value(rest, name, value)) {
        if (name.empty())
            continue;
        if (name == "REQUEST_METHOD" && method.empty())
            method = value;
        if (params_count > max_params_)
            continue;  // refused below; only the method is wanted
        params_bytes += name_value_size(name.size(), value.size());
        if (!params.add(name, value) && repeated.empty())
            repeated = name;
    }
    const bool head_only = method == "HEAD";

    FcgxSink sink(req.r.out, fd, static_cast<std::uint16_t>(req.r.requestId));
    Outcome outcome;
    if (params_count > max_params_) {
        app_.refuse(sink, 431,
                    "front end sent " + std::to_string(params_count) + " FastCGI params (limit " +
                        std::to_string(max_params_) + ", --max-params)",
                    peer(), "fastcgi", head_only);
    } else if (params_bytes > max_params_bytes_) {
        // The validator bounds the pairs as they arrive; this holds for what
        // was decoded too.
        app_.refuse(sink, 431,
                    "front end sent FastCGI params of " + std::to_string(params_bytes) +
                        " bytes (limit " + std::to_string(max_params_bytes_) + ")",
                    peer(), "fastcgi", head_only);
    } else if (!repeated.empty()) {
        // As over SCGI, uwsgi, AJP and HTTP: which of two values frames the
        // body or names the request is not for the gateway to guess.
        app_.refuse(sink, 400,
                    "front end sent the FastCGI param " + log_escape(repeated) +
                        " twice (only a header other than Host may repeat)",
                    peer(), "fastcgi", head_only);
    } else {
        FcgxBody body(req.r.in, content_length_of(env), &validator);
        outcome = app_.handle("fastcgi", std::move(env), body, sink, peer());
    }
    // A body libfcgi read from the socket may have ended inside a read that
    // took the start of the next request too.
    if (carry_.empty())
        carry_ = guard.take_carry();

    if (outcome.channel) {
        // Detached (Response::detach): the channel frames the rest of the
        // response and closes the connection when it ends (never kept: the
        // front end may not send another request before it). The libfcgi
        // request is freed by ~LibfcgiRequest without a byte written and
        // without closing the descriptor, which stays the connection's.
        if (sink.broken())
            outcome.channel->cut();
        return detached(std::move(outcome.channel));
    }
    if (sink.broken()) {
        // Aborted, or the front end is gone: no FCGI_END_REQUEST, so the
        // response reads as cut off. ~LibfcgiRequest frees without writing.
        return Next::close;
    }
    // The empty FCGI_STDOUT record and FCGI_END_REQUEST (§5.5), after what
    // is still buffered, in one write.
    FCGX_Finish_r(&req.r);
    if (req.r.ipcFd < 0) {
        // libfcgi closed the descriptor: the last write failed or FCGI_STDIN
        // was in error.
        release_fd();
        return Next::close;
    }
    if (validator.status() == RecordValidator::Status::error) {
        // A bad record in the body (the callback's read reported it, and
        // the core counted it): the connection is out of step.
        return start_linger();
    }
    if (keep_conn && outcome.reusable) {
        // Read dry in collect(), and libfcgi read nothing more from the
        // socket: the reactor waits for the next edge without looking again.
        if (read_dry_ && guard.bytes() == 0)
            note_drained();
        return Next::keep;
    }
    if (!outcome.reusable || !carry_.empty() || input_pending())
        return start_linger();
    return Next::close;
}

Connection::Next FastCgiConnection::refuse_role(int request_id, int role) {
    log::warn(
        "front end " + peer().describe() + " asked for FastCGI " + role_name(role) +
        "; Postern is a FCGI_RESPONDER only and answered FCGI_UNKNOWN_ROLE (FastCGI 1.0 §5.5)");
    // §5.5: FCGI_END_REQUEST with protocolStatus FCGI_UNKNOWN_ROLE.
    std::string end_request;
    append_end_request(end_request, static_cast<std::uint16_t>(request_id), 0, kUnknownRole);
    (void)::send(fd(), end_request.data(), end_request.size(), MSG_NOSIGNAL);
    return start_linger();
}

void FastCgiConnection::log_bad_head(const RecordValidator& validator, ReadGuard::Failure failure,
                                     int read_errno, Clock::time_point start) const {
    const std::string who = "front end " + peer().describe();
    const std::string at = " after " + std::to_string(validator.offset()) + " bytes";
    if (failure == ReadGuard::Failure::none)
        status::count_malformed(peer().listener, status::Malformed::bad_request);
    switch (failure) {
        case ReadGuard::Failure::malformed: {
            const auto code = validator.error_code();
            const bool limit = code == RecordValidator::ErrorCode::params_too_large ||
                               code == RecordValidator::ErrorCode::too_many_management;
            app_.refuse_closing(
                fault_status(limit ? Fault::head_too_large : Fault::malformed),
                "bad FastCGI record: " + describe_fault(validator.error_reason(), error_name(code),
                                                        validator.error_offset()),
                peer(), "fastcgi");
            return;
        }
        case ReadGuard::Failure::timeout: {
            const auto waited =
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
            app_.refuse_closing(
                fault_status(Fault::too_slow),
                "the front end stalled in the middle of a FastCGI request head for " +
                    std::to_string(waited.count()) + " ms (read timeout " +
                    std::to_string(read_timeout_.count()) + " ms)" + at,
                peer(), "fastcgi");
            return;
        }
        case ReadGuard::Failure::closed:
            log::warn(who + " closed the connection in the middle of a FastCGI request head" + at);
            return;
        case ReadGuard::Failure::read_error:
            log::warn("reading a FastCGI request head from " + who +
                      " failed: " + std::strerror(read_errno) + at);
            return;
        case ReadGuard::Failure::write_error:
            log::warn("answering a FastCGI management record of " + who +
                      " failed: " + std::strerror(read_errno) + at);
            return;
        case ReadGuard::Failure::body_timeout:
        case ReadGuard::Failure::idle:
        case ReadGuard::Failure::none:
            break;
    }
    // The validator saw nothing wrong (or did not see the bytes): libfcgi
    // refused on its own, e.g. a role it does not know.
    const std::uint16_t role = validator.role();
    if (role > 3) {
        log::warn(who + " asked for FastCGI " + role_name(role) +
                  " (FastCGI 1.0 §6); libfcgi closed the connection");
        return;
    }
    log::warn(who +
              " sent a FastCGI request head libfcgi rejected (malformed, truncated or stalled)" +
              at + "; closed the connection");
}

bool FastCgiConnection::input_pending() const noexcept {
    int pending = 0;
    return ::ioctl(fd(), FIONREAD, &pending) == 0 && pending > 0;
}

}  // namespace postern::fastcgi
