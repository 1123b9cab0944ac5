// Soak: 100,000 requests at a concurrency of 64 through nginx -> FastCGI ->
// postern, with the shipped nginx-conf/postern-fastcgi.conf (keep-alive
// upstream, FCGI_KEEP_CONN). Every answer must be 200 with its exact body,
// and the resident memory of every postern process must stay flat: at the
// 100,000th request within 10 % of what it was at the 30,000th, once the
// worker threads, the allocator's arenas and the kept connections are warm.
// A leak of even a few dozen bytes per request shows as more than that.
// (At the 10,000th, 0.2 s in, a worker could still call in a thread: one
// grew by 11 % after it, 5,468 -> 6,056 KiB, in one CI run while the other
// worker stayed flat.)
//
// The client is in the test: 64 threads, each with its own kept-alive
// connection to nginx (reopened when nginx closes it after its
// keepalive_requests). Requests alternate between /hello (a buffered
// response with a Content-Length) and /stream (a response flushed in pieces,
// through the snippet's unbuffered location).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "process_memory.hpp"
#include "stack.hpp"

namespace postern::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kRequests = 100'000;
constexpr std::uint64_t kWarm = 30'000;
constexpr int kConcurrency = 64;
// Bounds the run if the stack gets slow: no request is started after it
// (every request not made counts as failed).
constexpr auto kDeadline = 300s;

const Topology& topology_named(const std::string& name) {
    for (const Topology& t : all_topologies())
        if (t.name == name)
            return t;
    throw std::runtime_error("no topology " + name);
}

struct Probe {
    HttpRequest request;
    std::string body;
};

// Request i of the run and the exact body it must get.
const Probe& probe(std::uint64_t i) {
    static const Probe hello{{"GET", "/hello", {}, "", 0}, "Hello, world!\n"};
    static const Probe stream{{"GET", "/stream?chunks=3&bytes=7", {}, "", 0},
                              "aaaaaaabbbbbbbccccccc"};
    return i % 4 == 3 ? stream : hello;
}

class Failures {
  public:
    void add(std::uint64_t request, const std::string& what) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++count_;
        if (first_.size() < 10)
            first_.push_back("request " + std::to_string(request) + ": " + what);
    }
    std::uint64_t count() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return count_;
    }
    std::string first() const {
        std::lock_guard<std::mutex> lock(mutex_);
        std::string out;
        for (const auto& f : first_)
            out += "\n  " + f;
        return out;
    }

  private:
    mutable std::mutex mutex_;
    std::uint64_t count_ = 0;
    std::vector<std::string> first_;
};

TEST(Soak, NginxFastcgiKeepsEveryAnswerAndFlatMemoryOver100kRequests) {
    std::optional<Stack> stack;
    try {
        stack.emplace();
    } catch (const std::exception& e) {
        FAIL() << "the test stack did not start: " << e.what();
    }
    Stack::Endpoint endpoint;
    try {
        endpoint = stack->endpoint(topology_named("nginx_fastcgi_tcp"));
    } catch (const std::exception& e) {
        FAIL() << "nginx did not start: " << e.what();
    }
    const pid_t gateway = stack->gateway().process().pid();

    std::atomic<std::uint64_t> next{0};
    std::atomic<std::uint64_t> completed{0};
    std::atomic<std::uint64_t> reconnects{0};
    Failures failures;
    std::mutex sample_mutex;
    TreeMemory at_warm;
    Clock::duration warm_time{};

    const auto start = Clock::now();
    const auto deadline = start + kDeadline;
    auto client = [&] {
        std::optional<HttpConnection> conn;
        bool opened = false;
        for (std::uint64_t i; (i = next.fetch_add(1)) < kRequests;) {
            if (Clock::now() > deadline) {
                failures.add(i, "not sent: the run took longer than its deadline");
                continue;
            }
            const Probe& p = probe(i);
            try {
                if (!conn || conn->closed()) {
                    if (opened)
                        reconnects.fetch_add(1);
                    conn.emplace(endpoint.address, endpoint.address);
                    opened = true;
                }
                const HttpResponse res = conn->request(p.request, 20s);
                if (res.status != 200 || res.body != p.body) {
                    failures.add(i, "status " + std::to_string(res.status) + ", body \"" +
                                        res.body.substr(0, 100) + "\"");
                }
                // nginx closes a client connection after keepalive_requests
                // (1000) requests, saying so.
                if (res.header("Connection").value_or("") == "close")
                    conn.reset();
            } catch (const std::exception& e) {
                failures.add(i, e.what());
                conn.reset();
            }
            if (completed.fetch_add(1) + 1 == kWarm) {
                std::lock_guard<std::mutex> lock(sample_mutex);
                at_warm = tree_memory(gateway);
                warm_time = Clock::now() - start;
            }
        }
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kConcurrency; ++t)
        threads.emplace_back(client);
    for (auto& t : threads)
        t.join();
    const auto took = Clock::now() - start;
    const TreeMemory at_end = tree_memory(gateway);

    const double seconds = std::chrono::duration<double>(took).count();
    std::printf(
        "soak: %llu requests, concurrency %d, nginx -> FastCGI (TCP) -> postern, in %.1f s "
        "(%.0f req/s), %llu failed, %llu client reconnects\n"
        "soak: postern RSS at request %llu (%.1f s): %s\n"
        "soak: postern RSS at request %llu: %s\n",
        static_cast<unsigned long long>(kRequests), kConcurrency, seconds, kRequests / seconds,
        static_cast<unsigned long long>(failures.count()),
        static_cast<unsigned long long>(reconnects.load()), static_cast<unsigned long long>(kWarm),
        std::chrono::duration<double>(warm_time).count(), at_warm.describe().c_str(),
        static_cast<unsigned long long>(kRequests), at_end.describe().c_str());
    RecordProperty("seconds", std::to_string(seconds));
    RecordProperty("rss_kib_at_30k", std::to_string(at_warm.total_kib()));
    RecordProperty("rss_kib_at_100k", std::to_string(at_end.total_kib()));

    EXPECT_EQ(completed.load(), kRequests);
    EXPECT_EQ(failures.count(), 0u) << "first failures:" << failures.first();
    ASSERT_FALSE(at_warm.pids.empty()) << "no RSS sample at request " << kWarm;
    // The same processes (none crashed and was replaced), none grown by
    // more than 10 %.
    EXPECT_EQ(at_end.pids, at_warm.pids);
    for (std::size_t i = 0; i < at_end.pids.size(); ++i) {
        const auto before = std::find(at_warm.pids.begin(), at_warm.pids.end(), at_end.pids[i]);
        if (before == at_warm.pids.end())
            continue;
        const std::uint64_t warm_kib = at_warm.rss_kib[before - at_warm.pids.begin()];
        EXPECT_LE(at_end.rss_kib[i] * 10, warm_kib * 11)
            << "postern pid " << at_end.pids[i] << " grew from " << warm_kib << " KiB at request "
            << kWarm << " to " << at_end.rss_kib[i] << " KiB at request " << kRequests;
    }

    const auto problems = stack->stop();
    for (const auto& p : problems)
        ADD_FAILURE() << p;
    if (HasFailure()) {
        std::fprintf(stderr, "%s", stack->log_tails().c_str());
        if (std::getenv("POSTERN_KEEP_TEMP") != nullptr)
            stack->keep_dir();
    }
}

}  // namespace
}  // namespace postern::test
