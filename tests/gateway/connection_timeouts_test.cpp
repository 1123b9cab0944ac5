// Tests the idle keep-alive timeout (HTTP, FastCGI and AJP13, the protocols
// that keep connections; SCGI and uwsgi close after each request) and the
// response write timeout (all five), and that SCGI and uwsgi close an
// answered connection without waiting for the front end, with a real Server
// on port 0: a kept connection idle for longer than Limits::idle_timeout is
// closed by the gateway; a front end that stops reading a response frees the
// worker thread after Limits::write_timeout, so the next request is served
// even by a gateway with one thread.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "ajp/codec.hpp"
#include "fcgi_client.hpp"
#include "postern/postern.hpp"
#include "scgi/codec.hpp"
#include "socket_client.hpp"
#include "uwsgi/codec.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::SocketClient;

void handler(Request& req, Response& res) {
    if (req.path_info() == "/big") {
        // 256 MiB: far more than the socket buffers of a client that does
        // not read; stops once a write fails.
        const std::string piece(64 * 1024, 'x');
        for (int i = 0; i < 4096; ++i)
            if (!res.write(piece))
                return;
        return;
    }
    res.write("hello\n");
}

class ConnectionTimeouts : public ::testing::TestWithParam<const char*> {
  protected:
    void start(unsigned threads) {
        Options o;
        o.listeners = {{GetParam(), "127.0.0.1:0"}};
        o.mounts = {{"/", handler, "test"}};
        o.threads = threads;
        o.ajp.secret = "s3cret";
        o.access_log = "off";
        o.limits.read_timeout = 5s;
        o.limits.write_timeout = 300ms;
        o.limits.idle_timeout = 500ms;
        o.drain_timeout = 1s;
        server_ = std::make_unique<Server>(std::move(o));
        server_->start();
        address_ = server_->listeners().at(0).address;
    }
    void TearDown() override {
        if (server_)
            server_->stop();
    }
    bool is(const char* protocol) const { return std::string(GetParam()) == protocol; }

