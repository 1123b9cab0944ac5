// Postern core: the HTTP/1.1 response head (RFC 9112 §4, §6), written once
// for everything that sends one: the HTTP adapter, uwsgi (whose front ends
// read an HTTP response) and the overload answer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "postern/response.hpp"

namespace postern {

/// What an HTTP/1.1 response head says besides its status and the
/// callback's headers: how the body is framed and whether the connection
/// persists (RFC 9112 §6, §9). The encoder writes these, and only these.
struct HttpFraming {
    /// "Content-Length: N" (RFC 9112 §6.2).
    std::optional<std::uint64_t> content_length;
    /// "Transfer-Encoding: chunked" (RFC 9112 §7.1).
    bool chunked = false;
    enum class Connection {
        unsaid,      ///< nothing: HTTP/1.1 persists by default
        close,       ///< "Connection: close" (RFC 9112 §9.6)
        keep_alive,  ///< "Connection: keep-alive" (to an HTTP/1.0 client, §C.2.2)
    };
    Connection connection = Connection::unsaid;
    /// Adds "Date:" (RFC 9110 §6.6.1, IMF-fixdate) when `headers` have none.
    bool date = false;
};

/// Appends a whole response head to `out`:
///   "HTTP/1.1 <status> <reason_phrase(status)>\r\n"
///   each of `headers` (may be null) as "Name: value\r\n", in order, except
///     Content-Length and Transfer-Encoding (framing is `framing`'s alone);
///   [Date], [Content-Length | Transfer-Encoding], [Connection];
///   "\r\n".
/// Headers are written as given: Response validated them (no CR, LF or NUL).
void append_http_head(std::string& out, int status, const HeaderList* headers,
                      const HttpFraming& framing);

}  // namespace postern
