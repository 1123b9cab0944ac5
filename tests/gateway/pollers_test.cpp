// Tests the reactor's pollers (Options::pollers): with fewer threads
// waiting for requests than threads in all, a callback that blocks must
// not hold up the requests queued behind it (a standing-by thread is called
// in), callbacks that block for less than the monitor's period still run
// side by side, the threads called in stand by again afterwards and can be
// called in again, many clients at once are all served, and stop() ends
// parked threads too. A real Server on port 0, HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "core/blocking.hpp"
#include "core/reactor.hpp"
#include "in_process_gateway.hpp"
#include "postern/postern.hpp"
#include "socket_client.hpp"
#include "wait.hpp"

namespace postern {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::SocketClient;

/// Callbacks on /block wait here until released (or 10 s pass).
struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    int inside = 0;

    void wait() {
        std::unique_lock lock(mutex);
        ++inside;
        cv.notify_all();
        cv.wait_for(lock, 10s, [this] { return open; });
        --inside;
    }
    bool wait_inside(int n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, timeout, [&] { return inside >= n; });
    }
    void release() {
        std::lock_guard lock(mutex);
        open = true;
        cv.notify_all();
    }
    void close() {
        std::lock_guard lock(mutex);
        open = false;
    }
};

// The monitor's rule, look by look (2 ms apart).
TEST(ThreadsWanted, ShortRequestsNeedOnlyThePollers) {
    // Requests under 250 µs add nothing to slow_ns; none seen twice.
    EXPECT_EQ(threads_wanted({1, 16, 1, 0, 0, 2'000'000}), 1u);
    EXPECT_EQ(threads_wanted({2, 16, 2, 0, 0, 2'000'000}), 2u);
    // Some time in long requests, less than a thread's worth: no more.
    EXPECT_EQ(threads_wanted({1, 16, 1, 0, 1'500'000, 2'000'000}), 1u);
}

TEST(ThreadsWanted, TimeInLongRequestsCallsThreadsIn) {
    // The one poller served two 1 ms requests since the last look, one after
    // the other: one thread's worth of blocking, so one more thread.
    EXPECT_EQ(threads_wanted({1, 16, 1, 0, 2'000'000, 2'000'000}), 2u);
    // Eight threads' worth (8 of them busy with 1 ms requests): nine.
    EXPECT_EQ(threads_wanted({1, 16, 8, 0, 16'000'000, 2'000'000}), 9u);
    // Never more than there are.
    EXPECT_EQ(threads_wanted({1, 16, 16, 0, 64'000'000, 2'000'000}), 16u);
}

TEST(ThreadsWanted, ARequestSeenTwiceCountsEveryRunningOne) {
    // One thread stuck, four running in all: a thread for each, and the
    // poller free.
    EXPECT_EQ(threads_wanted({1, 16, 4, 1, 0, 2'000'000}), 5u);
    EXPECT_EQ(threads_wanted({1, 4, 4, 3, 0, 2'000'000}), 4u);
    // A look right after the last one (no time passed) divides by nothing.
    EXPECT_EQ(threads_wanted({1, 16, 1, 0, 5'000'000, 0}), 1u);
}

// What a look counts, from each thread's counters at this look and the last.
TEST(TakeLook, CountsRunningAndStuckThreads) {
    std::vector<ThreadSample> last = {{0, 0}, {7, 0}, {9, 0}, {0, 0}};
    const std::vector<ThreadSample> now = {{0, 0}, {7, 0}, {10, 0}, {11, 0}};
    const Look look = take_look(now, last, 1, 2'000'000);
    EXPECT_EQ(look.pollers, 1u);
    EXPECT_EQ(look.threads, 4u);
    // Thread 1 is inside dispatch 7 at both looks; 2 moved on to another
    // request, 3 began one; 0 is idle.
    EXPECT_EQ(look.running, 3u);
    EXPECT_EQ(look.stuck, 1u);
    EXPECT_EQ(look.slow_ns, 0u);
    EXPECT_EQ(look.since_ns, 2'000'000u);
    // The next look compares with this one.
    EXPECT_EQ(last[2].serving, 10u);
    EXPECT_EQ(last[3].serving, 11u);
    // Idle at both looks is not stuck.
    const std::vector<ThreadSample> idle(4);
    std::vector<ThreadSample> was_idle(4);
    const Look quiet = take_look(idle, was_idle, 1, 2'000'000);
    EXPECT_EQ(quiet.running, 0u);
    EXPECT_EQ(quiet.stuck, 0u);
}

