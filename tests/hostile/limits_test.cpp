// The limits apply alike over every socket protocol (HTTP, FastCGI, AJP13,
// SCGI, uwsgi): the same cases, tried as an attacker would against a real
// Server on 127.0.0.1:0 with two worker threads and short timeouts —
// a head or a body trickled a byte at a time, a kept connection left idle,
// a front end that stops reading, --max-connections reached, an oversized
// head, a malformed one. Each case asserts the refusal in the protocol's
// words (or a close where it has none) and that a good request on the same
// gateway is still served, waiting on conditions under deadlines; only the
// tricklers pace themselves with sleeps.
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "fcgi_client.hpp"
#include "in_process_gateway.hpp"
#include "protocol_client.hpp"
#include "scgi_client.hpp"
#include "socket_client.hpp"
#include "uwsgi_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::InProcessGateway;
using test::ProtocolClient;
using test::ProtocolReply;
using test::ProtocolRequest;
using test::SocketClient;

// --- The timeouts every case runs under ---------------------------------------

constexpr auto kReadTimeout = 1000ms;
constexpr std::uint64_t kMinBodyRate = 100;  // bytes/s: a 5 B/s trickle is far below
constexpr auto kWriteTimeout = 500ms;
constexpr auto kIdleTimeout = 500ms;
/// What a refusal may take beyond its timeout: the sweeper looks every
/// read_timeout / 4, and the sanitizers slow everything down.
constexpr auto kMargin = 1500ms;
/// A trickler's pace: one byte every...
constexpr auto kTricklePace = 200ms;

/// Clients that each send `prefix` at once, then `trickled` one byte every
/// kTricklePace, from a thread of their own, until the gateway closes them,
/// every byte is out, stop() or `cap` passes. The bytes go straight to the
/// socket (never blocking, never SIGPIPE), so the test's thread can read the
/// same connections meanwhile.
class Tricklers {
  public:
    Tricklers(const std::string& address, int count, const std::string& prefix,
              std::string trickled, std::chrono::milliseconds cap)
        : trickled_(std::move(trickled)) {
        for (int i = 0; i < count; ++i) {
            clients_.emplace_back(address);
            EXPECT_TRUE(clients_.back().send(prefix));
        }
        started_ = Clock::now();
        thread_ = std::thread([this, cap] { run(cap); });
    }
    ~Tricklers() { stop(); }
    Tricklers(const Tricklers&) = delete;
    Tricklers& operator=(const Tricklers&) = delete;

    void stop() {
        stop_ = true;
        if (thread_.joinable())
            thread_.join();
    }
    /// Waits until every client has sent `n` trickled bytes (or has been
    /// closed).
    bool wait_sent(std::size_t n, std::chrono::milliseconds timeout) {
        return test::wait_until([&] { return sent_.load() >= n; }, timeout);
    }
    SocketClient& client(std::size_t i) { return clients_.at(i); }
    std::size_t size() const { return clients_.size(); }
    Clock::time_point started() const { return started_; }

