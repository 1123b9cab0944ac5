// Postern HTTP adapter: one client connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/address_list.hpp"
#include "core/app.hpp"
#include "core/connection.hpp"
#include "core/input_buffer.hpp"
#include "http/http_codec.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern::http {

/// What every connection of one listener shares. Read-only once built.
struct HttpSettings {
    App* app = nullptr;
    HeadLimits head_limits;
    AddressList trusted_proxies;
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds write_timeout{30'000};
    /// Limits::max_body_bytes.
    std::uint64_t max_body_bytes = std::uint64_t{4} << 30;
    /// Limits::min_body_rate, bytes per second; 0 for none.
    std::uint64_t min_body_rate = 500;
};

/// One HTTP/1.1 connection (RFC 9112). serve() reads one request head,
/// hands the request to the core and writes the response, then returns:
/// `keep` when the connection can carry another request (the reactor waits
/// for it, no thread does), `close` otherwise. Bytes of a next request
/// already read (pipelining) stay in the connection's buffer and make
/// pending() true.
///
/// Slow clients hold no worker thread while they can be waited for in the
/// reactor: serve() returns `keep` with a wait deadline (the reactor ends
/// the wait there) while a request head is incomplete, while a body of up
/// to 64 KiB (kMaxCollectedBody) with a Content-Length is incomplete (it is
/// read before the request is dispatched, as nginx reads a body before it
/// passes the request upstream), and while the connection lingers after a
/// refusal. A larger or chunked body is read by the worker running the
/// callback, at the pace read() describes.
///
/// The connection is also the request's BodySource and ResponseSink: the
/// two are coupled through Expect: 100-continue and keep-alive, and exist
/// once per connection anyway.
///
/// Threading: used by one worker thread at a time, as the reactor
/// guarantees; nothing in it is shared. Ownership: the descriptor is the
/// base Connection's; this class never closes it.
///
/// Bad input: a head the codec refuses gets its 4xx through App::refuse
/// (logged, naming the client) and the connection is closed; a client that
/// does not finish its head within read_timeout gets 408 and is closed; a
/// malformed chunked body, or a client that stops sending its body or
/// sends it too slowly (see read()), makes read() throw RequestError (400,
/// 408), and the connection is closed.
class HttpConnection final : public Connection, public BodySource, public ResponseSink {
  public:
    HttpConnection(int fd, Peer peer, const HttpSettings& settings);

  protected:
    Next serve_one() override { return serve_request(); }
    std::string_view wire_name() const noexcept override { return "HTTP"; }

  public:
    /// Bytes of a next request are buffered and more may be parsed without
    /// waiting (not when the last serve() stopped for want of input).
    bool pending() const override { return !in_.empty() && !need_input_; }

    // BodySource.
    /// The request body, de-chunked. Waits for the client only as long as the body rule allows
    /// (mod_reqtimeout's body=T,MinRate=R): read_timeout for any one byte, and read_timeout plus
    /// one second per min_body_rate bytes received for the whole body, counting only the time spent
    /// waiting for the client (not the callback's own time); past it, RequestError(408). So a slow
    /// client holds a worker for at most about read_timeout + body size / min_body_rate.
    std::size_t read(char* buffer, std::size_t size) override;

    // ResponseSink.
    bool send_head(const ResponseHead& head) override;
    bool send_body(std::string_view data) override;
    /// A body with a Content-Length (or up to the close) goes out with
    /// sendfile(2), after the head and what is buffered; a chunked body,
    /// and a piece small enough to ride with the head in one write
    /// (kCoalesce), are read and sent as send_body() does.
    bool send_file(int fd, std::uint64_t offset, std::uint64_t count) override;
    bool flush() override;
    bool finish() override;
    void abort() override;
    /// The body as the head chose it (chunked, or up to the close), a 101
    /// head then raw bytes for a WebSocket; the connection closes at the
    /// end, and the bytes already read past the request go to the channel.
    std::unique_ptr<DetachedFraming> detach_framing() override;

  private:
    enum class Io {
        ok,
        again,  // nothing to read yet (a read that does not wait)
        eof,
        timeout,   // no byte within read_timeout
        too_slow,  // the body fell below min_body_rate
        failed,
    };
    enum class BodyOut { length, chunked, close_delimited };
    // Small body writes are gathered with the head (and the last chunk with
    // the terminating one) into one write; larger ones go out with sendmsg
    // from where they are, uncopied.
    static constexpr std::size_t kCoalesce = 16 * 1024;

    Next serve_request();
    void begin_exchange(const RequestHead* head);
    Next refuse(int status, const std::string& reason);
    Next head_timed_out();
    bool should_collect(const RequestHead& head, std::size_t head_bytes) const noexcept;
    bool begin_collecting(const RequestHead& head, std::size_t head_bytes);
    std::optional<Next> collect_body();
    Next body_timed_out();
    std::string late_body_reason(bool silent) const;
    bool send_continue();

    Io fill();
    Io fill_body();
    Io receive_body(char* buffer, std::size_t size, std::size_t& got);
    Io wait_for_body();
    void start_body_clock(std::uint64_t received) noexcept;
    std::chrono::steady_clock::duration body_wait_left() const noexcept;
    [[noreturn]] void body_failed(Io io);
    bool send_pending(std::string_view data = {}, bool chunk_end = false);
    /// Drops the buffers and lingers (Connection::start_linger).
    Next drop_and_linger();

    const HttpSettings& settings_;

    // Input: bytes read and not yet consumed (the engine's buffer).
    InputBuffer in_;
    int last_errno_ = 0;

    // The request in progress. head_ is parsed into again for each request
    // (its fields keep their capacity); its views point into in_.
    RequestHead head_;
    // Set when the first byte of a request head arrived, until it is whole.
    std::optional<std::chrono::steady_clock::time_point> head_deadline_;
    bool need_input_ = false;  // the last serve() waits for more of a head or body
    // The head is whole and a small body is being read before dispatch:
    // the head and the body are the first collect_bytes_ bytes of the
    // buffer once it is all there.
    bool collecting_ = false;
    std::size_t collect_bytes_ = 0;
    // Collecting: since when the connection waits in the reactor.
    std::optional<std::chrono::steady_clock::time_point> waiting_since_;
    int minor_ = 1;
    bool client_keep_alive_ = false;
    bool head_request_ = false;
    Framing framing_ = Framing::none;
    std::uint64_t body_left_ = 0;  // Framing::length
    ChunkedDecoder chunks_;
    bool body_done_ = true;
    bool body_failed_ = false;
    bool continue_pending_ = false;  // Expect: 100-continue, no 100 sent yet
    // The body rule (read()): time spent waiting for body bytes, in all and
    // since the last one came, and the bytes received.
    std::chrono::steady_clock::duration body_waited_{};
    std::chrono::steady_clock::duration body_idle_{};
    std::uint64_t body_received_ = 0;

    // The response in progress; out_ holds what is not sent yet.
    std::string out_;
    bool head_sent_ = false;
    bool finished_ = false;
    bool gone_ = false;
    bool broken_ = false;  // the framing cannot complete: close afterwards
    bool force_close_ = false;
    bool keep_alive_ = false;  // what the response head announced
    bool no_body_ = false;
    BodyOut body_out_ = BodyOut::length;
    std::uint64_t out_left_ = 0;  // BodyOut::length
};

}  // namespace postern::http
