// Test support: one request, spoken in any of the socket protocols (http,
// fastcgi, ajp, scgi, uwsgi) as a front end would, and its answer read back
// in one shape, so that a suite can run the same case over every protocol
// (TEST_P). Built on the per-protocol clients beside it.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socket_client.hpp"

namespace postern::test {

/// A request, whatever the protocol carries it.
struct ProtocolRequest {
    std::string method = "GET";
    std::string target = "/app/hello";  ///< path and query
    std::string body;
    /// HTTP header fields ("X-Thing"); HTTP_X_THING variables elsewhere.
    std::vector<std::pair<std::string, std::string>> headers;
    /// Ask to keep the connection (HTTP keep-alive, FCGI_KEEP_CONN; AJP
    /// always keeps it; SCGI and uwsgi cannot).
    bool keep = true;
};

/// The answer, whatever the protocol carried it in.
struct ProtocolReply {
    bool answered = false;  ///< a whole response came (head and its body)
    int status = 0;         ///< 0 when no head came
    std::string body;
    bool closed = false;  ///< the gateway closed the connection
    /// FastCGI: FCGI_END_REQUEST's protocolStatus (2 is FCGI_OVERLOADED).
    int fcgi_protocol_status = -1;
    /// AJP: END_RESPONSE allowed reusing the connection.
    bool ajp_reuse = false;
    std::string error;  ///< what went wrong reading (malformed bytes, timeout)
};

/// Speaks one protocol as a front end does.
class ProtocolClient {
  public:
    /// `protocol`: "http", "fastcgi", "ajp", "scgi" or "uwsgi";
    /// `ajp_secret` goes into every FORWARD_REQUEST.
    explicit ProtocolClient(std::string protocol, std::string ajp_secret = "s3cret");

    const std::string& protocol() const noexcept { return protocol_; }
    /// Whether a connection serves more than one request (HTTP, FastCGI,
    /// AJP).
    bool keeps_connections() const;

    /// The bytes up to the body: the request head (FastCGI: BEGIN_REQUEST
    /// and the whole PARAMS stream).
    std::string head(const ProtocolRequest& r) const;
    /// The body as framed (FastCGI: the FCGI_STDIN stream with its empty
    /// record; AJP: the first body packet, sent unasked, so at most
    /// ajp::kMaxBodyChunk bytes; the others: as is).
    std::string body(const ProtocolRequest& r) const;
    /// head() + body().
    std::string encode(const ProtocolRequest& r) const;

    /// Reads one answer from `c`: a whole response, or what came before the
    /// close or the deadline.
    ProtocolReply read(SocketClient& c,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) const;
    /// encode(r) on a new connection to `address`, then read().
    ProtocolReply exchange(
        const std::string& address, const ProtocolRequest& r,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) const;

  private:
    std::string protocol_;
    std::string ajp_secret_;
};

/// `bytes` in pieces of `piece` bytes (the last one shorter), for a client
/// that trickles a request.
std::vector<std::string> pieces(std::string_view bytes, std::size_t piece = 1);

}  // namespace postern::test
