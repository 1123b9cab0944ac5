// Integration tests: the example modules served by the real `postern`
// executable behind the real nginx and Apache, running the snippets from
// nginx-conf/ and apache-conf/ as shipped, over every topology (FastCGI and
// HTTP, TCP and unix sockets), and directly over HTTP. One gateway, and the
// front ends a run needs, are shared by the whole suite (stack.hpp).
//
// Where a front end genuinely behaves differently, the test asserts what it
// does and says why (see the comments naming a front end).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "echo_reply.hpp"
#include "example_checks.hpp"
#include "http_client.hpp"
#include "stack.hpp"
#include "stack_suite.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;

class FrontEndTest : public StackSuite<FrontEndTest> {
  protected:
    const Topology& topology() const { return GetParam(); }
    bool behind(FrontEnd f) const { return topology().front_end == f; }
    /// The Host header a client sends: the address it connected to.
    std::string host() const { return endpoint_.address; }

    HttpResponse send(const HttpRequest& req, std::chrono::milliseconds timeout = 30s) {
        return http_request(endpoint_.address, host(), req, timeout);
    }
    HttpResponse get(const std::string& target, Headers headers = {}) {
        HttpRequest req;
        req.target = target;
        req.headers = std::move(headers);
        return send(req);
    }
    /// A request to the echo module that must succeed, parsed.
    EchoReply echo(const HttpRequest& req) {
        const HttpResponse res = send(req, 60s);
        if (res.status != 200) {
            throw std::runtime_error("echo answered " + std::to_string(res.status) + ": " +
                                     res.body.substr(0, 500));
        }
        EXPECT_EQ(res.header("Content-Type").value_or(""), "application/json");
        return EchoReply(res.body);
    }
    EchoReply echo_get(const std::string& target, Headers headers = {}) {
        HttpRequest req;
        req.target = target;
        req.headers = std::move(headers);
        return echo(req);
    }
    std::string protocol_seen() const { return topology().protocol; }
};

// --------------------------------------------------------------- responses

TEST_P(FrontEndTest, HelloIsExactBytes) {
    const auto res = get("/hello");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "Hello, world!\n");
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/plain");
}

TEST_P(FrontEndTest, DocIsTheFileByteForByte) {
    const std::string file = read_file(source_dir() + "/examples/doc/index.html");
    ASSERT_EQ(file.size(), 7065u);
    const auto res = get("/doc");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/html");
    EXPECT_EQ(res.body.size(), file.size());
    EXPECT_TRUE(res.body == file) << "the body differs from examples/doc/index.html";
}

TEST_P(FrontEndTest, HeadHasNoBody) {
    HttpRequest req;
    req.method = "HEAD";
    req.target = "/hello";
    const auto res = send(req);
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "");
    EXPECT_EQ(res.header("Content-Type").value_or(""), "text/plain");
    // The connection is still in step: a GET on it gets its own answer.
    HttpConnection conn(endpoint_.address, host());
    EXPECT_EQ(conn.request(req).status, 200);
    req.method = "GET";
    EXPECT_EQ(conn.request(req).body, "Hello, world!\n");
}

TEST_P(FrontEndTest, UnmountedPathIs404) {
    EXPECT_EQ(get("/nothing-here").status, 404);
}

// --------------------------------------------------------------- echo

TEST_P(FrontEndTest, EchoShowsTheRequestTheSameWayEverywhere) {
    const EchoReply r = echo_get("/app/x/y?a=1&b=two");
    EXPECT_EQ(r.str("protocol"), protocol_seen());
    EXPECT_EQ(r.str("method"), "GET");
    EXPECT_EQ(r.str("script_name"), "/app");
    EXPECT_EQ(r.str("path_info"), "/x/y");
    EXPECT_EQ(r.str("query_string"), "a=1&b=two");
    EXPECT_EQ(r.env("REQUEST_URI").value_or("<unset>"), "/app/x/y?a=1&b=two");
    EXPECT_EQ(r.str("server_protocol"), "HTTP/1.1");
    EXPECT_EQ(r.str("server_name"), "127.0.0.1");
    EXPECT_EQ(r.str("server_port"), std::to_string(endpoint_.port));
    EXPECT_EQ(r.str("remote_addr"), "127.0.0.1");
    EXPECT_FALSE(r.https());
    EXPECT_EQ(r.str("content_type"), "");
    EXPECT_EQ(r.body_length(), 0u);
    EXPECT_EQ(r.str("body_sha256"), sha256_hex(""));
    EXPECT_EQ(r.env("REQUEST_METHOD").value_or(""), "GET");
    EXPECT_EQ(r.header("host").value_or(""), host());
}