TEST(TakeLook, SlowTimeCountsAtMostTheSpanForEachThread) {
    // Two threads, each 1.5 ms in long requests in a 2 ms span: 3 ms, so
    // one thread's worth beyond the poller.
    std::vector<ThreadSample> last = {{0, 10'000'000}, {0, 20'000'000}};
    Look look =
        take_look(std::vector<ThreadSample>{{0, 11'500'000}, {0, 21'500'000}}, last, 1, 2'000'000);
    EXPECT_EQ(look.slow_ns, 3'000'000u);
    EXPECT_EQ(threads_wanted(look), 2u);
    EXPECT_EQ(last[0].slow_ns, 11'500'000u);

    // One request of `ns` ends on one of 16 threads, `since` after the last
    // look: the look that sees it, then the next one.
    const auto one_ends = [](std::uint64_t ns, std::uint64_t since) {
        std::vector<ThreadSample> last(16);
        std::vector<ThreadSample> now(16);
        now[3].slow_ns = ns;
        const Look seen = take_look(now, last, 1, since);
        return std::pair{seen, take_look(now, last, 1, 2'000'000)};
    };
    // A 400 ms write adds its whole time at once: one thread was busy for
    // the 2 ms span, not 200 threads.
    auto [seen, next] = one_ends(400'000'000, 2'000'000);
    EXPECT_EQ(seen.slow_ns, 2'000'000u);
    EXPECT_EQ(threads_wanted(seen), 2u);
    // A 1 ms request that ends 5 µs after the last look: not every thread
    // either.
    std::tie(seen, next) = one_ends(1'000'000, 5'000);
    EXPECT_EQ(seen.slow_ns, 5'000u);
    EXPECT_EQ(threads_wanted(seen), 2u);
    // The same time counts once: the look after adds nothing.
    EXPECT_EQ(next.slow_ns, 0u);
    EXPECT_EQ(threads_wanted(next), 1u);
}

// How often the monitor looks: every 2 ms while callbacks block, half as
// often after each look that wanted no thread beyond the pollers.
TEST(LookPeriod, GrowsWhileNothingBlocksAndShrinksAtOnce) {
    constexpr long kShortest = 2'000'000;
    constexpr long kLongest = 16'000'000;
    long period = kShortest;
    const long expected[] = {4'000'000, 8'000'000, 16'000'000, 16'000'000};
    for (long e : expected) {
        period = next_look_period(period, false, kShortest, kLongest);
        EXPECT_EQ(period, e);
    }
    EXPECT_EQ(next_look_period(period, true, kShortest, kLongest), kShortest);
    EXPECT_EQ(next_look_period(kShortest, true, kShortest, kLongest), kShortest);
    // A longest that is not a power of two times the shortest is kept to.
    EXPECT_EQ(next_look_period(8'000'000, false, kShortest, 10'000'000), 10'000'000);
}

class Pollers : public ::testing::Test {
  protected:
    static constexpr std::size_t kBig = 32 << 20;

    void start(unsigned threads, unsigned pollers) {
        Options& o = gateway_.options();
        o.mounts = {{"/",
                     [this](Request& req, Response& res) {
                         if (req.path_info() == "/block")
                             gate_.wait();
                         else if (req.path_info() == "/upload") {
                             char buffer[16384];
                             std::size_t total = 0;
                             while (std::size_t n = req.read(buffer, sizeof buffer))
                                 total += n;
                             res.write("got " + std::to_string(total) + " ");
                         } else if (req.path_info() == "/big") {
                             // More than the socket buffers hold: the
                             // write waits for a client that reads.
                             res.header("Content-Length", std::to_string(kBig + 6));
                             res.write(std::string(kBig, 'x'));
                         } else if (req.path_info() == "/slow")
                             std::this_thread::sleep_for(5ms);
                         else if (req.path_info() == "/nap") {
                             // Shorter than the monitor's period: never seen
                             // twice in the same request.
                             const int now = ++in_flight_;
                             int seen = most_in_flight_.load();
                             while (now > seen &&
                                    !most_in_flight_.compare_exchange_weak(seen, now)) {
                             }
                             std::this_thread::sleep_for(1ms);
                             --in_flight_;
                         }
                         res.write("hello\n");
                     },
                     "test"}};
        o.threads = threads;
        o.pollers = pollers;
        o.drain_timeout = 2s;
        gateway_.start();
        address_ = gateway_.address();
    }
    void TearDown() override {
        gate_.release();
        gateway_.stop();
    }

    static bool get(SocketClient& c, const std::string& path,
                    std::chrono::milliseconds timeout = 5000ms) {
        if (!c.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n"))
            return false;
        return c.recv_until("hello\n", timeout).find("hello\n") != std::string::npos;
    }

    /// Sends /block on `n` new connections and waits until every callback
    /// is inside the gate.
    std::vector<SocketClient> block(int n) {
        std::vector<SocketClient> held;
        for (int i = 0; i < n; ++i) {
            held.emplace_back(address_);
            EXPECT_TRUE(held.back().send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n"));
        }
        EXPECT_TRUE(gate_.wait_inside(n, 5s)) << "the blocking requests did not all start";
        return held;
    }

    /// `count` requests on one kept connection and on new ones, each
    /// answered while the blocked callbacks still wait (they wait 10 s).
    void quick_requests_are_served(int count) {
        SocketClient kept(address_);
        for (int i = 0; i < count; ++i) {
            const auto t0 = Clock::now();
            ASSERT_TRUE(get(kept, "/hello", 3000ms)) << "request " << i << " on a kept connection";
            SocketClient fresh(address_);
            ASSERT_TRUE(get(fresh, "/hello", 3000ms)) << "request " << i << " on a new connection";
            EXPECT_LT(Clock::now() - t0, 3s);
        }
    }

    Gate gate_;
    std::atomic<int> in_flight_{0};
    std::atomic<int> most_in_flight_{0};
    test::InProcessGateway gateway_{{"http"}};
    std::string address_;
};

TEST_F(Pollers, ABlockedCallbackDoesNotHoldUpTheRequestsBehindIt) {
    start(4, 1);  // one thread waits for requests; three stand by
    std::vector<SocketClient> held = block(1);
    quick_requests_are_served(20);
    gate_.release();
    for (auto& c : held)
        EXPECT_NE(c.recv_until("hello\n", 5s).find("hello\n"), std::string::npos);
}

TEST_F(Pollers, AResponseWriteThatWaitsForTheClientCallsAThreadInAtOnce) {
    // The one poller writes a response the client does not read: before the
    // write waits, it lets a thread that stands by take the requests, with
    // no wait for the monitor (which would call one in after two looks).
    start(4, 1);
    const std::uint64_t before = blocking_handoffs();
    SocketClient slow(address_);
    ASSERT_TRUE(slow.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
    test::wait_until([&] { return blocking_handoffs() != before; }, 5s, 1ms);
    EXPECT_EQ(blocking_handoffs(), before + 1) << "the write waited without calling a thread in";
    quick_requests_are_served(10);
    // Nothing of the response was lost meanwhile, and the connection goes on.
    const std::string head = slow.recv_until("\r\n\r\n", 5s);
    ASSERT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
    const std::size_t body_start = head.find("\r\n\r\n") + 4;
    const std::size_t have = head.size() - body_start;
    const std::string rest = slow.recv_exact(kBig + 6 - have, 20s);
    ASSERT_EQ(rest.size(), kBig + 6 - have);
    EXPECT_EQ((head.substr(body_start) + rest).find_first_not_of('x'), kBig);
    EXPECT_TRUE(get(slow, "/hello"));
    // One hand-off per request, however many pieces the write takes.
    EXPECT_EQ(blocking_handoffs(), before + 1);
}

TEST_F(Pollers, ARequestBodyThatIsLateCallsAThreadInAtOnce) {
    // The one poller reads a body whose client pauses half-way: once it has
    // waited 1 ms, a thread that stands by takes the requests.
    start(4, 1);
    const std::uint64_t before = blocking_handoffs();
    constexpr std::size_t kBody = 1 << 20;
    SocketClient slow(address_);
    ASSERT_TRUE(slow.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                          std::to_string(kBody) + "\r\n\r\n" + std::string(1000, 'y')));
    test::wait_until([&] { return blocking_handoffs() != before; }, 5s, 1ms);
    EXPECT_EQ(blocking_handoffs(), before + 1)
        << "the body read waited without calling a thread in";
    quick_requests_are_served(10);
    // The rest of the body, in two pieces: all of it arrives, and the
    // connection serves the next request.
    ASSERT_TRUE(slow.send(std::string(kBody / 2, 'y')));
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(slow.send(std::string(kBody - 1000 - kBody / 2, 'y')));
    EXPECT_NE(slow.recv_until("hello\n", 5s).find("got " + std::to_string(kBody) + " hello\n"),
              std::string::npos);
    EXPECT_TRUE(get(slow, "/hello"));
    EXPECT_EQ(blocking_handoffs(), before + 1);
}

TEST_F(Pollers, EveryThreadButOneCanBlockAndTheLastStillServes) {
    start(4, 1);
    std::vector<SocketClient> held = block(3);
    quick_requests_are_served(10);
    gate_.release();
    for (auto& c : held)
        EXPECT_NE(c.recv_until("hello\n", 5s).find("hello\n"), std::string::npos);
}

TEST_F(Pollers, ThreadsCalledInStandByAgainAndAreCalledInAgain) {
    start(3, 1);
    for (int round = 0; round < 3; ++round) {
        std::vector<SocketClient> held = block(2);
        quick_requests_are_served(5);
        gate_.release();
        for (auto& c : held)
            ASSERT_NE(c.recv_until("hello\n", 5s).find("hello\n"), std::string::npos)
                << "round " << round;
        {
            // Wait until the released callbacks have left the gate before
            // closing it for the next round.
            std::unique_lock lock(gate_.mutex);
            ASSERT_TRUE(gate_.cv.wait_for(lock, 5s, [this] { return gate_.inside == 0; }));
        }
        gate_.close();
        // Long enough for the monitor to see nothing stuck and let the
        // threads it called in park again.
        std::this_thread::sleep_for(50ms);
    }
}

TEST_F(Pollers, ManyClientsAtOnceAreAllServed) {
    start(8, 1);
    std::atomic<int> served{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 16; ++t) {
        clients.emplace_back([&, t] {
            SocketClient c(address_);
            for (int i = 0; i < 200; ++i) {
                // Now and then a request that runs past the monitor's
                // period, so that threads are called in and park again
                // under load.
                if (get(c, t % 4 == 0 && i % 10 == 0 ? "/slow" : "/hello"))
                    ++served;
            }
        });
    }
    for (auto& c : clients)
        c.join();
    EXPECT_EQ(served.load(), 16 * 200);
}

TEST_F(Pollers, CallbacksThatBlockBrieflyRunSideBySide) {
    // Each /nap sleeps 1 ms, less than the monitor's period: the time spent
    // in such requests calls threads in, so 8 clients' requests run side by
    // side instead of one after another on the one poller.
    start(8, 1);
    std::vector<std::thread> clients;
    std::atomic<int> served{0};
    for (int t = 0; t < 8; ++t) {
        clients.emplace_back([&] {
            SocketClient c(address_);
            for (int i = 0; i < 100; ++i)
                if (get(c, "/nap"))
                    ++served;
        });
    }
    for (auto& c : clients)
        c.join();
    EXPECT_EQ(served.load(), 8 * 100);
    EXPECT_GE(most_in_flight_.load(), 4) << "the 1 ms callbacks ran one after another";
}

TEST_F(Pollers, StopEndsParkedThreads) {
    start(16, 1);
    SocketClient c(address_);
    ASSERT_TRUE(get(c, "/hello"));
    const auto t0 = Clock::now();
    gateway_.stop();
    EXPECT_LT(Clock::now() - t0, 2s);
}

}  // namespace
}  // namespace postern
