// adapters/uwsgi: the adapter behind a real Server on 127.0.0.1:0, spoken to
// as nginx and mod_proxy_uwsgi speak to it (one packet and the body per
// connection), including what a hostile peer of the port can send.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "in_process_gateway.hpp"
#include "postern/server.hpp"
#include "socket_client.hpp"
#include "uwsgi_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using test::SocketClient;
using Params = std::vector<std::pair<std::string, std::string>>;

class UwsgiAdapter : public ::testing::Test {
  protected:
    void start() {
        gateway_.start();
        address_ = gateway_.address();
    }

    static std::string packet(const std::string& method, const std::string& uri,
                              std::size_t body = 0, const Params& extra = {}) {
        return test::uwsgi::packet(test::uwsgi::cgi_params(method, uri, body, extra));
    }

    std::string exchange(const std::string& bytes) {
        SocketClient c(address_);
        c.send(bytes);
        return c.recv_until_close(10s);
    }

    int calls() const { return gateway_.app().calls(); }

    test::InProcessGateway gateway_{{"uwsgi"}};
    Options& options_ = gateway_.options();
    std::string address_;
};

TEST_F(UwsgiAdapter, HelloExactBytesThenClose) {
    start();
    EXPECT_EQ(exchange(packet("GET", "/app/hello")),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n"
              "Hello, world!\n");
}

TEST_F(UwsgiAdapter, HeadHasTheLengthAndNoBody) {
    start();
    EXPECT_EQ(exchange(packet("HEAD", "/app/hello")),
              "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n");
}

TEST_F(UwsgiAdapter, Body) {
    start();
    // Under the response buffer: sent with its length.
    const std::string body(50'000, 'z');
    const std::string out = exchange(packet("POST", "/app/echo", body.size()) + body);
    EXPECT_TRUE(out == "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n" + body)
        << out.substr(0, 100);
}

TEST_F(UwsgiAdapter, VariablesAreDataOnly) {
    start();
    const std::string out = exchange(packet("GET", "/app/env", 0,
                                            {{"UWSGI_FILE", "/tmp/evil.py"},
                                             {"UWSGI_SETENV", "LD_PRELOAD=/tmp/x.so"},
                                             {"HTTP_PROXY", "http://evil:1"},
                                             {"HTTP_X_R", "a"},
                                             {"HTTP_X_R", "b"}}));
    EXPECT_NE(out.find("\nUWSGI_FILE=/tmp/evil.py\n"), std::string::npos) << out;
    EXPECT_NE(out.find("\nHTTP_X_R=a, b\n"), std::string::npos) << out;
    EXPECT_EQ(out.find("HTTP_PROXY"), std::string::npos) << "httpoxy";
    EXPECT_EQ(::getenv("LD_PRELOAD"), nullptr);
}

TEST_F(UwsgiAdapter, StreamedBodyEndsAtTheClose) {
    start();
    SocketClient c(address_);
    c.send(packet("GET", "/app/stream"));
    EXPECT_EQ(c.recv_until("first", 10s), "HTTP/1.1 200 OK\r\n\r\nfirst");
    gateway_.app().release();
    EXPECT_EQ(c.recv_until_close(10s), "second");
}

TEST_F(UwsgiAdapter, ThrowIs500) {
    start();
    EXPECT_EQ(
        exchange(packet("GET", "/app/throw")).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0),
        0u);
}

TEST_F(UwsgiAdapter, OtherPacketTypesAndBadPacketsAreRefused) {
    start();
    for (const std::string& bad :
         {test::uwsgi::packet({{"REQUEST_URI", "/app/hello"}}, 5),
          test::uwsgi::packet({{"REQUEST_URI", "/app/hello"}}, 0, 1),
          "\x00\x03\x00\x00\x01\x00"s + "A", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"s,
          packet("GET", "/app/hello", 0, {{"CONTENT_LENGTH", "x"}})}) {
        EXPECT_EQ(exchange(bad).rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << bad;
    }
    EXPECT_EQ(calls(), 0);
}

TEST_F(UwsgiAdapter, BytesAfterTheBodyAreRefusedNotANextRequest) {
    start();
    const std::string out =
        exchange(packet("POST", "/app/echo", 3) + "abc" + packet("GET", "/app/hello"));
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << out;
    EXPECT_EQ(calls(), 0);
}

TEST_F(UwsgiAdapter, LimitIs431) {
    options_.limits.max_params_bytes = 300;
    start();
    EXPECT_EQ(exchange(packet("GET", "/app/hello", 0, {{"HTTP_X", std::string(400, 'x')}}))
                  .rfind("HTTP/1.1 431 ", 0),
              0u);
}

// --max-connections reached: a 503 as uWSGI words it (a raw status line).
TEST_F(UwsgiAdapter, OverloadIsAnswered503) {
    options_.limits.max_connections = 1;
    start();
    // The listener's one connection, accepted and in its callback.
    std::optional<SocketClient> held(std::in_place, address_);
    ASSERT_TRUE(held->send(packet("GET", "/app/stream")));
    ASSERT_NE(held->recv_until("first", 10s).find("first"), std::string::npos);
    EXPECT_EQ(exchange(packet("GET", "/app/hello")),
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Retry-After: 1\r\nContent-Length: 24\r\n\r\n503 Service Unavailable\n");
    gateway_.app().release();
    held.reset();
    std::string reply;
    test::wait_until(
        [&] {
            reply = exchange(packet("GET", "/app/hello"));
            return reply.rfind("HTTP/1.1 200", 0) == 0;
        },
        2500ms, 50ms);
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
}

}  // namespace
}  // namespace postern