TEST_P(FrontEndTest, EchoAtTheMountRoot) {
    const EchoReply r = echo_get("/app");
    EXPECT_EQ(r.str("script_name"), "/app");
    EXPECT_EQ(r.str("path_info"), "");
    EXPECT_EQ(r.str("query_string"), "");
}

TEST_P(FrontEndTest, EchoDecodesPercentEncodedPathsOnce) {
    {
        const EchoReply r = echo_get("/app/a%20b");
        EXPECT_EQ(r.str("path_info"), "/a b");
        EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/a%20b");
    }
    {
        const EchoReply r = echo_get("/app/%C3%A9t%C3%A9");
        EXPECT_EQ(r.str("path_info"), "/\xC3\xA9t\xC3\xA9");  // "/été"
    }
    {
        // %2F reaches the gateway encoded (AllowEncodedSlashes NoDecode and
        // nocanon in the Apache snippets; nginx passes $request_uri) and is
        // decoded once, into PATH_INFO, like every other escape.
        const EchoReply r = echo_get("/app/a%2Fb?q=%2F");
        EXPECT_EQ(r.str("path_info"), "/a/b");
        EXPECT_EQ(r.env("REQUEST_URI").value_or(""), "/app/a%2Fb?q=%2F");
        EXPECT_EQ(r.str("query_string"), "q=%2F");
    }
    {
        // %25 is a literal '%', not the start of a second escape.
        const EchoReply r = echo_get("/app/100%25%2541");
        EXPECT_EQ(r.str("path_info"), "/100%%41");
    }
}

TEST_P(FrontEndTest, EchoHeaders) {
    const EchoReply r = echo_get("/app/h", {{"X-Custom", "hello there"},
                                            {"X-Repeated", "one"},
                                            {"X-Repeated", "two"},
                                            {"Accept", "text/plain"},
                                            {"Proxy", "http://evil.example:8080"}});
    EXPECT_EQ(r.header("x-custom").value_or("<missing>"), "hello there");
    EXPECT_EQ(r.env("HTTP_X_CUSTOM").value_or("<missing>"), "hello there");
    EXPECT_EQ(r.header("x-repeated").value_or("<missing>"), "one, two");
    EXPECT_EQ(r.env("HTTP_X_REPEATED").value_or("<missing>"), "one, two");
    EXPECT_EQ(r.header("accept").value_or("<missing>"), "text/plain");
    // httpoxy (CVE-2016-5385): a Proxy header never becomes HTTP_PROXY.
    EXPECT_FALSE(r.env("HTTP_PROXY").has_value()) << r.text();
}

TEST_P(FrontEndTest, RemotePortIsTheClientsWhereTheProtocolCarriesIt) {
    HttpConnection conn(endpoint_.address, host());
    HttpRequest req;
    req.target = "/app/port";
    const auto res = conn.request(req);
    ASSERT_EQ(res.status, 200);
    const EchoReply r(res.body);
    const std::string client_port = std::to_string(conn.local_port());
    const bool http_proxy = !behind(FrontEnd::direct) && protocol_seen() == "http";
    if (!http_proxy) {
        // FastCGI params carry the client's port (REMOTE_PORT); a direct
        // client is the peer itself.
        EXPECT_EQ(r.str("remote_addr"), "127.0.0.1");
        EXPECT_EQ(r.env("REMOTE_PORT").value_or("<unset>"), client_port);
    } else {
        // An HTTP proxy passes the client's address on (X-Forwarded-For,
        // believed from a --trusted-proxy) but not its port: REMOTE_PORT is
        // empty, over TCP as over a unix socket, rather than the port of the
        // proxy's own connection (adapters/http/http_environ.cpp).
        EXPECT_EQ(r.str("remote_addr"), "127.0.0.1");
        EXPECT_EQ(r.env("REMOTE_PORT").value_or("<unset>"), "");
        EXPECT_EQ(r.header("x-forwarded-for").value_or("<missing>"), "127.0.0.1");
    }
}

