// Postern AJP adapter: the AJP13 wire format, as pure functions of bytes.
//
// Apache JServ Protocol 1.3 (the "AJPv13" document of the Tomcat connectors,
// https://tomcat.apache.org/connectors-doc/ajp/ajpv13a.html). Packets from
// the front end start with 0x12 0x34, packets to it with 'A' 'B'; both then
// carry a 16-bit big-endian payload length. Integers are 16-bit big-endian;
// a string is a 16-bit length, the bytes and a NUL (length 0xFFFF: no
// string); a boolean is one byte, 0 or 1.
//
// Nothing here touches a socket: the decoders take the bytes received so far
// and answer done (with the bytes consumed), need_more, or error (with a
// code, a reason and the byte offset of the fault); the encoders append a
// whole packet to a string. Every length read from the wire is checked
// against the bytes left in the packet and against a named limit before it
// is used. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/decode.hpp"

namespace postern::ajp {

/// The packet size front ends default to (mod_jk max_packet_size,
/// mod_proxy_ajp ProxyIOBufferSize), header included.
inline constexpr std::size_t kDefaultPacketSize = 8192;
/// The largest packet size either front end can be configured for.
inline constexpr std::size_t kMaxPacketSize = 65536;
/// The smallest packet size that makes sense (mod_jk's floor).
inline constexpr std::size_t kMinPacketSize = 8192;
/// Magic and length: the 4 bytes before every payload.
inline constexpr std::size_t kHeaderSize = 4;

/// Prefix codes (the first payload byte).
enum class Code : std::uint8_t {
    // front end -> container
    forward_request = 2,
    shutdown = 7,
    ping = 8,
    cping = 10,
    // container -> front end
    send_body_chunk = 3,
    send_headers = 4,
    end_response = 5,
    get_body_chunk = 6,
    cpong = 9,
};

using Status = DecodeStatus;

enum class Error {
    none,
    bad_magic,            ///< not 0x12 0x34
    packet_too_large,     ///< the length is over the negotiated packet size
    empty_packet,         ///< a request packet without a prefix code
    unknown_type,         ///< a prefix code this side does not accept
    truncated,            ///< a field runs past the end of the packet
    bad_string,           ///< a string without its NUL terminator
    bad_boolean,          ///< a boolean other than 0 or 1
    bad_method,           ///< an unknown method code, or 0xFF without a stored method
    bad_header,           ///< an unknown 0xA0xx header code, or an empty header name
    too_many_headers,     ///< over DecodeLimits::max_headers
    too_many_attributes,  ///< over DecodeLimits::max_attributes
    bad_attribute,        ///< an unknown attribute code
    trailing_bytes,       ///< bytes after the 0xFF terminator, or none
    bad_body_chunk,       ///< a body chunk length that disagrees with the packet
};

/// "bad_magic", ... for log lines and tests.
std::string_view error_name(Error e) noexcept;

/// Named bounds on a FORWARD_REQUEST beyond the packet size itself.
struct DecodeLimits {
    /// Payload bytes of one packet: the negotiated packet size minus the
    /// 4-byte header.
    std::size_t max_payload = kDefaultPacketSize - kHeaderSize;
    /// Request headers (num_headers).
    std::size_t max_headers = 200;
    /// Attributes, req_attribute pairs included.
    std::size_t max_attributes = 200;
};

/// The outcome of a decoder (core/decode.hpp). `consumed` is the whole
/// packet (header included) when done.
using Result = DecodeResult<Error>;

/// A FORWARD_REQUEST (AJPv13 "Request Packet Structure"), strings copied out
/// of the packet.
struct ForwardRequest {
    std::string method;  ///< from the method code, or the stored method (0xFF)
    std::string protocol;
    std::string req_uri;  ///< the path, as the front end sent it (no query)
    std::string remote_addr;
    std::string remote_host;
    std::string server_name;
    std::uint16_t server_port = 0;
    bool is_ssl = false;
    /// Lowercase names for coded headers ("content-type"), the front end's
    /// spelling for named ones; values as sent; in order, repeats kept.
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string> query_string;    ///< attribute 0x05
    std::optional<std::string> remote_user;     ///< 0x03
    std::optional<std::string> auth_type;       ///< 0x04
    std::optional<std::string> route;           ///< 0x06 (jvm_route)
    std::optional<std::string> ssl_cert;        ///< 0x07
    std::optional<std::string> ssl_cipher;      ///< 0x08
    std::optional<std::string> ssl_session;     ///< 0x09
    std::optional<std::uint16_t> ssl_key_size;  ///< 0x0B (an integer)
    std::optional<std::string> secret;          ///< 0x0C
    /// req_attribute (0x0A) pairs, in order (AJP_REMOTE_PORT, AJP_LOCAL_ADDR,
    /// JkEnvVar variables, ...).
    std::vector<std::pair<std::string, std::string>> attributes;
};

/// A packet the front end may send between requests.
struct RequestPacket {
    Code type = Code::forward_request;  ///< forward_request, cping, shutdown or ping
    ForwardRequest request;             ///< filled for forward_request
};

/// Frames one packet from the front end: checks the magic and the length
/// against `max_payload`; on done, `payload` views the payload inside `in`.
Result frame_packet(std::string_view in, std::size_t max_payload, std::string_view& payload);

/// Decodes the packet at the start of `in` when the front end is between
/// requests: FORWARD_REQUEST, CPING, SHUTDOWN or PING. Anything else is an
/// error (a body packet here would be out of step).
Result decode_request_packet(std::string_view in, const DecodeLimits& limits, RequestPacket& out);

/// Decodes the payload of a FORWARD_REQUEST (prefix code included);
/// `base` is added to offsets in errors. Never need_more.
Result decode_forward_request(std::string_view payload, const DecodeLimits& limits,
                              ForwardRequest& out, std::size_t base = 0);

/// Why the request's framing headers cannot be trusted, the way the HTTP
/// codec refuses the same head (RFC 9112 §6.3, §3.2): Content-Length twice
/// (coded or named, in any case: a coded 3 and a named 10 would frame the
/// body with one and show the callback the other), Transfer-Encoding twice,
/// both, or Host twice. Empty when there is nothing to refuse. Pure.
std::string framing_fault(const ForwardRequest& req);

/// Decodes a request body packet at the start of `in`: a 16-bit chunk length
/// and that many bytes, filling the payload. An empty payload (mod_jk:
/// 0x12 0x34 0x00 0x00) and a chunk of length 0 (mod_proxy_ajp:
/// 0x12 0x34 0x00 0x02 0x00 0x00) both end the body: `data` is then empty.
/// Tolerates the one trailing byte some front ends add (none seen so far).
Result decode_body_packet(std::string_view in, std::size_t max_payload, std::string_view& data);

/// The bytes of request body one body packet can carry (packet size minus
/// the 4-byte header and the 2-byte chunk length: 8186 for 8192).
constexpr std::size_t max_request_chunk(std::size_t packet_size) noexcept {
    return packet_size - kHeaderSize - 2;
}
/// The bytes of response body one SEND_BODY_CHUNK can carry (packet size
/// minus header, prefix code, chunk length and NUL: 8184 for 8192).
constexpr std::size_t max_response_chunk(std::size_t packet_size) noexcept {
    return packet_size - kHeaderSize - 4;
}

// ---------------------------------------------------------------- encoders
// Each appends one whole packet ('A' 'B', length, payload) to `out`.

/// SEND_HEADERS: status, reason, headers (Content-Type, Content-Length,
/// Location, Set-Cookie, ... as their 0xA0xx codes, case-insensitively;
/// others by name). Returns false, appending nothing, when the packet would
/// be larger than `packet_size` (or a field longer than 0xFFFE bytes, or more
/// than 0xFFFF headers).
bool encode_send_headers(std::string& out, int status, std::string_view reason,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::size_t packet_size = kDefaultPacketSize);
/// SEND_BODY_CHUNK; `data` must not be longer than
/// max_response_chunk(packet size). An empty chunk asks the front end to
/// flush what it has to the client (mod_jk, mod_proxy_ajp and Tomcat agree).
void encode_send_body_chunk(std::string& out, std::string_view data);
/// GET_BODY_CHUNK asking for up to `size` bytes.
void encode_get_body_chunk(std::string& out, std::uint16_t size);
/// END_RESPONSE; `reuse` tells the front end whether it may send another
/// request on this connection.
void encode_end_response(std::string& out, bool reuse);
/// CPONG, the answer to CPING.
void encode_cpong(std::string& out);

// A front end's encoders, for tests, fuzz seeds and probes of the port.
/// A FORWARD_REQUEST packet (0x12 0x34 ...). `method_code` 0xFF sends
/// req.method as the stored method attribute (0x0D). Headers whose names
/// have a 0xA0xx code are sent coded. Throws std::length_error when a string
/// does not fit in 16 bits.
std::string encode_forward_request(const ForwardRequest& req, std::uint8_t method_code);
/// A body packet with `data` (empty: the 6-byte end packet of mod_proxy_ajp).
std::string encode_body_packet(std::string_view data);
/// The method code for a method name (GET: 2), or 0xFF when it has none.
std::uint8_t method_code(std::string_view method) noexcept;

}  // namespace postern::ajp
