// Postern HTTP adapter: the request codec. Pure functions of bytes, no
// sockets: the request head parser and the chunked body decoder.
//
// Both are strict where RFC 9112 lets a server choose, because a gateway
// behind a proxy must never disagree with that proxy on where one request
// ends and the next begins (request smuggling: the gunicorn CVEs of 2024,
// CVE-2024-1135 and CVE-2024-6827). Whatever is ambiguous is refused with
// a 4xx and the connection closed; nothing is guessed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/decode.hpp"

namespace postern::http {

/// The three outcomes of a decoding step (STYLE 2, core/decode.hpp).
using Status = DecodeStatus;

/// Bounds on a request head (Limits::max_header_bytes / max_headers).
struct HeadLimits {
    /// Request line plus header fields plus their CRLFs.
    std::size_t max_header_bytes = 64 * 1024;
    /// Header field lines.
    std::size_t max_headers = 200;
};

/// One header field line as received (OWS around the value removed).
struct Field {
    std::string_view name;
    std::string_view value;
};

/// How the request body is delimited (RFC 9112 §6.3).
enum class Framing {
    none,     ///< no body (neither Content-Length nor Transfer-Encoding)
    length,   ///< Content-Length bytes
    chunked,  ///< Transfer-Encoding: chunked
};

/// A parsed request head. Every view points into the parsed input, so it
/// is valid only while that input is.
struct RequestHead {
    std::string_view method;
    /// The request-target exactly as received.
    std::string_view target;
    /// Path and query to route on: the target in origin-form ("/a?b"), the
    /// part after the authority in absolute-form (may be "" or start with
    /// '?': the caller prepends '/'), "*" in asterisk-form.
    std::string_view path;
    /// Host and port the request is for: the authority of an
    /// absolute-form target (RFC 9112 §3.2.2: then Host is ignored),
    /// otherwise the Host field; may be empty.
    std::string_view authority;
    /// HTTP/1.minor (a minor above 1 is taken as 1, RFC 9110 §6.2).
    int minor = 1;
    std::vector<Field> fields;
    Framing framing = Framing::none;
    std::uint64_t content_length = 0;
    /// The client wants the connection kept open (RFC 9112 §9.3).
    bool keep_alive = true;
    /// "Expect: 100-continue" in an HTTP/1.1 request (RFC 9110 §10.1.1).
    bool expect_continue = false;
    /// Connection lists "upgrade": the Upgrade field is meant for this
    /// server (RFC 9110 §7.8; a WebSocket handshake, RFC 6455 §4.2.1).
    bool upgrade = false;
};

/// What parse_request_head found (core/decode.hpp). `consumed`, done: bytes
/// of the head (empty lines before it included); need_more: bytes of empty
/// lines before the request that may be dropped, 0 once a request has
/// started. `code`, error: the status to answer with (400, 414, 417, 431,
/// 505).
using HeadResult = DecodeResult<int>;

/// Parses one request head (request line, header fields, empty line) from
/// the start of `in` and works out how its body is framed.
///
/// Refused (status error) with 400: anything that does not follow the
/// RFC 9112 grammar (bare CR or LF, whitespace before a field colon, line
/// folding, control bytes, a request-target that is not origin-, absolute-
/// or asterisk-form); Transfer-Encoding together with Content-Length, in an
/// HTTP/1.0 request, repeated, or other than exactly "chunked"; more than
/// one Content-Length or one that is not 1*DIGIT; an HTTP/1.1 request
/// without exactly one valid Host. 414 when the request line alone does not
/// fit in max_header_bytes, 431 when the head does not or has more than
/// max_headers fields, 505 for an HTTP major version other than 1, 417 for
/// an Expect other than 100-continue in HTTP/1.1 (HTTP/1.0 Expect is ignored).
HeadResult parse_request_head(std::string_view in, const HeadLimits& limits, RequestHead& out);

/// True when `host` is a valid Host field value: uri-host [ ":" port ]
/// (RFC 9110 §7.2, RFC 3986 §3.2.2). The empty value is valid.
bool valid_host(std::string_view host) noexcept;

/// The host part of an authority, without the port, lowercased:
/// "Example.COM:8080" -> "example.com", "[::1]:80" -> "[::1]".
std::string host_without_port(std::string_view authority);

/// Decodes a chunked request body (RFC 9112 §7.1), resumable: feed it the
/// bytes as they arrive. Chunk extensions are checked and ignored; the
/// trailer section is checked and discarded (RFC 9112 §7.1.2 allows it).
///
/// Refused with 400: a chunk size that is not 1*HEXDIG or does not fit in
/// 63 bits, whitespace after the size that does not lead to an extension,
/// a control byte in an extension, a chunk not followed by CRLF, a chunk
/// line longer than max_line; with 431 a trailer section longer than
/// max_trailer. The body length limit is enforced by the core.
class ChunkedDecoder {
  public:
    explicit ChunkedDecoder(std::size_t max_line = 4096, std::size_t max_trailer = 64 * 1024)
        : max_line_(max_line), max_trailer_(max_trailer) {}

    /// The decode outcome (core/decode.hpp): done, the last chunk and the
    /// trailer section were read; need_more, `in` was used up or `out` is
    /// full; error, `code` is the status to answer with and `offset` counts
    /// from the start of the chunked body. `consumed`: bytes of `in` used.
    struct Step : DecodeResult<int> {
        std::size_t produced = 0;  ///< body bytes written to `out`
    };

    /// Decodes from `in`, writing at most `out_size` body bytes to `out`.
    Step decode(std::string_view in, char* out, std::size_t out_size);

    bool done() const noexcept { return state_ == State::done; }
    /// Body bytes left in the current chunk (0 outside chunk data). A
    /// caller with nothing buffered may receive up to this many bytes
    /// straight into its own buffer and report them with consume_data().
    std::uint64_t data_left() const noexcept { return state_ == State::data ? chunk_left_ : 0; }
    void consume_data(std::size_t n) noexcept;
    /// Restarts for a new body.
    void reset() noexcept;

  private:
    enum class State {
        size_first,    // first hex digit of a chunk size
        size,          // more hex digits, ';', BWS or CR
        size_ws,       // BWS after the size: only ';' may follow
        ext,           // chunk extension, up to CR
        size_lf,       // LF ending the chunk line
        data,          // chunk data
        data_cr,       // CR after chunk data
        data_lf,       // LF after chunk data
        trailer,       // start of a trailer line, or CR of the final CRLF
        trailer_line,  // inside a trailer field line
        trailer_lf,    // LF ending a trailer line
        end_lf,        // LF of the final CRLF
        done,
    };

    Step fail(Step step, std::size_t at, int code, std::string reason);

    std::size_t max_line_;
    std::size_t max_trailer_;
    State state_ = State::size_first;
    std::uint64_t chunk_size_ = 0;
    std::uint64_t chunk_left_ = 0;
    std::size_t line_bytes_ = 0;
    std::size_t trailer_bytes_ = 0;
    bool trailer_colon_ = false;
    bool last_chunk_ = false;
    std::uint64_t offset_ = 0;  // bytes decoded so far, for error offsets
};

}  // namespace postern::http