TEST_P(FrontEndTest, LargePostBodyArrivesWhole) {
    const std::string& body = payload(32u << 20);
    const EchoReply r = echo(examples::upload("/app/upload", body));
    EXPECT_EQ(r.str("method"), "POST");
    EXPECT_EQ(r.str("content_type"), "application/octet-stream");
    EXPECT_EQ(r.env("CONTENT_LENGTH").value_or("<unset>"), std::to_string(body.size()));
    EXPECT_EQ(r.body_length(), body.size());
    EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
}

TEST_P(FrontEndTest, ChunkedUploadArrivesWhole) {
    const std::string& body = payload(3u << 20);
    const EchoReply r = echo(examples::upload("/app/chunked", body, 100'000));
    EXPECT_EQ(r.body_length(), body.size());
    EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
    // Only nginx gives the length: it reads the whole body of `location /`
    // first (request buffering, its default) and sends it with a length.
    // Apache (mod_proxy_fcgi and mod_proxy_http alike) streams the chunked
    // body on as it arrives, so the gateway, like a direct client's, gets
    // none and reads to the end of the body.
    if (behind(FrontEnd::nginx)) {
        EXPECT_EQ(r.env("CONTENT_LENGTH").value_or("<unset>"), std::to_string(body.size()));
    } else {
        EXPECT_FALSE(r.env("CONTENT_LENGTH").has_value()) << r.text();
    }
}

TEST_P(FrontEndTest, ChunkedUploadStreamsUnbuffered) {
    // The snippets' streaming location passes request bodies on as they
    // arrive (fastcgi_request_buffering / proxy_request_buffering off in
    // nginx; Apache always does): the gateway gets no length anywhere, and
    // reads to the end of the body.
    const std::string& body = payload(2u << 20);
    HttpRequest req;
    req.method = "POST";
    req.target = "/stream/echo/up";
    req.body = body;
    req.chunk_size = 65'536;
    const EchoReply r = echo(req);
    EXPECT_EQ(r.str("script_name"), "/stream/echo");
    EXPECT_EQ(r.str("path_info"), "/up");
    EXPECT_EQ(r.body_length(), body.size());
    EXPECT_EQ(r.str("body_sha256"), sha256_hex(body));
    EXPECT_FALSE(r.env("CONTENT_LENGTH").has_value()) << r.text();
}

// --------------------------------------------------------------- streaming

TEST_P(FrontEndTest, StreamReachesTheClientBeforeItEnds) {
    examples::expect_stream_reaches_the_client_before_it_ends(endpoint_.address);
}

TEST_P(FrontEndTest, StreamRefusesAbsurdParameters) {
    EXPECT_EQ(get("/stream?chunks=100000000").status, 400);
    EXPECT_EQ(get("/stream?bytes=x").status, 400);
    EXPECT_EQ(get("/stream?chunks=3&delay_ms=abc").status, 400);
    EXPECT_EQ(get("/stream").body, "aaaaaaaaaabbbbbbbbbbcccccccccc");
}

TEST_P(FrontEndTest, BigDownloadStreamsWhole) {
    const auto res = get("/f/big?bytes=8388608");
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body.size(), 8388608u);
    EXPECT_EQ(res.body, std::string(8388608, 'x'));
}

// --------------------------------------------------------------- faults

TEST_P(FrontEndTest, ThrowingCallbackIs500AndTheGatewayGoesOn) {
    const auto bad = get("/f/throw");
    EXPECT_EQ(bad.status, 500);
    // The exception's text is for the log, never for the client.
    EXPECT_EQ(bad.body.find("was asked to throw"), std::string::npos) << bad.body;
    const auto good = get("/hello");
    EXPECT_EQ(good.status, 200);
    EXPECT_EQ(good.body, "Hello, world!\n");
    EXPECT_EQ(get("/f/no-such-fault").status, 404);
}

// --------------------------------------------------------------- connections

TEST_P(FrontEndTest, OneClientConnectionServesManyRequests) {
    HttpConnection conn(endpoint_.address, host());
    HttpRequest hello;
    hello.target = "/hello";
    HttpRequest post;
    post.method = "POST";
    post.target = "/app/ka";
    post.body = payload(100'000);
    for (int i = 0; i < 20; ++i) {
        SCOPED_TRACE("request " + std::to_string(i));
        if (i % 4 == 3) {
            const auto res = conn.request(post);
            ASSERT_EQ(res.status, 200);
            EXPECT_EQ(EchoReply(res.body).str("body_sha256"), sha256_hex(post.body));
        } else {
            const auto res = conn.request(hello);
            ASSERT_EQ(res.status, 200);
            EXPECT_EQ(res.body, "Hello, world!\n");
        }
    }
}

TEST_P(FrontEndTest, RefusedRequestsDoNotBreakConnectionReuse) {
    // A callback refusing a well-formed request (RequestError 400, here a bad
    // query parameter) must not break the connection the request came on:
    // the gateway keeps it in step, or says "Connection: close" in the
    // refusal (RFC 9112 §9.6). A close without notice races with the next
    // request on that connection: a direct client finds it dead, and a front
    // end that pools its connections to the gateway (nginx keepalive,
    // Apache's connection reuse) answers that request with 502.
    auto conn = std::make_unique<HttpConnection>(endpoint_.address, host());
    HttpRequest bad;
    bad.target = "/stream?bytes=x";
    HttpRequest good;
    good.target = "/hello";
    for (int i = 0; i < 20; ++i) {
        SCOPED_TRACE("round " + std::to_string(i));
        const auto refused = conn->request(bad);
        ASSERT_EQ(refused.status, 400) << refused.body;
        if (refused.header("Connection").value_or("") == "close") {
            conn = std::make_unique<HttpConnection>(endpoint_.address, host());
        }
        HttpResponse next;
        try {
            next = conn->request(good);
        } catch (const std::exception& e) {
            FAIL() << "the connection a 400 came on was closed without \"Connection: close\": "
                   << e.what();
        }
        ASSERT_EQ(next.status, 200) << next.body;
    }
}

TEST_P(FrontEndTest, ConcurrentClients) {
    constexpr int kThreads = 8;
    constexpr int kRequests = 25;
    std::atomic<int> ok{0};
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            try {
                HttpConnection conn(endpoint_.address, host());
                for (int i = 0; i < kRequests; ++i) {
                    HttpRequest req;
                    req.target = "/app/c?t=" + std::to_string(t) + "&i=" + std::to_string(i);
                    const auto res = conn.request(req, 20s);
                    if (res.status == 200 &&
                        EchoReply(res.body).str("query_string") ==
                            "t=" + std::to_string(t) + "&i=" + std::to_string(i)) {
                        ++ok;
                    }
                }
            } catch (const std::exception& e) {
                errors[t] = e.what();
            }
        });
    }
    for (auto& th : threads)
        th.join();
    for (const auto& e : errors)
        EXPECT_EQ(e, "");
    EXPECT_EQ(ok.load(), kThreads * kRequests);
}

std::string topology_name(const ::testing::TestParamInfo<Topology>& info) {
    return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Topologies, FrontEndTest, ::testing::ValuesIn(all_topologies()),
                         topology_name);

}  // namespace
}  // namespace postern::test
