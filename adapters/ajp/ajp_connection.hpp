// Postern AJP adapter: one front-end connection (mod_jk, mod_proxy_ajp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ajp/codec.hpp"
#include "core/app.hpp"
#include "core/connection.hpp"
#include "core/input_buffer.hpp"
#include "core/input_wait.hpp"
#include "postern/request.hpp"
#include "postern/response.hpp"

namespace postern::ajp {

/// What every connection of one listener shares. Read-only once built.
struct AjpSettings {
    App* app = nullptr;
    /// Empty only when `insecure`.
    std::string secret;
    bool insecure = false;
    std::size_t packet_size = kDefaultPacketSize;
    DecodeLimits limits;
    std::vector<std::string> allowed_attributes;
    std::uint64_t max_body_bytes = std::uint64_t{4} << 30;
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds write_timeout{30'000};
    /// Limits::min_body_rate (bytes a second; 0: none).
    std::uint64_t min_body_rate = 500;
};

/// One AJP13 connection. serve() reads one packet from the front end — while
/// it is incomplete the connection waits in the reactor under the InputWait
/// deadline (--read-timeout from its first byte), holding no thread, and
/// past it the connection is closed, all before the secret is looked at: a
/// CPING is answered with CPONG, a SHUTDOWN is logged and ignored (never
/// obeyed), and a FORWARD_REQUEST is checked against the secret and handed
/// to the core; then it returns `keep` when the response ended with
/// END_RESPONSE reuse=1, `close` otherwise. Front ends keep pools of idle
/// connections; they wait in the reactor, not in a worker.
///
/// The request body: for a known Content-Length the front end sends the
/// first body packet unasked, and the rest on GET_BODY_CHUNK (each wait
/// for the front end under the body rule of BodyRate: --read-timeout, and
/// --min-body-rate for the whole body); for a body of
/// unknown length (a chunked upload) the adapter asks first (mod_jk and
/// mod_proxy_ajp both wait to be asked; a first packet already received
/// when the body is first read is taken as sent unasked). An empty packet
/// or a chunk of length 0 ends the body. A known-length body is never read
/// past its length.
///
/// The response: SEND_HEADERS, SEND_BODY_CHUNKs no larger than the packet
/// size, a zero-length SEND_BODY_CHUNK after the data on flush() (the front
/// ends' explicit flush), and exactly one END_RESPONSE, with reuse=0 when
/// the connection will close: a refused request (403, 413, 400, 408), a
/// body not read to its end, a front end that went away. A response the
/// callback cut short (abort) gets no END_RESPONSE at all: the connection
/// closes, so the front end sees it incomplete and never as complete.
///
/// Bad input: a packet with a bad magic, over the packet size, or that does
/// not decode is logged naming the front end and closes the connection.
///
/// Threading: one worker thread at a time, as the reactor guarantees.
class AjpConnection final : public Connection, public BodySource, public ResponseSink {
  public:
    AjpConnection(int fd, Peer peer, const AjpSettings& settings);

  protected:
    Next serve_one() override { return serve_packet(); }
    std::string_view wire_name() const noexcept override { return "AJP"; }

  public:
    /// Bytes of a next packet are buffered and may be decoded without
    /// waiting (not when the last serve() stopped for want of input).
    bool pending() const override { return !in_.empty() && !need_input_; }

    // BodySource.
    std::size_t read(char* buffer, std::size_t size) override;

    // ResponseSink.
    bool send_head(const ResponseHead& head) override;
    bool send_body(std::string_view data) override;
    bool flush() override;
    bool finish() override;
    void abort() override;
    /// A detached response: ajp_response.hpp's framing, ending with
    /// END_RESPONSE reuse=0; the connection is not kept.
    std::unique_ptr<DetachedFraming> detach_framing() override;

  private:
    Next serve_packet();
    Next serve_request(ForwardRequest& req);
    void begin_exchange(const ForwardRequest& req);
    bool secret_matches(const std::optional<std::string>& given) const noexcept;
    Next bad_packet(const Result& r, std::string_view where);

    bool readable_now() const;
    [[noreturn]] void body_failed(int status, const std::string& why);
    bool send_out();
    void drain_body();

    const AjpSettings& settings_;

    // Input: received and not consumed (the engine's buffer). A body packet
    // stays at its front until read whole; the chunk positions below are
    // offsets from there.
    InputBuffer in_;
    int last_errno_ = 0;
    // A packet arriving slowly waits in the reactor (core/input_wait.hpp).
    InputWait wait_;
    bool need_input_ = false;
    BodyRate body_rate_;

    // The request body.
    std::optional<std::uint64_t> body_left_;  // empty: unknown length
    bool body_done_ = true;
    bool body_failed_ = false;
    bool packet_expected_ = false;  // a body packet is on its way (unasked or asked)
    bool first_body_read_ = true;
    std::size_t chunk_at_ = 0;  // the current chunk is in_.data()[chunk_at_, chunk_end_)
    std::size_t chunk_end_ = 0;
    std::size_t packet_end_ = 0;  // where the current body packet ends in in_.data()
    std::uint64_t body_read_ = 0;

    // The response.
    std::string out_;
    bool head_request_ = false;
    bool head_sent_ = false;
    bool no_body_ = false;
    bool finished_ = false;
    bool gone_ = false;
    bool close_after_ = false;  // the exchange must end with reuse=0
    bool reuse_sent_ = false;   // END_RESPONSE reuse=1 went out
    int status_ = 0;
};

}  // namespace postern::ajp