    /// Sends a request for `path` on `c` (keeping the connection where the
    /// protocol can).
    void send(SocketClient& c, const std::string& path) {
        using Params = std::vector<std::pair<std::string, std::string>>;
        const Params cgi = {{"REQUEST_METHOD", "GET"},       {"REQUEST_URI", path},
                            {"SERVER_PROTOCOL", "HTTP/1.1"}, {"SERVER_NAME", "t"},
                            {"SERVER_PORT", "80"},           {"REMOTE_ADDR", "127.0.0.1"}};
        if (is("http")) {
            ASSERT_TRUE(c.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"));
        } else if (is("scgi")) {
            Params p = {{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}};
            p.insert(p.end(), cgi.begin(), cgi.end());
            ASSERT_TRUE(c.send(scgi::encode_request(p)));
        } else if (is("uwsgi")) {
            ASSERT_TRUE(c.send(uwsgi::encode_request(cgi)));
        } else if (is("ajp")) {
            // As mod_jk sends a GET: no body packet follows.
            ajp::ForwardRequest r;
            r.method = "GET";
            r.protocol = "HTTP/1.1";
            r.req_uri = path;
            r.remote_addr = "127.0.0.1";
            r.server_name = "t";
            r.server_port = 80;
            r.headers = {{"host", "t"}};
            r.secret = "s3cret";
            ASSERT_TRUE(c.send(ajp::encode_forward_request(r, ajp::method_code(r.method))));
        } else {
            test::fcgi::Request r;
            r.keep_conn = true;
            r.params = test::fcgi::cgi_params("GET", path);
            ASSERT_TRUE(c.send(test::fcgi::encode(r)));
        }
    }
    /// The whole answer to a /hello just sent on `c`.
    bool hello_answered(SocketClient& c) {
        if (is("ajp")) {
            // SEND_HEADERS, SEND_BODY_CHUNK (the body as is), then
            // END_RESPONSE: 'A' 'B', length 2, code 5, reuse 1.
            return c.recv_until(std::string("AB\0\2\5\1", 6), 5s).find("hello\n") !=
                   std::string::npos;
        }
        if (!is("fastcgi"))
            return c.recv_until("hello\n", 5s).find("hello\n") != std::string::npos;
        test::fcgi::ResponseReader reader(c);
        const auto& res = reader.read_all(5s);
        return res.ended && test::fcgi::parse_cgi(res.out).body == "hello\n";
    }

    std::unique_ptr<Server> server_;
    std::string address_;
};

class KeptConnectionTimeouts : public ConnectionTimeouts {};

TEST_P(KeptConnectionTimeouts, AKeptConnectionIdleTooLongIsClosed) {
    start(2);
    SocketClient c(address_);
    send(c, "/hello");
    ASSERT_TRUE(hello_answered(c));
    const auto idle_from = Clock::now();
    // The sweeper runs every read_timeout / 4 (at most 1 s): closed well
    // within 3 s, and not before the idle timeout.
    EXPECT_TRUE(c.wait_closed(3s)) << "the idle connection was kept";
    EXPECT_GE(Clock::now() - idle_from, 450ms);
    // A connection that keeps asking stays open past the idle timeout.
    SocketClient busy(address_);
    for (int i = 0; i < 8; ++i) {  // 800 ms in all, past the idle timeout
        send(busy, "/hello");
        ASSERT_TRUE(hello_answered(busy)) << "request " << i;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_FALSE(busy.closed());
}

TEST_P(ConnectionTimeouts, AFrontEndThatStopsReadingFreesTheWorkerAfterTheWriteTimeout) {
    start(1);  // one worker thread: held by the stuck response until it gives up
    SocketClient stuck(address_);
    send(stuck, "/big");
    // Never read from `stuck`: the worker's write blocks once the socket
    // buffers are full, for write_timeout.
    std::this_thread::sleep_for(200ms);
    const auto t0 = Clock::now();
    SocketClient next(address_);
    send(next, "/hello");
    EXPECT_TRUE(hello_answered(next)) << "the one worker is still stuck writing";
    // Within the write timeout plus filling the socket buffers (about 0.8 s
    // here), not after a lingering close as well (2 s more, as SCGI and
    // uwsgi did).
    EXPECT_LT(Clock::now() - t0, 2s);
    // The stuck connection was given up: after what it buffered, it ends.
    std::string got;
    const auto deadline = Clock::now() + 10s;
    while (!stuck.closed() && Clock::now() < deadline)
        got += stuck.recv_some(1s);
    EXPECT_TRUE(stuck.closed()) << got.size() << " bytes, and the connection still open";
    EXPECT_LT(got.size(), std::size_t{256} << 20) << "the whole response was sent";
}

class OneRequestConnections : public ConnectionTimeouts {};

TEST_P(OneRequestConnections, AnAnsweredRequestIsClosedAtOnce) {
    // The whole request was read and nothing followed it: the gateway closes
    // without waiting for the front end to close first. Lingering held the
    // worker thread for up to 2 s (min(read timeout, 2 s)) per request; the
    // front end saw its end of file at once either way (the gateway shuts
    // its side down first), so what shows is the one thread being free.
    start(1);
    SocketClient c(address_);
    send(c, "/hello");
    ASSERT_TRUE(hello_answered(c));
    EXPECT_TRUE(c.wait_closed(1500ms));
    // This client never closes its side. The next request, on a connection
    // of its own, is served by the one worker thread at once.
    const auto t0 = Clock::now();
    SocketClient next(address_);
    send(next, "/hello");
    EXPECT_TRUE(hello_answered(next));
    EXPECT_LT(Clock::now() - t0, 1s) << "the one worker thread lingered on the first connection";
}

INSTANTIATE_TEST_SUITE_P(Protocols, OneRequestConnections, ::testing::Values("scgi", "uwsgi"),
                         [](const auto& info) { return std::string(info.param); });
INSTANTIATE_TEST_SUITE_P(Protocols, KeptConnectionTimeouts,
                         ::testing::Values("http", "fastcgi", "ajp"),
                         [](const auto& info) { return std::string(info.param); });
INSTANTIATE_TEST_SUITE_P(Protocols, ConnectionTimeouts,
                         ::testing::Values("http", "fastcgi", "scgi", "uwsgi", "ajp"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace postern
