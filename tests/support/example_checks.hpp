// Integration tests: what the example modules (examples/) answer through any
// front end and protocol, checked the same way by every suite that serves
// them (AJP, SCGI and uwsgi, CGI). Each check takes the address a client
// connects to ("127.0.0.1:PORT", sent as Host too) and reports through
// gtest's EXPECT_*.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "http_client.hpp"
#include "process.hpp"
#include "stack.hpp"

namespace postern::test::examples {

/// What the echo example reports that must be the same whatever the
/// protocol carried the request (compared with a FastCGI site's answer).
inline constexpr const char* kSameEverywhere[] = {"method",       "script_name",     "path_info",
                                                  "query_string", "server_protocol", "server_name",
                                                  "remote_addr",  "content_type"};

inline HttpResponse get(const std::string& address, const std::string& target,
                        std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    HttpRequest req;
    req.target = target;
    return http_request(address, address, req, timeout);
}

/// An upload of `body` to `target` as application/octet-stream: a POST
/// with its Content-Length or, when `chunk_size` is not 0, a PUT in chunks
/// of that size.
inline HttpRequest upload(const std::string& target, const std::string& body,
                          std::size_t chunk_size = 0) {
    HttpRequest req;
    req.method = chunk_size == 0 ? "POST" : "PUT";
    req.target = target;
    req.headers = {{"Content-Type", "application/octet-stream"}};
    req.body = body;
    req.chunk_size = chunk_size;
    return req;
}

/// GET /hello, `times` times: 200, exactly "Hello, world!\n", text/plain.
inline void expect_hello(const std::string& address, int times = 1) {
    for (int i = 0; i < times; ++i) {
        const auto res = get(address, "/hello");
        EXPECT_EQ(res.status, 200);
        EXPECT_EQ(res.body, "Hello, world!\n");
        EXPECT_EQ(res.header("Content-Type").value_or(""), "text/plain");
    }
}

/// GET /doc: the bundled page (examples/doc/index.html) byte for byte, as
/// text/html.
inline void expect_doc(const std::string& address) {
    const std::string file = read_file(source_dir() + "/examples/doc/index.html");
    const auto res = get(address, "/doc");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/html");
    EXPECT_TRUE(res.body == file);
}

/// HEAD /hello: 200 and no body; then a GET on the same connection is
/// answered whole (nothing of the HEAD's answer was left behind).
inline void expect_head_then_get(const std::string& address) {
    HttpRequest req;
    req.method = "HEAD";
    req.target = "/hello";
    HttpConnection conn(address, address);
    const auto res = conn.request(req);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");
    req.method = "GET";
    EXPECT_EQ(conn.request(req).body, "Hello, world!\n");
}

/// /stream sends its chunks at 0, 500 and 1000 ms: the first must arrive
/// long before the last was produced, else something buffered the response.
inline void expect_stream_reaches_the_client_before_it_ends(const std::string& address) {
    using namespace std::chrono_literals;
    const auto res = get(address, "/stream?chunks=3&bytes=10&delay_ms=500", 20s);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "aaaaaaaaaabbbbbbbbbbcccccccccc");
    EXPECT_GE(res.complete, 950ms);
    EXPECT_GE(res.first_body_byte, 0ms);
    EXPECT_LT(res.first_body_byte + 600ms, res.complete)
        << "first body byte at " << res.first_body_byte.count() << " ms, complete at "
        << res.complete.count() << " ms";
}

}  // namespace postern::test::examples
