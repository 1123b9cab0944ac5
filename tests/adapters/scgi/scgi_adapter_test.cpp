// adapters/scgi: the adapter behind a real Server on 127.0.0.1:0, spoken to
// as nginx and mod_proxy_scgi speak to it (one netstring header and the body
// per connection), including what a hostile peer of the port can send.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "in_process_gateway.hpp"
#include "postern/server.hpp"
#include "scgi_client.hpp"
#include "socket_client.hpp"
#include "test_data.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using test::deterministic_bytes;
using test::fnv1a;
using test::SocketClient;
using Params = std::vector<std::pair<std::string, std::string>>;

class ScgiAdapter : public ::testing::Test {
  protected:
    void start() {
        gateway_.start();
        address_ = gateway_.address();
    }

    /// The header nginx would send for `method` `uri` with a body of `body`
    /// bytes, plus `extra` pairs.
    static std::string header(const std::string& method, const std::string& uri,
                              std::size_t body = 0, const Params& extra = {}) {
        return test::scgi::netstring(test::scgi::cgi_params(method, uri, body, extra));
    }

    std::string exchange(const std::string& bytes) {
        SocketClient c(address_);
        c.send(bytes);
        return c.recv_until_close(10s);
    }

    int calls() const { return gateway_.app().calls(); }

    test::InProcessGateway gateway_{{"scgi"}};
    Options& options_ = gateway_.options();
    std::string address_;
};

TEST_F(ScgiAdapter, HelloExactBytesThenClose) {
    start();
    EXPECT_EQ(exchange(header("GET", "/app/hello")),
              "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
              "Hello, world!\n");
}

TEST_F(ScgiAdapter, HeadHasTheLengthAndNoBody) {
    start();
    EXPECT_EQ(exchange(header("HEAD", "/app/hello")),
              "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n");
}

