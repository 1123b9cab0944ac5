// adapters/uwsgi: the adapter behind a real Server on 127.0.0.1:0, spoken to
// as nginx and mod_proxy_uwsgi speak to it (one packet and the body per
// connection), including what a hostile peer of the port can send.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "postern/server.hpp"
#include "socket_client.hpp"
#include "uwsgi/codec.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using test::SocketClient;
using Params = std::vector<std::pair<std::string, std::string>>;

class UwsgiAdapter : public ::testing::Test {
  protected:
    UwsgiAdapter() {
        options_.listeners = {{"uwsgi", "127.0.0.1:0"}};
        options_.mounts = {
            {"/app", [this](Request& req, Response& res) { handle(req, res); }, "test"}};
        options_.threads = 2;
        options_.access_log = "off";
        options_.drain_timeout = 2000ms;
    }
    ~UwsgiAdapter() override { stop(); }

    void start() {
        server_ = std::make_unique<Server>(options_);
        server_->start();
        address_ = server_->listeners().at(0).address;
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            release_ = true;
            cv_.notify_all();
        }
        if (server_)
            server_->stop();
        server_.reset();
    }

    static std::string packet(const std::string& method, const std::string& uri,
                              std::size_t body = 0, const Params& extra = {}) {
        Params p = {{"REQUEST_METHOD", method},      {"REQUEST_URI", uri},
                    {"SERVER_PROTOCOL", "HTTP/1.1"}, {"SERVER_NAME", "example.org"},
                    {"SERVER_PORT", "80"},           {"REMOTE_ADDR", "192.0.2.1"}};
        if (body > 0)
            p.emplace_back("CONTENT_LENGTH", std::to_string(body));
        p.insert(p.end(), extra.begin(), extra.end());
        return uwsgi::encode_request(p);
    }

    std::string exchange(const std::string& bytes) {
        SocketClient c(address_);
        c.send(bytes);
        return c.recv_until_close(10s);
    }

    void handle(Request& req, Response& res) {
        ++calls_;
        const std::string_view path = req.path_info();
        if (path == "/hello") {
            res.header("Content-Type", "text/plain");
            res.write("Hello, world!\n");
        } else if (path == "/env") {
            for (const auto& [name, value] : req.environ())
                res.write(name + "=" + value + "\n");
        } else if (path == "/body") {
            res.write(req.read_all(1 << 24));
        } else if (path == "/stream") {
            res.write("first");
            res.flush();
            std::unique_lock lock(mutex_);
            cv_.wait_for(lock, 10s, [this] { return release_; });
            lock.unlock();
            res.write("second");
        } else if (path == "/throw") {
            throw std::runtime_error("boom from the test handler");
        } else {
            res.status(404);
        }
    }

    Options options_;
    std::unique_ptr<Server> server_;
    std::string address_;
    std::atomic<int> calls_{0};
    std::mutex mutex_;
    std::condition_variable cv_;
    bool release_ = false;
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
    const std::string out = exchange(packet("POST", "/app/body", body.size()) + body);
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
    {
        std::lock_guard lock(mutex_);
        release_ = true;
        cv_.notify_all();
    }
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
         {uwsgi::encode_request({{"REQUEST_URI", "/app/hello"}}, 5),
          uwsgi::encode_request({{"REQUEST_URI", "/app/hello"}}, 0, 1),
          "\x00\x03\x00\x00\x01\x00"s + "A", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"s,
          packet("GET", "/app/hello", 0, {{"CONTENT_LENGTH", "x"}})}) {
        EXPECT_EQ(exchange(bad).rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << bad;
    }
    EXPECT_EQ(calls_.load(), 0);
}

TEST_F(UwsgiAdapter, BytesAfterTheBodyAreRefusedNotANextRequest) {
    start();
    const std::string out =
        exchange(packet("POST", "/app/body", 3) + "abc" + packet("GET", "/app/hello"));
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0u) << out;
    EXPECT_EQ(calls_.load(), 0);
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
    std::optional<SocketClient> held(std::in_place, address_);
    std::this_thread::sleep_for(200ms);  // accepted: the listener's one connection
    EXPECT_EQ(exchange(packet("GET", "/app/hello")),
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Retry-After: 1\r\nContent-Length: 24\r\n\r\n503 Service Unavailable\n");
    held.reset();
    std::string reply;
    for (int i = 0; i < 50 && reply.rfind("HTTP/1.1 200", 0) != 0; ++i) {
        std::this_thread::sleep_for(50ms);
        reply = exchange(packet("GET", "/app/hello"));
    }
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
}

}  // namespace
}  // namespace postern
