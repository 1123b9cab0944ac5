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
#include <string>
#include <thread>

#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "socket_client.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::SocketClient;

class ConnectionTimeouts : public ::testing::TestWithParam<const char*> {
  protected:
    void start(unsigned threads) {
        Options& o = gateway_.options();
        o.threads = threads;
        o.limits.read_timeout = 5s;
        o.limits.write_timeout = 300ms;
        o.limits.idle_timeout = 500ms;
        o.drain_timeout = 1s;
        gateway_.start();
        address_ = gateway_.address();
    }

    /// Sends a request for `path` on `c` (keeping the connection where the
    /// protocol can).
    void send(SocketClient& c, const std::string& path) {
        test::ProtocolRequest r;
        r.target = path;
        ASSERT_TRUE(c.send(client_.encode(r)));
    }
    /// The whole answer to a /app/hello just sent on `c`.
    bool hello_answered(SocketClient& c) {
        const test::ProtocolReply r = client_.read(c, 5s);
        return r.answered && r.body == "Hello, world!\n";
    }

    test::InProcessGateway gateway_{{GetParam()}};
    test::ProtocolClient client_{GetParam()};
    std::string address_;
};

class KeptConnectionTimeouts : public ConnectionTimeouts {};

TEST_P(KeptConnectionTimeouts, AKeptConnectionIdleTooLongIsClosed) {
    start(2);
    SocketClient c(address_);
    send(c, "/app/hello");
    ASSERT_TRUE(hello_answered(c));
    const auto idle_from = Clock::now();
    // The sweeper runs every read_timeout / 4 (at most 1 s): closed well
    // within 3 s, and not before the idle timeout.
    EXPECT_TRUE(c.wait_closed(3s)) << "the idle connection was kept";
    EXPECT_GE(Clock::now() - idle_from, 450ms);
    // A connection that keeps asking stays open past the idle timeout.
    SocketClient busy(address_);
    for (int i = 0; i < 8; ++i) {  // 800 ms in all, past the idle timeout
        send(busy, "/app/hello");
        ASSERT_TRUE(hello_answered(busy)) << "request " << i;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_FALSE(busy.closed());
}

TEST_P(ConnectionTimeouts, AFrontEndThatStopsReadingFreesTheWorkerAfterTheWriteTimeout) {
    start(1);  // one worker thread: held by the stuck response until it gives up
    SocketClient stuck(address_);
    send(stuck, "/app/big");
    // Never read from `stuck`: the worker's write blocks once the socket
    // buffers are full, for write_timeout.
    ASSERT_TRUE(gateway_.app().wait([this] { return gateway_.app().big_started() == 1; }, 5s));
    const auto t0 = Clock::now();
    SocketClient next(address_);
    send(next, "/app/hello");
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
    send(c, "/app/hello");
    ASSERT_TRUE(hello_answered(c));
    EXPECT_TRUE(c.wait_closed(1500ms));
    // This client never closes its side. The next request, on a connection
    // of its own, is served by the one worker thread at once.
    const auto t0 = Clock::now();
    SocketClient next(address_);
    send(next, "/app/hello");
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