TEST_F(ScgiAdapter, EnvironIsTheRequestAndNotTheProtocol) {
    start();
    const std::string out = exchange(header(
        "GET", "/app/env?q=1", 0,
        {{"HTTP_PROXY", "http://evil:1"}, {"HTTP_X_R", "a"}, {"HTTP_X_R", "b"}, {"EMPTY", ""}}));
    EXPECT_NE(out.find("\nSCRIPT_NAME=/app\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nPATH_INFO=/env\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nQUERY_STRING=q=1\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nHTTP_X_R=a, b\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nEMPTY=\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("HTTP_PROXY"), std::string::npos) << "httpoxy";
    EXPECT_EQ(out.find("SCGI="), std::string::npos) << out;
}

TEST_F(ScgiAdapter, BodiesInPieces) {
    start();
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{16'384},
                             std::size_t{100'000}, std::size_t{3} << 20}) {
        const std::string body = deterministic_bytes(size, static_cast<unsigned>(size) + 1);
        const std::string bytes = header("POST", "/app/sum", size) + body;
        SocketClient c(address_);
        // In uneven pieces, so that the header and the body are split
        // anywhere.
        for (std::size_t at = 0; at < bytes.size();) {
            const std::size_t n = std::min<std::size_t>(bytes.size() - at, 7 + at % 65'521);
            c.send(std::string_view(bytes).substr(at, n));
            at += n;
        }
        const std::string out = c.recv_until_close(20s);
        EXPECT_NE(out.find("bytes=" + std::to_string(size) + " fnv=" + std::to_string(fnv1a(body))),
                  std::string::npos)
            << size << ": " << out.substr(0, 200);
    }
}

TEST_F(ScgiAdapter, BytesAfterTheBodyAreRefusedNotANextRequest) {
    start();
    const std::string out =
        exchange(header("POST", "/app/sum", 3) + "abc" + header("GET", "/app/hello"));
    EXPECT_EQ(out.rfind("Status: 400 ", 0), 0u) << out;
    EXPECT_EQ(out.find("Hello"), std::string::npos) << out;
    EXPECT_EQ(calls(), 0);
}

TEST_F(ScgiAdapter, ABodyCutShortIs400) {
    start();
    SocketClient c(address_);
    c.send(header("POST", "/app/sum", 10) + "abc");
    c.shutdown_write();
    const std::string out = c.recv_until_close(10s);
    EXPECT_EQ(out.rfind("Status: 400 ", 0), 0u) << out;
}

TEST_F(ScgiAdapter, StreamedBodyEndsAtTheClose) {
    start();
    SocketClient c(address_);
    c.send(header("GET", "/app/stream"));
    const std::string first = c.recv_until("first", 10s);
    EXPECT_EQ(first, "Status: 200 OK\r\n\r\nfirst");
    EXPECT_FALSE(c.closed());
    gateway_.app().release();
    EXPECT_EQ(c.recv_until_close(10s), "second");
}

TEST_F(ScgiAdapter, ThrowIs500) {
    start();
    const std::string out = exchange(header("GET", "/app/throw"));
    EXPECT_EQ(out.rfind("Status: 500 Internal Server Error\r\n", 0), 0u) << out;
    EXPECT_EQ(exchange(header("GET", "/app/hello")).substr(0, 14), "Status: 200 OK");
}

TEST_F(ScgiAdapter, ThrowAfterTheHeadCutsTheResponseOff) {
    start();
    SocketClient c(address_);
    c.send(header("GET", "/app/flush-then-throw"));
    const std::string out = c.recv_until_close(10s);
    EXPECT_EQ(out.rfind("Status: 200 OK\r\n", 0), 0u) << out;
    EXPECT_TRUE(c.closed());
}

TEST_F(ScgiAdapter, LimitsAre431) {
    options_.limits.max_params_bytes = 200;
    options_.limits.max_params = 12;
    start();
    EXPECT_EQ(exchange(header("GET", "/app/hello", 0, {{"HTTP_X", std::string(300, 'x')}}))
                  .rfind("Status: 431 ", 0),
              0u);
    EXPECT_EQ(exchange(header("GET", "/app/hello", 0, {{"A", ""}, {"B", ""}, {"C", ""}, {"D", ""}}))
                  .rfind("Status: 431 ", 0),
              0u);
    EXPECT_EQ(calls(), 0);
}

TEST_F(ScgiAdapter, BodyOverTheLimitIs413) {
    options_.limits.max_body_bytes = 10;
    start();
    const std::string out = exchange(header("POST", "/app/sum", 100) + std::string(100, 'x'));
    EXPECT_EQ(out.rfind("Status: 413 ", 0), 0u) << out;
    EXPECT_EQ(calls(), 0);
}

TEST_F(ScgiAdapter, BadHeadersAre400AndNeverReachTheCallback) {
    start();
    for (const std::string& bad :
         {"GET / HTTP/1.1\r\nHost: x\r\n\r\n"s, "05:abcde,"s,
          test::scgi::netstring({{"SCGI", "1"}, {"CONTENT_LENGTH", "0"}}),
          test::scgi::netstring({{"CONTENT_LENGTH", "0"}, {"REQUEST_URI", "/app/hello"}})}) {
        EXPECT_EQ(exchange(bad).rfind("Status: 400 ", 0), 0u) << bad;
    }
    EXPECT_EQ(calls(), 0);
}

TEST_F(ScgiAdapter, IdleAndClosedConnectionsHoldNoWorker) {
    start();
    // More silent connections than worker threads, and some that close at
    // once: requests are still served.
    std::vector<SocketClient> idle;
    for (int i = 0; i < 8; ++i)
        idle.emplace_back(address_);
    for (int i = 0; i < 4; ++i) {
        SocketClient c(address_);
        c.shutdown_write();
    }
    EXPECT_EQ(exchange(header("GET", "/app/hello")).substr(0, 14), "Status: 200 OK");
}

// --max-connections reached: a 503 in a CGI response, not a silent close
// that makes the front end take the gateway for dead; served again once a
// connection goes.
TEST_F(ScgiAdapter, OverloadIsAnswered503) {
    options_.limits.max_connections = 1;
    start();
    // The listener's one connection, accepted and in its callback.
    std::optional<SocketClient> held(std::in_place, address_);
    ASSERT_TRUE(held->send(header("GET", "/app/stream")));
    ASSERT_NE(held->recv_until("first", 10s).find("first"), std::string::npos);
    EXPECT_EQ(exchange(header("GET", "/app/hello")),
              "Status: 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 24\r\nRetry-After: 1\r\n\r\n503 Service Unavailable\n");
    gateway_.app().release();
    held.reset();
    std::string reply;
    test::wait_until(
        [&] {
            reply = exchange(header("GET", "/app/hello"));
            return reply.rfind("Status: 200", 0) == 0;
        },
        2500ms, 50ms);
    EXPECT_EQ(reply.rfind("Status: 200 OK\r\n", 0), 0u) << reply;
}

}  // namespace
}  // namespace postern
