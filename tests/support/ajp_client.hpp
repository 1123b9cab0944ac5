// Test support: the front end's side of AJP13 (as mod_jk and
// mod_proxy_ajp speak it): FORWARD_REQUEST with the shared secret, body
// packets, and a reader of the container's packets that answers
// GET_BODY_CHUNK. The encoders are pure functions of bytes, written apart
// from adapters/ajp/codec so that each checks the other.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socket_client.hpp"

namespace postern::test::ajp {

using Pairs = std::vector<std::pair<std::string, std::string>>;

/// The packet size both front ends use by default (max_packet_size,
/// ProxyIOBufferSize).
inline constexpr std::size_t kPacketSize = 8192;
/// The most body one packet from the front end carries at kPacketSize:
/// 8192 less the 4-byte packet header and the 2-byte chunk length.
inline constexpr std::size_t kMaxBodyChunk = kPacketSize - 6;

/// One FORWARD_REQUEST (AJP13 "Request Packet Structure").
struct ForwardRequest {
    std::string method = "GET";  ///< a known method gets its code, any other is stored
    std::string protocol = "HTTP/1.1";
    std::string uri;  ///< the path, without the query
    std::optional<std::string> query_string;
    std::string remote_addr = "192.0.2.7";
    std::string server_name = "example.test";
    std::uint16_t server_port = 80;
    bool is_ssl = false;
    Pairs headers = {{"host", "example.test"}, {"user-agent", "test"}};
    std::optional<std::string> secret;
    Pairs attributes;  ///< req_attribute (0x0A) name-value pairs
};

/// The request `method` `target` ("path?query") with `secret`, as mod_jk
/// sends it; a Content-Length header when `body_size` is not 0 or the
/// method is POST.
ForwardRequest request(std::string_view method, std::string_view target,
                       std::optional<std::string> secret, std::size_t body_size = 0);

/// 0x12 0x34, length, then the FORWARD_REQUEST of `r`.
std::string forward_request(const ForwardRequest& r);
/// One body packet: 0x12 0x34, length, chunk length, `data`.
/// body_packet("") is how mod_proxy_ajp ends a chunked body.
std::string body_packet(std::string_view data);
/// An empty packet (0x12 0x34 0x00 0x00): how mod_jk ends a chunked body.
inline const std::string kEmptyPacket = std::string("\x12\x34\x00\x00", 4);
/// `body` split as a front end splits it: packets of at most
/// kMaxBodyChunk bytes, then (for a chunked upload) `end`.
std::deque<std::string> body_packets(std::string_view body, bool with_end,
                                     const std::string& end = kEmptyPacket);

/// What the front end saw of one exchange.
struct Exchange {
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::vector<std::string> chunks;  ///< every SEND_BODY_CHUNK, empty ones included
    int body_requests = 0;            ///< GET_BODY_CHUNKs answered
    bool ended = false;               ///< END_RESPONSE came
    bool reuse = false;               ///< ...allowing the connection to be reused
    bool cpong = false;
    bool closed = false;  ///< the gateway closed before END_RESPONSE

    /// The value of the first header `name` (exact case), "" if none.
    std::string header(const std::string& name) const;
};

/// Reads 'A' 'B' packets until END_RESPONSE (or CPONG when `until_cpong`)
/// or the close, answering each GET_BODY_CHUNK with the next of
/// `body_packets`. Throws std::runtime_error on a malformed packet, when
/// more body is asked for than there is, or when `timeout` passes first.
Exchange read_exchange(SocketClient& c, std::deque<std::string> body_packets = {},
                       bool until_cpong = false,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace postern::test::ajp
