// Postern SCGI adapter: the SCGI request header, as pure functions of bytes.
//
// SCGI (Neil Schemenauer, "SCGI: A Simple Common Gateway Interface
// alternative", protocol version 1, python.ca/scgi/protocol.txt): the front
// end opens a connection, sends one netstring
//
//     <length>":"<name>NUL<value>NUL...","
//
// whose pairs start with CONTENT_LENGTH and include SCGI=1, then exactly
// CONTENT_LENGTH body bytes; the application answers with a CGI response
// (a "Status:" header block, then the body) and closes the connection. One
// request per connection.
//
// Nothing here touches a socket: decode_request takes the bytes received so
// far and answers done (with the bytes consumed: the whole netstring),
// need_more, or error (with a code, a reason and the byte offset of the
// fault). Every length read from the wire is checked against the bytes left
// and against a named limit before it is used. Thread-safe (no state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/decode.hpp"

namespace postern::scgi {

using Status = DecodeStatus;

enum class Error {
    none,
    bad_length,            ///< the netstring length is empty or not decimal digits
    leading_zero,          ///< the netstring length has a leading zero ("07:")
    header_too_large,      ///< the netstring length is over DecodeLimits::max_header_bytes
    missing_comma,         ///< the netstring does not end with ','
    bad_pair,              ///< an empty name, or a name or value without its NUL
    content_length_first,  ///< the first pair is not CONTENT_LENGTH
    bad_content_length,    ///< CONTENT_LENGTH is empty, not digits, or over 19 digits
    scgi_version,          ///< no SCGI variable, or one whose value is not "1"
    duplicate_name,        ///< a name sent twice
    too_many_params,       ///< over DecodeLimits::max_params
};

/// "bad_length", ... for log lines and tests.
std::string_view error_name(Error e) noexcept;

/// Named bounds on one request header.
struct DecodeLimits {
    /// The netstring's length: the bytes of the name-value pairs (Postern's
    /// --max-params-bytes). nginx sends every request header plus about 20
    /// variables.
    std::size_t max_header_bytes = 256 * 1024;
    /// Name-value pairs (--max-params).
    std::size_t max_params = 1000;
    /// Leniency, off by default: accept a repeated HTTP_* name (a header the
    /// client repeated). The SCGI text forbids duplicates, but nginx before
    /// 1.23 sends each copy of a repeated request header as its own pair
    /// (seen with nginx 1.22, tests/integration/scgi_uwsgi); the adapter
    /// turns it on and joins the copies as it does for FastCGI params. A
    /// repeated name that is not HTTP_* is refused either way.
    bool allow_repeated_headers = false;
};

/// The outcome of the decoder (core/decode.hpp). `consumed` is the whole
/// netstring (length, colon, pairs, comma) when done.
using Result = DecodeResult<Error>;

/// One decoded request header: the pairs in the order sent (CONTENT_LENGTH
/// and SCGI included), and CONTENT_LENGTH as a number.
struct Request {
    std::vector<std::pair<std::string, std::string>> params;
    std::uint64_t content_length = 0;
};

/// Decodes the request header at the start of `in`. Bytes after the comma
/// (the body) are not looked at.
Result decode_request(std::string_view in, const DecodeLimits& limits, Request& out);

/// A front end's encoder, for tests, fuzz seeds and probes: the netstring
/// of `params` exactly as given (the caller puts CONTENT_LENGTH first).
std::string encode_request(const std::vector<std::pair<std::string, std::string>>& params);

}  // namespace postern::scgi