  private:
    void run(std::chrono::milliseconds cap) {
        std::vector<bool> gone(clients_.size(), false);
        for (std::size_t at = 0; at < trickled_.size() && !stop_; ++at) {
            if (Clock::now() - started_ > cap)
                break;
            for (std::size_t i = 0; i < clients_.size(); ++i)
                if (!gone[i] && ::send(clients_[i].fd(), trickled_.data() + at, 1,
                                       MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
                    gone[i] = true;
            sent_ = at + 1;
            std::this_thread::sleep_for(kTricklePace);  // the client's pace
        }
        sent_ = trickled_.size();
    }

    std::string trickled_;
    std::vector<SocketClient> clients_;
    Clock::time_point started_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> sent_{0};
    std::thread thread_;
};

class Limits : public ::testing::TestWithParam<const char*> {
  protected:
    Limits() : gateway_({GetParam()}), client_(GetParam()) {
        Options& o = gateway_.options();
        o.threads = 2;
        o.limits.read_timeout = kReadTimeout;
        o.limits.min_body_rate = kMinBodyRate;
        o.limits.write_timeout = kWriteTimeout;
        o.limits.idle_timeout = kIdleTimeout;
        o.drain_timeout = 1s;
    }

    bool is(const char* protocol) const { return std::string_view(GetParam()) == protocol; }

    const std::string& address() const { return gateway_.address(); }

    static ProtocolRequest hello() { return ProtocolRequest{}; }

    /// A GET on a new connection is answered "Hello, world!" within
    /// `within`; returns how long it took.
    Clock::duration expect_served(std::chrono::milliseconds within = 1000ms) {
        const auto t0 = Clock::now();
        const ProtocolReply r = client_.exchange(address(), hello(), 10s);
        const auto took = Clock::now() - t0;
        EXPECT_TRUE(r.answered) << r.error;
        EXPECT_EQ(r.status, 200);
        EXPECT_EQ(r.body, "Hello, world!\n");
        EXPECT_LT(took, within)
            << "a GET waited "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
        return took;
    }

    /// A timed-out client was refused: 408 where the protocol carries a
    /// status and the gateway chose to send one, and in any case closed
    /// (`c`, after the answer), never answered by the application.
    static void expect_timed_out(const ProtocolReply& r, SocketClient& c) {
        EXPECT_TRUE(r.closed || c.wait_closed(kMargin))
            << "still open after status " << r.status << (r.ajp_reuse ? " (AJP reuse)" : "") << "; "
            << r.error;
        if (r.status != 0) {
            EXPECT_EQ(r.status, 408);
        }
        EXPECT_NE(r.status, 200);
    }

    /// Trickles `trickled` after `prefix` on two connections (as many as
    /// worker threads), and expects a GET answered at once meanwhile and each
    /// trickler refused within the read timeout plus what the minimum body
    /// rate allows, plus the margin.
    void two_tricklers(const std::string& prefix, const std::string& trickled,
                       std::chrono::milliseconds allowed) {
        gateway_.start();
        ASSERT_GT(trickled.size() * kTricklePace, allowed + kMargin) << "the trickle would end";
        Tricklers slow(address(), 2, prefix, trickled, allowed + 2 * kMargin);
        // A few bytes in: each trickler is well inside its deadline, and a
        // gateway that gives a thread to a trickling connection has done so.
        ASSERT_TRUE(slow.wait_sent(3, 5s));
        expect_served(1000ms);
        for (std::size_t i = 0; i < slow.size(); ++i) {
            const ProtocolReply r = client_.read(slow.client(i), allowed + 3 * kMargin);
            const auto took = Clock::now() - slow.started();
            expect_timed_out(r, slow.client(i));
            EXPECT_GE(took, kReadTimeout - 100ms) << "refused before its deadline";
            EXPECT_LT(took, allowed + kMargin)
                << "refused after "
                << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
        }
        slow.stop();
        expect_served(1000ms);
        EXPECT_EQ(gateway_.app().calls(), 2) << "a trickled request reached the application";
    }

    InProcessGateway gateway_;
    ProtocolClient client_;
};

// --- Slow head ----------------------------------------------------------------

// Slowloris: a head trickled a byte at a time waits in the reactor under
// read_timeout for the whole head (not per read), so two of them, with two
// worker threads, starve no one and are refused at the deadline.
TEST_P(Limits, SlowHeadIsRefusedAndHoldsNoWorker) {
    ProtocolRequest r = hello();
    r.headers = {{"X-Trickle", std::string(60, 't')}};
    two_tricklers("", client_.head(r), kReadTimeout);
}

// --- Slow body ------------------------------------------------------------------

// Slow POST (R.U.D.Y.): a whole head, then a small body trickled far below
// min_body_rate, waits in the reactor, not in a worker, and is refused once
// read_timeout and what its bytes bought at the minimum rate have passed.
TEST_P(Limits, SlowBodyIsRefusedAndHoldsNoWorker) {
    ProtocolRequest r;
    r.method = "POST";
    r.target = "/app/sum";
    r.body = std::string(100, 'b');
    // Each byte received buys 1/rate s: at 5 B/s some 6 bytes come by the
    // read timeout, buying 60 ms; allow 10 bytes' worth.
    const auto allowed = kReadTimeout + std::chrono::milliseconds(1000 * 10 / kMinBodyRate);
    two_tricklers(client_.head(r), client_.body(r), allowed);
}

// --- Idle timeout --------------------------------------------------------------

class KeptLimits : public Limits {};

// A kept connection idle for longer than idle_timeout is closed by the
// gateway; not before.
TEST_P(KeptLimits, AnIdleKeptConnectionIsClosedAfterTheIdleTimeout) {
    gateway_.start();
    SocketClient c(address());
    ASSERT_TRUE(c.send(client_.encode(hello())));
    const ProtocolReply r = client_.read(c);
    ASSERT_TRUE(r.answered) << r.error;
    EXPECT_EQ(r.body, "Hello, world!\n");
    EXPECT_FALSE(r.closed);
    const auto idle_from = Clock::now();
    EXPECT_TRUE(c.wait_closed(kIdleTimeout + kMargin)) << "the idle connection was kept";
    EXPECT_GE(Clock::now() - idle_from, kIdleTimeout - 50ms);
    expect_served();
}

// --- Write timeout -------------------------------------------------------------

// Front ends that stop reading a large response free their worker threads
// after write_timeout (the callback sees its writes fail), and the next
// request is served.
TEST_P(Limits, AFrontEndThatStopsReadingFreesTheWorkerAfterTheWriteTimeout) {
    gateway_.start();
    ProtocolRequest big;
    big.target = "/app/big";
    std::vector<SocketClient> stuck;
    for (int i = 0; i < 2; ++i) {
        stuck.emplace_back(address());
        ASSERT_TRUE(stuck.back().send(client_.encode(big)));
    }
    // Both worker threads are writing; neither client reads.
    ASSERT_TRUE(gateway_.app().wait([&] { return gateway_.app().big_started() == 2; }, 5s));
    const auto t0 = Clock::now();
    // Within the write timeout plus filling the socket buffers.
    ASSERT_TRUE(gateway_.app().wait([&] { return gateway_.app().big_done() == 2; },
                                    kWriteTimeout + 2 * kMargin))
        << "the workers are still stuck writing";
    EXPECT_LT(Clock::now() - t0, kWriteTimeout + kMargin);
    EXPECT_EQ(gateway_.app().big_client_gone(), 2) << "the callback did not see its writes fail";
    expect_served(1000ms);
    // The stuck connections were given up: after what they buffered, they
    // end.
    for (auto& c : stuck) {
        std::size_t got = 0;
        const auto deadline = Clock::now() + 10s;
        while (!c.closed() && Clock::now() < deadline)
            got += c.recv_some(1s).size();
        EXPECT_TRUE(c.closed()) << got << " bytes, and the connection still open";
        EXPECT_LT(got, std::size_t{256} << 20) << "the whole response was sent";
    }
}

// --- Overload ------------------------------------------------------------------

// --max-connections reached: the protocol's 503 (FCGI_OVERLOADED over
// FastCGI, END_RESPONSE without reuse over AJP), not a silent close that
// makes the front end take the gateway for dead; served again once the
// connection goes.
TEST_P(Limits, OverloadIsAnsweredInTheProtocolsWords) {
    gateway_.options().limits.max_connections = 1;
    gateway_.start();
    std::optional<SocketClient> held(std::in_place, address());
    ProtocolRequest stream;
    stream.target = "/app/stream";
    ASSERT_TRUE(held->send(client_.encode(stream)));
    // The one connection is accepted and in its callback.
    ASSERT_NE(held->recv_until("first", 5s).find("first"), std::string::npos);

    const ProtocolReply refused = client_.exchange(address(), hello());
    EXPECT_TRUE(refused.answered) << refused.error;
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(refused.body, "503 Service Unavailable\n");
    if (is("fastcgi")) {
        EXPECT_EQ(refused.fcgi_protocol_status, 2) << "FCGI_OVERLOADED";
    }
    if (is("ajp")) {
        EXPECT_FALSE(refused.ajp_reuse);
    }
    if (is("http")) {
        EXPECT_TRUE(refused.closed);
    }
    EXPECT_EQ(gateway_.app().calls(), 1);

    gateway_.app().release();
    held.reset();
    ProtocolReply r;
    EXPECT_TRUE(test::wait_until(
        [&] {
            r = client_.exchange(address(), hello());
            return r.status == 200;
        },
        5s, 50ms))
        << "not served again; last status " << r.status;
    EXPECT_EQ(r.body, "Hello, world!\n");
}

// --- Oversized head --------------------------------------------------------------

// A head over the limit (--max-header-bytes over HTTP, --max-params-bytes
// over FastCGI, SCGI and uwsgi, the packet size over AJP) is refused before
// the application sees it: 431 where the protocol carries a status (over
// FastCGI, a close where libfcgi never decoded the params), a logged close
// over AJP.
TEST_P(Limits, AnOversizedHeadIsRefused) {
    gateway_.options().limits.max_header_bytes = 1024;
    gateway_.options().limits.max_params_bytes = 1024;
    gateway_.start();
    ProtocolRequest r = hello();
    r.headers = {{"X-Big", std::string(is("ajp") ? 10'000 : 4'000, 'x')}};
    const ProtocolReply refused = client_.exchange(address(), r);
    if (is("ajp")) {
        EXPECT_FALSE(refused.answered);
        EXPECT_TRUE(refused.closed);
    } else if (is("fastcgi") && !refused.answered) {
        EXPECT_TRUE(refused.closed);
    } else {
        EXPECT_TRUE(refused.answered) << refused.error;
        EXPECT_EQ(refused.status, 431);
    }
    EXPECT_EQ(gateway_.app().calls(), 0);
    expect_served();
    EXPECT_EQ(gateway_.app().calls(), 1);
}

// --- Malformed head --------------------------------------------------------------

/// A malformed head in each protocol.
std::string malformed_head(std::string_view protocol) {
    if (protocol == "http")  // a space before the colon (RFC 9112 §5.1)
        return "GET /app/hello HTTP/1.1\r\nHost : t\r\n\r\n";
    if (protocol == "fastcgi") {  // FastCGI version 2
        test::fcgi::Request r;
        r.params = test::fcgi::cgi_params("GET", "/app/hello");
        std::string bytes = test::fcgi::encode(r);
        bytes[0] = 2;
        return bytes;
    }
    if (protocol == "ajp")  // not the 0x1234 magic
        return "GET /app/hello HTTP/1.1\r\nHost: t\r\n\r\n";
    if (protocol == "scgi")  // a netstring without the required variables
        return "05:abcde,";
    // A uwsgi packet of another type (modifier1 5: a Perl/PSGI request).
    return test::uwsgi::packet(test::uwsgi::cgi_params("GET", "/app/hello"), 5);
}

// One malformed head is refused (400 where the protocol carries a status,
// a close where it has none) and never reaches the application; the next
// good request is served.
TEST_P(Limits, AMalformedHeadIsRefusedAndTheNextRequestServed) {
    gateway_.start();
    SocketClient c(address());
    ASSERT_TRUE(c.send(malformed_head(GetParam())));
    const ProtocolReply refused = client_.read(c);
    if (is("fastcgi") || is("ajp")) {
        EXPECT_FALSE(refused.answered);
        EXPECT_TRUE(refused.closed);
    } else {
        EXPECT_TRUE(refused.answered) << refused.error;
        EXPECT_EQ(refused.status, 400);
        EXPECT_TRUE(c.wait_closed(kMargin));
    }
    EXPECT_EQ(gateway_.app().calls(), 0);
    expect_served();
    EXPECT_EQ(gateway_.app().calls(), 1);
}

// A refusal ends in a lingering close (the sending side shut, what the
// front end still sends read and dropped for a while, so the answer is not
// destroyed by a reset). The lingering waits in the reactor: two refused
// front ends that keep their connections open, with two worker threads,
// leave a GET answered at once (a worker that lingered would hold it for
// up to the read timeout). Over FastCGI the refusal that lingers is a role
// Postern does not play; over AJP a malformed packet is closed at once.
TEST_P(Limits, ARefusedRequestLingersWithoutHoldingAWorker) {
    gateway_.start();
    std::string refused_bytes = malformed_head(GetParam());
    if (is("fastcgi")) {
        test::fcgi::Request r;
        r.params = test::fcgi::cgi_params("GET", "/app/hello");
        refused_bytes = test::fcgi::begin_request(1, false, test::fcgi::kAuthorizer) +
                        test::fcgi::params_stream(1, r.params) + test::fcgi::stdin_stream(1, "");
    }
    std::vector<SocketClient> refused;
    for (int i = 0; i < 2; ++i) {
        refused.emplace_back(address());
        ASSERT_TRUE(refused.back().send(refused_bytes));
        // The answer (or the close) came: the gateway has dealt with it.
        client_.read(refused.back(), 5s);
    }
    // Both stay open, sending nothing: the gateway lingers on them.
    expect_served(600ms);
    EXPECT_EQ(gateway_.app().calls(), 1);
}

std::string name_of(const ::testing::TestParamInfo<const char*>& info) {
    return info.param;
}

INSTANTIATE_TEST_SUITE_P(Protocols, Limits,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"), name_of);
// SCGI and uwsgi close after every request: nothing is kept to idle.
INSTANTIATE_TEST_SUITE_P(Protocols, KeptLimits, ::testing::Values("http", "fastcgi", "ajp"),
                         name_of);

}  // namespace
}  // namespace postern
