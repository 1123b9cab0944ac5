// Test support: the client's side of HTTP/1.1 over a raw socket: request
// text, and a strict reader of the responses on a connection (pipelining
// kept: bytes read past one response are kept for the next).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socket_client.hpp"

namespace postern::test::http1 {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// "METHOD target HTTP/1.1", Host, `headers`, Content-Length when `body` is
/// not empty or the method is POST, "Connection: close" unless
/// `keep_alive`, the blank line, then `body`.
std::string request(std::string_view method, std::string_view target, std::string_view body = {},
                    const Headers& headers = {}, bool keep_alive = true);

/// One response.
struct HttpResponse {
    int status = 0;
    std::string status_line;
    std::map<std::string, std::string> headers;  ///< lowercased names
    std::string body;
    bool complete = false;  ///< the body ended by its framing (not by a close)

    std::optional<std::string> header(const std::string& name) const;
};

/// Reads responses one after the other from a connection. Strict: a
/// repeated header or a malformed head is no response (nullopt).
class ResponseReader {
  public:
    explicit ResponseReader(SocketClient& client) : client_(client) {}

    /// One response (a 1xx too). nullopt when the connection closed or the
    /// deadline passed before a whole head came.
    std::optional<HttpResponse> next(
        bool head_request = false,
        std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

    /// Bytes read past the last response.
    const std::string& buffered() const { return buffer_; }

  private:
    bool fill();

    SocketClient& client_;
    std::string buffer_;
    std::chrono::steady_clock::time_point deadline_;
};

}  // namespace postern::test::http1
