// Tests TCP listeners' deferred accept (Limits::defer_accept, Linux
// TCP_DEFER_ACCEPT) over every socket protocol, with a real Server on port
// 0: a client that connects and sends nothing holds no connection of the
// gateway's (with max_connections = 1 the next client is still served, and
// the idle one is served when it asks); without the option it does; one
// that never sends is taken after the defer and closed as idle; clients
// that connect and vanish, or whose head arrives a byte at a time, change
// nothing for the next request.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "protocol_client.hpp"
#include "socket_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::ProtocolReply;
using test::ProtocolRequest;
using test::SocketClient;

class DeferAccept : public ::testing::TestWithParam<const char*> {
  protected:
    void start(std::chrono::milliseconds defer) {
        Limits& l = gateway_.limits();
        l.defer_accept = defer;
        l.max_connections = 1;
        l.read_timeout = 2s;
        l.idle_timeout = 300ms;
        gateway_.options().drain_timeout = 1s;
        gateway_.start();
        address_ = gateway_.address();
    }

    static ProtocolRequest hello() {
        ProtocolRequest r;
        r.keep = false;
        return r;
    }
    /// A hello on a new connection is answered in full.
    bool hello_served() {
        const ProtocolReply r = client_.exchange(address_, hello());
        return r.answered && r.status == 200 && r.body == "Hello, world!\n";
    }

    test::InProcessGateway gateway_{{GetParam()}};
    test::ProtocolClient client_{GetParam()};
    std::string address_;
};

TEST_P(DeferAccept, AClientThatSendsNothingHoldsNoConnection) {
    start(1s);
    SocketClient idle(address_);
    std::this_thread::sleep_for(150ms);
    // The one connection the gateway may hold is not the idle client's.
    const ProtocolReply r = client_.exchange(address_, hello());
    EXPECT_TRUE(r.answered) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "Hello, world!\n");
    // The idle client is not lost: once it asks, it is served. (The
    // gateway has seen the other connection end by then.)
    std::this_thread::sleep_for(150ms);
    ASSERT_TRUE(idle.send(client_.encode(hello())));
    const ProtocolReply late = client_.read(idle);
    EXPECT_TRUE(late.answered) << late.error;
    EXPECT_EQ(late.status, 200);
    EXPECT_EQ(gateway_.app().calls(), 2);
}

TEST_P(DeferAccept, WithoutItAClientThatSendsNothingHoldsItsConnection) {
    start(0ms);
    std::optional<SocketClient> idle(std::in_place, address_);
    std::this_thread::sleep_for(150ms);
    // Accepted at once, it fills max_connections: the next client gets the
    // protocol's overload answer.
    const ProtocolReply r = client_.exchange(address_, hello());
    EXPECT_EQ(r.status, 503) << r.error;
    EXPECT_EQ(gateway_.app().calls(), 0);
    idle.reset();
    EXPECT_TRUE(test::wait_until([&] { return hello_served(); }, 5s));
}

TEST_P(DeferAccept, AClientThatNeverSendsIsTakenAfterTheDeferAndClosedAsIdle) {
    start(1s);
    SocketClient idle(address_);
    const auto from = Clock::now();
    // Accepted at once, it would be closed after the 300 ms idle timeout
    // (the sweeper looks every 75 ms).
    EXPECT_FALSE(idle.wait_closed(700ms)) << "closed before the defer ran out";
    EXPECT_TRUE(idle.wait_closed(5s)) << "never taken, or kept";
    EXPECT_GE(Clock::now() - from, 900ms);
    // The gateway counts the connection out once its worker has closed it,
    // just after the client sees the end.
    EXPECT_TRUE(test::wait_until([&] { return hello_served(); }, 5s));
    EXPECT_EQ(gateway_.app().calls(), 1);
}

TEST_P(DeferAccept, ClientsThatVanishChangeNothing) {
    start(1s);
    // Connected and gone, before and after a byte of the request.
    const std::string head = client_.encode(hello());
    for (int i = 0; i < 50; ++i) {
        SocketClient gone(address_);
        if (i % 2 == 1) {
            ASSERT_TRUE(gone.send(head.substr(0, 1 + i % (head.size() - 1))));
        }
    }
    EXPECT_TRUE(test::wait_until([&] { return hello_served(); }, 5s));
    EXPECT_EQ(gateway_.app().calls(), 1);
}

TEST_P(DeferAccept, AHeadThatTricklesInAfterItsFirstByteIsServed) {
    start(1s);
    {
        SocketClient c(address_);
        // The first byte hands the connection over; the rest waits in the
        // reactor, a few bytes at a time.
        for (const std::string& piece : test::pieces(client_.encode(hello()), 7)) {
            ASSERT_TRUE(c.send(piece));
            std::this_thread::sleep_for(3ms);
        }
        const ProtocolReply r = client_.read(c);
        EXPECT_TRUE(r.answered) << r.error;
        EXPECT_EQ(r.body, "Hello, world!\n");
    }
    // Its connection gone, the one slot serves the next.
    EXPECT_TRUE(test::wait_until([&] { return hello_served(); }, 5s));
}

INSTANTIATE_TEST_SUITE_P(Protocols, DeferAccept,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace postern
