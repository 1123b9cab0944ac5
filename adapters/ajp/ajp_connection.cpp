#include "ajp/ajp_connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ajp/ajp_environ.hpp"
#include "ajp/ajp_response.hpp"
#include "core/decimal.hpp"
#include "core/detached.hpp"
#include "core/log.hpp"
#include "core/send_all.hpp"
#include "core/status.hpp"
#include "core/text.hpp"

namespace postern::ajp {

namespace {

// The input buffer starts at this size and doubles while a packet does not
// fit (a packet is at most 64 KiB).
constexpr std::size_t kReadSize = 16 * 1024;
// Response packets are gathered up to this size before a write.
constexpr std::size_t kCoalesce = 64 * 1024;

std::optional<std::uint64_t> parse_length(
    const std::vector<std::pair<std::string, std::string>>& h) {
    for (const auto& [name, value] : h) {
        if (!iequals(name, "content-length"))
            continue;
        return postern::parse_length(value);
    }
    return std::nullopt;
}

}  // namespace

AjpConnection::AjpConnection(int fd, Peer peer, const AjpSettings& settings)
    : Connection(fd, std::move(peer)),
      settings_(settings),
      in_(kReadSize),
      wait_(settings.read_timeout, settings.min_body_rate),
      body_rate_(settings.read_timeout, settings.min_body_rate) {}

// ---------------------------------------------------------------------------
// Input

bool AjpConnection::readable_now() const {
    pollfd p{fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0;
}

// ---------------------------------------------------------------------------
// One packet from the front end

Connection::Next AjpConnection::bad_packet(const Result& r, std::string_view where) {
    const bool limit = r.code == Error::packet_too_large || r.code == Error::too_many_headers ||
                       r.code == Error::too_many_attributes;
    settings_.app->refuse_closing(fault_status(limit ? Fault::head_too_large : Fault::malformed),
                                  "bad AJP packet " + std::string(where) + ": " +
                                      describe_fault(r.reason, error_name(r.code), r.offset),
                                  peer(), "ajp");
    return Next::close;
}

Connection::Next AjpConnection::serve_packet() {
    RequestPacket packet;
    bool body_collecting = false;
    for (;;) {
        body_collecting = false;
        Result r = decode_request_packet(in_.data(), settings_.limits, packet);
        if (r.status == Status::error) {
            clear_wait_deadline();
            return bad_packet(r, "where a request was expected");
        }
        if (r.status == Status::done) {
            // With a Content-Length the front end sends the first body
            // packet unasked (mod_jk, mod_proxy_ajp): read it here too, so a
            // small body that trickles holds no thread either.
            const std::optional<std::uint64_t> length = packet.type == Code::forward_request
                                                            ? parse_length(packet.request.headers)
                                                            : std::nullopt;
            std::string_view data;
            if (!length || *length == 0 ||
                decode_body_packet(in_.data().substr(r.consumed), settings_.limits.max_payload,
                                   data)
                        .status != Status::need_more) {
                in_.consume(r.consumed);
                break;
            }
            body_collecting = true;
        }
        // The packet arrives in the reactor (core/input_wait.hpp): take
        // what the socket has; wait without a thread when it has none.
        int error = 0;
        const std::size_t had = in_.size();
        const Available got = in_.read_available(fd(), error);
        if (got == Available::some) {
            wait_.start();
            if (body_collecting)
                wait_.body_received(in_.size() - had);
            need_input_ = false;
            continue;
        }
        if (got == Available::nothing) {
            need_input_ = true;
            if (wait_.started())
                set_wait_deadline(wait_.deadline());
            return Next::keep;
        }
        clear_wait_deadline();
        if (got == Available::eof && wait_.expired()) {
            settings_.app->refuse_closing(fault_status(Fault::too_slow),
                                          "the AJP packet did not arrive whole within " +
                                              millis(wait_.waited()) + " (--read-timeout " +
                                              millis(settings_.read_timeout) + ")",
                                          peer(), "ajp");
        } else if (got == Available::failed && error == ECONNRESET && !wait_.started() &&
                   in_.size() == 0) {
            // Reset between requests: a front end that closed a pooled
            // connection with the end of a response unread, as a close, is
            // its own business (the FastCGI and HTTP adapters say the same).
            log::debug("front end " + peer().describe() + " reset its idle AJP connection");
        } else if (got == Available::failed) {
            log::warn("reading an AJP packet from front end " + peer().describe() +
                      " failed: " + std::strerror(error));
        } else if (wait_.started()) {
            log::info("front end " + peer().describe() +
                      " closed the connection in the middle of an AJP packet");
        }
        return Next::close;  // end of file between requests: the front end is done
    }
    clear_wait_deadline();
    wait_.reset();
    need_input_ = false;

    switch (packet.type) {
        case Code::cping: {
            // AJPv13 CPing: mod_jk's ping_mode, mod_proxy_ajp's ping=.
            out_.clear();
            encode_cpong(out_);
            return send_out() ? Next::keep : Next::close;
        }
        case Code::shutdown:
            log::warn("front end " + peer().describe() +
                      " sent an AJP SHUTDOWN packet; ignored (a front end never stops Postern)");
            return Next::keep;
        case Code::ping:
            log::warn("front end " + peer().describe() +
                      " sent an AJP13 PING (type 8); ignored, use CPING");
            return Next::keep;
        default:
            return serve_request(packet.request);
    }
}

bool AjpConnection::secret_matches(const std::optional<std::string>& given) const noexcept {
    if (settings_.secret.empty())
        return true;  // --ajp-insecure
    if (!given)
        return false;
    // Constant time over the configured secret: the comparison does not tell
    // how much of a guess was right.
    const std::string& want = settings_.secret;
    unsigned diff = given->size() == want.size() ? 0u : 1u;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const char g = i < given->size() ? (*given)[i] : '\0';
        diff |= static_cast<unsigned>(static_cast<unsigned char>(g ^ want[i]));
    }
    return diff == 0;
}

void AjpConnection::begin_exchange(const ForwardRequest& req) {
    body_rate_ = BodyRate(settings_.read_timeout, settings_.min_body_rate);
    head_request_ = req.method == "HEAD";
    body_left_ = parse_length(req.headers);
    bool has_length = false;
    bool chunked = false;
    for (const auto& [name, value] : req.headers) {
        has_length |= iequals(name, "content-length");
        chunked |= iequals(name, "transfer-encoding");
    }
    // RFC 9112 §6.3: a body of known length, a chunked one (of unknown
    // length here: the front end de-chunks it), or none. A Content-Length
    // that does not parse: the core answers 400 and the body is never read.
    if (has_length)
        body_done_ = !body_left_ || *body_left_ == 0;
    else
        body_done_ = !chunked;
    body_failed_ = false;
    // AJPv13: with a known length the first body packet follows the request
    // unasked.
    packet_expected_ = body_left_ && *body_left_ > 0;
    first_body_read_ = true;
    chunk_at_ = chunk_end_ = packet_end_ = 0;
    body_read_ = 0;

    out_.clear();
    head_sent_ = no_body_ = finished_ = gone_ = false;
    close_after_ = false;
    reuse_sent_ = false;
    status_ = 0;
}

Connection::Next AjpConnection::serve_request(ForwardRequest& req) {
    begin_exchange(req);
    if (!secret_matches(req.secret)) {
        // CVE-2020-1938: nothing that lacks the secret reaches a callback.
        close_after_ = true;
        settings_.app->refuse(*this, 403,
                              req.secret ? "AJP request with a wrong secret"
                                         : "AJP request without the secret (--ajp-secret)",
                              peer(), "ajp", head_request_);
        return reuse_sent_ ? Next::keep : Next::close;
    }
    // The same head is refused over HTTP: two lengths frame one body two ways.
    if (const std::string fault = framing_fault(req); !fault.empty()) {
        close_after_ = true;
        settings_.app->refuse(*this, 400, "AJP request with " + fault, peer(), "ajp",
                              head_request_);
        return reuse_sent_ ? Next::keep : Next::close;
    }
    Environ env = request_environ(req, peer(), settings_.allowed_attributes);
    Outcome outcome = settings_.app->handle("ajp", std::move(env), *this, *this, peer());
    if (outcome.channel) {
        // Detached: the channel frames the rest (ajp_response.hpp) and ends
        // with END_RESPONSE reuse=0; the connection closes after it.
        if (gone_)
            outcome.channel->cut();
        return detached(std::move(outcome.channel));
    }
    if (!finished_) {
        // The core always finishes or aborts; be safe with the wire anyway.
        return Next::close;
    }
    return reuse_sent_ ? Next::keep : Next::close;
}

// ---------------------------------------------------------------------------
// BodySource

void AjpConnection::body_failed(int status, const std::string& why) {
    body_failed_ = true;
    throw RequestError(status, why);
}

std::size_t AjpConnection::read(char* buffer, std::size_t size) {
    if (body_done_ || size == 0)
        return 0;
    if (body_failed_)
        throw RequestError(400, "request body already failed");
    if (chunk_at_ == chunk_end_) {
        // The next body packet.
        if (packet_end_ != 0) {
            in_.consume(packet_end_);
            chunk_at_ = chunk_end_ = packet_end_ = 0;
        }
        if (!packet_expected_) {
            // A body of unknown length: the front end waits to be asked
            // (mod_jk and mod_proxy_ajp, checked), unless the first packet
            // is here already, sent unasked.
            const bool unasked =
                first_body_read_ && !body_left_ && (!in_.empty() || readable_now());
            if (!unasked) {
                const std::uint64_t want = std::min<std::uint64_t>(
                    max_request_chunk(settings_.packet_size), body_left_.value_or(UINT64_MAX));
                encode_get_body_chunk(
                    out_, static_cast<std::uint16_t>(std::min<std::uint64_t>(want, 0xFFFF)));
                if (!send_out())
                    body_failed(400, "front end " + peer().describe() +
                                         " went away before sending the request body");
            }
            packet_expected_ = true;
        }
        first_body_read_ = false;
        std::string_view data;
        for (;;) {
            Result r = decode_body_packet(in_.data(), settings_.limits.max_payload, data);
            if (r.status == Status::error) {
                log::warn("front end " + peer().describe() + " sent a bad AJP body packet: " +
                          describe_fault(r.reason, error_name(r.code), r.offset));
                status::count_malformed(peer().listener, status::Malformed::bad_request);
                body_failed(400, "bad AJP body packet: " + r.reason);
            }
            if (r.status == Status::done) {
                packet_expected_ = false;
                // `data` views in_; an end-of-body packet has none.
                chunk_at_ =
                    data.empty() ? 0 : static_cast<std::size_t>(data.data() - in_.data().data());
                chunk_end_ = chunk_at_ + data.size();
                packet_end_ = r.consumed;
                break;
            }
            int error = 0;
            switch (body_rate_.wait_readable(fd(), error)) {
                case BodyRate::Wait::ready:
                    break;
                case BodyRate::Wait::silent:
                    body_failed(408, "front end " + peer().describe() +
                                         " sent no request body packet for " +
                                         millis(settings_.read_timeout));
                case BodyRate::Wait::too_slow:
                    body_failed(408, "front end " + peer().describe() +
                                         " sent its request body slower than " +
                                         std::to_string(settings_.min_body_rate) +
                                         " bytes a second (--min-body-rate) after " +
                                         std::to_string(body_read_) + " bytes");
                case BodyRate::Wait::failed:
                    last_errno_ = error;
                    body_failed(400, "waiting for the request body from " + peer().describe() +
                                         " failed: " + std::strerror(error));
            }
            const std::size_t had = in_.size();
            const Available got = in_.read_available(fd(), last_errno_);
            if (got == Available::some) {
                body_rate_.received(in_.size() - had);
                continue;
            }
            if (got == Available::nothing)
                continue;  // readable, then nothing (a spurious wake-up)
            if (got == Available::eof)
                body_failed(400, "front end " + peer().describe() +
                                     " closed the connection before the end of the request body");
            body_failed(400, "reading the request body from " + peer().describe() +
                                 " failed: " + std::strerror(last_errno_));
        }
        if (chunk_at_ == chunk_end_) {
            // An empty packet or a chunk of length 0: the end of the body.
            in_.consume(packet_end_);
            chunk_at_ = chunk_end_ = packet_end_ = 0;
            if (body_left_ && *body_left_ > 0)
                body_failed(400, "front end " + peer().describe() + " ended the request body " +
                                     std::to_string(*body_left_) + " bytes early");
            body_done_ = true;
            return 0;
        }
        if (body_left_ && chunk_end_ - chunk_at_ > *body_left_)
            body_failed(400, "front end " + peer().describe() +
                                 " sent more request body than its Content-Length");
    }
    const std::size_t n = std::min(size, chunk_end_ - chunk_at_);
    std::memcpy(buffer, in_.data().data() + chunk_at_, n);
    chunk_at_ += n;
    body_read_ += n;
    if (body_left_) {
        *body_left_ -= n;
        if (*body_left_ == 0) {
            // Never read past a known length: the front end sends nothing
            // more unless asked.
            body_done_ = true;
            if (chunk_at_ == chunk_end_) {
                in_.consume(packet_end_);
                chunk_at_ = chunk_end_ = packet_end_ = 0;
            }
        }
    }
    return n;
}

void AjpConnection::drain_body() {
    char scratch[16384];
    try {
        while (!body_done_ && body_read_ <= settings_.max_body_bytes) {
            if (read(scratch, sizeof(scratch)) == 0)
                break;
        }
    } catch (const std::exception&) {
        body_failed_ = true;
    }
}

// ---------------------------------------------------------------------------
// ResponseSink

bool AjpConnection::send_out() {
    if (send_response(fd(), out_, peer(), settings_.write_timeout))
        return true;
    gone_ = true;
    return false;
}

bool AjpConnection::send_head(const ResponseHead& head) {
    if (head_sent_)
        return !gone_;
    head_sent_ = true;
    const bool as_given =
        append_response_head(out_, head, settings_.packet_size, peer().describe());
    status_ = as_given ? head.status : 500;
    no_body_ = !as_given || head.head_only || head_request_ || !status_has_body(head.status);
    return true;  // goes out with the body, at flush or at finish
}

bool AjpConnection::send_body(std::string_view data) {
    if (gone_)
        return false;
    if (no_body_ || finished_)
        return true;
    const std::size_t max = max_response_chunk(settings_.packet_size);
    while (!data.empty()) {
        const std::size_t n = std::min(max, data.size());
        encode_send_body_chunk(out_, data.substr(0, n));
        data.remove_prefix(n);
        if (out_.size() >= kCoalesce && !send_out())
            return false;
    }
    return true;
}

bool AjpConnection::flush() {
    if (gone_)
        return false;
    if (head_sent_ && !no_body_ && !finished_)
        encode_send_body_chunk(out_, {});  // the explicit flush of mod_jk and mod_proxy_ajp
    return out_.empty() || send_out();
}

bool AjpConnection::finish() {
    if (gone_)
        return false;
    if (finished_)
        return true;
    finished_ = true;
    // A refused request's body is never read (it may be huge, or not meant
    // for us): the connection ends with it. Any other body is read to its end
    // (up to the body limit) so that the connection stays in step and can be
    // kept.
    const bool refused = status_ == 413 || status_ == 408 || status_ == 400;
    if (!body_done_ && !body_failed_ && !close_after_ && !refused) {
        if (!out_.empty() && !send_out())
            return false;
        drain_body();
    }
    const bool reuse = body_done_ && !body_failed_ && !close_after_ && !gone_;
    encode_end_response(out_, reuse);
    if (!send_out())
        return false;
    reuse_sent_ = reuse;
    return true;
}

std::unique_ptr<DetachedFraming> AjpConnection::detach_framing() {
    // Response::detach flushed what the sink held; be safe with out_ anyway.
    if (!out_.empty() && !gone_)
        send_out();
    out_.clear();
    finished_ = true;
    close_after_ = true;
    return make_detached_framing(fd(), settings_.packet_size, head_request_, head_sent_ && no_body_,
                                 peer().describe());
}

void AjpConnection::abort() {
    // No END_RESPONSE: the connection closes, and the front end sees the
    // response cut off (mod_jk and mod_proxy_ajp abort the client's).
    finished_ = true;
    reuse_sent_ = false;
    out_.clear();
}

}  // namespace postern::ajp
