// Postern adapters: the connection shape of the one-request-per-connection
// protocols (SCGI, uwsgi), over the core's connection engine.
//
// SCGI and uwsgi frame a request the same way and differ only in the bytes
// of the request header and of the response head: a connection carries one
// request (a header block, then exactly CONTENT_LENGTH body bytes), the
// response is written raw (a head, then the body, with no framing of its
// own) and the connection closes after it. This class is that shape; each
// protocol supplies decode_head() and encode_head() (
// adapters/scgi/scgi_connection.hpp, adapters/uwsgi/uwsgi_connection.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/app.hpp"
#include "core/connection.hpp"
#include "core/decode.hpp"
#include "core/environ.hpp"
#include "core/input_buffer.hpp"
#include "core/input_wait.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern {

/// What every connection of one listener shares. Read-only once built.
struct OneRequestSettings {
    App* app = nullptr;
    std::size_t max_header_bytes = 256 * 1024;  ///< --max-params-bytes
    std::size_t max_params = 1000;              ///< --max-params
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds write_timeout{30'000};
    /// Limits::min_body_rate: bytes per second a body must keep up, once
    /// read_timeout of waiting for it has passed; 0 for none.
    std::uint64_t min_body_rate = 500;
};

/// The settings of a listener's connections, from the gateway's options.
OneRequestSettings one_request_settings(App& app, const Options& options);

/// The Protocol of a one-request-per-connection adapter: makes a
/// `ConnectionT` (a subclass of OneRequestConnection) for each accepted
/// socket, and answers overload with `overloaded`, the protocol's own 503
/// built once (refuse_overloaded() does not allocate).
template <class ConnectionT>
class OneRequestProtocol final : public Protocol {
  public:
    OneRequestProtocol(App& app, const Options& options, std::string overloaded)
        : settings_(one_request_settings(app, options)), overloaded_(std::move(overloaded)) {}

    std::unique_ptr<Connection> make_connection(int fd, Peer peer) override {
        return std::make_unique<ConnectionT>(fd, std::move(peer), settings_);
    }
    void refuse_overloaded(int fd) noexcept override { answer_and_close(fd, overloaded_); }

  private:
    OneRequestSettings settings_;
    const std::string overloaded_;
};

/// One connection of a protocol with one request per connection (SCGI,
/// uwsgi). serve() takes what the socket has without blocking; while the
/// request header, or a body of up to kMaxCollectedBody bytes with its
/// length, is incomplete, it returns `keep` and the connection waits in the
/// reactor under the InputWait deadline (input_wait.hpp: read_timeout from
/// the first byte, plus what min_body_rate allows for the body), so a
/// trickling front end holds no worker thread; past the deadline it is
/// answered 408. Once the request is there it hands it to the core, writes
/// the response and returns `close`: the protocols carry one request per
/// connection, so a byte after the body is never read as a next request.
/// Bytes found after CONTENT_LENGTH body bytes are refused with 400 (before
/// the callback when they arrived with the header; as a body error when
/// they turn up at the end of the body).
///
/// The response: the protocol's head, then the body as the callback writes
/// it; a body of unknown length ends when the connection closes (as uWSGI
/// and SCGI servers do). A response the callback cut short is ended with a
/// TCP reset, so the front end sees an error, not an end of file. Bad
/// input (a header that does not decode, over a limit) is logged naming the
/// front end and answered with 400 (431 for a limit) in the protocol's own
/// response format, then the connection closes.
///
/// A detached response (Response::detach) goes the same way from any
/// thread: the head, the body raw, the connection closed at its end.
///
/// Threading: one worker thread at a time, as the reactor guarantees.
class OneRequestConnection : public Connection, public BodySource, public ResponseSink {
  public:
    OneRequestConnection(int fd, Peer peer, const OneRequestSettings& settings);

    Next serve_one() override;

    // BodySource.
    std::size_t read(char* buffer, std::size_t size) override;

