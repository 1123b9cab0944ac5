// Integration tests: a small HTTP/1.1 client over a raw socket, so a test
// controls every byte it sends (repeated headers, chunked uploads) and sees
// when each part of a response arrived (streaming).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "socket_client.hpp"

namespace postern::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method = "GET";
    std::string target = "/";
    /// Sent in order after Host; a name may repeat.
    Headers headers;
    std::string body;
    /// When set, the body sent instead of `body`, without a copy (a large
    /// payload such as payload(32 MiB)); it must outlive the request.
    const std::string* body_ref = nullptr;
    /// 0: the body goes with Content-Length (none for an empty GET/HEAD).
    /// Otherwise with Transfer-Encoding: chunked, in chunks of this size.
    std::size_t chunk_size = 0;
};

struct HttpResponse {
    std::string version;
    int status = 0;
    Headers headers;
    std::string body;
    /// The response came with Transfer-Encoding: chunked.
    bool chunked = false;
    /// From the start of sending the request: when the first byte after the
    /// header block arrived (-1 if none did), and when the response was
    /// complete.
    std::chrono::milliseconds first_body_byte{-1};
    std::chrono::milliseconds complete{0};

    /// The first value of a header, by case-insensitive name.
    std::optional<std::string> header(std::string_view name) const;
};

/// One client connection to "HOST:PORT" or a unix-socket path, kept alive
/// across requests. Every wait has a deadline. Throws std::runtime_error
/// (with what arrived so far) on a timeout, a closed connection or a
/// malformed response. Not thread-safe: one per thread.
class HttpConnection {
  public:
    /// `host` is the Host header sent with every request.
    HttpConnection(const std::string& address, std::string host);

    HttpResponse request(const HttpRequest& req,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));
    /// The client's own port (TCP), 0 over a unix socket.
    int local_port() const;
    /// True once the server closed the connection.
    bool closed() const noexcept { return socket_.closed() && buffer_.empty(); }

  private:
    using Clock = std::chrono::steady_clock;
    /// Appends what arrives to buffer_; false when the peer closed.
    bool fill(Clock::time_point deadline);
    std::string take_line(Clock::time_point deadline);
    std::string take(std::size_t n, Clock::time_point deadline);

    SocketClient socket_;
    std::string host_;
    std::string buffer_;
};

/// One request on a fresh connection.
HttpResponse http_request(const std::string& address, const std::string& host,
                          const HttpRequest& req,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace postern::test
