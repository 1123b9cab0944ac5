// Integration tests: detached responses (Response::detach) through every
// shipped front end that streams (nginx over FastCGI, HTTP, SCGI and uwsgi;
// Apache with mod_proxy_fcgi, mod_proxy_http, mod_jk, mod_proxy_ajp,
// mod_proxy_scgi and mod_proxy_uwsgi; and direct HTTP), at the snippets'
// streaming location (/stream), served by the faults module's /detach: its
// ticks are written by one timer thread after the callback returned.
//
// The gateway runs with --threads 2: three streams open at once hold no
// thread, so a plain request is answered while they last (the complaint of
// issue 16: a GET waited 5 s behind three event streams), and the status
// page counts them as detached while they are open, 0 after.
#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "detach_ticks.hpp"
#include "http_client.hpp"
#include "stack_suite.hpp"
#include "wait.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// Every shipped topology but CGI (one process per request: nothing to
/// detach from).
std::vector<Topology> streaming_topologies() {
    std::vector<Topology> list;
    for (const Topology& t : shipped_topologies())
        if (std::string(t.protocol) != "cgi")
            list.push_back(t);
    return list;
}

class DetachedThroughFrontEnds : public StackSuite<DetachedThroughFrontEnds> {
  public:
    static std::unique_ptr<Stack> make_stack() {
        Stack::Options options;
        // The faults module under the snippets' streaming location too.
        options.gateway_mounts = {"/stream/f=faults"};
        // One worker process: its streams, its counters.
        options.gateway_args = {"--processes", "1",        "--threads",
                                "2",           "--status", "/postern-status"};
        return std::make_unique<Stack>(streaming_topologies(), options);
    }

  protected:
    static std::string direct() { return gateway().address("http", false); }

    static Poco::JSON::Object::Ptr json_of(const std::string& target) {
        HttpRequest req;
        req.target = target;
        const HttpResponse res = http_request(direct(), direct(), req, 10s);
        if (res.status != 200)
            throw std::runtime_error(target + " answered " + std::to_string(res.status));
        Poco::JSON::Parser parser;
        return parser.parse(res.body).extract<Poco::JSON::Object::Ptr>();
    }
    /// The gateway's open detached responses (the status page).
    static int detached() {
        return json_of("/postern-status")->getObject("totals")->getValue<int>("detached");
    }
    /// The faults module's counters (faults.cpp, /detach-stats).
    static Poco::JSON::Object::Ptr stats() { return json_of("/stream/f/detach-stats"); }
};

TEST_P(DetachedThroughFrontEnds, StreamsArriveWholeInOrderAndHoldNoThread) {
    const auto before = stats();
    // Three streams of 15 ticks 100 ms apart (1.4 s: time enough to see
    // them open on a loaded machine): one with its head held for
    // the first tick, one whose head and first line the sink sent before
    // detach() (the channel goes on in the framing the head chose), one
    // with its first line held with the head.
    const std::vector<std::string> targets = {
        "/stream/f/detach?ticks=15&every_ms=100",
        "/stream/f/detach?ticks=15&every_ms=100&start=1&flush=1",
        "/stream/f/detach?ticks=15&every_ms=100&start=1",
    };
    std::vector<std::future<std::pair<HttpResponse, Clock::time_point>>> streams;
    for (const auto& target : targets) {
        streams.push_back(std::async(std::launch::async, [this, target] {
            HttpRequest req;
            req.target = target;
            HttpResponse res = send(req, 20s);
            return std::make_pair(std::move(res), Clock::now());
        }));
    }
    // All three detached: the two threads are free, a plain request is
    // answered at once, long before any stream ends.
    const bool all_detached = wait_until([] { return detached() == 3; }, 5s);
    EXPECT_TRUE(all_detached) << "detached: " << detached();
    const auto asked = Clock::now();
    const HttpResponse hello = get("/hello");
    const auto answered = Clock::now();
    EXPECT_EQ(hello.status, 200);
    EXPECT_EQ(hello.body, "Hello, world!\n");
    EXPECT_LT(answered - asked, 1s);

    for (std::size_t i = 0; i < streams.size(); ++i) {
        SCOPED_TRACE(targets[i]);
        auto [res, done] = streams[i].get();
        EXPECT_EQ(res.status, 200) << res.body;
        EXPECT_EQ(res.header("Content-Type").value_or("").rfind("text/plain", 0), 0u);
        const std::string expected = (i == 0 ? "" : "start\n") + ticks(15);
        EXPECT_EQ(res.body, expected);
        // Streamed, not buffered to the end: 1400 ms from the first tick to
        // the last.
        EXPECT_GE(res.first_body_byte, 0ms);
        EXPECT_GE(res.complete - res.first_body_byte, 700ms)
            << "first body byte at " << res.first_body_byte.count() << " ms, complete at "
            << res.complete.count() << " ms";
        if (all_detached) {
            EXPECT_LT(answered, done) << "/hello waited for a stream to end";
        }
    }

    // Every stream ended: none detached, each on_close ran once.
    EXPECT_TRUE(wait_until([] { return detached() == 0; }, 5s)) << "detached: " << detached();
    const auto opened = before->getValue<int>("opened") + 3;
    EXPECT_TRUE(wait_until([&] { return stats()->getValue<int>("closed") == opened; }, 5s));
    const auto after = stats();
    EXPECT_EQ(after->getValue<int>("opened"), opened);
    EXPECT_EQ(after->getValue<int>("closed_twice"), 0);
    EXPECT_EQ(after->getValue<int>("active"), 0);
    EXPECT_EQ(after->getValue<int>("ticks") - before->getValue<int>("ticks"), 45);
    EXPECT_EQ(after->getValue<int>("failed"), before->getValue<int>("failed"));
    // The front end's connections still serve.
    EXPECT_EQ(get("/hello").body, "Hello, world!\n");
}

INSTANTIATE_TEST_SUITE_P(Shipped, DetachedThroughFrontEnds,
                         ::testing::ValuesIn(streaming_topologies()),
                         [](const ::testing::TestParamInfo<Topology>& info) {
                             return std::string(info.param.name);
                         });

}  // namespace
}  // namespace postern::test
