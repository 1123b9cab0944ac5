// The hostile suite, detached responses (Response::detach): the clients a
// stream must survive, over every socket protocol spoken directly to the
// real `postern` (HTTP, FastCGI, AJP13, SCGI, uwsgi), with the faults
// module's /detach (its ticks are written by a timer thread after the
// callback returned) and its /detach-stats counters:
//   * a client that vanishes mid-stream: on_close runs once, the next write
//     fails, the stream is no longer counted as detached;
//   * a client that reads nothing while the stream writes 64 KiB every
//     millisecond: write() refuses past the queue's bound (the worker's
//     memory stays flat) and --write-timeout ends the stream;
//   * a request body trickled to a detaching route: read to its end before
//     any byte of the stream goes out; a body cut off ends the stream;
//   * SIGTERM with streams open: the drain ends them, on_close runs for
//     each, the gateway exits cleanly and at once.
// After each case the next good request on the same gateway succeeds.
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "detach_ticks.hpp"
#include "http_client.hpp"
#include "load.hpp"
#include "protocol_client.hpp"
#include "socket_client.hpp"
#include "stack_suite.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kWriteTimeout = 1000ms;

Poco::JSON::Object::Ptr json_of(const std::string& address, const std::string& target) {
    HttpRequest req;
    req.target = target;
    const HttpResponse res = http_request(address, address, req, 10s);
    if (res.status != 200)
        throw std::runtime_error(target + " answered " + std::to_string(res.status));
    Poco::JSON::Parser parser;
    return parser.parse(res.body).extract<Poco::JSON::Object::Ptr>();
}

/// The faults module's counters, for one worker process.
struct Stats {
    long long opened = 0, closed = 0, closed_twice = 0, active = 0, ticks = 0, refused = 0,
              failed = 0;
};

Stats stats_of(const std::string& address) {
    const auto o = json_of(address, "/f/detach-stats");
    Stats s;
    s.opened = o->getValue<long long>("opened");
    s.closed = o->getValue<long long>("closed");
    s.closed_twice = o->getValue<long long>("closed_twice");
    s.active = o->getValue<long long>("active");
    s.ticks = o->getValue<long long>("ticks");
    s.refused = o->getValue<long long>("refused");
    s.failed = o->getValue<long long>("failed");
    return s;
}

int detached_of(const std::string& address) {
    return json_of(address, "/postern-status")->getObject("totals")->getValue<int>("detached");
}

/// VmRSS of `pid` in KiB (0 when unreadable).
long long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stoll(line.substr(6));
    }
    return 0;
}

/// How the gateway ended a connection, read to its end (bounded): "eof"
/// (a FIN: over SCGI and uwsgi a body without length then reads as whole),
/// "reset" (an RST: cut off), or "open".
std::string ending_of(SocketClient& c, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[65536];
    while (Clock::now() < deadline) {
        pollfd p{c.fd(), POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0)
            continue;
        const ssize_t n = ::recv(c.fd(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0)
            return "eof";
        if (errno == ECONNRESET)
            return "reset";
        if (errno != EAGAIN && errno != EINTR)
            return std::string("error ") + std::strerror(errno);
    }
    return "open";
}

ProtocolRequest get(const std::string& target) {
    ProtocolRequest r;
    r.target = target;
    return r;
}

class DetachedHostile : public SharedStack<DetachedHostile, ::testing::TestWithParam<std::string>> {
  public:
    /// The gateway alone: one worker process (its streams, its counters),
    /// two threads, a short write timeout.
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        options.gateway_args = {"--processes",     "1",
                                "--threads",       "2",
                                "--status",        "/postern-status",
                                "--write-timeout", std::to_string(kWriteTimeout.count())};
        return std::make_unique<Stack>(std::vector<Topology>{}, options);
    }

  protected:
    std::string address() const { return gateway().address(GetParam(), false); }
    static std::string http() { return gateway().address("http", false); }
    ProtocolClient client() const { return ProtocolClient(GetParam(), Stack::ajp_secret()); }
    static Stats stats() { return stats_of(http()); }
    static int detached() { return detached_of(http()); }

    /// The next good request, over the case's protocol.
    void expect_next_request_served() const {
        const ProtocolReply reply = client().exchange(address(), get("/hello"));
        EXPECT_TRUE(reply.answered) << reply.error;
        EXPECT_EQ(reply.status, 200);
        EXPECT_EQ(reply.body, "Hello, world!\n");
    }
    /// The stream ended: on_close ran once, the timer dropped it, the
    /// gateway counts no detached response.
    void expect_stream_ended(const Stats& before) const {
        EXPECT_TRUE(wait_until(
            [&] {
                const Stats s = stats();
                return s.closed == before.closed + 1 && s.active == before.active;
            },
            5s + kWriteTimeout))
            << "closed " << stats().closed << " (was " << before.closed << "), active "
            << stats().active;
        EXPECT_TRUE(wait_until([] { return detached() == 0; }, 5s)) << detached();
        const Stats after = stats();
        EXPECT_EQ(after.opened, before.opened + 1);
        EXPECT_EQ(after.closed_twice, 0);
    }
};

