#include "core/status.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <sstream>
#include <string>

namespace postern::status {
namespace {

/// Detaches whatever a test attached, even when it fails.
struct Attached {
    Attached(Board* b, int record) { attach(b, record); }
    ~Attached() { attach(nullptr, -1); }
};

constexpr auto relaxed = std::memory_order_relaxed;

TEST(StatusBoard, ListenersAreFoundByNameAndAddedOnce) {
    Board board(4, 2);
    EXPECT_EQ(board.listener("fastcgi=127.0.0.1:9000", "fastcgi"), 0);
    EXPECT_EQ(board.listener("http=/run/p.sock", "http"), 1);
    EXPECT_EQ(board.listener("fastcgi=127.0.0.1:9000", "fastcgi"), 0);
    for (std::size_t i = 2; i < Board::kMaxListeners; ++i)
        EXPECT_EQ(board.listener("http=127.0.0.1:" + std::to_string(i), "http"),
                  static_cast<int>(i));
    EXPECT_EQ(board.listener("one=too many", "http"), -1);
    const Snapshot s = board.snapshot();
    ASSERT_EQ(s.listeners.size(), Board::kMaxListeners);
    EXPECT_EQ(s.listeners[1].name, "http=/run/p.sock");
    EXPECT_EQ(s.listeners[1].protocol, "http");
    EXPECT_EQ(s.processes, 2u);
}

TEST(StatusBoard, NothingIsCountedWithoutARecordAttached) {
    Board board(2, 1);
    board.listener("http=x", "http");
    EXPECT_EQ(counters(0), nullptr);
    count_malformed(0, Malformed::bad_request);
    count_refused(0, Refused::overloaded);
    EXPECT_EQ(board.snapshot().totals.malformed[0], 0u);
}

TEST(StatusBoard, CountsOfExitedWorkersStayInTheTotals) {
    Board board(2, 2);
    const int l = board.listener("fastcgi=127.0.0.1:9000", "fastcgi");
    const int a = board.claim();
    const int b = board.claim();
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    EXPECT_EQ(board.claim(), -1);  // two records
    board.started(a, 101);
    board.started(b, 102);
    board.counters(a, l)->requests[1].fetch_add(5, relaxed);
    board.counters(a, l)->in_flight.fetch_add(2, relaxed);
    board.counters(a, l)->latency[3].fetch_add(5, relaxed);
    board.counters(b, l)->requests[4].fetch_add(1, relaxed);
    board.counters(b, l)->bytes_sent.fetch_add(10, relaxed);

    Snapshot s = board.snapshot();
    ASSERT_EQ(s.workers.size(), 2u);
    EXPECT_EQ(s.workers[0].pid, 101);
    EXPECT_EQ(s.workers[0].totals.requests_total(), 5u);
    EXPECT_EQ(s.workers[0].totals.in_flight, 2);
    EXPECT_EQ(s.totals.requests_total(), 6u);
    EXPECT_EQ(s.totals.in_flight, 2);

    // Worker a dies with two requests in flight: its answered requests stay
    // counted, the ones in flight are gone, its record is free again.
    board.release(a);
    board.restarted(Restart::crashed);
    s = board.snapshot();
    ASSERT_EQ(s.workers.size(), 1u);
    EXPECT_EQ(s.workers[0].pid, 102);
    EXPECT_EQ(s.totals.requests_total(), 6u);
    EXPECT_EQ(s.totals.requests[1], 5u);
    EXPECT_EQ(s.totals.latency[3], 5u);
    EXPECT_EQ(s.totals.bytes_sent, 10u);
    EXPECT_EQ(s.totals.in_flight, 0);
    EXPECT_EQ(s.restarts[static_cast<std::size_t>(Restart::crashed)], 1u);
    // Its replacement starts from zero in the same record.
    const int c = board.claim();
    EXPECT_EQ(c, a);
    board.started(c, 103);
    EXPECT_EQ(board.counters(c, l)->requests[1].load(), 0u);
    board.counters(c, l)->requests[1].fetch_add(1, relaxed);
    EXPECT_EQ(board.snapshot().totals.requests_total(), 7u);
}

TEST(StatusBoard, AWorkerProcessCountsIntoTheSharedBoard) {
    Board board(2, 1);
    const int l = board.listener("http=127.0.0.1:8000", "http");
    const int record = board.claim();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        attach(&board, record);
        for (int i = 0; i < 1000; ++i)
            counters(l)->requests[1].fetch_add(1, relaxed);
        count_malformed(l, Malformed::timeout);
        count_refused(l, Refused::not_allowed);
        std::_Exit(0);
    }
    board.started(record, pid);
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    const Snapshot s = board.snapshot();
    EXPECT_EQ(s.totals.requests[1], 1000u);
    EXPECT_EQ(s.totals.malformed[static_cast<std::size_t>(Malformed::timeout)], 1u);
    EXPECT_EQ(s.totals.refused[static_cast<std::size_t>(Refused::not_allowed)], 1u);
}

TEST(StatusBoard, RefusalsMapToKindsOfMalformedInput) {
    EXPECT_EQ(malformed_kind(400), Malformed::bad_request);
    EXPECT_EQ(malformed_kind(411), Malformed::bad_request);
    EXPECT_EQ(malformed_kind(403), Malformed::forbidden);
    EXPECT_EQ(malformed_kind(408), Malformed::timeout);
    EXPECT_EQ(malformed_kind(413), Malformed::too_large);
    EXPECT_EQ(malformed_kind(414), Malformed::too_large);
    EXPECT_EQ(malformed_kind(431), Malformed::too_large);
    EXPECT_EQ(malformed_kind(503), Malformed::other);
    EXPECT_EQ(status_class(204), 1u);
    EXPECT_EQ(status_class(599), 4u);
    EXPECT_EQ(status_class(0), 5u);
}

Snapshot sample_snapshot() {
    Snapshot s;
    s.master_pid = 42;
    s.started = 1000;
    s.now = 1010;
    s.processes = 2;
    s.restarts = {1, 2, 3};
    Snapshot::Listener l;
    l.name = "http=/run/a \"b\".sock";
    l.protocol = "http";
    l.totals.requests = {0, 7, 1, 2, 0, 0};
    l.totals.bytes_received = 5;
    l.totals.bytes_sent = 99;
    l.totals.malformed[static_cast<std::size_t>(Malformed::too_large)] = 2;
    l.totals.latency[0] = 4;
    l.totals.latency[2] = 5;
    l.totals.latency[kLatencyBoundsUs.size()] = 1;  // over 10 s
    l.totals.latency_sum_us = 12'500'000;
    s.listeners.push_back(l);
    s.workers.push_back(Snapshot::Worker{77, 1001, l.totals});
    s.totals = l.totals;
    return s;
}

TEST(StatusRendering, JsonCarriesEveryCounter) {
    const std::string text = render_json(sample_snapshot());
    Poco::JSON::Parser parser;
    auto root = parser.parse(text).extract<Poco::JSON::Object::Ptr>();
    EXPECT_EQ(root->getValue<int>("master_pid"), 42);
    EXPECT_EQ(root->getValue<int>("uptime_seconds"), 10);
    EXPECT_EQ(root->getObject("worker_restarts")->getValue<int>("reloaded"), 3);
    auto listener = root->getArray("listeners")->getObject(0);
    EXPECT_EQ(listener->getValue<std::string>("name"), "http=/run/a \"b\".sock");
    EXPECT_EQ(listener->getValue<int>("requests"), 10);
    EXPECT_EQ(listener->getObject("responses")->getValue<int>("2xx"), 7);
    EXPECT_EQ(listener->getObject("malformed")->getValue<int>("too_large"), 2);
    EXPECT_EQ(listener->getValue<int>("bytes_sent"), 99);
    auto latency = listener->getObject("latency");
    auto buckets = latency->getArray("buckets");
    ASSERT_EQ(buckets->size(), kLatencyBoundsUs.size() + 1);
    // Cumulative, as Prometheus buckets are.
    EXPECT_EQ(buckets->getObject(0)->getValue<int>("count"), 4);
    EXPECT_EQ(buckets->getObject(1)->getValue<int>("count"), 4);
    EXPECT_EQ(buckets->getObject(2)->getValue<int>("count"), 9);
    EXPECT_EQ(buckets->getObject(kLatencyBoundsUs.size())->getValue<std::string>("le"), "+Inf");
    EXPECT_EQ(buckets->getObject(kLatencyBoundsUs.size())->getValue<int>("count"), 10);
    EXPECT_DOUBLE_EQ(latency->getValue<double>("sum_seconds"), 12.5);
    auto worker = root->getArray("workers")->getObject(0);
    EXPECT_EQ(worker->getValue<int>("pid"), 77);
    EXPECT_EQ(worker->getValue<int>("requests"), 10);
}

TEST(StatusRendering, PrometheusTextIsWellFormed) {
    const std::string text = render_prometheus(sample_snapshot());
    const std::string labels = R"(listener="http=/run/a \"b\".sock",protocol="http")";
    EXPECT_NE(text.find("postern_requests_total{" + labels + ",class=\"2xx\"} 7\n"),
              std::string::npos)
        << text;
    EXPECT_NE(
        text.find("postern_request_duration_seconds_bucket{" + labels + ",le=\"0.0025\"} 9\n"),
        std::string::npos);
    EXPECT_NE(text.find("postern_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} 10\n"),
              std::string::npos);
    EXPECT_NE(text.find("postern_request_duration_seconds_count{" + labels + "} 10\n"),
              std::string::npos);
    EXPECT_NE(text.find("postern_request_duration_seconds_sum{" + labels + "} 12.500000\n"),
              std::string::npos);
    EXPECT_NE(text.find("postern_worker_restarts_total{reason=\"recycled\"} 2\n"),
              std::string::npos);
    EXPECT_NE(text.find("postern_worker_requests_total{pid=\"77\"} 10\n"), std::string::npos);
    // Every line: a comment, or NAME{LABELS} VALUE; every family typed once
    // before its samples.
    std::istringstream in(text);
    std::string line;
    std::string typed;
    while (std::getline(in, line)) {
        ASSERT_FALSE(line.empty());
        if (line.rfind("# TYPE ", 0) == 0) {
            typed = line.substr(7, line.find(' ', 7) - 7);
            continue;
        }
        if (line[0] == '#')
            continue;
        EXPECT_EQ(line.rfind(typed, 0), 0u) << line;
        EXPECT_NE(line.rfind(' '), std::string::npos) << line;
    }
}

}  // namespace
}  // namespace postern::status
