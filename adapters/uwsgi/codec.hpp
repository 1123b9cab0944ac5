// Postern uwsgi adapter: the uwsgi request packet, as pure functions of bytes.
//
// The uwsgi protocol (uWSGI docs, "The uwsgi protocol"; nginx's
// ngx_http_uwsgi_module): a 4-byte header
//
//     modifier1 (u8) | datasize (u16, little-endian) | modifier2 (u8)
//
// then `datasize` bytes of variables, each a u16-LE key length, the key, a
// u16-LE value length and the value; the request body follows (CONTENT_LENGTH
// bytes). modifier1 0 means "WSGI-style variables", the only kind Postern
// takes; a packet with any other modifier1 (uWSGI's 5 = PSGI, 9 = CGI, ...)
// is refused with a clear reason. The response is a raw HTTP/1.1 status line
// and header block, then the body, as uWSGI sends it.
//
// Variables are data only: no name loads code or changes configuration
// (uWSGI's UWSGI_FILE, UWSGI_SCRIPT, UWSGI_SETENV ... are plain variables
// here).
//
// Nothing here touches a socket: decode_request takes the bytes received so
// far and answers done (with the bytes consumed: header and variables),
// need_more, or error (code, reason, byte offset). Every length read from
// the wire is checked against the bytes left and a named limit before use.
// Thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/decode.hpp"

namespace postern::uwsgi {

/// modifier1, datasize, modifier2.
inline constexpr std::size_t kHeaderSize = 4;
/// The 16-bit datasize: the largest variables block (nginx sends up to this).
inline constexpr std::size_t kMaxDataSize = 0xFFFF;

using Status = DecodeStatus;

enum class Error {
    none,
    bad_modifier1,       ///< modifier1 other than 0 (WSGI-style variables)
    bad_modifier2,       ///< modifier2 other than 0 with modifier1 0
    header_too_large,    ///< datasize over DecodeLimits::max_header_bytes
    truncated,           ///< a key or value length runs past the variables block
    empty_name,          ///< a variable with an empty key
    too_many_params,     ///< over DecodeLimits::max_params
    bad_content_length,  ///< CONTENT_LENGTH present but not 1..19 decimal digits
    duplicate_name,      ///< a key other than HTTP_* (or HTTP_HOST) sent twice
};

/// "bad_modifier1", ... for log lines and tests.
std::string_view error_name(Error e) noexcept;

/// Named bounds on one request packet.
struct DecodeLimits {
    /// datasize (Postern's --max-params-bytes); the field holds at most
    /// 65,535, which is accepted by default.
    std::size_t max_header_bytes = 256 * 1024;
    /// Variables (--max-params).
    std::size_t max_params = 1000;
};

/// The outcome of the decoder (core/decode.hpp). `consumed` is the whole
/// packet (header and variables) when done.
using Result = DecodeResult<Error>;

/// One decoded request packet: the variables in the order sent (a repeated
/// HTTP_* key kept as sent: nginx 1.22 sends each copy of a repeated
/// header; any other key sent twice, HTTP_HOST included (two Hosts are a 400
/// over HTTP), is refused, as over SCGI: two
/// CONTENT_LENGTHs would frame the body with one and show the other), and
/// CONTENT_LENGTH as a number when present (no CONTENT_LENGTH: no body, as
/// uWSGI reads it).
struct Request {
    std::uint8_t modifier2 = 0;
    std::vector<std::pair<std::string, std::string>> params;
    std::optional<std::uint64_t> content_length;
};

/// Decodes the packet header and variables at the start of `in`. Bytes
/// after them (the body) are not looked at.
Result decode_request(std::string_view in, const DecodeLimits& limits, Request& out);

/// A front end's encoder, for tests, fuzz seeds and probes: header and
/// variables exactly as given. Throws std::length_error when a key, a value
/// or the block does not fit in 16 bits.
std::string encode_request(const std::vector<std::pair<std::string, std::string>>& params,
                           std::uint8_t modifier1 = 0, std::uint8_t modifier2 = 0);

}  // namespace postern::uwsgi