TEST_P(DetachedHostile, AClientThatVanishesMidStreamEndsItOnce) {
    const Stats before = stats();
    {
        SocketClient c(address());
        ASSERT_TRUE(c.send(client().encode(get("/f/detach?ticks=500&every_ms=10"))));
        const std::string got = c.recv_until("tick 3", 5s);
        ASSERT_NE(got.find("tick 3"), std::string::npos) << got;
        EXPECT_EQ(detached(), 1);
    }  // gone, in the middle of the stream
    expect_stream_ended(before);
    const Stats after = stats();
    // The timer's next write found the client gone.
    EXPECT_EQ(after.failed, before.failed + 1);
    EXPECT_LT(after.ticks - before.ticks, 500);
    expect_next_request_served();
}

TEST_P(DetachedHostile, AClientThatReadsNothingIsBoundedThenTimedOut) {
    const std::set<pid_t> workers = children_of(gateway().process().pid());
    ASSERT_EQ(workers.size(), 1u);
    const pid_t worker = *workers.begin();
    const long long rss_before = rss_kib(worker);
    const Stats before = stats();
    SocketClient c(address());
    const int small = 4096;
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    // 64 KiB every millisecond for up to 10 s: 640 MiB if nothing held it.
    ASSERT_TRUE(c.send(client().encode(get("/f/detach?ticks=10000&every_ms=1&bytes=65536"))));
    // The queue reached its bound: write() refuses instead of growing.
    EXPECT_TRUE(wait_until([&] { return stats().refused > before.refused; }, 5s));
    const long long rss_full = rss_kib(worker);
    // Stream::kMaxQueued is 1 MiB; the rest is the kernel's socket buffers.
    EXPECT_LT(rss_full - rss_before, 32 * 1024)
        << "worker RSS " << rss_before << " KiB before, " << rss_full << " KiB with the queue full";
    // Nothing taken for --write-timeout: the stream is ended, on_close runs.
    expect_stream_ended(before);
    EXPECT_LT(rss_kib(worker) - rss_before, 32 * 1024);
    expect_next_request_served();
}