    // ResponseSink.
    bool send_head(const ResponseHead& head) override;
    bool send_body(std::string_view data) override;
    /// The body is raw on the wire, so a file goes out with sendfile(2)
    /// after the head and what is buffered; a piece small enough to be
    /// gathered with the head into one write is read and sent as
    /// send_body() does.
    bool send_file(int fd, std::uint64_t offset, std::uint64_t count) override;
    bool flush() override;
    bool finish() override;
    void abort() override;
    /// A detached response (Response::detach): the protocol's head, then
    /// the body raw, as here; the close ends it. Until the channel frames
    /// its end, a close is a reset (SO_LINGER 0, as abort()), so a stream
    /// cut short (the write timeout, the gateway stopping) never reads as
    /// a whole response of unknown length.
    std::unique_ptr<DetachedFraming> detach_framing() override;

  protected:
    /// What a protocol's decode_head() found at the start of the input.
    struct Head {
        enum class Status { done, need_more, error } status = Status::need_more;
        std::size_t consumed = 0;  ///< header bytes (done)
        Environ env;               ///< the request's variables (done)
        std::uint64_t body = 0;    ///< CONTENT_LENGTH, 0 for none (done)
        int refuse_status = 400;   ///< error: 400, or 431 for a limit
        std::string reason;        ///< error: with the error code and the byte offset
    };
    /// A codec's DecodeLimits (SCGI, uwsgi) from the listener's settings.
    template <class Limits>
    Limits decode_limits() const {
        Limits limits;
        limits.max_header_bytes = settings_.max_header_bytes;
        limits.max_params = settings_.max_params;
        return limits;
    }
    /// A codec's outcome as a Head: need_more; a refusal with
    /// fault_status() (core/decode.hpp: 431 for the header's limits, 400
    /// otherwise) and the reason as describe_fault() tells it; or the
    /// request's params (but `skip`, the protocol's own) and body length.
    /// The codecs (SCGI, uwsgi) share their error codes' names.
    template <class Result, class Params>
    static Head decoded(const Result& r, const Params& params, std::uint64_t body,
                        std::string_view skip = {}) {
        using Code = decltype(r.code);
        Head head;
        if (r.status == DecodeStatus::need_more)
            return head;
        if (r.status == DecodeStatus::error) {
            const bool limit = r.code == Code::header_too_large || r.code == Code::too_many_params;
            head.status = Head::Status::error;
            head.refuse_status = fault_status(limit ? Fault::head_too_large : Fault::malformed);
            head.reason = describe_fault(r.reason, error_name(r.code), r.offset);
            return head;
        }
        head.status = Head::Status::done;
        head.consumed = r.consumed;
        head.body = body;
        head.env.reserve(params.size() + 4);  // +4: the variables the core adds
        ParamBuilder builder(head.env);
        for (const auto& [name, value] : params) {
            if (!skip.empty() && name == skip)
                continue;
            builder.add(name, value);
        }
        return head;
    }
    /// Decodes the request header at the start of `in` (pure; no I/O).
    virtual Head decode_head(std::string_view in) const = 0;
    /// The response head as the protocol writes it.
    virtual std::string encode_head(const ResponseHead& head) const = 0;
    /// "scgi", "uwsgi": Request::protocol() and log lines.
    virtual std::string_view protocol() const noexcept = 0;

    const OneRequestSettings& settings() const noexcept { return settings_; }

  private:
    Next serve_request();
    /// Waits (blocking, for a body past what was collected) until the socket
    /// is readable, under read_timeout and the min_body_rate rule; throws
    /// RequestError(408) past either.
    void wait_for_body();
    bool send_out();
    [[noreturn]] void body_failed(int status, const std::string& why);
    /// Answers `status` through the core, then lingers (start_linger).
    Next refuse(int status, const std::string& reason, bool head_only);

    const OneRequestSettings& settings_;
    InputWait wait_;
    BodyRate body_rate_;
    InputBuffer in_;  // received and not consumed (the engine's buffer)
    int last_errno_ = 0;

    std::uint64_t body_left_ = 0;
    std::uint64_t body_received_ = 0;                    // by read(), from the socket
    std::chrono::steady_clock::duration body_waited_{};  // read() waiting for the front end
    bool body_failed_ = false;
    bool trailing_checked_ = false;

    std::string out_;
    bool head_request_ = false;
    bool head_sent_ = false;
    bool no_body_ = false;
    bool finished_ = false;
    bool gone_ = false;
    bool aborted_ = false;
};

}  // namespace postern
