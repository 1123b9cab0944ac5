// Postern: the request a callback receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "postern/log.hpp"
#include "postern/params.hpp"

namespace postern {

/// The CGI meta-variables of one request (RFC 3875 §4.1), in the order the
/// gateway produced them. Names are unique; a header the client repeated is
/// one HTTP_* entry whose value joins the copies with ", " ("; " for Cookie).
using Environ = std::vector<std::pair<std::string, std::string>>;

/// Thrown by the gateway when the request itself is at fault (a malformed
/// chunked body, a body over the configured limit, a path that cannot be
/// decoded). The exception barrier turns it into `status` (400, 413, ...)
/// when nothing was sent yet, and closes the connection afterwards.
/// A callback may throw it too, to refuse a request with a 4xx.
class RequestError : public std::runtime_error {
  public:
    RequestError(int status, const std::string& reason)
        : std::runtime_error(reason), status_(status) {}
    int status() const noexcept { return status_; }

  private:
    int status_;
};

/// Where the body of a request comes from. Implemented by each adapter over
/// its wire format (FCGI_STDIN records, an HTTP chunked or fixed-length
/// body, ...). `read` blocks until at least one byte is available, returns
/// 0 at the end of the body, and throws RequestError when the body is
/// malformed or exceeds the configured limit.
class BodySource {
  public:
    virtual ~BodySource() = default;
    virtual std::size_t read(char* buffer, std::size_t size) = 0;
};

/// One request, as every adapter presents it: the same meta-variables the
/// same way whatever the front end and protocol, so a callback cannot tell
/// them apart except through protocol().
///
/// Threading: a Request belongs to the worker thread running the callback;
/// it is valid only during the callback. Ownership: the gateway owns it.
/// The body is a stream: read() it in pieces; it is never held in memory
/// whole by the gateway.
class Request {
  public:
    Request(std::string_view protocol, Environ environ, BodySource& body);

    /// Adapter that decoded the request: "fastcgi", "http", ...
    std::string_view protocol() const noexcept { return protocol_; }

    std::string_view method() const noexcept { return var("REQUEST_METHOD"); }
    /// The mount prefix that matched ("" for a mount at "/").
    std::string_view script_name() const noexcept { return var("SCRIPT_NAME"); }
    /// The path under the mount, percent-decoded ("/throw" under mount "/f").
    std::string_view path_info() const noexcept { return var("PATH_INFO"); }
    std::string_view query_string() const noexcept { return var("QUERY_STRING"); }
    /// The request target as the client sent it, raw (path and query).
    std::string_view request_uri() const noexcept { return var("REQUEST_URI"); }
    std::string_view server_name() const noexcept { return var("SERVER_NAME"); }
    std::string_view server_port() const noexcept { return var("SERVER_PORT"); }
    std::string_view server_protocol() const noexcept { return var("SERVER_PROTOCOL"); }
    std::string_view remote_addr() const noexcept { return var("REMOTE_ADDR"); }
    std::string_view remote_port() const noexcept { return var("REMOTE_PORT"); }
    std::string_view content_type() const noexcept { return var("CONTENT_TYPE"); }
    /// True when the client reached the front end over TLS (HTTPS=on).
    bool https() const noexcept;
    /// CONTENT_LENGTH; empty for a body of unknown length (chunked upload).
    std::optional<std::uint64_t> content_length() const noexcept;

    /// A request header by name, case-insensitive ("content-type",
    /// "X-Forwarded-For"). Content-Type and Content-Length are headers too.
    std::optional<std::string_view> header(std::string_view name) const;
    /// Every request header: lowercased names with '-', values as received
    /// (repeated headers already joined).
    std::vector<std::pair<std::string, std::string>> headers() const;

    /// One CGI meta-variable by exact name, or empty.
    std::optional<std::string_view> env(std::string_view name) const noexcept;
    /// Every CGI meta-variable.
    const Environ& environ() const noexcept { return environ_; }

    /// Reads up to `size` body bytes; returns 0 at the end of the body.
    /// Throws RequestError when the body is malformed or too large.
    std::size_t read(char* buffer, std::size_t size);
    /// Reads the rest of the body into a string, refusing (RequestError 413)
    /// a body longer than `limit` bytes.
    std::string read_all(std::size_t limit);
    /// Body bytes read so far.
    std::uint64_t body_bytes_read() const noexcept { return body_read_; }

