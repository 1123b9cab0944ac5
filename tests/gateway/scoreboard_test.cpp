#include "core/scoreboard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace postern {
namespace {

/// Detaches whatever a test attached, even when it fails.
struct Attached {
    Attached(WorkerSlot* slot, int fd, std::uint64_t limit) { attach_worker_slot(slot, fd, limit); }
    ~Attached() { attach_worker_slot(nullptr, -1, 0); }
};

TEST(Scoreboard, WithoutASlotNothingIsRecorded) {
    WorkerSlot slot(4);
    { InFlight r("GET", "/"); }
    EXPECT_EQ(slot.served(), 0u);
    EXPECT_TRUE(slot.in_flight().requests.empty());
}

TEST(Scoreboard, RecordsRequestsWhileTheyRunAndCountsThem) {
    WorkerSlot slot(4);
    Attached a(&slot, -1, 0);
    {
        InFlight r("GET", "/f/sleep?ms=10");
        const auto report = slot.in_flight();
        ASSERT_EQ(report.requests.size(), 1u);
        EXPECT_EQ(report.requests[0], "GET /f/sleep?ms=10");
        EXPECT_FALSE(report.crashed_thread_known);
    }
    EXPECT_TRUE(slot.in_flight().requests.empty());
    EXPECT_EQ(slot.served(), 1u);
    { InFlight r("POST", "/upload"); }
    EXPECT_EQ(slot.served(), 2u);
}

TEST(Scoreboard, EachThreadHasItsEntryAndExtraThreadsAreCounted) {
    WorkerSlot slot(2);
    Attached a(&slot, -1, 0);
    // Four threads, each holding a request until the main thread has read
    // the slot; two entries, so two of them are counted but not named.
    std::vector<std::thread> threads;
    int started[2];
    int release[2];
    ASSERT_EQ(::pipe(started), 0);
    ASSERT_EQ(::pipe(release), 0);
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            InFlight r("GET", "/t" + std::to_string(i));
            [[maybe_unused]] auto w = ::write(started[1], "s", 1);
            char c;
            [[maybe_unused]] auto n = ::read(release[0], &c, 1);
        });
    }
    for (int i = 0; i < 4; ++i) {
        char c;
        ASSERT_EQ(::read(started[0], &c, 1), 1);
    }
    const auto report = slot.in_flight();
    EXPECT_EQ(report.requests.size(), 2u);
    EXPECT_EQ(report.unnamed, 2u);
    ASSERT_EQ(::write(release[1], "rrrr", 4), 4);
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(slot.served(), 4u);
    EXPECT_EQ(slot.in_flight().unnamed, 0u);
    for (int fd : {started[0], started[1], release[0], release[1]})
        ::close(fd);
}

TEST(Scoreboard, TimedRequestsTellWhichHasRunLongest) {
    WorkerSlot slot(4);
    Attached a(&slot, -1, 0);
    const auto now = std::chrono::steady_clock::now;
    {
        InFlight r("GET", "/untimed");
        EXPECT_FALSE(slot.longest(now())) << "not timed unless asked";
    }
    slot.time_requests();
    EXPECT_FALSE(slot.longest(now())) << "nothing running";
    // Each request on a thread of its own (a thread runs one at a time),
    // held until the main thread has looked.
    std::atomic<int> started{0};
    std::atomic<bool> release{false};
    auto hold = [&](const char* method, const char* uri) {
        return std::thread([&, method, uri] {
            InFlight r(method, uri);
            ++started;
            while (!release)
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
        });
    };
    std::thread first = hold("GET", "/first");
    while (started < 1)
        std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::thread second = hold("POST", "/second");
    while (started < 2)
        std::this_thread::yield();
    const auto longest = slot.longest(now());
    release = true;
    first.join();
    second.join();
    ASSERT_TRUE(longest);
    EXPECT_EQ(longest->request, "GET /first");
    EXPECT_GE(longest->running, std::chrono::milliseconds(20));
    EXPECT_LT(longest->running, std::chrono::seconds(60));
    EXPECT_FALSE(slot.longest(now())) << "both ended";
}

TEST(Scoreboard, TheHeartbeatIsSeenAcrossTheFork) {
    WorkerSlot slot(2);
    worker_heartbeat();  // no slot attached: nothing
    EXPECT_FALSE(slot.heartbeat().has_value());
    const auto before = std::chrono::steady_clock::now();
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        attach_worker_slot(&slot, -1, 0);
        worker_heartbeat();
        std::_Exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(slot.heartbeat().has_value()) << "the worker's beat, seen by the supervisor";
    EXPECT_GE(*slot.heartbeat(), before);
    EXPECT_LE(*slot.heartbeat(), std::chrono::steady_clock::now());
}

TEST(Scoreboard, LongTargetsAreCut) {
    WorkerSlot slot(1);
    Attached a(&slot, -1, 0);
    const std::string uri = "/" + std::string(1000, 'x');
    InFlight r("GET", uri);
    const auto report = slot.in_flight();
    ASSERT_EQ(report.requests.size(), 1u);
    EXPECT_LT(report.requests[0].size(), 256u);
    EXPECT_EQ(report.requests[0].rfind("GET /xxx", 0), 0u);
}

TEST(Scoreboard, AsksForItsReplacementOnceAtTheLimit) {
    WorkerSlot slot(1);
    int p[2];
    ASSERT_EQ(::pipe2(p, O_NONBLOCK), 0);
    {
        Attached a(&slot, p[1], 3);
        for (int i = 0; i < 5; ++i) {
            InFlight r("GET", "/");
        }
    }
    char buf[8];
    EXPECT_EQ(::read(p[0], buf, sizeof(buf)), 1);
    EXPECT_EQ(buf[0], 'Q');
    ::close(p[0]);
    ::close(p[1]);
}

TEST(Scoreboard, TheSupervisorLearnsWhichRequestCrashedTheWorker) {
    // A real worker-like child: two requests in flight, the second one's
    // thread aborts. The slot outlives the child (MAP_SHARED).
    WorkerSlot slot(4);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        attach_worker_slot(&slot, -1, 0);
        install_crash_recorder();
        std::thread other([] {
            InFlight r("GET", "/hello");
            ::pause();
        });
        InFlight r("GET", "/f/abort");
        // Let the other request begin first (it only has to be in flight).
        while (slot.in_flight().requests.size() < 2)
            std::this_thread::yield();
        std::abort();
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGABRT) << "the recorder must not change how it died";
    const auto report = slot.in_flight();
    ASSERT_EQ(report.requests.size(), 2u);
    EXPECT_TRUE(report.crashed_thread_known);
    EXPECT_EQ(report.requests[0], "GET /f/abort");
    EXPECT_EQ(report.requests[1], "GET /hello");
}

}  // namespace
}  // namespace postern
