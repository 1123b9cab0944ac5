// Test support: a WebSocket client over raw bytes, for the gateway's tests
// (tests/gateway/websocket_test.cpp in process, tests/integration against
// the real executable and front ends). It sends what a test asks for,
// hostile frames included, and reads the server's frames as they come;
// the independent client is python3-websockets
// (tests/integration/websocket_client.py).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "socket_client.hpp"

namespace postern::test {

/// One server-to-client frame as read off the wire.
struct WsFrame {
    bool fin = true;
    int opcode = 0;  ///< 0x1 text, 0x2 binary, 0x8 close, 0x9 ping, 0xA pong
    bool masked = false;
    std::string payload;
    /// A Close frame's code (1005 when its payload is empty).
    int close_code() const;
    /// A Close frame's reason.
    std::string close_reason() const;
};

/// A connection to "HOST:PORT" that sends an opening handshake and then
/// frames. Every read waits at most its deadline; nothing here sleeps.
class WsClient {
  public:
    /// The standard key of RFC 6455 §1.3 and its accept value.
    static constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";
    static constexpr const char* kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    explicit WsClient(const std::string& address);

    /// Sends `request` as it is and reads the response head; returns the
    /// status code (0 when none came). Bytes after the head (a body, or
    /// the first frames) are kept for the reads.
    int request(std::string_view request, std::chrono::milliseconds timeout = 5000ms);
    /// A valid opening handshake for `path` (Host `host`, `extra` header
    /// lines each ending in CRLF); true when the answer is 101 with the
    /// right Sec-WebSocket-Accept.
    bool handshake(std::string_view path, std::string_view host = "localhost",
                   std::string_view extra = {});
    /// The last response head, as received.
    const std::string& head() const noexcept { return head_; }
    /// The body of a non-101 answer with a Content-Length (read on demand).
    std::string body(std::chrono::milliseconds timeout = 5000ms);

    /// Sends one masked frame (the client's way); any opcode and fin, no
    /// checks, so a test can send what a client must not.
    bool send_frame(int opcode, std::string_view payload, bool fin = true);
    bool send_text(std::string_view text) { return send_frame(0x1, text); }
    bool send_binary(std::string_view data) { return send_frame(0x2, data); }
    /// A Close frame with `code` (none when 0) and `reason`.
    bool send_close(int code, std::string_view reason = {});
    /// Raw bytes.
    bool send_raw(std::string_view bytes) { return socket_.send(bytes); }

    /// The next frame, or nullopt when the connection closed or `timeout`
    /// passed first (closed() tells which).
    std::optional<WsFrame> read_frame(std::chrono::milliseconds timeout = 5000ms);
    /// Reads frames until a Close frame (returned) or the end: pongs and
    /// messages before it are dropped.
    std::optional<WsFrame> read_until_close(std::chrono::milliseconds timeout = 5000ms);
    /// The server closed the connection (after what was read).
    bool closed() const noexcept { return socket_.closed() && buffer_.empty(); }
    /// Waits for the server to close the connection.
    bool wait_closed(std::chrono::milliseconds timeout = 5000ms);

    SocketClient& socket() noexcept { return socket_; }

  private:
    /// Makes sure `n` bytes are buffered; false on close or timeout.
    bool fill(std::size_t n, std::chrono::steady_clock::time_point deadline);

    SocketClient socket_;
    std::string buffer_;
    std::string head_;
    std::uint32_t mask_seed_ = 0x12345678;
};

/// A client frame with the given header bits and payload length field as
/// written (no checks): `b0` the first byte, `length` the payload bytes,
/// masked with a fixed key unless `masked` is false.
std::string raw_ws_frame(unsigned char b0, std::string_view payload, bool masked = true);

}  // namespace postern::test