INSTANTIATE_TEST_SUITE_P(Protocols, DetachedHostile,
                         ::testing::Values("http", "fastcgi", "ajp", "scgi", "uwsgi"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

/// A request body sent to a detaching route: the protocols whose client
/// sends the whole body unasked (an AJP front end sends a large body only
/// when asked, packet by packet).
class DetachedBody : public DetachedHostile {};

/// A POST of 80 KiB: more than the gateway collects before calling the
/// callback (64 KiB), so the callback detaches with the body still coming.
ProtocolRequest post(const std::string& target) {
    ProtocolRequest r;
    r.method = "POST";
    r.target = target;
    r.body = std::string(80 * 1024, 'b');
    r.headers = {{"Content-Type", "application/octet-stream"}};
    return r;
}

TEST_P(DetachedBody, ATrickledBodyIsReadToItsEndBeforeTheStream) {
    const Stats before = stats();
    const ProtocolClient pc = client();
    const std::string bytes = pc.encode(post("/f/detach?ticks=5&every_ms=20"));
    constexpr std::size_t kTail = 8 * 1024;
    SocketClient c(address());
    ASSERT_TRUE(c.send(std::string_view(bytes).substr(0, bytes.size() - kTail)));
    // The rest in 8 pieces, 50 ms apart (the pace of the trickle, not a
    // synchronisation): the stream waits for the last byte of the body.
    const auto tail = pieces(std::string_view(bytes).substr(bytes.size() - kTail), 1024);
    for (const auto& piece : tail) {
        EXPECT_EQ(c.recv_some(50ms), "") << "the stream began before the body was read";
        ASSERT_TRUE(c.send(piece));
    }
    const ProtocolReply reply = pc.read(c, 10s);
    EXPECT_TRUE(reply.answered) << reply.error;
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, ticks(5));
    expect_stream_ended(before);
    expect_next_request_served();
}

TEST_P(DetachedBody, ABodyCutOffEndsTheStream) {
    const Stats before = stats();
    const std::string bytes = client().encode(post("/f/detach?ticks=500&every_ms=10"));
    {
        SocketClient c(address());
        // All but the last 4 KiB of the body, then gone.
        ASSERT_TRUE(c.send(std::string_view(bytes).substr(0, bytes.size() - 4096)));
        ASSERT_TRUE(wait_until([&] { return stats().opened == before.opened + 1; }, 5s));
    }
    expect_stream_ended(before);
    EXPECT_LT(stats().ticks - before.ticks, 500);
    expect_next_request_served();
}

INSTANTIATE_TEST_SUITE_P(Protocols, DetachedBody,
                         ::testing::Values("http", "fastcgi", "scgi", "uwsgi"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             return info.param;
                         });

/// SIGTERM with a stream open over every protocol: the drain ends them at
/// once (it does not wait for them to finish), each on_close runs, and the
/// gateway exits 0. A gateway of its own, since the case stops it.
TEST(DetachedShutdown, SigtermEndsOpenStreamsAndExitsCleanly) {
    TempDir dir("postern-detached");
    Gateway::Config config;
    config.mounts = {"/f=faults", "/hello=hello"};
    config.protocols = {"http", "fastcgi", "ajp", "scgi", "uwsgi"};
    config.ajp_secret = Stack::ajp_secret();
    config.extra_args = {"--processes",     "1",    "--threads", "2", "--status", "/postern-status",
                         "--drain-timeout", "20000"};
    Gateway gateway(dir, "gateway", config);
    const std::string http = gateway.address("http", false);

    std::vector<SocketClient> clients;
    for (const std::string protocol : {"http", "fastcgi", "ajp", "scgi", "uwsgi"}) {
        clients.emplace_back(gateway.address(protocol, false));
        const ProtocolClient pc(protocol, Stack::ajp_secret());
        ASSERT_TRUE(clients.back().send(pc.encode(get("/f/detach?ticks=1000&every_ms=50"))));
        const std::string got = clients.back().recv_until("tick 0", 5s);
        ASSERT_NE(got.find("tick 0"), std::string::npos) << protocol << ": " << got;
    }
    ASSERT_TRUE(wait_until([&] { return detached_of(http) == 5; }, 5s)) << detached_of(http);
    EXPECT_EQ(stats_of(http).closed, 0);

    const auto start = Clock::now();
    gateway.process().signal(SIGTERM);
    const auto status = gateway.process().wait(10s);
    const auto took = Clock::now() - start;
    ASSERT_TRUE(status.has_value()) << "the gateway did not exit within 10 s of SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_wait_status(*status);
    EXPECT_LT(took, 5s) << "the drain waited for the streams (--drain-timeout 20000)";
    // Cut off, never complete: HTTP without its last chunk, FastCGI without
    // FCGI_END_REQUEST, AJP without END_RESPONSE; SCGI and uwsgi, whose body
    // ends at the close, with a reset.
    const std::vector<std::string> protocols = {"http", "fastcgi", "ajp", "scgi", "uwsgi"};
    for (std::size_t i = 0; i < clients.size(); ++i) {
        const std::string ending = ending_of(clients[i], 5s);
        if (protocols[i] == "scgi" || protocols[i] == "uwsgi")
            EXPECT_EQ(ending, "reset") << protocols[i];
        else
            EXPECT_NE(ending, "open") << protocols[i];
    }
    std::ifstream log(gateway.log_path());
    std::stringstream text;
    text << log.rdbuf();
    EXPECT_NE(text.str().find("faults: detached streams opened 5, closed 5, closed twice 0"),
              std::string::npos)
        << text.str();
}

}  // namespace
}  // namespace postern::test