    // The application toolkit (built on Poco; see README "Writing a
    // callback"). Each throws RequestError for bad input, which the gateway
    // (or a Router's on_error) answers with its status.

    /// The decoded query string (Params::parse_urlencoded of QUERY_STRING),
    /// parsed on the first call and cached in the Request: later calls
    /// return the same Params, valid until the callback returns.
    /// RequestError(400) for a malformed percent-escape or more than
    /// Params::kMaxPairs pairs, on every call (a failure is not cached).
    const Params& query() const;
    /// The application/x-www-form-urlencoded body, read whole (up to
    /// kMaxFormBytes) and decoded on the first call, then cached: later
    /// calls return the same Params, valid until the callback returns. The
    /// Content-Type is compared without its parameters ("; charset=UTF-8")
    /// and case-insensitively.
    ///
    /// Failure (a RequestError, answered with its status): 415 for another
    /// Content-Type, or for a body without one (no Content-Type and no
    /// body is an empty form, so a GET may look for optional fields); 413
    /// for a body longer than kMaxFormBytes, before a byte is read when
    /// Content-Length says so; 400 as query(), naming "form body"; and
    /// whatever read() throws for a body cut short or malformed. Calling
    /// form() once the body was read (by read(), body(), or a form() that
    /// failed after reading) throws std::logic_error: the form would be
    /// missing its start.
    const Params& form();
    static constexpr std::size_t kMaxFormBytes = 1024 * 1024;
    /// The value of the first cookie named `name` in the Cookie header (RFC
    /// 6265 §5.4; repeated Cookie headers are one list), empty when there
    /// is none. Pairs are split on ';' and trimmed; a piece without '=' is
    /// skipped; a value in double quotes is given without them; nothing is
    /// percent-decoded (a value is what the client sent). Names are
    /// case-sensitive. The view points into the Request's own copy of the
    /// header: valid until the callback returns, no allocation. Never
    /// throws for any header content.
    std::optional<std::string_view> cookie(std::string_view name) const;
    /// The body as a stream, for parsers that take a std::istream. A body
    /// cut short (the client went away), malformed or over the limit throws
    /// RequestError from the read that meets it, never a clean end of file.
    /// Shares the body with read(): use one or the other.
    ///
    /// The stream is created (on the first call; the same one afterwards)
    /// with exceptions(std::ios::badbit): a std::istream otherwise swallows
    /// what its streambuf throws and only sets badbit, which a loop reading
    /// to end of file cannot tell from the end. So get(), read(), getline()
    /// and >> rethrow the RequestError with its status; do not clear that
    /// mask. (`out << req.body().rdbuf()` is the exception: the standard
    /// makes it set failbit on `out` instead, so check out.fail().) The real
    /// end of the body sets eofbit and failbit as usual, without throwing.
    /// Once it threw, the stream stays bad: a further read throws
    /// std::ios_base::failure (the request is lost by then anyway).
    /// It buffers 16 KiB; a read of more goes straight to Request::read.
    std::istream& body();

    /// A segment a Router captured ({id} in "/items/{id}"), percent-decoded;
    /// empty when the route has no such name.
    std::string_view param(std::string_view name) const noexcept;
    /// Every captured segment, in pattern order.
    const Params& params() const noexcept { return params_; }
    /// Set by the Router before it calls a route.
    void set_params(Params params) { params_ = std::move(params); }

    /// Writes `message` to the gateway's log in its own line format, with the
    /// request line (method and target) attached; control characters are
    /// escaped. Thread-safe.
    void log(Level level, std::string_view message) const;

  private:
    std::string_view var(std::string_view name) const noexcept;

    std::string protocol_;
    Environ environ_;
    BodySource& body_;
    std::uint64_t body_read_ = 0;
    bool body_done_ = false;
    mutable std::optional<Params> query_;
    std::optional<Params> form_;
    Params params_;
    std::unique_ptr<std::istream> body_stream_;
};

}  // namespace postern
